//! Items: create, change, delete, read and list them, and read their ledgers (the item hash and
//! the catalog index; see the key table in [`super`]).

use anyhow::Context as _;
use redis::AsyncCommands as _;

use super::{StockStore, StoreError};
use crate::domain::{Item, ItemId, ItemName, Ledger, StockLevel, Threshold};

/// An item's counters as stored (see [`StockStore::stored_ledgers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLedger {
    /// Units available now.
    pub stock: i64,
    /// Units held by live reservations.
    pub held: i64,
    /// Units sold (confirmed and not cancelled).
    pub sold: i64,
    /// Units ever put in: initial stock plus restocks, minus write-downs.
    pub provisioned: i64,
}

/// A partial change of an item (admin `PUT`).
#[derive(Debug, Default, Clone)]
pub struct ItemPatch {
    /// New name.
    pub name: Option<ItemName>,
    /// New absolute available stock.
    pub stock: Option<StockLevel>,
    /// New threshold.
    pub threshold: Option<Threshold>,
}

impl StockStore {
    /// Adds an item; `false` when one with this id already exists.
    pub async fn create_item(
        &self,
        id: &ItemId,
        name: &ItemName,
        stock: StockLevel,
        threshold: Threshold,
    ) -> Result<bool, StoreError> {
        self.add_to_index(id).await?;
        let reply = self
            .run_item_script(
                &self.scripts.create,
                id,
                &[
                    name.as_str().to_owned(),
                    stock.get().to_string(),
                    threshold.get().to_string(),
                ],
            )
            .await?;
        Ok(reply[0] == "created")
    }

    pub(super) async fn add_to_index(&self, id: &ItemId) -> Result<(), StoreError> {
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            let _: i64 = conn.zadd(self.index_key(), id.as_str(), 0).await?;
            Ok(())
        })
        .await
    }

    /// Applies an admin change; `None` when the item does not exist.
    pub async fn update_item(
        &self,
        id: &ItemId,
        patch: &ItemPatch,
    ) -> Result<Option<Item>, StoreError> {
        let text = |v: Option<u64>| v.map_or_else(String::new, |n| n.to_string());
        let reply = self
            .run_item_script(
                &self.scripts.update,
                id,
                &[
                    patch
                        .name
                        .as_ref()
                        .map_or_else(String::new, |n| n.as_str().to_owned()),
                    text(patch.stock.map(StockLevel::get)),
                    text(patch.threshold.map(Threshold::get)),
                ],
            )
            .await?;
        if reply[0] == "unknown_item" {
            return Ok(None);
        }
        self.get_item(id).await
    }

    /// Removes an item; `false` when it did not exist.
    pub async fn delete_item(&self, id: &ItemId) -> Result<bool, StoreError> {
        let reply = self.run_item_script(&self.scripts.delete, id, &[]).await?;
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            let _: i64 = conn.zrem(self.index_key(), id.as_str()).await?;
            Ok(())
        })
        .await?;
        Ok(reply[0] == "removed")
    }

    /// One item, or `None`.
    pub async fn get_item(&self, id: &ItemId) -> Result<Option<Item>, StoreError> {
        let key = self.keys(id).item;
        let fields: Vec<Option<String>> = self
            .with_timeout(async {
                let mut conn = self.pool.get().await?;
                Ok(redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&["name", "stock", "held", "threshold"])
                    .query_async(&mut conn)
                    .await?)
            })
            .await?;
        Ok(item_from_fields(id.as_str(), &fields))
    }

    /// An item's full ledger, or `None`.
    pub async fn ledger(&self, id: &ItemId) -> Result<Option<Ledger>, StoreError> {
        let key = self.keys(id).item;
        let fields: Vec<Option<i64>> = self
            .with_timeout(async {
                let mut conn = self.pool.get().await?;
                Ok(redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&["stock", "held", "sold", "provisioned", "version"])
                    .query_async(&mut conn)
                    .await?)
            })
            .await?;
        let [
            Some(stock),
            Some(held),
            Some(sold),
            Some(provisioned),
            Some(version),
        ] = fields[..]
        else {
            return Ok(None);
        };
        let unsigned = |v: i64| u64::try_from(v).context("negative ledger value");
        Ok(Some(Ledger {
            item_id: id.to_string(),
            stock: unsigned(stock)?,
            reserved: unsigned(held)?,
            sold: unsigned(sold)?,
            provisioned,
            version: unsigned(version)?,
        }))
    }

    /// Up to `limit` items with ids after `after`, in id order, and whether more follow.
    pub async fn list_items(
        &self,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let ids = self
            .index_page(after.map(ItemId::as_str), limit + 1)
            .await?;
        let more = ids.len() > limit;
        let ids = &ids[..ids.len().min(limit)];
        if ids.is_empty() {
            return Ok((Vec::new(), more));
        }
        let rows = self
            .fields_of_each(ids, &["name", "stock", "held", "threshold"])
            .await?;
        let items = ids
            .iter()
            .zip(rows)
            .filter_map(|(id, fields)| item_from_fields(id, &fields))
            .collect();
        Ok((items, more))
    }

    /// The given fields of each item of `ids` (`None` where a field or the item is missing), in
    /// one round trip: a pipeline, or concurrent calls per slot on a cluster.
    async fn fields_of_each(
        &self,
        ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            let reads: Vec<redis::Cmd> = ids
                .iter()
                .map(|id| {
                    let mut cmd = redis::cmd("HMGET");
                    cmd.arg(self.item_key(id)).arg(fields);
                    cmd
                })
                .collect();
            Ok(conn.query_all(&reads).await?)
        })
        .await
    }

    /// Up to `limit` catalog ids after `after`, in id order (listing and the hold reaper).
    pub async fn index_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let min = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let index = self.index_key();
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            Ok(redis::cmd("ZRANGEBYLEX")
                .arg(&index)
                .arg(&min)
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query_async(&mut conn)
                .await?)
        })
        .await
    }

    /// The stored counters of each of `ids`, in one pipelined round trip (read-only, for the
    /// auditor); `None` for an item that is gone. The values are signed so that a corrupted
    /// negative counter is shown rather than refused.
    pub async fn stored_ledgers(
        &self,
        ids: &[String],
    ) -> Result<Vec<Option<StoredLedger>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .fields_of_each(ids, &["stock", "held", "sold", "provisioned"])
            .await?;
        ids.iter()
            .zip(rows)
            .map(|(id, fields)| {
                if fields.iter().all(Option::is_none) {
                    return Ok(None);
                }
                let value = |i: usize| -> Result<i64, StoreError> {
                    Ok(fields[i]
                        .as_deref()
                        .and_then(|v| v.parse().ok())
                        .with_context(|| {
                            format!(
                                "item {id}: counter {i} is missing or not an integer: {fields:?}"
                            )
                        })?)
                };
                Ok(Some(StoredLedger {
                    stock: value(0)?,
                    held: value(1)?,
                    sold: value(2)?,
                    provisioned: value(3)?,
                }))
            })
            .collect()
    }
}

fn item_from_fields(id: &str, fields: &[Option<String>]) -> Option<Item> {
    let [Some(name), Some(stock), Some(held), Some(threshold)] = fields else {
        return None;
    };
    Some(Item {
        id: id.to_owned(),
        name: name.clone(),
        stock: stock.parse().ok()?,
        reserved: held.parse().ok()?,
        low_stock_threshold: threshold.parse().ok()?,
    })
}
