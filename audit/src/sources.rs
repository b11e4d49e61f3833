//! `Sources`: every read the auditor makes, and nothing that writes.
//!
//! - Redis through inventory-svc's [`StockStore`] (the only code that knows its key names):
//!   the catalog index in pages, each page's counters and live holds in pipelined round trips
//!   of [`PAGE`] items, the outbox streams with SCAN/XLEN. Never KEYS, never a script.
//! - Postgres through one short-lived connection per read, opened with
//!   `default_transaction_read_only=on` (the server refuses any write) and a
//!   `statement_timeout`; reads that must agree with each other share one `REPEATABLE READ`
//!   snapshot.
//! - RabbitMQ through passive queue declares, which report a queue's ready messages without
//!   touching them (and fail with NOT_FOUND instead of creating a missing queue).

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use anyhow::Context as _;
use chrono::NaiveDate;
use inventory_svc::{
    domain::Threshold,
    store::{OutboxBacklog, StockStore, StoreError, StoreSettings, StoredLedger},
};
use tokio_postgres::{IsolationLevel, NoTls, Row, types::ToSql};
use uuid::Uuid;

use crate::config::AuditConfig;

/// Items read per Redis round trip.
pub const PAGE: usize = 500;
/// How many retry levels a consumer's queue may have (`Q.retry.1` …); probing stops at the
/// first level that does not exist.
const MAX_RETRY_LEVELS: usize = 20;
/// How long a Postgres connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most stuck orders listed by one read (the count covers them all).
const STUCK_LISTED: i64 = 1000;

/// A source could not be read (down, refusing, or not what the auditor expects).
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what}: {detail}")]
pub struct SourceError {
    /// Which source: `Redis`, `the orders database`, `RabbitMQ`, …
    pub what: String,
    /// Why, with the whole cause chain.
    pub detail: String,
}

impl SourceError {
    fn new(what: impl Into<String>, error: impl Into<anyhow::Error>) -> Self {
        Self {
            what: what.into(),
            detail: format!("{:#}", error.into()),
        }
    }
}

impl From<StoreError> for SourceError {
    fn from(e: StoreError) -> Self {
        Self::new("Redis", e)
    }
}

/// One of the stack's databases, connected to afresh for each read.
struct Database {
    what: &'static str,
    config: tokio_postgres::Config,
}

impl Database {
    fn new(what: &'static str, url: &str, statement_timeout: Duration) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config =
            url.parse().with_context(|| format!("the URL of {what}"))?;
        // Read-only at the server: any write in any transaction of this session is refused, so
        // a bug here can never change the stack's data. The timeout keeps one slow statement
        // from holding a live system up.
        let guard = format!(
            "-c default_transaction_read_only=on -c statement_timeout={}",
            statement_timeout.as_millis()
        );
        let options = match config.get_options() {
            Some(existing) => format!("{existing} {guard}"),
            None => guard,
        };
        config
            .options(options)
            .application_name("sioms-audit")
            .connect_timeout(CONNECT_TIMEOUT);
        Ok(Self { what, config })
    }

    fn error(&self, e: tokio_postgres::Error) -> SourceError {
        SourceError::new(self.what, e)
    }

    async fn connect(&self) -> Result<tokio_postgres::Client, SourceError> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| self.error(e))?;
        let what = self.what;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(database = what, error = %e, "connection ended");
            }
        });
        Ok(client)
    }

    /// Runs one statement.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, SourceError> {
        let client = self.connect().await?;
        client.query(sql, params).await.map_err(|e| self.error(e))
    }

    /// Runs parameterless statements in one read-only `REPEATABLE READ` snapshot, so their
    /// answers agree with each other.
    async fn snapshot(&self, statements: &[&str]) -> Result<Vec<Vec<Row>>, SourceError> {
        let mut client = self.connect().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.error(e))?;
        let mut answers = Vec::with_capacity(statements.len());
        for sql in statements {
            answers.push(tx.query(*sql, &[]).await.map_err(|e| self.error(e))?);
        }
        tx.rollback().await.map_err(|e| self.error(e))?;
        Ok(answers)
    }
}

/// Rows waiting in a Postgres outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TableBacklog {
    /// Rows not yet published.
    pub rows: i64,
    /// Seconds the oldest has waited (0 when none).
    pub oldest_secs: f64,
}

