//! The running stack under test, seen the way an operator sees it: its addresses and names
//! (from `scripts/stack.sh env`), its processes (pid files in `.stack/<STACK>/pids/`), how it
//! is brought back (`scripts/stack.sh up`, as `make up` does), whether it is at rest, and the
//! auditor (`scripts/audit.sh`).
//!
//! Every script runs from the repository root with this process's environment, so `STACK`,
//! `PORT_BASE`, `REDIS_PORT`, `REPLICAS` and the gateway's rate reach them unchanged: the stack
//! that `up` restores is the one `scripts/chaos.sh` started.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Output,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::Command;

/// The script that starts, restores and describes a stack.
pub const STACK_SCRIPT: &str = "scripts/stack.sh";
/// The auditor: exit 0 when every check holds, 1 on a discrepancy, 2 when it cannot read.
pub const AUDIT_SCRIPT: &str = "scripts/audit.sh";

/// The services whose outbox feeds the broker, with the variable of their base URL.
const OUTBOX_SERVICES: [(&str, &str); 3] = [
    ("inventory-svc", "INVENTORY_URL"),
    ("order-svc", "ORDER_URL"),
    ("pricing-svc", "PRICING_URL"),
];

/// Replica `r` of a service listens `r * 100` ports above its first instance (scripts/stack.sh).
const REPLICA_PORT_STEP: u16 = 100;

/// A running stack, as `scripts/stack.sh env` describes it.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The repository root, where the scripts are run from.
    root: PathBuf,
    /// `NAME=value` pairs printed by `scripts/stack.sh env`.
    vars: HashMap<String, String>,
}

/// One run of the auditor.
#[derive(Debug, Clone)]
pub struct AuditRun {
    /// Its exit code (`None`: it could not be run, or a signal ended it).
    pub code: Option<i32>,
    /// What it printed (stdout, then stderr).
    pub output: String,
}

/// What keeps a stack from being at rest, or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Messages ready or unacknowledged in the stack's queues and their retry queues.
    pub queued: u64,
    /// Events waiting in the outboxes of inventory, order and pricing (their gauges).
    pub outbox: u64,
    /// What could not be read (the broker or a service not answering), if anything.
    pub unreadable: Vec<String>,
}

impl Backlog {
    /// Nothing is waiting and everything answered.
    pub fn is_quiet(&self) -> bool {
        self.queued == 0 && self.outbox == 0 && self.unreadable.is_empty()
    }
}

impl std::fmt::Display for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} queued, {} in outboxes", self.queued, self.outbox)?;
        if !self.unreadable.is_empty() {
            write!(f, "; unreadable: {}", self.unreadable.join(", "))?;
        }
        Ok(())
    }
}

