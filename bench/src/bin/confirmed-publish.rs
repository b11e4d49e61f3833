//! `confirmed-publish`: how many persistent, confirmed messages per second RabbitMQ takes from
//! one publisher, the way the outbox relays publish: batches of `BENCH_PUBLISH_BATCH` (default
//! 100) messages handed to lapin together (`platform::amqp::publish_together`), then a wait for
//! every confirm of the batch before the next one.
//!
//! Each message is a real `order_created` envelope (built with `platform`'s event types, so it
//! has an event's size) with the properties the relays give it (persistent, JSON, message id).
//! It goes through the default exchange to a durable classic queue of this run's own
//! (`sioms-bench.confirmed-publish.<pid>`), declared at the start and deleted at the end, so
//! nothing of a running stack is touched.
//!
//! Environment: `AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`), `BENCH_SECONDS`
//! (default 10, after a one-second warm-up), `BENCH_PUBLISH_BATCH` (default 100).
//!
//! Output: a summary on stderr, and on stdout only the rate (messages per second), for
//! `scripts/bench/rabbitmq.sh`.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use lapin::{
    BasicProperties, Channel, Confirmation,
    options::{QueueDeclareOptions, QueueDeleteOptions},
    types::FieldTable,
};
use platform::{
    amqp,
    contract::{ItemId, OrderStatus},
    event::{Event, EventEnvelope, OrderSnapshot, now_micros},
};

fn env_or(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name} must be a whole number, not {v:?}")),
        Err(_) => Ok(default),
    }
}

/// The body and properties of one `order_created` event, as order-svc's relay publishes it.
fn order_created() -> anyhow::Result<(Vec<u8>, BasicProperties)> {
    let now = now_micros();
    let snapshot = OrderSnapshot {
        order_id: uuid::Uuid::now_v7(),
        item_id: ItemId::parse("bench-1700000000").map_err(anyhow::Error::msg)?,
        quantity: 1,
        status: OrderStatus::Confirmed,
        unit_price_cents: 100,
        total_cents: 100,
        currency: "EUR".to_owned(),
        reason: None,
        created_at: now,
    };
    let envelope = EventEnvelope::new(&Event::OrderCreated(snapshot), "order-svc", now);
    let body = serde_json::to_vec(&envelope).context("cannot encode the event")?;
    Ok((body, amqp::properties(&envelope)))
}

/// Publishes batches until `for_how_long` has passed; the messages confirmed.
async fn publish_for(
    channel: &Channel,
    queue: &str,
    batch: u64,
    (body, props): &(Vec<u8>, BasicProperties),
    for_how_long: Duration,
) -> anyhow::Result<u64> {
    let start = Instant::now();
    let mut confirmed = 0;
    while start.elapsed() < for_how_long {
        // As the relays publish (platform::amqp::publish_together): the whole batch handed to
        // lapin at once, then its confirms awaited together.
        let messages = (0..batch).map(|_| amqp::Outgoing {
            exchange: "",
            routing_key: queue,
            payload: body,
            properties: props.clone(),
        });
        for outcome in amqp::publish_together(channel, messages).await? {
            if matches!(outcome, Confirmation::Nack(_)) {
                anyhow::bail!("RabbitMQ refused (nacked) a message");
            }
        }
        confirmed += batch;
    }
    Ok(confirmed)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let seconds = env_or("BENCH_SECONDS", 10)?.max(1);
    let batch = env_or("BENCH_PUBLISH_BATCH", 100)?.max(1);
    let message = order_created()?;
    let queue = format!("sioms-bench.confirmed-publish.{}", std::process::id());

    let conn = amqp::connect(&url, "sioms-bench confirmed-publish").await?;
    let channel = amqp::confirming_channel(&conn).await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.as_str().into(), durable, FieldTable::default())
        .await
        .with_context(|| format!("cannot declare queue {queue}"))?;

    let measured = async {
        publish_for(&channel, &queue, batch, &message, Duration::from_secs(1)).await?;
        let start = Instant::now();
        let n = publish_for(
            &channel,
            &queue,
            batch,
            &message,
            Duration::from_secs(seconds),
        )
        .await?;
        anyhow::Ok((n, start.elapsed()))
    }
    .await;
    // The queue goes whatever happened, with the messages in it.
    let deleted = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = conn.close(0, "benchmark done".into()).await;
    let (n, elapsed) = measured?;
    deleted.with_context(|| format!("cannot delete queue {queue}"))?;

    let rate = n as f64 / elapsed.as_secs_f64();
    eprintln!(
        "confirmed-publish: {n} persistent {}-byte messages in {:.1} s, batches of {batch} \
         (handed to lapin together, then their confirms awaited), durable classic queue: {rate:.0} messages/s",
        message.0.len(),
        elapsed.as_secs_f64()
    );
    println!("{rate:.1}");
    Ok(())
}
