//! notifier-consumer: sends an alert (mocked e-mail and a log line) for low stock, confirmed
//! orders, cancellations and price changes, from its own queue on `sioms.events` (each event
//! taking effect exactly once), records every alert, and serves them.
//!
//! # Layout
//!
//! - [`config`]: environment variables (its queue, bindings, retry levels, recipients).
//! - [`domain`]: a recorded alert.
//! - [`alerts`]: turning a batch of events into recorded, sent alerts.
//! - [`mail`]: the [`mail::MailTransport`] seam and the logging transport.
//! - [`routes`]: `GET /notifications`.
//! - [`store`]: every SQL statement (recording alerts, listing them).
//!
//! The queue handling (prefetch, retries, dead letters, reconnects) is
//! [`platform::consumer::EventConsumer`].

pub mod alerts;
pub mod config;
pub mod domain;
pub mod mail;
pub mod routes;
pub mod store;

use std::sync::Arc;

use platform::consumer::{ConsumerService, Handler};
use tokio_util::sync::CancellationToken;

use crate::{
    config::NotifierConfig,
    mail::{LogTransport, MailTransport},
};

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

/// A built, bound, not yet running notifier-consumer.
pub struct Application(ConsumerService);

impl Application {
    /// Migrates, binds the read API and prepares the consumer, sending with [`LogTransport`].
    pub async fn build(config: NotifierConfig) -> anyhow::Result<Self> {
        Self::build_with(config, Arc::new(LogTransport)).await
    }

    /// The same, sending with `transport`.
    pub async fn build_with(
        config: NotifierConfig,
        transport: Arc<dyn MailTransport>,
    ) -> anyhow::Result<Self> {
        let recipients = Arc::new(config.recipients.clone());
        ConsumerService::build(
            SERVICE,
            &config.http,
            &config.postgres,
            config.consumer.clone(),
            migrations(),
            |pool| -> Handler {
                Arc::new(move |events| {
                    let (pool, transport, recipients) =
                        (pool.clone(), transport.clone(), recipients.clone());
                    Box::pin(async move {
                        alerts::apply(&pool, transport.as_ref(), &recipients, &events).await
                    })
                })
            },
            routes::register,
        )
        .await
        .map(Self)
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
