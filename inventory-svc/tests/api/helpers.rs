//! The inventory-svc the tests run (`inventory_svc::testing`), and the assertions they share.

use inventory_svc::domain::Ledger;
pub use inventory_svc::testing::{ADMIN_TOKEN, Options, TestApp, spawn_app, spawn_app_with};
use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Asserts the item's ledger balances: stock + reserved + sold = provisioned.
pub fn assert_conserved(ledger: &Ledger) {
    assert_eq!(
        (ledger.stock + ledger.reserved + ledger.sold) as i64,
        ledger.provisioned,
        "conservation broken: {ledger:?}"
    );
}

/// Asserts a response is a problem+json with the given status, and returns its body.
pub async fn assert_problem(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "problem without detail: {body}"
    );
    body
}
