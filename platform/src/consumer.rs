//! `EventConsumer`: the way every SIOMS consumer reads its own durable queue on `sioms.events`.
//!
//! # Topology (declared idempotently on every (re)connection)
//!
//! For a consumer whose queue is `Q`:
//!
//! | name | what |
//! |---|---|
//! | `Q` | the work queue, durable, bound to the events exchange with the consumer's routing keys |
//! | `Q.retry.1` … `Q.retry.N` | durable holding queues, one per retry level, each with a fixed `x-message-ttl` (the level's delay) and `x-dead-letter-routing-key = Q`, so an expired message goes back to `Q` through the default exchange |
//! | `Q.dead` | durable parking queue for messages that failed every attempt; nothing consumes it |
//!
//! One TTL per holding queue (rather than per-message TTLs in one queue) keeps expiry in FIFO
//! order: RabbitMQ only expires messages at the head of a queue.
//!
//! # Delivery
//!
//! - Bounded prefetch (`basic.qos`), up to `concurrency` handlers at once.
//! - Manual ack only after the handler returned `Ok`, i.e. after its effect committed. The handler
//!   records the `event_id` in the same transaction ([`first_delivery`]), so a redelivered or
//!   duplicated event takes effect once.
//! - A failure (the body does not decode, or the handler fails) republishes the message to the
//!   next retry level, with an `x-attempt` header, and acks the original only once the broker
//!   confirmed the copy; after the last level it goes to `Q.dead` with `x-last-error`. A poison
//!   message never holds up the messages behind it.
//! - When the broker goes away, the consumer reconnects with backoff (doubling to 5 s) and
//!   re-declares the topology; [`EventConsumer::ready`] is false meanwhile. Unacked messages
//!   are redelivered by the broker; acks that fail after a reconnect are only logged.
//! - On shutdown it stops taking deliveries, lets the handlers in hand finish and ack, and closes.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use futures::{StreamExt as _, future::BoxFuture};
use lapin::{
    BasicProperties, Channel, Confirmation,
    message::Delivery,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions,
        BasicQosOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable, LongString, ShortString},
};
use tokio_util::sync::CancellationToken;

use crate::{config::AmqpConfig, event::EventEnvelope, postgres::DbError};

/// The header that counts how many times a message failed.
pub const ATTEMPT_HEADER: &str = "x-attempt";
/// The header that carries the last failure's message on a retried or parked message.
pub const LAST_ERROR_HEADER: &str = "x-last-error";

/// The first pause before reconnecting; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the queue depths are measured.
const MEASURE_EVERY: Duration = Duration::from_secs(2);

/// What kind of queue the work queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    /// A classic queue (one node).
    Classic,
    /// A quorum queue, replicated across a RabbitMQ cluster.
    Quorum,
}

impl std::str::FromStr for QueueType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "classic" => Ok(Self::Classic),
            "quorum" => Ok(Self::Quorum),
            other => Err(format!("expected classic or quorum, got {other:?}")),
        }
    }
}

/// How a consumer reads its queue.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// The broker and the events exchange.
    pub amqp: AmqpConfig,
    /// The work queue's name (`Q`); the retry and dead-letter queues are named after it.
    pub queue: String,
    /// The routing keys (event types) bound to the queue; `#` for every event.
    pub bindings: Vec<String>,
    /// `basic.qos` prefetch: deliveries in hand at once, per consumer.
    pub prefetch: u16,
    /// Handlers running at once (at most `prefetch`).
    pub concurrency: usize,
    /// The delay of each retry level; a message that failed this many times is parked.
    pub retry_delays: Vec<Duration>,
    /// Classic or quorum work queue.
    pub queue_type: QueueType,
}

