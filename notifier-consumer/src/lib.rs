//! notifier-consumer: sends an alert (mocked e-mail and a log line) for low stock, confirmed
//! orders, cancellations and price changes, from its own queue on `sioms.events` (each event
//! taking effect exactly once), records every alert, and serves them.
//!
//! # Layout
//!
//! - [`config`]: environment variables (its queue, bindings, retry levels, recipients).
//! - [`alerts`]: turning one event into recorded, sent alerts.
//! - [`mail`]: the [`mail::MailTransport`] seam and the logging transport.
//! - [`routes`]: `GET /notifications`.
//!
//! The queue handling (prefetch, retries, dead letters, reconnects) is
//! [`platform::consumer::EventConsumer`].

pub mod alerts;
pub mod config;
pub mod mail;
pub mod routes;

use std::sync::{Arc, atomic::Ordering};

use actix_web::{dev::Server, web};
use anyhow::Context as _;
use platform::{
    consumer::{EventConsumer, Handler},
    http::Readiness,
};
use tokio_util::sync::CancellationToken;

use crate::{
    config::NotifierConfig,
    mail::{LogTransport, MailTransport},
};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The consumer's database migrations, embedded in the binary.
pub fn migrations() -> platform::postgres::Migrations {
    embedded::migrations::runner()
}

/// A built, bound, not yet running notifier-consumer.
pub struct Application {
    port: u16,
    server: Server,
    consumer: EventConsumer,
}

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
        let prometheus = platform::metrics::install()?;
        let pool = platform::postgres::pool(&config.postgres)?;
        platform::postgres::migrate(&pool, migrations())
            .await
            .context("notifier-consumer migrations")?;
        let handler_pool = pool.clone();
        let recipients = Arc::new(config.recipients.clone());
        let handler: Handler = Arc::new(move |event| {
            let (pool, transport, recipients) =
                (handler_pool.clone(), transport.clone(), recipients.clone());
            Box::pin(
                async move { alerts::apply(&pool, transport.as_ref(), &recipients, &event).await },
            )
        });
        let consumer = EventConsumer::new(config.consumer.clone(), handler);
        let consuming = consumer.ready();
        let probe_pool = pool.clone();
        // Not ready while the consumer is not consuming (broker away): alerts would be late.
        let readiness = Readiness::default()
            .check(
                "postgres",
                Arc::new(move || {
                    let pool = probe_pool.clone();
                    Box::pin(async move { platform::postgres::ping(&pool).await })
                }),
            )
            .check(
                "consumer",
                Arc::new(move || {
                    let up = consuming.load(Ordering::SeqCst);
                    Box::pin(async move {
                        if up {
                            Ok(())
                        } else {
                            Err("not consuming (broker unreachable?)".to_owned())
                        }
                    })
                }),
            );
        let data = web::Data::new(pool);
        let listener = platform::http::bind(&config.http)?;
        let port = listener.local_addr()?.port();
        let server = platform::http::serve(
            &config.http,
            listener,
            readiness,
            prometheus,
            move |cfg: &mut web::ServiceConfig| {
                cfg.app_data(data.clone()).configure(routes::register);
            },
        )?;
        Ok(Self {
            port,
            server,
            consumer,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves and consumes until `shutdown`; then stops the API, and the consumer finishes the
    /// deliveries in hand, acks them, and closes.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer = self.consumer;
        platform::run::until_stopped(
            self.server,
            shutdown,
            Vec::new(),
            platform::run::worker(move |t| consumer.run(t)),
        )
        .await
    }
}
