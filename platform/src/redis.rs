//! Redis: one server or a Redis Cluster, behind one pool type (deadpool over deadpool-redis'
//! multiplexed connections, or over redis-rs' cluster client), chosen by `REDIS_CLUSTER`.
//!
//! On a cluster every command goes to the node owning its key's slot; a script touches only
//! keys of one slot (the services' keys share a hash tag per item). What differs is only work
//! spanning many slots: [`Connection::query_all`] sends such commands concurrently instead of
//! as one pipeline, and [`Connection::scan`] walks every primary instead of one server.

use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, PoolConfig, RecycleResult, Timeouts};
use redis::{
    Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisFuture, RedisResult, Value,
    aio::ConnectionLike,
    cluster_async::ClusterConnection,
    cluster_routing::{RoutingInfo, SingleNodeRoutingInfo},
};

use crate::config::RedisConfig;

/// How long a caller waits for a pooled connection, or for a new one to be made, before the
/// request fails fast with a 503 instead of hanging while Redis is away.
const POOL_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection handed out less than this long ago, whose last command the server answered,
/// goes out again without a PING (see [`SkipPing`]).
const ANSWERED_LATELY: Duration = Duration::from_secs(1);

/// Keys asked for per SCAN round trip.
const SCAN_COUNT: usize = 1000;

/// A pool of connections to one Redis server, or to a Redis Cluster.
#[derive(Clone)]
pub struct Pool {
    inner: PoolKind,
    wait: Option<Wait>,
}

type SingleManager = SkipPing<deadpool_redis::Manager>;
type ClusterManager = SkipPing<deadpool_redis::cluster::Manager>;

#[derive(Clone)]
enum PoolKind {
    /// One server (which may have replicas of its own).
    Single(managed::Pool<SingleManager>),
    /// A Redis Cluster: commands are routed by key slot.
    Cluster(managed::Pool<ClusterManager>),
}

/// `REDIS_WAIT_REPLICAS` / `REDIS_WAIT_TIMEOUT`: how many replicas must have a write before it
/// counts as done (see [`Connection::run_script`]).
#[derive(Debug, Clone, Copy)]
struct Wait {
    replicas: u32,
    timeout: Duration,
}

/// A connection taken from a [`Pool`]; it is a [`ConnectionLike`], so commands, pipelines
/// within one slot and scripts run on it as on any redis-rs connection.
pub struct Connection {
    inner: ConnectionKind,
    wait: Option<Wait>,
}

enum ConnectionKind {
    /// To one server.
    Single(Object<SingleManager>),
    /// To a cluster.
    Cluster(Object<ClusterManager>),
}

/// deadpool-redis' manager, which makes the connections and, before it hands one out again,
/// checks it with a `PING`: a round trip to Redis for every use, as many as the commands
/// themselves (a reservation is one script call). This one skips that `PING` when the
/// connection was handed out less than [`ANSWERED_LATELY`] ago and Redis answered the last
/// command sent on it (a reply or an error reply of its own). A connection that failed, timed
/// out (its command dropped unanswered) or sat idle is still checked, and replaced when the
/// check fails, as before.
struct SkipPing<M>(M);

impl<M: managed::Manager> managed::Manager for SkipPing<M> {
    type Type = Watched<M::Type>;
    type Error = M::Error;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        Ok(Watched {
            conn: self.0.create().await?,
            answered: true,
        })
    }

    async fn recycle(
        &self,
        watched: &mut Self::Type,
        metrics: &Metrics,
    ) -> RecycleResult<Self::Error> {
        if watched.answered && metrics.last_used() < ANSWERED_LATELY {
            return Ok(());
        }
        self.0.recycle(&mut watched.conn, metrics).await?;
        watched.answered = true;
        Ok(())
    }
}

/// A pooled connection and whether Redis answered the last command sent on it.
pub struct Watched<C> {
    conn: C,
    answered: bool,
}

