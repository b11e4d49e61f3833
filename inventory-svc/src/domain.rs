//! The inventory's vocabulary, validated at the edge: a value of one of these types is known to
//! be well-formed, so nothing past deserialisation checks it again.

use serde::{Deserialize, Deserializer, Serialize, de};

pub use platform::{
    contract::{
        ItemId, MAX_QUANTITY, PageLimit, PageQuery, Quantity, QueryQuantity, Source,
        bounded_integer, check_token,
    },
    reservation::{Line, MAX_LINES, ReservationId, check_lines},
};

/// The largest stock level (and threshold) an item may be given.
pub const MAX_STOCK: u64 = 1_000_000_000;
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
