//! `OutboxRelay`: publishes the events the Lua scripts appended to the items' outbox streams to
//! RabbitMQ, and deletes them only once the broker has confirmed them.
//!
//! Fresh events go out within a few milliseconds: the store signals which stream got one, and
//! the relay gathers the signals of `platform::outbox::GATHER` (5 ms, docs/decisions/0025)
//! into one round; no signal is dropped (docs/decisions/0026). A periodic sweep over every
//! outbox stream (SCAN) publishes what a process that died before relaying left behind.
//! A run of `stock_changed` of one reason, one after the other in a batch read from a stream,
//! is published as one event ([`coalesce`], docs/decisions/0022): under a flash sale a batch
//! holds many `reserved` changes of one item, and consumers keep only the newest values.
//! The sweep runs beside the relay, not in its loop, and its SCAN looks at no more than
//! `OUTBOX_SWEEP_RATE` keys per second: SCAN visits every key of the Redis, so on a large
//! keyspace an unpaced sweep would take a good part of Redis's core and, inside the loop, hold
//! fresh events back for as long as it ran.
//! While the broker is away the relay backs off ([`Backoff`]: doubling up to 5 s) and keeps the
//! events where they are, in Redis. Delivery is at-least-once: an event whose confirm was lost is
//! published again, and consumers deduplicate by `event_id`. Several replicas may relay the same
//! stream during a sweep; that only adds duplicates, which consumers absorb.

use std::{collections::BTreeSet, num::NonZeroU32, sync::Arc, time::Duration};

use platform::{
    amqp::ConfirmingPublisher,
    backoff::Backoff,
    event::{Event, EventEnvelope, EventKind, StockChanged},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    SERVICE,
    store::{OutboxSignal, StockStore},
};

/// Events read from one stream per publish round: bounded so one busy item cannot starve others.
const BATCH: usize = 256;
/// How long a final drain may take on shutdown before the rest is left for the next start.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// The relay task's state.
pub struct OutboxRelay {
    store: Arc<StockStore>,
    publisher: ConfirmingPublisher,
    signals: OutboxSignal,
    sweep: Sweep,
    pending: BTreeSet<String>,
}

/// The periodic look at every outbox stream.
#[derive(Clone)]
struct Sweep {
    store: Arc<StockStore>,
    interval: Duration,
    rate: NonZeroU32,
}

impl Sweep {
    /// Every `interval` (or when the last sweep ends, if later), hands the relay the streams
    /// that hold events, and measures their backlog, until `shutdown`.
    async fn run(self, found: mpsc::Sender<Vec<String>>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let keys = tokio::select! {
                () = shutdown.cancelled() => return,
                keys = self.store.outbox_keys(Some(self.rate)) => keys,
            };
            let keys = match keys {
                Ok(keys) => keys,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox sweep failed");
                    continue;
                }
            };
            match self.store.outbox_backlog(&keys).await {
                Ok(backlog) => {
                    metrics::gauge!("outbox_backlog_events", "service" => SERVICE)
                        .set(backlog.events as f64);
                    metrics::gauge!("outbox_oldest_age_seconds", "service" => SERVICE)
                        .set(backlog.oldest_age.as_secs_f64());
                }
                Err(e) => tracing::warn!(error = %e, "cannot measure the outbox backlog"),
            }
            if !keys.is_empty() && found.send(keys).await.is_err() {
                return;
            }
        }
    }
}

impl OutboxRelay {
    /// A relay publishing through `publisher`, woken by `signals`.
    pub fn new(
        store: Arc<StockStore>,
        publisher: ConfirmingPublisher,
        signals: OutboxSignal,
        sweep_interval: Duration,
        sweep_rate: NonZeroU32,
    ) -> Self {
        Self {
            sweep: Sweep {
                store: store.clone(),
                interval: sweep_interval,
                rate: sweep_rate,
            },
            store,
            publisher,
            signals,
            pending: BTreeSet::new(),
        }
    }

    /// Runs until `shutdown`, then makes one bounded last attempt to publish what is pending.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let (found, mut swept) = mpsc::channel(1);
        let sweeping = shutdown.child_token();
        let sweeper = tokio::spawn(self.sweep.clone().run(found, sweeping.clone()));
        let mut backoff = Backoff::default();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.signals.notified() => {
                    tokio::time::sleep(platform::outbox::GATHER).await;
                    self.pending.append(&mut self.signals.take());
                }
                Some(keys) = swept.recv() => self.pending.extend(keys),
            }
            if self.pending.is_empty() {
                continue;
            }
            if self.publish_pending().await {
                backoff.reset();
            } else if !platform::shutdown::sleep(backoff.next_delay(), &shutdown).await {
                break;
            }
        }
        sweeping.cancel();
        let _ = sweeper.await;
        self.pending.append(&mut self.signals.take());
        if !self.pending.is_empty() {
            let _ = tokio::time::timeout(SHUTDOWN_DRAIN, self.publish_pending()).await;
        }
        tracing::info!(left = self.pending.len(), "outbox relay stopped");
    }

    /// Publishes every pending stream; returns `false` when the broker (or Redis) failed, leaving
    /// the failed streams pending.
    async fn publish_pending(&mut self) -> bool {
        let keys: Vec<String> = self.pending.iter().cloned().collect();
        for key in keys {
            match self.drain(&key).await {
                Ok(()) => {
                    self.pending.remove(&key);
                }
                Err(e) => {
                    metrics::counter!("outbox_publish_failures_total", "service" => SERVICE)
                        .increment(1);
                    tracing::warn!(error = format!("{e:#}"), stream = %key, "cannot relay events yet; will retry");
                    return false;
                }
            }
        }
        true
    }

    /// Publishes one stream until it is empty.
    async fn drain(&mut self, key: &str) -> anyhow::Result<()> {
        loop {
            let batch = self.store.read_outbox(key, BATCH).await?;
            if batch.is_empty() {
                return Ok(());
            }
            let (ids, events): (Vec<String>, Vec<_>) = batch.into_iter().unzip();
            let read = events.len();
            let events = coalesce(events);
            self.publisher.publish_all(&events).await?;
            self.store.ack_outbox(key, &ids).await?;
            metrics::counter!("outbox_published_total", "service" => SERVICE)
                .increment(events.len() as u64);
            metrics::counter!("inventory_events_coalesced_total")
                .increment((read - events.len()) as u64);
            if ids.len() < BATCH {
                return Ok(());
            }
        }
    }
}

