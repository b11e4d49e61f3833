//! OpenAPI pieces every service's document shares: the problem body, the admin bearer scheme,
//! and the schemas of the contract's value types (whose serde is hand-written, so utoipa cannot
//! derive them).

use utoipa::{
    Modify, PartialSchema, ToSchema,
    openapi::{
        ObjectBuilder, RefOr, Schema, Type,
        schema::AdditionalProperties,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{
    contract::{ItemId, MAX_QUANTITY, PageLimit, Quantity},
    problem::ProblemKind,
};

/// The name of the admin bearer security scheme in every document.
pub const ADMIN_SCHEME: &str = "admin_token";

/// Adds the admin bearer scheme (`Authorization: Bearer $ADMIN_TOKEN`).
pub struct AdminSecurity;

impl Modify for AdminSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The ADMIN_TOKEN of the deployment"))
                    .build(),
            ),
        );
    }
}

impl PartialSchema for crate::problem::Problem {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "An RFC 9457 problem; extension members (item_id, available, order_id, …) may follow",
            ))
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(problem_kinds()))
                    .enum_values(Some(
                        ProblemKind::ALL
                            .iter()
                            .map(|k| k.type_uri())
                            .chain(["about:blank".to_owned()]),
                    )),
            )
            .property("title", ObjectBuilder::new().schema_type(Type::String))
            .property("status", ObjectBuilder::new().schema_type(Type::Integer))
            .property("detail", ObjectBuilder::new().schema_type(Type::String))
            .required("type")
            .required("title")
            .required("status")
            .required("detail")
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .into()
    }
}

impl ToSchema for crate::problem::Problem {}

/// Every problem kind, one line each: type, status, title, meaning.
fn problem_kinds() -> String {
    let mut text = String::from(
        "The kind of problem. `about:blank` when the status says it all (405, 500); otherwise one of:",
    );
    for kind in ProblemKind::ALL {
        text.push_str(&format!(
            "\n- `{}` ({} {}): {}",
            kind.type_uri(),
            kind.status().as_u16(),
            kind.title(),
            kind.meaning()
        ));
    }
    text
}

impl PartialSchema for ItemId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Za-z0-9._-]{1,64}$"))
            .min_length(Some(1))
            .max_length(Some(64))
            .examples([serde_json::json!("widget")])
            .into()
    }
}

impl ToSchema for ItemId {}

impl PartialSchema for Quantity {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1.0))
            .maximum(Some(MAX_QUANTITY as f64))
            .examples([serde_json::json!(1)])
            .into()
    }
}

impl ToSchema for Quantity {}

impl PartialSchema for PageLimit {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1.0))
            .maximum(Some(200.0))
            .default(Some(serde_json::json!(50)))
            .into()
    }
}

impl ToSchema for PageLimit {}
