//! The event envelope: the one shape of every message on the `sioms.events` exchange.
//!
//! ```json
//! {"event_id": "…uuid…", "type": "order_created", "occurred_at": "2026-11-21T10:00:00.123Z",
//!  "source": "order-svc", "data": {…}}
//! ```
//!
//! The routing key is the type. Consumers deduplicate by `event_id`, which is also the AMQP
//! `message_id`, so at-least-once delivery takes effect exactly once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The durable topic exchange every event is published to.
pub const EXCHANGE: &str = "sioms.events";

/// The media type of every event body.
pub const CONTENT_TYPE: &str = "application/json";

/// Event types, which are also the routing keys.
pub mod kinds {
    /// An item's available stock fell below its low-stock threshold (once per crossing).
    pub const LOW_STOCK: &str = "low_stock";
    /// An item's stock, threshold or name changed; carries the absolute values after the change.
    pub const STOCK_CHANGED: &str = "stock_changed";
    /// An item was removed from the catalog.
    pub const ITEM_REMOVED: &str = "item_removed";
    /// An item's price was set or changed; carries the old price (or null) and the new one.
    pub const PRICE_CHANGED: &str = "price_changed";
    /// An order was accepted: stock reserved, order written as confirmed.
    pub const ORDER_CREATED: &str = "order_created";
    /// An order was refused for short stock and recorded as rejected.
    pub const ORDER_REJECTED: &str = "order_rejected";
    /// A confirmed order was cancelled; its stock goes back.
    pub const ORDER_CANCELLED: &str = "order_cancelled";
}

/// The current time at the precision Postgres keeps (microseconds), so a value answered before
/// it was stored reads back the same.
pub fn now_micros() -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    Utc::now().trunc_subsecs(6)
}

/// One event, as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Unique per event; consumers deduplicate by it.
    pub event_id: Uuid,
    /// The event type, also the routing key.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change happened (not when it was published).
    pub occurred_at: DateTime<Utc>,
    /// The service that decided the change.
    pub source: String,
    /// Type-specific fields.
    pub data: Value,
}
