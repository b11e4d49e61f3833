//! notifier-consumer's configuration.

use platform::{
    config::{ConfigError, Env, HttpConfig, ServiceConfig},
    consumer::ConsumerSettings,
    postgres::PostgresConfig,
    telemetry::LogFormat,
};

/// notifier-consumer's read API listens here unless `PORT` says otherwise.
pub const DEFAULT_PORT: u16 = 8085;

/// The event types that lead to alerts.
pub const BINDINGS: &[&str] = &[
    "low_stock",
    "order_created",
    "order_cancelled",
    "price_changed",
];

/// Everything notifier-consumer needs to run.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// The read API.
    pub http: HttpConfig,
    /// `DATABASE_URL` (default database `sioms_notifier`).
    pub postgres: PostgresConfig,
    /// Its queue (default `notifier`) and how it reads it.
    pub consumer: ConsumerSettings,
    /// `NOTIFY_RECIPIENTS`: comma-separated addresses every alert goes to (default
    /// `ops@sioms.local`).
    pub recipients: Vec<String>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
}

impl NotifierConfig {
    /// Reads and validates every variable.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let raw: String = env.or("NOTIFY_RECIPIENTS", "ops@sioms.local".to_owned())?;
        let recipients: Vec<String> = raw
            .split(',')
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        if recipients.is_empty() || recipients.iter().any(|r| !r.contains('@')) {
            return Err(ConfigError::new(
                "NOTIFY_RECIPIENTS",
                "must be a comma-separated list of e-mail addresses",
            ));
        }
        Ok(Self {
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            postgres: PostgresConfig::from_env(env, "sioms_notifier")?,
            consumer: ConsumerSettings::from_env(env, "notifier", BINDINGS)?,
            recipients,
            log_format: env.or("LOG_FORMAT", LogFormat::Text)?,
        })
    }
}

impl ServiceConfig for NotifierConfig {
    fn http(&self) -> &HttpConfig {
        &self.http
    }

    fn log_format(&self) -> LogFormat {
        self.log_format
    }
}