/// Publishes each run of `stock_changed` of one item and one reason, one after the other, as one
/// event: the last one's envelope (its `event_id`, so a republished batch is still deduplicated)
/// and values after the change, with `delta` and `changes` summed. Every other event, and the
/// order of all of them, is left as it is; an event that does not decode is passed on as read.
pub fn coalesce(events: Vec<EventEnvelope>) -> Vec<EventEnvelope> {
    // Each event to publish, with the run of changes it closes (for a `stock_changed`).
    let mut out: Vec<(EventEnvelope, Option<StockChanged>)> = Vec::with_capacity(events.len());
    for event in events {
        let change = match (event.kind == EventKind::StockChanged.as_str()).then(|| event.decode())
        {
            Some(Ok(Event::StockChanged(change))) => Some(change),
            _ => None,
        };
        if let (Some(next), Some((last, Some(run)))) = (&change, out.last_mut())
            && run.item_id == next.item_id
            && run.reason == next.reason
        {
            *run = StockChanged {
                delta: run.delta + next.delta,
                changes: run.changes + next.changes,
                ..next.clone()
            };
            *last = event;
            continue;
        }
        out.push((event, change));
    }
    out.into_iter()
        .map(|(mut event, run)| {
            // A folded run's values, written once per run; a lone change goes out as read.
            // Invariant: a struct of strings and numbers always serializes.
            if let Some(run) = run.filter(|r| r.changes > 1)
                && let Ok(data) = serde_json::to_value(&run)
            {
                event.data = data;
            }
            event
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::Utc;
    use platform::{
        contract::ItemId,
        event::{Event, LowStock, StockChangeReason},
    };

    use super::*;

    fn change(
        item: &str,
        reason: StockChangeReason,
        delta: i64,
        stock: u64,
        version: u64,
    ) -> EventEnvelope {
        let event = Event::StockChanged(StockChanged {
            item_id: ItemId::parse(item).unwrap(),
            name: item.to_owned(),
            reason,
            delta,
            stock,
            reserved: 0,
            threshold: 5,
            version,
            changes: 1,
        });
        EventEnvelope::new(&event, SERVICE, Utc::now())
    }

    fn low(item: &str, stock: u64, version: u64) -> EventEnvelope {
        let event = Event::LowStock(LowStock {
            item_id: ItemId::parse(item).unwrap(),
            name: item.to_owned(),
            stock,
            threshold: 5,
            version,
        });
        EventEnvelope::new(&event, SERVICE, Utc::now())
    }

    fn changed(e: &EventEnvelope) -> StockChanged {
        match e.decode().unwrap() {
            Event::StockChanged(c) => c,
            other => panic!("not a stock_changed: {other:?}"),
        }
    }

    #[test]
    fn a_run_of_one_reason_becomes_one_event_with_the_last_values_and_the_summed_delta() {
        use StockChangeReason::{Released, Reserved};
        let events = vec![
            change("a", Reserved, -1, 9, 2),
            change("a", Reserved, -2, 7, 3),
            change("a", Reserved, -1, 6, 4),
            change("a", Released, 2, 8, 5),
            change("a", Reserved, -1, 7, 6),
        ];
        let last_reserved_id = events[2].event_id;
        let out = coalesce(events);
        assert_eq!(out.len(), 3, "reserved ×3, released, reserved");
        let first = changed(&out[0]);
        assert_eq!(
            (first.delta, first.stock, first.version, first.changes),
            (-4, 6, 4, 3)
        );
        assert_eq!(
            out[0].event_id, last_reserved_id,
            "the last change's envelope"
        );
        assert_eq!(out[0].data["changes"], 3);
        let second = changed(&out[1]);
        assert_eq!(
            (second.reason, second.delta, second.changes),
            (Released, 2, 1)
        );
        assert!(
            out[1].data.get("changes").is_none(),
            "a lone change is published as read"
        );
        assert_eq!(changed(&out[2]).version, 6);
    }

    #[test]
    fn other_events_and_other_items_break_a_run_and_keep_their_place() {
        use StockChangeReason::Reserved;
        let events = vec![
            change("a", Reserved, -1, 6, 2),
            low("a", 4, 3),
            change("a", Reserved, -2, 4, 3),
            change("b", Reserved, -1, 9, 2),
            change("a", Reserved, -1, 3, 4),
        ];
        let kinds: Vec<String> = events.iter().map(|e| e.kind.clone()).collect();
        let out = coalesce(events);
        assert_eq!(
            out.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
            kinds
        );
        assert!(
            out.iter()
                .filter(|e| e.kind == "stock_changed")
                .all(|e| changed(e).changes == 1)
        );
    }
}
