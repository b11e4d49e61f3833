//! Events per second drained by one consumer from a preloaded queue: analytics-consumer and
//! notifier-consumer, each on the real RabbitMQ and Postgres.
//!
//! Run: `make bench-consumers` (= `cargo bench -p analytics-consumer --bench drain`).
//! Knobs: `BENCH_EVENTS` (default 20000), and the usual `DATABASE_URL`, `AMQP_URL`.
//!
//! Each consumer runs twice in the same run: applying one event per transaction (batch 1,
//! prefetch 32, concurrency 8: the defaults before batching) and with its defaults (batches of
//! up to `CONSUMER_BATCH` per transaction). analytics gets what orders make: an `order_created`
//! and a `stock_changed` of one of 1,000 items, alternately; notifier gets `order_created` (it
//! does not bind `stock_changed`). The queue is declared and filled first; the clock starts when
//! the consumer starts and stops when every event has taken effect (counted in its database).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::Utc;
use platform::{
    amqp::ConfirmingPublisher,
    config::Env,
    consumer::{ConsumerSettings, declare_topology},
    event::EventEnvelope,
    testing::{self, TestDatabase},
};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn vars() -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("PORT".into(), "0".into());
    vars.insert("NOTIFY_RECIPIENTS".into(), "ops@example.com".into());
    vars.entry("RUST_LOG".into())
        .or_insert_with(|| "warn".into());
    vars
}

fn order_created(i: usize) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7(),
        kind: "order_created".into(),
        occurred_at: Utc::now(),
        source: "bench".into(),
        data: json!({"order_id": Uuid::now_v7(), "item_id": format!("item-{}", i % 1000), "quantity": 1,
            "status": "confirmed", "unit_price_cents": 100, "total_cents": 100 + i as i64 % 7,
            "currency": "EUR", "created_at": Utc::now()}),
    }
}

fn stock_changed(i: usize) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7(),
        kind: "stock_changed".into(),
        occurred_at: Utc::now(),
        source: "bench".into(),
        data: json!({"item_id": format!("item-{}", i % 1000), "name": "Bench", "reason": "reserved",
            "delta": -1, "stock": 1_000_000 - i, "reserved": 0, "threshold": 10, "version": i + 1}),
    }
}

/// What an order makes for analytics: an `order_created` and a `stock_changed`, alternately.
fn order_and_stock_events(n: usize) -> Vec<EventEnvelope> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                order_created(i)
            } else {
                stock_changed(i)
            }
        })
        .collect()
}

fn order_events(n: usize) -> Vec<EventEnvelope> {
    (0..n).map(order_created).collect()
}

/// Declares the consumer's topology and fills its queue.
async fn preload(settings: &ConsumerSettings, events: &[EventEnvelope]) {
    let conn = platform::amqp::connect(&settings.amqp.url, "bench-preload")
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    declare_topology(&ch, settings).await.unwrap();
    let _ = conn.close(0, "declared".into()).await;
    let mut publisher = ConfirmingPublisher::new(settings.amqp.clone(), "bench-preload");
    for chunk in events.chunks(1000) {
        publisher.publish_all(chunk).await.unwrap();
    }
}

async fn count(url: &str, sql: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.query_one(sql, &[]).await.unwrap().get(0)
}

async fn drain<F, Fut>(
    name: &str,
    db: &TestDatabase,
    settings: &ConsumerSettings,
    events: &[EventEnvelope],
    start: F,
) where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let n = events.len();
    preload(settings, events).await;
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    start(shutdown.clone()).await;
    let sql = "SELECT count(*) FROM processed_events";
    loop {
        if count(&db.config.url, sql).await >= n as i64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{name} did not drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "  {name:<20} {n} events in {:>6.2} s = {:>7.0} events/s  (batch {}, prefetch {}, concurrency {})",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        settings.batch,
        settings.prefetch,
        settings.concurrency
    );
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queues: Vec<String> = std::iter::once(settings.queue.clone())
        .chain((1..=settings.retry_delays.len()).map(|l| settings.retry_queue(l)))
        .chain(std::iter::once(settings.dead_queue()))
        .collect();
    testing::delete_queues(&settings.amqp.url, &queues).await;
    testing::delete_exchange(&settings.amqp.url, &settings.amqp.exchange).await;
}

/// The settings before batching: one event per transaction, prefetch 32, 8 handlers at once.
fn one_event_per_transaction(settings: &mut ConsumerSettings) {
    settings.batch = 1;
    settings.prefetch = 32;
    settings.concurrency = 8;
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    println!();
    println!(
        "consumer drain benchmark: release build, {} cores, RabbitMQ and Postgres on this machine",
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    for one_per_transaction in [true, false] {
        let vars = vars();
        let db = TestDatabase::create(analytics_consumer::migrations()).await;
        let mut config =
            analytics_consumer::config::AnalyticsConfig::from_env(&Env::new(&vars)).unwrap();
        config.postgres = db.config.clone();
        config.consumer.amqp = testing::amqp_config();
        config.consumer.queue = testing::unique_name("bench.analytics");
        if one_per_transaction {
            one_event_per_transaction(&mut config.consumer);
        }
        let settings = config.consumer.clone();
        drain(
            analytics_consumer::SERVICE,
            &db,
            &settings,
            &order_and_stock_events(n),
            |shutdown| async move {
                let app = analytics_consumer::Application::build(config)
                    .await
                    .unwrap();
                tokio::spawn(app.run_until_stopped(shutdown));
            },
        )
        .await;

        let db = TestDatabase::create(notifier_consumer::migrations()).await;
        let mut config =
            notifier_consumer::config::NotifierConfig::from_env(&Env::new(&vars)).unwrap();
        config.postgres = db.config.clone();
        config.consumer.amqp = testing::amqp_config();
        config.consumer.queue = testing::unique_name("bench.notifier");
        if one_per_transaction {
            one_event_per_transaction(&mut config.consumer);
        }
        let settings = config.consumer.clone();
        drain(
            notifier_consumer::SERVICE,
            &db,
            &settings,
            &order_events(n),
            |shutdown| async move {
                let app = notifier_consumer::Application::build(config).await.unwrap();
                tokio::spawn(app.run_until_stopped(shutdown));
            },
        )
        .await;
    }
    println!("  reproduce: make bench-consumers   (knobs: BENCH_EVENTS)");
}
