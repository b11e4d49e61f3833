//! One planted discrepancy of each kind: the audit fails, names the check and what is wrong,
//! and leaves the other checks alone.

use std::time::Duration;

use sioms_audit::report::Verdict;
use uuid::Uuid;

use crate::helpers::{World, assert_fails, verdict};

#[tokio::test]
async fn broken_conservation_is_named_by_item() {
    let world = World::consistent().await;
    world
        .redis_cmd(
            redis::cmd("HINCRBY")
                .arg(world.item_key("gadget"))
                .arg("stock")
                .arg(-1),
        )
        .await;
    let report = world.audit().await;
    assert_fails(
        &report,
        &["conservation"],
        "item gadget: stock 37 + held 0 + sold 2 = 39, but provisioned is 40",
    );
    assert_eq!(
        verdict(&report, "conservation"),
        &Verdict::Fails {
            attempts: 2,
            moving: false
        }
    );
}

#[tokio::test]
async fn held_units_without_a_live_hold_are_named() {
    let world = World::consistent().await;
    // Units moved from stock to held with no hold record: they could never come back.
    let key = world.item_key("widget");
    world
        .redis_cmd(redis::cmd("HINCRBY").arg(&key).arg("stock").arg(-2))
        .await;
    world
        .redis_cmd(redis::cmd("HINCRBY").arg(&key).arg("held").arg(2))
        .await;
    let report = world.audit().await;
    assert_fails(
        &report,
        &["conservation"],
        "item widget: held is 2 but its live holds add up to 0",
    );
}

#[tokio::test]
async fn a_negative_counter_is_named() {
    let world = World::consistent().await;
    let key = world.item_key("gizmo");
    world
        .redis_cmd(
            redis::cmd("HSET")
                .arg(&key)
                .arg("stock")
                .arg(-3)
                .arg("provisioned")
                .arg(2),
        )
        .await;
    let report = world.audit().await;
    assert_fails(&report, &["conservation"], "item gizmo: negative stock -3");
}

#[tokio::test]
async fn redis_sold_that_disagrees_with_the_orders_is_named() {
    let world = World::consistent().await;
    // A sale Redis knows and the orders table does not; conservation still balances.
    let key = world.item_key("widget");
    world
        .redis_cmd(redis::cmd("HINCRBY").arg(&key).arg("sold").arg(1))
        .await;
    world
        .redis_cmd(redis::cmd("HINCRBY").arg(&key).arg("provisioned").arg(1))
        .await;
    let report = world.audit().await;
    assert_fails(
        &report,
        &["sold = orders"],
        "item widget: Redis sold 4 but its confirmed orders hold 3 units",
    );
}

#[tokio::test]
async fn an_item_removed_after_it_sold_is_named_in_a_warning() {
    let world = World::consistent().await;
    let deleted = world
        .store
        .delete_item(&inventory_svc::domain::ItemId::parse("gadget").unwrap())
        .await
        .unwrap();
    assert!(deleted);
    world.drain_outbox().await;
    let report = world.audit().await;
    // An admin may remove an item that sold; its sales can no longer be reconciled, and the
    // audit says so without failing.
    assert_eq!(report.exit_code(), 0, "\n{report}");
    let entry = report.entry("sold = orders").unwrap();
    assert!(
        entry.warnings.iter().any(|w| w
            .contains("item gadget: confirmed orders hold 2 units, but the item is not in Redis")),
        "\n{report}"
    );
}

#[tokio::test]
async fn an_order_stuck_pending_is_named() {
    let world = World::consistent().await;
    let stuck = world.place_order("gadget", 1).await;
    World::sql(
        &world.orders,
        &format!(
            "UPDATE orders SET stock = 'pending_confirm', updated_at = now() - interval '1 minute' \
             WHERE id = '{stuck}'"
        ),
    )
    .await;
    // A young pending order is work in flight, not a failure.
    let young = world.place_order("gadget", 1).await;
    World::sql(
        &world.orders,
        &format!("UPDATE orders SET stock = 'pending_return' WHERE id = '{young}'"),
    )
    .await;
    let report = world.audit().await;
    assert_fails(
        &report,
        &["pending orders"],
        &format!("order {stuck}: stock pending_confirm for 60."),
    );
    let entry = report.entry("pending orders").unwrap();
    assert_eq!(entry.discrepancies.len(), 1);
    assert!(
        entry.figures.starts_with("2 pending now (oldest 60."),
        "{}",
        entry.figures
    );
    assert!(
        entry.figures.ends_with("1 pending longer than 10s"),
        "{}",
        entry.figures
    );
}

