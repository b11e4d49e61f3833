//! `Stack`: the three services wired together for one test, with typed helpers.

use std::{collections::HashMap, sync::Arc, time::Duration};

use platform::{
    config::{AmqpConfig, Env, RedisConfig},
    testing::{self, TcpProxy, TestDatabase},
};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Which links of order-svc go through a proxy a test can cut.
#[derive(Default)]
pub struct Options {
    pub proxy_inventory: bool,
    pub proxy_pricing: bool,
    pub proxy_broker: bool,
    pub hold: Option<Duration>,
}

pub struct Stack {
    pub order: String,
    pub inventory: String,
    pub pricing: String,
    pub client: reqwest::Client,
    pub amqp: AmqpConfig,
    pub order_db: Arc<TestDatabase>,
    pub inventory_proxy: Option<TcpProxy>,
    pub pricing_proxy: Option<TcpProxy>,
    pub broker_proxy: Option<TcpProxy>,
    redis: RedisConfig,
    shutdown: CancellationToken,
    _pricing_db: Arc<TestDatabase>,
}

fn vars() -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
    vars.insert("PORT".into(), "0".into());
    vars.insert("HTTP_WORKERS".into(), "2".into());
    vars.remove("DEFAULT_STOCK");
    vars
}

async fn proxy_to(port: u16) -> TcpProxy {
    TcpProxy::start(format!("127.0.0.1:{port}").parse().unwrap()).await
}

pub async fn spawn_stack() -> Stack {
    spawn_stack_with(Options::default()).await
}

pub async fn spawn_stack_with(options: Options) -> Stack {
    platform::telemetry::init_for_tests();
    let shutdown = CancellationToken::new();
    let amqp = testing::amqp_config();
    let redis = testing::redis_config();

    let mut inv = inventory_svc::config::InventoryConfig::from_env(&Env::new(&vars())).unwrap();
    inv.redis = redis.clone();
    inv.amqp = amqp.clone();
    inv.reservation_hold = options.hold.unwrap_or(Duration::from_secs(30));
    inv.reaper_interval = Duration::from_millis(100);
    let inventory = inventory_svc::Application::build(inv).await.unwrap();
    let inventory_port = inventory.port();
    tokio::spawn(inventory.run_until_stopped(shutdown.clone()));

    let pricing_db = Arc::new(TestDatabase::create(pricing_svc::migrations()).await);
    let mut pri = pricing_svc::config::PricingConfig::from_env(&Env::new(&vars())).unwrap();
    pri.postgres = pricing_db.config.clone();
    pri.amqp = amqp.clone();
    let pricing = pricing_svc::Application::build(pri).await.unwrap();
    let pricing_port = pricing.port();
    tokio::spawn(pricing.run_until_stopped(shutdown.clone()));

    let inventory_proxy = if options.proxy_inventory {
        Some(proxy_to(inventory_port).await)
    } else {
        None
    };
    let pricing_proxy = if options.proxy_pricing {
        Some(proxy_to(pricing_port).await)
    } else {
        None
    };
    let broker_proxy = if options.proxy_broker {
        Some(TcpProxy::start(testing::socket_addr_of(&amqp.url)).await)
    } else {
        None
    };

    let order_db = Arc::new(TestDatabase::create(order_svc::migrations()).await);
    let mut ord = order_svc::config::OrderConfig::from_env(&Env::new(&vars())).unwrap();
    ord.postgres = order_db.config.clone();
    ord.amqp = amqp.clone();
    if let Some(p) = &broker_proxy {
        ord.amqp.url = testing::with_addr(&amqp.url, p.addr());
    }
    ord.inventory.url = format!(
        "http://127.0.0.1:{}",
        inventory_proxy
            .as_ref()
            .map_or(inventory_port, |p| p.addr().port())
    );
    ord.pricing.url = format!(
        "http://127.0.0.1:{}",
        pricing_proxy
            .as_ref()
            .map_or(pricing_port, |p| p.addr().port())
    );
    for dep in [&mut ord.inventory, &mut ord.pricing] {
        dep.timeout = Duration::from_secs(2);
        dep.circuit_open_for = Duration::from_millis(500);
    }
    ord.outbox_poll_interval = Duration::from_millis(200);
    ord.stock_sync_interval = Duration::from_millis(200);
    ord.http.shutdown_timeout = Duration::from_secs(2);
    let order = order_svc::Application::build(ord).await.unwrap();
    let order_port = order.port();
    tokio::spawn(order.run_until_stopped(shutdown.clone()));

    Stack {
        order: format!("http://127.0.0.1:{order_port}"),
        inventory: format!("http://127.0.0.1:{inventory_port}"),
        pricing: format!("http://127.0.0.1:{pricing_port}"),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        amqp,
        order_db,
        inventory_proxy,
        pricing_proxy,
        broker_proxy,
        redis,
        shutdown,
        _pricing_db: pricing_db,
    }
}