/// Whether `error` is Redis' own answer (an error reply), rather than a failure to get one.
fn answered_by_redis(error: &RedisError) -> bool {
    matches!(error.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}

impl<C: ConnectionLike + Send> Watched<C> {
    /// Sends with `send` and records whether Redis answered.
    fn watch<'a, T: Send + 'a>(
        &'a mut self,
        send: impl FnOnce(&'a mut C) -> RedisFuture<'a, T>,
    ) -> RedisFuture<'a, T> {
        let Self { conn, answered } = self;
        *answered = false;
        let reply = send(conn);
        Box::pin(async move {
            let result = reply.await;
            *answered = result.as_ref().map_or_else(answered_by_redis, |_| true);
            result
        })
    }
}

impl<C: ConnectionLike + Send> ConnectionLike for Watched<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.watch(|conn| conn.req_packed_command(cmd))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.watch(|conn| conn.req_packed_commands(pipeline, offset, count))
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

/// A write was applied on the primary but did not reach `REDIS_WAIT_REPLICAS` replicas within
/// `REDIS_WAIT_TIMEOUT`: a failover now could lose it.
#[derive(Debug, thiserror::Error)]
#[error("the write reached {reached} of the {wanted} replicas asked for within {timeout:?}")]
pub struct NotReplicated {
    /// Replicas that acknowledged it.
    pub reached: u64,
    /// Replicas asked for.
    pub wanted: u32,
    /// How long was waited.
    pub timeout: Duration,
}

/// No connection could be had in time: Redis is down, restarting, or too slow.
#[derive(Debug, thiserror::Error)]
#[error("no Redis connection: {0}")]
pub struct PoolError(String);

/// Builds the pool. No connection is made until the first use, so a service starts (and reports
/// not-ready) while Redis is still coming up.
pub fn pool(config: &RedisConfig) -> anyhow::Result<Pool> {
    let mut pool = PoolConfig::new(config.pool_size);
    pool.timeouts = Timeouts {
        wait: Some(POOL_TIMEOUT),
        create: Some(POOL_TIMEOUT),
        recycle: Some(POOL_TIMEOUT),
    };
    let inner = if config.cluster {
        let manager = deadpool_redis::cluster::Manager::new(config.urls(), false)?;
        PoolKind::Cluster(build(manager, pool)?)
    } else {
        let manager = deadpool_redis::Manager::new(config.url.as_str())?;
        PoolKind::Single(build(manager, pool)?)
    };
    let wait = (config.wait_replicas > 0).then_some(Wait {
        replicas: config.wait_replicas,
        timeout: config.wait_timeout,
    });
    Ok(Pool { inner, wait })
}

fn build<M: managed::Manager>(
    manager: M,
    config: PoolConfig,
) -> anyhow::Result<managed::Pool<SkipPing<M>>> {
    Ok(managed::Pool::builder(SkipPing(manager))
        .config(config)
        .runtime(deadpool::Runtime::Tokio1)
        .build()?)
}

impl Pool {
    /// A connection, or [`PoolError`] within the pool's timeouts.
    pub async fn get(&self) -> Result<Connection, PoolError> {
        let inner = match &self.inner {
            PoolKind::Single(p) => p
                .get()
                .await
                .map(ConnectionKind::Single)
                .map_err(|e| PoolError(e.to_string()))?,
            PoolKind::Cluster(p) => p
                .get()
                .await
                .map(ConnectionKind::Cluster)
                .map_err(|e| PoolError(e.to_string()))?,
        };
        Ok(Connection {
            inner,
            wait: self.wait,
        })
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.inner {
            ConnectionKind::Single(c) => c.req_packed_command(cmd),
            ConnectionKind::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.inner {
            ConnectionKind::Single(c) => c.req_packed_commands(pipeline, offset, count),
            ConnectionKind::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            ConnectionKind::Single(c) => c.get_db(),
            ConnectionKind::Cluster(c) => c.get_db(),
        }
    }
}

impl Connection {
    /// Runs `cmds`, which may touch keys of many slots, and returns their replies in order: one
    /// pipeline on a single server; on a cluster, each command to its own node, all at once
    /// (the cluster connection multiplexes them).
    pub async fn query_all<T: FromRedisValue + Send>(
        &mut self,
        cmds: &[Cmd],
    ) -> RedisResult<Vec<T>> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        match &mut self.inner {
            ConnectionKind::Single(c) => {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd.clone());
                }
                pipe.query_async(&mut **c).await
            }
            // Each on its own clone of the cluster client, watched together as one command.
            ConnectionKind::Cluster(c) => {
                c.watch(|conn| {
                    let replies = cmds.iter().map(|cmd| {
                        let mut conn = conn.clone();
                        async move { cmd.query_async::<T>(&mut conn).await }
                    });
                    Box::pin(futures::future::try_join_all(replies))
                })
                .await
            }
        }
    }

    /// Every key matching `pattern` (and of `kind`, e.g. `stream`, when given), by SCAN: on a
    /// cluster, on every primary in turn.
    pub async fn scan(&mut self, pattern: &str, kind: Option<&str>) -> RedisResult<Vec<String>> {
        self.scan_paced(pattern, kind, &ScanPace::default()).await
    }

    /// [`Self::scan`] at `pace`: a walk over a large keyspace in the background that neither
    /// takes Redis's whole core nor fails because the whole walk outlasts one call's timeout.
    pub async fn scan_paced(
        &mut self,
        pattern: &str,
        kind: Option<&str>,
        pace: &ScanPace,
    ) -> RedisResult<Vec<String>> {
        let scan = |cursor: u64| {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            if let Some(kind) = kind {
                cmd.arg("TYPE").arg(kind);
            }
            cmd
        };
        let mut keys = Vec::new();
        match &mut self.inner {
            ConnectionKind::Single(c) => {
                let mut cursor = 0;
                loop {
                    let started = tokio::time::Instant::now();
                    let (next, batch): (u64, Vec<String>) =
                        pace.round_trip(scan(cursor).query_async(&mut **c)).await?;
                    keys.extend(batch);
                    if next == 0 {
                        return Ok(keys);
                    }
                    cursor = next;
                    pace.pause(started).await;
                }
            }
            ConnectionKind::Cluster(c) => {
                // Routed by address, past the watched connection: recorded here as one command.
                c.answered = false;
                for (host, port) in primaries(&mut c.conn).await? {
                    let mut cursor = 0;
                    loop {
                        let started = tokio::time::Instant::now();
                        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port,
                        });
                        let reply = pace
                            .round_trip(c.conn.route_command(scan(cursor), route))
                            .await?;
                        let (next, batch): (u64, Vec<String>) =
                            FromRedisValue::from_redis_value(reply)?;
                        keys.extend(batch);
                        if next == 0 {
                            break;
                        }
                        cursor = next;
                        pace.pause(started).await;
                    }
                }
                c.answered = true;
                Ok(keys)
            }
        }
    }
}

