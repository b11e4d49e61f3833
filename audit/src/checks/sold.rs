//! Sold = orders, per item: Redis `sold` = the units of the item's orders whose status is
//! `confirmed` in Postgres. At rest every confirmed order's units are sold and every cancelled
//! one's are back on sale; in between, an order row leads its Redis step by a moment (written
//! confirmed, then its hold confirmed; cancelled, then its units returned), which the
//! re-attempts wait out. An item with confirmed orders that is not in Redis fails too: its sold
//! units cannot be reconciled (an admin removed it, or its keys were lost): that is a warning,
//! since nothing in Redis tells the two apart.

use std::collections::{BTreeSet, HashMap};

use inventory_svc::store::StoredLedger;

use super::{Scope, counted};
use crate::{
    report::{Discrepancy, Observation},
    sources::{SourceError, Sources},
};

/// Reads both sides for the items of `scope` and compares.
pub async fn run(sources: &Sources, scope: &Scope) -> Result<Observation, SourceError> {
    let (ids, units) = match scope {
        Scope::Everything => {
            let units = sources.confirmed_units(None).await?;
            // Items in the catalog, and items that only the orders know.
            let ids: BTreeSet<String> = sources
                .item_ids()
                .await?
                .into_iter()
                .chain(units.keys().cloned())
                .collect();
            (ids.into_iter().collect::<Vec<_>>(), units)
        }
        Scope::Items(ids) => (ids.clone(), sources.confirmed_units(Some(ids)).await?),
    };
    let ledgers = sources.ledgers(&ids).await?;
    Ok(compare(&ids, &ledgers, &units))
}

/// The verdict on each of `ids`, given its Redis ledger (`None`: not in Redis) and the units of
/// its confirmed orders.
pub fn compare(
    ids: &[String],
    ledgers: &[Option<StoredLedger>],
    units: &HashMap<String, i64>,
) -> Observation {
    let (mut items, mut sold, mut ordered) = (0, 0, 0);
    let mut discrepancies = Vec::new();
    let mut warnings = Vec::new();
    for (id, ledger) in ids.iter().zip(ledgers) {
        let confirmed = units.get(id).copied().unwrap_or(0);
        ordered += confirmed;
        match ledger {
            Some(l) => {
                items += 1;
                sold += l.sold;
                if l.sold != confirmed {
                    discrepancies.push(Discrepancy::new(
                        id.clone(),
                        format!(
                            "item {id}: Redis sold {} but its confirmed orders hold {confirmed} units",
                            l.sold
                        ),
                    ));
                }
            }
            // DELETE /items removes an item's counters with it, so its sales can no longer be
            // reconciled; nothing in Redis tells a removal from lost keys. A warning, not a
            // failure: failing would fail every audit after an admin removed a sold item.
            None if confirmed != 0 => warnings.push(format!(
                "item {id}: confirmed orders hold {confirmed} units, but the item is not in \
                 Redis (removed by an admin, or its keys were lost): its sales cannot be \
                 reconciled"
            )),
            None => {}
        }
    }
    Observation {
        figures: format!(
            "{}: {sold} units sold in Redis, {ordered} in confirmed orders",
            counted(items, "item")
        ),
        discrepancies,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sold(n: i64) -> Option<StoredLedger> {
        Some(StoredLedger {
            stock: 0,
            held: 0,
            sold: n,
            provisioned: n,
        })
    }

    #[test]
    fn sold_must_match_confirmed_units_and_missing_items_with_orders_are_warned_about() {
        let ids = ["same", "off", "unsold", "deleted", "stale-index"].map(String::from);
        let units: HashMap<String, i64> = [("same", 3), ("off", 2), ("deleted", 4)]
            .map(|(k, v)| (k.to_owned(), v))
            .into();
        let seen = compare(&ids, &[sold(3), sold(1), sold(0), None, None], &units);
        let subjects: Vec<_> = seen.discrepancies.iter().map(|d| &d.subject).collect();
        assert_eq!(subjects, ["off"]);
        assert!(seen.discrepancies[0].detail.contains("Redis sold 1"));
        assert_eq!(seen.warnings.len(), 1);
        assert!(seen.warnings[0].contains("item deleted: confirmed orders hold 4 units"));
        assert_eq!(
            seen.figures,
            "3 items: 4 units sold in Redis, 9 in confirmed orders"
        );
    }
}
