//! Every SQL statement of analytics-consumer: the writes that apply an event (inside the
//! caller's transaction, which also records the event id) and the reads behind the reports and
//! the gauges.

use chrono::NaiveDate;
use deadpool_postgres::{Pool, Transaction};
use platform::postgres::DbError;
use std::collections::BTreeMap;

use crate::domain::{DayReport, LowItem};

/// An order counter of a day, one column of `daily_orders`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderCount {
    /// Orders confirmed.
    Confirmed,
    /// Orders rejected.
    Rejected,
    /// Orders cancelled.
    Cancelled,
}

impl OrderCount {
    /// Its column; a fixed name, never input, so it may be written into the statement.
    fn column(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }
}

fn int(n: u64) -> anyhow::Result<i64> {
    Ok(i64::try_from(n)?)
}

/// Adds one to `count` of `day`.
pub async fn count_order(
    tx: &Transaction<'_>,
    day: NaiveDate,
    count: OrderCount,
) -> anyhow::Result<()> {
    let column = count.column();
    tx.execute(
        &format!(
            "INSERT INTO daily_orders (day, {column}) VALUES ($1, 1) \
             ON CONFLICT (day) DO UPDATE SET {column} = daily_orders.{column} + 1"
        ),
        &[&day],
    )
    .await?;
    Ok(())
}

/// Adds `cents` (negative to take revenue back) to the revenue of `day` in `currency`.
pub async fn add_revenue(
    tx: &Transaction<'_>,
    day: NaiveDate,
    currency: &str,
    cents: i64,
) -> anyhow::Result<()> {
    tx.execute(
        "INSERT INTO daily_revenue (day, currency, cents) VALUES ($1, $2, $3) \
         ON CONFLICT (day, currency) DO UPDATE SET cents = daily_revenue.cents + $3",
        &[&day, &currency, &cents],
    )
    .await?;
    Ok(())
}

/// Keeps the newest stock figures of an item (an older event never overwrites a newer one).
pub async fn upsert_item(
    tx: &Transaction<'_>,
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

/// Forgets an item.
pub async fn delete_item(tx: &Transaction<'_>, item_id: &str) -> anyhow::Result<()> {
    tx.execute("DELETE FROM items WHERE item_id = $1", &[&item_id])
        .await?;
    Ok(())
}

/// Keeps the newest price of an item (an older event never overwrites a newer one).
pub async fn upsert_price(
    tx: &Transaction<'_>,
    item_id: &str,
    price_cents: u64,
    currency: &str,
    version: u64,
) -> anyhow::Result<()> {
    tx.execute(
        "INSERT INTO prices (item_id, price_cents, currency, version) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (item_id) DO UPDATE SET price_cents = $2, currency = $3, version = $4 \
         WHERE prices.version < $4",
        &[&item_id, &int(price_cents)?, &currency, &int(version)?],
    )
    .await?;
    Ok(())
}

/// The order report of every day from `from` to `to` (inclusive), one row per day, oldest
/// first; days without orders count zero.
pub async fn order_report(
    pool: &Pool,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayReport>, DbError> {
    let client = pool.get().await?;
    let counts = client
        .query(
            "SELECT d::date, COALESCE(o.confirmed, 0), COALESCE(o.rejected, 0), COALESCE(o.cancelled, 0) \
             FROM generate_series($1::date, $2::date, interval '1 day') AS d \
             LEFT JOIN daily_orders o ON o.day = d::date ORDER BY d",
            &[&from, &to],
        )
        .await?;
    let revenue = client
        .query(
            "SELECT day, currency, cents FROM daily_revenue WHERE day BETWEEN $1 AND $2",
            &[&from, &to],
        )
        .await?;
    let mut by_day: BTreeMap<NaiveDate, BTreeMap<String, i64>> = BTreeMap::new();
    for r in &revenue {
        by_day
            .entry(r.get(0))
            .or_default()
            .insert(r.get::<_, String>(1), r.get(2));
    }
    Ok(counts
        .iter()
        .map(|r| {
            let date: NaiveDate = r.get(0);
            DayReport {
                date,
                confirmed: r.get(1),
                rejected: r.get(2),
                cancelled: r.get(3),
                revenue: by_day.remove(&date).unwrap_or_default(),
            }
        })
        .collect())
}

/// The items whose last known stock is below their threshold, lowest stock first.
pub async fn low_stock(pool: &Pool) -> Result<Vec<LowItem>, DbError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT item_id, name, stock, threshold FROM items WHERE stock < threshold ORDER BY stock, item_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LowItem {
            item_id: r.get(0),
            name: r.get(1),
            stock: r.get(2),
            threshold: r.get(3),
        })
        .collect())
}

/// How many items are below their threshold now (a partial index keeps this to the low items).
pub async fn items_below_threshold(pool: &Pool) -> Result<i64, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT count(*) FROM items WHERE stock < threshold", &[])
        .await?;
    Ok(row.get(0))
}
