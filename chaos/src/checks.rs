//! The client-view checks: what the careful clients were told must agree with itself and with
//! what the gateway shows afterwards. Each check returns the problems it found (empty: it
//! holds). The auditor ([`crate::stack::Stack::audit`]) checks the inside of the stack; these
//! check what a user would notice.
//!
//! - one order per key: every answer to one `Idempotency-Key` names the same order (or none);
//! - every key has a final answer within its retry budget, and it is an expected one (201 or
//!   409 `insufficient-stock`); every cancel too;
//! - every 201's order is `confirmed` on `GET /orders/{id}` (or `cancelled`, if and only if its
//!   client cancelled it), for the item and quantity asked; every 409's order is `rejected`;
//! - no oversell: per item, the units confirmed and not cancelled are at most those
//!   provisioned;
//! - at the end, over every row: the order listing holds every order a client was told about,
//!   in the state it was told, and no order of the suite's items that no client heard of.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use futures::StreamExt;
use serde_json::Value;
use uuid::Uuid;

use crate::{
    client::{CancelOutcome, KeyRecord, Outcome, persist},
    load::Catalog,
    shop::{Reply, Shop},
};

/// How many `GET /orders/{id}` run at once: the load's concurrency, no more.
const CONCURRENT_READS: usize = 16;

/// What the gateway shows of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    status: String,
    item: String,
    quantity: u64,
}

impl Shown {
    fn from_json(order: &Value) -> Option<Self> {
        Some(Self {
            status: order.get("status")?.as_str()?.to_owned(),
            item: order.get("item_id")?.as_str()?.to_owned(),
            quantity: order.get("quantity")?.as_u64()?,
        })
    }
}

/// The statuses an order may show, given what its client was told and did.
fn expected_statuses(record: &KeyRecord) -> Option<(Uuid, &'static [&'static str])> {
    match (&record.outcome, &record.cancel) {
        (Outcome::Confirmed(id), None) => Some((*id, &["confirmed"])),
        (Outcome::Confirmed(id), Some(c)) if c.outcome == CancelOutcome::Cancelled => {
            Some((*id, &["cancelled"]))
        }
        // The cancel's fate is unknown (already reported): either state is consistent.
        (Outcome::Confirmed(id), Some(_)) => Some((*id, &["confirmed", "cancelled"])),
        (Outcome::Rejected(Some(id)), _) => Some((*id, &["rejected"])),
        _ => None,
    }
}

/// The checks that need only the records: one order per key, final and expected answers.
pub fn answers(records: &[KeyRecord]) -> Vec<String> {
    let mut problems = Vec::new();
    for r in records {
        if r.order_ids.len() > 1 {
            problems.push(format!(
                "key {} was answered with {} different orders: {:?}",
                r.key,
                r.order_ids.len(),
                r.order_ids
            ));
        }
        match &r.outcome {
            Outcome::Unanswered(_) => problems.push(format!(
                "key {} ({} × {}) has no final answer after {} attempts in {:.1} s: {}",
                r.key,
                r.quantity,
                r.item,
                r.answers.len(),
                r.took.as_secs_f64(),
                r.answers.join(", ")
            )),
            Outcome::Refused(what) => problems.push(format!(
                "key {} ({} × {}) was refused: {what} (attempts: {})",
                r.key,
                r.quantity,
                r.item,
                r.answers.join(", ")
            )),
            Outcome::Confirmed(_) | Outcome::Rejected(_) => {}
        }
        if let Some(c) = &r.cancel {
            match &c.outcome {
                CancelOutcome::Cancelled => {}
                CancelOutcome::Refused(what) => problems.push(format!(
                    "the cancel of key {}'s order was refused: {what}",
                    r.key
                )),
                CancelOutcome::Unanswered(last) => problems.push(format!(
                    "the cancel of key {}'s order has no final answer after {} attempts in {:.1} s; last: {last}",
                    r.key,
                    c.attempts,
                    c.took.as_secs_f64()
                )),
            }
        }
    }
    problems
}

/// `GET /orders/{id}` for every order the records name, compared with what its client knows.
pub async fn orders(shop: &Shop, budget: Duration, records: &[KeyRecord]) -> Vec<String> {
    futures::stream::iter(
        records
            .iter()
            .filter_map(|r| expected_statuses(r).map(|(id, statuses)| (r, id, statuses))),
    )
    .map(|(r, id, statuses)| async move {
        let got = persist(budget, || shop.order(id)).await;
        let shown = match got.last() {
            Some(Reply::Answered { status: 200, body }) => Shown::from_json(body),
            Some(other) => {
                return Some(format!(
                    "GET /orders/{id} (key {}) answered {}",
                    r.key,
                    other.describe()
                ));
            }
            None => None,
        };
        compare(r, id, statuses, shown.as_ref())
    })
    .buffer_unordered(CONCURRENT_READS)
    .filter_map(|p| async move { p })
    .collect()
    .await
}

fn compare(r: &KeyRecord, id: Uuid, statuses: &[&str], shown: Option<&Shown>) -> Option<String> {
    let Some(shown) = shown else {
        return Some(format!("order {id} (key {}) is not shown", r.key));
    };
    if !statuses.contains(&shown.status.as_str()) {
        let told = match &r.outcome {
            Outcome::Rejected(_) => "409 insufficient-stock",
            _ if r.cancel.is_some() => "201, then cancelled by its client",
            _ => "201 and never cancelled by its client",
        };
        return Some(format!(
            "order {id} (key {}) is {} but its client was told {told}",
            r.key, shown.status
        ));
    }
    if shown.item != r.item || shown.quantity != r.quantity {
        return Some(format!(
            "order {id} (key {}) is {} × {}, but {} × {} was ordered",
            r.key, shown.quantity, shown.item, r.quantity, r.item
        ));
    }
    None
}

