//! The `committed` mark, off the request path and in batches.
//!
//! Once inventory confirmed an order's hold, the request answers at once and hands the order's
//! id to [`CommitMarks`]; the [`CommitMarker`] worker marks every id it has at that moment with
//! one fenced `UPDATE` (`OrderStore::mark_committed`: only orders still `pending_confirm`, so a
//! cancel that came in between keeps its pending return). Under load one statement and one
//! commit mark many orders, instead of one autocommit per order in the request.
//!
//! Nothing is lost if the process dies with ids in hand: those orders stay `pending_confirm`,
//! and the stock sync takes them after its grace, confirms again (a confirmed hold confirms as
//! done) and marks them (`stock_sync`).

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::OrderStore;

/// The most ids one statement marks.
const BATCH: usize = 1000;

/// Where requests hand the orders whose holds inventory confirmed.
#[derive(Clone)]
pub struct CommitMarks(mpsc::UnboundedSender<Uuid>);

/// The worker that marks them.
pub struct CommitMarker {
    ids: mpsc::UnboundedReceiver<Uuid>,
    store: OrderStore,
}

/// A pair: the requests' end and the worker's.
pub fn channel(store: OrderStore) -> (CommitMarks, CommitMarker) {
    let (tx, rx) = mpsc::unbounded_channel();
    (CommitMarks(tx), CommitMarker { ids: rx, store })
}

impl CommitMarks {
    /// Hands over an order whose hold inventory confirmed.
    pub fn confirmed(&self, order_id: Uuid) {
        if self.0.send(order_id).is_err() {
            tracing::info!(%order_id, "the commit marker has stopped; the stock sync will mark this order");
        }
    }
}

impl CommitMarker {
    /// Marks what it is handed until `shutdown`, then what is left (the HTTP server has stopped
    /// by then, so nothing more comes).
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                received = self.ids.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        break;
                    }
                }
                () = shutdown.cancelled() => {
                    self.ids.close();
                    while self.ids.recv_many(&mut batch, BATCH).await > 0 {
                        self.mark(&mut batch).await;
                    }
                    break;
                }
            }
            self.mark(&mut batch).await;
        }
    }

    async fn mark(&self, batch: &mut Vec<Uuid>) {
        if batch.is_empty() {
            return;
        }
        batch.sort_unstable();
        metrics::histogram!("order_commit_mark_batch_size").record(batch.len() as f64);
        match self.store.mark_committed(batch).await {
            Ok(marked) => {
                if (marked as usize) < batch.len() {
                    tracing::debug!(
                        marked,
                        handed = batch.len(),
                        "some orders moved on before their mark (a cancel, or the stock sync)"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, orders = batch.len(), "cannot mark confirmed orders; the stock sync will");
            }
        }
        batch.clear();
    }
}
