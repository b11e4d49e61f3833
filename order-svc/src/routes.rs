//! order-svc's HTTP API.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use platform::{
    contract::PageQuery,
    http::{RequestId, resource},
    problem::Problem,
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    checkout::{Checkout, unknown_order},
    domain::{Order, OrderRequest},
};

/// The header that makes `POST /orders` safe to retry.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Registers the routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/orders")
            .route(web::post().to(place))
            .route(web::get().to(list)),
    )
    .service(resource("/orders/{id}").route(web::get().to(get)))
    .service(resource("/orders/{id}/cancel").route(web::post().to(cancel)));
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, Problem> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Problem::bad_request(
                "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice)",
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// `POST /orders`: 201 + `Location` (confirmed), 409 (short stock, recorded as rejected),
/// 404 (unknown item), 422 (unpriced item, or a key reused with another body), 503 (a
/// dependency is down; nothing was taken).
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = OrderRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Makes the request safe to retry: the same key and body get the first answer, for 24 hours after the first request (IDEMPOTENCY_KEY_RETENTION)")),
    responses(
        (status = 201, description = "Confirmed; `Location` names the order", body = Order,
            headers(("Location" = String, description = "/orders/{id}"))),
        (status = 400, description = "Malformed id, body, query or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Short stock (the order is recorded as rejected; `order_id` in the body), or a request with the same key is still running", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The item has no price, or the key was used with another body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many orders from this address (gateway)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Pricing or inventory is down; nothing was taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn place(
    req: HttpRequest,
    checkout: web::Data<Arc<Checkout>>,
    request_id: RequestId,
    body: web::Json<OrderRequest>,
) -> Result<HttpResponse, Problem> {
    let key = idempotency_key(&req)?;
    let placed = checkout.place(&body, key.as_deref(), &request_id.0).await?;
    let mut res = HttpResponse::build(placed.status);
    if let Some(id) = placed.order_id {
        res.insert_header(("location", format!("/orders/{id}")));
    }
    if placed.status.is_client_error() || placed.status.is_server_error() {
        res.content_type(platform::problem::CONTENT_TYPE);
    }
    Ok(res.json(placed.body))
}

fn order_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw)
        .map_err(|_| Problem::bad_request(format!("order id {raw:?} is not a UUID")))
}

/// `GET /orders/{id}`.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = String, Path, format = Uuid, description = "The order id")),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 400, description = "Malformed id, body, query or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get(
    checkout: web::Data<Arc<Checkout>>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = order_id(&path)?;
    let order = checkout
        .store
        .get(id)
        .await?
        .ok_or_else(|| unknown_order(id))?;
    Ok(HttpResponse::Ok().json(order))
}

/// One page of orders, newest first.
#[derive(Serialize, utoipa::ToSchema)]
struct OrderPage {
    orders: Vec<Order>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<Uuid>,
}

/// `GET /orders?limit=&cursor=`: newest first.
#[utoipa::path(get, path = "/orders", tag = "orders", params(PageQuery),
    responses(
        (status = 200, description = "A page of orders, newest first", body = OrderPage),
        (status = 400, description = "Malformed id, body, query or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    checkout: web::Data<Arc<Checkout>>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            order_id(c).map_err(|_| Problem::bad_request("cursor is not a value this API gave out"))
        })
        .transpose()?;
    let (orders, more) = checkout.store.list(before, query.limit.get()).await?;
    let next_cursor = more.then(|| orders.last().map(|o| o.id)).flatten();
    Ok(HttpResponse::Ok().json(OrderPage {
        orders,
        next_cursor,
    }))
}

/// `POST /orders/{id}/cancel`: 200 with the cancelled order; 409 when it is not confirmed
/// (a second cancel included).
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders",
    params(("id" = String, Path, format = Uuid, description = "The order id")),
    responses(
        (status = 200, description = "Cancelled; its units go back on sale", body = Order),
        (status = 400, description = "Malformed id, body, query or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order is not confirmed (e.g. already cancelled)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is down", body = Problem, content_type = "application/problem+json"),
    ))]
async fn cancel(
    checkout: web::Data<Arc<Checkout>>,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = order_id(&path)?;
    let order = checkout.cancel(id, &request_id.0).await?;
    Ok(HttpResponse::build(StatusCode::OK).json(order))
}

/// The order routes, as the gateway serves them.
#[derive(utoipa::OpenApi)]
#[openapi(paths(place, get, list, cancel))]
pub struct PublicApi;
