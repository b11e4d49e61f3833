//! pricing-svc's HTTP API.

use actix_web::{HttpResponse, web};
use platform::{
    contract::{PageLimit, PageQuery},
    http::{Admin, resource},
    problem::{Problem, ProblemKind},
};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Currency, ItemId, Price, PriceCents},
    store::{PriceChange, PriceHistoryEntry, PriceStore},
};
use platform::openapi::AdminSecurity;

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
        resource("/price/{id}")
            .route(web::get().to(get))
            .route(web::put().to(set)),
    )
    .service(resource("/price/{id}/history").route(web::get().to(history)))
    .service(resource("/prices").route(web::get().to(list)));
}

fn item_id(raw: &str) -> Result<ItemId, Problem> {
    ItemId::parse(raw).map_err(Problem::bad_request)
}

fn unpriced(id: &ItemId) -> Problem {
    Problem::of(
        ProblemKind::NoPrice,
        format!("item {id} has no price; set one with PUT /price/{id}"),
    )
    .with("item_id", id.as_str())
}

/// `GET /price/{id}`.
#[utoipa::path(get, path = "/price/{id}", tag = "pricing",
    params(("id" = ItemId, Path, description = "The item id")),
    responses(
        (status = 200, description = "The current price", body = Price),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The item has no price", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let id = item_id(&path)?;
    let price = state.store.get(&id).await?.ok_or_else(|| unpriced(&id))?;
    Ok(HttpResponse::Ok().json(price))
}

/// A price to set.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PriceRequest {
    /// Minor units (cents), 0 to 100,000,000,000.
    #[schema(value_type = u64, minimum = 0, maximum = 100000000000_u64)]
    price_cents: PriceCents,
    /// ISO 4217 code, three upper-case letters.
    #[schema(value_type = String, pattern = "^[A-Z]{3}$", example = "EUR")]
    currency: Currency,
}

/// `PUT /price/{id}` (admin): 201 for an item's first price, 200 for a change (or the same
/// price again, which changes nothing and emits nothing).
#[utoipa::path(put, path = "/price/{id}", tag = "pricing", request_body = PriceRequest,
    params(("id" = ItemId, Path, description = "The item id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Changed (or unchanged)", body = Price),
        (status = 201, description = "The item's first price", body = Price),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No admin token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong admin token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    ))]
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

/// One page of prices.
#[derive(Serialize, utoipa::ToSchema)]
struct PricePage {
    prices: Vec<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `GET /prices?limit=&cursor=`: every price, in item id order.
#[utoipa::path(get, path = "/prices", tag = "pricing", params(PageQuery),
    responses(
        (status = 200, description = "A page of prices", body = PricePage),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let after = query.item_cursor().map_err(Problem::bad_request)?;
    let (prices, more) = state.store.list(after.as_ref(), query.limit.get()).await?;
    let next_cursor = more
        .then(|| prices.last().map(|p| p.item_id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(PricePage {
        prices,
        next_cursor,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// Entries (1–200).
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: PageLimit,
}

/// An item's prices, newest first.
#[derive(Serialize, utoipa::ToSchema)]
struct PriceHistory {
    item_id: String,
    history: Vec<PriceHistoryEntry>,
}

/// `GET /price/{id}/history?limit=`: the item's prices, newest first.
#[utoipa::path(get, path = "/price/{id}/history", tag = "pricing",
    params(("id" = ItemId, Path, description = "The item id"), HistoryQuery),
    responses(
        (status = 200, description = "Its prices, newest first", body = PriceHistory),
        (status = 400, description = "Malformed id, body or query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The item has no price", body = Problem, content_type = "application/problem+json"),
    ))]
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
    Ok(HttpResponse::Ok().json(PriceHistory {
        item_id: id.to_string(),
        history: entries,
    }))
}

/// The public pricing routes, as the gateway serves them.
#[derive(utoipa::OpenApi)]
#[openapi(paths(get, set, list, history), modifiers(&AdminSecurity))]
pub struct PublicApi;
