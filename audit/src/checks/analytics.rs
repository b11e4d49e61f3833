//! Analytics = the orders table, per UTC day, counted the way analytics-consumer counts events
//! (see its `aggregates.rs`):
//!
//! - confirmed: orders with status confirmed or cancelled (`order_created`), by created day;
//! - rejected: orders with status rejected (`order_rejected`), by created day;
//! - cancelled: orders with status cancelled (`order_cancelled`), by the day of the
//!   cancellation (`updated_at`, which nothing changes afterwards);
//! - revenue per (created day, currency): the totals of the orders still confirmed (a
//!   cancellation takes its total off the day the order was placed).
//!
//! Events reach analytics through an outbox and a queue, so this check needs a moment of quiet;
//! the re-attempts give it that. A day or (day, currency) missing on one side counts as zero.

use std::collections::{BTreeMap, BTreeSet};

use super::counted;
use crate::{
    report::{Discrepancy, Observation},
    sources::{Daily, DayCounts, SourceError, Sources},
};

/// Reads both sides and compares.
pub async fn run(sources: &Sources) -> Result<Observation, SourceError> {
    let orders = sources.daily_from_orders().await?;
    let analytics = sources.daily_from_analytics().await?;
    Ok(compare(&orders, &analytics))
}

/// Each day (and each day's revenue per currency) that differs is a discrepancy.
pub fn compare(orders: &Daily, analytics: &Daily) -> Observation {
    let mut discrepancies = Vec::new();
    let days: BTreeSet<_> = orders.days.keys().chain(analytics.days.keys()).collect();
    for day in &days {
        let want = orders.days.get(day).copied().unwrap_or_default();
        let got = analytics.days.get(day).copied().unwrap_or_default();
        if want != got {
            let show = |c: DayCounts| {
                format!(
                    "confirmed {}, rejected {}, cancelled {}",
                    c.confirmed, c.rejected, c.cancelled
                )
            };
            discrepancies.push(Discrepancy::new(
                format!("orders {day}"),
                format!(
                    "{day}: analytics has {}, the orders table {}",
                    show(got),
                    show(want)
                ),
            ));
        }
    }
    let pairs: BTreeSet<_> = orders
        .revenue
        .keys()
        .chain(analytics.revenue.keys())
        .collect();
    for pair @ (day, currency) in pairs {
        let want = orders.revenue.get(pair).copied().unwrap_or(0);
        let got = analytics.revenue.get(pair).copied().unwrap_or(0);
        if want != got {
            discrepancies.push(Discrepancy::new(
                format!("revenue {day} {currency}"),
                format!(
                    "{day} revenue in {currency}: analytics has {got}, the confirmed orders \
                     placed that day total {want} (minor units)"
                ),
            ));
        }
    }
    let total = orders
        .days
        .values()
        .fold(DayCounts::default(), |t, c| DayCounts {
            confirmed: t.confirmed + c.confirmed,
            rejected: t.rejected + c.rejected,
            cancelled: t.cancelled + c.cancelled,
        });
    let mut revenue: BTreeMap<&str, i64> = BTreeMap::new();
    for ((_, currency), cents) in &orders.revenue {
        *revenue.entry(currency).or_default() += cents;
    }
    let revenue = if revenue.is_empty() {
        "none".to_owned()
    } else {
        revenue
            .iter()
            .map(|(c, v)| format!("{v} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Observation {
        figures: format!(
            "{}: confirmed {}, rejected {}, cancelled {}; revenue {revenue}",
            counted(i64::try_from(days.len()).unwrap_or(i64::MAX), "day"),
            total.confirmed,
            total.rejected,
            total.cancelled
        ),
        discrepancies,
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, d).unwrap_or_default()
    }

    fn counts(confirmed: i64, rejected: i64, cancelled: i64) -> DayCounts {
        DayCounts {
            confirmed,
            rejected,
            cancelled,
        }
    }

    #[test]
    fn matching_days_hold_and_zero_rows_equal_missing_ones() {
        let orders = Daily {
            days: [(day(1), counts(2, 1, 0)), (day(2), counts(0, 0, 1))].into(),
            revenue: [((day(1), "EUR".to_owned()), 500)].into(),
        };
        let mut analytics = orders.clone();
        analytics.revenue.insert((day(2), "USD".to_owned()), 0);
        analytics.days.insert(day(3), DayCounts::default());
        let seen = compare(&orders, &analytics);
        assert!(seen.discrepancies.is_empty(), "{seen:?}");
        assert_eq!(
            seen.figures,
            "3 days: confirmed 2, rejected 1, cancelled 1; revenue 500 EUR"
        );
    }

    #[test]
    fn an_off_count_and_off_revenue_are_named_by_day() {
        let orders = Daily {
            days: [(day(1), counts(2, 1, 0))].into(),
            revenue: [((day(1), "EUR".to_owned()), 500)].into(),
        };
        let analytics = Daily {
            days: [(day(1), counts(3, 1, 0))].into(),
            revenue: [((day(1), "EUR".to_owned()), 400)].into(),
        };
        let seen = compare(&orders, &analytics);
        let subjects: Vec<_> = seen
            .discrepancies
            .iter()
            .map(|d| d.subject.as_str())
            .collect();
        assert_eq!(subjects, ["orders 2025-03-01", "revenue 2025-03-01 EUR"]);
        assert!(
            seen.discrepancies[0]
                .detail
                .contains("analytics has confirmed 3")
        );
    }
}
