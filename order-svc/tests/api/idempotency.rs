//! `Idempotency-Key`: the same key and body give the same order, once.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use order_svc::{
    domain::{Order, OrderStatus},
    store::{Finished, KeyClaim, KeyedAnswer, NewOrder, OrderStore, StockState},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Stack, assert_problem, spawn_stack};

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_order_and_creates_nothing() {
    let stack = spawn_stack().await;
    let tap = platform::testing::EventTap::bind(&stack.amqp).await;
    stack.item("widget", 10, 100).await;
    let body = json!({"item_id": "widget", "quantity": 3});
    let first = stack.post_order(body.clone(), Some("key-1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();
    let retry = stack.post_order(body, Some("key-1")).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["location"], location);
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
    assert_eq!(stack.counts().await["confirmed"], 1);
    assert_eq!(stack.settled("widget").await.sold, 3);

    let other = stack
        .post_order(json!({"item_id": "widget", "quantity": 4}), Some("key-1"))
        .await;
    let problem = assert_problem(other, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["type"], "urn:sioms:problem:idempotency-key-reused");
    assert_eq!(stack.counts().await["confirmed"], 1);
    let announced = platform::testing::eventually(std::time::Duration::from_secs(10), || async {
        !tap.of_kind("order_created").is_empty()
    })
    .await;
    assert!(announced);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        tap.of_kind("order_created").len(),
        1,
        "the retry announced nothing new"
    );
}

