//! Every SQL statement of analytics-consumer: the writes that apply a batch of events (inside
//! the caller's transaction, which also records the events' ids) and the reads behind the reports and
//! the gauges.

use chrono::NaiveDate;
use deadpool_postgres::{Pool, Transaction};
use platform::postgres::DbError;
use std::collections::BTreeMap;

use crate::{
    aggregates::{Changes, ItemFigures},
    domain::{DayReport, LowItem},
};

/// Writes the added-up effect of a batch: one statement per table, rows in key order, each
/// prepared once per pooled connection.
pub async fn write(tx: &Transaction<'_>, changes: &Changes) -> anyhow::Result<()> {
    if !changes.orders.is_empty() {
        let (mut days, mut confirmed, mut rejected, mut cancelled) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (day, c) in &changes.orders {
            days.push(*day);
            confirmed.push(c.confirmed);
            rejected.push(c.rejected);
            cancelled.push(c.cancelled);
        }
        tx.execute(
            &tx.prepare_cached("INSERT INTO daily_orders (day, confirmed, rejected, cancelled) \
             SELECT * FROM unnest($1::date[], $2::bigint[], $3::bigint[], $4::bigint[]) \
             ON CONFLICT (day) DO UPDATE SET confirmed = daily_orders.confirmed + EXCLUDED.confirmed, \
             rejected = daily_orders.rejected + EXCLUDED.rejected, \
             cancelled = daily_orders.cancelled + EXCLUDED.cancelled").await?,
            &[&days, &confirmed, &rejected, &cancelled],
        )
        .await?;
    }
    if !changes.revenue.is_empty() {
        let (mut days, mut currencies, mut cents) = (Vec::new(), Vec::new(), Vec::new());
        for ((day, currency), c) in &changes.revenue {
            days.push(*day);
            currencies.push(currency.as_str());
            cents.push(*c);
        }
        tx.execute(
            &tx.prepare_cached("INSERT INTO daily_revenue (day, currency, cents) \
             SELECT * FROM unnest($1::date[], $2::text[], $3::bigint[]) \
             ON CONFLICT (day, currency) DO UPDATE SET cents = daily_revenue.cents + EXCLUDED.cents").await?,
            &[&days, &currencies, &cents],
        )
        .await?;
    }
    let removed: Vec<&str> = changes
        .items
        .iter()
        .filter(|(_, c)| c.removed)
        .map(|(id, _)| id.as_str())
        .collect();
    if !removed.is_empty() {
        tx.execute(
            &tx.prepare_cached("DELETE FROM items WHERE item_id = ANY($1)")
                .await?,
            &[&removed],
        )
        .await?;
    }
    let set: Vec<(&String, &ItemFigures)> = changes
        .items
        .iter()
        .filter_map(|(id, c)| c.figures.as_ref().map(|f| (id, f)))
        .collect();
    if !set.is_empty() {
        let ids: Vec<&str> = set.iter().map(|(id, _)| id.as_str()).collect();
        let names: Vec<&str> = set.iter().map(|(_, f)| f.name.as_str()).collect();
        let stocks: Vec<i64> = set.iter().map(|(_, f)| f.stock).collect();
        let thresholds: Vec<i64> = set.iter().map(|(_, f)| f.threshold).collect();
        let versions: Vec<i64> = set.iter().map(|(_, f)| f.version).collect();
        // An older event never overwrites a newer one.
        tx.execute(
            &tx.prepare_cached("INSERT INTO items (item_id, name, stock, threshold, version) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) \
             ON CONFLICT (item_id) DO UPDATE SET name = EXCLUDED.name, stock = EXCLUDED.stock, \
             threshold = EXCLUDED.threshold, version = EXCLUDED.version \
             WHERE items.version < EXCLUDED.version").await?,
            &[&ids, &names, &stocks, &thresholds, &versions],
        )
        .await?;
    }
    if !changes.prices.is_empty() {
        let ids: Vec<&str> = changes.prices.keys().map(String::as_str).collect();
        let cents: Vec<i64> = changes.prices.values().map(|p| p.price_cents).collect();
        let currencies: Vec<&str> = changes
            .prices
            .values()
            .map(|p| p.currency.as_str())
            .collect();
        let versions: Vec<i64> = changes.prices.values().map(|p| p.version).collect();
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO prices (item_id, price_cents, currency, version) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) \
             ON CONFLICT (item_id) DO UPDATE SET price_cents = EXCLUDED.price_cents, \
             currency = EXCLUDED.currency, version = EXCLUDED.version \
             WHERE prices.version < EXCLUDED.version",
            )
            .await?,
            &[&ids, &cents, &currencies, &versions],
        )
        .await?;
    }
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
