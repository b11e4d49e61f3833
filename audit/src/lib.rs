//! sioms-audit: proves the invariants of `DESIGN.md` on a running stack, read-only, by
//! reconciling inventory's Redis, order-svc's orders, the outboxes, the consumers' queues and
//! the read side (analytics aggregates, notification log).
//!
//! # Layout
//!
//! - [`config`]: environment variables (the ones `scripts/stack.sh env` prints, plus
//!   `AUDIT_*`) and the command line.
//! - [`sources`]: every read, and nothing that writes.
//! - [`checks`]: the invariants, each a read and a pure comparison.
//! - [`report`]: what each check concluded, printed one line per check, and the exit code.
//!
//! # Work in flight is not loss
//!
//! Redis and Postgres cannot be read atomically together, and orders move between them
//! (reserve in Redis → order row → confirm in Redis), as events move from outboxes through
//! queues to the read side. So [`Auditor::run`] runs every check, then runs the ones that
//! failed again after `AUDIT_SETTLE`, up to `AUDIT_ATTEMPTS` times in all, and reports only the
//! discrepancies seen on every attempt. A per-item check runs again on the failing items only.

pub mod checks;
pub mod config;
pub mod report;
pub mod sources;

use std::collections::BTreeMap;

use crate::{
    checks::{Check, Scope},
    config::{AuditConfig, Limits},
    report::{Discrepancy, Entry, Observation, Report, Verdict},
    sources::{SourceError, Sources},
};

/// Runs the checks against one stack.
pub struct Auditor {
    sources: Sources,
    limits: Limits,
}

impl Auditor {
    /// An auditor of the stack `config` names; nothing connects until [`Auditor::run`].
    pub fn new(config: &AuditConfig) -> anyhow::Result<Self> {
        Ok(Self {
            sources: Sources::new(config)?,
            limits: config.limits,
        })
    }

    /// Runs every check, re-running those that fail, and reports.
    pub async fn run(&self) -> Report {
        let mut runs: Vec<CheckRun> = Check::ALL.into_iter().map(CheckRun::new).collect();
        for attempt in 1..=self.limits.attempts {
            let due: Vec<&mut CheckRun> = runs.iter_mut().filter(|r| !r.settled).collect();
            if due.is_empty() {
                break;
            }
            if attempt > 1 {
                let names: Vec<_> = due.iter().map(|r| r.check.name()).collect();
                tracing::info!(
                    attempt,
                    of = self.limits.attempts,
                    checks = names.join(", "),
                    "re-checking after {}",
                    humantime::format_duration(self.limits.settle)
                );
                tokio::time::sleep(self.limits.settle).await;
            }
            for run in due {
                let scope = run.scope();
                let seen = run.check.run(&self.sources, &self.limits, &scope).await;
                run.record(attempt, &scope, seen);
            }
        }
        Report {
            entries: runs.into_iter().map(CheckRun::finish).collect(),
        }
    }
}

/// One check across its attempts.
struct CheckRun {
    check: Check,
    attempts: u32,
    figures: String,
    warnings: Vec<String>,
    /// The discrepancies seen on every attempt that could read its sources, by subject: the
    /// latest detail, and whether the detail changed between attempts. `None` until an attempt
    /// could read.
    persistent: Option<BTreeMap<String, (String, bool)>>,
    /// Why the latest attempt could not read, if it could not.
    error: Option<SourceError>,
    /// Whether the check needs no more attempts (it held).
    settled: bool,
}

impl CheckRun {
    fn new(check: Check) -> Self {
        Self {
            check,
            attempts: 0,
            figures: String::new(),
            warnings: Vec::new(),
            persistent: None,
            error: None,
            settled: false,
        }
    }

    /// A per-item check that found discrepancies looks again at those items only.
    fn scope(&self) -> Scope {
        match &self.persistent {
            Some(seen) if self.check.per_item() => Scope::Items(seen.keys().cloned().collect()),
            _ => Scope::Everything,
        }
    }