#[tokio::test]
async fn concurrent_retries_with_one_key_make_one_order() {
    let stack = spawn_stack().await;
    stack.item("widget", 100, 100).await;
    let body = json!({"item": "widget", "quantity": 1});
    let answers = futures::future::join_all(
        (0..20).map(|_| stack.post_order(body.clone(), Some("flaky-client"))),
    )
    .await;
    let mut ids = HashSet::new();
    for res in answers {
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "every retry waits for the first"
        );
        let order: Value = res.json().await.unwrap();
        ids.insert(order["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "one order for one key");
    assert_eq!(stack.counts().await["confirmed"], 1);
    assert_eq!(stack.settled("widget").await.sold, 1);
}

#[tokio::test]
async fn a_rejection_is_replayed_too() {
    let stack = spawn_stack().await;
    stack.item("widget", 1, 100).await;
    let body = json!({"item_id": "widget", "quantity": 2});
    let first = assert_problem(
        stack.post_order(body.clone(), Some("k")).await,
        StatusCode::CONFLICT,
    )
    .await;
    stack
        .client
        .put(format!("{}/items/widget", stack.inventory))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&json!({"stock": 50}))
        .send()
        .await
        .unwrap();
    let retry = assert_problem(
        stack.post_order(body, Some("k")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        retry["order_id"], first["order_id"],
        "the same answer, not a new attempt"
    );
    assert_eq!(stack.counts().await["rejected"], 1);
}

/// A key as a process leaves it when it dies after reserving and before recording the order:
/// in flight, claimed by the incarnation `owner`, under `order_id`, which holds `quantity`
/// units of `widget` at inventory.
async fn abandoned_claim(stack: &Stack, key: &str, order_id: &str, owner: i64, quantity: u64) {
    let res = stack
        .client
        .post(format!("{}/reserve", stack.inventory))
        .json(&json!({"reservation_id": order_id, "lines": [{"item_id": "widget", "quantity": quantity}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    stack
        .sql(&format!(
            "INSERT INTO idempotency_keys (key, fingerprint, order_id, state, locked_at, owner) \
             VALUES ('{key}', 'item_id=widget;quantity={quantity}', '{order_id}', 'in_flight', now(), {owner})"
        ))
        .await;
}

#[tokio::test]
async fn a_key_whose_process_died_is_taken_over_at_once_and_its_hold_given_back() {
    let stack = spawn_stack().await;
    stack.item("widget", 10, 100).await;
    let dead = "0190a0a0-0000-7000-8000-0000000000d1";
    // Nobody holds the lock of incarnation 4242: its process is gone.
    abandoned_claim(&stack, "retried-after-a-crash", dead, 4242, 3).await;
    assert_eq!(stack.ledger("widget").await.reserved, 3);

    let started = Instant::now();
    let res = stack
        .post_order(
            json!({"item_id": "widget", "quantity": 3}),
            Some("retried-after-a-crash"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered at once, not after the stale limit ({:?})",
        started.elapsed()
    );
    let order: Value = res.json().await.unwrap();
    assert_ne!(
        order["id"], dead,
        "a fresh order id, not the dead request's"
    );
    assert_eq!(stack.counts().await["confirmed"], 1);
    let ledger = stack.settled("widget").await;
    assert_eq!(
        (ledger.stock, ledger.reserved, ledger.sold),
        (7, 0, 3),
        "the dead request's hold went back; only the order's units are sold"
    );
}

#[tokio::test]
async fn a_key_held_by_a_live_process_is_waited_for_not_taken_over() {
    let stack = spawn_stack().await;
    stack.item("widget", 10, 100).await;
    // Incarnation 4343 is alive: a session holds its lock.
    let (owner, conn) = tokio_postgres::connect(&stack.order_db.config.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    owner
        .execute("SELECT pg_advisory_lock(4343)", &[])
        .await
        .unwrap();
    abandoned_claim(
        &stack,
        "slow-first-request",
        "0190a0a0-0000-7000-8000-0000000000d2",
        4343,
        2,
    )
    .await;
    let body = json!({"item_id": "widget", "quantity": 2});
    let problem = assert_problem(
        stack
            .post_order(body.clone(), Some("slow-first-request"))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(problem["type"], "urn:sioms:problem:request-in-progress");
    assert!(!stack.counts().await.contains_key("confirmed"));

    // The owner dies: its session ends, and the next retry takes the key over.
    drop(owner);
    let _ = conn.await;
    let res = stack.post_order(body, Some("slow-first-request")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(stack.counts().await["confirmed"], 1);
    let ledger = stack.settled("widget").await;
    assert_eq!((ledger.stock, ledger.reserved, ledger.sold), (8, 0, 2));
}

#[tokio::test]
async fn a_request_whose_key_was_taken_over_writes_nothing() {
    let db = platform::testing::TestDatabase::create(order_svc::migrations()).await;
    let store = OrderStore::new(platform::postgres::pool(&db.config).unwrap());
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let claim = |order_id| {
        store.claim_key(
            "k",
            "item_id=widget;quantity=1",
            order_id,
            4444,
            Duration::from_secs(30),
        )
    };
    assert!(matches!(
        claim(first).await.unwrap(),
        KeyClaim::Owned { previous: None, .. }
    ));
    // Incarnation 4444 holds no lock: a second request takes the key over from the first.
    let KeyClaim::Owned { previous, .. } = claim(second).await.unwrap() else {
        panic!("not taken over");
    };
    assert_eq!(previous, Some(first));

    // The first request, still running after all, tries to record its order: refused. It is
    // written in one statement with an unkeyed order, which is written: each order of a batch
    // has its own outcome.
    let now = platform::event::now_micros();
    let order = |id| Order {
        id,
        item_id: platform::contract::ItemId::parse("widget").unwrap(),
        quantity: 1,
        status: OrderStatus::Confirmed,
        unit_price_cents: 100,
        total_cents: 100,
        currency: "EUR".into(),
        reason: None,
        created_at: now,
        updated_at: now,
    };
    let unkeyed = Uuid::now_v7();
    let batch = [
        NewOrder {
            order: order(first),
            stock: StockState::PendingConfirm,
            keyed: Some(KeyedAnswer {
                key: "k".into(),
                status: 201,
                body: json!({}),
            }),
        },
        NewOrder {
            order: order(unkeyed),
            stock: StockState::PendingConfirm,
            keyed: None,
        },
    ];
    let finished = store.insert_many(&batch).await.unwrap();
    assert_eq!(finished, [Finished::ClaimLost, Finished::Written]);
    assert!(
        store.get(first).await.unwrap().is_none(),
        "no order written"
    );
    assert!(store.get(unkeyed).await.unwrap().is_some());
    // Nor may it forget the key the second request now owns.
    store.release_key("k", first).await.unwrap();
    assert!(matches!(
        claim(Uuid::now_v7()).await.unwrap(),
        KeyClaim::Owned { previous: Some(p), .. } if p == second
    ));
}

#[tokio::test]
async fn a_key_is_forgotten_after_its_retention_and_remembered_within_it() {
    let stack = spawn_stack().await;
    stack.item("widget", 10, 100).await;
    let body = json!({"item_id": "widget", "quantity": 1});
    let mut ids = Vec::new();
    for key in ["old-key", "young-key"] {
        let res = stack.post_order(body.clone(), Some(key)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        ids.push(res.json::<Value>().await.unwrap()["id"].clone());
    }
    stack
        .sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old-key'")
        .await;
    let pool = platform::postgres::pool(&stack.order_db.config).unwrap();
    let retention = order_svc::store::key_retention(pool, Duration::from_secs(86_400));
    assert_eq!(retention.prune().await.unwrap(), 1, "only the old key");
    assert_eq!(
        retention.prune().await.unwrap(),
        0,
        "nothing left to delete"
    );

    let young = stack.post_order(body.clone(), Some("young-key")).await;
    assert_eq!(young.status(), StatusCode::CREATED);
    assert_eq!(
        young.json::<Value>().await.unwrap()["id"],
        ids[1],
        "replayed"
    );
    let old = stack.post_order(body, Some("old-key")).await;
    assert_eq!(old.status(), StatusCode::CREATED);
    let again = old.json::<Value>().await.unwrap()["id"].clone();
    assert_ne!(again, ids[0], "a forgotten key places a new order");
    assert_eq!(stack.counts().await["confirmed"], 3);
}
