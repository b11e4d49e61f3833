//! Events on the exchange, as a third party's queue bound to it sees them.

use std::{collections::HashSet, time::Duration};

use platform::testing::{EventTap, TcpProxy, eventually, socket_addr_of, with_addr};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Options, spawn_app, spawn_app_with};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn low_stock_fires_once_per_crossing_and_rearms_on_restock() {
    let app = spawn_app().await;
    let tap = EventTap::bind(&app.amqp).await;
    app.add_item("widget", 15, Some(10)).await;

    // 15 -> 12 -> 9 (crossing) -> 6 -> 1: one alert.
    for (i, q) in [3, 3, 3, 5].into_iter().enumerate() {
        let res = app.reserve(&format!("o{i}"), &[("widget", q)]).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    assert!(eventually(WAIT, || async { tap.of_kind("low_stock").len() == 1 }).await);

    // A restock above the threshold re-arms it; draining below again alerts again.
    assert_eq!(app.set_stock("widget", 20).await.status(), StatusCode::OK);
    assert_eq!(
        app.reserve("o9", &[("widget", 12)]).await.status(),
        StatusCode::CREATED
    );
    assert!(eventually(WAIT, || async { tap.of_kind("low_stock").len() == 2 }).await);

    // Give the relay a moment more: still exactly two.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let lows = tap.of_kind("low_stock");
    assert_eq!(lows.len(), 2, "{lows:?}");
    assert_eq!(lows[0].data["stock"], 9);
    assert_eq!(lows[0].data["threshold"], 10);
    assert_eq!(lows[1].data["stock"], 8);
    for e in &lows {
        assert_eq!(e.source, "inventory-svc");
        assert_eq!(e.data["item_id"], "widget");
    }
}

#[tokio::test]
async fn every_admin_change_emits_stock_changed_with_the_absolute_values() {
    let app = spawn_app().await;
    let tap = EventTap::bind(&app.amqp).await;
    app.add_item("widget", 5, Some(2)).await;
    app.set_stock("widget", 30).await;
    app.admin(reqwest::Method::DELETE, "/items/widget", None)
        .await;
    assert!(eventually(WAIT, || async { tap.events().len() >= 3 }).await);
    let events = tap.events();
    let changes: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "stock_changed")
        .collect();
    assert_eq!(changes.len(), 2, "{events:?}");
    assert_eq!(changes[0].data["reason"], "created");
    assert_eq!(changes[0].data["stock"], 5);
    assert_eq!(changes[1].data["reason"], "adjusted");
    assert_eq!(changes[1].data["stock"], 30);
    assert_eq!(changes[1].data["delta"], 25);
    assert!(changes[1].data["version"].as_u64() > changes[0].data["version"].as_u64());
    assert_eq!(tap.of_kind("item_removed").len(), 1);
}

#[tokio::test]
async fn events_wait_out_a_broker_outage_and_arrive_once_each() {
    let broker = platform::testing::amqp_config();
    let proxy = TcpProxy::start(socket_addr_of(&broker.url)).await;
    let app = spawn_app_with(Options {
        amqp_url: Some(with_addr(&broker.url, proxy.addr())),
        sweep_interval: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let tap = EventTap::bind(&app.amqp).await;
    app.add_item("widget", 100, Some(0)).await;
    assert!(eventually(WAIT, || async { tap.events().len() == 1 }).await);

    proxy.cut();
    for i in 0..20 {
        let res = app.reserve(&format!("o{i}"), &[("widget", 1)]).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "reservations go on while the broker is away"
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        tap.events().len(),
        1,
        "nothing can be published through a cut link"
    );

    proxy.restore();
    // The relay publishes the 20 changes it kept; a run of one reason goes out as one event
    // (docs/decisions/0022), so count the changes the events stand for.
    let reserved_changes = || {
        tap.events()
            .iter()
            .filter(|e| e.data["reason"] == "reserved")
            .map(|e| e.data.get("changes").and_then(Value::as_u64).unwrap_or(1))
            .sum::<u64>()
    };
    assert!(
        eventually(Duration::from_secs(30), || async {
            reserved_changes() >= 20
        })
        .await,
        "the relay did not catch up after the broker came back: {} changes",
        reserved_changes()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = tap.events();
    let ids: HashSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), events.len(), "each event once");
    assert_eq!(reserved_changes(), 20, "every change counted once");
    let reserved: Vec<&Value> = events
        .iter()
        .filter(|e| e.data["reason"] == "reserved")
        .map(|e| &e.data)
        .collect();
    let deltas: i64 = reserved.iter().map(|d| d["delta"].as_i64().unwrap()).sum();
    assert_eq!(deltas, -20, "the deltas add up to what was taken");
    let newest = reserved
        .iter()
        .max_by_key(|d| d["version"].as_u64().unwrap())
        .unwrap();
    assert_eq!(
        newest["stock"], 80,
        "the newest values are the last change's"
    );
    assert!(
        reserved.len() < 20,
        "20 changes kept during the outage go out coalesced: {} events",
        reserved.len()
    );
}

#[tokio::test]
async fn graceful_shutdown_publishes_what_is_still_pending() {
    let broker = platform::testing::amqp_config();
    let proxy = TcpProxy::start(socket_addr_of(&broker.url)).await;
    let app = spawn_app_with(Options {
        amqp_url: Some(with_addr(&broker.url, proxy.addr())),
        // No sweep during the test: only the shutdown drain can publish what is left.
        sweep_interval: Duration::from_secs(3600),
        ..Options::default()
    })
    .await;
    let tap = EventTap::bind(&app.amqp).await;
    proxy.cut();
    app.add_item("widget", 10, Some(0)).await;
    for i in 0..5 {
        app.reserve(&format!("o{i}"), &[("widget", 1)]).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(tap.events().is_empty());
    // The relay is backing off; SIGTERM now must still publish the six changes (the five
    // reservations may go out as one event: docs/decisions/0022).
    proxy.restore();
    app.stop().await;
    let changes = || {
        tap.of_kind("stock_changed")
            .iter()
            .map(|e| e.data.get("changes").and_then(Value::as_u64).unwrap_or(1))
            .sum::<u64>()
    };
    assert!(
        eventually(WAIT, || async { changes() == 6 }).await,
        "{:?}",
        tap.events()
    );
}
