//! What a Redis primary failover loses, measured: reservations the service acknowledged that are
//! gone after a primary is killed under load and its replica takes over, first with Redis'
//! asynchronous replication (`REDIS_WAIT_REPLICAS=0`), then with `WAIT 1` after every
//! stock-changing script (`REDIS_WAIT_REPLICAS=1`), and what each costs in failed requests and
//! latency.
//!
//! Run: `make bench-failover`, which starts a real cluster (`scripts/redis-cluster.sh start`:
//! 3 primaries, 3 replicas, 2 s node timeout), runs `cargo bench -p inventory-svc --bench
//! failover` and stops the cluster. RabbitMQ must run, as for the other benches (the relay
//! publishes the events). Knobs: `BENCH_SECONDS` (load per mode, default 12), `BENCH_KILL_AT`
//! (seconds into the load, default 4), `BENCH_REPLICA_STALL` (seconds the victim's replica is
//! stopped with SIGSTOP right before the kill, to model a replica that has fallen behind;
//! default 0), `BENCH_CLIENTS` (concurrent clients, default 32), `BENCH_ITEMS` (default 30),
//! `REDIS_WAIT_TIMEOUT` (default 100ms), `REDIS_CLUSTER_PORT` (as for the script).
//!
//! Each mode runs inventory-svc in-process on the cluster with a fresh key prefix, creates the
//! items through the API, and has every client reserve one unit of one item after another with
//! a fresh reservation id. At `BENCH_KILL_AT` it SIGKILLs (`redis-cluster.sh kill-primary`) the
//! primary owning most of the items. After the load, once the replica has taken over, it reads
//! every acknowledged hold back from Redis, checks every item's counters, and starts the killed
//! node again (`redis-cluster.sh restart-node`) so that the next mode starts from 3 + 3.
//!
//! # What is counted
//!
//! - *acknowledged*: answered 201 (or 200: the cluster client retried a script that had run);
//! - *lost acknowledged*: acknowledged, but its record in `item:{id}:holds` is not `held:1`
//!   after the failover: a promise the service made and Redis forgot;
//! - *failed requests*: 5xx, or no answer within the client's timeout;
//! - *unavailable window*: from the start of the first failed request to the end of the last;
//! - *p50 / p99 before the kill*: of the successful reserves started before it (and before the
//!   replica stall, if any);
//! - *conservation*: for every item, `stock + held + sold = provisioned = the stock it was
//!   created with`, and `held` equals the sum of its live hold records. A broken one fails the
//!   benchmark; nothing else does (the figures are printed, never asserted).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use inventory_svc::{
    Application,
    config::InventoryConfig,
    store::{StockStore, StoreSettings},
};
use platform::{config::Env, testing};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const ADMIN_TOKEN: &str = "bench-admin-token";

/// Units every item is created with: far more than the load reserves, so no request is refused
/// for want of stock.
const STOCK: u64 = 10_000_000;

/// What an acknowledged one-unit hold's record must still read (`<state>:<quantity>`, see the
/// key table in `store`).
const HELD_ONE: &str = "held:1";

/// How long a client waits for an answer before it counts the request as failed. Longer than
/// the service's own Redis timeout (2 s), so the service's answer is what is measured.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the cluster may take to promote the replica (node timeout 2 s, then an election).
const FAILOVER_DEADLINE: Duration = Duration::from_secs(60);

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone, Copy)]
struct Knobs {
    load: Duration,
    kill_at: Duration,
    /// How long the victim's replica is stopped before the kill (0: not at all).
    replica_stall: Duration,
    clients: usize,
    items: usize,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// `REDIS_WAIT_REPLICAS=0`: acknowledged when the primary has it.
    Asynchronous,
    /// `REDIS_WAIT_REPLICAS=n`: acknowledged when `n` replicas have it too.
    Wait(u32),
}

impl Mode {
    fn replicas(self) -> u32 {
        match self {
            Self::Asynchronous => 0,
            Self::Wait(n) => n,
        }
    }

    fn label(self) -> String {
        match self {
            Self::Asynchronous => "asynchronous".to_owned(),
            Self::Wait(n) => format!("WAIT {n} replica{}", if n == 1 { "" } else { "s" }),
        }
    }
}

/// One `POST /reserve`.
struct Sample {
    /// When it was sent, since the load started.
    start: Duration,
    latency: Duration,
    /// The HTTP status, or `None` when no answer came.
    status: Option<u16>,
    item: usize,
    rid: Uuid,
}

