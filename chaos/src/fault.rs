//! The faults, and how each is injected into a running stack with the tools an operator has:
//! `kill -KILL`, `rabbitmqctl`, `psql` as the postgres superuser, `redis-cli`, and
//! `scripts/stack.sh up` to bring back what was killed (the way docs/faults-and-scale.md says a
//! stack is restored).
//!
//! What is not injected: Postgres is the machine's shared server, so it is never stopped; only
//! the stack's connections to it are terminated. RabbitMQ is the machine's too, but nothing
//! else uses it while the suite runs, so its application is stopped and started.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::stack::{Stack, run, run_ok};

/// How long a killed process stays dead before `scripts/stack.sh up` brings it back: long
/// enough for the load to notice, short enough to stay within the clients' retry budget.
const OUTAGE: Duration = Duration::from_secs(2);
/// How long the broker's application stays stopped.
const BROKER_DOWN: Duration = Duration::from_secs(3);
/// The load between the two steps of a two-step fault (drop the connections, then stop the
/// server): the clients recover from the first before the second hits.
const BETWEEN_STEPS: Duration = Duration::from_secs(3);
/// How long the suite waits for a killed process to be gone (reaped by init).
const REAP_WITHIN: Duration = Duration::from_secs(20);

/// One fault the suite injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -KILL` one instance of a service (the first replica), then `scripts/stack.sh up`.
    Kill(&'static str),
    /// `rabbitmqctl close_all_connections` (every broker connection dropped at once), a few
    /// seconds under load, then `rabbitmqctl stop_app`, a pause, `rabbitmqctl start_app`.
    Broker,
    /// `pg_terminate_backend` on every connection to the stack's databases.
    PostgresConnections,
    /// `CLIENT KILL TYPE normal` on the stack's Redis (every connection dropped), a few seconds
    /// under load, then `kill -KILL` of that Redis and `scripts/stack.sh up`, which starts it
    /// again on the same append-only file.
    Redis,
}

impl Fault {
    /// Every fault, in the order the suite injects them.
    pub const ALL: [Self; 8] = [
        Self::Kill("inventory-svc"),
        Self::Kill("order-svc"),
        Self::Kill("pricing-svc"),
        Self::Kill("analytics-consumer"),
        Self::Kill("notifier-consumer"),
        Self::Broker,
        Self::PostgresConnections,
        Self::Redis,
    ];

