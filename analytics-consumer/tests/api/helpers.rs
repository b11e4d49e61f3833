//! `TestConsumer`: a running analytics-consumer, and events to feed it.

use std::{collections::HashMap, sync::Arc, time::Duration};

use analytics_consumer::{Application, config::AnalyticsConfig};
use chrono::{DateTime, Utc};
use platform::{
    amqp::ConfirmingPublisher,
    config::{AmqpConfig, Env},
    event::EventEnvelope,
    testing::{self, TestDatabase},
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One consumer replica's place: its database and queue (shared by replicas).
#[derive(Clone)]
pub struct Place {
    pub db: Arc<TestDatabase>,
    pub amqp: AmqpConfig,
    pub queue: String,
}

impl Place {
    pub async fn new(amqp: &AmqpConfig) -> Self {
        Self {
            db: Arc::new(TestDatabase::create(analytics_consumer::migrations()).await),
            amqp: amqp.clone(),
            queue: testing::unique_name("test.analytics"),
        }
    }

    pub fn queues(&self) -> Vec<String> {
        vec![
            self.queue.clone(),
            format!("{}.retry.1", self.queue),
            format!("{}.retry.2", self.queue),
            format!("{}.dead", self.queue),
        ]
    }
}

pub struct TestConsumer {
    pub address: String,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts a replica at `place`, reaching the broker at `amqp_url` (a proxy, for outage tests).
pub async fn spawn_consumer(place: &Place, amqp_url: Option<String>) -> TestConsumer {
    platform::telemetry::init_for_tests();
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("PORT".into(), "0".into());
    vars.insert("HTTP_WORKERS".into(), "1".into());
    vars.insert("RETRY_DELAYS".into(), "100ms,200ms".into());
    let mut config = AnalyticsConfig::from_env(&Env::new(&vars)).unwrap();
    config.postgres = place.db.config.clone();
    config.consumer.amqp = place.amqp.clone();
    if let Some(url) = amqp_url {
        config.consumer.amqp.url = url;
    }
    config.consumer.queue = place.queue.clone();
    let app = Application::build(config).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let consumer = TestConsumer {
        address,
        client: reqwest::Client::new(),
        shutdown,
        task: Some(task),
    };
    let ready = testing::eventually(Duration::from_secs(10), || async {
        consumer.get("/readyz").await.0 == 200
    })
    .await;
    assert!(ready, "the consumer did not become ready");
    consumer
}

impl TestConsumer {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Stops it gracefully.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
    }

    /// Kills it: no chance to finish or ack anything.
    pub fn kill(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.shutdown.cancel();
    }
}

impl Drop for TestConsumer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Removes a test's queues and exchange.
pub fn clean_up(places: &[&Place]) {
    let work: Vec<(String, Vec<String>, String)> = places
        .iter()
        .map(|p| (p.amqp.url.clone(), p.queues(), p.amqp.exchange.clone()))
        .collect();
    testing::block_on_fresh_thread(async move {
        for (url, queues, exchange) in work {
            testing::delete_queues(&url, &queues).await;
            testing::delete_exchange(&url, &exchange).await;
        }
    });
}

/// An order event as order-svc sends it.
pub fn order_event(
    kind: &str,
    at: DateTime<Utc>,
    placed: DateTime<Utc>,
    total: i64,
    currency: &str,
) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7(),
        kind: kind.to_owned(),
        occurred_at: at,
        source: "order-svc".to_owned(),
        data: json!({
            "order_id": Uuid::now_v7(),
            "item_id": "widget",
            "quantity": 1,
            "status": "confirmed",
            "unit_price_cents": total,
            "total_cents": total,
            "currency": currency,
            "created_at": placed,
        }),
    }
}

/// A stock_changed event as inventory-svc sends it.
pub fn stock_event(item: &str, stock: i64, threshold: i64, version: i64) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7(),
        kind: "stock_changed".to_owned(),
        occurred_at: Utc::now(),
        source: "inventory-svc".to_owned(),
        data: json!({"item_id": item, "name": format!("Item {item}"), "reason": "adjusted",
            "delta": 0, "stock": stock, "reserved": 0, "threshold": threshold, "version": version}),
    }
}

pub async fn publish(amqp: &AmqpConfig, events: &[EventEnvelope]) {
    let mut publisher = ConfirmingPublisher::new(amqp.clone(), "test-publisher");
    for chunk in events.chunks(500) {
        publisher.publish_all(chunk).await.unwrap();
    }
}