/// How fast [`Connection::scan_paced`] walks: at most `keys_per_second` keys looked at (each
/// SCAN looks at about 1,000; `None`: as fast as Redis answers), and each SCAN answered within
/// `timeout` (`None`: no limit of its own).
#[derive(Debug, Clone, Default)]
pub struct ScanPace {
    /// The most keys looked at per second.
    pub keys_per_second: Option<std::num::NonZeroU32>,
    /// The longest one SCAN may take.
    pub timeout: Option<Duration>,
}

impl ScanPace {
    async fn round_trip<T>(
        &self,
        call: impl std::future::Future<Output = RedisResult<T>>,
    ) -> RedisResult<T> {
        let Some(limit) = self.timeout else {
            return call.await;
        };
        tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "SCAN timed out",
                format!("no answer within {limit:?}"),
            )))
        })
    }

    /// Waits out the rest of one SCAN's share of a second, begun at `started`.
    async fn pause(&self, started: tokio::time::Instant) {
        if let Some(rate) = self.keys_per_second {
            let rest = crate::pace::Pace::new(rate).rest(started, SCAN_COUNT as u64);
            tokio::time::sleep(rest).await;
        }
    }
}

/// A Lua script: its text (for `EVAL`) and its SHA (for `EVALSHA`).
pub struct LuaScript {
    source: &'static str,
    script: redis::Script,
}

