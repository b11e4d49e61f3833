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

mod scripts;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use platform::event::{Event, EventEnvelope, EventKind};
use platform::redis::Pool;
use platform::redis::{LuaScript as Script, ScriptError};
use redis::AsyncCommands as _;
use tokio::sync::mpsc;
use uuid::Uuid;

pub use scripts::RESERVE_SOURCE;
use scripts::Scripts;

use crate::domain::{Item, ItemId, ItemName, Ledger, Line, ReservationId, StockLevel, Threshold};

/// What waits in the outbox streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    /// Events not yet published.
    pub events: u64,
    /// How long the oldest of them has waited.
    pub oldest_age: Duration,
}

/// An item's counters as stored (see [`StockStore::stored_ledgers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLedger {
    /// Units available now.
    pub stock: i64,
    /// Units held by live reservations.
    pub held: i64,
    /// Units sold (confirmed and not cancelled).
    pub sold: i64,
    /// Units ever put in: initial stock plus restocks, minus write-downs.
    pub provisioned: i64,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer (down, restarting, or too slow): the caller may retry.
    #[error("Redis is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a corrupted key.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || matches!(
                e.kind(),
                redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
            )
        {
            Self::Unavailable(e.to_string())
        } else {
            Self::Unexpected(anyhow::Error::new(e).context("Redis command failed"))
        }
    }
}

impl From<ScriptError> for StoreError {
    fn from(e: ScriptError) -> Self {
        match e {
            ScriptError::Redis(e) => e.into(),
            ScriptError::NotReplicated(e) => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<platform::redis::PoolError> for StoreError {
    fn from(e: platform::redis::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

pub use platform::reservation::HoldState;

/// What a reserve, confirm, release or cancel of one line found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    /// The line's record is (now) in this state with this quantity; for a live hold, its
    /// deadline and the item's available stock after it.
    Recorded {
        /// The record's state after the call.
        state: HoldState,
        /// Its quantity.
        quantity: u64,
        /// For a live hold: its deadline in ms since the epoch.
        deadline_ms: Option<i64>,
        /// Whether this call made the record (false: a retry found it).
        fresh: bool,
    },
    /// Not enough available stock for the line.
    Insufficient {
        /// Units available when the script ran.
        available: u64,
    },
    /// The item does not exist.
    UnknownItem,
    /// There is no record of this reservation for this item.
    UnknownReservation,
    /// The reservation exists for this item with another quantity.
    Conflict {
        /// Its state.
        state: HoldState,
        /// Its quantity.
        quantity: u64,
    },
}

/// A partial change of an item (admin `PUT`).
#[derive(Debug, Default, Clone)]
pub struct ItemPatch {
    /// New name.
    pub name: Option<ItemName>,
    /// New absolute available stock.
    pub stock: Option<StockLevel>,
    /// New threshold.
    pub threshold: Option<Threshold>,
}

/// The item's keys, all with the same hash tag.
struct ItemKeys {
    item: String,
    holds: String,
    expiry: String,
    done: String,
    outbox: String,
}

/// Tells the outbox relay which outbox stream just got events, so it publishes them now rather
/// than at its next sweep. Best effort: a full channel just leaves the work to the sweep.
#[derive(Clone, Debug)]
pub struct OutboxSignal(mpsc::Sender<String>);

impl OutboxSignal {
    /// A signal and the receiver the relay listens on.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self(tx), rx)
    }

    fn notify(&self, outbox_key: &str) {
        let _ = self.0.try_send(outbox_key.to_owned());
    }
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

    /// The pattern that matches every item's outbox stream, for the relay's sweep.
    pub fn outbox_pattern(&self) -> String {
        format!("{}item:*:outbox", self.settings.key_prefix)
    }

    async fn with_timeout<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.settings.command_timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "no answer within {:?}",
                    self.settings.command_timeout
                )))
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

    /// Adds an item; `false` when one with this id already exists.
    pub async fn create_item(
        &self,
        id: &ItemId,
        name: &ItemName,
        stock: StockLevel,
        threshold: Threshold,
    ) -> Result<bool, StoreError> {
        self.add_to_index(id).await?;
        let reply = self
            .run_item_script(
                &self.scripts.create,
                id,
                &[
                    name.as_str().to_owned(),
                    stock.get().to_string(),
                    threshold.get().to_string(),
                ],
            )
            .await?;
        Ok(reply[0] == "created")
    }

