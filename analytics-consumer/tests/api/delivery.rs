//! Each event takes effect exactly once: duplicates, crashes, poison messages, replicas.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use platform::testing::{self, TcpProxy, eventually, socket_addr_of, with_addr};
use serde_json::Value;

use crate::helpers::{Place, clean_up, order_event, publish, spawn_consumer};

fn day(d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, 12, 0, 0).unwrap()
}

async fn confirmed(consumer: &crate::helpers::TestConsumer, d: &str) -> i64 {
    consumer.get(&format!("/report/orders?date={d}")).await.1["confirmed"]
        .as_i64()
        .unwrap_or(-1)
}

#[tokio::test]
async fn the_same_event_delivered_twice_takes_effect_once() {
    let amqp = testing::amqp_config();
    let place = Place::new(&amqp).await;
    let consumer = spawn_consumer(&place, None).await;
    let e = order_event("order_created", day(3), day(3), 1500, "EUR");
    publish(&amqp, &[e.clone(), e.clone()]).await;
    publish(&amqp, &[e]).await;
    let marker = order_event("order_rejected", day(3), day(3), 0, "EUR");
    publish(&amqp, &[marker]).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            consumer.get("/report/orders?date=2026-11-03").await.1["rejected"] == 1
        })
        .await
    );
    let (_, report) = consumer.get("/report/orders?date=2026-11-03").await;
    assert_eq!(report["confirmed"], 1, "{report}");
    assert_eq!(report["revenue"]["EUR"], 1500);
    consumer.stop().await;
    clean_up(&[&place]);
}

#[tokio::test]
async fn a_consumer_killed_mid_batch_and_restarted_counts_every_event_once() {
    const EVENTS: usize = 10_000;
    let amqp = testing::amqp_config();
    let place = Place::new(&amqp).await;
    let proxy = TcpProxy::start(socket_addr_of(&amqp.url)).await;
    let first = spawn_consumer(&place, Some(with_addr(&amqp.url, proxy.addr()))).await;
    let events: Vec<_> = (0..EVENTS)
        .map(|_| order_event("order_created", day(5), day(5), 100, "EUR"))
        .collect();
    // Published beside the consumer, not before it: a batching consumer drains thousands of
    // events a second, and would have finished a backlog published first before the kill.
    let publishing = {
        let amqp = amqp.clone();
        tokio::spawn(async move { publish(&amqp, &events).await })
    };
    assert!(
        eventually(Duration::from_secs(30), || async {
            confirmed(&first, "2026-11-05").await > 200
        })
        .await
    );
    // The process dies mid-batch: its connection drops (unacked deliveries go back to the
    // queue) and it finishes nothing.
    proxy.cut();
    let seen_before = confirmed(&first, "2026-11-05").await;
    first.kill();
    assert!(
        (seen_before as usize) < EVENTS,
        "the kill came too late to prove anything"
    );
    publishing.await.unwrap();

    let second = spawn_consumer(&place, None).await;
    assert!(
        eventually(Duration::from_secs(60), || async {
            confirmed(&second, "2026-11-05").await == EVENTS as i64
        })
        .await,
        "not all events counted: {}",
        confirmed(&second, "2026-11-05").await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, report) = second.get("/report/orders?date=2026-11-05").await;
    assert_eq!(report["confirmed"], EVENTS as i64, "each exactly once");
    assert_eq!(report["revenue"]["EUR"], 100 * EVENTS as i64);
    second.stop().await;
    clean_up(&[&place]);
}

