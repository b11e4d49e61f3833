//! The journeys of both seeds and a flash sale, through the gateway only.
//!
//! The stack is shared by these tests, so each works on its own items and reads reports as
//! differences; they run one at a time (`--test-threads=1`). Run by `make test` (which starts the stack); `E2E_GATEWAY` points elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use e2e::{eventually, gateway, unique};
use futures::{StreamExt as _, stream};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn an_operator_and_a_customer_go_through_both_seeds_journeys() {
    let gw = gateway().await;
    let item = unique("lamp");
    let before = gw.today().await;

    // The operator adds an item and prices it (seed 000); the customer orders it (seed 001).
    gw.add_item(&item, 12, 2500).await;
    let res = gw.order(&item, 3).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = res.json().await.unwrap();
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["total_cents"], 7500);
    assert_eq!(gw.json(&location).await, order);
    assert_eq!(gw.json(&format!("/inventory/{item}")).await["stock"], 9);
    let check = gw.json(&format!("/items/{item}/check?quantity=9")).await;
    assert_eq!(check["available"], true);

    // 12 -> 9 crossed the threshold of 10: one low-stock alert, and the item is in the report.
    eventually("the low-stock alert is sent", || async {
        gw.alerts_about("low_stock", &item).await >= 1
    })
    .await;
    eventually("the low-stock report lists the item", || async {
        gw.json("/report/low-stock").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["item_id"] == item.as_str())
    })
    .await;
    eventually("the order is confirmed by mail", || async {
        gw.alerts_about("order_confirmed", order["id"].as_str().unwrap())
            .await
            >= 1
    })
    .await;

    // A price change is announced.
    let res = gw
        .call(
            Method::PUT,
            &format!("/price/{item}"),
            Some(json!({"price_cents": 2700, "currency": "EUR"})),
            true,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    eventually("the price change is announced", || async {
        gw.alerts_about("price_changed", &item).await >= 1
    })
    .await;

    // Cancel: the stock goes back, and an alert says so; a second cancel is refused.
    let id = order["id"].as_str().unwrap();
    let res = gw
        .call(Method::POST, &format!("/orders/{id}/cancel"), None, false)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        gw.call(Method::POST, &format!("/orders/{id}/cancel"), None, false)
            .await
            .status(),
        StatusCode::CONFLICT
    );
    eventually("the cancelled units are back", || async {
        gw.json(&format!("/items/{item}")).await["stock"] == 12
    })
    .await;
    eventually("the cancellation is mailed", || async {
        gw.alerts_about("order_cancelled", id).await >= 1
    })
    .await;

    // A restock takes the item off the low-stock report.
    let res = gw
        .call(
            Method::PUT,
            &format!("/items/{item}"),
            Some(json!({"stock": 80})),
            true,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    eventually("the restock clears the low-stock report", || async {
        !gw.json("/report/low-stock").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["item_id"] == item.as_str())
    })
    .await;

    // Today's report counted the order and its cancellation.
    eventually(
        "analytics counted the order and its cancellation",
        || async {
            let now = gw.today().await;
            now["confirmed"].as_i64().unwrap() > before["confirmed"].as_i64().unwrap()
                && now["cancelled"].as_i64().unwrap() > before["cancelled"].as_i64().unwrap()
        },
    )
    .await;
    assert_eq!(
        gw.alerts_about("low_stock", &item).await,
        1,
        "one alert for one crossing"
    );
}