/// What one mode measured.
struct Outcome {
    mode: Mode,
    requests: usize,
    acknowledged: usize,
    lost: usize,
    failed: usize,
    /// Failures by kind (`503`, `no answer`, …).
    failure_kinds: BTreeMap<String, usize>,
    /// Answers that are neither success nor failure (4xx).
    other: usize,
    /// First failure's start and last failure's end, since the kill.
    window: Option<(f64, f64)>,
    /// Whether failures went on until the load ended.
    failing_at_end: bool,
    p50: Option<Duration>,
    p99: Option<Duration>,
    violations: Vec<String>,
    victim: u16,
    items_on_victim: usize,
    kill_at: Duration,
    /// Seconds from the kill until a replica served the victim's slots.
    failover_after: Option<f64>,
    /// Successful reserves per second before the kill (and stall), and from the kill until a
    /// replica served the victim's slots.
    rate_before: f64,
    rate_failover: Option<f64>,
    /// Reserves of the other primaries' items sent during the failover: how many, and their
    /// median latency (does the rest of the catalog stay served?).
    others_during_failover: (usize, Option<Duration>),
    /// Holds in Redis that no client was told about (a failed request whose change stood).
    unacknowledged_holds: i64,
    /// What the lost ones look like, when there are any.
    lost_detail: Option<String>,
}

/// `scripts/redis-cluster.sh`, which starts, kills and restarts the nodes.
fn cluster_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis-cluster.sh")
}

async fn run_cluster_script(args: &[&str]) -> String {
    let output = tokio::process::Command::new("bash")
        .arg(cluster_script())
        .args(args)
        .output()
        .await
        .expect("scripts/redis-cluster.sh runs");
    assert!(
        output.status.success(),
        "scripts/redis-cluster.sh {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// One command to one node, bounded: `None` when the node does not answer (e.g. killed).
async fn node_query<T: redis::FromRedisValue>(url: &str, cmd: &redis::Cmd) -> Option<T> {
    let work = async {
        let client = redis::Client::open(url).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        cmd.query_async(&mut conn).await.ok()
    };
    tokio::time::timeout(Duration::from_secs(1), work)
        .await
        .ok()
        .flatten()
}

/// The primaries serving slots, as the first node that answers sees them: port → slot ranges.
async fn primaries(urls: &[String]) -> Option<BTreeMap<u16, Vec<(u16, u16)>>> {
    for url in urls {
        let Some(nodes) = node_query::<String>(url, redis::cmd("CLUSTER").arg("NODES")).await
        else {
            continue;
        };
        let mut out = BTreeMap::new();
        // <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges...>
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let Some(port) = fields[1]
                .split(['@', ':'])
                .nth(1)
                .and_then(|p| p.parse().ok())
            else {
                continue;
            };
            let ranges = fields[8..]
                .iter()
                .filter(|r| !r.starts_with('['))
                .filter_map(|r| match r.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => r.parse().ok().map(|s| (s, s)),
                })
                .collect();
            out.insert(port, ranges);
        }
        return Some(out);
    }
    None
}

/// The process id of the replica of the primary on port `primary`.
async fn replica_pid(urls: &[String], primary: u16) -> Option<u32> {
    for url in urls {
        let Some(nodes) = node_query::<String>(url, redis::cmd("CLUSTER").arg("NODES")).await
        else {
            continue;
        };
        let lines: Vec<Vec<&str>> = nodes
            .lines()
            .map(|l| l.split_whitespace().collect())
            .filter(|f: &Vec<&str>| f.len() >= 8)
            .collect();
        let port_of = |f: &[&str]| -> Option<u16> { f[1].split(['@', ':']).nth(1)?.parse().ok() };
        let id = lines.iter().find(|f| port_of(f) == Some(primary))?[0];
        let replica = lines
            .iter()
            .find(|f| f[3] == id && f[2].contains("slave") && !f[2].contains("fail"))?;
        let info: String = node_query(
            &format!("redis://127.0.0.1:{}", port_of(replica)?),
            redis::cmd("INFO").arg("server"),
        )
        .await?;
        return info
            .lines()
            .find_map(|l| l.trim().strip_prefix("process_id:")?.parse().ok());
    }
    None
}

