//! Helpers for the integration tests of every service (feature `testing`).
//!
//! Tests run against the real Redis, RabbitMQ and Postgres named by the usual environment
//! variables (defaulting to this machine's loopback services). Each test gets unique names (key
//! prefix, exchange) and removes what it made when dropped, so tests run in parallel and leave
//! nothing behind on long-lived servers.
//!
//! # Layout
//!
//! Everything is re-exported here, so tests name `platform::testing::X` whatever file it lives
//! in:
//!
//! - `database`: [`TestDatabase`], a fresh migrated Postgres database per test.
//! - `redis`: Redis settings with a fresh key prefix, and deleting what is under it.
//! - `broker`: RabbitMQ settings with a fresh exchange, clean-up and probes, and [`EventTap`].
//! - `proxy`: [`TcpProxy`], a fault-injecting TCP proxy, and the URL helpers that aim a
//!   service at it.
//! - here: unique names, bounded polling ([`eventually`]) and clean-up from `Drop`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod broker;
mod database;
mod proxy;
mod redis;

use std::time::Duration;

pub use broker::{EventTap, amqp_config, delete_exchange, delete_queues, publish_raw, queue_depth};
pub use database::TestDatabase;
pub use proxy::{TcpProxy, socket_addr_of, with_addr};
pub use redis::{delete_redis_prefix, redis_config};

/// A name no other test (or earlier run) uses: `<prefix>-<uuid>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `work` on a fresh thread with its own runtime: for clean-up in `Drop`, which cannot
/// await and may run inside (or outside) a test's runtime.
pub fn block_on_fresh_thread<F>(work: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(work);
    })
    .join();
}
