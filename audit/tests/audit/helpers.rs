//! `World`: a whole SIOMS data set built for one test — a Redis key prefix written through
//! inventory's `StockStore`, the four services' databases (each crate's own migrations), and a
//! pair of consumer queues — that the auditor is pointed at. Its helpers make the same changes
//! the services would (an order is reserved and confirmed in Redis, written to Postgres, counted
//! by analytics and notified to every recipient), so a world audits clean until a test plants a
//! discrepancy. Everything is removed when the world is dropped.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use inventory_svc::{
    domain::{ItemId, ItemName, Line, Quantity, ReservationId, StockLevel, Threshold},
    store::{LineOutcome, StockStore, StoreSettings},
};
use lapin::{
    BasicProperties,
    options::{BasicPublishOptions, QueueDeclareOptions},
    types::FieldTable,
};
use platform::{
    config::{AmqpConfig, RedisConfig},
    testing::{self, TestDatabase},
};
use sioms_audit::{
    Auditor,
    config::{AuditConfig, Limits},
    report::{Report, Verdict},
};
use uuid::Uuid;

/// Who every alert goes to (the notifier writes one row per recipient).
pub const RECIPIENTS: [&str; 2] = ["ops@example.com", "sales@example.com"];
/// The price of one unit of anything in a world.
pub const UNIT_CENTS: i64 = 250;

pub struct World {
    pub orders: TestDatabase,
    pub pricing: TestDatabase,
    pub analytics: TestDatabase,
    pub notifier: TestDatabase,
    pub redis: RedisConfig,
    pub amqp: AmqpConfig,
    pub store: StockStore,
    pub analytics_queue: String,
    pub notifier_queue: String,
}

impl World {
    /// An empty world: migrated databases, a fresh key prefix, declared queues.
    pub async fn new() -> Self {
        platform::telemetry::init_for_tests();
        let (orders, pricing, analytics, notifier) = tokio::join!(
            TestDatabase::create(order_svc::migrations()),
            TestDatabase::create(pricing_svc::migrations()),
            TestDatabase::create(analytics_consumer::migrations()),
            TestDatabase::create(notifier_consumer::migrations()),
        );
        let redis = testing::redis_config();
        let amqp = testing::amqp_config();
        let store = StockStore::new(
            platform::redis::pool(&redis).unwrap(),
            StoreSettings {
                key_prefix: redis.key_prefix.clone(),
                record_retention: Duration::from_secs(3600),
                default_stock: None,
                default_threshold: Threshold::new(10),
                command_timeout: Duration::from_secs(5),
            },
            None,
        );
        let world = Self {
            orders,
            pricing,
            analytics,
            notifier,
            redis,
            amqp,
            store,
            analytics_queue: testing::unique_name("audit-analytics"),
            notifier_queue: testing::unique_name("audit-notifier"),
        };
        for q in world.queues() {
            world.declare_queue(&q).await;
        }
        world
    }

    /// Every queue of the world: work, one retry level and dead letters, per consumer.
    fn queues(&self) -> Vec<String> {
        [&self.analytics_queue, &self.notifier_queue]
            .into_iter()
            .flat_map(|q| [q.clone(), format!("{q}.retry.1"), format!("{q}.dead")])
            .collect()
    }

    async fn declare_queue(&self, queue: &str) {
        let conn = platform::amqp::connect(&self.amqp.url, "audit-test")
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        ch.queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
        let _ = conn.close(0, "declared".into()).await;
    }

    /// Puts a message in `queue` (through the default exchange).
    pub async fn enqueue(&self, queue: &str, body: &[u8]) {
        let conn = platform::amqp::connect(&self.amqp.url, "audit-test")
            .await
            .unwrap();
        let ch = platform::amqp::confirming_channel(&conn).await.unwrap();
        ch.basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
        let _ = conn.close(0, "published".into()).await;
    }

    /// The auditor's configuration for this world, with quick re-attempts.
    pub fn config(&self) -> AuditConfig {
        AuditConfig {
            redis: self.redis.clone(),
            amqp: self.amqp.clone(),
            orders_db: self.orders.config.url.clone(),
            pricing_db: self.pricing.config.url.clone(),
            analytics_db: self.analytics.config.url.clone(),
            notifier_db: self.notifier.config.url.clone(),
            analytics_queue: self.analytics_queue.clone(),
            notifier_queue: self.notifier_queue.clone(),
            limits: Limits {
                settle: Duration::from_millis(50),
                attempts: 2,
                ..Limits::default()
            },
        }
    }

