//! `TestApp` (feature `testing`): a running pricing-svc on its own database and exchange, for
//! its own tests and for the tests of services that call it (order-svc's).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{collections::HashMap, time::Duration};

use crate::{Application, config::PricingConfig};
use platform::{
    config::{AmqpConfig, Env},
    testing::{self, TestDatabase},
};
use reqwest::Response;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A running pricing-svc; dropped, it stops and deletes its exchange.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub amqp: AmqpConfig,
    shutdown: CancellationToken,
    _db: std::sync::Arc<TestDatabase>,
}

/// A fresh database for one test, migrated.
pub async fn database() -> std::sync::Arc<TestDatabase> {
    std::sync::Arc::new(TestDatabase::create(crate::migrations()).await)
}

pub async fn spawn_app() -> TestApp {
    spawn_replica(&database().await, &testing::amqp_config()).await
}

/// An app on an existing database and exchange: several of these are replicas of one service.
pub async fn spawn_replica(db: &std::sync::Arc<TestDatabase>, amqp: &AmqpConfig) -> TestApp {
    platform::telemetry::init_for_tests();
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
    vars.insert("PORT".into(), "0".into());
    vars.insert("HTTP_WORKERS".into(), "2".into());
    let mut config = PricingConfig::from_env(&Env::new(&vars)).expect("configuration");
    config.postgres = db.config.clone();
    config.amqp = amqp.clone();
    config.outbox_poll_interval = Duration::from_millis(200);
    config.http.shutdown_timeout = Duration::from_secs(2);
    let app = Application::build(config).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        amqp: amqp.clone(),
        shutdown,
        _db: db.clone(),
    }
}

impl TestApp {
    pub async fn set_price(&self, item: &str, cents: u64, currency: &str) -> Response {
        self.client
            .put(format!("{}/price/{item}", self.address))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"price_cents": cents, "currency": currency}))
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let amqp = self.amqp.clone();
        testing::block_on_fresh_thread(async move {
            testing::delete_exchange(&amqp.url, &amqp.exchange).await;
        });
    }
}
