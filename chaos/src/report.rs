//! The table: one row per fault (and the baseline and the final, cumulative row), with what
//! the clients saw, the client-view checks and the auditor's verdict.
//!
//! | column | meaning |
//! |---|---|
//! | orders | keys whose first attempt started during the row's load |
//! | 201 | keys finally answered 201 (confirmed) |
//! | 409 stock | keys finally answered 409 `insufficient-stock` (rejected, never oversold) |
//! | retried | keys that needed more than one attempt |
//! | longest | the longest time from a key's first attempt to its final answer |
//! | unanswered | keys still without a final answer when their retry budget ran out |
//! | client checks | `ok`, or how many problems [`crate::checks`] found (listed above the table) |
//! | audit | the auditor's verdict at rest: `ok`, `ok (run n)` when it held only on a later run, or `FAIL (exit n)` |

use std::time::Duration;

use crate::client::{KeyRecord, Outcome};

/// How the auditor ended for a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerdict {
    /// Exit 0 on run `runs` (1: the first run).
    Passed {
        /// The run that passed.
        runs: usize,
    },
    /// The last of `runs` runs exited with `code` (`None`: it could not be run).
    Failed {
        /// Its exit code.
        code: Option<i32>,
        /// How many runs.
        runs: usize,
    },
}

impl std::fmt::Display for AuditVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Passed { runs: 1 } => f.write_str("ok"),
            Self::Passed { runs } => write!(f, "ok (run {runs})"),
            Self::Failed { code: Some(c), .. } => write!(f, "FAIL (exit {c})"),
            Self::Failed { code: None, .. } => f.write_str("FAIL (not run)"),
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was injected.
    pub label: String,
    /// Keys placed.
    pub orders: usize,
    /// Keys answered 201.
    pub confirmed: usize,
    /// Keys answered 409 `insufficient-stock`.
    pub rejected: usize,
    /// Keys that needed more than one attempt.
    pub retried: usize,
    /// The longest time to a final answer (or to giving up).
    pub longest: Duration,
    /// Keys without a final answer.
    pub unanswered: usize,
    /// Problems the client-view checks found.
    pub problems: Vec<String>,
    /// The auditor's verdict.
    pub audit: AuditVerdict,
}

impl Row {
    /// The counts of `records`, with the checks' problems and the auditor's verdict.
    pub fn new(
        label: String,
        records: &[KeyRecord],
        problems: Vec<String>,
        audit: AuditVerdict,
    ) -> Self {
        let count = |f: fn(&Outcome) -> bool| records.iter().filter(|r| f(&r.outcome)).count();
        Self {
            label,
            orders: records.len(),
            confirmed: count(|o| matches!(o, Outcome::Confirmed(_))),
            rejected: count(|o| matches!(o, Outcome::Rejected(_))),
            retried: records.iter().filter(|r| r.retried()).count(),
            longest: records.iter().map(|r| r.took).max().unwrap_or_default(),
            unanswered: count(|o| matches!(o, Outcome::Unanswered(_))),
            problems,
            audit,
        }
    }

    /// Every check held and the auditor passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && matches!(self.audit, AuditVerdict::Passed { .. })
    }

    fn checks(&self) -> String {
        match self.problems.len() {
            0 => "ok".to_owned(),
            1 => "FAIL (1 problem)".to_owned(),
            n => format!("FAIL ({n} problems)"),
        }
    }
}

/// The table, as fixed-width text.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "fault",
        "orders",
        "201",
        "409 stock",
        "retried",
        "longest",
        "unanswered",
        "client checks",
        "audit",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.label.clone(),
                r.orders.to_string(),
                r.confirmed.to_string(),
                r.rejected.to_string(),
                r.retried.to_string(),
                format!("{:.1} s", r.longest.as_secs_f64()),
                r.unanswered.to_string(),
                r.checks(),
                r.audit.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        row.iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| {
                // The label and the verdicts read left to right; the counts line up right.
                if i == 0 || i >= 7 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(&header.map(str::to_owned));
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-|-"),
    );
    for row in &cells {
        out.push('\n');
        out.push_str(&line(row));
    }
    out
}
