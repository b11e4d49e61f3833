//! Confirmed orders per second and latency of `POST /orders`, at several concurrency levels,
//! with inventory-svc, pricing-svc and order-svc running in this process on the real Redis,
//! Postgres and RabbitMQ, driven by `wrk`.
//!
//! Run: `make bench-orders` (= `cargo bench -p order-svc --bench orders`); needs `wrk`.
//! Knobs: `BENCH_SECONDS` per level (default 10), `BENCH_LEVELS` (default `8,32,128`),
//! and the usual `REDIS_URL`, `DATABASE_URL`, `AMQP_URL`.
//!
//! Every request orders one unit of an item with enough stock for the whole run, so every
//! answer is a 201: each is a price quote, a reservation, one transaction (order + outbox row),
//! a confirmation, and the relays publishing every event.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{collections::HashMap, process::Command, time::Duration};

use platform::{
    config::Env,
    testing::{self, TestDatabase},
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const ADMIN: &str = "bench-admin-token";

fn vars() -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("ADMIN_TOKEN".into(), ADMIN.into());
    vars.insert("PORT".into(), "0".into());
    vars.remove("DEFAULT_STOCK");
    vars
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let levels: Vec<usize> = std::env::var("BENCH_LEVELS")
        .unwrap_or_else(|_| "8,32,128".into())
        .split(',')
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let shutdown = CancellationToken::new();
    let amqp = testing::amqp_config();
    let redis = testing::redis_config();

    let mut inv = inventory_svc::config::InventoryConfig::from_env(&Env::new(&vars())).unwrap();
    inv.redis = redis.clone();
    inv.redis.pool_size = 64;
    inv.amqp = amqp.clone();
    let inventory = inventory_svc::Application::build(inv).await.unwrap();
    let inventory_url = format!("http://127.0.0.1:{}", inventory.port());
    tokio::spawn(inventory.run_until_stopped(shutdown.clone()));

    let pricing_db = TestDatabase::create(pricing_svc::migrations()).await;
    let mut pri = pricing_svc::config::PricingConfig::from_env(&Env::new(&vars())).unwrap();
    pri.postgres = pricing_db.config.clone();
    pri.postgres.pool_size = 32;
    pri.amqp = amqp.clone();
    let pricing = pricing_svc::Application::build(pri).await.unwrap();
    let pricing_url = format!("http://127.0.0.1:{}", pricing.port());
    tokio::spawn(pricing.run_until_stopped(shutdown.clone()));

    let order_db = TestDatabase::create(order_svc::migrations()).await;
    let mut ord = order_svc::config::OrderConfig::from_env(&Env::new(&vars())).unwrap();
    ord.postgres = order_db.config.clone();
    ord.postgres.pool_size = 32;
    ord.amqp = amqp.clone();
    ord.inventory.url = inventory_url.clone();
    ord.pricing.url = pricing_url.clone();
    let order = order_svc::Application::build(ord).await.unwrap();
    let order_url = format!("http://127.0.0.1:{}", order.port());
    let workers = 2;
    tokio::spawn(order.run_until_stopped(shutdown.clone()));

    let client = reqwest::Client::new();
    let res = client
        .post(format!("{inventory_url}/items"))
        .bearer_auth(ADMIN)
        .json(&json!({"id": "bench", "name": "Bench", "stock": 1_000_000_000u64, "low_stock_threshold": 0}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let res = client
        .put(format!("{pricing_url}/price/bench"))
        .bearer_auth(ADMIN)
        .json(&json!({"price_cents": 1000, "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());

    let script = std::env::temp_dir().join(testing::unique_name("wrk-order") + ".lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.body = '{\"item_id\":\"bench\",\"quantity\":1}'\n",
    )
    .unwrap();
    let wrk = |connections: usize, secs: u64| {
        let out = Command::new("wrk")
            .args([
                "-t",
                "2",
                "-c",
                &connections.to_string(),
                "-d",
                &format!("{secs}s"),
                "--latency",
                "-s",
            ])
            .arg(&script)
            .arg(format!("{order_url}/orders"))
            .output()
            .expect("wrk runs (apt-get install -y wrk)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    wrk(8, 2); // warm-up
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!();
    println!(
        "order-svc POST /orders benchmark: release build, {cores} cores, all three services and Redis, Postgres, RabbitMQ on this machine"
    );
    println!(
        "  {:>11}  {:>10}  {:>9}  {:>9}  {:>9}",
        "connections", "orders/s", "p50", "p90", "p99"
    );
    for level in levels {
        let report = wrk(level, seconds);
        assert!(
            !report.contains("Non-2xx"),
            "some orders were not confirmed:\n{report}"
        );
        let field = |label: &str| {
            report
                .lines()
                .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
                .unwrap_or_else(|| panic!("no {label:?} in:\n{report}"))
        };
        println!(
            "  {level:>11}  {:>10}  {:>9}  {:>9}  {:>9}",
            field("Requests/sec:"),
            field("50%"),
            field("90%"),
            field("99%")
        );
    }
    println!("  ({workers} HTTP workers per service; every answer was a 201)");
    println!("  reproduce: make bench-orders   (knobs: BENCH_SECONDS, BENCH_LEVELS)");
    let _ = std::fs::remove_file(&script);
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
    testing::delete_redis_prefix(&redis).await;
    testing::delete_exchange(&amqp.url, &amqp.exchange).await;
}
