//! Placing, reading, listing and cancelling orders, and the events they produce.

use std::time::Duration;

use platform::testing::{EventTap, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Options, assert_problem, spawn_stack, spawn_stack_with};

#[tokio::test]
async fn seed_001_quick_check_places_a_confirmed_priced_order() {
    let stack = spawn_stack().await;
    stack.item("widget", 10, 1999).await;

    let res = stack
        .post_order(json!({"item": "widget", "quantity": 2}), None)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/orders/{}", order["id"].as_str().unwrap())
    );
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["item_id"], "widget");
    assert_eq!(order["quantity"], 2);
    assert_eq!(order["unit_price_cents"], 1999);
    assert_eq!(order["total_cents"], 3998);
    assert_eq!(order["currency"], "EUR");

    let read: Value = stack.get(&location).await.json().await.unwrap();
    assert_eq!(read, order);
    let ledger = stack.settled("widget").await;
    assert_eq!(
        (ledger.stock, ledger.sold),
        (8, 2),
        "the hold became a sale"
    );
}

#[tokio::test]
async fn short_stock_is_a_409_recorded_as_rejected() {
    let stack = spawn_stack().await;
    stack.item("widget", 3, 500).await;
    let res = stack.order("widget", 5).await;
    let problem = assert_problem(res, StatusCode::CONFLICT).await;
    assert_eq!(problem["available"], 3);
    let id = problem["order_id"].as_str().unwrap();
    let order: Value = stack
        .get(&format!("/orders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "rejected");
    assert!(
        order["reason"]
            .as_str()
            .unwrap()
            .contains("insufficient stock")
    );
    let ledger = stack.settled("widget").await;
    assert_eq!(
        (ledger.stock, ledger.sold),
        (3, 0),
        "a rejection moves no stock"
    );
}

#[tokio::test]
async fn unknown_and_unpriced_items_are_refused_and_nothing_is_recorded() {
    let stack = spawn_stack().await;
    stack.item("unpriced", 5, 0).await;
    let res = stack.order("ghost", 1).await;
    let problem = assert_problem(res, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["item_id"], "ghost");
    let res = stack.order("unpriced", 1).await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["type"], "urn:sioms:problem:unpriced-item");
    assert!(stack.counts().await.is_empty());
    assert_eq!(stack.ledger("unpriced").await.stock, 5);
}

#[tokio::test]
async fn a_cancel_returns_the_stock_once() {
    let stack = spawn_stack().await;
    stack.item("widget", 10, 100).await;
    let order: Value = stack.order("widget", 4).await.json().await.unwrap();
    let id = order["id"].as_str().unwrap();
    assert_eq!(stack.settled("widget").await.stock, 6);

    let res = stack.cancel(id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cancelled: Value = res.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let again = stack.cancel(id).await;
    let problem = assert_problem(again, StatusCode::CONFLICT).await;
    assert_eq!(problem["order_status"], "cancelled");
    let ledger = stack.settled("widget").await;
    assert_eq!(
        (ledger.stock, ledger.sold),
        (10, 0),
        "restocked exactly once"
    );

    let rejected = assert_problem(stack.order("widget", 50).await, StatusCode::CONFLICT).await;
    let res = stack.cancel(rejected["order_id"].as_str().unwrap()).await;
    assert_problem(res, StatusCode::CONFLICT).await;
    let res = stack.cancel("0190a0a0-0000-7000-8000-000000000000").await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn orders_are_listed_newest_first_a_page_at_a_time() {
    let stack = spawn_stack().await;
    stack.item("widget", 100, 100).await;
    let mut placed = Vec::new();
    for _ in 0..5 {
        let o: Value = stack.order("widget", 1).await.json().await.unwrap();
        placed.push(o["id"].as_str().unwrap().to_owned());
    }
    placed.reverse();
    let mut seen = Vec::new();
    let mut path = "/orders?limit=2".to_owned();
    loop {
        let page: Value = stack.get(&path).await.json().await.unwrap();
        seen.extend(
            page["orders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/orders?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, placed);
}

#[tokio::test]
async fn every_outcome_is_announced_once_on_the_exchange() {
    let stack = spawn_stack().await;
    let tap = EventTap::bind(&stack.amqp).await;
    stack.item("widget", 5, 250).await;
    let ok: Value = stack.order("widget", 2).await.json().await.unwrap();
    let _ = stack.order("widget", 9).await;
    stack.cancel(ok["id"].as_str().unwrap()).await;
    let ready = eventually(Duration::from_secs(15), || async {
        tap.of_kind("order_cancelled").len() == 1
            && tap.of_kind("order_rejected").len() == 1
            && tap.of_kind("order_created").len() == 1
    })
    .await;
    assert!(ready, "{:?}", tap.events());
    let created = &tap.of_kind("order_created")[0];
    assert_eq!(created.source, "order-svc");
    assert_eq!(created.data["order_id"], ok["id"]);
    assert_eq!(created.data["total_cents"], 500);
    assert_eq!(created.data["quantity"], 2);
    let cancelled = &tap.of_kind("order_cancelled")[0];
    assert_eq!(cancelled.data["order_id"], ok["id"]);
    assert_eq!(tap.of_kind("order_rejected")[0].data["status"], "rejected");
}

#[tokio::test]
async fn holds_are_confirmed_and_orders_marked_committed_after_the_answer_without_the_stock_sync() {
    const ORDERS: usize = 40;
    // The stock sync never runs here: whatever is confirmed and marked, the confirmer did.
    let stack = spawn_stack_with(Options {
        stock_sync_interval: Some(Duration::from_secs(3600)),
        ..Options::default()
    })
    .await;
    stack.item("widget", 100, 500).await;
    let answers = futures::future::join_all((0..ORDERS).map(|_| stack.order("widget", 1))).await;
    for res in answers {
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let committed = || async {
        stack
            .stock_counts()
            .await
            .get("committed")
            .copied()
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(10), || async {
            committed().await == ORDERS as i64
        })
        .await,
        "marked: {:?}",
        stack.stock_counts().await
    );
    let ledger = stack.settled("widget").await;
    assert_eq!(
        (ledger.sold, ledger.reserved),
        (ORDERS as u64, 0),
        "{ledger:?}"
    );
}
