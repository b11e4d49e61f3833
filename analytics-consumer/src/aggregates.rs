//! Applying one event to the aggregates, exactly once: the event id is recorded in the same
//! transaction as the effect. The statements are [`crate::store`]'s.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Pool;
use platform::{
    consumer::{Applied, first_delivery},
    event::{DecodeError, Event, EventEnvelope, LowStock, StockChanged},
    postgres::DbError,
};

use crate::store::{self, OrderCount};

fn day_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}

fn int(n: u64) -> anyhow::Result<i64> {
    Ok(i64::try_from(n)?)
}

/// Applies `envelope` (once); events of types SIOMS does not publish are recorded and ignored.
pub async fn apply(pool: &Pool, envelope: &EventEnvelope) -> anyhow::Result<Applied> {
    let event = match envelope.decode() {
        Ok(event) => Some(event),
        Err(DecodeError::UnknownKind(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let mut client = pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await.map_err(DbError::from)?;
    if !first_delivery(&tx, envelope.event_id).await? {
        return Ok(Applied::Duplicate);
    }
    let day = day_of(envelope.occurred_at);
    match &event {
        Some(Event::OrderCreated(o) | Event::OrderRejected(o) | Event::OrderCancelled(o)) => {
            let (count, sign) = match event {
                Some(Event::OrderCreated(_)) => (OrderCount::Confirmed, 1),
                Some(Event::OrderRejected(_)) => (OrderCount::Rejected, 0),
                _ => (OrderCount::Cancelled, -1),
            };
            store::count_order(&tx, day, count).await?;
            if sign != 0 {
                // Revenue counts on the day the order was placed.
                let cents = sign * int(o.total_cents)?;
                store::add_revenue(&tx, day_of(o.created_at), &o.currency, cents).await?;
            }
        }
        Some(
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
            }),
        ) => {
            store::upsert_item(&tx, item_id.as_str(), name, *stock, *threshold, *version).await?;
        }
        Some(Event::ItemRemoved(e)) => {
            store::delete_item(&tx, e.item_id.as_str()).await?;
        }
        Some(Event::PriceChanged(e)) => {
            store::upsert_price(
                &tx,
                e.item_id.as_str(),
                e.new.price_cents,
                &e.new.currency,
                e.version,
            )
            .await?;
        }
        None => {}
    }
    tx.commit().await?;
    Ok(Applied::Done)
}