    async fn add_to_index(&self, id: &ItemId) -> Result<(), StoreError> {
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            let _: i64 = conn.zadd(self.index_key(), id.as_str(), 0).await?;
            Ok(())
        })
        .await
    }

    /// Applies an admin change; `None` when the item does not exist.
    pub async fn update_item(
        &self,
        id: &ItemId,
        patch: &ItemPatch,
    ) -> Result<Option<Item>, StoreError> {
        let text = |v: Option<u64>| v.map_or_else(String::new, |n| n.to_string());
        let reply = self
            .run_item_script(
                &self.scripts.update,
                id,
                &[
                    patch
                        .name
                        .as_ref()
                        .map_or_else(String::new, |n| n.as_str().to_owned()),
                    text(patch.stock.map(StockLevel::get)),
                    text(patch.threshold.map(Threshold::get)),
                ],
            )
            .await?;
        if reply[0] == "unknown_item" {
            return Ok(None);
        }
        self.get_item(id).await
    }

    /// Removes an item; `false` when it did not exist.
    pub async fn delete_item(&self, id: &ItemId) -> Result<bool, StoreError> {
        let reply = self.run_item_script(&self.scripts.delete, id, &[]).await?;
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            let _: i64 = conn.zrem(self.index_key(), id.as_str()).await?;
            Ok(())
        })
        .await?;
        Ok(reply[0] == "removed")
    }

    /// One item, or `None`.
    pub async fn get_item(&self, id: &ItemId) -> Result<Option<Item>, StoreError> {
        let key = self.keys(id).item;
        let fields: Vec<Option<String>> = self
            .with_timeout(async {
                let mut conn = self.pool.get().await?;
                Ok(redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&["name", "stock", "held", "threshold"])
                    .query_async(&mut conn)
                    .await?)
            })
            .await?;
        Ok(item_from_fields(id.as_str(), &fields))
    }

    /// An item's full ledger, or `None`.
    pub async fn ledger(&self, id: &ItemId) -> Result<Option<Ledger>, StoreError> {
        let key = self.keys(id).item;
        let fields: Vec<Option<i64>> = self
            .with_timeout(async {
                let mut conn = self.pool.get().await?;
                Ok(redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&["stock", "held", "sold", "provisioned", "version"])
                    .query_async(&mut conn)
                    .await?)
            })
            .await?;
        let [
            Some(stock),
            Some(held),
            Some(sold),
            Some(provisioned),
            Some(version),
        ] = fields[..]
        else {
            return Ok(None);
        };
        let unsigned = |v: i64| u64::try_from(v).context("negative ledger value");
        Ok(Some(Ledger {
            item_id: id.to_string(),
            stock: unsigned(stock)?,
            reserved: unsigned(held)?,
            sold: unsigned(sold)?,
            provisioned,
            version: unsigned(version)?,
        }))
    }

    /// Up to `limit` items with ids after `after`, in id order, and whether more follow.
    pub async fn list_items(
        &self,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let ids = self
            .index_page(after.map(ItemId::as_str), limit + 1)
            .await?;
        let more = ids.len() > limit;
        let ids = &ids[..ids.len().min(limit)];
        if ids.is_empty() {
            return Ok((Vec::new(), more));
        }
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            let reads: Vec<redis::Cmd> = ids
                .iter()
                .map(|id| {
                    let mut cmd = redis::cmd("HMGET");
                    cmd.arg(self.item_key(id))
                        .arg(&["name", "stock", "held", "threshold"]);
                    cmd
                })
                .collect();
            let rows: Vec<Vec<Option<String>>> = conn.query_all(&reads).await?;
            let items = ids
                .iter()
                .zip(rows)
                .filter_map(|(id, fields)| item_from_fields(id, &fields))
                .collect();
            Ok((items, more))
        })
        .await
    }

    /// Holds `line.quantity` units of `line.item_id` for `rid` until `now + hold`.
    pub async fn reserve_line(
        &self,
        rid: &ReservationId,
        line: &Line,
        hold: Duration,
    ) -> Result<LineOutcome, StoreError> {
        if self.settings.default_stock.is_some() {
            // The item may be created by the script: index it first (see the module docs).
            self.add_to_index(&line.item_id).await?;
        }
        let reply = self
            .run_item_script(
                &self.scripts.reserve,
                &line.item_id,
                &[
                    rid.to_string(),
                    line.quantity.get().to_string(),
                    duration_ms(hold).to_string(),
                    self.settings
                        .default_stock
                        .map_or_else(String::new, |s| s.get().to_string()),
                    self.settings.default_threshold.get().to_string(),
                ],
            )
            .await?;
        parse_line_outcome(&reply)
    }

    /// Turns `rid`'s hold on `line.item_id` into a sale.
    pub async fn confirm_line(
        &self,
        rid: &ReservationId,
        line: &Line,
    ) -> Result<LineOutcome, StoreError> {
        self.line_script(&self.scripts.confirm, rid, line).await
    }

    /// Gives `rid`'s hold on `line.item_id` back.
    pub async fn release_line(
        &self,
        rid: &ReservationId,
        line: &Line,
    ) -> Result<LineOutcome, StoreError> {
        self.line_script(&self.scripts.release, rid, line).await
    }

    /// Puts `rid`'s sold units of `line.item_id` back on sale.
    pub async fn cancel_line(
        &self,
        rid: &ReservationId,
        line: &Line,
    ) -> Result<LineOutcome, StoreError> {
        self.line_script(&self.scripts.cancel, rid, line).await
    }

    async fn line_script(
        &self,
        script: &Script,
        rid: &ReservationId,
        line: &Line,
    ) -> Result<LineOutcome, StoreError> {
        let reply = self
            .run_item_script(
                script,
                &line.item_id,
                &[rid.to_string(), line.quantity.get().to_string()],
            )
            .await?;
        parse_line_outcome(&reply)
    }

    /// Gives back the item's holds that are past their deadline; returns how many expired.
    pub async fn expire_due(&self, id: &ItemId) -> Result<u64, StoreError> {
        let reply = self.run_item_script(&self.scripts.expire, id, &[]).await?;
        Ok(match reply.as_slice() {
            [status, _units, count] if status == "ok" => count.parse().unwrap_or(0),
            _ => 0,
        })
    }

    /// Up to `limit` catalog ids after `after`, in id order (listing and the hold reaper).
    pub async fn index_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let min = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let index = self.index_key();
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            Ok(redis::cmd("ZRANGEBYLEX")
                .arg(&index)
                .arg(&min)
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query_async(&mut conn)
                .await?)
        })
        .await
    }

    /// Which of `ids` have a hold past its deadline now.
    pub async fn with_due_holds(&self, ids: &[String]) -> Result<Vec<ItemId>, StoreError> {
        let now = now_ms();
        let parsed: Vec<ItemId> = ids.iter().filter_map(|id| ItemId::parse(id).ok()).collect();
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            let counts: Vec<redis::Cmd> = parsed
                .iter()
                .map(|id| {
                    let mut cmd = redis::cmd("ZCOUNT");
                    cmd.arg(self.keys(id).expiry).arg("-inf").arg(now);
                    cmd
                })
                .collect();
            let counts: Vec<u64> = conn.query_all(&counts).await?;
            Ok(parsed
                .into_iter()
                .zip(counts)
                .filter(|(_, n)| *n > 0)
                .map(|(id, _)| id)
                .collect())
        })
        .await
    }

    /// Every outbox stream that currently exists (SCAN, on every primary of a cluster; for the
    /// relay's sweep).
    pub async fn outbox_keys(&self) -> Result<Vec<String>, StoreError> {
        let pattern = self.outbox_pattern();
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            Ok(conn.scan(&pattern, Some("stream")).await?)
        })
        .await
    }

    /// How many events wait in the given outbox streams, and how long the oldest has waited
    /// (zero when none does). A stream entry's id starts with the milliseconds it was added at.
    pub async fn outbox_backlog(&self, keys: &[String]) -> Result<OutboxBacklog, StoreError> {
        if keys.is_empty() {
            return Ok(OutboxBacklog::default());
        }
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            let (lens, heads): (Vec<redis::Cmd>, Vec<redis::Cmd>) = keys
                .iter()
                .map(|k| {
                    let mut len = redis::cmd("XLEN");
                    len.arg(k);
                    let mut head = redis::cmd("XRANGE");
                    head.arg(k).arg("-").arg("+").arg("COUNT").arg(1);
                    (len, head)
                })
                .unzip();
            let lens: Vec<u64> = conn.query_all(&lens).await?;
            let heads: Vec<redis::streams::StreamRangeReply> = conn.query_all(&heads).await?;
            let oldest_ms = heads
                .iter()
                .filter_map(|r| r.ids.first())
                .filter_map(|e| e.id.split('-').next()?.parse::<i64>().ok())
                .min();
            let oldest_age = oldest_ms.map_or(Duration::ZERO, |ms| {
                let age_ms = now_ms().saturating_sub(ms);
                Duration::from_millis(u64::try_from(age_ms).unwrap_or(0))
            });
            Ok(OutboxBacklog {
                events: lens.iter().sum(),
                oldest_age,
            })
        })
        .await
    }

    /// Up to `count` of the oldest events in one outbox stream, with their stream entry ids.
    pub async fn read_outbox(
        &self,
        key: &str,
        count: usize,
    ) -> Result<Vec<(String, EventEnvelope)>, StoreError> {
        let reply: redis::streams::StreamRangeReply = self
            .with_timeout(async {
                let mut conn = self.pool.get().await?;
                Ok(conn.xrange_count(key, "-", "+", count).await?)
            })
            .await?;
        reply
            .ids
            .into_iter()
            .map(|entry| {
                let envelope = envelope_from_entry(&entry)
                    .with_context(|| format!("outbox entry {} of {key} is malformed", entry.id))?;
                Ok((entry.id, envelope))
            })
            .collect()
    }

    /// Deletes published entries from an outbox stream (and the stream once empty).
    pub async fn ack_outbox(&self, key: &str, entry_ids: &[String]) -> Result<(), StoreError> {
        if entry_ids.is_empty() {
            return Ok(());
        }
        let mut call = self.scripts.outbox_ack.script().prepare_invoke();
        call.key(key);
        for id in entry_ids {
            call.arg(id);
        }
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            let _: i64 = call.invoke_async(&mut conn).await?;
            Ok(())
        })
        .await
    }

    /// The stored counters of each of `ids`, in one pipelined round trip (read-only, for the
    /// auditor); `None` for an item that is gone. The values are signed so that a corrupted
    /// negative counter is shown rather than refused.
    pub async fn stored_ledgers(
        &self,
        ids: &[String],
    ) -> Result<Vec<Option<StoredLedger>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Vec<Option<String>>> = self
            .with_timeout(async {
                let mut conn = self.pool.get().await?;
                let reads: Vec<redis::Cmd> = ids
                    .iter()
                    .map(|id| {
                        let mut cmd = redis::cmd("HMGET");
                        cmd.arg(self.item_key(id))
                            .arg(&["stock", "held", "sold", "provisioned"]);
                        cmd
                    })
                    .collect();
                Ok(conn.query_all(&reads).await?)
            })
            .await?;
        ids.iter()
            .zip(rows)
            .map(|(id, fields)| {
                if fields.iter().all(Option::is_none) {
                    return Ok(None);
                }
                let value = |i: usize| -> Result<i64, StoreError> {
                    Ok(fields[i]
                        .as_deref()
                        .and_then(|v| v.parse().ok())
                        .with_context(|| {
                            format!(
                                "item {id}: counter {i} is missing or not an integer: {fields:?}"
                            )
                        })?)
                };
                Ok(Some(StoredLedger {
                    stock: value(0)?,
                    held: value(1)?,
                    sold: value(2)?,
                    provisioned: value(3)?,
                }))
            })
            .collect()
    }

    /// The units held by the live holds of each of `ids` (read-only, for the auditor): the sum
    /// of the quantities of the records in state `held` in `item:{id}:holds`, which `held` must
    /// equal. The hashes keep a week of closed records, so they are read with HSCAN (1000
    /// fields a call, pipelined over the items, one timeout per round) rather than HGETALL,
    /// which would block Redis on a large hash; a record the scan returns twice counts once.
    pub async fn live_held(&self, ids: &[String]) -> Result<Vec<u64>, StoreError> {
        let mut live: Vec<std::collections::HashMap<String, u64>> =
            vec![Default::default(); ids.len()];
        // (index into ids, cursor) of the scans not finished yet.
        let mut scans: Vec<(usize, u64)> = (0..ids.len()).map(|i| (i, 0)).collect();
        while !scans.is_empty() {
            let pages: Vec<(u64, Vec<String>)> = self
                .with_timeout(async {
                    let mut conn = self.pool.get().await?;
                    let pages: Vec<redis::Cmd> = scans
                        .iter()
                        .map(|&(i, cursor)| {
                            let mut cmd = redis::cmd("HSCAN");
                            cmd.arg(format!("{}:holds", self.item_key(&ids[i])))
                                .arg(cursor)
                                .arg("COUNT")
                                .arg(1000);
                            cmd
                        })
                        .collect();
                    Ok(conn.query_all(&pages).await?)
                })
                .await?;
            let mut next = Vec::new();
            for (&(i, _), (cursor, flat)) in scans.iter().zip(pages) {
                for pair in flat.chunks_exact(2) {
                    let (rid, record) = (&pair[0], &pair[1]);
                    let (state, quantity) = record
                        .split_once(':')
                        .and_then(|(s, q)| Some((HoldState::parse(s)?, q.parse::<u64>().ok()?)))
                        .with_context(|| {
                            format!(
                                "item {}: hold record {rid} is malformed: {record:?}",
                                ids[i]
                            )
                        })?;
                    if state == HoldState::Held {
                        live[i].insert(rid.clone(), quantity);
                    }
                }
                if cursor != 0 {
                    next.push((i, cursor));
                }
            }
            scans = next;
        }
        Ok(live.iter().map(|holds| holds.values().sum()).collect())
    }
}