#[tokio::test]
async fn an_old_outbox_event_is_named_in_postgres_and_in_redis() {
    let world = World::consistent().await;
    World::sql(
        &world.pricing,
        "INSERT INTO outbox (event_id, kind, occurred_at, source, data, created_at) \
         VALUES (gen_random_uuid(), 'price_changed', now(), 'pricing-svc', '{}', \
         now() - interval '5 minutes')",
    )
    .await;
    let old_ms = chrono::Utc::now().timestamp_millis() - 120_000;
    world
        .redis_cmd(
            redis::cmd("XADD")
                .arg(format!("{}:outbox", world.item_key("widget")))
                .arg(format!("{old_ms}-0"))
                .arg("event_id")
                .arg(Uuid::now_v7().to_string()),
        )
        .await;
    let report = world.audit().await;
    assert_fails(
        &report,
        &["outboxes"],
        "pricing-svc outbox: the oldest of 1 row has waited 300.",
    );
    assert_fails(
        &report,
        &["outboxes"],
        "inventory-svc outbox: the oldest of 1 event has waited 120.",
    );
}

#[tokio::test]
async fn an_analytics_count_off_by_one_is_named_by_day() {
    let world = World::consistent().await;
    World::sql(
        &world.analytics,
        "UPDATE daily_orders SET confirmed = confirmed + 1",
    )
    .await;
    let report = world.audit().await;
    let today = chrono::Utc::now().date_naive();
    assert_fails(
        &report,
        &["analytics"],
        &format!(
            "{today}: analytics has confirmed 4, rejected 1, cancelled 1, the orders table \
             confirmed 3, rejected 1, cancelled 1"
        ),
    );
}

#[tokio::test]
async fn revenue_off_by_a_cent_is_named_by_day_and_currency() {
    let world = World::consistent().await;
    World::sql(
        &world.analytics,
        "UPDATE daily_revenue SET cents = cents - 1",
    )
    .await;
    let report = world.audit().await;
    assert_fails(
        &report,
        &["analytics"],
        "revenue in EUR: analytics has 1249, the confirmed orders placed that day total 1250",
    );
}

#[tokio::test]
async fn an_order_notified_under_two_events_is_named() {
    let world = World::consistent().await;
    let order = world.place_order("gizmo", 1).await;
    // The same order confirmed a second time under a new event id: a duplicate the notifier's
    // dedupe by event id cannot catch.
    world
        .notify(
            "order_confirmed",
            &format!("Order {order} confirmed"),
            Uuid::now_v7(),
        )
        .await;
    let report = world.audit().await;
    assert_fails(
        &report,
        &["notifications"],
        &format!("order {order} was notified 2 times (order_confirmed)"),
    );
}

#[tokio::test]
async fn a_recipient_notified_twice_and_a_missing_alert_are_named() {
    let world = World::consistent().await;
    let quiet = world.place_order("gizmo", 1).await;
    World::sql(
        &world.notifier,
        &format!(
            "DELETE FROM notifications WHERE subject = 'Order {quiet} confirmed'; \
             INSERT INTO notifications (kind, recipient, subject, body, event_id, event_type) \
             SELECT kind, recipient, subject, body, event_id, event_type FROM notifications \
             WHERE kind = 'low_stock' AND recipient = 'ops@example.com'"
        ),
    )
    .await;
    let report = world.audit().await;
    assert_fails(
        &report,
        &["notifications"],
        &format!("order {quiet} was confirmed but never notified (order_confirmed)"),
    );
    assert_fails(
        &report,
        &["notifications"],
        "3 rows for 2 recipients, so a recipient was notified twice",
    );
}

#[tokio::test]
async fn dead_letters_are_a_warning_not_a_failure() {
    let world = World::consistent().await;
    world
        .enqueue(&format!("{}.dead", world.notifier_queue), b"poison")
        .await;
    world
        .enqueue(&format!("{}.retry.1", world.notifier_queue), b"retrying")
        .await;
    let report = world.audit().await;
    assert_eq!(report.exit_code(), 0, "\n{report}");
    let entry = report.entry("queues").unwrap();
    assert!(
        entry.figures.ends_with(&format!(
            "{} 0 ready, 1 retrying, 1 dead",
            world.notifier_queue
        )),
        "{}",
        entry.figures
    );
    assert!(
        report
            .to_string()
            .contains("[ok; WARNING: 1 dead-lettered message parked in"),
        "\n{report}"
    );
}

#[tokio::test]
async fn a_missing_queue_fails() {
    let world = World::consistent().await;
    let mut config = world.config();
    config.notifier_queue = platform::testing::unique_name("never-declared");
    let report = world.audit_with(config).await;
    assert_fails(&report, &["queues"], "does not exist");
}

#[tokio::test]
async fn an_unreadable_source_is_an_error_and_the_rest_is_still_checked() {
    let world = World::consistent().await;
    let mut config = world.config();
    config.analytics_db = config.analytics_db.replace("/test_", "/missing_");
    config.limits.settle = Duration::from_millis(10);
    let report = world.audit_with(config).await;
    assert!(
        matches!(verdict(&report, "analytics"), Verdict::Unreadable { error, .. }
            if error.starts_with("cannot read the analytics database:")),
        "\n{report}"
    );
    assert_eq!(report.unreadable().count(), 1, "\n{report}");
    assert_eq!(report.failed().count(), 0, "\n{report}");
    assert_eq!(report.exit_code(), 2);
}
