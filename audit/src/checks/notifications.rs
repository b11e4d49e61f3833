//! Notifications exactly once, from the notification log (one row per recipient per event):
//!
//! - `order_confirmed`: every order ever confirmed (status confirmed or cancelled) is notified,
//!   under exactly one event id, and no other order is;
//! - `order_cancelled`: likewise for the cancelled orders;
//! - every kind: no (event, recipient) pair twice, and every event has as many rows as most
//!   events have (one per recipient).
//!
//! `low_stock` and `price_changed` have no source of truth to count them against, so for them
//! only the last rule is checked. Orders are named by the subjects the notifier writes
//! (`Order <uuid> confirmed`, `Order <uuid> cancelled`).

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;

use super::counted;
use crate::{
    report::{Discrepancy, Observation},
    sources::{ConfirmedOrder, NotifiedEvent, SourceError, Sources},
};

/// The alert kinds that stand for an order's confirmation and cancellation.
const ORDER_CONFIRMED: &str = "order_confirmed";
const ORDER_CANCELLED: &str = "order_cancelled";

/// Reads both sides and compares.
pub async fn run(sources: &Sources) -> Result<Observation, SourceError> {
    let orders = sources.ever_confirmed().await?;
    let events = sources.notified_events().await?;
    Ok(compare(&orders, &events))
}

