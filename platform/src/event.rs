//! Events: the envelope every message on the `sioms.events` exchange shares, and the typed
//! payload of each kind, which producers build and consumers decode.
//!
//! ```json
//! {"event_id": "…uuid…", "type": "order_created", "occurred_at": "2026-11-21T10:00:00.123Z",
//!  "source": "order-svc", "data": {…}}
//! ```
//!
//! The routing key is the type. Consumers deduplicate by `event_id`, which is also the AMQP
//! `message_id`, so at-least-once delivery takes effect exactly once.
//!
//! [`Event`] is the contract: one variant per kind, each with its payload type. A producer
//! builds an [`EventEnvelope`] from an [`Event`] ([`EventEnvelope::new`]); outboxes and relays
//! carry the envelope as it is; a consumer gets the [`Event`] back with
//! [`EventEnvelope::decode`]. The JSON Schemas in `api-docs/events/` are generated from these
//! types (`make openapi`), and a test fails when they drift.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::contract::{ItemId, OrderStatus};

/// The durable topic exchange every event is published to.
pub const EXCHANGE: &str = "sioms.events";

/// The media type of every event body.
pub const CONTENT_TYPE: &str = "application/json";

/// The kinds of event, which are also the routing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An item's available stock fell below its low-stock threshold (once per crossing).
    LowStock,
    /// An item's stock, threshold or name changed; carries the absolute values after the change.
    StockChanged,
    /// An item was removed from the catalog.
    ItemRemoved,
    /// An item's price was set or changed; carries the old price (or null) and the new one.
    PriceChanged,
    /// An order was accepted: stock reserved, order written as confirmed.
    OrderCreated,
    /// An order was refused for short stock and recorded as rejected.
    OrderRejected,
    /// A confirmed order was cancelled; its stock goes back.
    OrderCancelled,
}

impl EventKind {
    /// Every kind.
    pub const ALL: &[EventKind] = &[
        Self::LowStock,
        Self::StockChanged,
        Self::ItemRemoved,
        Self::PriceChanged,
        Self::OrderCreated,
        Self::OrderRejected,
        Self::OrderCancelled,
    ];

    /// The type, which is also the routing key.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LowStock => "low_stock",
            Self::StockChanged => "stock_changed",
            Self::ItemRemoved => "item_removed",
            Self::PriceChanged => "price_changed",
            Self::OrderCreated => "order_created",
            Self::OrderRejected => "order_rejected",
            Self::OrderCancelled => "order_cancelled",
        }
    }

    /// The kind a type names, if it names one.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == raw)
    }

    /// The service that publishes events of this kind.
    pub const fn producer(self) -> &'static str {
        match self {
            Self::LowStock | Self::StockChanged | Self::ItemRemoved => "inventory-svc",
            Self::PriceChanged => "pricing-svc",
            Self::OrderCreated | Self::OrderRejected | Self::OrderCancelled => "order-svc",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The types as text, for routing keys and bindings.
pub mod kinds {
    use super::EventKind;

    /// `low_stock`.
    pub const LOW_STOCK: &str = EventKind::LowStock.as_str();
    /// `stock_changed`.
    pub const STOCK_CHANGED: &str = EventKind::StockChanged.as_str();
    /// `item_removed`.
    pub const ITEM_REMOVED: &str = EventKind::ItemRemoved.as_str();
    /// `price_changed`.
    pub const PRICE_CHANGED: &str = EventKind::PriceChanged.as_str();
    /// `order_created`.
    pub const ORDER_CREATED: &str = EventKind::OrderCreated.as_str();
    /// `order_rejected`.
    pub const ORDER_REJECTED: &str = EventKind::OrderRejected.as_str();
    /// `order_cancelled`.
    pub const ORDER_CANCELLED: &str = EventKind::OrderCancelled.as_str();
}

/// One event with its typed payload: `type` and `data` of the envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// An item's available stock fell below its low-stock threshold (once per crossing; it
    /// fires again only after an admin change brings stock back to the threshold or above).
    LowStock(LowStock),
    /// An item's stock, threshold or name changed; carries the absolute values after the change.
    StockChanged(StockChanged),
    /// An item was removed from the catalog.
    ItemRemoved(ItemRemoved),
    /// An item's price was set or changed.
    PriceChanged(PriceChanged),
    /// An order was accepted: stock reserved, order written as confirmed.
    OrderCreated(OrderSnapshot),
    /// An order was refused for short stock and recorded as rejected.
    OrderRejected(OrderSnapshot),
    /// A confirmed order was cancelled; its stock went back on sale.
    OrderCancelled(OrderSnapshot),
}

