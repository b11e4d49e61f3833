//! `StockSync`: finishes what a request could not, so no order's units are left in between.
//!
//! Every `STOCK_SYNC_INTERVAL` it takes orders whose units are `pending_confirm` (written as
//! confirmed, but the confirm call to inventory failed) or `pending_return` (cancelled, but the
//! units did not go back yet) and retries the inventory call. A hold that ran out before it
//! could be confirmed cancels the order (its units are already back on sale), with an
//! `order_cancelled` event.
//!
//! No transaction is open while it calls inventory: a round leases its orders in one short
//! statement (`FOR UPDATE SKIP LOCKED`, so replicas share the work), calls with nothing held in
//! Postgres, and records each outcome only where the order is still as it was leased (see
//! [`crate::store::OrderStore::sync_stock`] and
//! `docs/decisions/0017-stock-sync-without-a-transaction-across-http-calls.md`). A cancel never
//! waits for a round, and a replica that dies mid-round leaves leases that run out.

use std::{sync::Arc, time::Duration};

use platform::reservation::Action;
use tokio_util::sync::CancellationToken;

use crate::{
    checkout::{Checkout, return_stock},
    clients::{self, Settlement},
    config::DependencyConfig,
    store::{StockLease, StockOutcome, StockState},
};

/// How long an order is left to its own request before the sync steps in.
const GRACE: Duration = Duration::from_secs(2);
/// Orders handled per round.
const BATCH: i64 = 50;

/// The lease a round takes on its orders, from inventory's call settings.
///
/// One order costs at most two calls (a return that finds the hold still held cancels, then
/// releases), each bounded by [`clients::longest_call`] (every attempt to its timeout, plus the
/// backoff between them). The lease is twice that: the round starts an order's calls only while
/// at least that much of its lease is left, so an order is never called for after its lease may
/// have run out, and a batch of quick calls is never cut short. With the defaults
/// (`DEPENDENCY_TIMEOUT` 2 s, `DEPENDENCY_RETRIES` 2) that is about 30 s: how long the orders of
/// a replica that died mid-round wait before another replica takes them.
pub fn lease_for(inventory: &DependencyConfig) -> StockLease {
    let per_order = clients::longest_call(inventory).saturating_mul(2);
    StockLease {
        length: per_order.saturating_mul(2),
        per_order,
    }
}

/// The sync task.
pub struct StockSync {
    checkout: Arc<Checkout>,
    interval: Duration,
    lease: StockLease,
}

impl StockSync {
    /// A sync running every `interval`, leasing its orders with `lease` (see [`lease_for`]).
    pub fn new(checkout: Arc<Checkout>, interval: Duration, lease: StockLease) -> Self {
        Self {
            checkout,
            interval,
            lease,
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        platform::run::every(self.interval, &shutdown, || async {
            let inventory = &self.checkout.inventory;
            let round = self
                .checkout
                .store
                .sync_stock(GRACE, BATCH, self.lease, |task| async move {
                    let request_id = format!("stock-sync-{}", task.order.id);
                    match task.stock {
                        StockState::PendingConfirm => {
                            let item = &task.order.item_id;
                            let quantity = platform::contract::Quantity::new(task.order.quantity)?;
                            match inventory
                                .settle(Action::Confirm, task.order.id, item, quantity, &request_id)
                                .await
                            {
                                Ok(Settlement::Done) => {
                                    Some(StockOutcome::Settled(StockState::Committed))
                                }
                                Ok(Settlement::WrongState(state)) => {
                                    Some(StockOutcome::Lapsed(format!(
                                        "the stock hold was {} before the order could be confirmed",
                                        state.as_str()
                                    )))
                                }
                                Ok(Settlement::Mismatch(detail)) => {
                                    Some(StockOutcome::Lapsed(detail))
                                }
                                Ok(Settlement::Unknown) => Some(StockOutcome::Lapsed(
                                    "inventory has no hold for this order".to_owned(),
                                )),
                                Err(_) => None,
                            }
                        }
                        StockState::PendingReturn => {
                            return_stock(inventory, &task.order, &request_id)
                                .await
                                .map(StockOutcome::Settled)
                        }
                        _ => None,
                    }
                })
                .await;
            match round {
                Ok(0) => {}
                Ok(n) => {
                    metrics::counter!("order_stock_synced_total").increment(n as u64);
                    self.checkout.relay_waker.notify_one();
                }
                Err(e) => tracing::warn!(error = %e, "stock sync round failed; will retry"),
            }
        })
        .await;
    }
}
