//! `PriceStore`: prices, their history and the outbox, in Postgres.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use platform::{
    event::{Event, EventEnvelope, Money, PriceChanged},
    outbox,
    postgres::DbError,
};
use serde::Serialize;
use tokio_postgres::Row;

use crate::domain::{Currency, ItemId, Price, PriceCents};

/// What a price change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceChange {
    /// The item had no price before.
    Created,
    /// The price changed.
    Changed,
    /// The same price was set again: nothing was written, no event.
    Unchanged,
}

/// One entry of an item's price history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PriceHistoryEntry {
    /// Minor units.
    pub price_cents: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// The price's version.
    pub version: u64,
    /// When it took effect.
    pub changed_at: DateTime<Utc>,
}

/// Prices in Postgres.
pub struct PriceStore {
    pool: Pool,
}

fn price_from_row(row: &Row) -> Price {
    Price {
        item_id: row.get("item_id"),
        price_cents: row.get::<_, i64>("price_cents").unsigned_abs(),
        currency: row.get("currency"),
        version: row.get::<_, i64>("version").unsigned_abs(),
        updated_at: row.get("updated_at"),
    }
}

impl PriceStore {
    /// A store over `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// The pool, for readiness checks.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// One item's current price.
    pub async fn get(&self, id: &ItemId) -> Result<Option<Price>, DbError> {
        let client = self.pool.get().await?;
        // Prepared once per pooled connection: every order quotes a price.
        let statement = client
            .prepare_cached(
                "SELECT item_id, price_cents, currency, version, updated_at FROM prices WHERE item_id = $1",
            )
            .await?;
        let row = client.query_opt(&statement, &[&id.as_str()]).await?;
        Ok(row.as_ref().map(price_from_row))
    }

    /// Up to `limit` prices with item ids after `after`, in id order, and whether more follow.
    pub async fn list(
        &self,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<(Vec<Price>, bool), DbError> {
        let client = self.pool.get().await?;
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT item_id, price_cents, currency, version, updated_at FROM prices \
                 WHERE $1::text IS NULL OR item_id > $1 ORDER BY item_id LIMIT $2",
                &[&after.map(ItemId::as_str), &fetch],
            )
            .await?;
        let more = rows.len() > limit;
        Ok((rows.iter().take(limit).map(price_from_row).collect(), more))
    }

    /// An item's past prices, newest first.
    pub async fn history(
        &self,
        id: &ItemId,
        limit: usize,
    ) -> Result<Vec<PriceHistoryEntry>, DbError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT price_cents, currency, version, changed_at FROM price_history \
                 WHERE item_id = $1 ORDER BY id DESC LIMIT $2",
                &[&id.as_str(), &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| PriceHistoryEntry {
                price_cents: r.get::<_, i64>(0).unsigned_abs(),
                currency: r.get(1),
                version: r.get::<_, i64>(2).unsigned_abs(),
                changed_at: r.get(3),
            })
            .collect())
    }

    /// Sets an item's price. The new price, its history entry and the `price_changed` event
    /// (old and new price) are written in one transaction; setting the same price again writes
    /// nothing.
    pub async fn set(
        &self,
        id: &ItemId,
        cents: PriceCents,
        currency: &Currency,
    ) -> Result<(Price, PriceChange), DbError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Serialises changes of one item (including its first price, when there is no row yet
        // to lock), so versions and the old price in the event are exact.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&id.as_str()],
        )
        .await?;
        let old = tx
            .query_opt(
                "SELECT item_id, price_cents, currency, version, updated_at FROM prices WHERE item_id = $1",
                &[&id.as_str()],
            )
            .await?
            .as_ref()
            .map(price_from_row);
        if let Some(old) = &old
            && old.price_cents == cents.get()
            && old.currency == currency.as_str()
        {
            return Ok((old.clone(), PriceChange::Unchanged));
        }
        let now = platform::event::now_micros();
        let version = old.as_ref().map_or(1, |o| o.version + 1);
        let (cents_db, version_db) = (cents.get() as i64, version as i64);
        tx.execute(
            "INSERT INTO prices (item_id, price_cents, currency, version, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (item_id) DO UPDATE SET price_cents = $2, currency = $3, version = $4, updated_at = $5",
            &[&id.as_str(), &cents_db, &currency.as_str(), &version_db, &now],
        )
        .await?;
        tx.execute(
            "INSERT INTO price_history (item_id, price_cents, currency, version, changed_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &id.as_str(),
                &cents_db,
                &currency.as_str(),
                &version_db,
                &now,
            ],
        )
        .await?;
        let event = Event::PriceChanged(PriceChanged {
            item_id: id.clone(),
            old: old.as_ref().map(|o| Money {
                price_cents: o.price_cents,
                currency: o.currency.clone(),
            }),
            new: Money {
                price_cents: cents.get(),
                currency: currency.as_str().to_owned(),
            },
            version,
        });
        let event = EventEnvelope::new(&event, crate::SERVICE, now);
        outbox::enqueue(&tx, &event).await?;
        tx.commit().await?;
        let price = Price {
            item_id: id.to_string(),
            price_cents: cents.get(),
            currency: currency.as_str().to_owned(),
            version,
            updated_at: now,
        };
        let change = if old.is_some() {
            PriceChange::Changed
        } else {
            PriceChange::Created
        };
        Ok((price, change))
    }
}
