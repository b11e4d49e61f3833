//! RabbitMQ for tests: an events exchange of the test's own, deleting exchanges and queues
//! afterwards, probing queue depths, publishing raw bytes, and [`EventTap`], which sees every
//! event as a third party would.

use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use lapin::{
    options::{BasicAckOptions, BasicConsumeOptions, ExchangeDeleteOptions},
    types::FieldTable,
};
use tokio_util::sync::CancellationToken;

use super::unique_name;
use crate::{
    config::{AmqpConfig, Env, ProcessEnv},
    event::EventEnvelope,
};

/// RabbitMQ settings from the environment, with a fresh exchange name.
pub fn amqp_config() -> AmqpConfig {
    let mut cfg = AmqpConfig::from_env(&Env::new(&ProcessEnv)).expect("AMQP_* variables");
    cfg.exchange = unique_name("test.events");
    cfg
}

/// Deletes an exchange (and with it its bindings).
pub async fn delete_exchange(url: &str, exchange: &str) {
    if let Ok(conn) = crate::amqp::connect(url, "test-cleanup").await {
        if let Ok(ch) = conn.create_channel().await {
            let _ = ch
                .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await;
        }
        let _ = conn.close(0, "cleanup".into()).await;
    }
}

/// Deletes queues (e.g. a consumer's work, retry and dead-letter queues).
pub async fn delete_queues(url: &str, queues: &[String]) {
    if let Ok(conn) = crate::amqp::connect(url, "test-cleanup").await {
        if let Ok(ch) = conn.create_channel().await {
            for q in queues {
                let _ = ch
                    .queue_delete(
                        q.as_str().into(),
                        lapin::options::QueueDeleteOptions::default(),
                    )
                    .await;
            }
        }
        let _ = conn.close(0, "cleanup".into()).await;
    }
}

/// How many messages wait in `queue` (a passive declare); the queue must exist.
pub async fn queue_depth(url: &str, queue: &str) -> u32 {
    let conn = crate::amqp::connect(url, "test-probe").await.unwrap();
    let depth = crate::amqp::queue_depth(&conn, queue).await.unwrap();
    let _ = conn.close(0, "probe done".into()).await;
    depth.unwrap_or_else(|| panic!("there is no queue {queue}"))
}

/// Publishes raw bytes to the events exchange (for messages no service would send).
pub async fn publish_raw(amqp: &AmqpConfig, routing_key: &str, body: &[u8]) {
    let conn = crate::amqp::connect(&amqp.url, "test-publisher")
        .await
        .unwrap();
    let ch = crate::amqp::confirming_channel(&conn).await.unwrap();
    crate::amqp::declare_events_exchange(&ch, &amqp.exchange)
        .await
        .unwrap();
    ch.basic_publish(
        amqp.exchange.as_str().into(),
        routing_key.into(),
        lapin::options::BasicPublishOptions::default(),
        body,
        lapin::BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let _ = conn.close(0, "published".into()).await;
}

/// A test queue bound to an events exchange with `#` (every type), collecting every envelope:
/// what a third party binding its own queue would see. The queue is exclusive and auto-delete,
/// so it disappears with the tap.
pub struct EventTap {
    seen: Arc<Mutex<Vec<EventEnvelope>>>,
    stop: CancellationToken,
}

impl EventTap {
    pub async fn bind(amqp: &AmqpConfig) -> Self {
        let conn = crate::amqp::connect(&amqp.url, "test-tap").await.unwrap();
        let ch = conn.create_channel().await.unwrap();
        let queue = crate::amqp::exclusive_events_queue(&ch, &amqp.exchange, "#")
            .await
            .unwrap();
        let mut consumer = ch
            .basic_consume(
                queue.name().clone(),
                "test-tap".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (sink, stopped) = (seen.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    next = consumer.next() => {
                        let Some(Ok(delivery)) = next else { break };
                        let envelope: EventEnvelope = serde_json::from_slice(&delivery.data)
                            .expect("every event is a valid envelope");
                        sink.lock().unwrap().push(envelope);
                        let _ = delivery.ack(BasicAckOptions::default()).await;
                    }
                }
            }
            let _ = conn.close(0, "tap done".into()).await;
        });
        Self { seen, stop }
    }

    /// Every envelope received so far.
    pub fn events(&self) -> Vec<EventEnvelope> {
        self.seen.lock().unwrap().clone()
    }

    /// Envelopes of one type received so far.
    pub fn of_kind(&self, kind: &str) -> Vec<EventEnvelope> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }
}

impl Drop for EventTap {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
