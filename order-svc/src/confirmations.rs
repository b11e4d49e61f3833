//! Confirming holds and the `committed` mark, off the request path and in batches
//! (docs/decisions/0019-orders-answer-before-their-holds-are-confirmed.md).
//!
//! Once an order is written `confirmed` (its units held at inventory, `stock =
//! 'pending_confirm'`), the request answers at once and hands the order to [`Confirmations`].
//! The [`Confirmer`] worker takes every order it has at that moment, confirms their holds with
//! one `POST /reservations/confirm`, and marks those inventory confirmed with one fenced `UPDATE`
//! (`OrderStore::mark_committed`: only orders still `pending_confirm`, so a cancel that came in
//! between keeps its pending return). Under load one call, one statement and one commit serve
//! many orders, instead of a confirm call and an autocommit per order inside the request.
//!
//! Nothing is lost if a confirm fails or the process dies with orders in hand: they stay
//! `pending_confirm`, and the stock sync takes them after its grace, confirms again (a confirmed
//! hold confirms as done) and marks them, or cancels an order whose hold ran out
//! (`stock_sync`). That is the path a failed confirm took before, inside the request.

use std::{sync::Arc, time::Duration};

use platform::reservation::Action;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    checkout::Checkout,
    clients::{Settlement, ToSettle},
};

/// The most orders one confirm call and one mark carry: as many as inventory takes at once.
const BATCH: usize = platform::reservation::MAX_BATCH;

/// How long the confirmer waits after the first order of a batch for more, as the relays do
/// after a wake-up (docs/decisions/0029-the-confirmer-gathers-a-few-milliseconds-of-orders.md):
/// the answer has gone already, so nothing waits for it but the order's `committed` mark.
const GATHER: Duration = platform::outbox::GATHER;

/// The most bytes one order adds to a confirm call's body: its entry with a UUID reservation id
/// and one line with the longest item id (64) and quantity (20 digits), and a comma.
const ENTRY_BYTES: usize = 180;
const _: () = assert!(
    BATCH * ENTRY_BYTES < platform::http::MAX_JSON_BODY,
    "a full confirm batch must fit inventory's body limit"
);

/// Where requests hand the orders they wrote with their units held.
#[derive(Clone)]
pub struct Confirmations(mpsc::UnboundedSender<ToSettle>);

/// The receiving end, until the checkout it works with exists.
pub struct Pending(mpsc::UnboundedReceiver<ToSettle>);

/// The worker that confirms them.
pub struct Confirmer {
    orders: mpsc::UnboundedReceiver<ToSettle>,
    checkout: Arc<Checkout>,
}

/// A pair: the requests' end and the worker's (see [`Pending::worker`]).
pub fn channel() -> (Confirmations, Pending) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Confirmations(tx), Pending(rx))
}

impl Pending {
    /// The worker, confirming through `checkout`'s inventory client and store.
    pub fn worker(self, checkout: Arc<Checkout>) -> Confirmer {
        Confirmer {
            orders: self.0,
            checkout,
        }
    }
}

impl Confirmations {
    /// Hands over an order written with its units held.
    pub fn written(&self, order: ToSettle) {
        if let Err(e) = self.0.send(order) {
            tracing::info!(order_id = %e.0.order, "the confirmer has stopped; the stock sync will confirm this order");
        }
    }
}

impl Confirmer {
    /// Confirms what it is handed until `shutdown`, then what is left (the HTTP server has
    /// stopped by then, so nothing more comes).
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                received = self.orders.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        break;
                    }
                    self.gather(&mut batch, &shutdown).await;
                }
                () = shutdown.cancelled() => {
                    self.orders.close();
                    while self.orders.recv_many(&mut batch, BATCH).await > 0 {
                        self.confirm(&mut batch).await;
                    }
                    break;
                }
            }
            self.confirm(&mut batch).await;
        }
    }

    /// Waits [`GATHER`] (unless `batch` is full or the service is stopping) and adds what came
    /// in meanwhile, so the orders of those milliseconds share one confirm call and one mark.
    async fn gather(&mut self, batch: &mut Vec<ToSettle>, shutdown: &CancellationToken) {
        if batch.len() >= BATCH {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(GATHER) => {}
            () = shutdown.cancelled() => {}
        }
        while batch.len() < BATCH {
            match self.orders.try_recv() {
                Ok(order) => batch.push(order),
                Err(_) => break,
            }
        }
    }

    async fn confirm(&self, batch: &mut Vec<ToSettle>) {
        if batch.is_empty() {
            return;
        }
        metrics::histogram!("order_confirm_batch_size").record(batch.len() as f64);
        let request_id = format!("confirm-{}", batch[0].order);
        let outcomes = self
            .checkout
            .inventory
            .settle_batch(Action::Confirm, batch, &request_id)
            .await;
        let mut confirmed = Vec::with_capacity(batch.len());
        match outcomes {
            Ok(outcomes) => {
                for (order, outcome) in batch.iter().zip(outcomes) {
                    match outcome {
                        Ok(Settlement::Done) => confirmed.push(order.order),
                        other => {
                            tracing::warn!(order_id = %order.order, outcome = ?other, "reservation not confirmed yet; the stock sync will retry");
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, orders = batch.len(), "cannot confirm reservations now; the stock sync will retry");
            }
        }
        batch.clear();
        if confirmed.is_empty() {
            return;
        }
        confirmed.sort_unstable();
        match self.checkout.store.mark_committed(&confirmed).await {
            Ok(marked) if (marked as usize) < confirmed.len() => {
                tracing::debug!(
                    marked,
                    confirmed = confirmed.len(),
                    "some orders moved on before their mark (a cancel, or the stock sync)"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, orders = confirmed.len(), "cannot mark confirmed orders; the stock sync will");
            }
        }
    }
}
