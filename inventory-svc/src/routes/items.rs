//! The item routes: the public catalog reads and the admin writes.

use actix_web::{HttpResponse, http::header, web};
use platform::{http::Admin, problem::Problem};
use serde::{Deserialize, Serialize};

use super::{AppState, item_id, method_not_allowed, unknown_item};
use crate::{
    domain::{Item, ItemId, ItemName, PageLimit, QueryQuantity, StockLevel, Threshold},
    store::ItemPatch,
};

/// Registers the item routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/items")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/items/{id}")
            .route(web::get().to(get))
            .route(web::put().to(update))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/items/{id}/check")
            .route(web::get().to(check))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/inventory/{id}")
            .route(web::get().to(inventory))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ledger/{id}")
            .route(web::get().to(ledger))
            .default_service(web::to(method_not_allowed)),
    );
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    limit: PageLimit,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct ItemPage {
    items: Vec<Item>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `GET /items?limit=&cursor=`: the catalog in id order, a page at a time.
async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let after = query
        .cursor
        .as_deref()
        .map(|c| ItemId::parse(c).map_err(|e| Problem::bad_request(format!("cursor: {e}"))))
        .transpose()?;
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
async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let item = existing_item(&state, &path).await?;
    Ok(HttpResponse::Ok().json(item))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewItem {
    id: ItemId,
    name: ItemName,
    stock: StockLevel,
    low_stock_threshold: Option<Threshold>,
}

/// `POST /items` (admin): 201 with `Location`; 409 when the id is taken.
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
        return Err(Problem::new(
            actix_web::http::StatusCode::CONFLICT,
            "item-exists",
            "Item exists",
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemChange {
    name: Option<ItemName>,
    stock: Option<StockLevel>,
    low_stock_threshold: Option<Threshold>,
}

/// `PUT /items/{id}` (admin): sets the absolute available stock and/or name and threshold.
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

#[derive(Deserialize)]
struct CheckQuery {
    quantity: QueryQuantity,
}

#[derive(Serialize)]
struct Availability {
    item_id: String,
    quantity: u64,
    available: bool,
    stock: u64,
}

/// `GET /items/{id}/check?quantity=N`: whether N units are available now.
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

#[derive(Serialize)]
struct StockView {
    item: String,
    stock: u64,
}

/// `GET /inventory/{id}`: the current available stock (seed 001's route).
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
