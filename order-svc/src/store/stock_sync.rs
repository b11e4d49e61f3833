//! The SQL of the stock sync (see [`crate::stock_sync`] and
//! `docs/decisions/0017-stock-sync-without-a-transaction-across-http-calls.md`). A round holds no
//! transaction, lock or connection while it waits for inventory-svc:
//!
//! 1. **lease**: one short statement picks due orders `FOR UPDATE SKIP LOCKED` (so concurrent
//!    replicas pick different ones), marks them leased to this round until `now() + lease`, and
//!    commits;
//! 2. **call**: the caller's `work` runs for each leased order, with nothing open in Postgres;
//! 3. **record**: each outcome is written in its own short statement (a lapsed hold's
//!    cancellation and its `order_cancelled` event in one short transaction), fenced: only
//!    `WHERE stock = <the leased state> AND stock_lease_owner = <this round>`, clearing the lease.
//!
//! Why the fence is enough: the `stock` column never returns to a state it left
//! (`pending_confirm` → `committed`, `returned` or `pending_return`; `pending_return` →
//! `returned`), so an order whose state changed meanwhile (a cancel, the request's own late
//! confirm) was moved on by someone who knew better, and this round's outcome is dropped. The
//! owner check stops a round whose lease ran out and was taken by another round from writing
//! (or releasing) over it. A cancel clears the lease ([`OrderStore::cancel`]), so the return it
//! leaves pending is the next round's work, never stuck behind a lease.
//!
//! Orders whose call gave no answer, or that the round did not reach, are released at the end of
//! the round, so the next round retries them as it always did; a round that dies leaves leases
//! that run out after `lease`, and then any replica takes those orders.

use std::time::{Duration, Instant};

use platform::{outbox, postgres::DbError};
use uuid::Uuid;

use super::{ORDER_COLUMNS, OrderStore, StockState, order_event, order_from_row};
use crate::domain::Order;

/// An order waiting for its stock to be confirmed or returned.
#[derive(Debug, Clone)]
pub struct StockTask {
    /// The order.
    pub order: Order,
    /// What is pending.
    pub stock: StockState,
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

/// How long a round of the stock sync keeps the orders it leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockLease {
    /// How long the orders stay leased to the round: after that another replica may take them.
    pub length: Duration,
    /// The longest one order's calls can take. A round starts no call once less than this is
    /// left of its lease (the orders it did not reach go to the next round), so it never works
    /// on an order whose lease may have run out.
    pub per_order: Duration,
}

/// The statement's fence: the order is still in the leased state and still leased by this round.
const FENCE: &str = "id = $1 AND stock = $2 AND stock_lease_owner = $3";

impl OrderStore {
    /// Leases up to `limit` orders whose units still have to be confirmed or returned, that
    /// nobody touched for `grace` and that no other round holds, runs `work` on each (oldest
    /// first) with no transaction open, and records what `work` decided where the order is
    /// still as it was leased. Returns how many outcomes were recorded.
    pub async fn sync_stock<F, Fut>(
        &self,
        grace: Duration,
        limit: i64,
        lease: StockLease,
        mut work: F,
    ) -> Result<usize, DbError>
    where
        F: FnMut(StockTask) -> Fut,
        Fut: std::future::Future<Output = Option<StockOutcome>>,
    {
        let round = Uuid::now_v7();
        // Taken before the lease is written, so never later than the `now()` the lease is
        // counted from: the orders are this round's at least until `deadline`.
        let deadline = Instant::now() + lease.length;
        let tasks = self.lease_stock(grace, limit, lease.length, round).await?;
        let mut done = 0;
        let mut unfinished = Vec::new();
        let mut queue = tasks.into_iter();
        while let Some(task) = queue.next() {
            if Instant::now() + lease.per_order > deadline {
                tracing::info!(
                    left = queue.len() + 1,
                    "the stock sync's lease is running out; the rest of its batch goes to the next round"
                );
                unfinished.push(task.order.id);
                unfinished.extend(queue.by_ref().map(|t| t.order.id));
                break;
            }
            let (id, leased) = (task.order.id, task.stock);
            let Some(outcome) = work(task).await else {
                unfinished.push(id);
                continue;
            };
            match self.record_stock(id, leased, round, &outcome).await {
                Ok(true) => done += 1,
                Ok(false) => {
                    tracing::info!(order = %id, leased = leased.as_str(), ?outcome,
                        "the order moved on while the stock sync called inventory; its outcome is dropped");
                    unfinished.push(id);
                }
                Err(e) => {
                    // Postgres is likely away: stop calling for outcomes that could not be
                    // recorded either.
                    unfinished.push(id);
                    unfinished.extend(queue.by_ref().map(|t| t.order.id));
                    if let Err(release) = self.release_stock_leases(&unfinished, round).await {
                        tracing::warn!(error = %release, "cannot release the stock sync's leases; they run out by themselves");
                    }
                    return Err(e);
                }
            }
        }
        if !unfinished.is_empty() {
            self.release_stock_leases(&unfinished, round).await?;
        }
        Ok(done)
    }

