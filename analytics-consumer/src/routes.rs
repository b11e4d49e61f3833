//! The read API: `GET /report/orders`, `GET /report/low-stock`.

use actix_web::{HttpResponse, web};
use chrono::{NaiveDate, Utc};
use deadpool_postgres::Pool;
use platform::{http::resource, problem::Problem};
use serde::Deserialize;

use crate::{
    domain::{LowStockReport, OrderReport, RangeReport},
    store,
};

/// The longest range one report covers.
const MAX_DAYS: i64 = 366;

/// Registers the routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/report/orders").route(web::get().to(orders)))
        .service(resource("/report/low-stock").route(web::get().to(low_stock)));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OrdersQuery {
    /// One UTC day (default today); not with `from`/`to`.
    #[param(format = Date)]
    date: Option<String>,
    /// First day of a range (with `to`, at most 366 days).
    #[param(format = Date)]
    from: Option<String>,
    /// Last day of a range.
    #[param(format = Date)]
    to: Option<String>,
}

fn parse_day(field: &str, raw: &str) -> Result<NaiveDate, Problem> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        Problem::bad_request(format!(
            "{field} must be a date like 2026-11-21, got {raw:?}"
        ))
    })
}

/// `GET /report/orders?date=YYYY-MM-DD` (default today, UTC) → one day;
/// `?from=&to=` (inclusive, at most 366 days) → `{"days": [...]}`, one row per day.
#[utoipa::path(get, path = "/report/orders", tag = "reports", params(OrdersQuery),
    responses(
        (status = 200, description = "Counts and revenue for one day, or one row per day of a range", body = OrderReport),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
    ))]
async fn orders(
    pool: web::Data<Pool>,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, Problem> {
    let q = query.into_inner();
    let (from, to, single) = match (q.date, q.from, q.to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Problem::bad_request(
                "give either date, or from and to, not both",
            ));
        }
        (Some(d), None, None) => {
            let d = parse_day("date", &d)?;
            (d, d, true)
        }
        (None, Some(f), Some(t)) => (parse_day("from", &f)?, parse_day("to", &t)?, false),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(Problem::bad_request("a range needs both from and to"));
        }
        (None, None, None) => {
            let today = Utc::now().date_naive();
            (today, today, true)
        }
    };
    if to < from {
        return Err(Problem::bad_request("to must not be before from"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(Problem::bad_request(format!(
            "a range covers at most {MAX_DAYS} days"
        )));
    }
    let days = store::order_report(&pool, from, to).await?;
    let mut days = days;
    Ok(HttpResponse::Ok().json(if single {
        OrderReport::Day(days.remove(0))
    } else {
        OrderReport::Range(RangeReport { from, to, days })
    }))
}

/// `GET /report/low-stock`: items whose last known stock is below their threshold (restocks
/// take them off), lowest stock first.
#[utoipa::path(get, path = "/report/low-stock", tag = "reports",
    responses((status = 200, description = "Items below their threshold", body = LowStockReport)))]
async fn low_stock(pool: web::Data<Pool>) -> Result<HttpResponse, Problem> {
    let items = store::low_stock(&pool).await?;
    Ok(HttpResponse::Ok().json(LowStockReport { items }))
}

/// The report routes, as the gateway serves them.
#[derive(utoipa::OpenApi)]
#[openapi(paths(orders, low_stock))]
pub struct PublicApi;
