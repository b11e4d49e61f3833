//! The consumer loop ([`EventConsumer`]: connect, declare, consume, reconnect with backoff) and
//! the consumer process around it ([`ConsumerService`]: migrations, read API, shutdown order).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use futures::StreamExt as _;
use lapin::{
    options::{BasicConsumeOptions, BasicQosOptions},
    types::FieldTable,
};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;

use super::{
    acks::Acks,
    delivery::{self, Handler},
    settings::ConsumerSettings,
    topology::{declare_topology, measure},
};

/// How often the queue depths are measured.
const MEASURE_EVERY: Duration = Duration::from_secs(2);

/// A consumer of one queue.
pub struct EventConsumer {
    settings: ConsumerSettings,
    handler: Handler,
    ready: Arc<AtomicBool>,
}

impl EventConsumer {
    /// A consumer calling `handler` for every event on its queue.
    pub fn new(settings: ConsumerSettings, handler: Handler) -> Self {
        Self {
            settings,
            handler,
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True while connected and consuming (for `/readyz`).
    pub fn ready(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// Consumes until `shutdown`, reconnecting whenever the broker goes away.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::default();
        while !shutdown.is_cancelled() {
            let mut connected = false;
            let result = self.session(&shutdown, &mut connected).await;
            self.ready.store(false, Ordering::SeqCst);
            if connected {
                backoff.reset();
            }
            match result {
                Ok(()) => break,
                Err(e) => {
                    let pause = backoff.next_delay();
                    tracing::warn!(queue = %self.settings.queue, error = format!("{e:#}"),
                        retry_in_ms = pause.as_millis() as u64, "consumer lost the broker; reconnecting");
                    if !crate::shutdown::sleep(pause, &shutdown).await {
                        break;
                    }
                }
            }
        }
        tracing::info!(queue = %self.settings.queue, "consumer stopped");
    }

    /// One connection's worth of consuming. `Ok` only when stopped by `shutdown`.
    async fn session(
        &self,
        shutdown: &CancellationToken,
        connected: &mut bool,
    ) -> anyhow::Result<()> {
        let s = &self.settings;
        let conn = crate::amqp::connect(&s.amqp.url, &format!("{} consumer", s.queue)).await?;
        let channel = conn.create_channel().await?;
        declare_topology(&channel, s).await?;
        // Bounded prefetch: the broker sends at most this many unacked deliveries at once, so a
        // slow consumer never hoards the queue and competing replicas share it.
        channel
            .basic_qos(s.prefetch, BasicQosOptions::default())
            .await
            .context("cannot set prefetch")?;
        // Retries and parking go through their own channel with confirms: the original is
        // acked only once the broker holds the copy.
        let republish = crate::amqp::confirming_channel(&conn).await?;
        let consumer = channel
            .basic_consume(
                s.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("cannot start consuming")?;
        *connected = true;
        self.ready.store(true, Ordering::SeqCst);
        tracing::info!(queue = %s.queue, "consuming");

        // Every delivery is recorded as it arrives, so that a batch's ack never covers an
        // earlier delivery still being applied.
        let acks = Acks::new(channel.clone(), &s.queue);
        let failure: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let record = failure.clone();
        let processing = consumer
            .take_until(shutdown.cancelled())
            .take_while(move |d| {
                if let Err(e) = d
                    && let Ok(mut slot) = record.lock()
                {
                    *slot = Some(e.to_string());
                }
                std::future::ready(d.is_ok())
            })
            .filter_map(|d| std::future::ready(d.ok()))
            .inspect(|d| acks.received(d.delivery_tag));
        // A batch: the deliveries that come within `linger` of its first, up to `batch` (one
        // transaction for all). A lone event waits `linger`; a steady flow is applied a few
        // commits per `linger` instead of one per event; a backlog fills batches at once.
        let processing =
            tokio_stream::StreamExt::chunks_timeout(processing, s.batch.max(1), s.linger)
                .for_each_concurrent(s.concurrency.max(1), |deliveries| {
                    delivery::handle_batch(s, &self.handler, deliveries, &republish, &acks)
                });
        let measuring = async {
            loop {
                measure(&republish, s).await;
                tokio::time::sleep(MEASURE_EVERY).await;
            }
        };
        tokio::select! {
            () = processing => {}
            () = measuring => {}
        }
        let stopped = shutdown.is_cancelled();
        let _ = channel.close(200, "consumer stopping".into()).await;
        let _ = conn.close(200, "consumer stopping".into()).await;
        if stopped {
            return Ok(());
        }
        let reason = failure
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_else(|| "the delivery stream ended".to_owned());
        anyhow::bail!("{reason}")
    }
}

/// A consumer process: its queue consumer and its small read API over the consumer's own
/// database, built and stopped the same way for every consumer.
pub struct ConsumerService {
    port: u16,
    server: actix_web::dev::Server,
    consumer: EventConsumer,
    pool: deadpool_postgres::Pool,
    workers: Vec<crate::run::Worker>,
}

impl ConsumerService {
    /// Migrates the database, prepares the consumer with the handler `handler_for(pool)` makes,
    /// and binds the read API: `routes` registers the service's routes; the pool is app data.
    /// `/readyz` needs Postgres and a consumer that is consuming.
    pub async fn build<R>(
        name: &str,
        http: &crate::config::HttpConfig,
        postgres: &crate::postgres::PostgresConfig,
        settings: ConsumerSettings,
        migrations: crate::postgres::Migrations,
        handler_for: impl FnOnce(deadpool_postgres::Pool) -> Handler,
        routes: R,
    ) -> anyhow::Result<Self>
    where
        R: Fn(&mut actix_web::web::ServiceConfig) + Send + Clone + 'static,
    {
        let prometheus = crate::metrics::install()?;
        let pool = crate::postgres::migrated_pool(postgres, migrations, name).await?;
        let retention = crate::retention::Retention::processed_events(
            pool.clone(),
            settings.processed_retention,
        );
        let consumer = EventConsumer::new(settings, handler_for(pool.clone()));
        // Not ready while not consuming (broker away): what it serves would go stale.
        let readiness = crate::http::Readiness::default()
            .postgres(pool.clone())
            .flag(
                "consumer",
                consumer.ready(),
                "not consuming (broker unreachable?)",
            );
        let data = actix_web::web::Data::new(pool.clone());
        let listener = crate::http::bind(http)?;
        let port = listener.local_addr()?.port();
        let server = crate::http::serve(http, listener, readiness, prometheus, move |cfg| {
            cfg.app_data(data.clone()).configure(routes.clone());
        })?;
        Ok(Self {
            port,
            server,
            consumer,
            pool,
            workers: vec![crate::run::worker(move |stop| retention.run(stop))],
        })
    }

    /// Adds a background task that runs beside the consumer and stops before it.
    #[must_use]
    pub fn with_worker(mut self, worker: crate::run::Worker) -> Self {
        self.workers.push(worker);
        self
    }

    /// The read API's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pool over the consumer's own database.
    pub fn pool(&self) -> &deadpool_postgres::Pool {
        &self.pool
    }

    /// Serves and consumes until `shutdown`; then stops the API, and the consumer finishes the
    /// deliveries in hand, acks them, and closes.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer = self.consumer;
        crate::run::until_stopped(
            self.server,
            shutdown,
            self.workers,
            crate::run::worker(move |t| consumer.run(t)),
        )
        .await
    }
}
