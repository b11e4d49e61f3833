//! Orders: what a customer asks for, and what SIOMS records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use platform::contract::{ItemId, OrderStatus, Quantity};

/// The body of `POST /orders`: `{"item_id", "quantity"}` (`item` is accepted for `item_id`, as
/// in seed 001).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// The item (`item` is accepted as well).
    #[serde(alias = "item")]
    pub item_id: ItemId,
    /// How many units.
    pub quantity: Quantity,
}

impl OrderRequest {
    /// What makes two requests "the same body" for `Idempotency-Key`.
    pub fn fingerprint(&self) -> String {
        format!("item_id={};quantity={}", self.item_id, self.quantity.get())
    }
}

/// An order as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Order {
    /// Its id (UUIDv7, so ids sort by time).
    pub id: Uuid,
    /// The item.
    pub item_id: ItemId,
    /// Units ordered.
    pub quantity: u64,
    /// Its status.
    pub status: OrderStatus,
    /// The unit price when the order was placed, in minor units.
    pub unit_price_cents: u64,
    /// `unit_price_cents * quantity`.
    pub total_cents: u64,
    /// ISO 4217 code of both prices.
    pub currency: String,
    /// Why it was rejected or cancelled, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A unit price quoted by pricing-svc.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Quote {
    /// Minor units.
    pub price_cents: u64,
    /// ISO 4217 code.
    pub currency: String,
}
