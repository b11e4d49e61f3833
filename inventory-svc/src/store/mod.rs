//! `StockStore`: the only code that knows Redis key names and calls the Lua scripts.
//!
//! # Keys
//!
//! Every key of one item carries the item id as its hash tag (`{id}`), so the scripts, which
//! touch only one item's keys, run on Redis Cluster:
//!
//! | key | type | what |
//! |---|---|---|
//! | `<prefix>item:{id}` | hash | name, stock, held, sold, provisioned, threshold, low_armed, version |
//! | `<prefix>item:{id}:holds` | hash | reservation id → `<state>:<quantity>` |
//! | `<prefix>item:{id}:expiry` | zset | live holds by deadline (ms) |
//! | `<prefix>item:{id}:done` | zset | final reservation records by when they closed (ms) |
//! | `<prefix>item:{id}:outbox` | stream | events decided by the scripts, until published |
//! | `<prefix>items` | zset | the catalog index (score 0, ordered by id) for listing |
//!
//! The index is the one key outside an item's slot, so it is never written inside a script: it is
//! added to *before* an item is created and removed from *after* it is deleted, and listing skips
//! index entries whose item is gone. A crash in between leaves at worst a stale index entry.
//!
//! # Layout
//!
//! - this file: the store, its settings, the keys of an item and how an item script is run;
//! - `items`: create, update, delete, get and list items, and their ledgers;
//! - `holds`: one line's reserve, confirm, release and cancel, and hold expiry;
//! - `outbox`: the outbox streams and the signal that wakes the relay;
//! - `scripts`: the embedded Lua scripts.

mod holds;
mod items;
mod outbox;
mod scripts;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use platform::Backend;
use platform::redis::LuaScript as Script;
use platform::redis::Pool;
use uuid::Uuid;

pub use holds::{HoldState, LineOutcome};
pub use items::{ItemPatch, StoredLedger};
pub use outbox::{OutboxBacklog, OutboxSignal};
/// Why a store call failed: platform's [`BackendError`](platform::BackendError), naming Redis.
pub use platform::BackendError as StoreError;
pub use scripts::RESERVE_SOURCE;
use scripts::Scripts;

use crate::domain::{ItemId, StockLevel, Threshold};

/// The item's keys, all with the same hash tag.
struct ItemKeys {
    item: String,
    holds: String,
    expiry: String,
    done: String,
    outbox: String,
}

/// Settings of the store.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Put in front of every key.
    pub key_prefix: String,
    /// How long final reservation records are kept for idempotent retries and cancellation.
    pub record_retention: Duration,
    /// When set, reserving an unknown item first creates it with this stock (seed 001).
    pub default_stock: Option<StockLevel>,
    /// The threshold of items created without one.
    pub default_threshold: Threshold,
    /// How long one Redis call may take before it counts as failed.
    pub command_timeout: Duration,
}

/// Items, stock and reservations in Redis.
pub struct StockStore {
    pool: Pool,
    settings: StoreSettings,
    scripts: Scripts,
    signal: Option<OutboxSignal>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl StockStore {
    /// A store over `pool`; `signal` (if any) hears of every outbox write.
    pub fn new(pool: Pool, settings: StoreSettings, signal: Option<OutboxSignal>) -> Self {
        Self {
            pool,
            settings,
            scripts: Scripts::default(),
            signal,
        }
    }

    /// The threshold of items created without one.
    pub fn default_threshold(&self) -> Threshold {
        self.settings.default_threshold
    }

    /// The pool, for readiness checks.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// An item's state hash; every other key of the item extends it, keeping its hash tag.
    fn item_key(&self, id: &str) -> String {
        format!("{}item:{{{id}}}", self.settings.key_prefix)
    }

    fn keys(&self, id: &ItemId) -> ItemKeys {
        let item = self.item_key(id.as_str());
        ItemKeys {
            holds: format!("{item}:holds"),
            expiry: format!("{item}:expiry"),
            done: format!("{item}:done"),
            outbox: format!("{item}:outbox"),
            item,
        }
    }

    fn index_key(&self) -> String {
        format!("{}items", self.settings.key_prefix)
    }

    async fn with_timeout<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.settings.command_timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::unavailable(
                    Backend::Redis,
                    format!("no answer within {:?}", self.settings.command_timeout),
                ))
            })
    }

    /// Runs an item script with the shared keys and leading arguments, then `extra` arguments.
    /// Returns the reply after its leading "events emitted" count, telling the relay if any.
    async fn run_item_script(
        &self,
        script: &Script,
        id: &ItemId,
        extra: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let keys = self.keys(id);
        let key_list = [
            keys.item.clone(),
            keys.holds.clone(),
            keys.expiry.clone(),
            keys.done.clone(),
            keys.outbox.clone(),
        ];
        let mut args = vec![
            id.as_str().to_owned(),
            now_ms().to_string(),
            duration_ms(self.settings.record_retention).to_string(),
            Uuid::now_v7().to_string(),
            Uuid::now_v7().to_string(),
        ];
        args.extend(extra.iter().cloned());
        // With REDIS_WAIT_REPLICAS a change is not acknowledged until replicas have it; the
        // change stands on the primary either way, and the caller retries (every script call is
        // idempotent by its reservation id or absolute values) or gives the hold back.
        let mut reply: Vec<String> = self
            .with_timeout(async {
                let mut conn = self.pool.get().await?;
                Ok(conn.run_script(script, &key_list, &args).await?)
            })
            .await?;
        if reply.len() < 2 {
            return Err(anyhow::anyhow!("script reply too short: {reply:?}").into());
        }
        let emitted: u32 = reply[0].parse().context("script reply: events emitted")?;
        if emitted > 0
            && let Some(signal) = &self.signal
        {
            signal.notify(&keys.outbox);
        }
        reply.remove(0);
        Ok(reply)
    }
}
