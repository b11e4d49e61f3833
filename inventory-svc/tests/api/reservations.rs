//! The reservation API: idempotency, all-or-nothing lines, confirm/release/cancel, expiry, and
//! seed 001's DEFAULT_STOCK switch.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Options, assert_conserved, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_retried_reserve_holds_stock_once() {
    let app = spawn_app().await;
    app.add_item("widget", 10, None).await;

    let first = app.reserve("order-1", &[("widget", 4)]).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "held");
    let retry = app.reserve("order-1", &[("widget", 4)]).await;
    assert_eq!(
        retry.status(),
        StatusCode::OK,
        "a retry is answered, not applied again"
    );
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["expires_at"], first["expires_at"]);
    assert_eq!(app.stock("widget").await, 6);

    let other_body = app.reserve("order-1", &[("widget", 5)]).await;
    let problem = assert_problem(other_body, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["type"], "urn:sioms:problem:reservation-mismatch");
    assert_eq!(app.stock("widget").await, 6);
    let ledger = app.ledger("widget").await;
    assert_eq!(ledger.reserved, 4);
    assert_conserved(&ledger);
}

#[tokio::test]
async fn the_lines_of_a_reservation_are_held_all_or_nothing() {
    let app = spawn_app().await;
    app.add_item("a", 10, None).await;
    app.add_item("b", 3, None).await;

    let short = app.reserve("order-1", &[("a", 2), ("b", 4)]).await;
    let problem = assert_problem(short, StatusCode::CONFLICT).await;
    assert_eq!(problem["type"], "urn:sioms:problem:insufficient-stock");
    assert_eq!(problem["item_id"], "b");
    assert_eq!(problem["available"], 3);
    assert_eq!(app.stock("a").await, 10, "the first line was given back");

    let unknown = app.reserve("order-2", &[("a", 2), ("ghost", 1)]).await;
    assert_problem(unknown, StatusCode::NOT_FOUND).await;
    assert_eq!(app.stock("a").await, 10);

    let ok = app.reserve("order-3", &[("a", 2), ("b", 3)]).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    assert_eq!((app.stock("a").await, app.stock("b").await), (8, 0));
    for item in ["a", "b"] {
        assert_conserved(&app.ledger(item).await);
    }
}

