//! Handling a batch of deliveries: decode them, let the handler apply them, ack them once the
//! effect is committed (through [`Acks`], a frame per run of settled deliveries); or forward a
//! failure to the next retry level (or the parking queue) and ack the original only once the
//! broker confirmed the copy.

use std::sync::Arc;

use futures::future::BoxFuture;
use lapin::{
    BasicProperties, Channel, Confirmation,
    message::Delivery,
    options::BasicPublishOptions,
    types::{AMQPValue, LongString, ShortString},
};

use super::{acks::Acks, settings::ConsumerSettings};
use crate::{event::EventEnvelope, postgres::DbError};

/// The header that counts how many times a message failed.
pub const ATTEMPT_HEADER: &str = "x-attempt";
/// The header that carries the last failure's message on a retried or parked message.
pub const LAST_ERROR_HEADER: &str = "x-last-error";

/// What a handler did with an event it took without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Its effect is committed (for an event type the consumer does not act on: nothing was owed).
    Done,
    /// Its `event_id` was processed before (a redelivery or a duplicate): nothing was done again.
    Duplicate,
}

impl Applied {
    /// What a handler answers for each event of its batch, from [`first_deliveries`]' answer.
    pub fn of_batch(first: Vec<bool>) -> Vec<Self> {
        first
            .into_iter()
            .map(|first| if first { Self::Done } else { Self::Duplicate })
            .collect()
    }

    /// The `outcome` label of `consumer_events_total`.
    fn label(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Duplicate => "duplicate",
        }
    }
}

/// A handler: applies a batch of events (one or more, in delivery order) in one transaction,
/// each exactly once, and says what it did with each, in the same order. `Ok` means the whole
/// batch's effect is committed; `Err` means none of it is. The batch is shared, not copied: the
/// consumer keeps it to apply its events one by one should the batch fail.
pub type Handler = Arc<
    dyn Fn(Arc<[EventEnvelope]>) -> BoxFuture<'static, anyhow::Result<Vec<Applied>>> + Send + Sync,
>;

/// Applies a batch of deliveries with `handler` in one call (one transaction) and settles each:
/// all acked once the batch committed (one frame, once no earlier delivery is unsettled:
/// [`Acks`]). A delivery that is not an event envelope fails alone. When the batch fails as a
/// whole, its deliveries are applied again one by one, so that one poison event (or a deadlock
/// with a concurrent batch) costs only itself: each that fails then goes to the next retry level
/// (or is parked), and is requeued when even forwarding failed.
pub(super) async fn handle_batch(
    s: &ConsumerSettings,
    handler: &Handler,
    deliveries: Vec<Delivery>,
    republish: &Channel,
    acks: &Acks,
) {
    let mut batch = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        match serde_json::from_slice::<EventEnvelope>(&delivery.data) {
            Ok(event) => batch.push((delivery, event)),
            Err(e) => {
                let error = anyhow::anyhow!("the message is not a valid event envelope: {e}");
                settle_failure(s, delivery, &error, republish, acks).await;
            }
        }
    }
    if batch.is_empty() {
        return;
    }
    metrics::histogram!("consumer_batch_size", "queue" => s.queue.clone())
        .record(batch.len() as f64);
    let (deliveries, events): (Vec<_>, Vec<EventEnvelope>) = batch.into_iter().unzip();
    let events: Arc<[EventEnvelope]> = events.into();
    match apply(s, handler, events.clone()).await {
        Ok(applied) => {
            for applied in applied {
                count_success(s, applied);
            }
            acks.committed(deliveries.iter().map(|d| d.delivery_tag))
                .await;
        }
        Err(error) if deliveries.len() == 1 => {
            for delivery in deliveries {
                settle_failure(s, delivery, &error, republish, acks).await;
            }
        }
        Err(error) => {
            tracing::info!(queue = %s.queue, size = deliveries.len(), error = format!("{error:#}"),
                "a batch failed; applying its events one by one");
            for (delivery, event) in deliveries.into_iter().zip(events.iter()) {
                match apply(s, handler, Arc::from([event.clone()])).await {
                    Ok(applied) => {
                        let applied = applied.first().copied().unwrap_or(Applied::Done);
                        count_success(s, applied);
                        acks.committed([delivery.delivery_tag]).await;
                    }
                    Err(error) => settle_failure(s, delivery, &error, republish, acks).await,
                }
            }
        }
    }
}

