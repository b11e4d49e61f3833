//! `Idempotency-Key`: the same key and body give the same order, once.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_stack};

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_order_and_creates_nothing() {
    let stack = spawn_stack().await;
    let tap = platform::testing::EventTap::bind(&stack.amqp).await;
    stack.item("widget", 10, 100).await;
    let body = json!({"item_id": "widget", "quantity": 3});
    let first = stack.post_order(body.clone(), Some("key-1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();
    let retry = stack.post_order(body, Some("key-1")).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["location"], location);
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
    assert_eq!(stack.counts().await["confirmed"], 1);
    assert_eq!(stack.settled("widget").await.sold, 3);

    let other = stack
        .post_order(json!({"item_id": "widget", "quantity": 4}), Some("key-1"))
        .await;
    let problem = assert_problem(other, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["type"], "urn:sioms:problem:idempotency-key-reused");
    assert_eq!(stack.counts().await["confirmed"], 1);
    let announced = platform::testing::eventually(std::time::Duration::from_secs(10), || async {
        !tap.of_kind("order_created").is_empty()
    })
    .await;
    assert!(announced);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        tap.of_kind("order_created").len(),
        1,
        "the retry announced nothing new"
    );
}

#[tokio::test]
async fn concurrent_retries_with_one_key_make_one_order() {
    let stack = spawn_stack().await;
    stack.item("widget", 100, 100).await;
    let body = json!({"item": "widget", "quantity": 1});
    let answers = futures::future::join_all(
        (0..20).map(|_| stack.post_order(body.clone(), Some("flaky-client"))),
    )
    .await;
    let mut ids = HashSet::new();
    for res in answers {
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "every retry waits for the first"
        );
        let order: Value = res.json().await.unwrap();
        ids.insert(order["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "one order for one key");
    assert_eq!(stack.counts().await["confirmed"], 1);
    assert_eq!(stack.settled("widget").await.sold, 1);
}

#[tokio::test]
async fn a_rejection_is_replayed_too() {
    let stack = spawn_stack().await;
    stack.item("widget", 1, 100).await;
    let body = json!({"item_id": "widget", "quantity": 2});
    let first = assert_problem(
        stack.post_order(body.clone(), Some("k")).await,
        StatusCode::CONFLICT,
    )
    .await;
    stack
        .client
        .put(format!("{}/items/widget", stack.inventory))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&json!({"stock": 50}))
        .send()
        .await
        .unwrap();
    let retry = assert_problem(
        stack.post_order(body, Some("k")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        retry["order_id"], first["order_id"],
        "the same answer, not a new attempt"
    );
    assert_eq!(stack.counts().await["rejected"], 1);
}
