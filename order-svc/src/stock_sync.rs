//! `StockSync`: finishes what a request could not, so no order's units are left in between.
//!
//! Every `STOCK_SYNC_INTERVAL` it takes orders whose units are `pending_confirm` (written as
//! confirmed, but the confirm call to inventory failed) or `pending_return` (cancelled, but the
//! units did not go back yet), with `FOR UPDATE SKIP LOCKED` so replicas share the work, and
//! retries the inventory call. A hold that ran out before it could be confirmed cancels the
//! order (its units are already back on sale), with an `order_cancelled` event.

use std::{sync::Arc, time::Duration};

use platform::reservation::Action;
use tokio_util::sync::CancellationToken;

use crate::{
    checkout::{Checkout, return_stock},
    clients::Settlement,
    store::{StockOutcome, StockState},
};

/// How long an order is left to its own request before the sync steps in.
const GRACE: Duration = Duration::from_secs(2);
/// Orders handled per round.
const BATCH: i64 = 50;

/// The sync task.
pub struct StockSync {
    checkout: Arc<Checkout>,
    interval: Duration,
}

impl StockSync {
    /// A sync running every `interval`.
    pub fn new(checkout: Arc<Checkout>, interval: Duration) -> Self {
        Self { checkout, interval }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        platform::run::every(self.interval, &shutdown, || async {
            let inventory = &self.checkout.inventory;
            let round = self
                .checkout
                .store
                .sync_stock(GRACE, BATCH, |task| async move {
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
