//! The transactional outbox over Postgres, shared by every service that keeps its state there.
//!
//! A service writes its change and the event announcing it in one transaction
//! ([`enqueue`]), so an event exists if and only if the change committed. [`OutboxRelay`] then
//! publishes the rows to RabbitMQ with publisher confirms and deletes them only after the
//! broker confirmed them. It takes rows with `FOR UPDATE SKIP LOCKED`, so any number of
//! replicas relay side by side and each row is published by one of them. While the broker is
//! away it backs off and the rows wait; delivery is at least once (a row whose confirm was lost
//! is published again), and consumers deduplicate by `event_id`.
//!
//! Every service's migrations create the table:
//!
//! ```sql
//! CREATE TABLE outbox (
//!     id          BIGSERIAL PRIMARY KEY,
//!     event_id    UUID NOT NULL UNIQUE,
//!     kind        TEXT NOT NULL,
//!     occurred_at TIMESTAMPTZ NOT NULL,
//!     source      TEXT NOT NULL,
//!     data        JSONB NOT NULL,
//!     created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
//! );
//! ```

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{amqp::ConfirmingPublisher, backoff::Backoff, event::EventEnvelope};

/// Rows published per transaction.
const BATCH: i64 = 200;
/// How long a relay waits after a wake-up before it reads its outbox, so that the commits of
/// those milliseconds go out in the same round (one read, one wait for confirms, one delete)
/// instead of a round each (docs/decisions/0025-relays-gather-a-few-milliseconds-of-commits.md).
/// inventory-svc's Redis relay waits the same.
pub const GATHER: Duration = Duration::from_millis(5);
/// How long the final drain may take on shutdown; what is left goes out after the next start.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// The columns an event fills in an outbox row, for a statement that writes rows itself.
pub const COLUMNS: &str = "event_id, kind, occurred_at, source, data";

/// Writes `event` to the outbox inside the caller's transaction (a statement prepared once per
/// pooled connection).
pub async fn enqueue(
    tx: &deadpool_postgres::Transaction<'_>,
    event: &EventEnvelope,
) -> Result<(), tokio_postgres::Error> {
    static INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("INSERT INTO outbox ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)")
    });
    let statement = tx.prepare_cached(&INSERT).await?;
    tx.execute(
        &statement,
        &[
            &event.event_id,
            &event.kind,
            &event.occurred_at,
            &event.source,
            &event.data,
        ],
    )
    .await
    .map(|_| ())
}

/// Publishes outbox rows until shut down.
pub struct OutboxRelay {
    pool: Pool,
    publisher: ConfirmingPublisher,
    wake: Arc<Notify>,
    poll_interval: Duration,
    service: &'static str,
}

impl OutboxRelay {
    /// A relay for `service`'s outbox. It looks for rows every `poll_interval`, and at once when
    /// its [`OutboxRelay::waker`] is notified (after a commit that enqueued something).
    pub fn new(
        pool: Pool,
        publisher: ConfirmingPublisher,
        poll_interval: Duration,
        service: &'static str,
    ) -> Self {
        Self {
            pool,
            publisher,
            wake: Arc::new(Notify::new()),
            poll_interval,
            service,
        }
    }

    /// The relay of `service`, publishing to the events exchange of `amqp` over its own
    /// connection (named "<service> relay" in the broker's UI).
    pub fn for_service(
        pool: Pool,
        amqp: &crate::config::AmqpConfig,
        poll_interval: Duration,
        service: &'static str,
    ) -> Self {
        Self::new(
            pool,
            ConfirmingPublisher::new(amqp.clone(), format!("{service} relay")),
            poll_interval,
            service,
        )
    }

