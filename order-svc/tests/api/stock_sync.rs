//! The stock sync's lease: no transaction or lock is held while it calls inventory, a lease
//! keeps other rounds off until it runs out, and an outcome is recorded only where the order is
//! still as it was leased, so a cancel during a round is neither blocked nor lost (nor by a
//! request's own late confirm, fenced the same way).

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use order_svc::{
    clients::{Dependency, InventoryClient, Settlement},
    config::DependencyConfig,
    store::{OrderStore, StockLease, StockOutcome, StockState},
};
use platform::{reservation::Action, testing::TestDatabase};
use reqwest::StatusCode;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::helpers::{Options, spawn_stack_with};

/// The stock sync's grace period, as in `order-svc/src/stock_sync.rs`.
const GRACE: Duration = Duration::from_secs(2);
/// A lease no test outlives.
const LEASE: StockLease = StockLease {
    length: Duration::from_secs(60),
    per_order: Duration::from_secs(10),
};

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// A fresh database, a store over it, and a connection of the test's own.
async fn store() -> (TestDatabase, OrderStore, tokio_postgres::Client) {
    let db = TestDatabase::create(order_svc::migrations()).await;
    let store = OrderStore::new(platform::postgres::pool(&db.config).unwrap());
    let sql = connect(&db.config.url).await;
    (db, store, sql)
}

/// A confirmed order whose hold is still to be confirmed, last touched `age` seconds ago (as a
/// process leaves it when it dies between writing the order and confirming).
async fn pending_confirm(sql: &tokio_postgres::Client, id: Uuid, quantity: i32, age: f64) {
    sql.execute(
        "INSERT INTO orders (id, item_id, quantity, status, unit_price_cents, total_cents, currency, stock, created_at, updated_at) \
         VALUES ($1, 'widget', $2, 'confirmed', 100, $3, 'EUR', 'pending_confirm', \
                 now() - make_interval(secs => $4), now() - make_interval(secs => $4))",
        &[&id, &quantity, &(100 * i64::from(quantity)), &age],
    )
    .await
    .unwrap();
}