    /// The variables `scripts/stack.sh env` would print for this world.
    pub fn env(&self) -> HashMap<&'static str, String> {
        let c = self.config();
        HashMap::from([
            ("REDIS_URL", c.redis.url),
            ("REDIS_KEY_PREFIX", c.redis.key_prefix),
            ("AMQP_URL", c.amqp.url),
            ("ORDER_DATABASE_URL", c.orders_db),
            ("PRICING_DATABASE_URL", c.pricing_db),
            ("ANALYTICS_DATABASE_URL", c.analytics_db),
            ("NOTIFIER_DATABASE_URL", c.notifier_db),
            ("ANALYTICS_QUEUE", c.analytics_queue),
            ("NOTIFIER_QUEUE", c.notifier_queue),
            ("AUDIT_SETTLE", "50ms".to_owned()),
            ("AUDIT_ATTEMPTS", "2".to_owned()),
        ])
    }

    /// Audits the world with [`World::config`].
    pub async fn audit(&self) -> Report {
        self.audit_with(self.config()).await
    }

    pub async fn audit_with(&self, config: AuditConfig) -> Report {
        let report = Auditor::new(&config).unwrap().run().await;
        println!("{report}");
        report
    }

    async fn client(db: &TestDatabase) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&db.config.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }

    /// Runs SQL (several statements allowed) in a database of the world.
    pub async fn sql(db: &TestDatabase, sql: &str) {
        Self::client(db).await.batch_execute(sql).await.unwrap();
    }

    /// Runs a Redis command on the world's Redis.
    pub async fn redis_cmd(&self, cmd: &redis::Cmd) {
        let mut conn = platform::redis::pool(&self.redis)
            .unwrap()
            .get()
            .await
            .unwrap();
        let _: redis::Value = cmd.query_async(&mut conn).await.unwrap();
    }

    /// The key of an item's state hash (see inventory's store).
    pub fn item_key(&self, item: &str) -> String {
        format!("{}item:{{{item}}}", self.redis.key_prefix)
    }

    pub async fn add_item(&self, item: &str, stock: u64) {
        let stock: StockLevel = serde_json::from_value(stock.into()).unwrap();
        let created = self
            .store
            .create_item(
                &ItemId::parse(item).unwrap(),
                &ItemName::parse(item).unwrap(),
                stock,
                Threshold::new(10),
            )
            .await
            .unwrap();
        assert!(created, "{item} existed already");
    }

    fn line(item: &str, quantity: u64) -> Line {
        Line {
            item_id: ItemId::parse(item).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    /// Holds `quantity` units for a reservation with no order yet (a request in flight).
    pub async fn hold(&self, item: &str, quantity: u64) -> Uuid {
        let rid = Uuid::now_v7();
        let held = self
            .store
            .reserve_line(
                &ReservationId::parse(&rid.to_string()).unwrap(),
                &Self::line(item, quantity),
                Duration::from_secs(300),
            )
            .await
            .unwrap();
        assert!(
            matches!(held, LineOutcome::Recorded { .. }),
            "reserve: {held:?}"
        );
        rid
    }

    /// A unit sold in Redis only (a reservation confirmed, no order row): for volume.
    pub async fn place_order_in_redis_only(&self, item: &str) {
        let rid = self.hold(item, 1).await;
        self.store
            .confirm_line(
                &ReservationId::parse(&rid.to_string()).unwrap(),
                &Self::line(item, 1),
            )
            .await
            .unwrap();
    }

    /// A confirmed order, as the whole system records it: reserved and confirmed in Redis, a
    /// row in Postgres, counted by analytics, notified to every recipient.
    pub async fn place_order(&self, item: &str, quantity: u64) -> Uuid {
        let id = self.hold(item, quantity).await;
        let confirmed = self
            .store
            .confirm_line(
                &ReservationId::parse(&id.to_string()).unwrap(),
                &Self::line(item, quantity),
            )
            .await
            .unwrap();
        assert!(
            matches!(confirmed, LineOutcome::Recorded { .. }),
            "{confirmed:?}"
        );
        let now = Utc::now();
        self.insert_order(id, item, quantity, "confirmed", "committed", now)
            .await;
        self.count(now, "confirmed").await;
        self.add_revenue(now, quantity as i64 * UNIT_CENTS).await;
        self.notify(
            "order_confirmed",
            &format!("Order {id} confirmed"),
            Uuid::now_v7(),
        )
        .await;
        id
    }

    /// A rejected order (stock was short): a row and its count, nothing else.
    pub async fn reject_order(&self, item: &str, quantity: u64) -> Uuid {
        let id = Uuid::now_v7();
        let now = Utc::now();
        self.insert_order(id, item, quantity, "rejected", "none", now)
            .await;
        self.count(now, "rejected").await;
        id
    }

    /// Cancels a confirmed order everywhere.
    pub async fn cancel_order(&self, id: Uuid, item: &str, quantity: u64) {
        let cancelled = self
            .store
            .cancel_line(
                &ReservationId::parse(&id.to_string()).unwrap(),
                &Self::line(item, quantity),
            )
            .await
            .unwrap();
        assert!(
            matches!(cancelled, LineOutcome::Recorded { .. }),
            "{cancelled:?}"
        );
        let client = Self::client(&self.orders).await;
        let row = client
            .query_one(
                "UPDATE orders SET status = 'cancelled', stock = 'returned', \
                 reason = 'changed my mind', updated_at = now() WHERE id = $1 \
                 RETURNING created_at, updated_at",
                &[&id],
            )
            .await
            .unwrap();
        let (created, updated): (DateTime<Utc>, DateTime<Utc>) = (row.get(0), row.get(1));
        self.count(updated, "cancelled").await;
        self.add_revenue(created, -(quantity as i64) * UNIT_CENTS)
            .await;
        self.notify(
            "order_cancelled",
            &format!("Order {id} cancelled"),
            Uuid::now_v7(),
        )
        .await;
    }

    async fn insert_order(
        &self,
        id: Uuid,
        item: &str,
        quantity: u64,
        status: &str,
        stock: &str,
        at: DateTime<Utc>,
    ) {
        let client = Self::client(&self.orders).await;
        client
            .execute(
                "INSERT INTO orders (id, item_id, quantity, status, unit_price_cents, total_cents, \
                 currency, stock, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'EUR', $7, $8, $8)",
                &[
                    &id,
                    &item,
                    &(quantity as i32),
                    &status,
                    &UNIT_CENTS,
                    &(quantity as i64 * UNIT_CENTS),
                    &stock,
                    &at,
                ],
            )
            .await
            .unwrap();
    }

    /// What analytics-consumer does for an order event: one more in `column` on the day.
    async fn count(&self, at: DateTime<Utc>, column: &str) {
        let client = Self::client(&self.analytics).await;
        client
            .execute(
                &format!(
                    "INSERT INTO daily_orders (day, {column}) VALUES ($1, 1) \
                     ON CONFLICT (day) DO UPDATE SET {column} = daily_orders.{column} + 1"
                ),
                &[&at.date_naive()],
            )
            .await
            .unwrap();
    }

    async fn add_revenue(&self, placed: DateTime<Utc>, cents: i64) {
        let client = Self::client(&self.analytics).await;
        client
            .execute(
                "INSERT INTO daily_revenue (day, currency, cents) VALUES ($1, 'EUR', $2) \
                 ON CONFLICT (day, currency) DO UPDATE SET cents = daily_revenue.cents + $2",
                &[&placed.date_naive(), &cents],
            )
            .await
            .unwrap();
    }

    /// What notifier-consumer does for a notifiable event: one row per recipient.
    pub async fn notify(&self, kind: &str, subject: &str, event_id: Uuid) {
        let client = Self::client(&self.notifier).await;
        for to in RECIPIENTS {
            client
                .execute(
                    "INSERT INTO notifications (kind, recipient, subject, body, event_id, event_type) \
                     VALUES ($1, $2, $3, 'body', $4, $1)",
                    &[&kind, &to, &subject, &event_id],
                )
                .await
                .unwrap();
        }
    }

    /// Publishes what the scripts put in the outbox streams (the relay's work), so they are
    /// empty again.
    pub async fn drain_outbox(&self) {
        for key in self.store.outbox_keys(None).await.unwrap() {
            let entries = self.store.read_outbox(&key, 10_000).await.unwrap();
            let ids: Vec<String> = entries.into_iter().map(|(id, _)| id).collect();
            self.store.ack_outbox(&key, &ids).await.unwrap();
        }
    }

    /// A small, busy, consistent world: items with confirmed, cancelled and rejected orders, a
    /// hold still in flight, a low-stock alert and a message waiting in a queue.
    pub async fn consistent() -> Self {
        let world = Self::new().await;
        world.add_item("widget", 100).await;
        world.add_item("gadget", 40).await;
        world.add_item("gizmo", 12).await;
        world.place_order("widget", 3).await;
        world.place_order("gadget", 2).await;
        let cancelled = world.place_order("widget", 4).await;
        world.cancel_order(cancelled, "widget", 4).await;
        world.reject_order("gizmo", 50).await;
        world.hold("gizmo", 5).await;
        world
            .notify("low_stock", "Low stock: gizmo", Uuid::now_v7())
            .await;
        world.drain_outbox().await;
        world.enqueue(&world.analytics_queue, b"{}").await;
        world
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let redis = self.redis.clone();
        let (amqp, queues) = (self.amqp.url.clone(), self.queues());
        testing::block_on_fresh_thread(async move {
            testing::delete_redis_prefix(&redis).await;
            testing::delete_queues(&amqp, &queues).await;
        });
    }
}

/// The verdict of the check named `name`.
pub fn verdict<'a>(report: &'a Report, name: &str) -> &'a Verdict {
    &report
        .entry(name)
        .unwrap_or_else(|| panic!("no check named {name}"))
        .verdict
}

/// Asserts that exactly the checks in `failing` fail, and that each names `mentions` in one of
/// its discrepancies.
pub fn assert_fails(report: &Report, failing: &[&str], mentions: &str) {
    let failed: Vec<&str> = report.failed().map(|e| e.name).collect();
    assert_eq!(failed, failing, "\n{report}");
    for name in failing {
        let entry = report.entry(name).unwrap();
        assert!(
            entry
                .discrepancies
                .iter()
                .any(|d| d.detail.contains(mentions)),
            "{name} does not mention {mentions:?}:\n{report}"
        );
        assert!(report.to_string().contains(&format!("{name:<14} ")));
    }
    assert_eq!(report.exit_code(), 1);
}