/// The order an order alert's subject names (`Order <uuid> …`).
fn order_of(subject: &str) -> Option<Uuid> {
    subject
        .strip_prefix("Order ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// Compares the log with the orders.
pub fn compare(orders: &[ConfirmedOrder], events: &[NotifiedEvent]) -> Observation {
    let mut discrepancies = Vec::new();
    let confirmed: HashSet<Uuid> = orders.iter().map(|o| o.id).collect();
    let cancelled: HashSet<Uuid> = orders
        .iter()
        .filter(|o| o.cancelled)
        .map(|o| o.id)
        .collect();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for e in events {
        *per_kind.entry(e.kind.as_str()).or_default() += 1;
    }
    for (kind, expected, what) in [
        (ORDER_CONFIRMED, &confirmed, "confirmed"),
        (ORDER_CANCELLED, &cancelled, "cancelled"),
    ] {
        discrepancies.extend(order_alerts(kind, expected, what, events));
    }
    discrepancies.extend(recipients(events));
    let usual = usual_rows(events);
    let figures = format!(
        "{} of {} orders confirmed and {} of {} cancelled notified; {} in all ({}), {} per event",
        distinct_orders(ORDER_CONFIRMED, events),
        confirmed.len(),
        distinct_orders(ORDER_CANCELLED, events),
        cancelled.len(),
        counted(i64::try_from(events.len()).unwrap_or(i64::MAX), "event"),
        per_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        usual.map_or_else(|| "no rows".to_owned(), |n| counted(n, "row")),
    );
    Observation {
        figures,
        discrepancies,
        warnings: Vec::new(),
    }
}

fn distinct_orders(kind: &str, events: &[NotifiedEvent]) -> usize {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .filter_map(|e| order_of(&e.subject))
        .collect::<HashSet<_>>()
        .len()
}

/// One alert of `kind` per order of `expected`, and none for other orders.
fn order_alerts(
    kind: &str,
    expected: &HashSet<Uuid>,
    what: &str,
    events: &[NotifiedEvent],
) -> Vec<Discrepancy> {
    let mut found = Vec::new();
    let mut by_order: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for e in events.iter().filter(|e| e.kind == kind) {
        match order_of(&e.subject) {
            Some(order) => by_order.entry(order).or_default().push(e.event_id),
            None => found.push(Discrepancy::new(
                e.event_id.to_string(),
                format!(
                    "{kind} event {}: its subject {:?} names no order",
                    e.event_id, e.subject
                ),
            )),
        }
    }
    let mut missing: Vec<&Uuid> = expected
        .iter()
        .filter(|o| !by_order.contains_key(o))
        .collect();
    missing.sort();
    found.extend(missing.into_iter().map(|o| {
        Discrepancy::new(
            format!("{kind} {o}"),
            format!("order {o} was {what} but never notified ({kind})"),
        )
    }));
    let mut notified: Vec<_> = by_order.into_iter().collect();
    notified.sort();
    for (order, event_ids) in notified {
        if !expected.contains(&order) {
            found.push(Discrepancy::new(
                format!("{kind} {order}"),
                format!(
                    "order {order} was notified ({kind}), but the orders table has no {what} \
                     order {order}"
                ),
            ));
        } else if event_ids.len() > 1 {
            found.push(Discrepancy::new(
                format!("{kind} {order}"),
                format!(
                    "order {order} was notified {} times ({kind}), under events {}",
                    event_ids.len(),
                    event_ids
                        .iter()
                        .map(Uuid::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    found
}

/// The number of rows most events have (one per recipient); `None` when there are no events.
fn usual_rows(events: &[NotifiedEvent]) -> Option<i64> {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for e in events {
        *counts.entry(e.rows).or_default() += 1;
    }
    // The most common; on a tie, the larger (a recipient missing is likelier than one extra).
    counts
        .into_iter()
        .max_by_key(|&(rows, n)| (n, rows))
        .map(|(rows, _)| rows)
}

/// No recipient twice for one event, and every event with the usual number of rows.
fn recipients(events: &[NotifiedEvent]) -> Vec<Discrepancy> {
    let usual = usual_rows(events);
    let mut found = Vec::new();
    for e in events {
        let id = e.event_id;
        if e.rows > e.recipients {
            found.push(Discrepancy::new(
                format!("rows {id}"),
                format!(
                    "{} event {id}: {} rows for {} recipients, so a recipient was notified twice",
                    e.kind, e.rows, e.recipients
                ),
            ));
        } else if usual.is_some_and(|n| n != e.rows) {
            found.push(Discrepancy::new(
                format!("rows {id}"),
                format!(
                    "{} event {id}: {}, but most events have {} (one per recipient)",
                    e.kind,
                    counted(e.rows, "row"),
                    usual.unwrap_or_default()
                ),
            ));
        }
    }
    found.sort_by(|a, b| a.subject.cmp(&b.subject));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, order: Option<Uuid>, rows: i64, recipients: i64) -> NotifiedEvent {
        let subject = match (kind, order) {
            (ORDER_CONFIRMED, Some(o)) => format!("Order {o} confirmed"),
            (ORDER_CANCELLED, Some(o)) => format!("Order {o} cancelled"),
            _ => "Low stock: widget".to_owned(),
        };
        NotifiedEvent {
            kind: kind.to_owned(),
            event_id: Uuid::now_v7(),
            subject,
            rows,
            recipients,
        }
    }

    fn order(cancelled: bool) -> ConfirmedOrder {
        ConfirmedOrder {
            id: Uuid::now_v7(),
            cancelled,
        }
    }

    #[test]
    fn one_alert_per_order_and_recipient_holds() {
        let (kept, dropped) = (order(false), order(true));
        let events = [
            event(ORDER_CONFIRMED, Some(kept.id), 2, 2),
            event(ORDER_CONFIRMED, Some(dropped.id), 2, 2),
            event(ORDER_CANCELLED, Some(dropped.id), 2, 2),
            event("low_stock", None, 2, 2),
        ];
        let seen = compare(&[kept, dropped], &events);
        assert!(seen.discrepancies.is_empty(), "{seen:?}");
        assert!(
            seen.figures.starts_with(
                "2 of 2 orders confirmed and 1 of 1 cancelled notified; 4 events in all"
            ),
            "{}",
            seen.figures
        );
    }

    #[test]
    fn doubled_missing_unknown_and_uneven_alerts_are_named() {
        let (twice, never, cancelled) = (order(false), order(false), order(true));
        let stranger = Uuid::now_v7();
        let events = [
            event(ORDER_CONFIRMED, Some(twice.id), 2, 2),
            event(ORDER_CONFIRMED, Some(twice.id), 2, 2),
            event(ORDER_CONFIRMED, Some(cancelled.id), 2, 2),
            event(ORDER_CONFIRMED, Some(stranger), 2, 2),
            event(ORDER_CANCELLED, Some(cancelled.id), 3, 2),
            event("price_changed", None, 1, 1),
        ];
        let seen = compare(&[twice, never, cancelled], &events);
        let text: Vec<_> = seen
            .discrepancies
            .iter()
            .map(|d| d.detail.as_str())
            .collect();
        assert_eq!(text.len(), 5, "{text:#?}");
        assert!(text.iter().any(|t| t.contains(&format!(
            "order {} was confirmed but never notified",
            never.id
        ))));
        assert!(
            text.iter()
                .any(|t| t.contains(&format!("order {} was notified 2 times", twice.id)))
        );
        assert!(
            text.iter()
                .any(|t| t.contains(&format!("order {stranger} was notified")))
        );
        assert!(text.iter().any(|t| t.contains("3 rows for 2 recipients")));
        assert!(
            text.iter()
                .any(|t| t.contains("1 row, but most events have 2"))
        );
    }
}