/// An order whose stock has been pending too long.
#[derive(Debug, Clone, PartialEq)]
pub struct StuckOrder {
    /// The order.
    pub id: Uuid,
    /// `pending_confirm` or `pending_return`.
    pub stock: String,
    /// Seconds since it was last updated.
    pub age_secs: f64,
}

/// The orders whose stock is pending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PendingOrders {
    /// How many are pending now.
    pub pending: i64,
    /// Seconds the oldest has been pending (0 when none).
    pub oldest_secs: f64,
    /// How many have been pending longer than allowed.
    pub stuck: i64,
    /// The first of those, oldest first (at most [`STUCK_LISTED`]).
    pub listed: Vec<StuckOrder>,
}

/// Order outcomes of one UTC day, as analytics counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Orders confirmed that day (including those cancelled later).
    pub confirmed: i64,
    /// Orders rejected that day.
    pub rejected: i64,
    /// Orders cancelled that day.
    pub cancelled: i64,
}

/// Daily order counts and revenue per (day, currency), from either side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Daily {
    /// Counts per UTC day.
    pub days: BTreeMap<NaiveDate, DayCounts>,
    /// Revenue (minor units) of the orders placed each day that still stand, per currency.
    pub revenue: BTreeMap<(NaiveDate, String), i64>,
}

/// One notified event: its rows in the notification log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifiedEvent {
    /// The alert kind (`order_confirmed`, `order_cancelled`, `low_stock`, `price_changed`).
    pub kind: String,
    /// The event that caused it.
    pub event_id: Uuid,
    /// Its subject (names the order for order alerts).
    pub subject: String,
    /// Rows logged for it.
    pub rows: i64,
    /// Distinct recipients among those rows.
    pub recipients: i64,
}

/// An order that was confirmed at some point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmedOrder {
    /// The order.
    pub id: Uuid,
    /// Whether it was cancelled since.
    pub cancelled: bool,
}

/// The messages in one consumer's queues (`None`: the queue does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepths {
    /// The work queue's name.
    pub queue: String,
    /// Ready messages in the work queue.
    pub ready: Option<u32>,
    /// Messages waiting in its retry levels.
    pub retrying: u32,
    /// Messages parked in its dead-letter queue.
    pub dead: Option<u32>,
}

/// Everything the auditor reads.
pub struct Sources {
    stock: StockStore,
    orders: Database,
    pricing: Database,
    analytics: Database,
    notifier: Database,
    amqp_url: String,
    queues: [String; 2],
}

impl Sources {
    /// Prepares the connections (none is made until the first read).
    pub fn new(config: &AuditConfig) -> anyhow::Result<Self> {
        let timeout = config.limits.statement_timeout;
        let mut redis = config.redis.clone();
        redis.pool_size = 2;
        let stock = StockStore::new(
            platform::redis::pool(&redis)?,
            StoreSettings {
                key_prefix: redis.key_prefix.clone(),
                // Only read by the scripts, which the auditor never runs.
                record_retention: Duration::from_secs(1),
                default_stock: None,
                default_threshold: Threshold::new(0),
                command_timeout: timeout,
            },
            None,
        );
        Ok(Self {
            stock,
            orders: Database::new("the orders database", &config.orders_db, timeout)?,
            pricing: Database::new("the pricing database", &config.pricing_db, timeout)?,
            analytics: Database::new("the analytics database", &config.analytics_db, timeout)?,
            notifier: Database::new("the notifier database", &config.notifier_db, timeout)?,
            amqp_url: config.amqp.url.clone(),
            queues: [
                config.analytics_queue.clone(),
                config.notifier_queue.clone(),
            ],
        })
    }

    /// Every item id in the catalog index, read [`PAGE`] at a time.
    pub async fn item_ids(&self) -> Result<Vec<String>, SourceError> {
        let mut ids: Vec<String> = Vec::new();
        loop {
            let page = self
                .stock
                .index_page(ids.last().map(String::as_str), PAGE)
                .await?;
            let last = page.len() < PAGE;
            ids.extend(page);
            if last {
                return Ok(ids);
            }
        }
    }

    /// The stored counters of each of `ids` (`None`: the item does not exist).
    pub async fn ledgers(&self, ids: &[String]) -> Result<Vec<Option<StoredLedger>>, SourceError> {
        let mut all = Vec::with_capacity(ids.len());
        for page in ids.chunks(PAGE) {
            all.extend(self.stock.stored_ledgers(page).await?);
        }
        Ok(all)
    }

