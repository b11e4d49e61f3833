//! The item routes: the public catalog reads and the admin writes.

use actix_web::{HttpResponse, http::header, web};
use platform::openapi::AdminSecurity;
use platform::{
    http::{Admin, resource},
    problem::{Problem, ProblemKind},
};
use serde::{Deserialize, Serialize};

use super::{AppState, item_id, unknown_item};
use crate::{
    domain::{Item, ItemId, ItemName, PageQuery, QueryQuantity, StockLevel, Threshold},
    store::ItemPatch,
};

/// Registers the item routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/items")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/items/{id}")
            .route(web::get().to(get))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    )
    .service(resource("/items/{id}/check").route(web::get().to(check)))
    .service(resource("/inventory/{id}").route(web::get().to(inventory)))
    .service(resource("/ledger/{id}").route(web::get().to(ledger)));
}

/// One page of the catalog.
#[derive(Serialize, utoipa::ToSchema)]
struct ItemPage {
    items: Vec<Item>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `GET /items?limit=&cursor=`: the catalog in id order, a page at a time.
#[utoipa::path(get, path = "/items", tag = "inventory", params(PageQuery),
    responses(
        (status = 200, description = "A page of items with their stock", body = ItemPage),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let after = query.item_cursor().map_err(Problem::bad_request)?;
    let (items, more) = state
        .store
        .list_items(after.as_ref(), query.limit.get())
        .await?;
    let next_cursor = more.then(|| items.last().map(|i| i.id.clone())).flatten();
    Ok(HttpResponse::Ok().json(ItemPage { items, next_cursor }))
}

/// The item named by a path segment: 400 for a malformed id, 404 for an unknown one.
async fn existing_item(state: &AppState, raw_id: &str) -> Result<Item, Problem> {
    let id = item_id(raw_id)?;
    state
        .store
        .get_item(&id)
        .await?
        .ok_or_else(|| unknown_item(&id))
}

/// `GET /items/{id}`.
#[utoipa::path(get, path = "/items/{id}", tag = "inventory",
    params(("id" = ItemId, Path, description = "The item id")),
    responses(
        (status = 200, description = "The item", body = Item),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let item = existing_item(&state, &path).await?;
    Ok(HttpResponse::Ok().json(item))
}

/// A new item.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewItem {
    id: ItemId,
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    name: ItemName,
    /// Units available.
    #[schema(value_type = u64, minimum = 0, maximum = 1000000000)]
    stock: StockLevel,
    /// Below this available stock the item is low (default 10).
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 1000000000)]
    low_stock_threshold: Option<Threshold>,
}

/// `POST /items` (admin): 201 with `Location`; 409 when the id is taken.
#[utoipa::path(post, path = "/items", tag = "inventory", request_body = NewItem,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Created", body = Item),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),        (status = 401, description = "No admin token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong admin token", body = Problem, content_type = "application/problem+json"),        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    _admin: Admin,
    state: web::Data<AppState>,
    body: web::Json<NewItem>,
) -> Result<HttpResponse, Problem> {
    let NewItem {
        id,
        name,
        stock,
        low_stock_threshold,
    } = body.into_inner();
    let threshold = low_stock_threshold.unwrap_or(state.store.default_threshold());
    if !state
        .store
        .create_item(&id, &name, stock, threshold)
        .await?
    {
        return Err(Problem::of(
            ProblemKind::ItemExists,
            format!("item {id} already exists; change it with PUT /items/{id}"),
        )
        .with("item_id", id.as_str()));
    }
    let item = state
        .store
        .get_item(&id)
        .await?
        .ok_or_else(|| unknown_item(&id))?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/items/{id}")))
        .json(item))
}

/// A change of an item: at least one field.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ItemChange {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    name: Option<ItemName>,
    /// The new absolute available stock.
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 1000000000)]
    stock: Option<StockLevel>,
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 1000000000)]
    low_stock_threshold: Option<Threshold>,
}

/// `PUT /items/{id}` (admin): sets the absolute available stock and/or name and threshold.
#[utoipa::path(put, path = "/items/{id}", tag = "inventory", request_body = ItemChange,
    params(("id" = ItemId, Path, description = "The item id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The changed item", body = Item),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),        (status = 401, description = "No admin token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong admin token", body = Problem, content_type = "application/problem+json"),        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update(
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ItemChange>,
) -> Result<HttpResponse, Problem> {
    let id = item_id(&path)?;
    let ItemChange {
        name,
        stock,
        low_stock_threshold,
    } = body.into_inner();
    if name.is_none() && stock.is_none() && low_stock_threshold.is_none() {
        return Err(Problem::bad_request(
            "nothing to change: send at least one of stock, name, low_stock_threshold",
        ));
    }
    let patch = ItemPatch {
        name,
        stock,
        threshold: low_stock_threshold,
    };
    let item = state
        .store
        .update_item(&id, &patch)
        .await?
        .ok_or_else(|| unknown_item(&id))?;
    Ok(HttpResponse::Ok().json(item))
}

/// `DELETE /items/{id}` (admin): 204.
#[utoipa::path(delete, path = "/items/{id}", tag = "inventory",
    params(("id" = ItemId, Path, description = "The item id")),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),        (status = 401, description = "No admin token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete(
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = item_id(&path)?;
    if !state.store.delete_item(&id).await? {
        return Err(unknown_item(&id));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CheckQuery {
    /// Units wanted (1–1,000,000).
    #[param(value_type = u64, minimum = 1, maximum = 1000000)]
    quantity: QueryQuantity,
}

/// Whether some units are available now.
#[derive(Serialize, utoipa::ToSchema)]
struct Availability {
    item_id: String,
    quantity: u64,
    available: bool,
    stock: u64,
}

/// `GET /items/{id}/check?quantity=N`: whether N units are available now.
#[utoipa::path(get, path = "/items/{id}/check", tag = "inventory",
    params(("id" = ItemId, Path, description = "The item id"), CheckQuery),
    responses(
        (status = 200, description = "Availability", body = Availability),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
    ))]
async fn check(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<CheckQuery>,
) -> Result<HttpResponse, Problem> {
    let item = existing_item(&state, &path).await?;
    let quantity = query.quantity.0.get();
    Ok(HttpResponse::Ok().json(Availability {
        item_id: item.id,
        quantity,
        available: item.stock >= quantity,
        stock: item.stock,
    }))
}

/// An item's available stock (seed 001's shape).
#[derive(Serialize, utoipa::ToSchema)]
struct StockView {
    item: String,
    stock: u64,
}

/// `GET /inventory/{id}`: the current available stock (seed 001's route).
#[utoipa::path(get, path = "/inventory/{id}", tag = "inventory",
    params(("id" = ItemId, Path, description = "The item id")),
    responses(
        (status = 200, description = "Its stock", body = StockView),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
    ))]
async fn inventory(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let item = existing_item(&state, &path).await?;
    Ok(HttpResponse::Ok().json(StockView {
        item: item.id,
        stock: item.stock,
    }))
}

/// `GET /ledger/{id}` (internal, not routed by the gateway): stock, reserved, sold and
/// provisioned units, for operators and the conservation checks.
async fn ledger(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = item_id(&path)?;
    let ledger = state
        .store
        .ledger(&id)
        .await?
        .ok_or_else(|| unknown_item(&id))?;
    Ok(HttpResponse::Ok().json(ledger))
}

/// The public inventory routes, as the gateway serves them.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, get, create, update, delete, check, inventory),
    modifiers(&AdminSecurity)
)]
pub struct PublicApi;