/// Calls the handler once, timed, and checks that it answered for every event.
async fn apply(
    s: &ConsumerSettings,
    handler: &Handler,
    events: Arc<[EventEnvelope]>,
) -> anyhow::Result<Vec<Applied>> {
    let started = std::time::Instant::now();
    let n = events.len();
    let outcome = handler(events).await;
    metrics::histogram!("consumer_handle_duration_seconds", "queue" => s.queue.clone())
        .record(started.elapsed().as_secs_f64());
    let applied = outcome?;
    anyhow::ensure!(
        applied.len() == n,
        "the handler answered for {} of {n} events",
        applied.len()
    );
    Ok(applied)
}

/// Counts a delivery whose effect is committed.
fn count_success(s: &ConsumerSettings, applied: Applied) {
    metrics::counter!("consumer_events_total", "queue" => s.queue.clone(), "outcome" => applied.label()).increment(1);
}

/// Forwards a failed delivery to the next retry level (or parks it), and acks the original
/// once the broker confirmed the copy; requeues it when even forwarding failed.
async fn settle_failure(
    s: &ConsumerSettings,
    delivery: Delivery,
    error: &anyhow::Error,
    republish: &Channel,
    acks: &Acks,
) {
    let next = attempt_of(&delivery) + 1;
    let (target, outcome) = if next as usize <= s.retry_delays.len() {
        (s.retry_queue(next as usize), "retried")
    } else {
        (s.dead_queue(), "dead_lettered")
    };
    tracing::warn!(queue = %s.queue, attempt = next, %target, error = format!("{error:#}"), "event failed");
    metrics::counter!("consumer_events_total", "queue" => s.queue.clone(), "outcome" => outcome)
        .increment(1);
    match forward(republish, &delivery, &target, next, &format!("{error:#}")).await {
        Ok(()) => acks.committed([delivery.delivery_tag]).await,
        Err(e) => {
            tracing::warn!(queue = %s.queue, error = format!("{e:#}"), "cannot forward a failed event; it goes back to the queue");
            acks.requeue(delivery.delivery_tag).await;
        }
    }
}

fn attempt_of(delivery: &Delivery) -> u32 {
    let value = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned());
    match value {
        Some(AMQPValue::LongInt(n)) => u32::try_from(n).unwrap_or(0),
        Some(AMQPValue::LongUInt(n)) => n,
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(n).unwrap_or(0),
        Some(AMQPValue::ShortInt(n)) => u32::try_from(n).unwrap_or(0),
        _ => 0,
    }
}

/// Copies a failed delivery to `queue` (through the default exchange) with its attempt count and
/// last error, and waits for the broker's confirm.
async fn forward(
    channel: &Channel,
    delivery: &Delivery,
    queue: &str,
    attempt: u32,
    error: &str,
) -> anyhow::Result<()> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongUInt(attempt));
    let error: String = error.chars().take(1000).collect();
    headers.insert(
        LAST_ERROR_HEADER.into(),
        AMQPValue::LongString(LongString::from(error)),
    );
    let properties: BasicProperties = delivery.properties.clone().with_headers(headers);
    let confirm = channel
        .basic_publish(
            "".into(),
            ShortString::from(queue.to_owned()),
            BasicPublishOptions::default(),
            &delivery.data,
            properties,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Nack(_) => anyhow::bail!("the broker refused the copy"),
        _ => Ok(()),
    }
}

/// Records the ids of a batch as processed inside the handler's transaction and says, for
/// each, whether this is its first delivery: `false` when it was processed before (a
/// redelivery or a duplicate) or appears earlier in the same batch, in which case the handler
/// does nothing else for it. One statement for the whole batch, its ids inserted in sorted
/// order so that concurrent batches never wait on each other in a cycle. Every consumer's
/// migrations create `processed_events (event_id UUID PRIMARY KEY, processed_at TIMESTAMPTZ NOT
/// NULL DEFAULT now())`.
pub async fn first_deliveries(
    tx: &deadpool_postgres::Transaction<'_>,
    event_ids: &[uuid::Uuid],
) -> Result<Vec<bool>, DbError> {
    let mut sorted = event_ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let statement = tx
        .prepare_cached(
            "INSERT INTO processed_events (event_id) SELECT id FROM unnest($1::uuid[]) AS id \
             ORDER BY id ON CONFLICT DO NOTHING RETURNING event_id",
        )
        .await?;
    let rows = tx.query(&statement, &[&sorted]).await?;
    let mut new: std::collections::HashSet<uuid::Uuid> =
        rows.iter().map(|r| r.get::<_, uuid::Uuid>(0)).collect();
    // The first occurrence of a new id is its first delivery; any later one in the batch is not.
    Ok(event_ids.iter().map(|id| new.remove(id)).collect())
}
