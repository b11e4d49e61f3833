//! Redis for tests: the configured server (or cluster) under a key prefix of the test's own,
//! and deleting everything under that prefix afterwards.

use super::unique_name;
use crate::config::{Env, ProcessEnv, RedisConfig};

/// Redis settings from the environment, with a fresh key prefix.
pub fn redis_config() -> RedisConfig {
    let mut cfg = RedisConfig::from_env(&Env::new(&ProcessEnv)).expect("REDIS_* variables");
    cfg.key_prefix = format!("{}:", unique_name("test"));
    cfg.pool_size = 16;
    cfg
}

/// Deletes every key under `config.key_prefix`, on the server or cluster `config` names.
pub async fn delete_redis_prefix(config: &RedisConfig) {
    let mut config = config.clone();
    config.pool_size = 2;
    let Ok(pool) = crate::redis::pool(&config) else {
        return;
    };
    let Ok(mut conn) = pool.get().await else {
        return;
    };
    let Ok(keys) = conn.scan(&format!("{}*", config.key_prefix), None).await else {
        return;
    };
    let deletes: Vec<redis::Cmd> = keys
        .iter()
        .map(|k| {
            let mut cmd = redis::cmd("UNLINK");
            cmd.arg(k);
            cmd
        })
        .collect();
    for chunk in deletes.chunks(1000) {
        let _: Result<Vec<i64>, _> = conn.query_all(chunk).await;
    }
}
