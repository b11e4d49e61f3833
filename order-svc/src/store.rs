//! `OrderStore`: orders, idempotency keys and the outbox in Postgres. Every write that changes
//! an order also writes the event announcing it (and, for a keyed request, the response to
//! replay) in the same transaction.

use std::time::Duration;

use backon::Retryable as _;
use deadpool_postgres::Pool;
use platform::{
    event::{Event, EventEnvelope, OrderSnapshot},
    outbox,
    postgres::DbError,
};
use serde_json::Value;
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;

use crate::domain::{ItemId, Order, OrderStatus};

/// Where an order's units stand at inventory-svc (see the migration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockState {
    /// A rejected order took nothing.
    None,
    /// The hold still has to be confirmed.
    PendingConfirm,
    /// The units are sold.
    Committed,
    /// The units still have to go back.
    PendingReturn,
    /// The units are back on sale.
    Returned,
}

impl StockState {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::PendingConfirm => "pending_confirm",
            Self::Committed => "committed",
            Self::PendingReturn => "pending_return",
            Self::Returned => "returned",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "pending_confirm" => Self::PendingConfirm,
            "committed" => Self::Committed,
            "pending_return" => Self::PendingReturn,
            "returned" => Self::Returned,
            _ => return None,
        })
    }
}

/// The first outcome of an `Idempotency-Key`, as claimed by a request.
#[derive(Debug, Clone)]
pub enum KeyClaim {
    /// This request owns the key and places the order under `order_id`. `previous` is the
    /// order id of a claim it took over from a request that never finished (its process is
    /// gone): that request may have left a hold behind under it.
    Owned {
        /// The id this request places its order under.
        order_id: Uuid,
        /// The id of the abandoned claim this one replaces, if any.
        previous: Option<Uuid>,
    },
    /// A request with the same key and body finished: replay its answer.
    Done {
        /// Its HTTP status.
        status: u16,
        /// Its body.
        body: Value,
        /// The order it made, if any.
        order_id: Uuid,
    },
    /// The key was used with another body.
    Mismatch,
    /// A request with this key is still being handled by a live process.
    InFlight,
}

/// Whether a write that finishes a keyed request took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Finished {
    /// Written (and the key, if any, now replays this answer).
    Written,
    /// Nothing was written: another request took the key over meanwhile (this one's process
    /// looked gone), and its answer is the one that counts.
    ClaimLost,
}

/// A response to remember for a key.
pub struct KeyedResponse<'a> {
    /// The key.
    pub key: &'a str,
    /// The order id the key was claimed with: the answer is only recorded while the claim
    /// still holds it.
    pub order_id: Uuid,
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: &'a Value,
}

/// An order waiting for its stock to be confirmed or returned.
#[derive(Debug, Clone)]
pub struct StockTask {
    /// The order.
    pub order: Order,
    /// What is pending.
    pub stock: StockState,
}

/// Orders in Postgres.
pub struct OrderStore {
    pool: Pool,
}

const ORDER_COLUMNS: &str = "id, item_id, quantity, status, unit_price_cents, total_cents, currency, reason, created_at, updated_at, stock";

