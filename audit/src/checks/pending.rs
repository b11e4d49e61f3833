//! No order stuck between Postgres and Redis: an order whose stock is `pending_confirm` or
//! `pending_return` is finished by order-svc's stock sync (every second, after a 2 s grace), so
//! one still pending after `AUDIT_PENDING_AFTER` means the sync is not getting through.

use super::secs;
use crate::{
    config::Limits,
    report::{Discrepancy, Observation},
    sources::{PendingOrders, SourceError, Sources},
};

/// Reads the pending orders and judges them.
pub async fn run(sources: &Sources, limits: &Limits) -> Result<Observation, SourceError> {
    let pending = sources.pending_orders(limits.pending_after).await?;
    Ok(judge(&pending, limits))
}

/// The stuck orders are the discrepancies.
pub fn judge(pending: &PendingOrders, limits: &Limits) -> Observation {
    let mut discrepancies: Vec<Discrepancy> = pending
        .listed
        .iter()
        .map(|o| {
            Discrepancy::new(
                o.id.to_string(),
                format!("order {}: stock {} for {}", o.id, o.stock, secs(o.age_secs)),
            )
        })
        .collect();
    let unlisted = pending.stuck - i64::try_from(pending.listed.len()).unwrap_or(i64::MAX);
    if unlisted > 0 {
        discrepancies.push(Discrepancy::new(
            "unlisted",
            format!("{unlisted} more stuck orders not listed"),
        ));
    }
    Observation {
        figures: format!(
            "{} pending now (oldest {}), {} pending longer than {}",
            pending.pending,
            secs(pending.oldest_secs),
            pending.stuck,
            humantime::format_duration(limits.pending_after)
        ),
        discrepancies,
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::sources::StuckOrder;

    #[test]
    fn stuck_orders_are_named_and_young_ones_are_not() {
        let limits = Limits::default();
        let calm = PendingOrders {
            pending: 2,
            oldest_secs: 1.5,
            stuck: 0,
            listed: Vec::new(),
        };
        let seen = judge(&calm, &limits);
        assert!(seen.discrepancies.is_empty());
        assert_eq!(
            seen.figures,
            "2 pending now (oldest 1.5s), 0 pending longer than 10s"
        );
        let id = Uuid::now_v7();
        let stuck = PendingOrders {
            pending: 3,
            oldest_secs: 42.0,
            stuck: 1,
            listed: vec![StuckOrder {
                id,
                stock: "pending_confirm".to_owned(),
                age_secs: 42.0,
            }],
        };
        let seen = judge(&stuck, &limits);
        assert_eq!(seen.discrepancies.len(), 1);
        assert_eq!(
            seen.discrepancies[0].detail,
            format!("order {id}: stock pending_confirm for 42.0s")
        );
    }
}
