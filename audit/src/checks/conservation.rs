//! Conservation, per item in Redis: stock + held + sold = provisioned, no counter negative, and
//! `held` = the sum of the item's live holds (records in state `held`). The Lua scripts keep
//! all three in one atomic step, so any difference is a bug or a hand edit, never in-flight
//! work; the two reads (counters, then holds) are not atomic together, though, so a
//! reservation between them shows for one attempt only.

use inventory_svc::store::StoredLedger;

use super::{Scope, counted};
use crate::{
    report::{Discrepancy, Observation},
    sources::{SourceError, Sources},
};

/// Reads the items of `scope` and compares.
pub async fn run(sources: &Sources, scope: &Scope) -> Result<Observation, SourceError> {
    let ids = match scope {
        Scope::Everything => sources.item_ids().await?,
        Scope::Items(ids) => ids.clone(),
    };
    let ledgers = sources.ledgers(&ids).await?;
    let live = sources.live_held(&ids).await?;
    Ok(compare(&ids, &ledgers, &live))
}

/// The verdict on each item that exists (an index entry whose item is gone is skipped: see
/// inventory's store, which removes it from the index after the item).
pub fn compare(ids: &[String], ledgers: &[Option<StoredLedger>], live: &[u64]) -> Observation {
    let mut totals = StoredLedger {
        stock: 0,
        held: 0,
        sold: 0,
        provisioned: 0,
    };
    let mut items = 0;
    let mut discrepancies = Vec::new();
    for ((id, ledger), &live) in ids.iter().zip(ledgers).zip(live) {
        let Some(l) = ledger else { continue };
        items += 1;
        totals.stock += l.stock;
        totals.held += l.held;
        totals.sold += l.sold;
        totals.provisioned += l.provisioned;
        let mut wrong = Vec::new();
        let negative: Vec<String> = [
            ("stock", l.stock),
            ("held", l.held),
            ("sold", l.sold),
            ("provisioned", l.provisioned),
        ]
        .iter()
        .filter(|(_, v)| *v < 0)
        .map(|(name, v)| format!("{name} {v}"))
        .collect();
        if !negative.is_empty() {
            wrong.push(format!("negative {}", negative.join(", ")));
        }
        let sum = l.stock + l.held + l.sold;
        if sum != l.provisioned {
            wrong.push(format!(
                "stock {} + held {} + sold {} = {sum}, but provisioned is {}",
                l.stock, l.held, l.sold, l.provisioned
            ));
        }
        if i64::try_from(live).ok() != Some(l.held) {
            wrong.push(format!(
                "held is {} but its live holds add up to {live}",
                l.held
            ));
        }
        if !wrong.is_empty() {
            discrepancies.push(Discrepancy::new(
                id.clone(),
                format!("item {id}: {}", wrong.join("; ")),
            ));
        }
    }
    Observation {
        figures: format!(
            "{}: stock {} + held {} + sold {} = provisioned {}",
            counted(items, "item"),
            totals.stock,
            totals.held,
            totals.sold,
            totals.provisioned
        ),
        discrepancies,
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(stock: i64, held: i64, sold: i64, provisioned: i64) -> Option<StoredLedger> {
        Some(StoredLedger {
            stock,
            held,
            sold,
            provisioned,
        })
    }

    #[test]
    fn balanced_items_hold_and_gone_ones_are_skipped() {
        let ids = ["a", "b", "gone"].map(String::from);
        let seen = compare(
            &ids,
            &[ledger(5, 2, 3, 10), ledger(0, 0, 4, 4), None],
            &[2, 0, 0],
        );
        assert!(seen.discrepancies.is_empty(), "{seen:?}");
        assert_eq!(
            seen.figures,
            "2 items: stock 5 + held 2 + sold 7 = provisioned 14"
        );
    }

    #[test]
    fn each_broken_rule_is_named() {
        let ids = ["sum", "neg", "holds"].map(String::from);
        let seen = compare(
            &ids,
            &[
                ledger(5, 0, 3, 10),
                ledger(-1, 0, 1, 0),
                ledger(4, 3, 3, 10),
            ],
            &[0, 0, 2],
        );
        let details: Vec<_> = seen.discrepancies.iter().map(|d| &d.detail).collect();
        assert_eq!(details.len(), 3, "{details:?}");
        assert!(
            details[0].contains("= 8, but provisioned is 10"),
            "{details:?}"
        );
        assert!(details[1].contains("negative stock -1"), "{details:?}");
        assert!(
            details[2].contains("held is 3 but its live holds add up to 2"),
            "{details:?}"
        );
        assert_eq!(seen.discrepancies[1].subject, "neg");
    }
}
