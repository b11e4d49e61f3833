//! `TestApp` (feature `testing`): a running inventory-svc on the shared test servers, with typed
//! helpers. Its own tests use it, and so do the tests of services that call inventory-svc
//! (order-svc's), instead of wiring one by hand.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{collections::HashMap, time::Duration};

use crate::{Application, config::InventoryConfig, domain::Ledger};
use platform::{
    config::{AmqpConfig, Env, RedisConfig},
    testing,
};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// How a test wants its application set up.
pub struct Options {
    pub default_stock: Option<u64>,
    pub hold: Duration,
    pub reaper_interval: Duration,
    pub sweep_interval: Duration,
    /// Where the app finds RabbitMQ (a proxy, for outage tests).
    pub amqp_url: Option<String>,
    /// Where the app finds Redis (a private server, for restart tests).
    pub redis_url: Option<String>,
    /// The broker and exchange, when the app shares them with other services of a test.
    pub amqp: Option<AmqpConfig>,
    /// The Redis key prefix, when the app shares it with other services of a test.
    pub redis: Option<RedisConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            default_stock: None,
            hold: Duration::from_secs(30),
            reaper_interval: Duration::from_millis(100),
            sweep_interval: Duration::from_millis(500),
            amqp_url: None,
            redis_url: None,
            amqp: None,
            redis: None,
        }
    }
}

/// A running inventory-svc; dropped, it stops and deletes its keys and exchange.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub redis: RedisConfig,
    pub amqp: AmqpConfig,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Stops the test with a message naming a dependency that is not running and how to start it:
/// a test never silently skips.
async fn require(name: &str, url: &str, how: &str) {
    let addr = testing::socket_addr_of(url);
    if tokio::net::TcpStream::connect(addr).await.is_err() {
        panic!("{name} is not reachable at {addr} ({url}). Start it with: {how}");
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    platform::telemetry::init_for_tests();
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
    vars.insert("PORT".into(), "0".into());
    vars.insert("HOST".into(), "127.0.0.1".into());
    vars.insert("HTTP_WORKERS".into(), "2".into());
    vars.remove("DEFAULT_STOCK");
    let mut config = InventoryConfig::from_env(&Env::new(&vars)).expect("test configuration");
    config.redis = options.redis.unwrap_or_else(testing::redis_config);
    config.amqp = options.amqp.unwrap_or_else(testing::amqp_config);
    require(
        "Redis",
        &config.redis.urls()[0],
        "redis-server --daemonize yes --port 6379 --save '' --appendonly no",
    )
    .await;
    require(
        "RabbitMQ",
        &config.amqp.url,
        "rabbitmq-server -detached (Debian: apt-get install -y rabbitmq-server)",
    )
    .await;
    if let Some(url) = options.redis_url {
        // A test's own single server (e.g. one it restarts), whatever the suite runs on.
        config.redis.url = url;
        config.redis.cluster = false;
    }
    let real_amqp = config.amqp.clone();
    if let Some(url) = options.amqp_url {
        config.amqp.url = url;
    }
    config.default_stock = options
        .default_stock
        .map(|n| serde_json::from_value(json!(n)).unwrap());
    config.reservation_hold = options.hold;
    config.reaper_interval = options.reaper_interval;
    config.outbox_sweep_interval = options.sweep_interval;
    config.http.shutdown_timeout = Duration::from_secs(2);

    let redis = config.redis.clone();
    let app = Application::build(config)
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        redis,
        amqp: real_amqp,
        shutdown,
        task: Some(task),
    }
}

impl TestApp {
    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request sent")
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request sent")
    }

    /// Adds an item (as admin) and checks it was created.
    pub async fn add_item(&self, id: &str, stock: u64, threshold: Option<u64>) {
        let mut body = json!({ "id": id, "name": format!("Item {id}"), "stock": stock });
        if let Some(t) = threshold {
            body["low_stock_threshold"] = json!(t);
        }
        let res = self.admin(Method::POST, "/items", Some(body)).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
    }

    pub async fn set_stock(&self, id: &str, stock: u64) -> Response {
        self.admin(
            Method::PUT,
            &format!("/items/{id}"),
            Some(json!({ "stock": stock })),
        )
        .await
    }

    pub async fn item(&self, id: &str) -> Value {
        let res = self
            .request(Method::GET, &format!("/items/{id}"), None)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    pub async fn stock(&self, id: &str) -> u64 {
        self.item(id).await["stock"].as_u64().unwrap()
    }

    pub async fn ledger(&self, id: &str) -> Ledger {
        let res = self
            .request(Method::GET, &format!("/ledger/{id}"), None)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// `POST /reserve` with `(item, quantity)` lines.
    pub async fn reserve(&self, rid: &str, lines: &[(&str, u64)]) -> Response {
        self.request(
            Method::POST,
            "/reserve",
            Some(json!({ "reservation_id": rid, "lines": lines_json(lines) })),
        )
        .await
    }

    /// `POST /reservations/{rid}/{action}` with `(item, quantity)` lines.
    pub async fn settle(&self, action: &str, rid: &str, lines: &[(&str, u64)]) -> Response {
        self.request(
            Method::POST,
            &format!("/reservations/{rid}/{action}"),
            Some(json!({ "lines": lines_json(lines) })),
        )
        .await
    }

    /// `POST /reservations/{action}` with `(reservation id, lines)` entries.
    pub async fn settle_batch(&self, action: &str, entries: &[(&str, &[(&str, u64)])]) -> Response {
        let reservations: Vec<Value> = entries
            .iter()
            .map(|(rid, lines)| json!({ "reservation_id": rid, "lines": lines_json(lines) }))
            .collect();
        self.request(
            Method::POST,
            &format!("/reservations/{action}"),
            Some(json!({ "reservations": reservations })),
        )
        .await
    }
}

pub fn lines_json(lines: &[(&str, u64)]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|(item, q)| json!({ "item_id": item, "quantity": q }))
            .collect(),
    )
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The app winds down on its own once cancelled (or with the test's runtime).
        self.shutdown.cancel();
        let (redis, amqp) = (self.redis.clone(), self.amqp.clone());
        testing::block_on_fresh_thread(async move {
            testing::delete_redis_prefix(&redis).await;
            testing::delete_exchange(&amqp.url, &amqp.exchange).await;
        });
    }
}

impl TestApp {
    /// Stops the app gracefully and waits for it (its relay publishes what is pending).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let ended = tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("app stops within 20s");
            ended.unwrap().unwrap();
        }
    }
}
