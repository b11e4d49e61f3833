//! The price book: an item ordered lately is priced without a call to pricing-svc, and a price
//! change reaches the book by its `price_changed` event.

use std::time::Duration;

use platform::testing::eventually;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Options, assert_problem, spawn_stack_with};

#[tokio::test]
async fn an_item_ordered_lately_is_priced_from_the_book_and_a_price_change_reaches_it() {
    let stack = spawn_stack_with(Options {
        proxy_pricing: true,
        ..Options::default()
    })
    .await;
    stack.item("widget", 100, 500).await;
    let pricing = stack.pricing_proxy.as_ref().unwrap();

    // Once the feed is bound, an order keeps the price it read; the next needs no pricing-svc.
    let booked = eventually(Duration::from_secs(15), || async {
        pricing.restore();
        if stack.order("widget", 1).await.status() != StatusCode::CREATED {
            return false;
        }
        pricing.cut();
        stack.order("widget", 1).await.status() == StatusCode::CREATED
    })
    .await;
    assert!(
        booked,
        "an order with pricing-svc away was not priced from the book"
    );

    // pricing-svc stays away: the new price can only come by its event.
    stack.price("widget", 700).await;
    let repriced = eventually(Duration::from_secs(10), || async {
        let res = stack.order("widget", 1).await;
        res.status() == StatusCode::CREATED
            && res.json::<Value>().await.unwrap()["unit_price_cents"] == 700
    })
    .await;
    assert!(repriced, "the price change never reached the book");
    let last = stack.order("widget", 2).await;
    assert_eq!(last.status(), StatusCode::CREATED);
    let last: Value = last.json().await.unwrap();
    assert_eq!(
        (&last["unit_price_cents"], &last["total_cents"]),
        (&Value::from(700), &Value::from(1400))
    );

    // An item nobody ordered is not in the book, even though its first price was announced.
    stack.item("gadget", 10, 300).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let res = stack.order("gadget", 1).await;
    let problem = assert_problem(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("pricing-svc"),
        "{problem}"
    );
    pricing.restore();
    let back = eventually(Duration::from_secs(10), || async {
        stack.order("gadget", 1).await.status() == StatusCode::CREATED
    })
    .await;
    assert!(back);
    let ledger = stack.settled("widget").await;
    assert_eq!(ledger.reserved, 0, "{ledger:?}");
}
