//! The inventory's vocabulary, validated at the edge: a value of one of these types is known to
//! be well-formed, so nothing past deserialisation checks it again.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, de};

pub use platform::contract::{
    ItemId, MAX_QUANTITY, PageLimit, PageQuery, Quantity, QueryQuantity, Source, bounded_integer,
    check_token,
};

/// The largest stock level (and threshold) an item may be given.
pub const MAX_STOCK: u64 = 1_000_000_000;
/// The most lines one reservation may have.
pub const MAX_LINES: usize = 100;

/// A reservation id chosen by the caller (order-svc uses the order's UUID): 1–128 characters
/// of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ReservationId(String);

impl ReservationId {
    /// Validates a reservation id.
    pub fn parse(raw: &str) -> Result<Self, String> {
        check_token(raw, 128, "reservation id")?;
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ReservationId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(de::Error::custom)
    }
}

/// An absolute stock level: 0 to [`MAX_STOCK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StockLevel(u64);

impl StockLevel {
    /// The number of units.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for StockLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bounded_integer(d, "stock", 0, MAX_STOCK, Source::Json).map(Self)
    }
}

/// A low-stock threshold: an item is low when its available stock is below it. 0 to
/// [`MAX_STOCK`]; 0 means never low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Threshold(u64);

impl Threshold {
    /// A threshold of `n` units (clamped to [`MAX_STOCK`]).
    pub fn new(n: u64) -> Self {
        Self(n.min(MAX_STOCK))
    }

    /// The number of units.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bounded_integer(d, "low_stock_threshold", 0, MAX_STOCK, Source::Json).map(Self)
    }
}

/// An item's display name: 1–200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ItemName(String);

impl ItemName {
    /// Validates a name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("name must not be empty".to_owned());
        }
        if name.chars().count() > 200 {
            return Err("name is longer than 200 characters".to_owned());
        }
        if name.chars().any(char::is_control) {
            return Err("name must not contain control characters".to_owned());
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ItemName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(de::Error::custom)
    }
}

/// One line of a reservation: so many units of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// The item.
    #[serde(alias = "item")]
    pub item_id: ItemId,
    /// How many units.
    pub quantity: Quantity,
}

/// Checks the lines of a reservation: 1 to [`MAX_LINES`], each item at most once (one hold per
/// item and reservation keeps retries unambiguous).
pub fn check_lines(lines: &[Line]) -> Result<(), String> {
    if lines.is_empty() {
        return Err("lines must hold at least one line".to_owned());
    }
    if lines.len() > MAX_LINES {
        return Err(format!(
            "lines has {} entries; at most {MAX_LINES} are allowed",
            lines.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for line in lines {
        if !seen.insert(&line.item_id) {
            return Err(format!(
                "item {} appears in more than one line; put its whole quantity in one line",
                line.item_id
            ));
        }
    }
    Ok(())
}

/// An item as the public API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Item {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Units available to buy now (not counting units held by reservations).
    pub stock: u64,
    /// Units held by live reservations.
    pub reserved: u64,
    /// Below this available stock the item is low.
    pub low_stock_threshold: u64,
}

/// An item's full ledger, for operators and the invariant tests:
/// `stock + reserved + sold = provisioned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Its id.
    pub item_id: String,
    /// Units available now.
    pub stock: u64,
    /// Units held by live reservations.
    pub reserved: u64,
    /// Units sold (confirmed and not cancelled).
    pub sold: u64,
    /// Units ever put in: initial stock plus restocks, minus write-downs.
    pub provisioned: i64,
    /// Bumped on every change.
    pub version: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_must_name_each_item_once() {
        let line = |id: &str| Line {
            item_id: ItemId::parse(id).unwrap(),
            quantity: Quantity::new(1).unwrap(),
        };
        assert!(check_lines(&[line("a"), line("b")]).is_ok());
        assert!(check_lines(&[line("a"), line("a")]).is_err());
        assert!(check_lines(&[]).is_err());
    }
}
