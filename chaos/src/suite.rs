//! The suite's course. After the catalog is created, a baseline row runs the load with no
//! fault, then each fault gets a row of its own:
//!
//! 1. the load runs for `CHAOS_BEFORE`;
//! 2. the fault is injected (a killed process is brought back by `scripts/stack.sh up`);
//! 3. the load keeps running for `CHAOS_AFTER` (at least 10 s) after that;
//! 4. the load stops placing orders, and every client finishes its retries;
//! 5. the suite waits until the stack is at rest (queues and outboxes empty);
//! 6. the auditor runs (again, while it fails, for up to `CHAOS_AUDIT_WITHIN`);
//! 7. the client-view checks run on the row's keys, and the no-oversell check on every key so
//!    far.
//!
//! A last row checks every row's orders at once through the order listing, and runs the
//! auditor a final time.

use std::{
    collections::BTreeMap,
    fmt::Display,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;

use crate::{
    checks,
    client::{CancelOutcome, KeyRecord, Outcome},
    config::ChaosConfig,
    fault::Fault,
    load::{Catalog, Load, LoadPlan, MAX_QUANTITY},
    report::{AuditVerdict, Row, table},
    shop::Shop,
    stack::Stack,
};

/// How long the suite waits between two runs of a failing auditor.
const AUDIT_AGAIN_AFTER: Duration = Duration::from_secs(5);
/// How long injecting a fault typically takes (a kill, its reaping and `scripts/stack.sh up`),
/// for sizing the stock to the run.
const TYPICAL_INJECTION: Duration = Duration::from_secs(8);
/// How many problems of one row are printed (all are counted).
const PROBLEMS_SHOWN: usize = 20;

/// Prints progress lines stamped with the time since the suite started.
struct Clock(Instant);

impl Clock {
    fn say(&self, msg: impl Display) {
        println!("[{:>6.1}s] {msg}", self.0.elapsed().as_secs_f64());
    }
}

/// What a row needs besides its fault.
struct Bench {
    config: ChaosConfig,
    stack: Stack,
    shop: Arc<Shop>,
    catalog: Arc<Catalog>,
    clock: Clock,
}

/// Runs the whole suite against the stack `scripts/stack.sh env` describes (run from `root`).
/// `Ok(true)` when every row passed; the table is printed either way.
pub async fn run(config: ChaosConfig, root: &Path) -> anyhow::Result<bool> {
    let clock = Clock(Instant::now());
    let stack = Stack::discover(root).await?;
    let shop = Arc::new(Shop::new(
        stack.gateway()?,
        stack.var("ADMIN_TOKEN")?,
        config.attempt_timeout,
    )?);
    clock.say(format!(
        "stack {} at {}: {} careful clients, {} orders/s, retry budget {:?}, faults: {}",
        stack.name(),
        stack.gateway()?,
        config.clients,
        config.rate,
        config.retry_budget,
        config
            .faults
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    clock.say("Postgres is the machine's shared server: it is never restarted; only the stack's connections to it are terminated.");

    // The units the load will ask for: the baseline's seconds, then every fault row's (its
    // injection and restore included), at the full rate.
    let seconds = config.before.as_secs_f64()
        + config.faults.len() as f64
            * (config.before + TYPICAL_INJECTION + config.after).as_secs_f64();
    let mean_quantity = (1 + MAX_QUANTITY) as f64 / 2.0;
    let expected_units = (config.rate * seconds * mean_quantity) as u64;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let catalog = Arc::new(Catalog::plan(&run_id, config.items, expected_units));
    catalog
        .create(&shop, config.retry_budget)
        .await
        .context("cannot create the catalog through the gateway")?;
    clock.say(format!(
        "catalog: {} items chaos-{run_id}-*, {} units in all ({} to {} each), priced",
        catalog.items.len(),
        catalog.total_stock(),
        catalog.items.iter().map(|i| i.stock).min().unwrap_or(0),
        catalog.items.iter().map(|i| i.stock).max().unwrap_or(0),
    ));

    let bench = Bench {
        config,
        stack,
        shop,
        catalog,
        clock,
    };
    let mut all: Vec<KeyRecord> = Vec::new();
    let mut rows = vec![bench.row(None, &mut all).await?];
    for fault in bench.config.faults.clone() {
        rows.push(bench.row(Some(fault), &mut all).await?);
    }
    rows.push(bench.final_row(&all).await);

    println!();
    println!("{}", table(&rows));
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.label.as_str())
        .collect();
    println!();
    if failed.is_empty() {
        bench
            .clock
            .say(format!("every row passed ({} orders)", all.len()));
    } else {
        bench.clock.say(format!(
            "FAILED rows: {} (details above the table)",
            failed.join("; ")
        ));
    }
    Ok(failed.is_empty())
}

impl Bench {
    fn plan(&self) -> LoadPlan {
        LoadPlan {
            clients: self.config.clients,
            rate: self.config.rate,
            retry_budget: self.config.retry_budget,
            cancel_share: self.config.cancel_share,
        }
    }

    /// One row: the baseline (`None`) or a fault.
    async fn row(&self, fault: Option<Fault>, all: &mut Vec<KeyRecord>) -> anyhow::Result<Row> {
        let label = fault.map_or_else(|| "no fault (baseline)".to_owned(), Fault::label);
        println!();
        self.clock.say(format!("== {label}"));
        let mut problems = Vec::new();

        let load = Load::start(self.shop.clone(), self.catalog.clone(), self.plan());
        tokio::time::sleep(self.config.before).await;
        if let Some(fault) = fault {
            self.clock.say(format!("inject: {label}"));
            match fault.inject(&self.stack).await {
                Ok(notes) => notes.iter().for_each(|n| self.clock.say(n)),
                Err(e) => {
                    self.clock
                        .say(format!("the fault could not be injected or undone: {e:#}"));
                    problems.push(format!("injecting the fault failed: {e:#}"));
                }
            }
            tokio::time::sleep(self.config.after).await;
        }
        self.clock
            .say("load stops; every client finishes its retries");
        let records = load.finish().await?;
        self.summarize(&records);

        self.wait_for_rest(&label).await;
        let audit = self.audit().await;

        problems.extend(checks::answers(&records));
        problems.extend(checks::orders(&self.shop, self.config.retry_budget, &records).await);
        all.extend(records.iter().cloned());
        problems.extend(checks::no_oversell(&self.catalog, all));
        self.show(&problems);
        Ok(Row::new(label, &records, problems, audit))
    }

    /// The last row: every order of every row through the listing, and the auditor once more.
    async fn final_row(&self, all: &[KeyRecord]) -> Row {
        let label = "all rows, at rest".to_owned();
        println!();
        self.clock.say(format!("== {label}"));
        self.wait_for_rest(&label).await;
        let audit = self.audit().await;
        let fresh: Vec<String> =
            checks::listing(&self.shop, self.config.retry_budget, &self.catalog, all)
                .await
                .into_iter()
                .chain(checks::no_oversell(&self.catalog, all))
                .collect();
        self.show(&fresh);
        let earlier = checks::answers(all);
        if !earlier.is_empty() {
            self.clock.say(format!(
                "plus {} answer problems reported in the rows above",
                earlier.len()
            ));
        }
        Row::new(
            label,
            all,
            earlier.into_iter().chain(fresh).collect(),
            audit,
        )
    }

    fn summarize(&self, records: &[KeyRecord]) {
        let count = |f: fn(&KeyRecord) -> bool| records.iter().filter(|r| f(r)).count();
        self.clock.say(format!(
            "{} orders: {} confirmed, {} short of stock, {} refused, {} unanswered; {} retried; {} cancels ({} done)",
            records.len(),
            count(|r| matches!(r.outcome, Outcome::Confirmed(_))),
            count(|r| matches!(r.outcome, Outcome::Rejected(_))),
            count(|r| matches!(r.outcome, Outcome::Refused(_))),
            count(|r| matches!(r.outcome, Outcome::Unanswered(_))),
            count(KeyRecord::retried),
            count(|r| r.cancel.is_some()),
            count(|r| r.cancel.as_ref().is_some_and(|c| c.outcome == CancelOutcome::Cancelled)),
        ));
        // What the retried attempts met: the fault as the clients felt it.
        let mut met: BTreeMap<&str, usize> = BTreeMap::new();
        for r in records.iter().filter(|r| r.retried()) {
            for answer in &r.answers[..r.answers.len() - 1] {
                *met.entry(answer.as_str()).or_default() += 1;
            }
        }
        if !met.is_empty() {
            let mut met: Vec<_> = met.into_iter().collect();
            met.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
            self.clock.say(format!(
                "retried attempts met: {}",
                met.iter()
                    .map(|(answer, n)| format!("{answer} ×{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }

    /// Waits until the stack is at rest, so the auditor sees a settled state.
    async fn wait_for_rest(&self, label: &str) {
        let (took, quiet) = self
            .stack
            .wait_for_quiet(self.shop.http(), self.config.quiet_within)
            .await;
        match quiet {
            Ok(()) => self.clock.say(format!(
                "at rest after {:.1} s (queues and outboxes empty)",
                took.as_secs_f64()
            )),
            Err(backlog) => self.clock.say(format!(
                "{label}: still not at rest after {:.0} s ({backlog}); auditing anyway",
                took.as_secs_f64()
            )),
        }
    }

    /// Runs the auditor, printing its output, and again while it fails (for up to
    /// `CHAOS_AUDIT_WITHIN`): what the design lets settle in a bounded time can settle.
    async fn audit(&self) -> AuditVerdict {
        let started = Instant::now();
        let mut runs = 0;
        loop {
            runs += 1;
            let run = self.stack.audit().await;
            let code = run
                .code
                .map_or_else(|| "not run".to_owned(), |c| format!("exit {c}"));
            self.clock.say(format!("auditor run {runs}: {code}"));
            for line in run.output.lines() {
                println!("           | {line}");
            }
            if run.code == Some(0) {
                return AuditVerdict::Passed { runs };
            }
            if run.code.is_none()
                || started.elapsed() + AUDIT_AGAIN_AFTER > self.config.audit_within
            {
                return AuditVerdict::Failed {
                    code: run.code,
                    runs,
                };
            }
            tokio::time::sleep(AUDIT_AGAIN_AFTER).await;
        }
    }

    fn show(&self, problems: &[String]) {
        if problems.is_empty() {
            self.clock.say("client checks: ok");
            return;
        }
        self.clock
            .say(format!("client checks: {} problems", problems.len()));
        for p in problems.iter().take(PROBLEMS_SHOWN) {
            println!("           - {p}");
        }
        if problems.len() > PROBLEMS_SHOWN {
            println!(
                "           - … and {} more",
                problems.len() - PROBLEMS_SHOWN
            );
        }
    }
}