impl Stack {
    /// Asks `scripts/stack.sh env` (under `root`) for the stack this process's environment
    /// names, and refuses a stack the suite must not break: the developer's (`STACK=dev`), one
    /// started as containers, or one on the machine's shared Redis.
    pub async fn discover(root: &Path) -> anyhow::Result<Self> {
        let out = run(Command::new(root.join(STACK_SCRIPT))
            .arg("env")
            .current_dir(root))
        .await?;
        if !out.status.success() {
            bail!(
                "{STACK_SCRIPT} env failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let vars = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let stack = Self {
            root: root.to_owned(),
            vars,
        };
        if stack.name() == "dev" {
            bail!(
                "the fault suite kills processes and drops connections: run it on a stack of its own (STACK=chaos, as scripts/chaos.sh does), never on dev"
            );
        }
        if stack.var("STACK_RUNTIME")? != "native" {
            bail!("the fault suite kills native processes; this stack runs as containers");
        }
        if stack.redis_port()? == 6379 {
            bail!(
                "the fault suite kills its Redis: give the stack its own (REDIS_PORT other than 6379)"
            );
        }
        Ok(stack)
    }

    /// A variable of `scripts/stack.sh env`.
    pub fn var(&self, name: &str) -> anyhow::Result<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("{STACK_SCRIPT} env printed no {name}"))
    }

    /// The stack's name (`STACK`).
    pub fn name(&self) -> &str {
        self.vars.get("STACK").map_or("", String::as_str)
    }

    /// The gateway's base URL.
    pub fn gateway(&self) -> anyhow::Result<&str> {
        self.var("GATEWAY_URL")
    }

    /// The port of the stack's own Redis.
    pub fn redis_port(&self) -> anyhow::Result<u16> {
        let raw = self.var("REDIS_PORT")?;
        raw.parse()
            .with_context(|| format!("REDIS_PORT {raw:?} is not a port"))
    }

    /// The stack's Postgres databases (from its `*_DATABASE_URL`s).
    pub fn databases(&self) -> Vec<String> {
        let mut dbs: Vec<String> = self
            .vars
            .iter()
            .filter(|(k, _)| k.ends_with("_DATABASE_URL"))
            .filter_map(|(_, url)| url.rsplit('/').next())
            .map(|db| db.split('?').next().unwrap_or(db).to_owned())
            .collect();
        dbs.sort();
        dbs
    }

    /// The stack's consumer queues (`*_QUEUE`); each has retry queues `<queue>.retry.<n>`.
    pub fn queues(&self) -> Vec<String> {
        let mut queues: Vec<String> = self
            .vars
            .iter()
            .filter(|(k, _)| k.ends_with("_QUEUE"))
            .map(|(_, q)| q.clone())
            .collect();
        queues.sort();
        queues
    }

    fn pid_file(&self, instance: &str) -> anyhow::Result<PathBuf> {
        Ok(Path::new(self.var("STACK_STATE")?)
            .join("pids")
            .join(format!("{instance}.pid")))
    }

    /// The pid of a running instance (`order-svc`, `order-svc-1`, `redis`, …).
    pub fn pid(&self, instance: &str) -> anyhow::Result<u32> {
        let file = self.pid_file(instance)?;
        let raw = std::fs::read_to_string(&file)
            .with_context(|| format!("no pid file {} (is {instance} running?)", file.display()))?;
        raw.trim()
            .parse()
            .with_context(|| format!("{} holds no pid", file.display()))
    }

    /// The instances of `service` that have a pid file: `service`, `service-1`, …
    pub fn instances(&self, service: &str) -> Vec<String> {
        (0..10)
            .map(|r| {
                if r == 0 {
                    service.to_owned()
                } else {
                    format!("{service}-{r}")
                }
            })
            .take_while(|i| self.pid_file(i).is_ok_and(|f| f.exists()))
            .collect()
    }

    /// Runs `scripts/stack.sh up` (restarts what died, leaves the rest alone) and returns its
    /// lines about what it did: what it started or reloaded, not what it found running or
    /// reused, its build step, the demo catalog or the closing help.
    pub async fn up(&self) -> anyhow::Result<Vec<String>> {
        let out = run(Command::new(self.root.join(STACK_SCRIPT))
            .arg("up")
            .current_dir(&self.root))
        .await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "{STACK_SCRIPT} up failed ({}):\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout
            .lines()
            .take_while(|l| !l.starts_with("SIOMS ("))
            .filter(|l| {
                !l.trim().is_empty()
                    && ![
                        "already running",
                        "reusing",
                        "Building the services",
                        "demo catalog",
                    ]
                    .iter()
                    .any(|routine| l.contains(routine))
            })
            .map(str::to_owned)
            .collect())
    }

    /// Runs the auditor once; its output is kept whatever it answers.
    pub async fn audit(&self) -> AuditRun {
        let script = self.root.join(AUDIT_SCRIPT);
        if !script.exists() {
            return AuditRun {
                code: None,
                output: format!("{AUDIT_SCRIPT} does not exist"),
            };
        }
        match run(Command::new(script).current_dir(&self.root)).await {
            Ok(out) => AuditRun {
                code: out.status.code(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            },
            Err(e) => AuditRun {
                code: None,
                output: format!("{e:#}"),
            },
        }
    }

    /// What is still in flight: messages in the stack's queues (`rabbitmqctl list_queues`) and
    /// events in the outboxes (the `outbox_backlog_events` gauge of every instance).
    pub async fn backlog(&self, http: &reqwest::Client) -> Backlog {
        let mut backlog = Backlog::default();
        match self.queued().await {
            Ok(n) => backlog.queued = n,
            Err(e) => backlog.unreadable.push(format!("queues ({e:#})")),
        }
        for (service, url_var) in OUTBOX_SERVICES {
            for (r, instance) in self.instances(service).iter().enumerate() {
                let Some(url) = self.instance_url(url_var, r) else {
                    backlog.unreadable.push(format!("{instance} (no address)"));
                    continue;
                };
                match outbox_gauge(http, &url).await {
                    Ok(n) => backlog.outbox += n,
                    Err(e) => backlog.unreadable.push(format!("{instance} ({e:#})")),
                }
            }
        }
        backlog
    }

    /// Polls [`Self::backlog`] until it is quiet twice in a row, half a second apart, or
    /// `within` has passed. Returns how long it took and whether it got there. (The auditor
    /// waits for stragglers itself; this only keeps it from starting in the middle of a
    /// drain.)
    pub async fn wait_for_quiet(
        &self,
        http: &reqwest::Client,
        within: Duration,
    ) -> (Duration, Result<(), Backlog>) {
        let started = Instant::now();
        let mut quiet_polls = 0;
        loop {
            let backlog = self.backlog(http).await;
            quiet_polls = if backlog.is_quiet() {
                quiet_polls + 1
            } else {
                0
            };
            if quiet_polls >= 2 {
                return (started.elapsed(), Ok(()));
            }
            if started.elapsed() >= within {
                return (started.elapsed(), Err(backlog));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The base URL of replica `r` of the service whose first instance is at `url_var`.
    fn instance_url(&self, url_var: &str, r: usize) -> Option<String> {
        let base = self.vars.get(url_var)?;
        let (host, port) = base.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let port = port.checked_add(REPLICA_PORT_STEP.checked_mul(u16::try_from(r).ok()?)?)?;
        Some(format!("{host}:{port}"))
    }

    /// Messages ready or unacknowledged in the stack's queues and their retry queues (the
    /// dead-letter queues are the auditor's business, not a backlog).
    async fn queued(&self) -> anyhow::Result<u64> {
        let out = run(Command::new("rabbitmqctl").args([
            "-q",
            "list_queues",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ]))
        .await?;
        if !out.status.success() {
            bail!("rabbitmqctl list_queues: {}", out.status);
        }
        let queues = self.queues();
        let ours = |name: &str| {
            queues
                .iter()
                .any(|q| name == q || name.starts_with(&format!("{q}.retry.")))
        };
        let mut total = 0;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if let [name, ready, unacked] = cols[..]
                && ours(name)
            {
                total += ready.parse::<u64>().unwrap_or(0) + unacked.parse::<u64>().unwrap_or(0);
            }
        }
        Ok(total)
    }
}

/// The sum of an instance's `outbox_backlog_events` samples.
async fn outbox_gauge(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(3))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("outbox_backlog_events"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v.max(0.0) as u64)
        .sum())
}

/// Runs a command to its end, with stdin closed, and keeps what it printed.
pub async fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    cmd.stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {program}"))
}

/// Runs a command that must succeed; returns its stdout.
pub async fn run_ok(cmd: &mut Command) -> anyhow::Result<String> {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let out = run(cmd).await?;
    if !out.status.success() {
        bail!(
            "{program} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
