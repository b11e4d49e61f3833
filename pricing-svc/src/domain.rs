//! Prices: integer minor units and a currency, validated at the edge.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, de};

pub use platform::contract::ItemId;

/// The highest price accepted, in minor units (one billion major units).
pub const MAX_PRICE_CENTS: u64 = 100_000_000_000;

/// A price in minor units: 0 to [`MAX_PRICE_CENTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PriceCents(u64);

impl PriceCents {
    /// The amount in minor units.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for PriceCents {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        platform::contract::bounded_integer(
            d,
            "price_cents",
            0,
            MAX_PRICE_CENTS,
            platform::contract::Source::Json,
        )
        .map(Self)
    }
}

/// An ISO 4217 currency code: three upper-case letters, e.g. `EUR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Validates a code.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "currency must be an ISO 4217 code of three upper-case letters such as \"EUR\", got {raw:?}"
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(de::Error::custom)
    }
}

/// An item's current price, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Price {
    /// The item.
    pub item_id: String,
    /// Minor units.
    pub price_cents: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// Bumped on every change.
    pub version: u64,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}