/// Sends SIGSTOP or SIGCONT to a node of the cluster.
fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Every node that answers says `cluster_state:ok` (and at least one answers).
async fn cluster_ok(urls: &[String]) -> bool {
    let mut answered = 0;
    for url in urls {
        if let Some(info) = node_query::<String>(url, redis::cmd("CLUSTER").arg("INFO")).await {
            if !info.contains("cluster_state:ok") {
                return false;
            }
            answered += 1;
        }
    }
    answered > 0
}

/// The cluster is `ok` and `victim` no longer serves any slot: a replica took over.
async fn failed_over(urls: &[String], victim: u16) -> bool {
    cluster_ok(urls).await
        && primaries(urls)
            .await
            .is_some_and(|p| !p.contains_key(&victim) && p.len() == 3)
}

async fn poll_until<F, Fut>(deadline: Duration, mut condition: F) -> Option<Instant>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    loop {
        if condition().await {
            return Some(Instant::now());
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Retries a read until Redis answers (right after a failover the pool's view of the slots may
/// be stale for a moment).
async fn read_retrying<T, E: std::fmt::Display, Fut>(what: &str, mut read: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match read().await {
            Ok(v) => return v,
            Err(_) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot read {what} after the failover: {e}"),
        }
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    Some(sorted[i])
}

fn item_id(i: usize) -> String {
    format!("failover-{i:02}")
}

async fn run_mode(mode: Mode, knobs: Knobs, urls: &[String]) -> Outcome {
    let prefix = format!("{}:", testing::unique_name("bench-failover"));
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.remove("DEFAULT_STOCK");
    for (k, v) in [
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("PORT", "0".to_owned()),
        ("HOST", "127.0.0.1".to_owned()),
        ("REDIS_URL", urls.join(",")),
        ("REDIS_CLUSTER", "true".to_owned()),
        ("REDIS_KEY_PREFIX", prefix.clone()),
        ("REDIS_POOL_SIZE", "64".to_owned()),
        ("REDIS_WAIT_REPLICAS", mode.replicas().to_string()),
        // Holds outlive the run: a hold that is gone was lost, not expired.
        ("RESERVATION_HOLD", "10m".to_owned()),
    ] {
        vars.insert(k.into(), v);
    }
    let mut config = InventoryConfig::from_env(&Env::new(&vars)).expect("configuration");
    config.amqp = testing::amqp_config();
    let (redis, amqp) = (config.redis.clone(), config.amqp.clone());
    let command_timeout = config.redis_command_timeout;

    let app = Application::build(config).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();

    let ids: Vec<String> = (0..knobs.items).map(item_id).collect();
    for id in &ids {
        let res = http
            .post(format!("{base}/items"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"id": id, "name": id, "stock": STOCK, "low_stock_threshold": 0}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201, "cannot create item {id}");
    }

    // Which primary owns each item's slot; the victim is the one owning most of them.
    let owners = primaries(urls).await.expect("the cluster answers");
    let mut on_primary: BTreeMap<u16, usize> = owners.keys().map(|&p| (p, 0)).collect();
    let mut owner_of = Vec::new();
    for id in &ids {
        let key = format!("{prefix}item:{{{id}}}");
        let slot: u16 = node_query(
            urls[0].as_str(),
            redis::cmd("CLUSTER").arg("KEYSLOT").arg(&key),
        )
        .await
        .expect("CLUSTER KEYSLOT");
        if let Some((&port, _)) = owners
            .iter()
            .find(|(_, ranges)| ranges.iter().any(|&(a, b)| (a..=b).contains(&slot)))
        {
            *on_primary.entry(port).or_default() += 1;
            owner_of.push(port);
        } else {
            owner_of.push(0);
        }
    }
    let (&victim, &items_on_victim) = on_primary
        .iter()
        .max_by_key(|&(&port, &n)| (n, std::cmp::Reverse(port)))
        .expect("three primaries");

    // The load, and the kill at `kill_at`.
    let t0 = Instant::now();
    let end = t0 + knobs.load;
    let ids = Arc::new(ids);
    let clients: Vec<_> = (0..knobs.clients)
        .map(|w| {
            let (http, base, ids) = (http.clone(), base.clone(), ids.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut next = w;
                while Instant::now() < end {
                    let item = next % ids.len();
                    next += knobs.clients;
                    let rid = Uuid::new_v4();
                    let start = t0.elapsed();
                    let sent = Instant::now();
                    let answer = http
                        .post(format!("{base}/reserve"))
                        .json(&json!({
                            "reservation_id": rid.to_string(),
                            "lines": [{"item_id": ids[item], "quantity": 1}],
                        }))
                        .send()
                        .await;
                    let status = match answer {
                        Ok(res) => {
                            let status = res.status().as_u16();
                            // Read the body so the connection is reused.
                            res.bytes().await.ok().map(|_| status)
                        }
                        Err(_) => None,
                    };
                    samples.push(Sample {
                        start,
                        latency: sent.elapsed(),
                        status,
                        item,
                        rid,
                    });
                }
                samples
            })
        })
        .collect();
    let killer = {
        let urls = urls.to_vec();
        tokio::spawn(async move {
            // With BENCH_REPLICA_STALL: the victim's replica stops reading for that long before
            // the kill, and resumes right after it (a replica that has fallen behind).
            let mut stalled = None;
            if !knobs.replica_stall.is_zero() {
                let start = knobs.kill_at.saturating_sub(knobs.replica_stall);
                tokio::time::sleep_until((t0 + start).into()).await;
                let pid = replica_pid(&urls, victim)
                    .await
                    .expect("the victim has a replica");
                signal(pid, "STOP");
                stalled = Some(pid);
            }
            tokio::time::sleep_until((t0 + knobs.kill_at).into()).await;
            let port = victim.to_string();
            run_cluster_script(&["kill-primary", &port]).await;
            let kill_at = t0.elapsed();
            if let Some(pid) = stalled {
                signal(pid, "CONT");
            }
            let took_over = poll_until(FAILOVER_DEADLINE, || failed_over(&urls, victim)).await;
            (
                kill_at,
                took_over.map(|at| (at - t0).as_secs_f64() - kill_at.as_secs_f64()),
            )
        })
    };
    let mut samples = Vec::new();
    for client in clients {
        samples.extend(client.await.unwrap());
    }
    let (kill_at, failover_after) = killer.await.unwrap();
    assert!(
        poll_until(FAILOVER_DEADLINE, || failed_over(urls, victim))
            .await
            .is_some(),
        "no replica took over from the killed primary {victim} within {FAILOVER_DEADLINE:?}"
    );

    // What Redis holds now, on the promoted replica.
    let pool = platform::redis::pool(&redis).expect("pool");
    let store = StockStore::new(
        pool.clone(),
        StoreSettings {
            key_prefix: prefix.clone(),
            record_retention: Duration::from_secs(86_400),
            default_stock: None,
            default_threshold: inventory_svc::domain::Threshold::new(0),
            command_timeout,
        },
        None,
    );
    let success = |s: &Sample| matches!(s.status, Some(200 | 201));
    let mut acknowledged: Vec<Vec<&Sample>> = vec![Vec::new(); ids.len()];
    for s in samples.iter().filter(|s| success(s)) {
        acknowledged[s.item].push(s);
    }
    let mut lost: Vec<(&Sample, Option<String>)> = Vec::new();
    for (i, acked) in acknowledged.iter().enumerate() {
        // The item's hold records (`item:{id}:holds` in the key table of `store`), read directly:
        // the API has no read of one reservation, and a reserve retry would write.
        let holds = format!("{prefix}item:{{{}}}:holds", ids[i]);
        for acked in acked.chunks(1000) {
            let chunk: Vec<String> = acked.iter().map(|s| s.rid.to_string()).collect();
            let chunk = &chunk;
            let records: Vec<Option<String>> = read_retrying("the hold records", || {
                let (pool, holds) = (pool.clone(), holds.clone());
                async move {
                    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                    redis::cmd("HMGET")
                        .arg(&holds)
                        .arg(chunk)
                        .query_async::<Vec<Option<String>>>(&mut conn)
                        .await
                        .map_err(|e| e.to_string())
                }
            })
            .await;
            lost.extend(
                acked
                    .iter()
                    .zip(records)
                    .filter(|(_, r)| r.as_deref() != Some(HELD_ONE))
                    .map(|(s, r)| (*s, r)),
            );
        }
    }
    let ledgers = read_retrying("the ledgers", || store.stored_ledgers(&ids)).await;
    let live = read_retrying("the live holds", || store.live_held(&ids)).await;
    let mut violations = Vec::new();
    let mut held_total = 0;
    for ((id, ledger), live) in ids.iter().zip(&ledgers).zip(&live) {
        let Some(l) = ledger else {
            violations.push(format!("{id}: the item is gone"));
            continue;
        };
        held_total += l.held;
        if l.stock + l.held + l.sold != l.provisioned || l.provisioned != STOCK as i64 {
            violations.push(format!(
                "{id}: stock {} + held {} + sold {} != provisioned {} (created with {STOCK})",
                l.stock, l.held, l.sold, l.provisioned
            ));
        }
        if u64::try_from(l.held).ok() != Some(*live) {
            violations.push(format!(
                "{id}: held {} but the live hold records add up to {live}",
                l.held
            ));
        }
    }

    // The figures.
    let acknowledged_count = acknowledged.iter().map(Vec::len).sum::<usize>();
    let mut failure_kinds = BTreeMap::new();
    let mut failures: Vec<&Sample> = Vec::new();
    let mut other = 0;
    for s in &samples {
        match s.status {
            Some(200 | 201) => {}
            Some(code) if code >= 500 => {
                *failure_kinds.entry(code.to_string()).or_default() += 1;
                failures.push(s);
            }
            Some(_) => other += 1,
            None => {
                *failure_kinds.entry("no answer".to_owned()).or_default() += 1;
                failures.push(s);
            }
        }
    }
    let kill = kill_at.as_secs_f64();
    let lost_detail = (!lost.is_empty()).then(|| {
        let mut found: BTreeMap<String, usize> = BTreeMap::new();
        let mut answers: BTreeMap<u16, usize> = BTreeMap::new();
        for (s, record) in &lost {
            *found
                .entry(record.clone().unwrap_or_else(|| "no record".to_owned()))
                .or_default() += 1;
            *answers.entry(s.status.unwrap_or(0)).or_default() += 1;
        }
        let first = lost
            .iter()
            .map(|(s, _)| s.start.as_secs_f64())
            .fold(f64::MAX, f64::min);
        let last = lost
            .iter()
            .map(|(s, _)| (s.start + s.latency).as_secs_f64())
            .fold(0.0, f64::max);
        let on_victim = lost
            .iter()
            .filter(|(s, _)| owner_of[s.item] == victim)
            .count();
        let list = |m: &BTreeMap<String, usize>| -> String {
            m.iter()
                .map(|(k, n)| format!("{k} x{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "lost: sent from kill {:+.2} s, answered by kill {:+.2} s; {on_victim} of them on the \
             killed primary's items; answered {}; their records now: {}",
            first - kill,
            last - kill,
            list(&answers.iter().map(|(k, n)| (k.to_string(), *n)).collect()),
            list(&found),
        )
    });
    let window = failures
        .iter()
        .map(|s| s.start.as_secs_f64())
        .reduce(f64::min)
        .zip(
            failures
                .iter()
                .map(|s| (s.start + s.latency).as_secs_f64())
                .reduce(f64::max),
        )
        .map(|(first, last)| (first - kill, last - kill));
    let load_end = samples
        .iter()
        .map(|s| (s.start + s.latency).as_secs_f64())
        .fold(0.0, f64::max);
    let failing_at_end = window.is_some_and(|(_, last)| load_end - (last + kill) < 1.0);
    let calm = kill_at.saturating_sub(knobs.replica_stall);
    let rate_before = samples
        .iter()
        .filter(|s| success(s) && s.start + s.latency < calm)
        .count() as f64
        / calm.as_secs_f64();
    let rate_failover = failover_after.filter(|&d| d > 0.0).map(|d| {
        samples
            .iter()
            .filter(|s| success(s))
            .map(|s| (s.start + s.latency).as_secs_f64() - kill)
            .filter(|&done| (0.0..d).contains(&done))
            .count() as f64
            / d
    });
    let mut others: Vec<Duration> = samples
        .iter()
        .filter(|s| owner_of[s.item] != victim)
        .filter(|s| {
            let start = s.start.as_secs_f64() - kill;
            (0.0..failover_after.unwrap_or(0.0)).contains(&start)
        })
        .map(|s| s.latency)
        .collect();
    others.sort();
    let mut before: Vec<Duration> = samples
        .iter()
        .filter(|s| success(s) && s.start < calm)
        .map(|s| s.latency)
        .collect();
    before.sort();

    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
    // Leave nothing behind: this run's keys, and its exchange.
    testing::delete_redis_prefix(&redis).await;
    testing::delete_exchange(&amqp.url, &amqp.exchange).await;
    run_cluster_script(&["restart-node", &victim.to_string()]).await;

    Outcome {
        mode,
        requests: samples.len(),
        acknowledged: acknowledged_count,
        lost: lost.len(),
        failed: failures.len(),
        failure_kinds,
        other,
        window,
        failing_at_end,
        p50: percentile(&before, 0.50),
        p99: percentile(&before, 0.99),
        violations,
        victim,
        items_on_victim,
        kill_at,
        failover_after,
        rate_before,
        rate_failover,
        others_during_failover: (others.len(), percentile(&others, 0.5)),
        unacknowledged_holds: held_total - (acknowledged_count - lost.len()) as i64,
        lost_detail,
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.1} ms", d.as_secs_f64() * 1e3),
    )
}

#[tokio::main]
async fn main() {
    let knobs = Knobs {
        load: Duration::from_secs(env_or("BENCH_SECONDS", 12)),
        kill_at: Duration::from_secs_f64(env_or("BENCH_KILL_AT", 4.0)),
        replica_stall: Duration::from_secs_f64(env_or("BENCH_REPLICA_STALL", 0.0)),
        clients: env_or("BENCH_CLIENTS", 32),
        items: env_or("BENCH_ITEMS", 30),
    };
    let urls: Vec<String> = run_cluster_script(&["urls"])
        .await
        .split(',')
        .map(str::to_owned)
        .collect();
    assert!(
        cluster_ok(&urls).await,
        "no healthy Redis Cluster at {}: start one with scripts/redis-cluster.sh start (make \
         bench-failover does)",
        urls.join(",")
    );
    let wait_timeout = std::env::var("REDIS_WAIT_TIMEOUT").unwrap_or_else(|_| "100ms".into());

    let mut outcomes = Vec::new();
    for mode in [Mode::Asynchronous, Mode::Wait(1)] {
        eprintln!("failover bench: {} ...", mode.label());
        outcomes.push(run_mode(mode, knobs, &urls).await);
    }

    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!();
    println!(
        "inventory-svc failover benchmark: release build, {cores} cores; {} clients reserving 1 unit \
         of {} items for {} s, a primary SIGKILLed at {:.0} s{}; 3 primaries + 3 replicas, \
         cluster-node-timeout 2 s, AOF fsync always; WAIT timeout {wait_timeout}",
        knobs.clients,
        knobs.items,
        knobs.load.as_secs(),
        knobs.kill_at.as_secs_f64(),
        if knobs.replica_stall.is_zero() {
            String::new()
        } else {
            format!(
                " after its replica stalled (SIGSTOP) for {:.0} s",
                knobs.replica_stall.as_secs_f64()
            )
        },
    );
    println!();
    println!(
        "| mode | acknowledged | lost acknowledged | failed requests | unavailable window | p50 before the kill | p99 before the kill | conservation ok |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|---|");
    for o in &outcomes {
        let window = o.window.map_or_else(
            || "none".to_owned(),
            |(a, b)| {
                format!(
                    "{:.1} s (kill {:+.1} s to {:+.1} s{})",
                    b - a,
                    a,
                    b,
                    if o.failing_at_end { ", to the end" } else { "" }
                )
            },
        );
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            o.mode.label(),
            o.acknowledged,
            o.lost,
            o.failed,
            window,
            ms(o.p50),
            ms(o.p99),
            if o.violations.is_empty() { "yes" } else { "NO" },
        );
    }
    println!();
    for o in &outcomes {
        let kinds: Vec<String> = o
            .failure_kinds
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        println!(
            "  {}: {} requests; killed 127.0.0.1:{} (primary of {} of the {} items) at {:.1} s; \
             a replica served its slots {}; successful reserves/s before the kill {:.0}, \
             until a replica took over {} (reserves of other primaries' items sent then: {}, \
             p50 {}); failures: {}; other answers (4xx): {}; holds in \
             Redis never acknowledged to a client: {}",
            o.mode.label(),
            o.requests,
            o.victim,
            o.items_on_victim,
            knobs.items,
            o.kill_at.as_secs_f64(),
            o.failover_after.map_or_else(
                || "not within the deadline".to_owned(),
                |s| format!("{s:.1} s after the kill")
            ),
            o.rate_before,
            o.rate_failover
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.0}")),
            o.others_during_failover.0,
            ms(o.others_during_failover.1),
            if kinds.is_empty() {
                "none".to_owned()
            } else {
                kinds.join(", ")
            },
            o.other,
            o.unacknowledged_holds,
        );
        if let Some(detail) = &o.lost_detail {
            println!("    {detail}");
        }
        for v in &o.violations {
            println!("    conservation broken: {v}");
        }
    }

    println!();
    println!("  What this says:");
    let asynchronous = &outcomes[0];
    let wait = &outcomes[1];
    if asynchronous.lost > 0 {
        println!(
            "  - Asynchronous replication lost {} of {} acknowledged reservations: answered 201, \
             gone after the failover (a confirm would find no reservation). The counters went \
             with them (one script, one replicated unit), so nothing is oversold: what is lost \
             is the promise, not the stock arithmetic.",
            asynchronous.lost, asynchronous.acknowledged
        );
    } else if knobs.replica_stall.is_zero() {
        println!(
            "  - Asynchronous replication lost no acknowledged reservation in this run, and that \
             is expected here, not a guarantee: the primary writes a change to its replica's \
             socket in the same event-loop pass as the reply, and what is in the kernel's socket \
             buffers still reaches the replica after a SIGKILL. What is lost is what the primary \
             still held in its own memory for a replica that had fallen behind (slow link, busy \
             replica, partition: an isolated primary keeps acknowledging for up to \
             cluster-node-timeout). Try BENCH_REPLICA_STALL=10 to see it."
        );
    } else {
        println!(
            "  - Asynchronous replication lost no acknowledged reservation although the replica \
             stalled {:.0} s: what the primary wrote in that time still fitted in the kernel's \
             socket buffers, which outlive the process. A longer stall, or more traffic, \
             overflows them into the primary's memory, which dies with it.",
            knobs.replica_stall.as_secs_f64()
        );
    }
    if let Some((_, last)) = asynchronous.window {
        println!(
            "  - Asynchronous: {} requests failed, all around the failover itself: a request \
             for an item of the dead primary waits out the service's 2 s Redis timeout (503) \
             until the replica takes over ({}); the last failure ended {last:+.1} s after the \
             kill.",
            asynchronous.failed,
            asynchronous.failover_after.map_or_else(
                || "it did not within the deadline".to_owned(),
                |s| format!("{s:.1} s after the kill")
            ),
        );
    }
    if wait.lost == 0 {
        println!(
            "  - WAIT {} lost none in this run: a 201 waits until WAIT reports a replica has \
             the change, and with one replica per primary that is the one promoted. A request \
             whose WAIT times out answers 503 although the change may stand on the primary \
             (the holds never acknowledged above); the reservation id makes the retry safe. \
             The script and its WAIT go out as one pipeline, so the WAIT cannot be re-routed to \
             another node while the primary fails.",
            wait.mode.replicas()
        );
    } else {
        println!(
            "  - WAIT {} still lost {} acknowledged reservation(s) (when they were sent \
             and answered is printed above). With one replica per primary, a WAIT that truly \
             saw the replica take the change cannot lose it to this failover, so these \
             acknowledgments were false: look at how platform::redis sends the script and its \
             WAIT (one pipeline, one node) and at redis-rs' retry of a pipeline.",
            wait.mode.replicas(),
            wait.lost
        );
    }
    if wait.failing_at_end {
        println!(
            "  - Its price after a failover: the promoted replica has no replica of its own, so \
             every change to its items fails WAIT and answers 503 until a replica rejoins (here: \
             until the end of the load; restart-node then). Availability of those items is \
             traded for durability; more replicas per primary would avoid it."
        );
    }
    if let (Some(a), Some(w)) = (asynchronous.p50, wait.p50) {
        println!(
            "  - Before the kill, with WAIT the median reserve took {} ({:+.1} ms) and p99 {}, \
             against {} and {} without; on this machine the load generator, the service and six \
             Redis nodes share the cores, so compare the two across runs.",
            ms(Some(w)),
            (w.as_secs_f64() - a.as_secs_f64()) * 1e3,
            ms(wait.p99),
            ms(Some(a)),
            ms(asynchronous.p99),
        );
    }
    println!(
        "  reproduce: make bench-failover   (knobs: BENCH_SECONDS, BENCH_KILL_AT, BENCH_REPLICA_STALL, BENCH_CLIENTS, BENCH_ITEMS, REDIS_WAIT_TIMEOUT)"
    );

    let broken: usize = outcomes.iter().map(|o| o.violations.len()).sum();
    assert_eq!(
        broken, 0,
        "conservation broken on {broken} item(s): see above"
    );
}
