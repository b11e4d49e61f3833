//! What a check saw, what the audit concluded, and how both are printed.
//!
//! Each check is one line — its name, its figures, and its verdict in brackets — followed by an
//! indented line per discrepancy (at most [`LISTED`]) and per warning. The last line sums up.
//! The exit code is 0 when every check holds, 1 when any discrepancy persisted, else 2 when a
//! source could not be read.

use std::fmt;

/// Discrepancies listed under a check; the rest are counted.
pub const LISTED: usize = 10;

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    /// What it is about (an item id, an order id, a day, an outbox): a discrepancy about the
    /// same subject on the next attempt is the same discrepancy.
    pub subject: String,
    /// What was found, with the figures on both sides.
    pub detail: String,
}

impl Discrepancy {
    /// A discrepancy about `subject`.
    pub fn new(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            detail: detail.into(),
        }
    }
}

/// What one run of a check saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The figures behind the verdict (items audited, totals, ages).
    pub figures: String,
    /// What does not hold.
    pub discrepancies: Vec<Discrepancy>,
    /// Remarks that are not failures (e.g. dead-lettered messages).
    pub warnings: Vec<String>,
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The invariant held, on the last of `attempts`.
    Holds {
        /// The attempts it took (1: held at once).
        attempts: u32,
    },
    /// Discrepancies were seen on every one of `attempts`.
    Fails {
        /// The attempts made.
        attempts: u32,
        /// Whether their figures changed between attempts (ages aside): work was still
        /// moving, so the system may not have been at rest.
        moving: bool,
    },
    /// The last attempt could not read a source.
    Unreadable {
        /// The attempts made.
        attempts: u32,
        /// Why.
        error: String,
    },
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The check's name.
    pub name: &'static str,
    /// Its figures (from the last full run).
    pub figures: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// The discrepancies seen on every attempt (with the last attempt's figures).
    pub discrepancies: Vec<Discrepancy>,
    /// Warnings of the last run.
    pub warnings: Vec<String>,
}

impl Entry {
    /// Whether the check holds.
    pub fn holds(&self) -> bool {
        matches!(self.verdict, Verdict::Holds { .. })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Holds { attempts: 1 } => f.write_str("ok"),
            Self::Holds { attempts } => write!(f, "ok after {attempts} attempts"),
            Self::Fails { attempts, moving } => {
                match attempts {
                    1 => f.write_str("FAIL")?,
                    n => write!(f, "FAIL on all {n} attempts")?,
                }
                if *moving {
                    f.write_str(
                        "; its figures kept changing, so work may still have been in flight",
                    )?;
                }
                Ok(())
            }
            Self::Unreadable { error, .. } => write!(f, "ERROR: {error}"),
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<14} {} [{}", self.name, self.figures, self.verdict)?;
        for w in &self.warnings {
            write!(f, "; WARNING: {w}")?;
        }
        writeln!(f, "]")?;
        for d in self.discrepancies.iter().take(LISTED) {
            writeln!(f, "    - {}", d.detail)?;
        }
        if self.discrepancies.len() > LISTED {
            writeln!(f, "    - … and {} more", self.discrepancies.len() - LISTED)?;
        }
        Ok(())
    }
}

/// The whole audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One entry per check, in the order they ran.
    pub entries: Vec<Entry>,
}

impl Report {
    /// The entry of the check named `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Fails { .. }))
    }

    /// The checks that could not read a source.
    pub fn unreadable(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Unreadable { .. }))
    }

    /// 0: every invariant holds; 1: a discrepancy persisted (even if a source was also
    /// unreadable: what was found is definite); 2: a source could not be read.
    pub fn exit_code(&self) -> u8 {
        if self.failed().next().is_some() {
            1
        } else if self.unreadable().next().is_some() {
            2
        } else {
            0
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            write!(f, "{e}")?;
        }
        let names = |it: &mut dyn Iterator<Item = &Entry>| {
            it.map(|e| e.name).collect::<Vec<_>>().join(", ")
        };
        let failed = names(&mut self.failed());
        let unreadable = names(&mut self.unreadable());
        match (failed.is_empty(), unreadable.is_empty()) {
            (true, true) => writeln!(f, "audit: all {} checks hold", self.entries.len()),
            (false, true) => writeln!(f, "audit: FAILED: {failed}"),
            (true, false) => writeln!(f, "audit: INCOMPLETE: could not check {unreadable}"),
            (false, false) => writeln!(
                f,
                "audit: FAILED: {failed}; INCOMPLETE: could not check {unreadable}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(verdict: Verdict) -> Entry {
        Entry {
            name: "conservation",
            figures: "1 item".to_owned(),
            verdict,
            discrepancies: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_discrepancy_outranks_an_unreadable_source() {
        let report = Report {
            entries: vec![
                entry(Verdict::Holds { attempts: 2 }),
                entry(Verdict::Unreadable {
                    attempts: 5,
                    error: "cannot read Redis: refused".to_owned(),
                }),
            ],
        };
        assert_eq!(report.exit_code(), 2);
        let mut failing = entry(Verdict::Fails {
            attempts: 5,
            moving: false,
        });
        failing.discrepancies = (0..12)
            .map(|i| Discrepancy::new(format!("i{i}"), format!("item i{i} is off")))
            .collect();
        let report = Report {
            entries: vec![report.entries[1].clone(), failing],
        };
        assert_eq!(report.exit_code(), 1);
        let text = report.to_string();
        assert!(text.contains("[FAIL on all 5 attempts]"), "{text}");
        assert!(text.contains("item i9 is off"), "{text}");
        assert!(!text.contains("item i10 is off"), "{text}");
        assert!(text.contains("… and 2 more"), "{text}");
    }

    #[test]
    fn a_holding_check_says_how_many_attempts_it_took() {
        assert_eq!(Verdict::Holds { attempts: 1 }.to_string(), "ok");
        assert_eq!(
            Verdict::Holds { attempts: 3 }.to_string(),
            "ok after 3 attempts"
        );
    }
}