    /// Its name in `CHAOS_FAULTS`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill("inventory-svc") => "kill-inventory-svc",
            Self::Kill("order-svc") => "kill-order-svc",
            Self::Kill("pricing-svc") => "kill-pricing-svc",
            Self::Kill("analytics-consumer") => "kill-analytics-consumer",
            Self::Kill("notifier-consumer") => "kill-notifier-consumer",
            Self::Kill(_) => "kill",
            Self::Broker => "broker",
            Self::PostgresConnections => "postgres",
            Self::Redis => "redis",
        }
    }

    /// Its row label in the table.
    pub fn label(self) -> String {
        match self {
            Self::Kill(service) => format!("SIGKILL {service}"),
            Self::Broker => "rabbitmq: drop conns, stop/start".to_owned(),
            Self::PostgresConnections => "postgres: terminate conns".to_owned(),
            Self::Redis => "redis: drop conns, SIGKILL".to_owned(),
        }
    }

    /// Injects the fault (and brings back what it killed) while the load runs; returns what
    /// was done, line by line.
    pub async fn inject(self, stack: &Stack) -> anyhow::Result<Vec<String>> {
        match self {
            Self::Kill(service) => {
                let instance = stack
                    .instances(service)
                    .into_iter()
                    .next()
                    .with_context(|| format!("{service} has no running instance"))?;
                kill_and_restore(stack, &instance).await
            }
            Self::Broker => {
                let out = run_ok(
                    Command::new("rabbitmqctl")
                        .args(["close_all_connections", "chaos: every connection dropped"]),
                )
                .await?;
                let mut notes = vec![format!(
                    "rabbitmqctl close_all_connections: {}",
                    one_line(&out)
                )];
                tokio::time::sleep(BETWEEN_STEPS).await;
                let started = Instant::now();
                run_ok(Command::new("rabbitmqctl").arg("stop_app")).await?;
                let stopped = started.elapsed();
                tokio::time::sleep(BROKER_DOWN).await;
                run_ok(Command::new("rabbitmqctl").arg("start_app")).await?;
                notes.push(format!(
                    "{} s later: rabbitmqctl stop_app ({:.1} s), {} s down, start_app: the broker was back {:.1} s after the stop began",
                    BETWEEN_STEPS.as_secs(),
                    stopped.as_secs_f64(),
                    BROKER_DOWN.as_secs(),
                    started.elapsed().as_secs_f64()
                ));
                Ok(notes)
            }
            Self::PostgresConnections => {
                let dbs = stack.databases();
                if dbs.is_empty() {
                    bail!("the stack names no database");
                }
                let list = dbs
                    .iter()
                    .map(|d| format!("'{}'", d.replace('\'', "''")))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname IN ({list}) AND pid <> pg_backend_pid()"
                );
                let count = pg_admin(&sql).await?;
                Ok(vec![format!(
                    "pg_terminate_backend: {} connections to {} terminated (the machine's Postgres itself is not restarted)",
                    count.trim(),
                    dbs.join(", ")
                )])
            }
            Self::Redis => {
                let port = stack.redis_port()?.to_string();
                let out = run_ok(
                    Command::new("redis-cli")
                        .args(["-p", &port, "CLIENT", "KILL", "TYPE", "normal"]),
                )
                .await?;
                let mut notes = vec![format!(
                    "redis-cli -p {port} CLIENT KILL TYPE normal: {} connections closed",
                    out.trim()
                )];
                tokio::time::sleep(BETWEEN_STEPS).await;
                notes.push(format!("{} s later:", BETWEEN_STEPS.as_secs()));
                notes.extend(kill_and_restore(stack, "redis").await?);
                Ok(notes)
            }
        }
    }
}

/// `kill -KILL` an instance, waits until it is gone, leaves it dead for [`OUTAGE`], then
/// restores the stack with `scripts/stack.sh up`.
async fn kill_and_restore(stack: &Stack, instance: &str) -> anyhow::Result<Vec<String>> {
    let pid = stack.pid(instance)?;
    run_ok(Command::new("kill").args(["-KILL", &pid.to_string()])).await?;
    let killed = Instant::now();
    // `scripts/stack.sh up` sees a process that is not reaped yet as alive (`kill -0`), and
    // this machine's init reaps orphans only every few seconds.
    while Path::new(&format!("/proc/{pid}")).exists() {
        if killed.elapsed() > REAP_WITHIN {
            bail!(
                "{instance} (pid {pid}) was killed but is still not reaped after {REAP_WITHIN:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reaped = killed.elapsed();
    tokio::time::sleep(OUTAGE.saturating_sub(reaped)).await;
    let restoring = Instant::now();
    let done = stack.up().await?;
    let mut notes = vec![format!(
        "kill -KILL {instance} (pid {pid}); gone after {:.1} s; `scripts/stack.sh up` after {:.1} s took {:.1} s and did:",
        reaped.as_secs_f64(),
        restoring.duration_since(killed).as_secs_f64(),
        restoring.elapsed().as_secs_f64()
    )];
    notes.extend(done.into_iter().map(|l| format!("  {l}")));
    Ok(notes)
}

/// Runs SQL as the postgres superuser, the way `scripts/stack.sh` does: through the local
/// socket as the postgres OS user, else over TCP as postgres.
async fn pg_admin(sql: &str) -> anyhow::Result<String> {
    let args = [
        "-qAtX",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        "postgres",
        "-c",
        sql,
    ];
    let local = run(Command::new("runuser")
        .args(["-u", "postgres", "--", "psql"])
        .args(args))
    .await;
    match local {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => run_ok(
            Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres"])
                .args(args),
        )
        .await
        .context("cannot run SQL as the postgres superuser"),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
