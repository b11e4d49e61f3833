//! The read API: `GET /notifications`.

use actix_web::{HttpResponse, web};
use deadpool_postgres::Pool;
use platform::{contract::PageLimit, http::resource, problem::Problem};
use serde::{Deserialize, Serialize};

use crate::{domain::Notification, store};

/// The kinds of alert, for the `kind` filter.
pub const KINDS: &[&str] = &[
    "low_stock",
    "order_confirmed",
    "order_cancelled",
    "price_changed",
];

/// Registers the routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/notifications").route(web::get().to(list)));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Alerts per page (1–200).
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: PageLimit,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only this kind: low_stock, order_confirmed, order_cancelled, price_changed.
    kind: Option<String>,
}

/// One page of alerts, newest first.
#[derive(Serialize, utoipa::ToSchema)]
struct NotificationPage {
    notifications: Vec<Notification>,
    next_cursor: Option<String>,
}

/// `GET /notifications?limit=&cursor=&kind=`: newest first.
#[utoipa::path(get, path = "/notifications", tag = "notifications", params(ListQuery),
    responses(
        (status = 200, description = "A page of alerts, newest first", body = NotificationPage),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    pool: web::Data<Pool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let q = query.into_inner();
    if let Some(kind) = &q.kind
        && !KINDS.contains(&kind.as_str())
    {
        return Err(Problem::bad_request(format!(
            "kind must be one of {}, got {kind:?}",
            KINDS.join(", ")
        )));
    }
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| Problem::bad_request("cursor is not a value this API gave out"))
        })
        .transpose()?;
    let limit = q.limit.get();
    // One more than asked, to tell whether another page follows.
    let mut items = store::notifications(&pool, before, q.kind.as_deref(), limit + 1).await?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = more
        .then(|| items.last().map(|n| n.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "notifications": items, "next_cursor": next_cursor })))
}

/// The notification routes, as the gateway serves them.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list))]
pub struct PublicApi;
