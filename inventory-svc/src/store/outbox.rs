//! The outbox streams: the signal that wakes the relay, and reading, acknowledging and measuring
//! the events the scripts wrote.

use std::{num::NonZeroU32, time::Duration};

use anyhow::Context as _;
use platform::{
    event::{Event, EventEnvelope, EventKind},
    redis::ScanPace,
};
use redis::AsyncCommands as _;
use tokio::sync::mpsc;

use super::{StockStore, StoreError, now_ms};

/// What waits in the outbox streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    /// Events not yet published.
    pub events: u64,
    /// How long the oldest of them has waited.
    pub oldest_age: Duration,
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

    pub(super) fn notify(&self, outbox_key: &str) {
        let _ = self.0.try_send(outbox_key.to_owned());
    }
}

impl StockStore {
    /// The pattern that matches every item's outbox stream, for the relay's sweep.
    pub fn outbox_pattern(&self) -> String {
        format!("{}item:*:outbox", self.settings.key_prefix)
    }

    /// Every outbox stream that currently exists (SCAN, on every primary of a cluster; for the
    /// relay's sweep and the auditor), looking at no more than `rate` keys per second (`None`:
    /// as fast as Redis answers), each SCAN within the command timeout.
    pub async fn outbox_keys(&self, rate: Option<NonZeroU32>) -> Result<Vec<String>, StoreError> {
        let pattern = self.outbox_pattern();
        let pace = ScanPace {
            keys_per_second: rate,
            timeout: Some(self.settings.command_timeout),
        };
        let mut conn = self
            .with_timeout(async { Ok(self.pool.get().await?) })
            .await?;
        Ok(conn.scan_paced(&pattern, Some("stream"), &pace).await?)
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
    let data = serde_json::from_str(&field("data")?)?;
    // The scripts write the payload; reading it as its type here keeps them to the contract.
    // What they wrote is published as it is.
    Event::from_parts(kind, &data)
        .with_context(|| format!("the {kind} payload does not match its schema"))?;
    Ok(EventEnvelope {
        event_id: field("event_id")?.parse()?,
        kind: kind.as_str().to_owned(),
        occurred_at: chrono::DateTime::from_timestamp_millis(occurred_ms)
            .context("occurred_at_ms out of range")?,
        source: crate::SERVICE.to_owned(),
        data,
    })
}
