//! Reservations per second through the HTTP API, next to `redis-benchmark` running the very same
//! `reserve.lua` (prelude included) on the same Redis, in one run.
//!
//! Run: `make bench-inventory` (= `cargo bench -p inventory-svc --bench reservations`). It needs
//! `wrk` and `redis-benchmark` (Debian: `apt-get install -y wrk redis-tools`).
//! Knobs: `BENCH_SECONDS` (default 10), `BENCH_CONNECTIONS` (default 64), `BENCH_CLIENTS` for
//! redis-benchmark (default 50), `BENCH_AMQP_URL` (point it at a closed port to measure without
//! the relay), and the usual `REDIS_URL` / `AMQP_URL`.
//!
//! Both sides are driven by a C load generator on the same machine and do the same work per
//! call: a fresh reservation id, one unit of an item with plenty of stock, one `stock_changed`
//! event appended to the outbox stream. The API side also pays for HTTP, JSON, validation, the
//! pool, metrics, and the relay publishing every event to RabbitMQ with confirms.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{collections::HashMap, path::Path, process::Command, time::Duration};

use inventory_svc::{Application, config::InventoryConfig, store::RESERVE_SOURCE};
use platform::{config::Env, testing};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn env_or(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let seconds = env_or("BENCH_SECONDS", 10);
    let connections = env_or("BENCH_CONNECTIONS", 64);
    let clients = env_or("BENCH_CLIENTS", 50);

    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("ADMIN_TOKEN".into(), "bench-admin-token".into());
    vars.insert("PORT".into(), "0".into());
    let mut config = InventoryConfig::from_env(&Env::new(&vars)).expect("configuration");
    config.redis = testing::redis_config();
    config.amqp = testing::amqp_config();
    if let Ok(url) = std::env::var("BENCH_AMQP_URL") {
        config.amqp.url = url;
    }
    config.redis.pool_size = 64;
    config.reservation_hold = Duration::from_secs(600);
    let (redis, amqp) = (config.redis.clone(), config.amqp.clone());
    let workers = config.http.workers;

    let app = Application::build(config).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let res = reqwest::Client::new()
        .post(format!("{base}/items"))
        .bearer_auth("bench-admin-token")
        .json(&json!({"id": "bench", "name": "Bench", "stock": 1_000_000_000u64, "low_stock_threshold": 0}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "cannot create the bench item");

    let wrk_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/wrk-reserve.lua");
    let wrk = |seconds: usize| {
        let output = Command::new("wrk")
            .args([
                "-t",
                "2",
                "-c",
                &connections.to_string(),
                "-d",
                &format!("{seconds}s"),
            ])
            .args(["--latency", "-s"])
            .arg(&wrk_script)
            .arg(&base)
            .output()
            .expect("wrk runs (apt-get install -y wrk)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    wrk(2); // warm-up: connections, script cache, allocator
    let report = wrk(seconds);
    assert!(
        !report.contains("Non-2xx"),
        "some reservations failed:\n{report}"
    );
    let field = |label: &str| -> String {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {label:?} in wrk's report:\n{report}"))
    };
    let api_rate: f64 = field("Requests/sec:").parse().unwrap();
    let (p50, p99) = (field("50%"), field("99%"));

    // Stop the service first: its relay must not compete with redis-benchmark for the CPU.
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(20), server).await;

    // The same script, straight into Redis.
    let redis_addr = testing::socket_addr_of(&redis.url);
    let sha: String = {
        let client = redis::Client::open(redis.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(RESERVE_SOURCE)
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    let item = format!("{}item:{{bench-direct}}", redis.key_prefix);
    let now = chrono::Utc::now().timestamp_millis().to_string();
    // Create the item the script reserves from (with its own keys, so both sides start alike).
    {
        let client = redis::Client::open(redis.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("HSET")
            .arg(&item)
            .arg(&[
                ("name", "Bench"),
                ("stock", "1000000000"),
                ("held", "0"),
                ("sold", "0"),
                ("provisioned", "1000000000"),
                ("threshold", "0"),
                ("low_armed", "1"),
                ("version", "0"),
            ])
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let direct_requests = (api_rate as usize * seconds * 3).max(100_000).to_string();
    let output = Command::new("redis-benchmark")
        .args([
            "-h",
            &redis_addr.ip().to_string(),
            "-p",
            &redis_addr.port().to_string(),
        ])
        .args([
            "-n",
            &direct_requests,
            "-c",
            &clients.to_string(),
            "-r",
            "1000000000",
            "--csv",
        ])
        .args(["EVALSHA", &sha, "5"])
        .arg(&item)
        .arg(format!("{item}:holds"))
        .arg(format!("{item}:expiry"))
        .arg(format!("{item}:done"))
        .arg(format!("{item}:outbox"))
        .args(["bench-direct", &now, "604800000"])
        .args([
            "0190a0a0-0000-7000-8000-000000000001",
            "0190a0a0-0000-7000-8000-000000000002",
        ])
        .args(["direct:__rand_int__", "1", "600000", "", "0"])
        .output()
        .expect("redis-benchmark runs (apt-get install -y redis-tools)");
    let csv = String::from_utf8_lossy(&output.stdout);
    let direct_rate: f64 = csv
        .lines()
        .filter_map(|l| l.split(',').nth(1))
        .filter_map(|v| v.trim_matches('"').parse().ok())
        .next()
        .unwrap_or_else(|| {
            panic!(
                "cannot read redis-benchmark's output: {csv} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });

    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!();
    println!(
        "inventory-svc reservation benchmark: release build, {cores} cores, {workers} HTTP workers"
    );
    println!(
        "  HTTP API, POST /reserve (wrk, {connections} connections, {seconds}s): {api_rate:>8.0} /s   p50 {p50}  p99 {p99}"
    );
    println!(
        "  reserve.lua via redis-benchmark (EVALSHA, {clients} clients):     {direct_rate:>8.0} /s"
    );
    println!(
        "  API / bare script: {:.0}%",
        100.0 * api_rate / direct_rate
    );
    println!(
        "  reproduce: make bench-inventory   (knobs: BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_CLIENTS, BENCH_AMQP_URL)"
    );

    testing::delete_redis_prefix(&redis).await;
    testing::delete_exchange(&amqp.url, &amqp.exchange).await;
}
