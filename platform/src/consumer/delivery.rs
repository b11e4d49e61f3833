//! Handling one delivery: decode it, let the handler apply it, ack it once the effect is
//! committed; or forward a failure to the next retry level (or the parking queue) and ack the
//! original only once the broker confirmed the copy.

use std::sync::Arc;

use futures::future::BoxFuture;
use lapin::{
    BasicProperties, Channel, Confirmation,
    message::Delivery,
    options::{BasicAckOptions, BasicNackOptions, BasicPublishOptions},
    types::{AMQPValue, LongString, ShortString},
};

use super::settings::ConsumerSettings;
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
    /// The `outcome` label of `consumer_events_total`.
    fn label(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Duplicate => "duplicate",
        }
    }
}

/// A handler: applies one event; `Ok` means its effect is committed (or was already).
pub type Handler =
    Arc<dyn Fn(EventEnvelope) -> BoxFuture<'static, anyhow::Result<Applied>> + Send + Sync>;

/// Applies one delivery with `handler` and settles it: acked after `Ok`, forwarded to the next
/// retry level (or parked) after a failure, requeued when even forwarding failed.
pub(super) async fn handle(
    s: &ConsumerSettings,
    handler: &Handler,
    delivery: Delivery,
    republish: &Channel,
) {
    let attempt = attempt_of(&delivery);
    let started = std::time::Instant::now();
    let outcome = match serde_json::from_slice::<EventEnvelope>(&delivery.data) {
        Ok(event) => handler(event).await,
        Err(e) => Err(anyhow::anyhow!(
            "the message is not a valid event envelope: {e}"
        )),
    };
    metrics::histogram!("consumer_handle_duration_seconds", "queue" => s.queue.clone())
        .record(started.elapsed().as_secs_f64());
    match outcome {
        Ok(applied) => {
            metrics::counter!("consumer_events_total", "queue" => s.queue.clone(), "outcome" => applied.label()).increment(1);
            if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                // After a reconnect the broker redelivers; the handler's dedupe absorbs it.
                tracing::warn!(queue = %s.queue, error = %e, "ack failed; the event will be redelivered and deduplicated");
            }
        }
        Err(error) => {
            let next = attempt + 1;
            let (target, outcome) = if next as usize <= s.retry_delays.len() {
                (s.retry_queue(next as usize), "retried")
            } else {
                (s.dead_queue(), "dead_lettered")
            };
            tracing::warn!(queue = %s.queue, attempt = next, %target, error = format!("{error:#}"), "event failed");
            metrics::counter!("consumer_events_total", "queue" => s.queue.clone(), "outcome" => outcome).increment(1);
            match forward(republish, &delivery, &target, next, &format!("{error:#}")).await {
                Ok(()) => {
                    if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                        tracing::warn!(queue = %s.queue, error = %e, "ack after forwarding failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(queue = %s.queue, error = format!("{e:#}"), "cannot forward a failed event; it goes back to the queue");
                    let _ = delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await;
                }
            }
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

/// Records `event_id` as processed inside the handler's transaction; `false` when it already
/// was (a redelivery or a duplicate), in which case the handler does nothing else. Every
/// consumer's migrations create `processed_events (event_id UUID PRIMARY KEY, processed_at
/// TIMESTAMPTZ NOT NULL DEFAULT now())`.
pub async fn first_delivery(
    tx: &tokio_postgres::Transaction<'_>,
    event_id: uuid::Uuid,
) -> Result<bool, DbError> {
    let inserted = tx
        .execute(
            "INSERT INTO processed_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&event_id],
        )
        .await?;
    Ok(inserted == 1)
}