fn item_from_fields(id: &str, fields: &[Option<String>]) -> Option<Item> {
    let [Some(name), Some(stock), Some(held), Some(threshold)] = fields else {
        return None;
    };
    Some(Item {
        id: id.to_owned(),
        name: name.clone(),
        stock: stock.parse().ok()?,
        reserved: held.parse().ok()?,
        low_stock_threshold: threshold.parse().ok()?,
    })
}

fn parse_line_outcome(reply: &[String]) -> Result<LineOutcome, StoreError> {
    let num = |s: &String| -> Result<u64, StoreError> {
        Ok(s.parse::<u64>()
            .with_context(|| format!("script reply {reply:?}"))?)
    };
    let bad = || StoreError::from(anyhow::anyhow!("unexpected script reply {reply:?}"));
    Ok(match reply {
        [s] if s == "unknown_item" => LineOutcome::UnknownItem,
        [s] if s == "unknown_reservation" => LineOutcome::UnknownReservation,
        [s, available] if s == "insufficient" => LineOutcome::Insufficient {
            available: num(available)?,
        },
        [s, state, qty] if s == "conflict" => LineOutcome::Conflict {
            state: HoldState::parse(state).ok_or_else(bad)?,
            quantity: num(qty)?,
        },
        [s, qty, deadline, _stock, new] if s == "held" => LineOutcome::Recorded {
            state: HoldState::Held,
            quantity: num(qty)?,
            deadline_ms: Some(
                deadline
                    .parse::<f64>()
                    .map(|d| d as i64)
                    .map_err(|_| bad())?,
            ),
            fresh: new == "new",
        },
        [state, qty] => LineOutcome::Recorded {
            state: HoldState::parse(state).ok_or_else(bad)?,
            quantity: num(qty)?,
            deadline_ms: None,
            fresh: false,
        },
        _ => return Err(bad()),
    })
}

fn envelope_from_entry(entry: &redis::streams::StreamId) -> anyhow::Result<EventEnvelope> {
    let field = |name: &str| -> anyhow::Result<String> {
        entry
            .get::<String>(name)
            .with_context(|| format!("missing field {name}"))
    };
    let occurred_ms: i64 = field("occurred_at_ms")?.parse()?;
    let raw_kind = field("type")?;
    let kind =
        EventKind::parse(&raw_kind).with_context(|| format!("unknown event type {raw_kind:?}"))?;
    // The scripts write the payload; reading it as its type here keeps them to the contract.
    let event = Event::from_parts(kind, serde_json::from_str(&field("data")?)?)
        .with_context(|| format!("the {kind} payload does not match its schema"))?;
    Ok(EventEnvelope::with_id(
        field("event_id")?.parse()?,
        &event,
        crate::SERVICE,
        chrono::DateTime::from_timestamp_millis(occurred_ms)
            .context("occurred_at_ms out of range")?,
    ))
}
