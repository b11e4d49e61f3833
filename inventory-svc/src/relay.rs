//! `OutboxRelay`: publishes the events the Lua scripts appended to the items' outbox streams to
//! RabbitMQ, and deletes them only once the broker has confirmed them.
//!
//! Fresh events go out at once: the store signals which stream got one. A periodic sweep over
//! every outbox stream (SCAN) publishes what a crashed process or another replica left behind.
//! The sweep runs beside the relay, not in its loop, and its SCAN looks at no more than
//! `OUTBOX_SWEEP_RATE` keys per second: SCAN visits every key of the Redis, so on a large
//! keyspace an unpaced sweep would take a good part of Redis's core and, inside the loop, hold
//! fresh events back for as long as it ran.
//! While the broker is away the relay backs off ([`Backoff`]: doubling up to 5 s) and keeps the
//! events where they are, in Redis. Delivery is at-least-once: an event whose confirm was lost is
//! published again, and consumers deduplicate by `event_id`. Several replicas may relay the same
//! stream during a sweep; that only adds duplicates, which consumers absorb.

use std::{collections::BTreeSet, num::NonZeroU32, sync::Arc, time::Duration};

use platform::{amqp::ConfirmingPublisher, backoff::Backoff};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{SERVICE, store::StockStore};

/// Events read from one stream per publish round: bounded so one busy item cannot starve others.
const BATCH: usize = 256;
/// How long a final drain may take on shutdown before the rest is left for the next start.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// The relay task's state.
pub struct OutboxRelay {
    store: Arc<StockStore>,
    publisher: ConfirmingPublisher,
    signals: mpsc::Receiver<String>,
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
        signals: mpsc::Receiver<String>,
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
                Some(key) = self.signals.recv() => {
                    self.pending.insert(key);
                    while let Ok(key) = self.signals.try_recv() {
                        self.pending.insert(key);
                    }
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
        while let Ok(key) = self.signals.try_recv() {
            self.pending.insert(key);
        }
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
            self.publisher.publish_all(&events).await?;
            self.store.ack_outbox(key, &ids).await?;
            metrics::counter!("outbox_published_total", "service" => SERVICE)
                .increment(events.len() as u64);
            if ids.len() < BATCH {
                return Ok(());
            }
        }
    }
}