fn order_from_row(row: &Row) -> Result<Order, DbError> {
    let status: String = row.get("status");
    Ok(Order {
        id: row.get("id"),
        item_id: ItemId::parse(row.get("item_id"))
            .map_err(|e| anyhow::anyhow!("stored order has a bad item id: {e}"))?,
        quantity: u64::from(row.get::<_, i32>("quantity").unsigned_abs()),
        status: OrderStatus::parse(&status)
            .ok_or_else(|| anyhow::anyhow!("unknown order status {status:?}"))?,
        unit_price_cents: row.get::<_, i64>("unit_price_cents").unsigned_abs(),
        total_cents: row.get::<_, i64>("total_cents").unsigned_abs(),
        currency: row.get("currency"),
        reason: row.get("reason"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

/// Why an in-flight claim (a row of `idempotency_keys`, locked) may be taken over, if it may:
/// its owner's incarnation lock is free (the process is gone), or it is older than the stale
/// limit.
async fn abandoned(tx: &Transaction<'_>, claim: &Row) -> Result<Option<&'static str>, DbError> {
    if let Some(owner) = claim.get::<_, Option<i64>>("owner") {
        // Taken only if nobody holds it; released with this transaction.
        let gone: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&owner])
            .await?
            .get(0);
        if gone {
            return Ok(Some("owner_gone"));
        }
    }
    Ok(claim.get::<_, bool>("stale").then_some("stale"))
}

/// The event announcing an order's current state: `order_created` for a confirmed order,
/// `order_rejected` and `order_cancelled` for the others.
pub fn order_event(order: &Order) -> EventEnvelope {
    let snapshot = OrderSnapshot {
        order_id: order.id,
        item_id: order.item_id.clone(),
        quantity: order.quantity,
        status: order.status,
        unit_price_cents: order.unit_price_cents,
        total_cents: order.total_cents,
        currency: order.currency.clone(),
        reason: order.reason.clone(),
        created_at: order.created_at,
    };
    let event = match order.status {
        OrderStatus::Confirmed => Event::OrderCreated(snapshot),
        OrderStatus::Rejected => Event::OrderRejected(snapshot),
        OrderStatus::Cancelled => Event::OrderCancelled(snapshot),
    };
    EventEnvelope::new(&event, crate::SERVICE, order.updated_at)
}

/// Records the answer for a key, if this request still holds its claim (it is the fence that
/// keeps a request whose claim was taken over from writing a second order for one key).
async fn finish_key(
    tx: &Transaction<'_>,
    keyed: Option<KeyedResponse<'_>>,
) -> Result<Finished, DbError> {
    let Some(k) = keyed else {
        return Ok(Finished::Written);
    };
    let updated = tx
        .execute(
            "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_body = $4 \
             WHERE key = $1 AND order_id = $2 AND state = 'in_flight'",
            &[
                &k.key,
                &k.order_id,
                &i16::try_from(k.status).unwrap_or(500),
                k.body,
            ],
        )
        .await?;
    Ok(if updated == 1 {
        Finished::Written
    } else {
        Finished::ClaimLost
    })
}

impl OrderStore {
    /// A store over `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// The pool, for readiness checks.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Writes a new order (confirmed or rejected), its event, and the keyed response, in one
    /// transaction; nothing at all when the key's claim was lost.
    pub async fn insert(
        &self,
        order: &Order,
        stock: StockState,
        keyed: Option<KeyedResponse<'_>>,
    ) -> Result<Finished, DbError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let quantity = i32::try_from(order.quantity).map_err(anyhow::Error::from)?;
        tx.execute(
            "INSERT INTO orders (id, item_id, quantity, status, unit_price_cents, total_cents, currency, reason, created_at, updated_at, stock) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &order.id,
                &order.item_id.as_str(),
                &quantity,
                &order.status.as_str(),
                &(order.unit_price_cents as i64),
                &(order.total_cents as i64),
                &order.currency,
                &order.reason,
                &order.created_at,
                &order.updated_at,
                &stock.as_str(),
            ],
        )
        .await?;
        outbox::enqueue(&tx, &order_event(order)).await?;
        if finish_key(&tx, keyed).await? == Finished::ClaimLost {
            tx.rollback().await?;
            return Ok(Finished::ClaimLost);
        }
        tx.commit().await?;
        Ok(Finished::Written)
    }

    /// One order.
    pub async fn get(&self, id: Uuid) -> Result<Option<Order>, DbError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"),
                &[&id],
            )
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    /// Up to `limit` orders older than `before`, newest first, and whether more follow.
    pub async fn list(
        &self,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<(Vec<Order>, bool), DbError> {
        let client = self.pool.get().await?;
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows = client
            .query(
                &format!(
                    "SELECT {ORDER_COLUMNS} FROM orders WHERE $1::uuid IS NULL OR id < $1 \
                     ORDER BY id DESC LIMIT $2"
                ),
                &[&before, &fetch],
            )
            .await?;
        let more = rows.len() > limit;
        let orders = rows
            .iter()
            .take(limit)
            .map(order_from_row)
            .collect::<Result<_, _>>()?;
        Ok((orders, more))
    }

    /// Marks where an order's units stand.
    pub async fn set_stock(&self, id: Uuid, stock: StockState) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE orders SET stock = $2 WHERE id = $1",
                &[&id, &stock.as_str()],
            )
            .await?;
        Ok(())
    }

    /// Cancels a confirmed order: status `cancelled`, its units pending return, and the
    /// `order_cancelled` event, in one transaction. `Err(status)` when the order is not
    /// confirmed; `Ok(None)` when there is no such order.
    pub async fn cancel(
        &self,
        id: Uuid,
        reason: &str,
    ) -> Result<Option<Result<Order, OrderStatus>>, DbError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 FOR UPDATE"),
                &[&id],
            )
            .await?
        else {
            return Ok(None);
        };
        let mut order = order_from_row(&row)?;
        if order.status != OrderStatus::Confirmed {
            return Ok(Some(Err(order.status)));
        }
        order.status = OrderStatus::Cancelled;
        order.reason = Some(reason.to_owned());
        order.updated_at = platform::event::now_micros();
        tx.execute(
            "UPDATE orders SET status = 'cancelled', reason = $2, stock = 'pending_return', updated_at = $3 WHERE id = $1",
            &[&id, &reason, &order.updated_at],
        )
        .await?;
        outbox::enqueue(&tx, &order_event(&order)).await?;
        tx.commit().await?;
        Ok(Some(Ok(order)))
    }

    /// Claims an `Idempotency-Key` for a request with `fingerprint`, by the process incarnation
    /// `owner`; `order_id` is the id this request would use. A key still in flight is taken over
    /// with the new id when its owner's incarnation is gone (see [`crate::incarnation`]), or
    /// when it has been in flight longer than `stale_after` (a claim without an owner, or a
    /// request stuck in a live process).
    pub async fn claim_key(
        &self,
        key: &str,
        fingerprint: &str,
        order_id: Uuid,
        owner: i64,
        stale_after: Duration,
    ) -> Result<KeyClaim, DbError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO idempotency_keys (key, fingerprint, order_id, state, locked_at, owner) \
                 VALUES ($1, $2, $3, 'in_flight', now(), $4) ON CONFLICT (key) DO NOTHING",
                &[&key, &fingerprint, &order_id, &owner],
            )
            .await?;
        if inserted == 1 {
            tx.commit().await?;
            return Ok(KeyClaim::Owned {
                order_id,
                previous: None,
            });
        }
        let row = tx
            .query_one(
                "SELECT fingerprint, order_id, state, response_status, response_body, owner, \
                 now() - locked_at > make_interval(secs => $2) AS stale \
                 FROM idempotency_keys WHERE key = $1 FOR UPDATE",
                &[&key, &stale_after.as_secs_f64()],
            )
            .await?;
        let claim = if row.get::<_, String>("fingerprint") != fingerprint {
            KeyClaim::Mismatch
        } else if row.get::<_, String>("state") == "done" {
            KeyClaim::Done {
                status: u16::try_from(row.get::<_, i16>("response_status")).unwrap_or(500),
                body: row.get("response_body"),
                order_id: row.get("order_id"),
            }
        } else if let Some(reason) = abandoned(&tx, &row).await? {
            metrics::counter!("order_idempotency_takeovers_total", "reason" => reason).increment(1);
            tx.execute(
                "UPDATE idempotency_keys SET order_id = $2, owner = $3, locked_at = now() WHERE key = $1",
                &[&key, &order_id, &owner],
            )
            .await?;
            KeyClaim::Owned {
                order_id,
                previous: Some(row.get("order_id")),
            }
        } else {
            KeyClaim::InFlight
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Remembers a final answer that wrote no order (e.g. 404, 422), if the claim still holds.
    pub async fn complete_key(&self, keyed: KeyedResponse<'_>) -> Result<Finished, DbError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let finished = finish_key(&tx, Some(keyed)).await?;
        tx.commit().await?;
        Ok(finished)
    }

    /// Forgets a key whose request (claimed with `order_id`) failed for a passing reason, so a
    /// retry starts afresh; a claim taken over meanwhile is left to its new owner. The failure
    /// was often Postgres' (a connection terminated, a restart), so it is tried a few times on
    /// fresh connections: a key left claimed by a live process would make its retries wait for
    /// `IDEMPOTENCY_STALE_AFTER`.
    pub async fn release_key(&self, key: &str, order_id: Uuid) -> Result<(), DbError> {
        let release = || async {
            let client = self.pool.get().await?;
            client
                .execute(
                    "DELETE FROM idempotency_keys WHERE key = $1 AND order_id = $2 AND state = 'in_flight'",
                    &[&key, &order_id],
                )
                .await?;
            Ok::<_, DbError>(())
        };
        release
            .retry(
                backon::ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(50))
                    .with_max_delay(Duration::from_secs(1))
                    .with_max_times(6),
            )
            .when(|e| matches!(e, DbError::Unavailable(_)))
            .await
    }

    /// Takes up to `limit` orders whose units still have to be confirmed or returned and that
    /// nobody touched for `grace`, runs `work` on each inside one transaction that keeps them
    /// locked (`FOR UPDATE SKIP LOCKED`: replicas share the work), and records what `work`
    /// decided.
    pub async fn sync_stock<F, Fut>(
        &self,
        grace: Duration,
        limit: i64,
        mut work: F,
    ) -> Result<usize, DbError>
    where
        F: FnMut(StockTask) -> Fut,
        Fut: std::future::Future<Output = Option<StockOutcome>>,
    {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {ORDER_COLUMNS} FROM orders \
                     WHERE stock IN ('pending_confirm', 'pending_return') \
                     AND updated_at < now() - make_interval(secs => $1) \
                     ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED"
                ),
                &[&grace.as_secs_f64(), &limit],
            )
            .await?;
        let mut done = 0;
        for row in &rows {
            let order = order_from_row(row)?;
            let stock_text: String = row.get("stock");
            let stock = StockState::parse(&stock_text)
                .ok_or_else(|| anyhow::anyhow!("unknown stock state {stock_text:?}"))?;
            let id = order.id;
            match work(StockTask { order, stock }).await {
                Some(StockOutcome::Settled(state)) => {
                    tx.execute(
                        "UPDATE orders SET stock = $2 WHERE id = $1",
                        &[&id, &state.as_str()],
                    )
                    .await?;
                    done += 1;
                }
                Some(StockOutcome::Lapsed(reason)) => {
                    let now = platform::event::now_micros();
                    let row = tx
                        .query_one(
                            &format!(
                                "UPDATE orders SET status = 'cancelled', reason = $2, stock = 'returned', updated_at = $3 \
                                 WHERE id = $1 RETURNING {ORDER_COLUMNS}"
                            ),
                            &[&id, &reason, &now],
                        )
                        .await?;
                    let cancelled = order_from_row(&row)?;
                    outbox::enqueue(&tx, &order_event(&cancelled)).await?;
                    done += 1;
                }
                None => {}
            }
        }
        tx.commit().await?;
        Ok(done)
    }
}

/// What the stock sync decided for one order.
#[derive(Debug, Clone)]
pub enum StockOutcome {
    /// Its units now stand here.
    Settled(StockState),
    /// Its hold ran out before it could be confirmed: the order is cancelled (its units are
    /// already back on sale) with this reason.
    Lapsed(String),
}