#[tokio::test]
async fn a_poison_message_is_parked_and_the_next_one_is_processed() {
    let amqp = testing::amqp_config();
    let place = Place::new(&amqp).await;
    let consumer = spawn_consumer(&place, None).await;
    testing::publish_raw(&amqp, "order_created", b"{ this is not an event").await;
    // Decodes, but lacks what an order event must carry: fails in the handler every time.
    let mut broken = order_event("order_created", day(7), day(7), 100, "EUR");
    broken.data = serde_json::json!({"order_id": "x"});
    publish(&amqp, &[broken]).await;
    let good = order_event("order_created", day(7), day(7), 700, "EUR");
    publish(&amqp, &[good]).await;

    assert!(
        eventually(Duration::from_secs(10), || async {
            confirmed(&consumer, "2026-11-07").await == 1
        })
        .await
    );
    let dead = format!("{}.dead", place.queue);
    assert!(
        eventually(Duration::from_secs(10), || async {
            testing::queue_depth(&amqp.url, &dead).await == 2
        })
        .await,
        "both bad messages are parked after their retries"
    );
    assert_eq!(
        testing::queue_depth(&amqp.url, &place.queue).await,
        0,
        "nothing is stuck"
    );
    let metrics = consumer
        .client
        .get(format!("{}/metrics", consumer.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("consumer_events_total"), "{metrics}");
    consumer.stop().await;
    clean_up(&[&place]);
}

#[tokio::test]
async fn two_replicas_give_the_same_reports_as_one() {
    let amqp = testing::amqp_config();
    let (solo, pair) = (Place::new(&amqp).await, Place::new(&amqp).await);
    let one = spawn_consumer(&solo, None).await;
    let (a, b) = (
        spawn_consumer(&pair, None).await,
        spawn_consumer(&pair, None).await,
    );
    let mut events = Vec::new();
    for i in 0..3000u32 {
        let d = day(10 + i % 3);
        let kind = [
            "order_created",
            "order_created",
            "order_rejected",
            "order_cancelled",
        ][(i % 4) as usize];
        let currency = if i % 5 == 0 { "USD" } else { "EUR" };
        events.push(order_event(
            kind,
            d,
            day(10 + (i + 1) % 3),
            i64::from(i % 97 + 1),
            currency,
        ));
    }
    // Duplicates too, as an at-least-once relay may send them.
    let dupes: Vec<_> = events.iter().step_by(7).cloned().collect();
    publish(&amqp, &events).await;
    publish(&amqp, &dupes).await;

    let range = "/report/orders?from=2026-11-10&to=2026-11-12";
    let total = |r: &Value| -> i64 {
        r["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                d["confirmed"].as_i64().unwrap()
                    + d["rejected"].as_i64().unwrap()
                    + d["cancelled"].as_i64().unwrap()
            })
            .sum()
    };
    for consumer in [&one, &a] {
        assert!(
            eventually(Duration::from_secs(60), || async {
                total(&consumer.get(range).await.1) == 3000
            })
            .await
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (solo_report, pair_report) = (one.get(range).await.1, a.get(range).await.1);
    assert_eq!(solo_report, pair_report);
    assert_eq!(b.get(range).await.1, pair_report);
    assert_eq!(total(&solo_report), 3000, "duplicates counted once");
    one.stop().await;
    a.stop().await;
    b.stop().await;
    clean_up(&[&solo, &pair]);
}

#[tokio::test]
async fn the_consumer_reconnects_and_is_not_ready_while_the_broker_is_away() {
    let amqp = testing::amqp_config();
    let place = Place::new(&amqp).await;
    let proxy = TcpProxy::start(socket_addr_of(&amqp.url)).await;
    let consumer = spawn_consumer(&place, Some(with_addr(&amqp.url, proxy.addr()))).await;
    proxy.cut();
    assert!(
        eventually(Duration::from_secs(10), || async {
            consumer.get("/readyz").await.0 == 503
        })
        .await
    );
    publish(
        &amqp,
        &[order_event("order_created", day(20), day(20), 5, "EUR")],
    )
    .await;
    proxy.restore();
    assert!(
        eventually(Duration::from_secs(15), || async {
            consumer.get("/readyz").await.0 == 200
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            confirmed(&consumer, "2026-11-20").await == 1
        })
        .await,
        "the event sent while it was away is processed after it reconnects"
    );
    consumer.stop().await;
    clean_up(&[&place]);
}

/// A sum from the consumer's `/metrics` (one registry per test process, shared by the tests):
/// of the lines of `name` whose labels contain each of `with`.
async fn metric(consumer: &crate::helpers::TestConsumer, name: &str, with: &[&str]) -> f64 {
    let text = consumer
        .client
        .get(format!("{}/metrics", consumer.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| with.iter().all(|w| l.contains(w)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_backlog_is_applied_in_batches_each_event_once_despite_duplicates_and_a_poison_event() {
    const ORDERS: usize = 1200;
    const VERSIONS: i64 = 60;
    let amqp = testing::amqp_config();
    let place = Place::new(&amqp).await;
    // The queue exists (the consumer declared it) and holds a backlog before a consumer reads it,
    // so the deliveries arrive many at a time.
    spawn_consumer(&place, None).await.stop().await;

    let mut backlog = Vec::new();
    let mut revenue = 0;
    for i in 0..ORDERS {
        let total = (i % 13 + 1) as i64;
        revenue += total;
        let e = order_event("order_created", day(20), day(20), total, "EUR");
        if i % 5 == 0 {
            // The same event twice in a row (one batch) and once more at the end (another).
            backlog.push(e.clone());
            backlog.push(e.clone());
            backlog.push(e.clone());
        }
        backlog.push(e);
        if i == ORDERS / 2 {
            let mut broken = order_event("order_created", day(20), day(20), 999, "EUR");
            broken.data = serde_json::json!({"order_id": "x"});
            backlog.push(broken);
        }
    }
    // One item's stock figures, newest last but delivered out of order.
    let mut versions: Vec<i64> = (1..=VERSIONS).collect();
    versions.reverse();
    versions.swap(0, 7);
    for v in versions {
        backlog.push(crate::helpers::stock_event("batched", 1000 - v, 100_000, v));
    }
    let deliveries = backlog.len();
    publish(&amqp, &backlog).await;

    let consumer = spawn_consumer(&place, None).await;
    assert!(
        eventually(Duration::from_secs(60), || async {
            confirmed(&consumer, "2026-11-20").await == ORDERS as i64
        })
        .await,
        "not every order counted: {}",
        confirmed(&consumer, "2026-11-20").await
    );
    let dead = format!("{}.dead", place.queue);
    assert!(
        eventually(Duration::from_secs(20), || async {
            testing::queue_depth(&amqp.url, &dead).await == 1
        })
        .await,
        "the poison event is parked after its retries, alone"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, report) = consumer.get("/report/orders?date=2026-11-20").await;
    assert_eq!(report["confirmed"], ORDERS as i64, "each once: {report}");
    assert_eq!(report["revenue"]["EUR"], revenue, "{report}");
    let (_, low) = consumer.get("/report/low-stock").await;
    let item = low["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item_id"] == "batched")
        .cloned()
        .unwrap_or_else(|| panic!("the item is reported: {low}"));
    assert_eq!(
        item["stock"],
        1000 - VERSIONS,
        "the newest figures win: {item}"
    );

    // The mechanism: far fewer handler calls than deliveries, and every duplicate seen as one.
    let queue = format!("queue=\"{}\"", place.queue);
    let calls = metric(&consumer, "consumer_batch_size_count", &[&queue]).await;
    let duplicates = 3 * ORDERS.div_ceil(5);
    assert!(
        calls > 0.0 && calls < (deliveries / 4) as f64,
        "{calls} handler calls for {deliveries} deliveries: not batched"
    );
    let seen = metric(
        &consumer,
        "consumer_events_total",
        &[&queue, "outcome=\"duplicate\""],
    )
    .await;
    assert_eq!(seen, duplicates as f64, "every duplicate recognised as one");
    // Acked a run at a time, and every delivery acked: after the consumer stopped (its channel
    // closed, so anything it left unacked went back to the queue) the queue is empty.
    let frames = metric(&consumer, "consumer_ack_frames_total", &[&queue]).await;
    assert!(
        frames > 0.0 && frames < (deliveries / 4) as f64,
        "{frames} ack frames for {deliveries} deliveries: not acked a run at a time"
    );
    consumer.stop().await;
    assert_eq!(
        testing::queue_depth(&amqp.url, &place.queue).await,
        0,
        "a delivery was left unacked"
    );
    clean_up(&[&place]);
}

#[tokio::test]
async fn applied_event_ids_are_kept_for_the_retention_then_deleted_in_batches() {
    let amqp = testing::amqp_config();
    let place = Place::new(&amqp).await;
    let consumer = spawn_consumer(&place, None).await;
    let e = order_event("order_created", day(7), day(7), 700, "EUR");
    publish(&amqp, std::slice::from_ref(&e)).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            confirmed(&consumer, "2026-11-07").await == 1
        })
        .await
    );
    // 2,500 ids applied eight days ago: more than one batch of the retention pass.
    let pool = platform::postgres::pool(&place.db.config).unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "INSERT INTO processed_events (event_id, processed_at) \
             SELECT gen_random_uuid(), now() - interval '8 days' FROM generate_series(1, 2500)",
        )
        .await
        .unwrap();
    let retention = platform::retention::Retention::processed_events(
        pool.clone(),
        Duration::from_secs(7 * 86_400),
    );
    assert_eq!(retention.prune().await.unwrap(), 2500);
    let left: i64 = pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM processed_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1, "the id applied today stays");

    // Within the retention a redelivery is still recognised.
    publish(&amqp, &[e]).await;
    let marker = order_event("order_rejected", day(7), day(7), 0, "EUR");
    publish(&amqp, &[marker]).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            consumer.get("/report/orders?date=2026-11-07").await.1["rejected"] == 1
        })
        .await
    );
    assert_eq!(confirmed(&consumer, "2026-11-07").await, 1);
    consumer.stop().await;
    clean_up(&[&place]);
}
