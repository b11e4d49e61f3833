//! `Stack`: the three services wired together for one test, with typed helpers. inventory-svc
//! and pricing-svc are their crates' own test apps (`inventory_svc::testing`,
//! `pricing_svc::testing`), sharing the test's exchange and Redis keys.

use std::{collections::HashMap, sync::Arc, time::Duration};

use platform::{
    config::{AmqpConfig, Env},
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
    /// How often the stock sync runs (200 ms unless set).
    pub stock_sync_interval: Option<Duration>,
    /// `PRICE_BOOK_TTL` (the default unless set; zero turns the price book off).
    pub price_book_ttl: Option<Duration>,
}

pub struct Stack {
    pub order: String,
    pub inventory: String,
    pub client: reqwest::Client,
    pub amqp: AmqpConfig,
    pub order_db: Arc<TestDatabase>,
    pub inventory_proxy: Option<TcpProxy>,
    pub pricing_proxy: Option<TcpProxy>,
    pub broker_proxy: Option<TcpProxy>,
    shutdown: CancellationToken,
    inventory_app: inventory_svc::testing::TestApp,
    pricing_app: pricing_svc::testing::TestApp,
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

/// The port of an address like `http://127.0.0.1:1234`.
fn port_of(address: &str) -> u16 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

pub async fn spawn_stack() -> Stack {
    spawn_stack_with(Options::default()).await
}

pub async fn spawn_stack_with(options: Options) -> Stack {
    platform::telemetry::init_for_tests();
    let shutdown = CancellationToken::new();
    let amqp = testing::amqp_config();
    let redis = testing::redis_config();

    let inventory_app = inventory_svc::testing::spawn_app_with(inventory_svc::testing::Options {
        hold: options.hold.unwrap_or(Duration::from_secs(30)),
        amqp: Some(amqp.clone()),
        redis: Some(redis),
        ..Default::default()
    })
    .await;
    let inventory_port = port_of(&inventory_app.address);

    let pricing_app =
        pricing_svc::testing::spawn_replica(&pricing_svc::testing::database().await, &amqp).await;
    let pricing_port = port_of(&pricing_app.address);

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
    ord.stock_sync_interval = options
        .stock_sync_interval
        .unwrap_or(Duration::from_millis(200));
    if let Some(ttl) = options.price_book_ttl {
        ord.price_book_ttl = ttl;
    }
    ord.http.shutdown_timeout = Duration::from_secs(2);
    let order = order_svc::Application::build(ord).await.unwrap();
    let order_port = order.port();
    tokio::spawn(order.run_until_stopped(shutdown.clone()));

    Stack {
        order: format!("http://127.0.0.1:{order_port}"),
        inventory: format!("http://127.0.0.1:{inventory_port}"),
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
        shutdown,
        inventory_app,
        pricing_app,
    }
}

impl Stack {
    /// Adds an item with `stock` units priced at `cents` EUR.
    pub async fn item(&self, id: &str, stock: u64, cents: u64) {
        self.inventory_app.add_item(id, stock, None).await;
        if cents > 0 {
            self.price(id, cents).await;
        }
    }

    pub async fn price(&self, id: &str, cents: u64) {
        let res = self.pricing_app.set_price(id, cents, "EUR").await;
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
        self.inventory_app.ledger(item).await
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
        self.count_by("status").await
    }

    /// Order rows by where their units stand (`stock`), straight from order-svc's database.
    pub async fn stock_counts(&self) -> HashMap<String, i64> {
        self.count_by("stock").await
    }

    /// Order rows by the value of `column` (a fixed name, never input).
    async fn count_by(&self, column: &str) -> HashMap<String, i64> {
        let (client, conn) =
            tokio_postgres::connect(&self.order_db.config.url, tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(conn);
        client
            .query(
                &format!("SELECT {column}, count(*) FROM orders GROUP BY {column}"),
                &[],
            )
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
        // order-svc first; inventory-svc and pricing-svc stop and delete their keys and the
        // exchange when their test apps are dropped, right after.
        self.shutdown.cancel();
        testing::block_on_fresh_thread(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
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
