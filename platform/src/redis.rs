//! The Redis connection pool (deadpool-redis over multiplexed connections).

use std::time::Duration;

use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};

use crate::config::RedisConfig;

pub use deadpool_redis::Connection;

/// How long a caller waits for a pooled connection, or for a new one to be made, before the
/// request fails fast with a 503 instead of hanging while Redis is away.
const POOL_TIMEOUT: Duration = Duration::from_secs(2);

/// Builds the pool. No connection is made until the first use, so a service starts (and reports
/// not-ready) while Redis is still coming up.
pub fn pool(config: &RedisConfig) -> anyhow::Result<Pool> {
    let mut cfg = deadpool_redis::Config::from_url(config.url.clone());
    let mut pool = PoolConfig::new(config.pool_size);
    pool.timeouts = Timeouts {
        wait: Some(POOL_TIMEOUT),
        create: Some(POOL_TIMEOUT),
        recycle: Some(POOL_TIMEOUT),
    };
    cfg.pool = Some(pool);
    Ok(cfg.create_pool(Some(Runtime::Tokio1))?)
}

/// `PING`, for `/readyz`.
pub async fn ping(pool: &Pool) -> Result<(), String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let _: String = deadpool_redis::redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
