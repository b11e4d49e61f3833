//! A flash sale: many more buyers than units, all at once.

use std::{collections::HashSet, time::Duration};

use futures::{StreamExt as _, stream};
use platform::testing::{EventTap, eventually};
use reqwest::StatusCode;

use crate::helpers::spawn_stack;

#[tokio::test]
async fn a_thousand_buyers_for_a_hundred_units_get_exactly_a_hundred_orders() {
    const BUYERS: usize = 1000;
    const UNITS: u64 = 100;
    let stack = spawn_stack().await;
    let tap = EventTap::bind(&stack.amqp).await;
    stack.item("console", UNITS, 49_900).await;

    let statuses: Vec<StatusCode> = stream::iter(0..BUYERS)
        .map(|_| async { stack.order("console", 1).await.status() })
        .buffer_unordered(200)
        .collect()
        .await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!(created as u64, UNITS, "{statuses:?}");
    assert_eq!(
        conflicts,
        BUYERS - UNITS as usize,
        "every other buyer got a 409"
    );

    let counts = stack.counts().await;
    assert_eq!(counts["confirmed"], UNITS as i64);
    assert_eq!(counts["rejected"], (BUYERS as u64 - UNITS) as i64);
    let ledger = stack.settled("console").await;
    assert_eq!((ledger.stock, ledger.sold), (0, UNITS));

    let all = eventually(Duration::from_secs(30), || async {
        tap.of_kind("order_created").len() >= UNITS as usize
    })
    .await;
    assert!(
        all,
        "{} order_created events",
        tap.of_kind("order_created").len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let created_events = tap.of_kind("order_created");
    let distinct: HashSet<_> = created_events
        .iter()
        .map(|e| e.data["order_id"].clone())
        .collect();
    assert_eq!(created_events.len(), UNITS as usize, "no duplicates");
    assert_eq!(distinct.len(), UNITS as usize);
}