impl Event {
    /// Its kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::LowStock(_) => EventKind::LowStock,
            Self::StockChanged(_) => EventKind::StockChanged,
            Self::ItemRemoved(_) => EventKind::ItemRemoved,
            Self::PriceChanged(_) => EventKind::PriceChanged,
            Self::OrderCreated(_) => EventKind::OrderCreated,
            Self::OrderRejected(_) => EventKind::OrderRejected,
            Self::OrderCancelled(_) => EventKind::OrderCancelled,
        }
    }

    /// The item the event is about.
    pub fn item_id(&self) -> &ItemId {
        match self {
            Self::LowStock(e) => &e.item_id,
            Self::StockChanged(e) => &e.item_id,
            Self::ItemRemoved(e) => &e.item_id,
            Self::PriceChanged(e) => &e.item_id,
            Self::OrderCreated(o) | Self::OrderRejected(o) | Self::OrderCancelled(o) => &o.item_id,
        }
    }

    /// The payload as JSON.
    fn data(&self) -> serde_json::Result<Value> {
        match self {
            Self::LowStock(e) => serde_json::to_value(e),
            Self::StockChanged(e) => serde_json::to_value(e),
            Self::ItemRemoved(e) => serde_json::to_value(e),
            Self::PriceChanged(e) => serde_json::to_value(e),
            Self::OrderCreated(o) | Self::OrderRejected(o) | Self::OrderCancelled(o) => {
                serde_json::to_value(o)
            }
        }
    }

    /// The event of `kind` whose payload is `data` (read in place, not copied).
    pub fn from_parts(kind: EventKind, data: &Value) -> serde_json::Result<Self> {
        fn payload<'a, T: Deserialize<'a>>(data: &'a Value) -> serde_json::Result<T> {
            T::deserialize(data)
        }
        Ok(match kind {
            EventKind::LowStock => Self::LowStock(payload(data)?),
            EventKind::StockChanged => Self::StockChanged(payload(data)?),
            EventKind::ItemRemoved => Self::ItemRemoved(payload(data)?),
            EventKind::PriceChanged => Self::PriceChanged(payload(data)?),
            EventKind::OrderCreated => Self::OrderCreated(payload(data)?),
            EventKind::OrderRejected => Self::OrderRejected(payload(data)?),
            EventKind::OrderCancelled => Self::OrderCancelled(payload(data)?),
        })
    }
}

/// Why a stock change happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StockChangeReason {
    /// The item was created with its initial stock.
    Created,
    /// An admin changed its stock, threshold or name.
    Adjusted,
    /// An order's reservation took units.
    Reserved,
    /// A reservation was released and its units went back.
    Released,
    /// Holds ran out and their units went back.
    Expired,
    /// A confirmed order was cancelled and its units went back.
    Cancelled,
}

/// `stock_changed`: the item's values after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockChanged {
    /// The item.
    pub item_id: ItemId,
    /// Its display name.
    pub name: String,
    /// Why the stock changed.
    pub reason: StockChangeReason,
    /// The change in available stock (negative when units were taken).
    pub delta: i64,
    /// Units available for sale after the change.
    pub stock: u64,
    /// Units held by open reservations.
    pub reserved: u64,
    /// The low-stock threshold.
    pub threshold: u64,
    /// The item's version, raised by every change: apply an event only over an older one.
    pub version: u64,
    /// How many changes of the same reason, one after the other, this event stands for (absent:
    /// one). inventory's relay sends a run of them that it publishes together as one event:
    /// the values after the last, `delta` their sum (docs/decisions/0022).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub changes: u64,
}

fn one() -> u64 {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_one(n: &u64) -> bool {
    *n == 1
}

/// `low_stock`: available stock fell below the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LowStock {
    /// The item.
    pub item_id: ItemId,
    /// Its display name.
    pub name: String,
    /// Units available for sale.
    pub stock: u64,
    /// The low-stock threshold.
    pub threshold: u64,
    /// The item's version at the crossing.
    pub version: u64,
}

/// `item_removed`: the item's last values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ItemRemoved {
    /// The item.
    pub item_id: ItemId,
    /// Its display name.
    pub name: String,
    /// Units that were available.
    pub stock: u64,
    /// Units that were held.
    pub reserved: u64,
}

/// A price: an amount in minor units and its currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    /// Minor units (cents).
    pub price_cents: u64,
    /// ISO 4217 code.
    pub currency: String,
}

/// `price_changed`: the old price (null when the item had none) and the new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PriceChanged {
    /// The item.
    pub item_id: ItemId,
    /// The price before, or null when this is the item's first price.
    pub old: Option<Money>,
    /// The price now.
    pub new: Money,
    /// The price's version, raised by every change.
    pub version: u64,
}

