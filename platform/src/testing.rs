//! Helpers for the integration tests of every service (feature `testing`).
//!
//! Tests run against the real Redis, RabbitMQ and Postgres named by the usual environment
//! variables (defaulting to this machine's loopback services). Each test gets unique names (key
//! prefix, exchange) and removes what it made when dropped, so tests run in parallel and leave
//! nothing behind on long-lived servers.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::StreamExt as _;
use lapin::{
    options::{
        BasicAckOptions, BasicConsumeOptions, ExchangeDeleteOptions, QueueBindOptions,
        QueueDeclareOptions,
    },
    types::FieldTable,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{AmqpConfig, Env, ProcessEnv, RedisConfig},
    event::EventEnvelope,
};

/// A name no other test (or earlier run) uses: `<prefix>-<uuid>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Redis settings from the environment, with a fresh key prefix.
pub fn redis_config() -> RedisConfig {
    let mut cfg = RedisConfig::from_env(&Env::new(&ProcessEnv)).expect("REDIS_* variables");
    cfg.key_prefix = format!("{}:", unique_name("test"));
    cfg.pool_size = 16;
    cfg
}

/// RabbitMQ settings from the environment, with a fresh exchange name.
pub fn amqp_config() -> AmqpConfig {
    let mut cfg = AmqpConfig::from_env(&Env::new(&ProcessEnv)).expect("AMQP_* variables");
    cfg.exchange = unique_name("test.events");
    cfg
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `work` on a fresh thread with its own runtime: for clean-up in `Drop`, which cannot
/// await and may run inside (or outside) a test's runtime.
pub fn block_on_fresh_thread<F>(work: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(work);
    })
    .join();
}

/// Deletes every key under `config.key_prefix`, on the server or cluster `config` names.
pub async fn delete_redis_prefix(config: &RedisConfig) {
    let mut config = config.clone();
    config.pool_size = 2;
    let Ok(pool) = crate::redis::pool(&config) else {
        return;
    };
    let Ok(mut conn) = pool.get().await else {
        return;
    };
    let Ok(keys) = conn.scan(&format!("{}*", config.key_prefix), None).await else {
        return;
    };
    let deletes: Vec<redis::Cmd> = keys
        .iter()
        .map(|k| {
            let mut cmd = redis::cmd("UNLINK");
            cmd.arg(k);
            cmd
        })
        .collect();
    for chunk in deletes.chunks(1000) {
        let _: Result<Vec<i64>, _> = conn.query_all(chunk).await;
    }
}

/// Deletes an exchange (and with it its bindings).
pub async fn delete_exchange(url: &str, exchange: &str) {
    if let Ok(conn) = crate::amqp::connect(url, "test-cleanup").await {
        if let Ok(ch) = conn.create_channel().await {
            let _ = ch
                .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await;
        }
        let _ = conn.close(0, "cleanup".into()).await;
    }
}

/// Deletes queues (e.g. a consumer's work, retry and dead-letter queues).
pub async fn delete_queues(url: &str, queues: &[String]) {
    if let Ok(conn) = crate::amqp::connect(url, "test-cleanup").await {
        if let Ok(ch) = conn.create_channel().await {
            for q in queues {
                let _ = ch
                    .queue_delete(
                        q.as_str().into(),
                        lapin::options::QueueDeleteOptions::default(),
                    )
                    .await;
            }
        }
        let _ = conn.close(0, "cleanup".into()).await;
    }
}

/// How many messages wait in `queue` (a passive declare).
pub async fn queue_depth(url: &str, queue: &str) -> u32 {
    let conn = crate::amqp::connect(url, "test-probe").await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = conn.close(0, "probe done".into()).await;
    q.message_count()
}

