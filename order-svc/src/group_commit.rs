//! Group commit: the orders that concurrent requests write at the same moment go to Postgres
//! together, as one statement and one commit
//! (docs/decisions/0023-concurrent-orders-are-written-together.md).
//!
//! A request hands its [`NewOrder`] to [`GroupCommit::write`] and waits for its own outcome.
//! The [`Committer`] takes every order waiting when a writer is free (up to [`BATCH`]) and
//! writes them with `OrderStore::insert_many`. At most [`WRITERS`] statements are in flight;
//! while they all are, new orders wait, so the busier the service, the more orders one commit
//! carries, and a lone order waits for nothing. Each order's outcome is its own: written, or
//! its key's claim lost (nothing of it written).
//!
//! A statement that fails as a whole for a passing reason (Postgres away, a broken connection)
//! fails every order in it, as a lone write would have: each request gives its hold back and
//! answers 503. Any other failure may be one order's (a bug, a constraint), so the orders of
//! that batch are written again one by one, and only the order at fault fails.

use std::sync::Arc;

use platform::{
    backend::{Backend, BackendError},
    postgres::DbError,
};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::store::{Finished, NewOrder, OrderStore};

/// The most orders one statement carries.
const BATCH: usize = 64;

/// The most statements in flight at once: enough for a lone order never to wait behind a
/// commit, few enough that under load the orders gather into batches, and well within the
/// pool (`DATABASE_POOL_SIZE`, 16 by default), which the requests' other statements share.
const WRITERS: usize = 4;

/// One order and where its outcome goes.
struct Write {
    order: NewOrder,
    done: oneshot::Sender<Result<Finished, DbError>>,
}

/// Where requests hand the orders they write.
#[derive(Clone)]
pub struct GroupCommit(mpsc::UnboundedSender<Write>);

/// The worker that writes them.
pub struct Committer {
    writes: mpsc::UnboundedReceiver<Write>,
    store: OrderStore,
}

/// A pair: the requests' end and the worker writing to `store`.
pub fn channel(store: OrderStore) -> (GroupCommit, Committer) {
    let (tx, rx) = mpsc::unbounded_channel();
    (GroupCommit(tx), Committer { writes: rx, store })
}

fn stopped() -> DbError {
    BackendError::unavailable(Backend::Postgres, "order-svc is shutting down")
}

impl GroupCommit {
    /// Writes `order` (with others that are written at the same moment) and says whether it
    /// was written.
    pub async fn write(&self, order: NewOrder) -> Result<Finished, DbError> {
        let (done, outcome) = oneshot::channel();
        self.0.send(Write { order, done }).map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

impl Committer {
    /// Writes what it is handed until `shutdown`, then what is left, and waits for the writes
    /// in flight (the HTTP server has stopped by then, so nothing more comes).
    pub async fn run(mut self, shutdown: CancellationToken) {
        let writers = Arc::new(Semaphore::new(WRITERS));
        loop {
            let Ok(writer) = writers.clone().acquire_owned().await else {
                break;
            };
            let mut batch = Vec::with_capacity(BATCH);
            let received = tokio::select! {
                received = self.writes.recv_many(&mut batch, BATCH) => received,
                () = shutdown.cancelled() => {
                    self.writes.close();
                    self.writes.recv_many(&mut batch, BATCH).await
                }
            };
            if received == 0 {
                break;
            }
            let store = self.store.clone();
            tokio::spawn(async move {
                write(&store, batch).await;
                drop(writer);
            });
        }
        // Every writer's permit back: every write in flight has answered.
        let _ = writers.acquire_many(WRITERS as u32).await;
    }
}

/// Writes `batch` in one statement and tells each request its outcome; after a failure that
/// is not a passing one, writes its orders one by one.
async fn write(store: &OrderStore, batch: Vec<Write>) {
    metrics::histogram!("order_write_batch_size").record(batch.len() as f64);
    let (orders, waiting): (Vec<_>, Vec<_>) = batch.into_iter().map(|w| (w.order, w.done)).unzip();
    match store.insert_many(&orders).await {
        Ok(finished) => {
            for (done, finished) in waiting.into_iter().zip(finished) {
                let _ = done.send(Ok(finished));
            }
        }
        Err(BackendError::Unavailable(outage)) => {
            for done in waiting {
                let _ = done.send(Err(BackendError::unavailable(
                    outage.backend,
                    outage.reason.clone(),
                )));
            }
        }
        Err(e) if orders.len() > 1 => {
            tracing::warn!(error = %e, orders = orders.len(), "a batch of orders failed; writing them one by one");
            for (order, done) in orders.iter().zip(waiting) {
                let _ = done.send(store.insert(order).await);
            }
        }
        Err(e) => {
            if let Some(done) = waiting.into_iter().next() {
                let _ = done.send(Err(e));
            }
        }
    }
}