    /// The units held by the live holds of each of `ids`.
    pub async fn live_held(&self, ids: &[String]) -> Result<Vec<u64>, SourceError> {
        let mut all = Vec::with_capacity(ids.len());
        for page in ids.chunks(PAGE) {
            all.extend(self.stock.live_held(page).await?);
        }
        Ok(all)
    }

    /// What waits in inventory's outbox streams.
    pub async fn inventory_outbox(&self) -> Result<OutboxBacklog, SourceError> {
        let keys = self.stock.outbox_keys(None).await?;
        Ok(self.stock.outbox_backlog(&keys).await?)
    }

    /// Units in confirmed orders per item, for every item or only `items`.
    pub async fn confirmed_units(
        &self,
        items: Option<&[String]>,
    ) -> Result<HashMap<String, i64>, SourceError> {
        let rows = match items {
            None => {
                self.orders
                    .query(
                        "SELECT item_id, sum(quantity)::int8 FROM orders \
                         WHERE status = 'confirmed' GROUP BY item_id",
                        &[],
                    )
                    .await?
            }
            Some(items) => {
                self.orders
                    .query(
                        "SELECT item_id, sum(quantity)::int8 FROM orders \
                         WHERE status = 'confirmed' AND item_id = ANY($1) GROUP BY item_id",
                        &[&items],
                    )
                    .await?
            }
        };
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, _>>()
            .map_err(|e| self.orders.error(e))
    }

    /// The orders whose stock is pending, and those pending longer than `after` (ages by the
    /// database's clock, the one that wrote `updated_at`).
    pub async fn pending_orders(&self, after: Duration) -> Result<PendingOrders, SourceError> {
        let after = after.as_secs_f64();
        let answers = self
            .orders
            .snapshot(&[
                &format!(
                    "SELECT count(*), \
                     COALESCE(EXTRACT(EPOCH FROM now() - min(updated_at))::float8, 0), \
                     count(*) FILTER (WHERE updated_at < now() - make_interval(secs => {after})) \
                     FROM orders WHERE stock IN ('pending_confirm', 'pending_return')"
                ),
                &format!(
                    "SELECT id, stock, EXTRACT(EPOCH FROM now() - updated_at)::float8 \
                     FROM orders WHERE stock IN ('pending_confirm', 'pending_return') \
                     AND updated_at < now() - make_interval(secs => {after}) \
                     ORDER BY updated_at LIMIT {STUCK_LISTED}"
                ),
            ])
            .await?;
        let read = || -> Result<PendingOrders, tokio_postgres::Error> {
            // One answer per statement, and an aggregate without GROUP BY has exactly one row.
            let summary = &answers[0][0];
            Ok(PendingOrders {
                pending: summary.try_get(0)?,
                oldest_secs: summary.try_get(1)?,
                stuck: summary.try_get(2)?,
                listed: answers[1]
                    .iter()
                    .map(|r| {
                        Ok(StuckOrder {
                            id: r.try_get(0)?,
                            stock: r.try_get(1)?,
                            age_secs: r.try_get(2)?,
                        })
                    })
                    .collect::<Result<_, tokio_postgres::Error>>()?,
            })
        };
        read().map_err(|e| self.orders.error(e))
    }

    /// The rows waiting in order-svc's outbox.
    pub async fn orders_outbox(&self) -> Result<TableBacklog, SourceError> {
        outbox_backlog(&self.orders).await
    }

    /// The rows waiting in pricing-svc's outbox.
    pub async fn pricing_outbox(&self) -> Result<TableBacklog, SourceError> {
        outbox_backlog(&self.pricing).await
    }

    /// What analytics should hold, computed from the orders table (one snapshot).
    pub async fn daily_from_orders(&self) -> Result<Daily, SourceError> {
        let answers = self
            .orders
            .snapshot(&[
                "SELECT day, sum(confirmed)::int8, sum(rejected)::int8, sum(cancelled)::int8 FROM ( \
                   SELECT (created_at AT TIME ZONE 'UTC')::date AS day, \
                     count(*) FILTER (WHERE status IN ('confirmed', 'cancelled')) AS confirmed, \
                     count(*) FILTER (WHERE status = 'rejected') AS rejected, \
                     0 AS cancelled \
                   FROM orders GROUP BY 1 \
                   UNION ALL \
                   SELECT (updated_at AT TIME ZONE 'UTC')::date, 0, 0, count(*) \
                   FROM orders WHERE status = 'cancelled' GROUP BY 1 \
                 ) per_day GROUP BY day",
                "SELECT (created_at AT TIME ZONE 'UTC')::date, currency, sum(total_cents)::int8 \
                 FROM orders WHERE status = 'confirmed' GROUP BY 1, 2",
            ])
            .await?;
        daily_of(&answers).map_err(|e| self.orders.error(e))
    }