    /// Step 1: leases the due orders to `round` for `length`, in one statement (its own short
    /// transaction). `SKIP LOCKED` lets concurrent rounds pass over each other's candidates;
    /// one that waited on a row re-checks it after the other's commit and finds it leased.
    async fn lease_stock(
        &self,
        grace: Duration,
        limit: i64,
        length: Duration,
        round: Uuid,
    ) -> Result<Vec<StockTask>, DbError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "UPDATE orders SET stock_lease_until = now() + make_interval(secs => $3), stock_lease_owner = $4 \
                     WHERE id IN (\
                         SELECT id FROM orders \
                         WHERE stock IN ('pending_confirm', 'pending_return') \
                         AND updated_at < now() - make_interval(secs => $1) \
                         AND (stock_lease_until IS NULL OR stock_lease_until <= now()) \
                         ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
                     RETURNING {ORDER_COLUMNS}"
                ),
                &[&grace.as_secs_f64(), &limit, &length.as_secs_f64(), &round],
            )
            .await?;
        let mut tasks = rows
            .iter()
            .map(|row| {
                let order = order_from_row(row)?;
                let stock_text: String = row.get("stock");
                let stock = StockState::parse(&stock_text)
                    .ok_or_else(|| anyhow::anyhow!("unknown stock state {stock_text:?}"))?;
                Ok(StockTask { order, stock })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        // RETURNING keeps no order: oldest first, as they were picked.
        tasks.sort_by_key(|t| t.order.updated_at);
        Ok(tasks)
    }

    /// Step 3: writes one outcome if the order is still `leased` and leased by `round`, clearing
    /// the lease; `false` when the fence kept it out.
    async fn record_stock(
        &self,
        id: Uuid,
        leased: StockState,
        round: Uuid,
        outcome: &StockOutcome,
    ) -> Result<bool, DbError> {
        let mut client = self.pool.get().await?;
        match outcome {
            StockOutcome::Settled(state) => {
                let updated = client
                    .execute(
                        &format!(
                            "UPDATE orders SET stock = $4, stock_lease_until = NULL, stock_lease_owner = NULL \
                             WHERE {FENCE}"
                        ),
                        &[&id, &leased.as_str(), &round, &state.as_str()],
                    )
                    .await?;
                Ok(updated == 1)
            }
            StockOutcome::Lapsed(reason) => {
                let tx = client.transaction().await?;
                let now = platform::event::now_micros();
                let Some(row) = tx
                    .query_opt(
                        &format!(
                            "UPDATE orders SET status = 'cancelled', reason = $4, stock = 'returned', updated_at = $5, \
                             stock_lease_until = NULL, stock_lease_owner = NULL \
                             WHERE {FENCE} RETURNING {ORDER_COLUMNS}"
                        ),
                        &[&id, &leased.as_str(), &round, &reason.as_str(), &now],
                    )
                    .await?
                else {
                    // Nothing written: dropping the transaction rolls it back.
                    return Ok(false);
                };
                let cancelled = order_from_row(&row)?;
                outbox::enqueue(&tx, &order_event(&cancelled)).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    }

    /// Gives back the leases `round` still holds on `ids`, so the next round takes them at once.
    async fn release_stock_leases(&self, ids: &[Uuid], round: Uuid) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE orders SET stock_lease_until = NULL, stock_lease_owner = NULL \
                 WHERE id = ANY($1) AND stock_lease_owner = $2",
                &[&ids, &round],
            )
            .await?;
        Ok(())
    }
}
