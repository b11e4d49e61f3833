//! pricing-svc's HTTP API.

use actix_web::{HttpResponse, http::StatusCode, web};
use platform::{
    contract::PageLimit,
    http::{Admin, method_not_allowed},
    problem::Problem,
};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Currency, ItemId, Price, PriceCents},
    store::{PriceChange, PriceStore},
};

/// What every handler shares.
pub struct AppState {
    /// Prices in Postgres.
    pub store: PriceStore,
    /// Wakes the outbox relay after a commit that enqueued an event.
    pub relay_waker: std::sync::Arc<tokio::sync::Notify>,
}

/// Registers the routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/price/{id}")
            .route(web::get().to(get))
            .route(web::put().to(set))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/price/{id}/history")
            .route(web::get().to(history))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/prices")
            .route(web::get().to(list))
            .default_service(web::to(method_not_allowed)),
    );
}

fn item_id(raw: &str) -> Result<ItemId, Problem> {
    ItemId::parse(raw).map_err(Problem::bad_request)
}

fn unpriced(id: &ItemId) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unpriced-item",
        "No price",
        format!("item {id} has no price; set one with PUT /price/{id}"),
    )
    .with("item_id", id.as_str())
}

/// `GET /price/{id}`.
async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let id = item_id(&path)?;
    let price = state.store.get(&id).await?.ok_or_else(|| unpriced(&id))?;
    Ok(HttpResponse::Ok().json(price))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceRequest {
    price_cents: PriceCents,
    currency: Currency,
}

/// `PUT /price/{id}` (admin): 201 for an item's first price, 200 for a change (or the same
/// price again, which changes nothing and emits nothing).
async fn set(
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<PriceRequest>,
) -> Result<HttpResponse, Problem> {
    let id = item_id(&path)?;
    let (price, change) = state
        .store
        .set(&id, body.price_cents, &body.currency)
        .await?;
    if change != PriceChange::Unchanged {
        metrics::counter!("pricing_price_changes_total").increment(1);
        state.relay_waker.notify_one();
    }
    Ok(match change {
        PriceChange::Created => HttpResponse::Created().json(price),
        PriceChange::Changed | PriceChange::Unchanged => HttpResponse::Ok().json(price),
    })
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    limit: PageLimit,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct PricePage {
    prices: Vec<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `GET /prices?limit=&cursor=`: every price, in item id order.
async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let after = query
        .cursor
        .as_deref()
        .map(|c| ItemId::parse(c).map_err(|e| Problem::bad_request(format!("cursor: {e}"))))
        .transpose()?;
    let (prices, more) = state.store.list(after.as_ref(), query.limit.get()).await?;
    let next_cursor = more
        .then(|| prices.last().map(|p| p.item_id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(PricePage {
        prices,
        next_cursor,
    }))
}

#[derive(Deserialize)]
struct HistoryQuery {
    #[serde(default)]
    limit: PageLimit,
}

/// `GET /price/{id}/history?limit=`: the item's prices, newest first.
async fn history(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, Problem> {
    let id = item_id(&path)?;
    let entries = state.store.history(&id, query.limit.get()).await?;
    if entries.is_empty() {
        return Err(unpriced(&id));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "item_id": id, "history": entries })))
}