impl ConsumerSettings {
    /// Reads `CONSUMER_QUEUE` (default `default_queue`), `CONSUMER_PREFETCH` (32),
    /// `CONSUMER_CONCURRENCY` (8), `RETRY_DELAYS` (`1s,5s,30s`: one retry level each) and
    /// `QUEUE_TYPE` (`classic` or `quorum`, default `classic`), plus the AMQP section.
    pub fn from_env(
        env: &crate::config::Env<'_>,
        default_queue: &str,
        bindings: &[&str],
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let prefetch: u16 = env.or("CONSUMER_PREFETCH", 32)?;
        if prefetch == 0 {
            return Err(ConfigError::new("CONSUMER_PREFETCH", "must be at least 1"));
        }
        let concurrency: usize = env.or("CONSUMER_CONCURRENCY", 8)?;
        if concurrency == 0 || concurrency > usize::from(prefetch) {
            return Err(ConfigError::new(
                "CONSUMER_CONCURRENCY",
                "must be from 1 to CONSUMER_PREFETCH",
            ));
        }
        let delays: String = env.or("RETRY_DELAYS", "1s,5s,30s".to_owned())?;
        let retry_delays = delays
            .split(',')
            .map(|d| {
                humantime::parse_duration(d.trim())
                    .map_err(|e| ConfigError::new("RETRY_DELAYS", format!("{d:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            amqp: AmqpConfig::from_env(env)?,
            queue: env.or("CONSUMER_QUEUE", default_queue.to_owned())?,
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
            prefetch,
            concurrency,
            retry_delays,
            queue_type: env.or("QUEUE_TYPE", QueueType::Classic)?,
        })
    }

    /// The holding queue of retry level `level` (1-based).
    pub fn retry_queue(&self, level: usize) -> String {
        format!("{}.retry.{level}", self.queue)
    }

    /// The parking queue.
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.queue)
    }
}

/// What a handler did with an event it took without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Its effect is committed (for an event type the consumer does not act on: nothing was owed).
    Done,
    /// Its `event_id` was processed before (a redelivery or a duplicate): nothing was done again.
    Duplicate,
}

impl Applied {
    /// The `outcome` label of `consumer_events_total`.
    fn label(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Duplicate => "duplicate",
        }
    }
}

/// A handler: applies one event; `Ok` means its effect is committed (or was already).
pub type Handler =
    Arc<dyn Fn(EventEnvelope) -> BoxFuture<'static, anyhow::Result<Applied>> + Send + Sync>;

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
        let mut backoff = MIN_BACKOFF;
        while !shutdown.is_cancelled() {
            let mut connected = false;
            let result = self.session(&shutdown, &mut connected).await;
            self.ready.store(false, Ordering::SeqCst);
            if connected {
                backoff = MIN_BACKOFF;
            }
            match result {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(queue = %self.settings.queue, error = format!("{e:#}"),
                        retry_in_ms = backoff.as_millis() as u64, "consumer lost the broker; reconnecting");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
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
        let republish = conn.create_channel().await?;
        republish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
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
            .for_each_concurrent(s.concurrency.max(1), |delivery| {
                self.handle(delivery, &republish)
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

    async fn handle(&self, delivery: Delivery, republish: &Channel) {
        let s = &self.settings;
        let attempt = attempt_of(&delivery);
        let started = std::time::Instant::now();
        let outcome = match serde_json::from_slice::<EventEnvelope>(&delivery.data) {
            Ok(event) => (self.handler)(event).await,
            Err(e) => Err(anyhow::anyhow!(
                "the message is not a valid event envelope: {e}"
            )),
        };
        metrics::histogram!("consumer_handle_duration_seconds", "queue" => s.queue.clone())
            .record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(applied) => {
                metrics::counter!("consumer_events_total", "queue" => s.queue.clone(), "outcome" => applied.label()).increment(1);
                if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                    // After a reconnect the broker redelivers; the handler's dedupe absorbs it.
                    tracing::warn!(queue = %s.queue, error = %e, "ack failed; the event will be redelivered and deduplicated");
                }
            }
            Err(error) => {
                let next = attempt + 1;
                let (target, outcome) = if next as usize <= s.retry_delays.len() {
                    (s.retry_queue(next as usize), "retried")
                } else {
                    (s.dead_queue(), "dead_lettered")
                };
                tracing::warn!(queue = %s.queue, attempt = next, %target, error = format!("{error:#}"), "event failed");
                metrics::counter!("consumer_events_total", "queue" => s.queue.clone(), "outcome" => outcome).increment(1);
                match forward(republish, &delivery, &target, next, &format!("{error:#}")).await {
                    Ok(()) => {
                        if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                            tracing::warn!(queue = %s.queue, error = %e, "ack after forwarding failed");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(queue = %s.queue, error = format!("{e:#}"), "cannot forward a failed event; it goes back to the queue");
                        let _ = delivery
                            .nack(BasicNackOptions {
                                requeue: true,
                                ..BasicNackOptions::default()
                            })
                            .await;
                    }
                }
            }
        }
    }
}

fn attempt_of(delivery: &Delivery) -> u32 {
    let value = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned());
    match value {
        Some(AMQPValue::LongInt(n)) => u32::try_from(n).unwrap_or(0),
        Some(AMQPValue::LongUInt(n)) => n,
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(n).unwrap_or(0),
        Some(AMQPValue::ShortInt(n)) => u32::try_from(n).unwrap_or(0),
        _ => 0,
    }
}

