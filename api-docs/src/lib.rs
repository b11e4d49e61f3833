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