    /// Notify this after committing a transaction that enqueued events.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until `shutdown`, then makes one bounded last attempt to publish what is left.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::default();
        let mut last_measure = tokio::time::Instant::now() - self.poll_interval;
        loop {
            if last_measure.elapsed() >= self.poll_interval {
                self.measure().await;
                last_measure = tokio::time::Instant::now();
            }
            let pause = match self.publish_batch().await {
                Ok(n) if n as i64 == BATCH => {
                    backoff.reset();
                    continue;
                }
                Ok(_) => {
                    backoff.reset();
                    None
                }
                Err(e) => {
                    metrics::counter!("outbox_publish_failures_total", "service" => self.service)
                        .increment(1);
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "cannot relay outbox events yet; will retry"
                    );
                    Some(backoff.next_delay())
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified(), if pause.is_none() => {
                    tokio::time::sleep(GATHER).await;
                }
                () = tokio::time::sleep(pause.unwrap_or(self.poll_interval)) => {}
            }
        }
        let drain = async {
            while let Ok(n) = self.publish_batch().await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(SHUTDOWN_DRAIN, drain).await;
        tracing::info!(service = self.service, "outbox relay stopped");
    }

    /// Publishes one batch; returns how many rows went out.
    async fn publish_batch(&mut self) -> anyhow::Result<usize> {
        let mut client = self.pool.get().await.context("cannot reach Postgres")?;
        let tx = client.transaction().await?;
        let select = tx
            .prepare_cached(
                "SELECT id, event_id, kind, occurred_at, source, data FROM outbox \
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            )
            .await?;
        let rows = tx
            .query(&select, &[&BATCH])
            .await
            .context("cannot read the outbox")?;
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let events: Vec<EventEnvelope> = rows
            .iter()
            .map(|r| EventEnvelope {
                event_id: r.get(1),
                kind: r.get(2),
                occurred_at: r.get(3),
                source: r.get(4),
                data: r.get(5),
            })
            .collect();
        // Rolled back (rows kept) if publishing fails: the transaction is dropped uncommitted.
        self.publisher.publish_all(&events).await?;
        let delete = tx
            .prepare_cached("DELETE FROM outbox WHERE id = ANY($1)")
            .await?;
        tx.execute(&delete, &[&ids])
            .await
            .context("cannot delete published rows")?;
        tx.commit()
            .await
            .context("cannot commit the outbox batch")?;
        metrics::counter!("outbox_published_total", "service" => self.service)
            .increment(ids.len() as u64);
        Ok(ids.len())
    }

    /// Sets the backlog gauges from [`backlog`].
    async fn measure(&self) {
        if let Ok(waiting) = backlog(&self.pool).await {
            metrics::gauge!("outbox_backlog_events", "service" => self.service)
                .set(waiting.events as f64);
            metrics::gauge!("outbox_oldest_age_seconds", "service" => self.service)
                .set(waiting.oldest_age_seconds);
        }
    }
}

/// What waits in an outbox: [`backlog`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    /// Rows waiting: the span of ids from the oldest row to the newest; 0 when empty.
    pub events: i64,
    /// How long the oldest row has waited; 0 when empty.
    pub oldest_age_seconds: f64,
}

/// The outbox's backlog, read from the two ends of its primary key, so it costs the same with
/// ten rows waiting or ten million (a `count(*)` would read every row, and the dead ones not yet
/// vacuumed, once a poll interval, and hardest while the broker is away and rows pile up).
/// The count is exact while rows leave in id order, as one relay publishes them, and an upper
/// bound when some in between went first (a rolled-back write's id, another replica's batch).
pub async fn backlog(pool: &Pool) -> anyhow::Result<Backlog> {
    let client = pool.get().await.context("cannot reach Postgres")?;
    let row = client
        .query_one(
            "SELECT COALESCE(max(id) - min(id) + 1, 0), COALESCE(EXTRACT(EPOCH FROM now() - \
             (SELECT created_at FROM outbox ORDER BY id LIMIT 1))::float8, 0) FROM outbox",
            &[],
        )
        .await
        .context("cannot measure the outbox")?;
    Ok(Backlog {
        events: row.get(0),
        oldest_age_seconds: row.get(1),
    })
}