    fn record(&mut self, attempt: u32, scope: &Scope, seen: Result<Observation, SourceError>) {
        self.attempts = attempt;
        let seen = match seen {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!(check = self.check.name(), attempt, error = %e, "cannot read");
                self.error = Some(e);
                return;
            }
        };
        self.error = None;
        // A run over a few items says nothing about the whole: keep the full run's figures.
        if *scope == Scope::Everything {
            self.figures = seen.figures;
        }
        self.warnings = seen.warnings;
        let now: BTreeMap<String, String> = seen
            .discrepancies
            .into_iter()
            .map(|d| (d.subject, d.detail))
            .collect();
        let tracks_movement = self.check.figures_settle();
        let persistent = match self.persistent.take() {
            None => now.into_iter().map(|(s, d)| (s, (d, false))).collect(),
            Some(before) => before
                .into_iter()
                .filter_map(|(subject, (detail, moved))| {
                    let latest = now.get(&subject)?;
                    let moved = moved || (tracks_movement && *latest != detail);
                    Some((subject, (latest.clone(), moved)))
                })
                .collect::<BTreeMap<_, _>>(),
        };
        self.settled = persistent.is_empty();
        if !self.settled {
            tracing::info!(
                check = self.check.name(),
                attempt,
                discrepancies = persistent.len(),
                "does not hold yet"
            );
        }
        self.persistent = Some(persistent);
    }

    fn finish(self) -> Entry {
        let persistent = self.persistent.unwrap_or_default();
        let verdict = match self.error {
            Some(e) => Verdict::Unreadable {
                attempts: self.attempts,
                error: e.to_string(),
            },
            None if persistent.is_empty() => Verdict::Holds {
                attempts: self.attempts,
            },
            None => Verdict::Fails {
                attempts: self.attempts,
                moving: persistent.values().any(|(_, moved)| *moved),
            },
        };
        let figures = if self.figures.is_empty() {
            "(not read)".to_owned()
        } else {
            self.figures
        };
        Entry {
            name: self.check.name(),
            figures,
            discrepancies: if matches!(verdict, Verdict::Fails { .. }) {
                persistent
                    .into_iter()
                    .map(|(subject, (detail, _))| Discrepancy { subject, detail })
                    .collect()
            } else {
                Vec::new()
            },
            verdict,
            warnings: self.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(discrepancies: &[(&str, &str)]) -> Result<Observation, SourceError> {
        Ok(Observation {
            figures: "figures".to_owned(),
            discrepancies: discrepancies
                .iter()
                .map(|(s, d)| Discrepancy::new(*s, *d))
                .collect(),
            warnings: Vec::new(),
        })
    }

    #[test]
    fn only_what_every_attempt_saw_is_reported_and_per_item_runs_narrow() {
        let mut run = CheckRun::new(Check::Conservation);
        run.record(
            1,
            &Scope::Everything,
            seen(&[("a", "a off"), ("b", "b off")]),
        );
        assert!(!run.settled);
        assert_eq!(run.scope(), Scope::Items(vec!["a".into(), "b".into()]));
        run.record(
            2,
            &run.scope(),
            seen(&[("b", "b off more"), ("c", "c off")]),
        );
        let entry = run.finish();
        assert_eq!(
            entry.verdict,
            Verdict::Fails {
                attempts: 2,
                moving: true
            }
        );
        assert_eq!(entry.discrepancies, [Discrepancy::new("b", "b off more")]);
    }

    #[test]
    fn a_check_that_settles_holds_after_its_attempts() {
        let mut run = CheckRun::new(Check::Analytics);
        run.record(1, &Scope::Everything, seen(&[("day", "off")]));
        assert_eq!(run.scope(), Scope::Everything);
        run.record(2, &Scope::Everything, seen(&[]));
        assert!(run.settled);
        assert_eq!(run.finish().verdict, Verdict::Holds { attempts: 2 });
    }

    #[test]
    fn a_growing_age_is_not_movement() {
        let mut run = CheckRun::new(Check::PendingOrders);
        run.record(1, &Scope::Everything, seen(&[("o", "order o: 60.1s")]));
        run.record(2, &Scope::Everything, seen(&[("o", "order o: 62.2s")]));
        assert_eq!(
            run.finish().verdict,
            Verdict::Fails {
                attempts: 2,
                moving: false
            }
        );
    }

    #[test]
    fn an_unreadable_last_attempt_is_an_error() {
        let mut run = CheckRun::new(Check::Queues);
        run.record(
            1,
            &Scope::Everything,
            Err(SourceError {
                what: "RabbitMQ".into(),
                detail: "refused".into(),
            }),
        );
        let entry = run.finish();
        assert!(matches!(entry.verdict, Verdict::Unreadable { .. }));
        assert_eq!(entry.figures, "(not read)");
    }
}
