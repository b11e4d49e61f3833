//! analytics-consumer's configuration.

use platform::{
    config::{ConfigError, Env, HttpConfig, ServiceConfig},
    consumer::ConsumerSettings,
    postgres::PostgresConfig,
    telemetry::LogFormat,
};

/// analytics-consumer's read API listens here unless `PORT` says otherwise.
pub const DEFAULT_PORT: u16 = 8084;

/// The event types the aggregates are kept from.
pub const BINDINGS: &[&str] = &[
    "order_created",
    "order_rejected",
    "order_cancelled",
    "price_changed",
    "low_stock",
    "stock_changed",
    "item_removed",
];

/// Everything analytics-consumer needs to run.
#[derive(Debug, Clone)]
pub struct AnalyticsConfig {
    /// The read API: `HOST`, `PORT`, `HTTP_WORKERS`, `SHUTDOWN_TIMEOUT`.
    pub http: HttpConfig,
    /// `DATABASE_URL` (default database `sioms_analytics`).
    pub postgres: PostgresConfig,
    /// Its queue (default `analytics`) and how it reads it.
    pub consumer: ConsumerSettings,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
}

impl AnalyticsConfig {
    /// Reads and validates every variable.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            postgres: PostgresConfig::from_env(env, "sioms_analytics")?,
            consumer: ConsumerSettings::from_env(env, "analytics", BINDINGS)?,
            log_format: env.or("LOG_FORMAT", LogFormat::Text)?,
        })
    }
}

impl ServiceConfig for AnalyticsConfig {
    fn http(&self) -> &HttpConfig {
        &self.http
    }

    fn log_format(&self) -> LogFormat {
        self.log_format
    }
}
