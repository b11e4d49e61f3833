//! The queues of one consumer (work, retry levels, parking), declared idempotently on every
//! (re)connection, and the gauges measured from them.

use anyhow::Context as _;
use lapin::{
    Channel,
    options::{QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
};

use super::settings::{ConsumerSettings, QueueType};

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// The arguments every queue of the topology shares: its type. All of them (work, retry levels,
/// parking) are of the configured type, so with quorum queues no message in any of them is on
/// one node only.
fn queue_args(s: &ConsumerSettings) -> FieldTable {
    let mut args = FieldTable::default();
    if s.queue_type == QueueType::Quorum {
        // Replicated across the cluster's nodes (Raft): survives the loss of a minority.
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    args
}

/// The queues of a consumer's topology, each with its declare arguments: the work queue, each
/// retry level, then the parking queue.
pub fn topology_queues(s: &ConsumerSettings) -> Vec<(String, FieldTable)> {
    let mut queues = vec![(s.queue.clone(), queue_args(s))];
    for (i, delay) in s.retry_delays.iter().enumerate() {
        let mut args = queue_args(s);
        // Every message here waits exactly this level's delay...
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        );
        // ...then is dead-lettered through the default exchange straight back to the work queue.
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(s.queue.as_str().into()),
        );
        if s.queue_type == QueueType::Quorum {
            // A quorum queue dead-letters at most once unless told otherwise; at least once
            // (which needs reject-publish on overflow) so no retried event is lost on the way.
            args.insert(
                "x-dead-letter-strategy".into(),
                AMQPValue::LongString("at-least-once".into()),
            );
            args.insert(
                "x-overflow".into(),
                AMQPValue::LongString("reject-publish".into()),
            );
        }
        queues.push((s.retry_queue(i + 1), args));
    }
    queues.push((s.dead_queue(), queue_args(s)));
    queues
}

/// Declares the exchange, the queues of [`topology_queues`] and the work queue's bindings.
/// Idempotent.
pub async fn declare_topology(channel: &Channel, s: &ConsumerSettings) -> anyhow::Result<()> {
    crate::amqp::declare_events_exchange(channel, &s.amqp.exchange).await?;
    for (queue, args) in topology_queues(s) {
        channel
            .queue_declare(queue.as_str().into(), durable(), args)
            .await
            .with_context(|| format!("cannot declare queue {queue}"))?;
    }
    for key in &s.bindings {
        channel
            .queue_bind(
                s.queue.as_str().into(),
                s.amqp.exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// Sets `consumer_queue_depth` and `consumer_dead_letters` from passive declares.
pub(super) async fn measure(channel: &Channel, s: &ConsumerSettings) {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    for (queue, gauge) in [
        (s.queue.clone(), "consumer_queue_depth"),
        (s.dead_queue(), "consumer_dead_letters"),
    ] {
        if let Ok(q) = channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
        {
            metrics::gauge!(gauge, "queue" => s.queue.clone()).set(f64::from(q.message_count()));
        }
    }
}