#[tokio::test]
async fn a_flash_sale_through_the_gateway_sells_exactly_the_stock() {
    const BUYERS: usize = 400;
    const UNITS: u64 = 40;
    let gw = gateway().await;
    let item = unique("drop");
    gw.add_item(&item, UNITS, 9900).await;
    let before = gw.today().await;
    let statuses: Vec<StatusCode> = stream::iter(0..BUYERS)
        .map(|_| async { gw.order(&item, 1).await.status() })
        .buffer_unordered(64)
        .collect()
        .await;
    let sold = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!(sold as u64, UNITS, "{statuses:?}");
    assert_eq!(refused, BUYERS - UNITS as usize);
    assert_eq!(gw.json(&format!("/items/{item}")).await["stock"], 0);

    // Analytics counts each confirmed and rejected order once (the e2e tests run one at a
    // time, so today's report moves by exactly this sale).
    let count = |r: &Value, f: &str| r[f].as_i64().unwrap();
    eventually("analytics counted every sale and refusal", || async {
        let now = gw.today().await;
        count(&now, "confirmed") - count(&before, "confirmed") >= UNITS as i64
            && count(&now, "rejected") - count(&before, "rejected")
                >= (BUYERS as u64 - UNITS) as i64
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let now = gw.today().await;
    assert_eq!(
        count(&now, "confirmed") - count(&before, "confirmed"),
        UNITS as i64,
        "each sale counted once"
    );
    assert_eq!(
        count(&now, "rejected") - count(&before, "rejected"),
        (BUYERS as u64 - UNITS) as i64
    );
    eventually("one low-stock alert", || async {
        gw.alerts_about("low_stock", &item).await == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(gw.alerts_about("low_stock", &item).await, 1);
    assert_eq!(
        gw.alerts_about("order_confirmed", &item).await as u64,
        UNITS,
        "each sale mailed once"
    );
}

#[tokio::test]
async fn the_gateway_exposes_the_public_api_and_nothing_else() {
    let gw = gateway().await;
    for path in [
        "/reserve",
        "/ledger/widget",
        "/metrics",
        "/readyz",
        "/reservations/x/confirm",
    ] {
        let res = gw.call(Method::GET, path, None, false).await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{path} must stay internal"
        );
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    let res = gw
        .call(Method::POST, "/reserve", Some(json!({})), false)
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let res = gw
        .client
        .get(format!("{}/items", gw.base))
        .header("x-request-id", "e2e-trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get_all("x-request-id").iter().count(), 1);
    assert_eq!(res.headers()["x-request-id"], "e2e-trace-1");
    let res = gw
        .client
        .get(format!("{}/items", gw.base))
        .header("x-request-id", "no good")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "no good");

    let big = "x".repeat(70_000);
    let res = gw
        .client
        .post(format!("{}/orders", gw.base))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = gw
        .call(
            Method::PUT,
            "/items/widget",
            Some(json!({"stock": 1})),
            false,
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "admin routes need the token through the gateway too"
    );
}

#[tokio::test]
async fn too_many_orders_from_one_address_get_a_429_problem() {
    let gw = gateway().await;
    // Past the e2e stack's limit (100/s, burst 500): bodies the service would refuse anyway, so
    // nothing is ordered whatever gets through.
    let statuses: Vec<(StatusCode, Option<String>)> = stream::iter(0..1500)
        .map(|_| async {
            let res = gw
                .client
                .post(format!("{}/orders", gw.base))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = res.status();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            if status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(res.headers()["content-type"], "application/problem+json");
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["status"], 429);
                assert!(body["detail"].as_str().unwrap().contains("too many orders"));
            }
            (status, retry)
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let limited: Vec<_> = statuses
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(!limited.is_empty(), "no request was rate limited");
    assert!(
        limited.iter().all(|(_, r)| r.as_deref() == Some("1")),
        "429s carry Retry-After"
    );
    assert!(
        statuses
            .iter()
            .all(|(s, _)| *s == StatusCode::BAD_REQUEST || *s == StatusCode::TOO_MANY_REQUESTS)
    );
    // Reads are never limited.
    assert_eq!(
        gw.call(Method::GET, "/orders?limit=1", None, false)
            .await
            .status(),
        StatusCode::OK
    );
    // Let the bucket refill (burst / rate = 5 s) for whatever runs next.
    tokio::time::sleep(Duration::from_secs(6)).await;
}
