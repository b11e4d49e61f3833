//! order-svc's configuration, from the environment, validated before anything binds.

use std::time::Duration;

use platform::{
    config::{AmqpConfig, ConfigError, Env, HttpConfig, ServiceConfig},
    postgres::PostgresConfig,
    telemetry::LogFormat,
};

/// order-svc listens here unless `PORT` says otherwise.
pub const DEFAULT_PORT: u16 = 8082;

/// How order-svc calls another service.
#[derive(Debug, Clone)]
pub struct DependencyConfig {
    /// Base URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
    /// `DEPENDENCY_TIMEOUT`: one attempt's limit (default `2s`).
    pub timeout: Duration,
    /// `DEPENDENCY_RETRIES`: extra attempts after a failure that may be transient (default 2).
    pub retries: usize,
    /// `CIRCUIT_FAILURES`: consecutive failures that open the circuit (default 5).
    pub circuit_failures: u32,
    /// `CIRCUIT_OPEN_FOR`: how long an open circuit refuses calls before trying one (default
    /// `5s`).
    pub circuit_open_for: Duration,
}

/// Everything order-svc needs to run.
#[derive(Debug, Clone)]
pub struct OrderConfig {
    /// `HOST`, `PORT`, `HTTP_WORKERS`, `SHUTDOWN_TIMEOUT`.
    pub http: HttpConfig,
    /// `DATABASE_URL` (default database `sioms_orders`), `DATABASE_POOL_SIZE`.
    pub postgres: PostgresConfig,
    /// `AMQP_URL`, `EVENTS_EXCHANGE`.
    pub amqp: AmqpConfig,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `INVENTORY_URL` (default `http://127.0.0.1:8081`) and the shared call settings.
    pub inventory: DependencyConfig,
    /// `PRICING_URL` (default `http://127.0.0.1:8083`) and the shared call settings.
    pub pricing: DependencyConfig,
    /// `IDEMPOTENCY_WAIT`: how long a retry waits for the first request with the same key to
    /// finish before answering 409 (default `5s`).
    pub idempotency_wait: Duration,
    /// `IDEMPOTENCY_STALE_AFTER`: after this, a key whose first request never finished may be
    /// taken over by a retry even though its process still looks alive (default `30s`). A key
    /// whose process is gone is taken over at once (see [`crate::incarnation`]).
    pub idempotency_stale_after: Duration,
    /// `IDEMPOTENCY_KEY_RETENTION`: how long a key is remembered after its first request
    /// (default `24h`); a retry after that places a new order. Longer than
    /// `IDEMPOTENCY_STALE_AFTER`.
    pub idempotency_key_retention: Duration,
    /// `STOCK_SYNC_INTERVAL`: how often unfinished confirmations and returns of stock are
    /// retried (default `1s`).
    pub stock_sync_interval: Duration,
    /// `OUTBOX_POLL_INTERVAL`: how often the relay looks for rows it was not told about
    /// (default `1s`).
    pub outbox_poll_interval: Duration,
    /// `PRICE_BOOK_TTL`: the longest a price is taken from the price book before it is read
    /// from pricing-svc again, even with no change announced (default `30s`; `0s` turns the
    /// book off, and every order asks pricing-svc). See [`crate::price_book`].
    pub price_book_ttl: Duration,
}

impl OrderConfig {
    /// Reads and validates every variable.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let dependency = |var: &str, default: &str| -> Result<DependencyConfig, ConfigError> {
            let url: String = env.or(var, default.to_owned())?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::new(var, "must start with http:// or https://"));
            }
            let circuit_failures = env.or("CIRCUIT_FAILURES", 5u32)?;
            if circuit_failures == 0 {
                return Err(ConfigError::new("CIRCUIT_FAILURES", "must be at least 1"));
            }
            Ok(DependencyConfig {
                url: url.trim_end_matches('/').to_owned(),
                timeout: env.positive_duration("DEPENDENCY_TIMEOUT", Duration::from_secs(2))?,
                retries: env.or("DEPENDENCY_RETRIES", 2usize)?,
                circuit_failures,
                circuit_open_for: env
                    .positive_duration("CIRCUIT_OPEN_FOR", Duration::from_secs(5))?,
            })
        };
        let idempotency_stale_after =
            env.positive_duration("IDEMPOTENCY_STALE_AFTER", Duration::from_secs(30))?;
        let idempotency_key_retention =
            env.positive_duration("IDEMPOTENCY_KEY_RETENTION", Duration::from_secs(86_400))?;
        if idempotency_key_retention <= idempotency_stale_after {
            return Err(ConfigError::new(
                "IDEMPOTENCY_KEY_RETENTION",
                "must be longer than IDEMPOTENCY_STALE_AFTER",
            ));
        }
        Ok(Self {
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            postgres: PostgresConfig::from_env(env, "sioms_orders")?,
            amqp: AmqpConfig::from_env(env)?,
            log_format: env.or("LOG_FORMAT", LogFormat::Text)?,
            inventory: dependency("INVENTORY_URL", "http://127.0.0.1:8081")?,
            pricing: dependency("PRICING_URL", "http://127.0.0.1:8083")?,
            idempotency_wait: env.positive_duration("IDEMPOTENCY_WAIT", Duration::from_secs(5))?,
            idempotency_stale_after,
            idempotency_key_retention,
            stock_sync_interval: env
                .positive_duration("STOCK_SYNC_INTERVAL", Duration::from_secs(1))?,
            outbox_poll_interval: env
                .positive_duration("OUTBOX_POLL_INTERVAL", Duration::from_secs(1))?,
            price_book_ttl: env.duration_or("PRICE_BOOK_TTL", Duration::from_secs(30))?,
        })
    }
}

impl ServiceConfig for OrderConfig {
    fn http(&self) -> &HttpConfig {
        &self.http
    }

    fn log_format(&self) -> LogFormat {
        self.log_format
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use platform::config::{Env, source_of};

    use super::OrderConfig;

    fn config(pairs: &[(&str, &str)]) -> Result<OrderConfig, platform::config::ConfigError> {
        OrderConfig::from_env(&Env::new(&source_of(pairs)))
    }

    #[test]
    fn a_key_is_kept_longer_than_a_claim_may_stay_in_flight() {
        assert_eq!(
            config(&[]).unwrap().idempotency_key_retention.as_secs(),
            86_400
        );
        let err = config(&[
            ("IDEMPOTENCY_STALE_AFTER", "10m"),
            ("IDEMPOTENCY_KEY_RETENTION", "10m"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "IDEMPOTENCY_KEY_RETENTION");
        assert!(config(&[("IDEMPOTENCY_KEY_RETENTION", "1h")]).is_ok());
    }
}