/// `order_created`, `order_rejected`, `order_cancelled`: the order as it is after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderSnapshot {
    /// The order's id.
    pub order_id: Uuid,
    /// The item.
    pub item_id: ItemId,
    /// Units ordered.
    pub quantity: u64,
    /// Its status after the change.
    pub status: OrderStatus,
    /// The unit price when the order was placed, in minor units.
    pub unit_price_cents: u64,
    /// `unit_price_cents * quantity`.
    pub total_cents: u64,
    /// ISO 4217 code of both prices.
    pub currency: String,
    /// Why it was rejected or cancelled (null otherwise).
    pub reason: Option<String>,
    /// When the order was placed (revenue counts on this day).
    pub created_at: DateTime<Utc>,
}

/// The current time at the precision Postgres keeps (microseconds), so a value answered before
/// it was stored reads back the same.
pub fn now_micros() -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    Utc::now().trunc_subsecs(6)
}

/// One event as it travels: through outboxes, relays and the broker, its payload is plain
/// JSON. Build one with [`EventEnvelope::new`], read one with [`EventEnvelope::decode`].
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

/// Why an envelope could not be read as an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The type is not one SIOMS publishes.
    #[error("unknown event type {0:?}")]
    UnknownKind(String),
    /// The payload does not have the fields its type requires.
    #[error("a {kind} event's data does not match its schema: {source}")]
    Payload {
        /// The event's type.
        kind: EventKind,
        /// What serde found wrong.
        source: serde_json::Error,
    },
}

impl EventEnvelope {
    /// A new event (fresh UUIDv7 id) that `source` decided at `occurred_at`.
    pub fn new(event: &Event, source: &str, occurred_at: DateTime<Utc>) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            kind: event.kind().as_str().to_owned(),
            occurred_at,
            source: source.to_owned(),
            // Invariant: every payload type is a struct of plain fields, which always serializes.
            data: event.data().unwrap_or(Value::Null),
        }
    }

    /// The typed event.
    pub fn decode(&self) -> Result<Event, DecodeError> {
        let kind = EventKind::parse(&self.kind)
            .ok_or_else(|| DecodeError::UnknownKind(self.kind.clone()))?;
        Event::from_parts(kind, &self.data).map_err(|source| DecodeError::Payload { kind, source })
    }

    /// The typed event, or `None` for a type SIOMS does not publish (a consumer records it and
    /// moves on); a payload that breaks its type's schema is still an error.
    pub fn decode_known(&self) -> Result<Option<Event>, DecodeError> {
        match self.decode() {
            Ok(event) => Ok(Some(event)),
            Err(DecodeError::UnknownKind(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// An event as a consumer reads it from the broker: the envelope with its typed payload. The
/// published JSON Schema (`api-docs/events/envelope.schema.json`) is this type's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "SIOMS event")]
pub struct TypedEnvelope {
    /// Unique per event; deduplicate by it (it is also the AMQP `message_id`).
    pub event_id: Uuid,
    /// When the change happened (not when it was published).
    pub occurred_at: DateTime<Utc>,
    /// The service that decided the change.
    pub source: String,
    /// `type` (also the routing key) and its `data`.
    #[serde(flatten)]
    pub event: Event,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn order() -> Event {
        Event::OrderCreated(OrderSnapshot {
            order_id: Uuid::now_v7(),
            item_id: ItemId::parse("widget").unwrap(),
            quantity: 2,
            status: OrderStatus::Confirmed,
            unit_price_cents: 1999,
            total_cents: 3998,
            currency: "EUR".into(),
            reason: None,
            created_at: now_micros(),
        })
    }

    #[test]
    fn an_envelope_decodes_to_the_event_it_was_built_from() {
        let event = order();
        let envelope = EventEnvelope::new(&event, "order-svc", now_micros());
        assert_eq!(envelope.kind, "order_created");
        assert!(envelope.data["reason"].is_null(), "reason is sent as null");
        assert_eq!(envelope.decode().unwrap(), event);
    }

    #[test]
    fn the_wire_envelope_and_the_typed_one_are_the_same_json() {
        let envelope = EventEnvelope::new(&order(), "order-svc", now_micros());
        let wire = serde_json::to_value(&envelope).unwrap();
        let typed: TypedEnvelope = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(typed.event, envelope.decode().unwrap());
        assert_eq!(serde_json::to_value(&typed).unwrap(), wire);
    }

    #[test]
    fn a_payload_without_its_fields_or_of_an_unknown_type_is_refused() {
        let mut envelope = EventEnvelope::new(&order(), "order-svc", now_micros());
        envelope.data = serde_json::json!({"order_id": "x"});
        assert!(matches!(
            envelope.decode(),
            Err(DecodeError::Payload { .. })
        ));
        envelope.kind = "order_shipped".into();
        assert!(matches!(
            envelope.decode(),
            Err(DecodeError::UnknownKind(_))
        ));
    }

    #[test]
    fn every_kind_reads_back_from_its_text() {
        for &k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json, k.as_str());
        }
    }
}
