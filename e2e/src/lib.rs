//! End-to-end tests of SIOMS live in `tests/`: `make test` starts a whole stack with
//! `STACK=e2e scripts/stack.sh up` (the way `make up` does, on its own ports, key prefix,
//! exchange, queues and databases), runs them against its gateway only, and stops it. The
//! container phase of `make test` runs them again against the same stack built from the images.
//!
//! This crate is the tests' client of a running stack: [`Gateway`] and its typed calls.

// Test support: a failed call is a failed test, so panicking with the cause is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};

/// A client of one running stack's gateway, with the admin token for the admin routes.
pub struct Gateway {
    /// The gateway's base URL, e.g. `http://127.0.0.1:18080`.
    pub base: String,
    token: String,
    /// The HTTP client, for requests the typed calls do not cover.
    pub client: Client,
}

/// The gateway at `E2E_GATEWAY` (default the e2e stack's, `http://127.0.0.1:18080`), with
/// `ADMIN_TOKEN`; fails the test at once when nothing answers there.
pub async fn gateway() -> Gateway {
    let base = std::env::var("E2E_GATEWAY").unwrap_or_else(|_| "http://127.0.0.1:18080".into());
    let token = std::env::var("ADMIN_TOKEN").unwrap_or_else(|_| "local-dev-admin-token".into());
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let up = client.get(format!("{base}/healthz")).send().await;
    assert!(
        up.is_ok_and(|r| r.status().is_success()),
        "no gateway at {base}: start the stack with `STACK=e2e scripts/stack.sh up` (make test does)"
    );
    Gateway {
        base,
        token,
        client,
    }
}

/// `prefix` plus a random suffix: item ids of one test that no other test (or run) uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

impl Gateway {
    /// Sends a request with an optional JSON body, with the admin token when `admin`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        admin: bool,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if admin {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// `GET path`, which must answer 200, as JSON.
    pub async fn json(&self, path: &str) -> Value {
        let res = self.call(Method::GET, path, None, false).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    /// Adds an item with `stock` units and prices it at `cents` EUR cents (both must succeed).
    pub async fn add_item(&self, id: &str, stock: u64, cents: u64) {
        let res = self
            .call(
                Method::POST,
                "/items",
                Some(json!({"id": id, "name": format!("Item {id}"), "stock": stock})),
                true,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = self
            .call(
                Method::PUT,
                &format!("/price/{id}"),
                Some(json!({"price_cents": cents, "currency": "EUR"})),
                true,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    /// `POST /orders` for `quantity` of `item`.
    pub async fn order(&self, item: &str, quantity: u64) -> Response {
        self.call(
            Method::POST,
            "/orders",
            Some(json!({"item": item, "quantity": quantity})),
            false,
        )
        .await
    }

    /// How many alerts of `kind` mention `needle` among the newest 200.
    pub async fn alerts_about(&self, kind: &str, needle: &str) -> usize {
        self.json(&format!("/notifications?kind={kind}&limit=200"))
            .await["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| {
                n["subject"].as_str().unwrap_or("").contains(needle)
                    || n["body"].as_str().unwrap_or("").contains(needle)
            })
            .count()
    }

    /// Today's order report.
    pub async fn today(&self) -> Value {
        self.json("/report/orders").await
    }
}

/// Polls `check` every 100 ms for up to 30 s; fails the test naming `what` if it never holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}
