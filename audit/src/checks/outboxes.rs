//! No event stuck in an outbox: order-svc's and pricing-svc's outbox tables and inventory's
//! outbox streams in Redis. Their relays publish within a second while the broker is up, so an
//! event older than `AUDIT_OUTBOX_MAX_AGE` means a relay is not getting through; a backlog that
//! is young is only work in flight, and is printed.

use inventory_svc::store::OutboxBacklog;

use super::{counted, secs};
use crate::{
    config::Limits,
    report::{Discrepancy, Observation},
    sources::{SourceError, Sources, TableBacklog},
};

/// Reads the three outboxes and judges them.
pub async fn run(sources: &Sources, limits: &Limits) -> Result<Observation, SourceError> {
    let orders = sources.orders_outbox().await?;
    let pricing = sources.pricing_outbox().await?;
    let inventory = sources.inventory_outbox().await?;
    Ok(judge(orders, pricing, inventory, limits))
}

/// An outbox whose oldest event is older than the limit is a discrepancy.
pub fn judge(
    orders: TableBacklog,
    pricing: TableBacklog,
    inventory: OutboxBacklog,
    limits: &Limits,
) -> Observation {
    let inventory = TableBacklog {
        rows: i64::try_from(inventory.events).unwrap_or(i64::MAX),
        oldest_secs: inventory.oldest_age.as_secs_f64(),
    };
    let max = limits.outbox_max_age.as_secs_f64();
    let outboxes = [
        ("order-svc", "row", orders),
        ("pricing-svc", "row", pricing),
        ("inventory-svc", "event", inventory),
    ];
    let discrepancies = outboxes
        .iter()
        .filter(|(_, _, b)| b.rows > 0 && b.oldest_secs > max)
        .map(|(name, unit, b)| {
            Discrepancy::new(
                *name,
                format!(
                    "{name} outbox: the oldest of {} has waited {} (limit {})",
                    counted(b.rows, unit),
                    secs(b.oldest_secs),
                    humantime::format_duration(limits.outbox_max_age)
                ),
            )
        })
        .collect();
    let figures = outboxes
        .iter()
        .map(|(name, unit, b)| {
            if b.rows == 0 {
                format!("{name} {}", counted(0, unit))
            } else {
                format!(
                    "{name} {} (oldest {})",
                    counted(b.rows, unit),
                    secs(b.oldest_secs)
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    Observation {
        figures,
        discrepancies,
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_an_old_backlog_fails() {
        let limits = Limits::default();
        let young = TableBacklog {
            rows: 3,
            oldest_secs: 0.4,
        };
        let old = TableBacklog {
            rows: 1,
            oldest_secs: 95.0,
        };
        let none = OutboxBacklog::default();
        let seen = judge(young, TableBacklog::default(), none, &limits);
        assert!(seen.discrepancies.is_empty());
        assert_eq!(
            seen.figures,
            "order-svc 3 rows (oldest 0.4s), pricing-svc 0 rows, inventory-svc 0 events"
        );
        let stuck_stream = OutboxBacklog {
            events: 2,
            oldest_age: Duration::from_secs(40),
        };
        let seen = judge(young, old, stuck_stream, &limits);
        let subjects: Vec<_> = seen.discrepancies.iter().map(|d| &d.subject).collect();
        assert_eq!(subjects, ["pricing-svc", "inventory-svc"]);
        assert!(
            seen.discrepancies[0]
                .detail
                .contains("has waited 95.0s (limit 30s)"),
            "{seen:?}"
        );
    }
}
