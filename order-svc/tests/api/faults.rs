//! Faults: Postgres failing at the insert, the broker away, pricing or inventory away.

use std::{collections::HashSet, time::Duration};

use platform::testing::{EventTap, eventually};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Options, assert_problem, spawn_stack, spawn_stack_with};

#[tokio::test]
async fn an_order_that_cannot_be_written_gives_its_stock_back() {
    let stack = spawn_stack().await;
    stack.item("cursed", 10, 100).await;
    stack.item("fine", 10, 100).await;
    // The real Postgres, told to fail every insert of this item's orders.
    stack
        .sql(
            "CREATE FUNCTION refuse_cursed() RETURNS trigger AS $$ BEGIN \
               IF NEW.item_id = 'cursed' THEN RAISE EXCEPTION 'injected failure'; END IF; \
               RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_cursed BEFORE INSERT ON orders \
               FOR EACH ROW EXECUTE FUNCTION refuse_cursed();",
        )
        .await;
    let res = stack.order("cursed", 3).await;
    let problem = assert_problem(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no stock was taken")
    );
    let ledger = stack.settled("cursed").await;
    assert_eq!(
        (ledger.stock, ledger.sold),
        (10, 0),
        "the hold was released at once"
    );
    assert!(stack.counts().await.is_empty(), "no order row");
    assert_eq!(stack.order("fine", 1).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn orders_are_accepted_while_the_broker_is_away_and_announced_after() {
    let stack = spawn_stack_with(Options {
        proxy_broker: true,
        ..Options::default()
    })
    .await;
    let tap = EventTap::bind(&stack.amqp).await;
    stack.item("widget", 100, 100).await;
    let broker = stack.broker_proxy.as_ref().unwrap();
    broker.cut();
    let mut ids = HashSet::new();
    for _ in 0..20 {
        let res = stack.order("widget", 1).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let order: Value = res.json().await.unwrap();
        ids.insert(order["id"].clone());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(tap.of_kind("order_created").is_empty());
    broker.restore();
    let all = eventually(Duration::from_secs(30), || async {
        tap.of_kind("order_created").len() >= 20
    })
    .await;
    assert!(all);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = tap.of_kind("order_created");
    assert_eq!(events.len(), 20, "none lost, none doubled");
    let seen: HashSet<_> = events.iter().map(|e| e.data["order_id"].clone()).collect();
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn pricing_away_is_a_prompt_503_and_the_circuit_opens() {
    // Without the price book, so every order asks pricing-svc (price_book.rs covers the book).
    let stack = spawn_stack_with(Options {
        proxy_pricing: true,
        price_book_ttl: Some(Duration::ZERO),
        ..Options::default()
    })
    .await;
    stack.item("widget", 10, 100).await;
    let pricing = stack.pricing_proxy.as_ref().unwrap();
    pricing.cut();
    let mut details = Vec::new();
    for _ in 0..4 {
        let res = stack.order("widget", 1).await;
        let problem = assert_problem(res, StatusCode::SERVICE_UNAVAILABLE).await;
        details.push(problem["detail"].as_str().unwrap().to_owned());
    }
    assert!(
        details[0].contains("pricing-svc is unavailable"),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("circuit open")),
        "repeated failures open the circuit: {details:?}"
    );
    assert!(stack.counts().await.is_empty());
    assert_eq!(stack.ledger("widget").await.stock, 10);

    pricing.restore();
    let back = eventually(Duration::from_secs(10), || async {
        stack.order("widget", 1).await.status() == StatusCode::CREATED
    })
    .await;
    assert!(back, "orders work again once pricing is back");
}

#[tokio::test]
async fn inventory_away_is_a_503_and_leaves_no_stock_held() {
    let stack = spawn_stack_with(Options {
        proxy_inventory: true,
        ..Options::default()
    })
    .await;
    // Set up through the direct address; only order-svc's link goes through the proxy.
    stack.item("widget", 10, 100).await;
    let inventory = stack.inventory_proxy.as_ref().unwrap();
    inventory.cut();
    let res = stack.order("widget", 2).await;
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(stack.counts().await.is_empty());
    inventory.restore();
    let back = eventually(Duration::from_secs(10), || async {
        stack.order("widget", 2).await.status() == StatusCode::CREATED
    })
    .await;
    assert!(back);
    let ledger = stack.settled("widget").await;
    assert_eq!((ledger.stock, ledger.sold), (8, 2));
}

/// An order row as a process leaves it when it dies between writing the order and confirming
/// its hold: `confirmed`, stock `pending_confirm`.
async fn orphan(stack: &crate::helpers::Stack, id: &str, item: &str, quantity: i32) {
    stack
        .sql(&format!(
            "INSERT INTO orders (id, item_id, quantity, status, unit_price_cents, total_cents, currency, stock, created_at, updated_at) \
             VALUES ('{id}', '{item}', {quantity}, 'confirmed', 100, {total}, 'EUR', 'pending_confirm', now() - interval '5 seconds', now() - interval '5 seconds')",
            total = 100 * quantity
        ))
        .await;
}

#[tokio::test]
async fn the_stock_sync_confirms_a_hold_left_behind_and_cancels_an_order_whose_hold_lapsed() {
    let stack = spawn_stack_with(Options {
        hold: Some(Duration::from_millis(1500)),
        ..Options::default()
    })
    .await;
    let tap = EventTap::bind(&stack.amqp).await;
    stack.item("widget", 10, 100).await;
    let reserve = |id: &'static str, q: u64| {
        let stack = &stack;
        async move {
            let res = stack
                .client
                .post(format!("{}/reserve", stack.inventory))
                .json(&serde_json::json!({"reservation_id": id, "lines": [{"item_id": "widget", "quantity": q}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
        }
    };
    let (kept, lapsed) = (
        "0190a0a0-0000-7000-8000-00000000000a",
        "0190a0a0-0000-7000-8000-00000000000b",
    );
    reserve(kept, 2).await;
    orphan(&stack, kept, "widget", 2).await;
    reserve(lapsed, 3).await;
    // Let the second hold run out before its order is found.
    assert!(
        eventually(Duration::from_secs(5), || async {
            stack.ledger("widget").await.reserved == 0
        })
        .await
    );
    orphan(&stack, lapsed, "widget", 3).await;

    let done = eventually(Duration::from_secs(10), || async {
        let a: Value = stack
            .get(&format!("/orders/{lapsed}"))
            .await
            .json()
            .await
            .unwrap();
        a["status"] == "cancelled"
    })
    .await;
    assert!(done, "the lapsed order was not cancelled");
    let kept_order: Value = stack
        .get(&format!("/orders/{kept}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept_order["status"], "confirmed");
    let ledger = stack.settled("widget").await;
    assert_eq!(
        (ledger.stock, ledger.sold),
        (8, 2),
        "the kept hold was sold, the lapsed one is back"
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            tap.of_kind("order_cancelled").len() == 1
        })
        .await
    );
    let cancelled = &tap.of_kind("order_cancelled")[0];
    assert_eq!(cancelled.data["order_id"], lapsed);
    assert!(
        cancelled.data["reason"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}
