//! Configuration from environment variables (12-factor), read once at start-up.
//!
//! Every service builds its own typed config from the sections here plus its own variables. A
//! value that is present but unusable fails start-up with a [`ConfigError`] naming the variable,
//! so a typo never silently falls back to a default.

use std::{fmt::Display, str::FromStr, time::Duration};

/// A variable that is missing where it is required, or present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {var}: {reason}")]
pub struct ConfigError {
    /// The variable's name, e.g. `REDIS_URL`.
    pub var: String,
    /// What is wrong with its value.
    pub reason: String,
}

impl ConfigError {
    /// A problem with the variable `var`.
    pub fn new(var: &str, reason: impl Into<String>) -> Self {
        Self {
            var: var.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Where a service reads its variables from: the process environment, or (in tests) a map.
pub trait Source {
    /// The raw value of `var`, if set and not empty.
    fn get(&self, var: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, var: &str) -> Option<String> {
        std::env::var(var).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, var: &str) -> Option<String> {
        self.get(var).cloned().filter(|v| !v.trim().is_empty())
    }
}

/// A [`Source`] holding just `pairs` (variable, value): what a test sets.
pub fn source_of(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Typed reads of variables from a [`Source`].
pub struct Env<'a> {
    source: &'a dyn Source,
}

impl<'a> Env<'a> {
    /// Reads from `source`.
    pub fn new(source: &'a dyn Source) -> Self {
        Self { source }
    }

    /// The raw value of `var`, if set.
    pub fn raw(&self, var: &str) -> Option<String> {
        self.source.get(var).map(|v| v.trim().to_owned())
    }

    /// `var` parsed as `T`, or `None` when unset.
    pub fn optional<T>(&self, var: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.raw(var)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ConfigError::new(var, format!("cannot parse {v:?}: {e}")))
            })
            .transpose()
    }

    /// `var` parsed as `T`, or `default` when unset.
    pub fn or<T>(&self, var: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.optional(var)?.unwrap_or(default))
    }

    /// `var` parsed as `T`; start-up fails when it is unset.
    pub fn required<T>(&self, var: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.optional(var)?
            .ok_or_else(|| ConfigError::new(var, "is required but not set"))
    }

    /// A duration written the human way (`500ms`, `30s`, `7d`), or `default` when unset.
    pub fn duration_or(&self, var: &str, default: Duration) -> Result<Duration, ConfigError> {
        Ok(self
            .optional::<humantime::Duration>(var)?
            .map(Into::into)
            .unwrap_or(default))
    }

    /// Like [`Env::duration_or`], for a duration that must be longer than zero (an interval, a
    /// timeout): `0s` fails start-up instead of a busy loop or a limit nothing can meet.
    pub fn positive_duration(&self, var: &str, default: Duration) -> Result<Duration, ConfigError> {
        let d = self.duration_or(var, default)?;
        if d.is_zero() {
            return Err(ConfigError::new(var, "must be longer than zero"));
        }
        Ok(d)
    }
}

/// What [`crate::run::main`] needs from every service's configuration.
pub trait ServiceConfig {
    /// Where the service's HTTP server listens (its `healthcheck` command asks `/readyz` there).
    fn http(&self) -> &HttpConfig;
    /// How the service writes its logs.
    fn log_format(&self) -> crate::telemetry::LogFormat;
}

/// Where the HTTP server listens.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `HOST`: the address to bind (default `127.0.0.1`; `0.0.0.0` in containers).
    pub host: String,
    /// `PORT`: the port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// `HTTP_WORKERS`: actix worker threads (default: one per core).
    pub workers: usize,
    /// `SHUTDOWN_TIMEOUT`: how long in-flight requests may take to finish on SIGTERM.
    pub shutdown_timeout: Duration,
}

impl HttpConfig {
    /// Reads the section, with `default_port` as this service's port.
    pub fn from_env(env: &Env<'_>, default_port: u16) -> Result<Self, ConfigError> {
        let workers = env.or(
            "HTTP_WORKERS",
            std::thread::available_parallelism().map_or(2, usize::from),
        )?;
        if workers == 0 {
            return Err(ConfigError::new("HTTP_WORKERS", "must be at least 1"));
        }
        Ok(Self {
            host: env.or("HOST", "127.0.0.1".to_owned())?,
            port: env.or("PORT", default_port)?,
            workers,
            shutdown_timeout: env.duration_or("SHUTDOWN_TIMEOUT", Duration::from_secs(10))?,
        })
    }
}

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL` (default `redis://127.0.0.1:6379`); with `REDIS_CLUSTER`, a comma-separated
    /// list of some of the cluster's nodes (the rest are discovered).
    pub url: String,
    /// `REDIS_CLUSTER`: `true` for a Redis Cluster (default `false`).
    pub cluster: bool,
    /// `REDIS_KEY_PREFIX`: put in front of every key, so several deployments (or tests) can
    /// share one Redis (default `sioms:`).
    pub key_prefix: String,
    /// `REDIS_POOL_SIZE`: connections kept per process (default 32).
    pub pool_size: usize,
    /// `REDIS_WAIT_REPLICAS`: replicas that must have a change before it is acknowledged
    /// (default 0: Redis' asynchronous replication; see [`crate::redis::Connection::run_script`]).
    pub wait_replicas: u32,
    /// `REDIS_WAIT_TIMEOUT`: how long a change waits for those replicas before it is answered
    /// as failed (default `100ms`).
    pub wait_timeout: Duration,
}

