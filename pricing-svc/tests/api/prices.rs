//! Prices, their history, and the price_changed event through the outbox.

use std::{collections::HashSet, time::Duration};

use platform::testing::{EventTap, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, assert_problem, database, spawn_app, spawn_replica};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_price_is_set_changed_read_and_kept_in_history() {
    let app = spawn_app().await;
    assert_problem(app.get("/price/widget").await, StatusCode::NOT_FOUND).await;

    let first = app.set_price("widget", 1999, "EUR").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let changed = app.set_price("widget", 2499, "EUR").await;
    assert_eq!(changed.status(), StatusCode::OK);
    let price: Value = app.get("/price/widget").await.json().await.unwrap();
    assert_eq!(price["price_cents"], 2499);
    assert_eq!(price["currency"], "EUR");
    assert_eq!(price["version"], 2);

    let history: Value = app.get("/price/widget/history").await.json().await.unwrap();
    let cents: Vec<u64> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["price_cents"].as_u64().unwrap())
        .collect();
    assert_eq!(cents, [2499, 1999], "newest first");

    for id in ["b", "c", "a"] {
        app.set_price(id, 100, "USD").await;
    }
    let page: Value = app.get("/prices?limit=2").await.json().await.unwrap();
    assert_eq!(page["prices"][0]["item_id"], "a");
    assert_eq!(page["next_cursor"], "b");
    let rest: Value = app
        .get("/prices?limit=2&cursor=b")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = rest["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["item_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c", "widget"]);
}

#[tokio::test]
async fn every_change_emits_price_changed_with_old_and_new_once() {
    let app = spawn_app().await;
    let tap = EventTap::bind(&app.amqp).await;
    app.set_price("widget", 1000, "EUR").await;
    app.set_price("widget", 1200, "EUR").await;
    // The same price again changes nothing and announces nothing.
    assert_eq!(
        app.set_price("widget", 1200, "EUR").await.status(),
        StatusCode::OK
    );
    assert!(eventually(WAIT, || async { tap.events().len() >= 2 }).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let events = tap.of_kind("price_changed");
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].data["old"], Value::Null);
    assert_eq!(
        events[0].data["new"],
        json!({"price_cents": 1000, "currency": "EUR"})
    );
    assert_eq!(
        events[1].data["old"],
        json!({"price_cents": 1000, "currency": "EUR"})
    );
    assert_eq!(
        events[1].data["new"],
        json!({"price_cents": 1200, "currency": "EUR"})
    );
    assert_eq!(events[1].source, "pricing-svc");
    let history: Value = app.get("/price/widget/history").await.json().await.unwrap();
    assert_eq!(history["history"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn two_replicas_relay_each_outbox_row_once() {
    let db = database().await;
    let amqp = platform::testing::amqp_config();
    let (a, b) = (
        spawn_replica(&db, &amqp).await,
        spawn_replica(&db, &amqp).await,
    );
    let tap = EventTap::bind(&amqp).await;
    let writes = (0..200).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        async move {
            app.set_price(&format!("item-{}", i % 40), 100 + i, "EUR")
                .await
        }
    });
    for res in futures::future::join_all(writes).await {
        assert!(res.status().is_success());
    }
    assert!(
        eventually(WAIT, || async { tap.events().len() >= 200 }).await,
        "{}",
        tap.events().len()
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let events = tap.events();
    let ids: HashSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(events.len(), 200, "no row published twice");
    assert_eq!(ids.len(), 200);
}

#[tokio::test]
async fn bad_price_writes_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    app.set_price("widget", 500, "EUR").await;
    let cases = [
        (
            json!({"price_cents": -1, "currency": "EUR"}),
            "price_cents must be a whole number",
        ),
        (
            json!({"price_cents": 1.5, "currency": "EUR"}),
            "price_cents must be a whole number",
        ),
        (
            json!({"price_cents": "5", "currency": "EUR"}),
            "price_cents must be a whole number",
        ),
        (
            json!({"price_cents": 1e15, "currency": "EUR"}),
            "price_cents must be a whole number",
        ),
        (json!({"price_cents": 5, "currency": "eur"}), "ISO 4217"),
        (json!({"price_cents": 5, "currency": "EURO"}), "ISO 4217"),
        (json!({"price_cents": 5}), "missing field `currency`"),
        (
            json!({"price_cents": 5, "currency": "EUR", "discount": 1}),
            "unknown field `discount`",
        ),
    ];
    for (body, needle) in cases {
        let res = app
            .client
            .put(format!("{}/price/widget", app.address))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let p = assert_problem(res, StatusCode::BAD_REQUEST).await;
        assert!(
            p["detail"].as_str().unwrap().contains(needle),
            "{body}: {p}"
        );
    }
    let bad_id = app.set_price("wid%20get", 5, "EUR").await;
    assert_problem(bad_id, StatusCode::BAD_REQUEST).await;
    let no_token = app
        .client
        .put(format!("{}/price/widget", app.address))
        .json(&json!({"price_cents": 1, "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_problem(no_token, StatusCode::UNAUTHORIZED).await;
    let wrong = app
        .client
        .put(format!("{}/price/widget", app.address))
        .bearer_auth("not-the-token")
        .json(&json!({"price_cents": 1, "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_problem(wrong, StatusCode::FORBIDDEN).await;
    let price: Value = app.get("/price/widget").await.json().await.unwrap();
    assert_eq!(price["price_cents"], 500);
    assert_eq!(price["version"], 1);
}
