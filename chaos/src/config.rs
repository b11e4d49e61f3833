//! The suite's settings, from `CHAOS_*` environment variables with defaults sized for a 2-core
//! machine that runs the whole stack (busy, not saturated; the run takes a few minutes).
//! A value that is set but unusable stops the suite before it touches the stack.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::fault::Fault;

/// How hard, how long and against what the suite pushes.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// `CHAOS_CLIENTS`: careful clients running at once (default 16).
    pub clients: usize,
    /// `CHAOS_RATE`: new orders per second, all clients together (default 100). A client busy
    /// retrying one order starts no other, so during a fault the rate drops, as it would.
    pub rate: f64,
    /// `CHAOS_ITEMS`: items the suite creates and orders from (default 12).
    pub items: usize,
    /// `CHAOS_BEFORE`: load before a fault is injected (default `3s`).
    pub before: Duration,
    /// `CHAOS_AFTER`: load after the fault was injected (default `10s`, at least that much so
    /// the recovery happens under load).
    pub after: Duration,
    /// `CHAOS_RETRY_BUDGET`: how long a client keeps retrying one request before it counts it
    /// unanswered (default `20s`).
    pub retry_budget: Duration,
    /// `CHAOS_ATTEMPT_TIMEOUT`: one attempt's limit (default `10s`: longer than order-svc's own
    /// dependency timeouts and its 5 s wait on a key in flight, shorter than the gateway's 30 s).
    pub attempt_timeout: Duration,
    /// `CHAOS_CANCEL_SHARE`: the share of confirmed orders their client cancels (default 0.05).
    pub cancel_share: f64,
    /// `CHAOS_QUIET_WITHIN`: how long to wait for the stack to be at rest after a row (queues
    /// and outboxes empty) before the auditor runs anyway (default `60s`).
    pub quiet_within: Duration,
    /// `CHAOS_AUDIT_WITHIN`: how long a failing auditor is run again at rest, so what the
    /// design lets settle within a bounded time (a hold of a killed request expires after 30 s)
    /// can settle (default `40s`). Every failing run is printed.
    pub audit_within: Duration,
    /// `CHAOS_FAULTS`: the faults to inject, by name, comma-separated (default all, in the
    /// order of [`Fault::ALL`]).
    pub faults: Vec<Fault>,
}

impl ChaosConfig {
    /// Reads the settings from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        let faults = match var("CHAOS_FAULTS") {
            None => Fault::ALL.to_vec(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|name| {
                    Fault::ALL
                        .iter()
                        .copied()
                        .find(|f| f.name() == name)
                        .with_context(|| {
                            let known: Vec<_> = Fault::ALL.iter().map(|f| f.name()).collect();
                            format!(
                                "CHAOS_FAULTS: no fault {name:?}; known: {}",
                                known.join(", ")
                            )
                        })
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let config = Self {
            clients: number("CHAOS_CLIENTS", 16)?,
            rate: number("CHAOS_RATE", 100.0)?,
            items: number("CHAOS_ITEMS", 12)?,
            before: duration("CHAOS_BEFORE", "3s")?,
            after: duration("CHAOS_AFTER", "10s")?,
            retry_budget: duration("CHAOS_RETRY_BUDGET", "20s")?,
            attempt_timeout: duration("CHAOS_ATTEMPT_TIMEOUT", "10s")?,
            cancel_share: number("CHAOS_CANCEL_SHARE", 0.05)?,
            quiet_within: duration("CHAOS_QUIET_WITHIN", "60s")?,
            audit_within: duration("CHAOS_AUDIT_WITHIN", "40s")?,
            faults,
        };
        if config.clients == 0 || config.items == 0 || config.rate <= 0.0 {
            bail!("CHAOS_CLIENTS, CHAOS_ITEMS and CHAOS_RATE must be positive");
        }
        if !(0.0..=1.0).contains(&config.cancel_share) {
            bail!("CHAOS_CANCEL_SHARE must be between 0 and 1");
        }
        Ok(config)
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn number<T>(name: &str, default: T) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    var(name).map_or(Ok(default), |v| {
        v.parse()
            .with_context(|| format!("{name}: cannot parse {v:?}"))
    })
}

fn duration(name: &str, default: &str) -> anyhow::Result<Duration> {
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    humantime::parse_duration(&raw).with_context(|| format!("{name}: cannot parse {raw:?}"))
}
