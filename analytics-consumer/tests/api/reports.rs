//! The reports: order counts and revenue per day, low stock following restocks, bad queries.

use std::time::Duration;

use analytics_consumer::gauges;
use chrono::{TimeZone, Utc};
use platform::testing::{self, eventually};
use serde_json::json;

use crate::helpers::{Place, clean_up, order_event, publish, spawn_consumer, stock_event};

#[tokio::test]
async fn order_report_counts_each_outcome_and_nets_cancelled_revenue() {
    let amqp = testing::amqp_config();
    let place = Place::new(&amqp).await;
    let c = spawn_consumer(&place, None).await;
    let d1 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let d2 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    publish(
        &amqp,
        &[
            order_event("order_created", d1, d1, 1000, "EUR"),
            order_event("order_created", d1, d1, 250, "USD"),
            order_event("order_rejected", d1, d1, 300, "EUR"),
            // Placed on day 1, cancelled on day 2: counted on day 2, its revenue taken off day 1.
            order_event("order_cancelled", d2, d1, 1000, "EUR"),
        ],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            c.get("/report/orders?date=2026-03-02").await.1["cancelled"] == 1
        })
        .await
    );
    let (_, day1) = c.get("/report/orders?date=2026-03-01").await;
    assert_eq!(
        day1,
        json!({"date": "2026-03-01", "confirmed": 2, "rejected": 1, "cancelled": 0, "revenue": {"EUR": 0, "USD": 250}})
    );
    let (_, range) = c.get("/report/orders?from=2026-02-28&to=2026-03-02").await;
    let days = range["days"].as_array().unwrap();
    assert_eq!(days.len(), 3, "one row per day, empty days included");
    assert_eq!(days[0]["confirmed"], 0);
    assert_eq!(days[2]["cancelled"], 1);
    let (status, today) = c.get("/report/orders").await;
    assert_eq!(status, 200);
    assert_eq!(today["date"], Utc::now().date_naive().to_string());
    c.stop().await;
    clean_up(&[&place]);
}

#[tokio::test]
async fn low_stock_report_and_gauge_follow_restocks_and_ignore_stale_versions() {
    let amqp = testing::amqp_config();
    let place = Place::new(&amqp).await;
    let c = spawn_consumer(&place, None).await;
    publish(
        &amqp,
        &[
            stock_event("a", 3, 10, 1),
            stock_event("b", 50, 10, 1),
            stock_event("c", 9, 10, 4),
        ],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            c.get("/report/low-stock").await.1["items"]
                .as_array()
                .map_or(0, Vec::len)
                == 2
        })
        .await
    );
    // The gauge counts what the report lists.
    let pool = platform::postgres::pool(&place.db.config).unwrap();
    assert_eq!(gauges::items_below_threshold(&pool).await.unwrap(), 2);
    // A restock of a, and a late (older) event for c that must not win.
    publish(
        &amqp,
        &[stock_event("a", 40, 10, 2), stock_event("c", 90, 10, 3)],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            c.get("/report/low-stock").await.1["items"]
                .as_array()
                .map_or(0, Vec::len)
                == 1
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, low) = c.get("/report/low-stock").await;
    assert_eq!(
        low,
        json!({"items": [{"item_id": "c", "name": "Item c", "stock": 9, "threshold": 10}]})
    );
    assert_eq!(gauges::items_below_threshold(&pool).await.unwrap(), 1);
    c.stop().await;
    clean_up(&[&place]);
}

#[tokio::test]
async fn bad_report_queries_are_refused_with_a_reason() {
    let amqp = testing::amqp_config();
    let place = Place::new(&amqp).await;
    let c = spawn_consumer(&place, None).await;
    for (query, needle) in [
        ("date=2026-13-01", "date must be a date"),
        ("date=yesterday", "date must be a date"),
        ("from=2026-03-05&to=2026-03-01", "must not be before"),
        ("from=2025-01-01&to=2026-12-31", "at most 366 days"),
        ("from=2026-03-01", "needs both"),
        ("date=2026-03-01&from=2026-03-01&to=2026-03-02", "not both"),
        ("dat=2026-03-01", "unknown field"),
    ] {
        let (status, body) = c.get(&format!("/report/orders?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(
            body["detail"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
    c.stop().await;
    clean_up(&[&place]);
}
