//! Alerts: one per event and recipient, once, recorded and listed newest first.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use futures::future::BoxFuture;
use notifier_consumer::{
    Application,
    config::NotifierConfig,
    mail::{Mail, MailTransport},
};
use platform::{
    amqp::ConfirmingPublisher,
    config::{AmqpConfig, Env},
    event::EventEnvelope,
    testing::{self, TestDatabase, eventually},
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A transport that fails its first `failures` sends, then records what it sends.
#[derive(Default)]
struct FlakyTransport {
    failures: usize,
    calls: AtomicUsize,
    sent: std::sync::Mutex<Vec<Mail>>,
}

impl MailTransport for FlakyTransport {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
                anyhow::bail!("mail server said 451, try again later");
            }
            self.sent.lock().unwrap().push(mail.clone());
            Ok(())
        })
    }
}

struct Notifier {
    address: String,
    amqp: AmqpConfig,
    queue: String,
    shutdown: CancellationToken,
    _db: TestDatabase,
}

async fn spawn(transport: Arc<dyn MailTransport>) -> Notifier {
    platform::telemetry::init_for_tests();
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("PORT".into(), "0".into());
    vars.insert("HTTP_WORKERS".into(), "1".into());
    vars.insert("RETRY_DELAYS".into(), "100ms,200ms,300ms".into());
    vars.insert(
        "NOTIFY_RECIPIENTS".into(),
        "ops@example.com, buyer@example.com".into(),
    );
    let mut config = NotifierConfig::from_env(&Env::new(&vars)).unwrap();
    let db = TestDatabase::create(notifier_consumer::migrations()).await;
    config.postgres = db.config.clone();
    config.consumer.amqp = testing::amqp_config();
    config.consumer.queue = testing::unique_name("test.notifier");
    let (amqp, queue) = (config.consumer.amqp.clone(), config.consumer.queue.clone());
    let app = Application::build_with(config, transport).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let n = Notifier {
        address,
        amqp,
        queue,
        shutdown,
        _db: db,
    };
    assert!(
        eventually(Duration::from_secs(10), || async {
            n.get("/readyz").await.0 == 200
        })
        .await
    );
    n
}

impl Notifier {
    async fn get(&self, path: &str) -> (u16, Value) {
        let res = reqwest::get(format!("{}{path}", self.address))
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn publish(&self, events: &[EventEnvelope]) {
        ConfirmingPublisher::new(self.amqp.clone(), "test-publisher")
            .publish_all(events)
            .await
            .unwrap();
    }

    async fn count(&self) -> usize {
        self.get("/notifications?limit=200").await.1["notifications"]
            .as_array()
            .map_or(0, Vec::len)
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let (url, exchange, q) = (
            self.amqp.url.clone(),
            self.amqp.exchange.clone(),
            self.queue.clone(),
        );
        testing::block_on_fresh_thread(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let queues: Vec<String> = ["", ".retry.1", ".retry.2", ".retry.3", ".dead"]
                .iter()
                .map(|s| format!("{q}{s}"))
                .collect();
            testing::delete_queues(&url, &queues).await;
            testing::delete_exchange(&url, &exchange).await;
        });
    }
}

fn event(kind: &str, data: Value) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7(),
        kind: kind.to_owned(),
        occurred_at: Utc::now(),
        source: "test".to_owned(),
        data,
    }
}

/// The order the order events of [`the_four`] are about.
const ORDER: &str = "01937c3e-0000-7000-8000-000000000001";

/// One event of each kind that alerts, with the payloads their producers send.
fn the_four() -> Vec<EventEnvelope> {
    vec![
        event(
            "low_stock",
            json!({"item_id": "widget", "name": "Widget", "stock": 4, "threshold": 10, "version": 7}),
        ),
        event(
            "order_created",
            json!({"order_id": ORDER, "item_id": "widget", "quantity": 2, "status": "confirmed", "unit_price_cents": 1999, "total_cents": 3998, "currency": "EUR", "reason": null, "created_at": "2026-11-30T10:00:00Z"}),
        ),
        event(
            "order_cancelled",
            json!({"order_id": ORDER, "item_id": "widget", "quantity": 2, "status": "cancelled", "unit_price_cents": 1999, "total_cents": 3998, "currency": "EUR", "reason": "cancelled by request", "created_at": "2026-11-30T10:00:00Z"}),
        ),
        event(
            "price_changed",
            json!({"item_id": "widget", "old": {"price_cents": 1999, "currency": "EUR"}, "new": {"price_cents": 2499, "currency": "EUR"}, "version": 2}),
        ),
    ]
}