/// Publishes raw bytes to the events exchange (for messages no service would send).
pub async fn publish_raw(amqp: &AmqpConfig, routing_key: &str, body: &[u8]) {
    let conn = crate::amqp::connect(&amqp.url, "test-publisher")
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    crate::amqp::declare_events_exchange(&ch, &amqp.exchange)
        .await
        .unwrap();
    ch.basic_publish(
        amqp.exchange.as_str().into(),
        routing_key.into(),
        lapin::options::BasicPublishOptions::default(),
        body,
        lapin::BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let _ = conn.close(0, "published".into()).await;
}

/// A fresh database for one test, migrated, and dropped when the value is dropped.
pub struct TestDatabase {
    /// Its connection settings.
    pub config: crate::postgres::PostgresConfig,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates `test_<uuid>` on the server of `DATABASE_URL` (default: this machine's) and
    /// runs `migrations` in it.
    pub async fn create(migrations: crate::postgres::Migrations) -> Self {
        let base = crate::postgres::PostgresConfig::from_env(&Env::new(&ProcessEnv), "postgres")
            .expect("DATABASE_URL");
        let mut admin: tokio_postgres::Config = base.url.parse().unwrap();
        admin.dbname("postgres");
        let admin_url = url_with_db(&base.url, "postgres");
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let (client, conn) = admin
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("Postgres is not reachable at {} ({e}). Start it with: pg_ctlcluster <version> main start (Debian: apt-get install -y postgresql)", base.url));
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let config = crate::postgres::PostgresConfig {
            url: url_with_db(&base.url, &name),
            pool_size: 8,
        };
        let pool = crate::postgres::pool(&config).unwrap();
        crate::postgres::migrate(&pool, migrations).await.unwrap();
        pool.close();
        Self {
            config,
            admin_url,
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        block_on_fresh_thread(async move {
            let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await
            else {
                return;
            };
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        });
    }
}

/// The same Postgres URL naming another database.
fn url_with_db(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A test queue bound to an events exchange with `#` (every type), collecting every envelope:
/// what a third party binding its own queue would see. The queue is exclusive and auto-delete,
/// so it disappears with the tap.
pub struct EventTap {
    seen: Arc<Mutex<Vec<EventEnvelope>>>,
    stop: CancellationToken,
}

impl EventTap {
    pub async fn bind(amqp: &AmqpConfig) -> Self {
        let conn = crate::amqp::connect(&amqp.url, "test-tap").await.unwrap();
        let ch = conn.create_channel().await.unwrap();
        crate::amqp::declare_events_exchange(&ch, &amqp.exchange)
            .await
            .unwrap();
        let queue = ch
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        ch.queue_bind(
            queue.name().clone(),
            amqp.exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        let mut consumer = ch
            .basic_consume(
                queue.name().clone(),
                "test-tap".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (sink, stopped) = (seen.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    next = consumer.next() => {
                        let Some(Ok(delivery)) = next else { break };
                        let envelope: EventEnvelope = serde_json::from_slice(&delivery.data)
                            .expect("every event is a valid envelope");
                        sink.lock().unwrap().push(envelope);
                        let _ = delivery.ack(BasicAckOptions::default()).await;
                    }
                }
            }
            let _ = conn.close(0, "tap done".into()).await;
        });
        Self { seen, stop }
    }

    /// Every envelope received so far.
    pub fn events(&self) -> Vec<EventEnvelope> {
        self.seen.lock().unwrap().clone()
    }

    /// Envelopes of one type received so far.
    pub fn of_kind(&self, kind: &str) -> Vec<EventEnvelope> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }
}

impl Drop for EventTap {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A TCP proxy in front of a real server, which a test can cut (every connection dropped, new
/// ones refused) and restore: a broker or cache "away for a while" without stopping the shared
/// server other tests use.
pub struct TcpProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl TcpProxy {
    /// Starts a proxy on a free loopback port forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (up2, gen2, stop2) = (up.clone(), generation.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop2.cancelled() => break,
                    a = listener.accept() => a,
                };
                let Ok((mut inbound, _)) = accepted else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let cut = gen2.lock().unwrap().clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        () = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Self {
            addr,
            up,
            generation,
            stop,
        }
    }

    /// The proxy's own address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every open connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut generation = self.generation.lock().unwrap();
        generation.cancel();
        *generation = CancellationToken::new();
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.generation.lock().unwrap().cancel();
    }
}

/// The host:port of a URL such as `amqp://guest:guest@127.0.0.1:5672/%2f`.
pub fn socket_addr_of(url: &str) -> SocketAddr {
    let after_scheme = url.split("://").nth(1).unwrap();
    let authority = after_scheme.split('/').next().unwrap();
    let host_port = authority.rsplit('@').next().unwrap();
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port.parse().expect("URL with a numeric host:port")
}

/// The same URL with its host:port replaced by `addr`.
pub fn with_addr(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
    format!("{scheme}://{}{addr}/{path}", userinfo.unwrap_or_default())
}
