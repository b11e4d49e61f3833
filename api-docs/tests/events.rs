//! The committed event schemas are the ones the code generates, and every event the producers'
//! types build validates against them.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use platform::{
    contract::{ItemId, OrderStatus},
    event::{
        Event, EventEnvelope, EventKind, ItemRemoved, LowStock, Money, OrderSnapshot, PriceChanged,
        StockChangeReason, StockChanged, now_micros,
    },
};
use serde_json::Value;

fn committed(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_committed_schemas_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let generated = api_docs::event_schemas();
    for (name, text) in &generated {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            &on_disk == text,
            "api-docs/events/{name} is out of date with the code: run `make openapi` and commit it"
        );
    }
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        files,
        generated.len(),
        "a stale file lies in api-docs/events/"
    );
    assert_eq!(generated.len(), EventKind::ALL.len() + 1);
}

fn item() -> ItemId {
    ItemId::parse("widget").unwrap()
}

fn order(status: OrderStatus, reason: Option<&str>) -> OrderSnapshot {
    OrderSnapshot {
        order_id: uuid::Uuid::now_v7(),
        item_id: item(),
        quantity: 2,
        status,
        unit_price_cents: 1999,
        total_cents: 3998,
        currency: "EUR".into(),
        reason: reason.map(str::to_owned),
        created_at: now_micros(),
    }
}

/// One event of every kind, as its producer builds it.
fn one_of_each() -> Vec<Event> {
    vec![
        Event::LowStock(LowStock {
            item_id: item(),
            name: "Widget".into(),
            stock: 4,
            threshold: 10,
            version: 7,
        }),
        Event::StockChanged(StockChanged {
            item_id: item(),
            name: "Widget".into(),
            reason: StockChangeReason::Reserved,
            delta: -2,
            stock: 4,
            reserved: 2,
            threshold: 10,
            version: 7,
            changes: 2,
        }),
        Event::ItemRemoved(ItemRemoved {
            item_id: item(),
            name: "Widget".into(),
            stock: 4,
            reserved: 0,
        }),
        Event::PriceChanged(PriceChanged {
            item_id: item(),
            old: None,
            new: Money {
                price_cents: 1999,
                currency: "EUR".into(),
            },
            version: 1,
        }),
        Event::OrderCreated(order(OrderStatus::Confirmed, None)),
        Event::OrderRejected(order(OrderStatus::Rejected, Some("insufficient stock"))),
        Event::OrderCancelled(order(OrderStatus::Cancelled, Some("cancelled by request"))),
    ]
}

#[test]
fn every_published_event_validates_against_the_published_schemas() {
    let envelope_schema = jsonschema::validator_for(&committed("envelope.schema.json")).unwrap();
    let events = one_of_each();
    let kinds: std::collections::HashSet<_> = events.iter().map(Event::kind).collect();
    assert_eq!(kinds.len(), EventKind::ALL.len(), "one event of every kind");
    for event in events {
        let envelope = EventEnvelope::new(&event, event.kind().producer(), now_micros());
        let wire = serde_json::to_value(&envelope).unwrap();
        let errors: Vec<String> = envelope_schema
            .iter_errors(&wire)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{wire}: {errors:?}");
        let data_schema =
            jsonschema::validator_for(&committed(&format!("{}.schema.json", envelope.kind)))
                .unwrap();
        assert!(
            data_schema.is_valid(&envelope.data),
            "{}: {}",
            envelope.kind,
            envelope.data
        );
    }
}

#[test]
fn the_schemas_refuse_what_the_consumers_refuse() {
    let envelope_schema = jsonschema::validator_for(&committed("envelope.schema.json")).unwrap();
    let event = Event::OrderCreated(order(OrderStatus::Confirmed, None));
    let mut wire =
        serde_json::to_value(EventEnvelope::new(&event, "order-svc", now_micros())).unwrap();
    wire["data"].as_object_mut().unwrap().remove("total_cents");
    assert!(
        !envelope_schema.is_valid(&wire),
        "a payload without its fields"
    );
    let mut wire =
        serde_json::to_value(EventEnvelope::new(&event, "order-svc", now_micros())).unwrap();
    wire["type"] = "order_shipped".into();
    assert!(
        !envelope_schema.is_valid(&wire),
        "a type SIOMS does not publish"
    );
}