/// No oversell, as the clients know it: per item, units confirmed and not cancelled ≤ stock
/// provisioned.
pub fn no_oversell(catalog: &Catalog, records: &[KeyRecord]) -> Vec<String> {
    let mut held: BTreeMap<&str, u64> = BTreeMap::new();
    for r in records {
        *held.entry(r.item.as_str()).or_default() += r.held_units();
    }
    held.into_iter()
        .filter(|(item, units)| *units > catalog.provisioned(item))
        .map(|(item, units)| {
            format!(
                "item {item}: {units} units confirmed, only {} provisioned",
                catalog.provisioned(item)
            )
        })
        .collect()
}

/// Every row at once, through the order listing (`GET /orders`, all pages): every order a
/// client was told about is there in the state it was told, no order of the suite's items is
/// unknown to every client, and the listing itself sells no more than was provisioned.
pub async fn listing(
    shop: &Shop,
    budget: Duration,
    catalog: &Catalog,
    records: &[KeyRecord],
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut listed: HashMap<Uuid, Shown> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let got = persist(budget, || shop.orders_page(cursor.as_deref())).await;
        let body = match got.last() {
            Some(Reply::Answered { status: 200, body }) => body.clone(),
            Some(other) => {
                problems.push(format!("GET /orders answered {}", other.describe()));
                return problems;
            }
            None => return problems,
        };
        for order in body
            .get("orders")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = order
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok());
            if let (Some(id), Some(shown)) = (id, Shown::from_json(order))
                && catalog.provisioned(&shown.item) > 0
            {
                listed.insert(id, shown);
            }
        }
        match body.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    let mut known = std::collections::HashSet::new();
    for r in records {
        if let Some((id, statuses)) = expected_statuses(r) {
            known.insert(id);
            if let Some(p) = compare(r, id, statuses, listed.get(&id)) {
                problems.push(format!("listing: {p}"));
            }
        }
    }
    let unknown: Vec<_> = listed
        .iter()
        .filter(|(id, _)| !known.contains(*id))
        .collect();
    if !unknown.is_empty() {
        let unanswered = records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Unanswered(_)))
            .count();
        for (id, shown) in unknown.iter().take(5) {
            problems.push(format!(
                "listing: order {id} ({} × {}, {}) was never named to a client{}",
                shown.quantity,
                shown.item,
                shown.status,
                if unanswered > 0 {
                    format!(" ({unanswered} keys are unanswered; it may be one of theirs)")
                } else {
                    String::new()
                }
            ));
        }
        if unknown.len() > 5 {
            problems.push(format!(
                "listing: … and {} more such orders",
                unknown.len() - 5
            ));
        }
    }
    let mut sold: BTreeMap<&str, u64> = BTreeMap::new();
    for shown in listed.values().filter(|s| s.status == "confirmed") {
        *sold.entry(shown.item.as_str()).or_default() += shown.quantity;
    }
    for (item, units) in sold {
        if units > catalog.provisioned(item) {
            problems.push(format!(
                "listing: item {item} has {units} units in confirmed orders, only {} provisioned",
                catalog.provisioned(item)
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::CancelRecord;

    fn record(item: &str, quantity: u64, outcome: Outcome) -> KeyRecord {
        KeyRecord {
            key: Uuid::new_v4(),
            item: item.to_owned(),
            quantity,
            answers: vec!["201".to_owned()],
            order_ids: match &outcome {
                Outcome::Confirmed(id) => [*id].into(),
                _ => Default::default(),
            },
            outcome,
            took: Duration::from_millis(5),
            cancel: None,
        }
    }

    #[test]
    fn a_key_answered_with_two_orders_is_a_problem() {
        let mut r = record("a", 1, Outcome::Confirmed(Uuid::new_v4()));
        assert!(answers(std::slice::from_ref(&r)).is_empty());
        r.order_ids.insert(Uuid::new_v4());
        assert_eq!(answers(&[r]).len(), 1);
    }

    #[test]
    fn unanswered_keys_and_unexpected_refusals_are_problems() {
        let found = answers(&[
            record("a", 1, Outcome::Unanswered("503".into())),
            record("a", 1, Outcome::Refused("422 unpriced-item".into())),
            record("a", 1, Outcome::Rejected(None)),
        ]);
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn selling_more_than_provisioned_is_an_oversell_and_cancelled_units_do_not_count() {
        let catalog = Catalog::plan("t", 1, 5);
        let item = &catalog.items[0].id;
        let mut sold: Vec<KeyRecord> = (0..5)
            .map(|_| record(item, 1, Outcome::Confirmed(Uuid::new_v4())))
            .collect();
        assert!(no_oversell(&catalog, &sold).is_empty());
        sold.push(record(item, 1, Outcome::Confirmed(Uuid::new_v4())));
        assert_eq!(no_oversell(&catalog, &sold).len(), 1);
        sold[0].cancel = Some(CancelRecord {
            attempts: 1,
            outcome: CancelOutcome::Cancelled,
            took: Duration::ZERO,
        });
        assert!(no_oversell(&catalog, &sold).is_empty());
    }
}
