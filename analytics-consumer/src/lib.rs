//! analytics-consumer: keeps the aggregates the reports need from its own queue on
//! `sioms.events` (each event applied exactly once), and serves them.
//!
//! # Layout
//!
//! - [`config`]: environment variables (its queue, bindings, retry levels, database).
//! - [`domain`]: the reports: one day or a range of orders, the low-stock items.
//! - [`aggregates`]: applying a batch of events, added up, with their ids recorded in the same
//!   transaction.
//! - [`gauges`]: `analytics_items_below_threshold`, refreshed on a timer.
//! - [`routes`]: `GET /report/orders`, `GET /report/low-stock`.
//! - [`store`]: every SQL statement (the aggregates' writes, the reports' reads).
//!
//! The queue handling (prefetch, retries, dead letters, reconnects) is
//! [`platform::consumer::EventConsumer`].

pub mod aggregates;
pub mod config;
pub mod domain;
pub mod gauges;
pub mod routes;
pub mod store;

use std::sync::Arc;

use platform::consumer::{ConsumerService, Handler};
use tokio_util::sync::CancellationToken;

use crate::config::AnalyticsConfig;

/// The service's name, taken from its crate's so that it is written once: wherever the process
/// names itself (its `main`, its start-up errors, its logs).
pub const SERVICE: &str = env!("CARGO_PKG_NAME");

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The consumer's database migrations, embedded in the binary.
pub fn migrations() -> platform::postgres::Migrations {
    embedded::migrations::runner()
}

/// A built, bound, not yet running analytics-consumer.
pub struct Application(ConsumerService);

impl Application {
    /// Migrates, binds the read API and prepares the consumer and its gauges.
    pub async fn build(config: AnalyticsConfig) -> anyhow::Result<Self> {
        let service = ConsumerService::build(
            SERVICE,
            &config.http,
            &config.postgres,
            config.consumer.clone(),
            migrations(),
            |pool| -> Handler {
                Arc::new(move |events| {
                    let pool = pool.clone();
                    Box::pin(async move { aggregates::apply(&pool, &events).await })
                })
            },
            routes::register,
        )
        .await?;
        let pool = service.pool().clone();
        Ok(Self(service.with_worker(platform::run::worker(
            move |stop| gauges::run(pool, stop),
        ))))
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Serves and consumes until `shutdown` (see [`ConsumerService::run_until_stopped`]).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.0.run_until_stopped(shutdown).await
    }
}
