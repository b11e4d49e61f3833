//! The OpenAPI 3 document of SIOMS' public API: the routes the gateway serves, merged from each
//! service's `PublicApi` (utoipa, from the handlers' own annotations). `make openapi` writes it
//! to `api-docs/openapi.json`, which is committed and served by the gateway at
//! `/openapi.json` (and browsable at `/docs/`); a test fails when the two drift apart.

use utoipa::{
    OpenApi,
    openapi::{InfoBuilder, OpenApiBuilder, ServerBuilder},
};

/// Where the committed document lives, relative to the workspace root.
pub const COMMITTED: &str = "api-docs/openapi.json";

/// The whole public API.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("SIOMS public API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The Smart Inventory and Order Management System, as served by its gateway. \
                     Errors are application/problem+json (RFC 9457). Admin routes need \
                     `Authorization: Bearer $ADMIN_TOKEN`.",
                ))
                .build(),
        )
        .servers(Some([ServerBuilder::new()
            .url("http://localhost:8080")
            .description(Some("the local gateway (make up)"))
            .build()]))
        .build();
    doc.merge(inventory_svc::routes::items::PublicApi::openapi());
    doc.merge(pricing_svc::routes::PublicApi::openapi());
    doc.merge(order_svc::routes::PublicApi::openapi());
    doc.merge(analytics_consumer::routes::PublicApi::openapi());
    doc.merge(notifier_consumer::routes::PublicApi::openapi());
    doc
}

/// The document as committed: pretty JSON with a final newline.
pub fn render() -> String {
    let mut text = document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// Where the committed event schemas live, relative to the workspace root.
pub const EVENTS_DIR: &str = "api-docs/events";

/// The JSON Schemas of the events, generated from `platform::event`'s types: the envelope
/// (`envelope.schema.json`, every type with its data) and one file per type for its `data`
/// (`<type>.schema.json`), each as committed (pretty JSON with a final newline).
pub fn event_schemas() -> Vec<(String, String)> {
    use platform::event::{
        EventKind, ItemRemoved, LowStock, OrderSnapshot, PriceChanged, StockChanged, TypedEnvelope,
    };
    use schemars::{JsonSchema, Schema, SchemaGenerator};

    fn payload<T: JsonSchema>() -> Schema {
        SchemaGenerator::default().into_root_schema_for::<T>()
    }

    let kinds = serde_json::to_value(schemars::schema_for!(EventKind)).unwrap_or_default();
    let summary = |kind: EventKind| -> String {
        kinds["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["const"] == kind.as_str())
            .and_then(|v| v["description"].as_str())
            .unwrap_or_default()
            .to_owned()
    };

    let mut files = vec![(
        "envelope.schema.json".to_owned(),
        render_json(&schemars::schema_for!(TypedEnvelope)),
    )];
    for &kind in EventKind::ALL {
        let mut schema = match kind {
            EventKind::LowStock => payload::<LowStock>(),
            EventKind::StockChanged => payload::<StockChanged>(),
            EventKind::ItemRemoved => payload::<ItemRemoved>(),
            EventKind::PriceChanged => payload::<PriceChanged>(),
            EventKind::OrderCreated | EventKind::OrderRejected | EventKind::OrderCancelled => {
                payload::<OrderSnapshot>()
            }
        };
        schema.insert("title".into(), format!("{kind} event data").into());
        schema.insert(
            "description".into(),
            format!(
                "{} Published by {} to the `{}` exchange with routing key `{kind}`; this is the \
                 envelope's `data` (envelope.schema.json).",
                summary(kind),
                kind.producer(),
                platform::event::EXCHANGE,
            )
            .into(),
        );
        files.push((format!("{kind}.schema.json"), render_json(&schema)));
    }
    files
}

fn render_json(value: &impl serde::Serialize) -> String {
    let mut text =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