impl LuaScript {
    /// The script with this text.
    pub fn new(source: &'static str) -> Self {
        Self {
            source,
            script: redis::Script::new(source),
        }
    }

    /// redis-rs' script, for an invocation of one's own.
    pub fn script(&self) -> &redis::Script {
        &self.script
    }
}

/// Why [`Connection::run_script`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// Redis refused or did not answer.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    /// The script ran, but its change did not reach the replicas asked for.
    #[error(transparent)]
    NotReplicated(#[from] NotReplicated),
}

impl Connection {
    /// Runs `script` on `keys` (of one slot) with `args`.
    ///
    /// Without `REDIS_WAIT_REPLICAS`: `EVALSHA` (loading the script on `NOSCRIPT`). Redis
    /// replicates asynchronously, so a change the primary acknowledged is lost if the primary
    /// dies before its replica has it and that replica is promoted.
    ///
    /// With it: `EVAL` and `WAIT` in one pipeline, so the `WAIT` runs on the very node and
    /// connection the script ran on (a `WAIT` sent on its own could be re-routed to another node
    /// while the primary fails, and count that node's replicas instead), and
    /// [`NotReplicated`] when fewer replicas than asked for have the change within
    /// `REDIS_WAIT_TIMEOUT`. The change stands on the primary either way.
    pub async fn run_script<T: FromRedisValue>(
        &mut self,
        script: &LuaScript,
        keys: &[String],
        args: &[String],
    ) -> Result<T, ScriptError> {
        let Some(wait) = self.wait else {
            let mut call = script.script.prepare_invoke();
            for k in keys {
                call.key(k);
            }
            for a in args {
                call.arg(a);
            }
            return Ok(call.invoke_async(self).await?);
        };
        let timeout_ms = u64::try_from(wait.timeout.as_millis()).unwrap_or(u64::MAX);
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(script.source)
            .arg(keys.len())
            .arg(keys)
            .arg(args);
        pipe.cmd("WAIT").arg(wait.replicas).arg(timeout_ms);
        let (reply, reached): (T, u64) = pipe.query_async(self).await?;
        metrics::histogram!("redis_wait_replicas_reached").record(reached as f64);
        if reached < u64::from(wait.replicas) {
            return Err(NotReplicated {
                reached,
                wanted: wait.replicas,
                timeout: wait.timeout,
            }
            .into());
        }
        Ok(reply)
    }
}

/// The cluster's primaries (host, port), from `CLUSTER SLOTS`: the first node of each range.
async fn primaries(conn: &mut ClusterConnection) -> RedisResult<Vec<(String, u16)>> {
    let slots: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let mut nodes = Vec::new();
    for range in slots {
        let Value::Array(parts) = range else { continue };
        // [start, end, [host, port, id, ...], replicas...]
        if let Some(Value::Array(primary)) = parts.get(2) {
            let host: String = primary
                .first()
                .map(|v| FromRedisValue::from_redis_value(v.clone()))
                .transpose()?
                .unwrap_or_default();
            let port: u16 = primary
                .get(1)
                .map(|v| FromRedisValue::from_redis_value(v.clone()))
                .transpose()?
                .unwrap_or_default();
            if !nodes.contains(&(host.clone(), port)) {
                nodes.push((host, port));
            }
        }
    }
    Ok(nodes)
}

/// `PING`, for `/readyz`.
pub async fn ping(pool: &Pool) -> Result<(), String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let _: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