impl Stack {
    /// Adds an item with `stock` units priced at `cents` EUR.
    pub async fn item(&self, id: &str, stock: u64, cents: u64) {
        let res = self
            .client
            .post(format!("{}/items", self.inventory))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"id": id, "name": format!("Item {id}"), "stock": stock}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        if cents > 0 {
            self.price(id, cents).await;
        }
    }

    pub async fn price(&self, id: &str, cents: u64) {
        let res = self
            .client
            .put(format!("{}/price/{id}", self.pricing))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"price_cents": cents, "currency": "EUR"}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }

    pub async fn post_order(&self, body: Value, key: Option<&str>) -> Response {
        let mut req = self
            .client
            .post(format!("{}/orders", self.order))
            .json(&body);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req.send().await.unwrap()
    }

    pub async fn order(&self, item: &str, quantity: u64) -> Response {
        self.post_order(json!({"item_id": item, "quantity": quantity}), None)
            .await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.order))
            .send()
            .await
            .unwrap()
    }

    pub async fn cancel(&self, id: &str) -> Response {
        self.client
            .post(format!("{}/orders/{id}/cancel", self.order))
            .send()
            .await
            .unwrap()
    }

    pub async fn ledger(&self, item: &str) -> inventory_svc::domain::Ledger {
        self.client
            .get(format!("{}/ledger/{item}", self.inventory))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until no hold of `item` is pending (confirmed or given back).
    pub async fn settled(&self, item: &str) -> inventory_svc::domain::Ledger {
        let ok = testing::eventually(Duration::from_secs(15), || async {
            self.ledger(item).await.reserved == 0
        })
        .await;
        let ledger = self.ledger(item).await;
        assert!(ok, "holds still pending: {ledger:?}");
        assert_eq!(
            (ledger.stock + ledger.reserved + ledger.sold) as i64,
            ledger.provisioned,
            "conservation: {ledger:?}"
        );
        ledger
    }

    /// Order rows by status, straight from order-svc's database.
    pub async fn counts(&self) -> HashMap<String, i64> {
        let (client, conn) =
            tokio_postgres::connect(&self.order_db.config.url, tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(conn);
        client
            .query("SELECT status, count(*) FROM orders GROUP BY status", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
            .collect()
    }

    /// Runs SQL in order-svc's database (to inject faults the real server can be told to have).
    pub async fn sql(&self, statement: &str) {
        let (client, conn) =
            tokio_postgres::connect(&self.order_db.config.url, tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(conn);
        client.batch_execute(statement).await.unwrap();
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let (redis, amqp) = (self.redis.clone(), self.amqp.clone());
        testing::block_on_fresh_thread(async move {
            // Let the services wind down before their storage goes away.
            tokio::time::sleep(Duration::from_millis(200)).await;
            testing::delete_redis_prefix(&redis).await;
            testing::delete_exchange(&amqp.url, &amqp.exchange).await;
        });
    }
}

pub async fn assert_problem(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}
