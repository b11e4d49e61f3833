//! Applying one event to the aggregates, exactly once: the event id is recorded in the same
//! transaction as the effect.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Pool;
use platform::{
    consumer::{Applied, first_delivery},
    event::EventEnvelope,
    postgres::DbError,
};
use serde_json::Value;

fn text<'a>(data: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    data[field]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("event data lacks the text field {field:?}"))
}

fn int(data: &Value, field: &str) -> anyhow::Result<i64> {
    data[field]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("event data lacks the number {field:?}"))
}

fn day_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}

/// Applies `event` (once); events of other types are recorded and ignored.
pub async fn apply(pool: &Pool, event: &EventEnvelope) -> anyhow::Result<Applied> {
    let mut client = pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await.map_err(DbError::from)?;
    if !first_delivery(&tx, event.event_id).await? {
        return Ok(Applied::Duplicate);
    }
    let data = &event.data;
    let day = day_of(event.occurred_at);
    match event.kind.as_str() {
        "order_created" | "order_rejected" | "order_cancelled" => {
            let column = match event.kind.as_str() {
                "order_created" => "confirmed",
                "order_rejected" => "rejected",
                _ => "cancelled",
            };
            tx.execute(
                &format!(
                    "INSERT INTO daily_orders (day, {column}) VALUES ($1, 1) \
                     ON CONFLICT (day) DO UPDATE SET {column} = daily_orders.{column} + 1"
                ),
                &[&day],
            )
            .await?;
            let sign = match event.kind.as_str() {
                "order_created" => 1,
                "order_cancelled" => -1,
                _ => 0,
            };
            if sign != 0 {
                let placed: DateTime<Utc> = serde_json::from_value(data["created_at"].clone())?;
                let cents = sign * int(data, "total_cents")?;
                tx.execute(
                    "INSERT INTO daily_revenue (day, currency, cents) VALUES ($1, $2, $3) \
                     ON CONFLICT (day, currency) DO UPDATE SET cents = daily_revenue.cents + $3",
                    &[&day_of(placed), &text(data, "currency")?, &cents],
                )
                .await?;
            }
        }
        "stock_changed" | "low_stock" => {
            tx.execute(
                "INSERT INTO items (item_id, name, stock, threshold, version) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (item_id) DO UPDATE SET name = $2, stock = $3, threshold = $4, version = $5 \
                 WHERE items.version < $5",
                &[
                    &text(data, "item_id")?,
                    &data["name"].as_str(),
                    &int(data, "stock")?,
                    &int(data, "threshold")?,
                    &int(data, "version")?,
                ],
            )
            .await?;
        }
        "item_removed" => {
            tx.execute(
                "DELETE FROM items WHERE item_id = $1",
                &[&text(data, "item_id")?],
            )
            .await?;
        }
        "price_changed" => {
            tx.execute(
                "INSERT INTO prices (item_id, price_cents, currency, version) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (item_id) DO UPDATE SET price_cents = $2, currency = $3, version = $4 \
                 WHERE prices.version < $4",
                &[
                    &text(data, "item_id")?,
                    &int(&data["new"], "price_cents")?,
                    &text(&data["new"], "currency")?,
                    &int(data, "version")?,
                ],
            )
            .await?;
        }
        _ => {}
    }
    tx.commit().await?;
    Ok(Applied::Done)
}