#[tokio::test]
async fn each_event_alerts_every_recipient_once_and_is_listed_newest_first() {
    let mail = Arc::new(FlakyTransport::default());
    let n = spawn(mail.clone()).await;
    let events = the_four();
    n.publish(&events).await;
    n.publish(&events[..2]).await; // duplicates, as an at-least-once relay may send
    assert!(eventually(Duration::from_secs(10), || async { n.count().await == 8 }).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        n.count().await,
        8,
        "4 events x 2 recipients, duplicates ignored"
    );
    assert_eq!(mail.sent.lock().unwrap().len(), 8);

    let (_, low) = n.get("/notifications?kind=low_stock").await;
    let low = low["notifications"].as_array().unwrap();
    assert_eq!(low.len(), 2);
    assert_eq!(low[0]["subject"], "Low stock: widget");
    assert!(low[0]["body"].as_str().unwrap().contains("down to 4 units"));
    assert_eq!(low[0]["event_id"], events[0].event_id.to_string());
    let recipients: Vec<&str> = low
        .iter()
        .map(|x| x["recipient"].as_str().unwrap())
        .collect();
    assert!(recipients.contains(&"ops@example.com") && recipients.contains(&"buyer@example.com"));

    let (_, page) = n.get("/notifications?limit=3").await;
    let ids: Vec<i64> = page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = n
        .get(&format!("/notifications?limit=10&cursor={cursor}"))
        .await;
    assert_eq!(next["notifications"].as_array().unwrap().len(), 5);
    assert_eq!(next["next_cursor"], Value::Null);
}

#[tokio::test]
async fn a_mail_server_that_fails_a_while_gets_the_alert_once_it_recovers() {
    let mail = Arc::new(FlakyTransport {
        failures: 2,
        ..FlakyTransport::default()
    });
    let n = spawn(mail.clone()).await;
    n.publish(&the_four()[3..]).await;
    assert!(eventually(Duration::from_secs(10), || async { n.count().await == 2 }).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(n.count().await, 2, "recorded once, after the retries");
    assert_eq!(
        testing::queue_depth(&n.amqp.url, &format!("{}.dead", n.queue)).await,
        0
    );
}

#[tokio::test]
async fn an_event_that_can_never_alert_is_parked_and_the_next_goes_out() {
    let n = spawn(Arc::new(FlakyTransport::default())).await;
    n.publish(&[event("low_stock", json!({"stock": 1}))]).await; // no item_id
    n.publish(&the_four()[..1]).await;
    assert!(eventually(Duration::from_secs(10), || async { n.count().await == 2 }).await);
    let dead = format!("{}.dead", n.queue);
    assert!(
        eventually(Duration::from_secs(10), || async {
            testing::queue_depth(&n.amqp.url, &dead).await == 1
        })
        .await
    );
    for (q, needle) in [
        ("kind=spam", "kind must be one of"),
        ("cursor=abc", "cursor"),
        ("limit=0", "limit"),
    ] {
        let (status, body) = n.get(&format!("/notifications?{q}")).await;
        assert_eq!(status, 400, "{q}");
        assert!(
            body["detail"].as_str().unwrap().contains(needle),
            "{q}: {body}"
        );
    }
}

/// A transport whose sends wait until the gate opens, then record what they send.
#[derive(Default)]
struct GatedTransport {
    open: tokio::sync::Notify,
    sent: std::sync::Mutex<Vec<Mail>>,
}

impl MailTransport for GatedTransport {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.open.notified().await;
            self.open.notify_one();
            self.sent.lock().unwrap().push(mail.clone());
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_backlog_is_applied_in_batches_each_alert_once_despite_duplicates() {
    const ORDERS: usize = 400;
    let mail = Arc::new(GatedTransport::default());
    let n = spawn(mail.clone()).await;
    // The first delivery's mail waits at the gate while the rest pile up in the consumer's hands.
    let order = |i: usize| {
        event(
            "order_created",
            json!({"order_id": Uuid::now_v7(), "item_id": "widget", "quantity": 1, "status": "confirmed",
                "unit_price_cents": i, "total_cents": i, "currency": "EUR", "created_at": Utc::now()}),
        )
    };
    n.publish(&[order(0)]).await;
    let mut backlog = Vec::new();
    for i in 1..ORDERS {
        let e = order(i);
        if i % 3 == 0 {
            backlog.push(e.clone()); // twice in a row: one batch
        }
        backlog.push(e);
    }
    let deliveries = backlog.len() + 1;
    n.publish(&backlog).await;
    n.publish(&backlog[..50]).await; // and again later: another batch
    mail.open.notify_one();

    let sent = || mail.sent.lock().unwrap().len();
    assert!(
        eventually(Duration::from_secs(30), || async { sent() == 2 * ORDERS }).await,
        "{} mails of {}",
        sent(),
        2 * ORDERS
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = mail.sent.lock().unwrap().clone();
    let distinct: std::collections::HashSet<(String, String)> = mails
        .iter()
        .map(|m| (m.to.clone(), m.subject.clone()))
        .collect();
    assert_eq!(mails.len(), 2 * ORDERS, "one mail per order and recipient");
    assert_eq!(distinct.len(), mails.len(), "no mail twice");

    let metrics = reqwest::get(format!("{}/metrics", n.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let queue = format!("queue=\"{}\"", n.queue);
    let calls: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("consumer_batch_size_count") && l.contains(&queue))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        calls > 0.0 && calls < (deliveries / 4) as f64,
        "{calls} handler calls for {deliveries} deliveries: not batched"
    );
}
