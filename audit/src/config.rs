//! The auditor's configuration: where the stack's data lives (the variables `scripts/stack.sh
//! env` prints) and how patient the audit is with work in flight.

use std::time::Duration;

use platform::config::{AmqpConfig, ConfigError, Env, RedisConfig};

/// Everything the auditor reads, and its limits.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// `REDIS_URL`, `REDIS_KEY_PREFIX`: inventory's Redis and its key prefix.
    pub redis: RedisConfig,
    /// `AMQP_URL`: the broker that holds the consumers' queues.
    pub amqp: AmqpConfig,
    /// `ORDER_DATABASE_URL`: order-svc's database (orders, outbox).
    pub orders_db: String,
    /// `PRICING_DATABASE_URL`: pricing-svc's database (outbox).
    pub pricing_db: String,
    /// `ANALYTICS_DATABASE_URL`: analytics-consumer's database (daily aggregates).
    pub analytics_db: String,
    /// `NOTIFIER_DATABASE_URL`: notifier-consumer's database (notification log).
    pub notifier_db: String,
    /// `ANALYTICS_QUEUE` (default `analytics`): the analytics consumer's work queue.
    pub analytics_queue: String,
    /// `NOTIFIER_QUEUE` (default `notifier`): the notifier consumer's work queue.
    pub notifier_queue: String,
    /// The audit's limits and patience.
    pub limits: Limits,
}

/// How long in-flight work may take before it counts as stuck, and how often a failing check is
/// looked at again before it is reported.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `AUDIT_PENDING_AFTER` (default 10 s): an order whose stock is still pending after this
    /// long is stuck. order-svc's stock sync retries pending orders every second after a 2 s
    /// grace, so 10 s leaves a wide margin.
    pub pending_after: Duration,
    /// `AUDIT_OUTBOX_MAX_AGE` (default 30 s): an outbox event older than this is stuck (the
    /// relays publish within a second when the broker is up).
    pub outbox_max_age: Duration,
    /// `AUDIT_SETTLE` (default 2 s): the pause before a failing check is run again.
    pub settle: Duration,
    /// `AUDIT_ATTEMPTS` (default 5, at least 1): how many times a check must fail before its
    /// discrepancy is reported; 1 is a strict one-shot audit.
    pub attempts: u32,
    /// `AUDIT_STATEMENT_TIMEOUT` (default 10 s): the longest one Postgres statement or Redis
    /// round trip may take, so an audit never holds a live system up.
    pub statement_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            pending_after: Duration::from_secs(10),
            outbox_max_age: Duration::from_secs(30),
            settle: Duration::from_secs(2),
            attempts: 5,
            statement_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// Reads the `AUDIT_*` variables.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let attempts = env.or("AUDIT_ATTEMPTS", d.attempts)?;
        if attempts == 0 {
            return Err(ConfigError::new("AUDIT_ATTEMPTS", "must be at least 1"));
        }
        let statement_timeout =
            env.positive_duration("AUDIT_STATEMENT_TIMEOUT", d.statement_timeout)?;
        Ok(Self {
            pending_after: env.duration_or("AUDIT_PENDING_AFTER", d.pending_after)?,
            outbox_max_age: env.duration_or("AUDIT_OUTBOX_MAX_AGE", d.outbox_max_age)?,
            settle: env.duration_or("AUDIT_SETTLE", d.settle)?,
            attempts,
            statement_timeout,
        })
    }
}

impl AuditConfig {
    /// Reads the configuration. The database URLs are required: the auditor is pointed at one
    /// stack on purpose (`scripts/audit.sh` sets them from `scripts/stack.sh env`), never at a
    /// default that might be another.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let database = |var: &str| -> Result<String, ConfigError> {
            let url: String = env.required(var)?;
            url.parse::<tokio_postgres::Config>()
                .map_err(|e| ConfigError::new(var, format!("cannot parse: {e}")))?;
            Ok(url)
        };
        Ok(Self {
            redis: RedisConfig::from_env(env)?,
            amqp: AmqpConfig::from_env(env)?,
            orders_db: database("ORDER_DATABASE_URL")?,
            pricing_db: database("PRICING_DATABASE_URL")?,
            analytics_db: database("ANALYTICS_DATABASE_URL")?,
            notifier_db: database("NOTIFIER_DATABASE_URL")?,
            analytics_queue: env.or("ANALYTICS_QUEUE", "analytics".to_owned())?,
            notifier_queue: env.or("NOTIFIER_QUEUE", "notifier".to_owned())?,
            limits: Limits::from_env(env)?,
        })
    }
}

