//! The pricing-svc the tests run (`pricing_svc::testing`), and the assertions they share.

pub use pricing_svc::testing::{ADMIN_TOKEN, database, spawn_app, spawn_replica};
use reqwest::{Response, StatusCode};
use serde_json::Value;

pub async fn assert_problem(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}
