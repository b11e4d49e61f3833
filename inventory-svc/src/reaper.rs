//! `HoldReaper`: gives back the stock of holds past their deadline, for items nobody touches.
//!
//! Every script that touches an item first gives back that item's expired holds, so reserving
//! never waits for the reaper; the reaper makes sure stock read from an idle item is also right
//! within one interval. It walks the catalog index in pages, asks (in one pipeline per page)
//! which items have a due hold, and runs `expire.lua` only for those. Several replicas may reap
//! at once: the script is idempotent.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::store::StockStore;

/// Items looked at per pipeline round.
const PAGE: usize = 500;

/// The reaper task.
pub struct HoldReaper {
    store: Arc<StockStore>,
    interval: Duration,
}

impl HoldReaper {
    /// A reaper that runs every `interval`.
    pub fn new(store: Arc<StockStore>, interval: Duration) -> Self {
        Self { store, interval }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        platform::run::every(self.interval, &shutdown, || async {
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "hold reaper pass failed; will retry");
            }
        })
        .await;
    }

    async fn pass(&self) -> Result<(), crate::store::StoreError> {
        let mut after: Option<String> = None;
        loop {
            let ids = self.store.index_page(after.as_deref(), PAGE).await?;
            let Some(last) = ids.last().cloned() else {
                return Ok(());
            };
            for id in self.store.with_due_holds(&ids).await? {
                let expired = self.store.expire_due(&id).await?;
                metrics::counter!("inventory_holds_reaped_total").increment(expired);
            }
            if ids.len() < PAGE {
                return Ok(());
            }
            after = Some(last);
        }
    }
}