/// What `sioms-audit --help` prints.
pub const USAGE: &str = "\
usage: sioms-audit [--strict | --attempts N]

Reconciles a running SIOMS stack, read-only, and prints one line per check.
  --strict       one attempt: report every discrepancy seen now (same as AUDIT_ATTEMPTS=1)
  --attempts N   re-run a failing check until it has failed N times (default: AUDIT_ATTEMPTS, 5)
Where to read comes from the environment (run it through scripts/audit.sh, or `make audit`).
Exit status: 0 every check holds, 1 a discrepancy persisted, 2 a source could not be read.";

/// What the command line asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Audit, with this many attempts instead of `AUDIT_ATTEMPTS`'s, if given.
    Audit {
        /// `--attempts N` (or 1 for `--strict`).
        attempts: Option<u32>,
    },
    /// `--help`: print [`USAGE`].
    Help,
}

impl Command {
    /// Reads the arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut attempts = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => return Ok(Self::Help),
                "--strict" => attempts = Some(1),
                "--attempts" => {
                    let n = args
                        .next()
                        .and_then(|n| n.parse::<u32>().ok())
                        .filter(|&n| n >= 1)
                        .ok_or("--attempts needs a whole number of at least 1")?;
                    attempts = Some(n);
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Self::Audit { attempts })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const DATABASES: [(&str, &str); 4] = [
        ("ORDER_DATABASE_URL", "postgres://u@127.0.0.1/o"),
        ("PRICING_DATABASE_URL", "postgres://u@127.0.0.1/p"),
        ("ANALYTICS_DATABASE_URL", "postgres://u@127.0.0.1/a"),
        ("NOTIFIER_DATABASE_URL", "postgres://u@127.0.0.1/n"),
    ];

    #[test]
    fn defaults_apply_and_durations_read_the_human_way() {
        let mut pairs = DATABASES.to_vec();
        pairs.push(("AUDIT_SETTLE", "250ms"));
        let config = AuditConfig::from_env(&Env::new(&env_of(&pairs))).unwrap();
        assert_eq!(config.limits.settle, Duration::from_millis(250));
        assert_eq!(config.limits.attempts, 5);
        assert_eq!(config.limits.pending_after, Duration::from_secs(10));
        assert_eq!(config.analytics_queue, "analytics");
    }

    #[test]
    fn a_missing_database_is_named() {
        let err = AuditConfig::from_env(&Env::new(&env_of(&DATABASES[1..]))).unwrap_err();
        assert_eq!(err.var, "ORDER_DATABASE_URL");
    }

    #[test]
    fn the_command_line_overrides_the_attempts() {
        let parse = |args: &[&str]| Command::parse(args.iter().map(|a| (*a).to_owned()));
        assert_eq!(parse(&[]), Ok(Command::Audit { attempts: None }));
        assert_eq!(
            parse(&["--strict"]),
            Ok(Command::Audit { attempts: Some(1) })
        );
        assert_eq!(
            parse(&["--attempts", "3"]),
            Ok(Command::Audit { attempts: Some(3) })
        );
        assert!(parse(&["--attempts", "0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
    }

    #[test]
    fn zero_attempts_are_refused() {
        let mut pairs = DATABASES.to_vec();
        pairs.push(("AUDIT_ATTEMPTS", "0"));
        let err = AuditConfig::from_env(&Env::new(&env_of(&pairs))).unwrap_err();
        assert_eq!(err.var, "AUDIT_ATTEMPTS");
    }
}
