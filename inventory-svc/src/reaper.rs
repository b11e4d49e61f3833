//! `HoldReaper`: gives back the stock of holds past their deadline, for items nobody touches.
//!
//! Every script that touches an item first gives back that item's expired holds, so reserving
//! never waits for the reaper; the reaper makes sure stock read from an idle item is also right
//! within one pass. It walks the catalog index in pages, asks (in one pipeline per page) which
//! items have a due hold, and runs `expire.lua` only for those. Several replicas may reap at
//! once: the script is idempotent.
//!
//! It is a backstop: a hold outlives its order attempt only when that attempt died, and a
//! touched item needs no reaper. So a pass looks at no more than `HOLD_REAPER_RATE` items per
//! second (2,000 by default, docs/decisions/0026), and a large catalog costs a small, bounded
//! share of Redis and of this process: a pass over a million items takes about 8 minutes, and
//! an idle item's expired hold is given back within `HOLD_REAPER_INTERVAL` or one such pass,
//! whichever is longer.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use platform::pace::Pace;
use tokio_util::sync::CancellationToken;

use crate::store::StockStore;

/// Items looked at per pipeline round.
const PAGE: usize = 500;

/// The reaper task.
pub struct HoldReaper {
    store: Arc<StockStore>,
    interval: Duration,
    /// Items looked at per second.
    pace: Pace,
}

impl HoldReaper {
    /// A reaper that starts a pass every `interval` (or when the last one ends, if later),
    /// looking at no more than `rate` items per second.
    pub fn new(store: Arc<StockStore>, interval: Duration, rate: NonZeroU32) -> Self {
        Self {
            store,
            interval,
            pace: Pace::new(rate),
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        platform::run::every(self.interval, &shutdown, || async {
            if let Err(e) = self.pass(&shutdown).await {
                tracing::warn!(error = %e, "hold reaper pass failed; will retry");
            }
        })
        .await;
    }

    async fn pass(&self, shutdown: &CancellationToken) -> Result<(), crate::store::StoreError> {
        let mut after: Option<String> = None;
        loop {
            let started = tokio::time::Instant::now();
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
            let rest = self.pace.rest(started, PAGE as u64);
            if !platform::shutdown::sleep(rest, shutdown).await {
                return Ok(());
            }
        }
    }
}
