//! pricing-svc's configuration, from the environment, validated before anything binds.

use std::time::Duration;

use platform::{
    config::{AdminToken, AmqpConfig, ConfigError, Env, HttpConfig, ServiceConfig},
    postgres::PostgresConfig,
    telemetry::LogFormat,
};

/// pricing-svc listens here unless `PORT` says otherwise.
pub const DEFAULT_PORT: u16 = 8083;

/// Everything pricing-svc needs to run.
#[derive(Debug, Clone)]
pub struct PricingConfig {
    /// `HOST`, `PORT`, `HTTP_WORKERS`, `SHUTDOWN_TIMEOUT`.
    pub http: HttpConfig,
    /// `DATABASE_URL` (default database `sioms_pricing`), `DATABASE_POOL_SIZE`.
    pub postgres: PostgresConfig,
    /// `AMQP_URL`, `EVENTS_EXCHANGE`.
    pub amqp: AmqpConfig,
    /// `ADMIN_TOKEN` (required).
    pub admin_token: AdminToken,
    /// `LOG_FORMAT`: `json` or `text`.
    pub log_format: LogFormat,
    /// `OUTBOX_POLL_INTERVAL`: how often the relay looks for rows it was not told about, e.g.
    /// left by another replica (default `1s`; its own commits wake it at once).
    pub outbox_poll_interval: Duration,
}

impl PricingConfig {
    /// Reads and validates every variable.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let outbox_poll_interval =
            env.positive_duration("OUTBOX_POLL_INTERVAL", Duration::from_secs(1))?;
        Ok(Self {
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            postgres: PostgresConfig::from_env(env, "sioms_pricing")?,
            amqp: AmqpConfig::from_env(env)?,
            admin_token: AdminToken::from_env(env)?,
            log_format: env.or("LOG_FORMAT", LogFormat::Text)?,
            outbox_poll_interval,
        })
    }
}

impl ServiceConfig for PricingConfig {
    fn http(&self) -> &HttpConfig {
        &self.http
    }

    fn log_format(&self) -> LogFormat {
        self.log_format
    }
}
