//! The invariants, one module each: read through [`Sources`], compare in a pure function (unit
//! tested without any server), answer an [`Observation`].
//!
//! # Layout
//!
//! - [`conservation`]: per item in Redis, stock + held + sold = provisioned, none negative, and
//!   held = the item's live holds.
//! - [`sold`]: per item, Redis `sold` = the units of its confirmed orders in Postgres.
//! - [`pending`]: no order's stock pending longer than allowed.
//! - [`outboxes`]: no outbox event older than allowed (order-svc, pricing-svc, inventory).
//! - [`queues`]: what waits in the consumers' queues; dead letters are a warning.
//! - [`analytics`]: the daily aggregates = the orders table, per UTC day.
//! - [`notifications`]: every confirmed and cancelled order notified exactly once.

pub mod analytics;
pub mod conservation;
pub mod notifications;
pub mod outboxes;
pub mod pending;
pub mod queues;
pub mod sold;

use crate::{
    config::Limits,
    report::Observation,
    sources::{SourceError, Sources},
};

/// What a run of a check looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything the check covers.
    Everything,
    /// Only these items (a per-item check re-run on the items that failed).
    Items(Vec<String>),
}

/// One invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// See [`conservation`].
    Conservation,
    /// See [`sold`].
    SoldMatchesOrders,
    /// See [`pending`].
    PendingOrders,
    /// See [`outboxes`].
    Outboxes,
    /// See [`queues`].
    Queues,
    /// See [`analytics`].
    Analytics,
    /// See [`notifications`].
    Notifications,
}

impl Check {
    /// Every check, in the order they run and are printed.
    pub const ALL: [Self; 7] = [
        Self::Conservation,
        Self::SoldMatchesOrders,
        Self::PendingOrders,
        Self::Outboxes,
        Self::Queues,
        Self::Analytics,
        Self::Notifications,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Conservation => "conservation",
            Self::SoldMatchesOrders => "sold = orders",
            Self::PendingOrders => "pending orders",
            Self::Outboxes => "outboxes",
            Self::Queues => "queues",
            Self::Analytics => "analytics",
            Self::Notifications => "notifications",
        }
    }

    /// Whether its discrepancies are per item, so a re-run need only look at those items.
    pub fn per_item(self) -> bool {
        matches!(self, Self::Conservation | Self::SoldMatchesOrders)
    }

    /// Whether a discrepancy's figures stand still while nothing moves, so figures that change
    /// between attempts mean work in flight. Not so for ages (a stuck order or outbox event
    /// only gets older).
    pub fn figures_settle(self) -> bool {
        !matches!(self, Self::PendingOrders | Self::Outboxes)
    }

    /// Runs it once.
    pub async fn run(
        self,
        sources: &Sources,
        limits: &Limits,
        scope: &Scope,
    ) -> Result<Observation, SourceError> {
        match self {
            Self::Conservation => conservation::run(sources, scope).await,
            Self::SoldMatchesOrders => sold::run(sources, scope).await,
            Self::PendingOrders => pending::run(sources, limits).await,
            Self::Outboxes => outboxes::run(sources, limits).await,
            Self::Queues => queues::run(sources).await,
            Self::Analytics => analytics::run(sources).await,
            Self::Notifications => notifications::run(sources).await,
        }
    }
}

/// `n` of `noun`, in the plural unless one: `1 item`, `3 items`.
pub(crate) fn counted(n: impl Into<i64>, noun: &str) -> String {
    let n = n.into();
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Seconds, for the figures: one decimal.
pub(crate) fn secs(s: f64) -> String {
    format!("{s:.1}s")
}
