//! Worlds that hold every invariant audit clean, however large, busy or noisy.

use sioms_audit::report::Verdict;

use crate::helpers::{World, verdict};

#[tokio::test]
async fn a_consistent_world_audits_clean() {
    let world = World::consistent().await;
    // Work in flight is not a failure: an event not yet published, a message not yet consumed.
    World::sql(
        &world.orders,
        "INSERT INTO outbox (event_id, kind, occurred_at, source, data) \
         VALUES (gen_random_uuid(), 'order_created', now(), 'order-svc', '{}')",
    )
    .await;
    let report = world.audit().await;
    assert_eq!(report.exit_code(), 0, "\n{report}");
    for entry in &report.entries {
        assert_eq!(entry.verdict, Verdict::Holds { attempts: 1 }, "\n{report}");
    }
    let figures = |name: &str| report.entry(name).unwrap().figures.clone();
    assert_eq!(
        figures("conservation"),
        "3 items: stock 142 + held 5 + sold 5 = provisioned 152"
    );
    assert_eq!(
        figures("sold = orders"),
        "3 items: 5 units sold in Redis, 5 in confirmed orders"
    );
    assert!(
        figures("outboxes").starts_with("order-svc 1 row (oldest "),
        "{}",
        figures("outboxes")
    );
    assert!(
        figures("queues").starts_with(&format!(
            "{} 1 ready, 0 retrying, 0 dead",
            world.analytics_queue
        )),
        "{}",
        figures("queues")
    );
    assert!(
        figures("analytics").ends_with("confirmed 3, rejected 1, cancelled 1; revenue 1250 EUR"),
        "{}",
        figures("analytics")
    );
    assert!(
        figures("notifications")
            .starts_with("3 of 3 orders confirmed and 1 of 1 cancelled notified; 5 events in all"),
        "{}",
        figures("notifications")
    );
    assert!(report.to_string().ends_with("audit: all 7 checks hold\n"));
}

#[tokio::test]
async fn an_empty_world_audits_clean() {
    let world = World::new().await;
    let report = world.audit().await;
    assert_eq!(report.exit_code(), 0, "\n{report}");
}

/// More items than one Redis page, and an item whose hold records take several HSCAN rounds:
/// every item and every live hold is read, and a discrepancy on the last page is found.
#[tokio::test]
async fn every_page_of_items_and_holds_is_read() {
    let world = World::new().await;
    for i in 0..1100 {
        world.add_item(&format!("item-{i:04}"), 5).await;
    }
    world.add_item("busy", 5000).await;
    for _ in 0..1500 {
        world.place_order_in_redis_only("busy").await;
    }
    for _ in 0..7 {
        world.hold("busy", 2).await;
    }
    let report = world.audit().await;
    assert_eq!(
        report.entry("conservation").unwrap().figures,
        "1101 items: stock 8986 + held 14 + sold 1500 = provisioned 10500",
        "\n{report}"
    );
    assert!(
        matches!(verdict(&report, "conservation"), Verdict::Holds { .. }),
        "\n{report}"
    );
    world
        .redis_cmd(
            redis::cmd("HINCRBY")
                .arg(world.item_key("item-1099"))
                .arg("stock")
                .arg(1),
        )
        .await;
    let report = world.audit().await;
    let entry = report.entry("conservation").unwrap();
    assert!(matches!(entry.verdict, Verdict::Fails { .. }), "\n{report}");
    assert_eq!(entry.discrepancies.len(), 1, "\n{report}");
    assert_eq!(entry.discrepancies[0].subject, "item-1099");
}