impl RedisConfig {
    /// Reads the section.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let url: String = env.or("REDIS_URL", "redis://127.0.0.1:6379".to_owned())?;
        let cluster: bool = env.or("REDIS_CLUSTER", false)?;
        let urls: Vec<&str> = url.split(',').map(str::trim).collect();
        if urls
            .iter()
            .any(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
        {
            return Err(ConfigError::new(
                "REDIS_URL",
                "must start with redis:// or rediss://",
            ));
        }
        if urls.len() > 1 && !cluster {
            return Err(ConfigError::new(
                "REDIS_URL",
                "lists several nodes: set REDIS_CLUSTER=true for a Redis Cluster",
            ));
        }
        let pool_size = env.or("REDIS_POOL_SIZE", 32usize)?;
        if pool_size == 0 {
            return Err(ConfigError::new("REDIS_POOL_SIZE", "must be at least 1"));
        }
        Ok(Self {
            url,
            cluster,
            key_prefix: env.or("REDIS_KEY_PREFIX", "sioms:".to_owned())?,
            pool_size,
            wait_replicas: env.or("REDIS_WAIT_REPLICAS", 0)?,
            wait_timeout: env.duration_or("REDIS_WAIT_TIMEOUT", Duration::from_millis(100))?,
        })
    }

    /// The node URLs of `REDIS_URL`.
    pub fn urls(&self) -> Vec<String> {
        self.url.split(',').map(|u| u.trim().to_owned()).collect()
    }
}

/// How to reach RabbitMQ and which exchange carries the events.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// `AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`).
    pub url: String,
    /// `EVENTS_EXCHANGE`: the topic exchange every event goes to (default `sioms.events`).
    pub exchange: String,
}

impl AmqpConfig {
    /// Reads the section.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let url: String = env.or(
            "AMQP_URL",
            "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
        )?;
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            return Err(ConfigError::new(
                "AMQP_URL",
                "must start with amqp:// or amqps://",
            ));
        }
        Ok(Self {
            url,
            exchange: env.or("EVENTS_EXCHANGE", crate::event::EXCHANGE.to_owned())?,
        })
    }
}

/// The admin bearer token that guards the write routes.
#[derive(Clone)]
pub struct AdminToken(pub String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// Reads `ADMIN_TOKEN`; it is required, because a well-known default would be a secret
    /// committed to the repository.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let token: String = env.required("ADMIN_TOKEN")?;
        if token.len() < 8 {
            return Err(ConfigError::new(
                "ADMIN_TOKEN",
                "must be at least 8 characters long",
            ));
        }
        Ok(Self(token))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_unparsable_value_names_the_variable() {
        let source = source_of(&[("PORT", "eighty")]);
        let err = HttpConfig::from_env(&Env::new(&source), 8081).unwrap_err();
        assert_eq!(err.var, "PORT");
        assert!(err.to_string().contains("eighty"), "{err}");
    }

    #[test]
    fn defaults_apply_when_unset_and_durations_read_the_human_way() {
        let source = source_of(&[("SHUTDOWN_TIMEOUT", "1500ms")]);
        let http = HttpConfig::from_env(&Env::new(&source), 8081).unwrap();
        assert_eq!(http.port, 8081);
        assert_eq!(http.shutdown_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn a_zero_duration_is_refused_where_it_must_be_positive() {
        let source = source_of(&[("POLL", "0s"), ("WAIT", "250ms")]);
        let env = Env::new(&source);
        let err = env
            .positive_duration("POLL", Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(err.var, "POLL");
        assert!(err.to_string().contains("longer than zero"), "{err}");
        assert_eq!(
            env.positive_duration("WAIT", Duration::from_secs(1))
                .unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            env.positive_duration("UNSET", Duration::from_secs(1))
                .unwrap(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn the_admin_token_is_required() {
        let err = AdminToken::from_env(&Env::new(&source_of(&[]))).unwrap_err();
        assert_eq!(err.var, "ADMIN_TOKEN");
    }

    #[test]
    fn a_url_of_the_wrong_scheme_is_refused() {
        let source = source_of(&[("REDIS_URL", "http://localhost")]);
        assert_eq!(
            RedisConfig::from_env(&Env::new(&source)).unwrap_err().var,
            "REDIS_URL"
        );
    }
}