/// Copies a failed delivery to `queue` (through the default exchange) with its attempt count and
/// last error, and waits for the broker's confirm.
async fn forward(
    channel: &Channel,
    delivery: &Delivery,
    queue: &str,
    attempt: u32,
    error: &str,
) -> anyhow::Result<()> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongUInt(attempt));
    let error: String = error.chars().take(1000).collect();
    headers.insert(
        LAST_ERROR_HEADER.into(),
        AMQPValue::LongString(LongString::from(error)),
    );
    let properties: BasicProperties = delivery.properties.clone().with_headers(headers);
    let confirm = channel
        .basic_publish(
            "".into(),
            ShortString::from(queue.to_owned()),
            BasicPublishOptions::default(),
            &delivery.data,
            properties,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Nack(_) => anyhow::bail!("the broker refused the copy"),
        _ => Ok(()),
    }
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// The arguments every queue of the topology shares: its type. All of them (work, retry levels,
/// parking) are of the configured type, so with quorum queues no message in any of them is on
/// one node only.
fn queue_args(s: &ConsumerSettings) -> FieldTable {
    let mut args = FieldTable::default();
    if s.queue_type == QueueType::Quorum {
        // Replicated across the cluster's nodes (Raft): survives the loss of a minority.
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    args
}

/// The queues of a consumer's topology, each with its declare arguments: the work queue, each
/// retry level, then the parking queue.
pub fn topology_queues(s: &ConsumerSettings) -> Vec<(String, FieldTable)> {
    let mut queues = vec![(s.queue.clone(), queue_args(s))];
    for (i, delay) in s.retry_delays.iter().enumerate() {
        let mut args = queue_args(s);
        // Every message here waits exactly this level's delay...
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        );
        // ...then is dead-lettered through the default exchange straight back to the work queue.
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(s.queue.as_str().into()),
        );
        if s.queue_type == QueueType::Quorum {
            // A quorum queue dead-letters at most once unless told otherwise; at least once
            // (which needs reject-publish on overflow) so no retried event is lost on the way.
            args.insert(
                "x-dead-letter-strategy".into(),
                AMQPValue::LongString("at-least-once".into()),
            );
            args.insert(
                "x-overflow".into(),
                AMQPValue::LongString("reject-publish".into()),
            );
        }
        queues.push((s.retry_queue(i + 1), args));
    }
    queues.push((s.dead_queue(), queue_args(s)));
    queues
}

/// Declares the exchange, the queues of [`topology_queues`] and the work queue's bindings.
/// Idempotent.
pub async fn declare_topology(channel: &Channel, s: &ConsumerSettings) -> anyhow::Result<()> {
    crate::amqp::declare_events_exchange(channel, &s.amqp.exchange).await?;
    for (queue, args) in topology_queues(s) {
        channel
            .queue_declare(queue.as_str().into(), durable(), args)
            .await
            .with_context(|| format!("cannot declare queue {queue}"))?;
    }
    for key in &s.bindings {
        channel
            .queue_bind(
                s.queue.as_str().into(),
                s.amqp.exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// Sets `consumer_queue_depth` and `consumer_dead_letters` from passive declares.
async fn measure(channel: &Channel, s: &ConsumerSettings) {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    for (queue, gauge) in [
        (s.queue.clone(), "consumer_queue_depth"),
        (s.dead_queue(), "consumer_dead_letters"),
    ] {
        if let Ok(q) = channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
        {
            metrics::gauge!(gauge, "queue" => s.queue.clone()).set(f64::from(q.message_count()));
        }
    }
}

/// Records `event_id` as processed inside the handler's transaction; `false` when it already
/// was (a redelivery or a duplicate), in which case the handler does nothing else. Every
/// consumer's migrations create `processed_events (event_id UUID PRIMARY KEY, processed_at
/// TIMESTAMPTZ NOT NULL DEFAULT now())`.
pub async fn first_delivery(
    tx: &tokio_postgres::Transaction<'_>,
    event_id: uuid::Uuid,
) -> Result<bool, DbError> {
    let inserted = tx
        .execute(
            "INSERT INTO processed_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&event_id],
        )
        .await?;
    Ok(inserted == 1)
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
            workers: Vec::new(),
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