    /// What analytics holds (one snapshot).
    pub async fn daily_from_analytics(&self) -> Result<Daily, SourceError> {
        let answers = self
            .analytics
            .snapshot(&[
                "SELECT day, confirmed, rejected, cancelled FROM daily_orders",
                "SELECT day, currency, cents FROM daily_revenue",
            ])
            .await?;
        daily_of(&answers).map_err(|e| self.analytics.error(e))
    }

    /// Every order that was confirmed at some point (status confirmed or cancelled).
    pub async fn ever_confirmed(&self) -> Result<Vec<ConfirmedOrder>, SourceError> {
        let rows = self
            .orders
            .query(
                "SELECT id, status = 'cancelled' FROM orders \
                 WHERE status IN ('confirmed', 'cancelled')",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ConfirmedOrder {
                    id: r.try_get(0)?,
                    cancelled: r.try_get(1)?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(|e| self.orders.error(e))
    }

    /// Every notified event, with its rows and recipients.
    pub async fn notified_events(&self) -> Result<Vec<NotifiedEvent>, SourceError> {
        let rows = self
            .notifier
            .query(
                "SELECT kind, event_id, subject, count(*), count(DISTINCT recipient) \
                 FROM notifications GROUP BY kind, event_id, subject",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(NotifiedEvent {
                    kind: r.try_get(0)?,
                    event_id: r.try_get(1)?,
                    subject: r.try_get(2)?,
                    rows: r.try_get(3)?,
                    recipients: r.try_get(4)?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(|e| self.notifier.error(e))
    }

    /// The depths of the analytics and notifier consumers' queues.
    pub async fn queue_depths(&self) -> Result<Vec<QueueDepths>, SourceError> {
        let amqp = |e: anyhow::Error| SourceError::new("RabbitMQ", e);
        let conn = platform::amqp::connect(&self.amqp_url, "sioms-audit")
            .await
            .map_err(amqp)?;
        let mut all = Vec::with_capacity(self.queues.len());
        for queue in &self.queues {
            let ready = platform::amqp::queue_depth(&conn, queue)
                .await
                .map_err(amqp)?;
            let mut retrying = 0;
            for level in 1..=MAX_RETRY_LEVELS {
                match platform::amqp::queue_depth(&conn, &format!("{queue}.retry.{level}"))
                    .await
                    .map_err(amqp)?
                {
                    Some(n) => retrying += n,
                    None => break,
                }
            }
            let dead = platform::amqp::queue_depth(&conn, &format!("{queue}.dead"))
                .await
                .map_err(amqp)?;
            all.push(QueueDepths {
                queue: queue.clone(),
                ready,
                retrying,
                dead,
            });
        }
        let _ = conn.close(0, "audit done".into()).await;
        Ok(all)
    }
}

async fn outbox_backlog(db: &Database) -> Result<TableBacklog, SourceError> {
    let rows = db
        .query(
            "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0) \
             FROM outbox",
            &[],
        )
        .await?;
    // An aggregate without GROUP BY has exactly one row.
    let row = &rows[0];
    let read = || -> Result<TableBacklog, tokio_postgres::Error> {
        Ok(TableBacklog {
            rows: row.try_get(0)?,
            oldest_secs: row.try_get(1)?,
        })
    };
    read().map_err(|e| db.error(e))
}

/// Days and revenue from the two answers of a daily snapshot.
fn daily_of(answers: &[Vec<Row>]) -> Result<Daily, tokio_postgres::Error> {
    let mut daily = Daily::default();
    if let [days, revenue] = answers {
        for r in days {
            let counts = DayCounts {
                confirmed: r.try_get(1)?,
                rejected: r.try_get(2)?,
                cancelled: r.try_get(3)?,
            };
            daily.days.insert(r.try_get(0)?, counts);
        }
        for r in revenue {
            daily
                .revenue
                .insert((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?);
        }
    }
    Ok(daily)
}
