//! Applying a batch of events to the aggregates, each exactly once: the events' ids are recorded
//! in the same transaction as their effect. The batch's effect is first added up in memory
//! ([`Changes`]: one counter row per day, one revenue row per day and currency, the newest
//! figures per item and price), then written with one statement per table
//! ([`crate::store::write`]), so a batch costs the same handful of statements and one commit
//! whatever its size.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Pool;
use platform::{
    consumer::{Applied, first_deliveries},
    event::{Event, EventEnvelope, LowStock, StockChanged},
    postgres::DbError,
};

use crate::store;

fn day_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}

fn int(n: u64) -> anyhow::Result<i64> {
    Ok(i64::try_from(n)?)
}

/// The order counters a batch adds to one day.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OrderCounts {
    /// Orders confirmed.
    pub confirmed: i64,
    /// Orders rejected.
    pub rejected: i64,
    /// Orders cancelled.
    pub cancelled: i64,
}

/// An item's figures from a `stock_changed` or `low_stock` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFigures {
    /// Its display name.
    pub name: String,
    /// Units available.
    pub stock: i64,
    /// Its low-stock threshold.
    pub threshold: i64,
    /// The item's version: a row is only replaced by a newer one.
    pub version: i64,
}

/// What a batch does to one item: forgotten first (an `item_removed` in the batch), then set to
/// the newest figures that came after it, if any. Equal to applying its events one by one,
/// because keeping the newest version is order-independent between two removals.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ItemChange {
    /// An `item_removed` came in the batch: the row is deleted before `figures` are written.
    pub removed: bool,
    /// The newest figures after the last removal.
    pub figures: Option<ItemFigures>,
}

/// An item's price from a `price_changed` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceFigures {
    /// In minor units.
    pub price_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// The price's version: a row is only replaced by a newer one.
    pub version: i64,
}

/// The effect of a batch of events, added up; keyed in sorted order, so concurrent batches lock
/// rows in the same order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Counters to add, per day.
    pub orders: BTreeMap<NaiveDate, OrderCounts>,
    /// Revenue to add (negative to take back), per day and currency.
    pub revenue: BTreeMap<(NaiveDate, String), i64>,
    /// What happens to each item.
    pub items: BTreeMap<String, ItemChange>,
    /// The newest price of each item.
    pub prices: BTreeMap<String, PriceFigures>,
}

/// Keeps `new` unless `current` is at least as new: between two events of the same version the
/// first one stays, as the database keeps the row it has.
fn newest<T>(current: &mut Option<T>, new: T, version: impl Fn(&T) -> i64) {
    if current.as_ref().is_none_or(|c| version(c) < version(&new)) {
        *current = Some(new);
    }
}

impl Changes {
    /// Adds one event, which happened at `occurred_at`.
    pub fn add(&mut self, occurred_at: DateTime<Utc>, event: &Event) -> anyhow::Result<()> {
        let day = day_of(occurred_at);
        match event {
            Event::OrderCreated(o) | Event::OrderRejected(o) | Event::OrderCancelled(o) => {
                let counts = self.orders.entry(day).or_default();
                let sign = match event {
                    Event::OrderCreated(_) => {
                        counts.confirmed += 1;
                        1
                    }
                    Event::OrderRejected(_) => {
                        counts.rejected += 1;
                        0
                    }
                    _ => {
                        counts.cancelled += 1;
                        -1
                    }
                };
                if sign != 0 {
                    // Revenue counts on the day the order was placed.
                    *self
                        .revenue
                        .entry((day_of(o.created_at), o.currency.clone()))
                        .or_default() += sign * int(o.total_cents)?;
                }
            }
            Event::StockChanged(StockChanged {
                item_id,
                name,
                stock,
                threshold,
                version,
                ..
            })
            | Event::LowStock(LowStock {
                item_id,
                name,
                stock,
                threshold,
                version,
            }) => {
                let figures = ItemFigures {
                    name: name.clone(),
                    stock: int(*stock)?,
                    threshold: int(*threshold)?,
                    version: int(*version)?,
                };
                let change = self.items.entry(item_id.to_string()).or_default();
                newest(&mut change.figures, figures, |f| f.version);
            }
            Event::ItemRemoved(e) => {
                let change = self.items.entry(e.item_id.to_string()).or_default();
                change.removed = true;
                change.figures = None;
            }
            Event::PriceChanged(e) => {
                let figures = PriceFigures {
                    price_cents: int(e.new.price_cents)?,
                    currency: e.new.currency.clone(),
                    version: int(e.version)?,
                };
                let mut current = self.prices.remove(e.item_id.as_str());
                newest(&mut current, figures, |p| p.version);
                if let Some(price) = current {
                    self.prices.insert(e.item_id.to_string(), price);
                }
            }
        }
        Ok(())
    }
}

