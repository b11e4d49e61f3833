//! `OrderStore`: orders, idempotency keys and the outbox in Postgres: every SQL statement of
//! order-svc. Every write that changes an order also writes the event announcing it (and, for a
//! keyed request, the response to replay) in the same transaction.
//!
//! # Layout
//!
//! - here: [`OrderStore`], orders (insert, get, list, cancel, their `stock` column) and the row
//!   mapping;
//! - `idempotency`: claiming, finishing and releasing `Idempotency-Key`s ([`KeyClaim`],
//!   [`KeyedAnswer`], [`Finished`]), and forgetting them after their retention
//!   ([`key_retention`]);
//! - `stock_sync`: the SQL of the stock sync: lease, record, release ([`StockLease`],
//!   [`StockTask`], [`StockOutcome`]).

mod idempotency;
mod stock_sync;

use deadpool_postgres::Pool;
use platform::{
    event::{Event, EventEnvelope, OrderSnapshot},
    outbox,
    postgres::DbError,
};
use tokio_postgres::{Row, types::Type};
use uuid::Uuid;

use self::idempotency::{FINISH_KEYS, stored_status};
pub use self::{
    idempotency::{Finished, KeyClaim, KeyedAnswer, key_retention},
    stock_sync::{StockLease, StockOutcome, StockTask},
};
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

/// Orders in Postgres.
#[derive(Clone)]
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

/// A new order to write: confirmed (its units held) or rejected, and for a keyed request the
/// answer its key replays.
#[derive(Debug)]
pub struct NewOrder {
    /// The order.
    pub order: Order,
    /// Where its units stand.
    pub stock: StockState,
    /// The request's key, claimed with the order's id, and the answer to record for it.
    pub keyed: Option<KeyedAnswer>,
}

/// New orders, their outbox rows and their keyed answers, as one statement over arrays (one
/// element per order, `$1`–`$19`). The keys' fence ([`FINISH_KEYS`]) runs first; an order is
/// inserted only when it has no key or its fence matched, and its outbox row only with it; the
/// ids of the orders written come back. One statement is one transaction: all or nothing, in
/// one round trip, however many orders it carries.
static INSERT_ORDERS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH input AS ( \
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::int2[], $4::jsonb[], $5::text[], \
             $6::int4[], $7::text[], $8::int8[], $9::int8[], $10::text[], $11::text[], \
             $12::timestamptz[], $13::timestamptz[], $14::text[], $15::uuid[], $16::text[], \
             $17::timestamptz[], $18::text[], $19::jsonb[]) WITH ORDINALITY \
           AS i(key, id, response_status, response_body, item_id, quantity, status, \
             unit_price_cents, total_cents, currency, reason, created_at, updated_at, stock, \
             event_id, kind, occurred_at, source, data, n)), \
         fence AS ({FINISH_KEYS}), \
         written AS ( \
           INSERT INTO orders ({ORDER_COLUMNS}) \
           SELECT {ORDER_COLUMNS} FROM input \
           WHERE key IS NULL OR id IN (SELECT order_id FROM fence) ORDER BY n \
           RETURNING id), \
         announced AS ( \
           INSERT INTO outbox ({OUTBOX_COLUMNS}) \
           SELECT {OUTBOX_COLUMNS} FROM input WHERE id IN (SELECT id FROM written) ORDER BY n) \
         SELECT id FROM written",
        OUTBOX_COLUMNS = outbox::COLUMNS,
    )
});