#[tokio::test]
async fn a_hold_is_confirmed_once_and_a_sale_cancelled_once() {
    let app = spawn_app().await;
    app.add_item("widget", 10, None).await;
    let lines = [("widget", 3)];
    assert_eq!(
        app.reserve("o1", &lines).await.status(),
        StatusCode::CREATED
    );

    for _ in 0..2 {
        let res = app.settle("confirm", "o1", &lines).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "confirmed");
    }
    let l = app.ledger("widget").await;
    assert_eq!((l.stock, l.reserved, l.sold), (7, 0, 3));

    let release = app.settle("release", "o1", &lines).await;
    let problem = assert_problem(release, StatusCode::CONFLICT).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("cancel it instead")
    );

    for _ in 0..2 {
        let res = app.settle("cancel", "o1", &lines).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let l = app.ledger("widget").await;
    assert_eq!(
        (l.stock, l.reserved, l.sold),
        (10, 0, 0),
        "restocked exactly once"
    );
    assert_conserved(&l);

    let unknown = app.settle("confirm", "never-reserved", &lines).await;
    assert_problem(unknown, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_batch_confirm_settles_each_reservation_on_its_own() {
    let app = spawn_app().await;
    app.add_item("widget", 10, None).await;
    app.add_item("gadget", 5, None).await;
    for (rid, lines) in [
        ("o1", [("widget", 2)]),
        ("o2", [("gadget", 1)]),
        ("o3", [("widget", 1)]),
    ] {
        assert_eq!(app.reserve(rid, &lines).await.status(), StatusCode::CREATED);
    }
    assert_eq!(
        app.settle("release", "o3", &[("widget", 1)]).await.status(),
        StatusCode::OK
    );

    let batch: &[(&str, &[(&str, u64)])] = &[
        ("o1", &[("widget", 2)]),
        ("o2", &[("gadget", 2)]),
        ("o3", &[("widget", 1)]),
        ("never-reserved", &[("widget", 1)]),
    ];
    for _ in 0..2 {
        let res = app.settle_batch("confirm", batch).await;
        assert_eq!(res.status(), StatusCode::OK);
        let results = res.json::<Value>().await.unwrap()["results"].clone();
        let ids: Vec<&str> = results
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["reservation_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["o1", "o2", "o3", "never-reserved"],
            "in the request's order"
        );
        assert_eq!(
            results[0]["status"], "confirmed",
            "a retry confirms as done"
        );
        assert!(results[0].get("problem").is_none());
        assert_eq!(
            results[1]["problem"]["type"],
            "urn:sioms:problem:reservation-mismatch"
        );
        assert_eq!(
            results[2]["problem"]["type"],
            "urn:sioms:problem:reservation-closed"
        );
        assert_eq!(results[2]["problem"]["state"], "released");
        assert_eq!(
            results[3]["problem"]["type"],
            "urn:sioms:problem:unknown-reservation"
        );
    }
    let widget = app.ledger("widget").await;
    assert_eq!((widget.stock, widget.reserved, widget.sold), (8, 0, 2));
    assert_conserved(&widget);
    let gadget = app.ledger("gadget").await;
    assert_eq!(
        (gadget.stock, gadget.reserved, gadget.sold),
        (4, 1, 0),
        "the mismatched reservation is still held"
    );

    let empty = app.settle_batch("confirm", &[]).await;
    assert_problem(empty, StatusCode::BAD_REQUEST).await;
    let doubled = app
        .settle_batch("confirm", &[("o2", &[("gadget", 1), ("gadget", 1)])])
        .await;
    let problem = assert_problem(doubled, StatusCode::BAD_REQUEST).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("reservation o2")
    );
    assert_eq!(
        app.ledger("gadget").await.reserved,
        1,
        "a malformed batch settles nothing"
    );
}

#[tokio::test]
async fn a_release_gives_stock_back_once_and_fences_a_late_reserve() {
    let app = spawn_app().await;
    app.add_item("widget", 10, None).await;
    let lines = [("widget", 4)];
    app.reserve("o1", &lines).await;
    for _ in 0..2 {
        let res = app.settle("release", "o1", &lines).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(app.stock("widget").await, 10);
    let confirm = app.settle("confirm", "o1", &lines).await;
    assert_problem(confirm, StatusCode::CONFLICT).await;

    // The caller gave up on o2 (say its reserve timed out) and released it before the reserve
    // arrived: the late reserve must not hold stock that nobody will ever confirm.
    let res = app.settle("release", "o2", &lines).await;
    assert_eq!(res.status(), StatusCode::OK);
    let late = app.reserve("o2", &lines).await;
    let problem = assert_problem(late, StatusCode::CONFLICT).await;
    assert_eq!(problem["state"], "released");
    assert_eq!(app.stock("widget").await, 10);
}

#[tokio::test]
async fn an_unconfirmed_hold_gives_its_stock_back_on_its_own() {
    let app = spawn_app_with(Options {
        hold: Duration::from_millis(300),
        reaper_interval: Duration::from_millis(50),
        ..Options::default()
    })
    .await;
    app.add_item("widget", 10, None).await;
    app.add_item("bystander", 10, None).await;
    assert_eq!(
        app.reserve("o1", &[("widget", 6)]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.stock("widget").await, 4);

    // Nothing touches the item: only the reaper can give the stock back.
    let back = platform::testing::eventually(Duration::from_secs(5), || async {
        app.ledger("widget").await.stock == 10
    })
    .await;
    assert!(back, "the expired hold was not given back");
    let l = app.ledger("widget").await;
    assert_eq!(l.reserved, 0);
    assert_conserved(&l);

    let late_confirm = app.settle("confirm", "o1", &[("widget", 6)]).await;
    let problem = assert_problem(late_confirm, StatusCode::CONFLICT).await;
    assert_eq!(problem["state"], "expired");
    assert_eq!(app.stock("bystander").await, 10);
}

#[tokio::test]
async fn with_default_stock_an_unknown_item_is_created_on_first_reserve() {
    let seeded = spawn_app_with(Options {
        default_stock: Some(100),
        ..Options::default()
    })
    .await;
    let res = seeded.reserve("o1", &[("widget", 1)]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(seeded.stock("widget").await, 99);
    let listed: Value = seeded
        .request(Method::GET, "/items", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], "widget");
    assert_conserved(&seeded.ledger("widget").await);

    let strict = spawn_app().await;
    let res = strict.reserve("o1", &[("widget", 1)]).await;
    let problem = assert_problem(res, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["item_id"], "widget");
    let res = strict.request(Method::GET, "/items/widget", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "nothing was created");
}
