//! Work in flight is not loss: a discrepancy that goes away between attempts is not reported
//! (unless the audit is strict), and the binary's exit status says what the audit found.

use std::{process::Command, time::Duration};

use sioms_audit::report::Verdict;

use crate::helpers::{World, assert_fails, verdict};

/// An order row written before its hold is confirmed in Redis, as order-svc does it: for a
/// moment the orders table leads Redis.
async fn order_row_ahead_of_redis(world: &World) -> uuid::Uuid {
    let order = world.place_order("gadget", 2).await;
    let key = world.item_key("gadget");
    // Take the sale back in Redis, as if the confirm had not happened yet.
    world
        .redis_cmd(redis::cmd("HINCRBY").arg(&key).arg("sold").arg(-2))
        .await;
    world
        .redis_cmd(redis::cmd("HINCRBY").arg(&key).arg("held").arg(2))
        .await;
    world
        .redis_cmd(
            redis::cmd("HSET")
                .arg(format!("{key}:holds"))
                .arg(order.to_string())
                .arg("held:2"),
        )
        .await;
    order
}

/// What the confirm in Redis then does.
async fn confirm_in_redis(world: &World, order: uuid::Uuid) {
    let key = world.item_key("gadget");
    world
        .redis_cmd(redis::cmd("HINCRBY").arg(&key).arg("held").arg(-2))
        .await;
    world
        .redis_cmd(redis::cmd("HINCRBY").arg(&key).arg("sold").arg(2))
        .await;
    world
        .redis_cmd(
            redis::cmd("HSET")
                .arg(format!("{key}:holds"))
                .arg(order.to_string())
                .arg("confirmed:2"),
        )
        .await;
}

#[tokio::test]
async fn a_discrepancy_that_settles_between_attempts_is_not_reported() {
    let world = World::consistent().await;
    let order = order_row_ahead_of_redis(&world).await;
    let mut config = world.config();
    config.limits.settle = Duration::from_millis(400);
    config.limits.attempts = 3;
    let audit = world.audit_with(config);
    let settle = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        confirm_in_redis(&world, order).await;
    };
    let (report, ()) = tokio::join!(audit, settle);
    assert_eq!(report.exit_code(), 0, "\n{report}");
    assert_eq!(
        verdict(&report, "sold = orders"),
        &Verdict::Holds { attempts: 2 }
    );
    assert!(
        report
            .to_string()
            .contains("in confirmed orders [ok after 2 attempts]"),
        "\n{report}"
    );
    // The full run's figures stay, not those of the re-run over one item.
    assert_eq!(
        report.entry("sold = orders").unwrap().figures,
        "3 items: 5 units sold in Redis, 7 in confirmed orders"
    );
}

#[tokio::test]
async fn a_strict_audit_reports_what_it_sees_at_once() {
    let world = World::consistent().await;
    order_row_ahead_of_redis(&world).await;
    let mut config = world.config();
    config.limits.attempts = 1;
    let report = world.audit_with(config).await;
    assert_fails(
        &report,
        &["sold = orders"],
        "item gadget: Redis sold 2 but its confirmed orders hold 4 units",
    );
    assert!(
        report.to_string().contains("in confirmed orders [FAIL]\n"),
        "\n{report}"
    );
}

#[tokio::test]
async fn the_binary_exits_0_when_all_holds_1_on_a_discrepancy_and_2_when_it_cannot_read() {
    let world = World::consistent().await;
    let run = |extra: &[(&str, &str)], args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sioms-audit"))
            .args(args)
            .envs(world.env())
            .envs(extra.iter().copied())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        (out.status.code(), stdout)
    };
    let (code, stdout) = run(&[], &[]);
    assert_eq!(code, Some(0));
    assert!(stdout.ends_with("audit: all 7 checks hold\n"), "{stdout}");

    World::sql(&world.analytics, "UPDATE daily_orders SET rejected = 0").await;
    let (code, stdout) = run(&[], &["--strict"]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("; one attempt (strict)\n"), "{stdout}");
    assert!(stdout.ends_with("audit: FAILED: analytics\n"), "{stdout}");

    let (code, stdout) = run(
        &[("REDIS_URL", "redis://127.0.0.1:1")],
        &["--attempts", "1"],
    );
    assert_eq!(
        code,
        Some(1),
        "the analytics discrepancy outranks the unreadable Redis"
    );
    assert!(
        stdout.contains("conservation   (not read) [ERROR: cannot read Redis"),
        "{stdout}"
    );
    World::sql(&world.analytics, "UPDATE daily_orders SET rejected = 1").await;
    let (code, stdout) = run(&[("REDIS_URL", "redis://127.0.0.1:1")], &["--strict"]);
    assert_eq!(code, Some(2));
    assert!(
        stdout.ends_with(
            "audit: INCOMPLETE: could not check conservation, sold = orders, outboxes\n"
        ),
        "{stdout}"
    );
    let (code, _) = run(&[("ORDER_DATABASE_URL", "")], &[]);
    assert_eq!(code, Some(2), "a missing variable");
}