/// Applies a batch of events in one transaction, each once; events of types SIOMS does not
/// publish are recorded and ignored. A payload that breaks its schema fails the whole batch
/// (the consumer then applies its events one by one, so only that one fails).
pub async fn apply(pool: &Pool, envelopes: &[EventEnvelope]) -> anyhow::Result<Vec<Applied>> {
    let events = envelopes
        .iter()
        .map(EventEnvelope::decode_known)
        .collect::<Result<Vec<_>, _>>()?;
    let mut client = pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await.map_err(DbError::from)?;
    let ids: Vec<_> = envelopes.iter().map(|e| e.event_id).collect();
    let first = first_deliveries(&tx, &ids).await?;
    let mut changes = Changes::default();
    for ((envelope, event), first) in envelopes.iter().zip(&events).zip(&first) {
        if let (true, Some(event)) = (first, event) {
            changes.add(envelope.occurred_at, event)?;
        }
    }
    store::write(&tx, &changes).await?;
    tx.commit().await?;
    Ok(Applied::of_batch(first))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone as _;
    use platform::{
        contract::ItemId,
        event::{EventKind, ItemRemoved, Money, PriceChanged, StockChangeReason},
    };
    use serde_json::json;

    fn at(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, 12, 0, 0).unwrap()
    }

    fn stock(item: &str, stock: u64, version: u64) -> Event {
        Event::StockChanged(StockChanged {
            item_id: ItemId::parse(item).unwrap(),
            name: format!("{item} v{version}"),
            reason: StockChangeReason::Reserved,
            delta: -1,
            stock,
            reserved: 0,
            threshold: 5,
            version,
            changes: 1,
        })
    }

    fn removed(item: &str) -> Event {
        Event::ItemRemoved(ItemRemoved {
            item_id: ItemId::parse(item).unwrap(),
            name: item.into(),
            stock: 0,
            reserved: 0,
        })
    }

    fn order(kind: &str, created: u32, total: u64) -> Event {
        Event::from_parts(
            EventKind::parse(kind).unwrap(),
            &json!({"order_id": uuid::Uuid::now_v7(), "item_id": "w", "quantity": 1,
                "status": match kind { "order_created" => "confirmed", "order_rejected" => "rejected", _ => "cancelled" },
                "unit_price_cents": total, "total_cents": total, "currency": "EUR", "created_at": at(created)}),
        )
        .unwrap()
    }

    fn changes(events: &[(u32, Event)]) -> Changes {
        let mut changes = Changes::default();
        for (d, e) in events {
            changes.add(at(*d), e).unwrap();
        }
        changes
    }

    #[test]
    fn orders_add_up_per_day_and_revenue_per_day_of_placing() {
        let c = changes(&[
            (3, order("order_created", 3, 100)),
            (3, order("order_created", 3, 250)),
            (3, order("order_rejected", 3, 999)),
            (4, order("order_cancelled", 3, 100)),
        ]);
        assert_eq!(
            c.orders[&at(3).date_naive()],
            OrderCounts {
                confirmed: 2,
                rejected: 1,
                cancelled: 0
            }
        );
        assert_eq!(c.orders[&at(4).date_naive()].cancelled, 1);
        assert_eq!(c.revenue.len(), 1, "{:?}", c.revenue);
        assert_eq!(c.revenue[&(at(3).date_naive(), "EUR".to_owned())], 250);
    }

    #[test]
    fn the_newest_figures_of_an_item_win_whatever_the_order() {
        let c = changes(&[
            (1, stock("w", 7, 3)),
            (1, stock("w", 9, 5)),
            (1, stock("w", 8, 4)),
        ]);
        let figures = c.items["w"].figures.clone().unwrap();
        assert_eq!((figures.stock, figures.version), (9, 5));
        assert!(!c.items["w"].removed);
        // Two events of the same version: the first stays, as the row in the database would.
        let c = changes(&[(1, stock("w", 1, 5)), (1, stock("w", 2, 5))]);
        assert_eq!(c.items["w"].figures.as_ref().unwrap().stock, 1);
    }

    #[test]
    fn a_removal_forgets_what_came_before_it_but_not_what_came_after() {
        let c = changes(&[(1, stock("w", 7, 9)), (1, removed("w"))]);
        assert_eq!(
            c.items["w"],
            ItemChange {
                removed: true,
                figures: None
            }
        );
        // Re-created after the removal with a lower version: kept, as one by one would.
        let c = changes(&[
            (1, stock("w", 7, 9)),
            (1, removed("w")),
            (1, stock("w", 3, 1)),
        ]);
        assert!(c.items["w"].removed);
        assert_eq!(c.items["w"].figures.as_ref().unwrap().version, 1);
    }

    #[test]
    fn the_newest_price_wins() {
        let price = |cents, version| {
            Event::PriceChanged(PriceChanged {
                item_id: ItemId::parse("w").unwrap(),
                old: None,
                new: Money {
                    price_cents: cents,
                    currency: "EUR".into(),
                },
                version,
            })
        };
        let c = changes(&[(1, price(300, 3)), (1, price(100, 1)), (1, price(200, 2))]);
        assert_eq!((c.prices["w"].price_cents, c.prices["w"].version), (300, 3));
    }
}
