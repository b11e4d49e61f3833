//! Bad input on every route: a 4xx problem naming the problem, nothing written, no stock moved.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_stack};

#[tokio::test]
async fn bad_orders_are_refused_with_a_reason_and_move_nothing() {
    let stack = spawn_stack().await;
    stack.item("widget", 10, 100).await;
    let long = "x".repeat(65);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            json!({"item_id": "widget", "quantity": 0}).to_string(),
            "application/json",
            "quantity must be a whole number",
        ),
        (
            json!({"item_id": "widget", "quantity": -2}).to_string(),
            "application/json",
            "quantity must be a whole number",
        ),
        (
            json!({"item_id": "widget", "quantity": 1.5}).to_string(),
            "application/json",
            "quantity must be a whole number",
        ),
        (
            json!({"item_id": "widget", "quantity": 1e9}).to_string(),
            "application/json",
            "quantity must be a whole number",
        ),
        (
            json!({"item_id": "widget", "quantity": "2"}).to_string(),
            "application/json",
            "quantity must be a whole number",
        ),
        (
            json!({"item_id": "", "quantity": 1}).to_string(),
            "application/json",
            "item id must not be empty",
        ),
        (
            json!({"item_id": long, "quantity": 1}).to_string(),
            "application/json",
            "at most 64",
        ),
        (
            json!({"item_id": "wid get", "quantity": 1}).to_string(),
            "application/json",
            "contains ' '",
        ),
        (
            json!({"quantity": 1}).to_string(),
            "application/json",
            "missing field `item_id`",
        ),
        (
            json!({"item_id": "widget"}).to_string(),
            "application/json",
            "missing field `quantity`",
        ),
        (
            json!({"item_id": "widget", "quantity": 1, "price": 1}).to_string(),
            "application/json",
            "unknown field `price`",
        ),
        (
            json!({"item": "widget", "item_id": "widget", "quantity": 1}).to_string(),
            "application/json",
            "duplicate field `item_id`",
        ),
        (
            "{\"item_id\": \"widget\",".to_owned(),
            "application/json",
            "not valid JSON",
        ),
        (
            json!({"item_id": "widget", "quantity": 1}).to_string(),
            "text/plain",
            "Content-Type",
        ),
    ];
    for (body, content_type, needle) in cases {
        let res = stack
            .client
            .post(format!("{}/orders", stack.order))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{body}: {}", res.status());
        let status = res.status();
        let problem = assert_problem(res, status).await;
        assert!(
            problem["detail"].as_str().unwrap().contains(needle),
            "{body}: {problem}"
        );
    }
    let bad_key = stack
        .client
        .post(format!("{}/orders", stack.order))
        .header("idempotency-key", "has spaces in it")
        .json(&json!({"item_id": "widget", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(bad_key, StatusCode::BAD_REQUEST).await;
    for path in [
        "/orders/not-a-uuid",
        "/orders?cursor=nope",
        "/orders?limit=0",
    ] {
        assert_problem(stack.get(path).await, StatusCode::BAD_REQUEST).await;
    }
    assert_problem(stack.cancel("nope").await, StatusCode::BAD_REQUEST).await;

    assert!(stack.counts().await.is_empty(), "nothing was written");
    let ledger = stack.ledger("widget").await;
    assert_eq!(
        (ledger.stock, ledger.reserved, ledger.sold),
        (10, 0, 0),
        "no stock moved"
    );
}
