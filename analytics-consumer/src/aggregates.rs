//! Applying one event to the aggregates, exactly once: the event id is recorded in the same
//! transaction as the effect.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Pool;
use platform::{
    consumer::{Applied, first_delivery},
    event::{DecodeError, Event, EventEnvelope},
    postgres::DbError,
};

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
            let (column, sign) = match event {
                Some(Event::OrderCreated(_)) => ("confirmed", 1),
                Some(Event::OrderRejected(_)) => ("rejected", 0),
                _ => ("cancelled", -1),
            };
            tx.execute(
                &format!(
                    "INSERT INTO daily_orders (day, {column}) VALUES ($1, 1) \
                     ON CONFLICT (day) DO UPDATE SET {column} = daily_orders.{column} + 1"
                ),
                &[&day],
            )
            .await?;
            if sign != 0 {
                // Revenue counts on the day the order was placed.
                let cents = sign * int(o.total_cents)?;
                tx.execute(
                    "INSERT INTO daily_revenue (day, currency, cents) VALUES ($1, $2, $3) \
                     ON CONFLICT (day, currency) DO UPDATE SET cents = daily_revenue.cents + $3",
                    &[&day_of(o.created_at), &o.currency, &cents],
                )
                .await?;
            }
        }
        Some(Event::StockChanged(e)) => {
            upsert_item(
                &tx,
                e.item_id.as_str(),
                &e.name,
                e.stock,
                e.threshold,
                e.version,
            )
            .await?;
        }
        Some(Event::LowStock(e)) => {
            upsert_item(
                &tx,
                e.item_id.as_str(),
                &e.name,
                e.stock,
                e.threshold,
                e.version,
            )
            .await?;
        }
        Some(Event::ItemRemoved(e)) => {
            tx.execute(
                "DELETE FROM items WHERE item_id = $1",
                &[&e.item_id.as_str()],
            )
            .await?;
        }
        Some(Event::PriceChanged(e)) => {
            tx.execute(
                "INSERT INTO prices (item_id, price_cents, currency, version) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (item_id) DO UPDATE SET price_cents = $2, currency = $3, version = $4 \
                 WHERE prices.version < $4",
                &[
                    &e.item_id.as_str(),
                    &int(e.new.price_cents)?,
                    &e.new.currency,
                    &int(e.version)?,
                ],
            )
            .await?;
        }
        None => {}
    }
    tx.commit().await?;
    Ok(Applied::Done)
}

/// Keeps the newest stock figures of an item (an older event never overwrites a newer one).
async fn upsert_item(
    tx: &deadpool_postgres::Transaction<'_>,
    item_id: &str,
    name: &str,
    stock: u64,
    threshold: u64,
    version: u64,
) -> anyhow::Result<()> {
    tx.execute(
        "INSERT INTO items (item_id, name, stock, threshold, version) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (item_id) DO UPDATE SET name = $2, stock = $3, threshold = $4, version = $5 \
         WHERE items.version < $5",
        &[
            &item_id,
            &name,
            &int(stock)?,
            &int(threshold)?,
            &int(version)?,
        ],
    )
    .await?;
    Ok(())
}
