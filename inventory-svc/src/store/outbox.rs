//! The outbox streams: the signal that wakes the relay, and reading, acknowledging and measuring
//! the events the scripts wrote.

use std::{
    collections::BTreeSet,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use platform::{
    event::{Event, EventEnvelope, EventKind},
    redis::ScanPace,
};
use redis::AsyncCommands as _;
use tokio::sync::Notify;

use super::{StockStore, StoreError, now_ms};

/// What waits in the outbox streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    /// Events not yet published.
    pub events: u64,
    /// How long the oldest of them has waited.
    pub oldest_age: Duration,
}

/// Tells the outbox relay which outbox streams got events, so it publishes them now rather than
/// at its next sweep. The streams wait in a set until the relay takes them: a burst of writes to
/// one item is one entry, the set never holds more than the streams that exist, and no signal is
/// dropped, so the sweep is left only what a process that died before relaying left behind
/// (docs/decisions/0026).
#[derive(Clone, Debug, Default)]
pub struct OutboxSignal(Arc<Signalled>);

#[derive(Debug, Default)]
struct Signalled {
    streams: Mutex<BTreeSet<String>>,
    wake: Notify,
}

impl OutboxSignal {
    pub(super) fn notify(&self, outbox_key: &str) {
        {
            let mut streams = self.streams();
            if !streams.contains(outbox_key) {
                streams.insert(outbox_key.to_owned());
            }
        }
        self.0.wake.notify_one();
    }

    /// Returns once a stream was signalled since the last wait (at once if one was meanwhile).
    /// It may return when [`Self::take`] already took that stream: take answers empty then.
    pub async fn notified(&self) {
        self.0.wake.notified().await;
    }

    /// The streams signalled since the last take.
    pub fn take(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.streams())
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        // A set of names stays whole whatever panicked while holding it.
        self.0
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use std::time::Duration;

    use super::OutboxSignal;

    #[tokio::test]
    async fn no_signal_is_dropped_however_many_come_before_the_relay_takes_them() {
        let signal = OutboxSignal::default();
        for i in 0..10_000 {
            signal.notify(&format!("item:{{{i}}}:outbox"));
            signal.notify(&format!("item:{{{i}}}:outbox"));
        }
        tokio::time::timeout(Duration::from_secs(1), signal.notified())
            .await
            .expect("the relay is woken");
        let taken = signal.take();
        assert_eq!(taken.len(), 10_000, "every stream once");
        assert!(taken.contains("item:{9999}:outbox"));
        assert!(signal.take().is_empty(), "a take empties the set");
    }

    #[tokio::test]
    async fn a_signal_between_two_waits_wakes_the_second() {
        let signal = OutboxSignal::default();
        signal.notify("item:{a}:outbox");
        signal.notified().await;
        assert_eq!(signal.take().len(), 1);
        let waiting = tokio::spawn({
            let signal = signal.clone();
            async move {
                signal.notified().await;
                signal.take()
            }
        });
        tokio::task::yield_now().await;
        signal.notify("item:{b}:outbox");
        let taken = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("woken")
            .expect("the task ran");
        assert_eq!(taken.into_iter().collect::<Vec<_>>(), ["item:{b}:outbox"]);
    }
}