/// The order's `status`, `stock` and whether it is leased.
async fn row(sql: &tokio_postgres::Client, id: Uuid) -> (String, String, bool) {
    let row = sql
        .query_one(
            "SELECT status, stock, stock_lease_owner IS NOT NULL FROM orders WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn the_stock_sync_holds_no_transaction_or_lock_while_it_calls_inventory() {
    let (_db, store, sql) = store().await;
    let id = Uuid::now_v7();
    pending_confirm(&sql, id, 2, 5.0).await;
    let (calling, answer) = (Notify::new(), Notify::new());

    let round = store.sync_stock(GRACE, 50, LEASE, |task| {
        let (calling, answer) = (&calling, &answer);
        async move {
            assert_eq!(
                (task.order.id, task.stock),
                (id, StockState::PendingConfirm)
            );
            calling.notify_one();
            // Inventory, stalled until the test has looked.
            answer.notified().await;
            Some(StockOutcome::Settled(StockState::Committed))
        }
    });
    let probe = async {
        tokio::time::timeout(Duration::from_secs(10), calling.notified())
            .await
            .expect("the round never called inventory");
        let open: i64 = sql
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(open, 0, "a transaction is open while the round calls");
        assert!(row(&sql, id).await.2, "the order is leased");
        // A write to the leased order (it takes the row's lock) goes through at once; the
        // bound is only there to fail instead of hanging.
        let write = tokio::time::timeout(
            Duration::from_secs(5),
            sql.execute("UPDATE orders SET reason = reason WHERE id = $1", &[&id]),
        )
        .await;
        assert!(
            matches!(write, Ok(Ok(1))),
            "a write to a leased order waited for the round: {write:?}"
        );
        answer.notify_one();
    };
    let (recorded, ()) = tokio::join!(round, probe);
    assert_eq!(recorded.unwrap(), 1);
    assert_eq!(
        row(&sql, id).await,
        ("confirmed".into(), "committed".into(), false),
        "recorded, lease cleared"
    );
}

#[tokio::test]
async fn a_lease_keeps_other_rounds_off_until_it_runs_out_and_a_round_that_lost_it_records_nothing()
{
    let (_db, store, sql) = store().await;
    let id = Uuid::now_v7();
    pending_confirm(&sql, id, 2, 5.0).await;
    let others_called = AtomicUsize::new(0);

    let first = store
        .sync_stock(GRACE, 50, LEASE, |_| {
            let (store, sql, others_called) = (&store, &sql, &others_called);
            async move {
                // Another replica's round meanwhile: the order is leased, it gets nothing.
                let other = store
                    .sync_stock(GRACE, 50, LEASE, |_| {
                        others_called.fetch_add(1, Ordering::SeqCst);
                        async { None }
                    })
                    .await
                    .unwrap();
                assert_eq!(
                    (other, others_called.load(Ordering::SeqCst)),
                    (0, 0),
                    "a leased order was taken"
                );
                // This round stalls past its lease; another round takes the order and confirms.
                sql.execute(
                    "UPDATE orders SET stock_lease_until = now() - interval '1 second' WHERE id = $1",
                    &[&id],
                )
                .await
                .unwrap();
                let taken = store
                    .sync_stock(GRACE, 50, LEASE, |_| async {
                        Some(StockOutcome::Settled(StockState::Committed))
                    })
                    .await
                    .unwrap();
                assert_eq!(taken, 1, "an expired lease was not taken over");
                // The first round's late, contradicting answer must not cancel the order.
                Some(StockOutcome::Lapsed("stale answer".into()))
            }
        })
        .await
        .unwrap();
    assert_eq!(first, 0, "a round that lost its lease recorded its outcome");
    assert_eq!(
        row(&sql, id).await,
        ("confirmed".into(), "committed".into(), false)
    );
    let events: i64 = sql
        .query_one("SELECT count(*) FROM outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 0, "no order_cancelled for a dropped outcome");
}

#[tokio::test]
async fn orders_a_round_does_not_finish_are_released_to_the_next_round_at_once() {
    let (_db, store, sql) = store().await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    pending_confirm(&sql, a, 1, 6.0).await;
    pending_confirm(&sql, b, 1, 5.0).await;

    // A lease too short for even one order's calls: none is started, both are given back.
    let short = StockLease {
        length: Duration::from_secs(1),
        per_order: Duration::from_secs(2),
    };
    let called = AtomicUsize::new(0);
    let recorded = store
        .sync_stock(GRACE, 50, short, |_| {
            called.fetch_add(1, Ordering::SeqCst);
            async { Some(StockOutcome::Settled(StockState::Committed)) }
        })
        .await
        .unwrap();
    assert_eq!((recorded, called.load(Ordering::SeqCst)), (0, 0));
    assert!(
        !row(&sql, a).await.2 && !row(&sql, b).await.2,
        "leases kept"
    );

    // Inventory did not answer for the first, oldest first: it is given back too.
    let mut seen = Vec::new();
    let recorded =
        store
            .sync_stock(GRACE, 50, LEASE, |task| {
                seen.push(task.order.id);
                async move {
                    (task.order.id == b).then_some(StockOutcome::Settled(StockState::Committed))
                }
            })
            .await
            .unwrap();
    assert_eq!((recorded, seen), (1, vec![a, b]));
    assert_eq!(
        row(&sql, a).await,
        ("confirmed".into(), "pending_confirm".into(), false)
    );
    assert_eq!(
        store
            .sync_stock(GRACE, 50, LEASE, |task| async move {
                assert_eq!(task.order.id, a);
                Some(StockOutcome::Settled(StockState::Committed))
            })
            .await
            .unwrap(),
        1,
        "the next round retries it at once"
    );
}

#[tokio::test]
async fn an_order_cancelled_while_the_stock_sync_calls_inventory_gets_its_stock_back() {
    let stack = spawn_stack_with(Options {
        proxy_inventory: true,
        ..Options::default()
    })
    .await;
    stack.item("widget", 10, 100).await;
    let id = Uuid::now_v7();
    let res = stack
        .client
        .post(format!("{}/reserve", stack.inventory))
        .json(&serde_json::json!({"reservation_id": id, "lines": [{"item_id": "widget", "quantity": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let sql = connect(&stack.order_db.config.url).await;
    // Just written, so order-svc's own sync leaves it alone for its grace period; this test's
    // round (another replica, with no grace) leases it first.
    pending_confirm(&sql, id, 2, 0.0).await;

    // The other replica, talking to inventory directly.
    let store = OrderStore::new(platform::postgres::pool(&stack.order_db.config).unwrap());
    let inventory = InventoryClient(
        Dependency::new(
            "inventory-svc",
            &DependencyConfig {
                url: stack.inventory.clone(),
                timeout: Duration::from_secs(2),
                retries: 0,
                circuit_failures: 5,
                circuit_open_for: Duration::from_millis(500),
            },
        )
        .unwrap(),
    );
    let (calling, answer) = (Notify::new(), Notify::new());
    let round = store.sync_stock(Duration::ZERO, 50, LEASE, |task| {
        let (calling, answer, inventory) = (&calling, &answer, &inventory);
        async move {
            let quantity = platform::contract::Quantity::new(task.order.quantity).unwrap();
            let confirmed = inventory
                .settle(
                    Action::Confirm,
                    task.order.id,
                    &task.order.item_id,
                    quantity,
                    "test",
                )
                .await
                .unwrap();
            assert_eq!(confirmed, Settlement::Done);
            calling.notify_one();
            // Its answer is slow to come back.
            answer.notified().await;
            Some(StockOutcome::Settled(StockState::Committed))
        }
    });
    let cancel = async {
        tokio::time::timeout(Duration::from_secs(10), calling.notified())
            .await
            .expect("the round never called inventory");
        // order-svc cannot reach inventory: the cancel leaves the return to the sync.
        stack.inventory_proxy.as_ref().unwrap().cut();
        let cancelled =
            tokio::time::timeout(Duration::from_secs(15), stack.cancel(&id.to_string()))
                .await
                .expect("the cancel waited for the stock sync's round");
        assert_eq!(cancelled.status(), StatusCode::OK);
        assert_eq!(
            row(&sql, id).await,
            ("cancelled".into(), "pending_return".into(), false)
        );
        answer.notify_one();
    };
    let (recorded, ()) = tokio::join!(round, cancel);
    assert_eq!(
        recorded.unwrap(),
        0,
        "the round wrote 'committed' over the cancel's pending return"
    );

    stack.inventory_proxy.as_ref().unwrap().restore();
    let returned = platform::testing::eventually(Duration::from_secs(20), || async {
        row(&sql, id).await.1 == "returned"
    })
    .await;
    assert!(returned, "the cancelled order's units never went back");
    let ledger = stack.settled("widget").await;
    assert_eq!(
        (ledger.stock, ledger.sold),
        (10, 0),
        "the units sold by the round are back"
    );
}

#[tokio::test]
async fn a_confirm_marked_after_a_cancel_does_not_overwrite_its_pending_return() {
    let (_db, store, sql) = store().await;
    let id = Uuid::now_v7();
    pending_confirm(&sql, id, 1, 0.0).await;
    // The order is cancelled between the request's confirm at inventory and its marking it.
    let cancelled = store.cancel(id, "cancelled by request").await.unwrap();
    assert!(matches!(cancelled, Some(Ok(_))));
    let marked = store.mark_committed(&[id]).await.unwrap();
    assert_eq!(marked, 0, "a late confirm overwrote the cancel");
    assert_eq!(
        row(&sql, id).await,
        ("cancelled".into(), "pending_return".into(), false),
        "the units are still to be returned"
    );
}

#[tokio::test]
async fn a_mark_commits_exactly_the_pending_orders_of_its_batch() {
    let (_db, store, sql) = store().await;
    let pending: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    for id in &pending {
        pending_confirm(&sql, *id, 1, 0.0).await;
    }
    let cancelled = Uuid::now_v7();
    pending_confirm(&sql, cancelled, 1, 0.0).await;
    assert!(matches!(
        store
            .cancel(cancelled, "cancelled by request")
            .await
            .unwrap(),
        Some(Ok(_))
    ));
    let untouched = Uuid::now_v7();
    pending_confirm(&sql, untouched, 1, 0.0).await;

    // One batch: the five pending orders (the first twice), the cancelled one, and an id no
    // order has; the order outside the batch stays as it is.
    let mut batch = pending.clone();
    batch.extend([pending[0], cancelled, Uuid::now_v7()]);
    let marked = store.mark_committed(&batch).await.unwrap();
    assert_eq!(marked, 5, "each pending order of the batch marked once");
    for id in &pending {
        assert_eq!(row(&sql, *id).await.1, "committed");
    }
    assert_eq!(row(&sql, cancelled).await.1, "pending_return");
    assert_eq!(row(&sql, untouched).await.1, "pending_confirm");
}