/// One column of [`INSERT_ORDERS`]'s input: `f` of each order.
fn column<'a, T>(orders: &'a [NewOrder], f: impl Fn(&'a NewOrder) -> T) -> Vec<T> {
    orders.iter().map(f).collect()
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

    /// Writes new orders, their events and their keyed answers in one statement
    /// ([`INSERT_ORDERS`]), so in one transaction and one round trip; for each order, in order,
    /// whether it was written or its key's claim was lost (then nothing of it was written).
    pub async fn insert_many(&self, orders: &[NewOrder]) -> Result<Vec<Finished>, DbError> {
        let events: Vec<_> = orders.iter().map(|o| order_event(&o.order)).collect();
        let quantities = orders
            .iter()
            .map(|o| i32::try_from(o.order.quantity))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::from)?;
        let keys: Vec<Option<&str>> = column(orders, |o| o.keyed.as_ref().map(|k| k.key.as_str()));
        let ids: Vec<Uuid> = column(orders, |o| o.order.id);
        let statuses: Vec<Option<i16>> = column(orders, |o| {
            o.keyed.as_ref().map(|k| stored_status(k.status))
        });
        let bodies: Vec<Option<&serde_json::Value>> =
            column(orders, |o| o.keyed.as_ref().map(|k| &k.body));
        let items: Vec<&str> = column(orders, |o| o.order.item_id.as_str());
        let order_statuses: Vec<&str> = column(orders, |o| o.order.status.as_str());
        let unit_prices: Vec<i64> = column(orders, |o| o.order.unit_price_cents as i64);
        let totals: Vec<i64> = column(orders, |o| o.order.total_cents as i64);
        let currencies: Vec<&str> = column(orders, |o| o.order.currency.as_str());
        let reasons: Vec<Option<&str>> = column(orders, |o| o.order.reason.as_deref());
        let created: Vec<_> = column(orders, |o| o.order.created_at);
        let updated: Vec<_> = column(orders, |o| o.order.updated_at);
        let stocks: Vec<&str> = column(orders, |o| o.stock.as_str());
        let event_ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let occurred: Vec<_> = events.iter().map(|e| e.occurred_at).collect();
        let sources: Vec<&str> = events.iter().map(|e| e.source.as_str()).collect();
        let data: Vec<&serde_json::Value> = events.iter().map(|e| &e.data).collect();

        let client = self.pool.get().await?;
        let statement = client.prepare_cached(&INSERT_ORDERS).await?;
        let rows = client
            .query(
                &statement,
                &[
                    &keys,
                    &ids,
                    &statuses,
                    &bodies,
                    &items,
                    &quantities,
                    &order_statuses,
                    &unit_prices,
                    &totals,
                    &currencies,
                    &reasons,
                    &created,
                    &updated,
                    &stocks,
                    &event_ids,
                    &kinds,
                    &occurred,
                    &sources,
                    &data,
                ],
            )
            .await?;
        let written: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.get(0)).collect();
        Ok(ids
            .iter()
            .map(|id| {
                if written.contains(id) {
                    Finished::Written
                } else {
                    Finished::ClaimLost
                }
            })
            .collect())
    }

    /// Writes one new order, as [`Self::insert_many`] does.
    pub async fn insert(&self, order: &NewOrder) -> Result<Finished, DbError> {
        let finished = self.insert_many(std::slice::from_ref(order)).await?;
        Ok(finished[0])
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

    /// Marks where an order's units stand, if they still stand at `from`; `false` when the
    /// order moved on meanwhile. The same fence as the stock sync's: a request's late
    /// `committed` must not overwrite the `pending_return` of a cancel made in between (its
    /// units would never go back).
    pub async fn set_stock(
        &self,
        id: Uuid,
        from: StockState,
        to: StockState,
    ) -> Result<bool, DbError> {
        let client = self.pool.get().await?;
        let updated = client
            .execute(
                "UPDATE orders SET stock = $3 WHERE id = $1 AND stock = $2",
                &[&id, &from.as_str(), &to.as_str()],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Marks the orders of `ids` whose stock is still `pending_confirm` as `committed`, in one
    /// statement; returns how many it marked. The same fence as [`Self::set_stock`]: an order
    /// that moved on meanwhile keeps its state.
    ///
    /// Planned afresh each time (the unnamed statement, not [`prepare_cached`]): a cached
    /// generic plan is made once, for the table as it was then, and a service started on an
    /// empty `orders` keeps a sequential scan for it as the table grows, until an `ANALYZE`
    /// invalidates it. One plan per batch of confirmations costs little; a scan of every order
    /// per batch grows without end (docs/benchmarks.md, "A plan made for an empty table").
    /// Sent with its parameters' types (`execute_typed`): parse, bind and execute in one round
    /// trip, where `execute` with a string prepares a named statement first and closes it after.
    ///
    /// The ids are joined from `unnest` rather than matched by `id = ANY($1)`, so the plan is
    /// a primary-key lookup per id. With `ANY`, Postgres ANDed the key's bitmap with one of
    /// `orders_stock_to_sync`, whose predicate this filter implies, and that partial index
    /// holds an entry for every order written since the table was last vacuumed (each starts
    /// `pending_confirm`): a mark of 7 orders read 30,000 entries, 1 ms, and more with every
    /// order (docs/benchmarks.md, "An index read whole for a handful of rows").
    ///
    /// [`prepare_cached`]: deadpool_postgres::Client::prepare_cached
    pub async fn mark_committed(&self, ids: &[Uuid]) -> Result<u64, DbError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute_typed(
                "UPDATE orders o SET stock = $2 FROM unnest($1::uuid[]) AS marked(id) \
                 WHERE o.id = marked.id AND o.stock = $3",
                &[
                    (&ids, Type::UUID_ARRAY),
                    (&StockState::Committed.as_str(), Type::TEXT),
                    (&StockState::PendingConfirm.as_str(), Type::TEXT),
                ],
            )
            .await?)
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
            // The lease a stock sync round may hold is for the state this ends: the round's
            // outcome will not be recorded (it is fenced on the leased state), and the return
            // left pending here is the next round's work at once, not after the lease.
            "UPDATE orders SET status = 'cancelled', reason = $2, stock = 'pending_return', updated_at = $3, \
             stock_lease_until = NULL, stock_lease_owner = NULL WHERE id = $1",
            &[&id, &reason, &order.updated_at],
        )
        .await?;
        outbox::enqueue(&tx, &order_event(&order)).await?;
        tx.commit().await?;
        Ok(Some(Ok(order)))
    }
}
