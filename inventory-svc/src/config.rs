//! inventory-svc's configuration: the shared sections plus its own variables, all read from the
//! environment and validated before anything binds.

use std::{num::NonZeroU32, time::Duration};

use platform::{
    config::{AdminToken, AmqpConfig, ConfigError, Env, HttpConfig, RedisConfig, ServiceConfig},
    telemetry::LogFormat,
};

use crate::domain::{MAX_STOCK, StockLevel, Threshold};

/// inventory-svc listens here unless `PORT` says otherwise.
pub const DEFAULT_PORT: u16 = 8081;

/// Everything inventory-svc needs to run.
#[derive(Debug, Clone)]
pub struct InventoryConfig {
    /// `HOST`, `PORT`, `HTTP_WORKERS`, `SHUTDOWN_TIMEOUT`.
    pub http: HttpConfig,
    /// `REDIS_URL`, `REDIS_KEY_PREFIX`, `REDIS_POOL_SIZE`.
    pub redis: RedisConfig,
    /// `AMQP_URL`, `EVENTS_EXCHANGE`.
    pub amqp: AmqpConfig,
    /// `ADMIN_TOKEN` (required).
    pub admin_token: AdminToken,
    /// `LOG_FORMAT`: `json` or `text` (default `text`).
    pub log_format: LogFormat,
    /// `DEFAULT_STOCK`: when set, reserving an unknown item creates it with this stock (seed
    /// 001's behaviour); when unset, an unknown item is a 404.
    pub default_stock: Option<StockLevel>,
    /// `DEFAULT_LOW_STOCK_THRESHOLD`: the threshold of items created without one (default 10).
    pub default_threshold: Threshold,
    /// `RESERVATION_HOLD`: how long a reservation holds stock unless confirmed (default `30s`).
    pub reservation_hold: Duration,
    /// `RESERVATION_RECORD_RETENTION`: how long closed reservation records are kept, so retries
    /// stay idempotent and sales can be cancelled (default `7d`).
    pub record_retention: Duration,
    /// `HOLD_REAPER_INTERVAL`: how often expired holds are given back for items nobody touches
    /// (default `1s`; any touch of an item gives its expired holds back at once).
    pub reaper_interval: Duration,
    /// `HOLD_REAPER_RATE`: the most items the reaper looks at per second (default `2000`), so
    /// that a large catalog costs a small, bounded share of Redis and of this process: a pass
    /// over a million items takes about 8 minutes (docs/decisions/0026).
    pub reaper_rate: NonZeroU32,
    /// `OUTBOX_SWEEP_INTERVAL`: how often the relay looks at every outbox stream, to publish
    /// events a crashed replica left behind (default `5s`; fresh events go out at once).
    pub outbox_sweep_interval: Duration,
    /// `OUTBOX_SWEEP_RATE`: the most keys a sweep's SCAN looks at per second (default
    /// `20000`): SCAN visits every key of the Redis, whatever its type or prefix
    /// (docs/decisions/0026).
    pub outbox_sweep_rate: NonZeroU32,
    /// `REDIS_COMMAND_TIMEOUT`: how long one Redis call may take (default `2s`).
    pub redis_command_timeout: Duration,
}

impl InventoryConfig {
    /// Reads and validates every variable.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let default_stock = env
            .optional::<u64>("DEFAULT_STOCK")?
            .map(|n| {
                if n > MAX_STOCK {
                    Err(ConfigError::new(
                        "DEFAULT_STOCK",
                        format!("must be at most {MAX_STOCK}"),
                    ))
                } else {
                    serde_json::from_value::<StockLevel>(n.into())
                        .map_err(|e| ConfigError::new("DEFAULT_STOCK", e.to_string()))
                }
            })
            .transpose()?;
        let threshold: u64 = env.or("DEFAULT_LOW_STOCK_THRESHOLD", 10)?;
        if threshold > MAX_STOCK {
            return Err(ConfigError::new(
                "DEFAULT_LOW_STOCK_THRESHOLD",
                format!("must be at most {MAX_STOCK}"),
            ));
        }
        let reservation_hold = env.duration_or("RESERVATION_HOLD", Duration::from_secs(30))?;
        if reservation_hold < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "RESERVATION_HOLD",
                "must be at least 100ms",
            ));
        }
        Ok(Self {
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            redis: RedisConfig::from_env(env)?,
            amqp: AmqpConfig::from_env(env)?,
            admin_token: AdminToken::from_env(env)?,
            log_format: env.or("LOG_FORMAT", LogFormat::Text)?,
            default_stock,
            default_threshold: Threshold::new(threshold),
            reservation_hold,
            record_retention: env.positive_duration(
                "RESERVATION_RECORD_RETENTION",
                Duration::from_secs(7 * 86_400),
            )?,
            reaper_interval: env
                .positive_duration("HOLD_REAPER_INTERVAL", Duration::from_secs(1))?,
            reaper_rate: positive_rate(env, "HOLD_REAPER_RATE", 2_000)?,
            outbox_sweep_interval: env
                .positive_duration("OUTBOX_SWEEP_INTERVAL", Duration::from_secs(5))?,
            outbox_sweep_rate: positive_rate(env, "OUTBOX_SWEEP_RATE", 20_000)?,
            redis_command_timeout: env
                .positive_duration("REDIS_COMMAND_TIMEOUT", Duration::from_secs(2))?,
        })
    }
}

/// A rate per second from `var`: a whole number of at least 1.
fn positive_rate(env: &Env<'_>, var: &str, default: u32) -> Result<NonZeroU32, ConfigError> {
    NonZeroU32::new(env.or(var, default)?)
        .ok_or_else(|| ConfigError::new(var, "must be at least 1"))
}

impl ServiceConfig for InventoryConfig {
    fn http(&self) -> &HttpConfig {
        &self.http
    }

    fn log_format(&self) -> LogFormat {
        self.log_format
    }
}
