//! The internal reservation API that order-svc calls (not routed by the gateway).
//!
//! A reservation is identified by an id the caller chooses (order-svc uses the order id) and has
//! one or more lines. Each line is one atomic script on one item; the lines of a reservation
//! take effect all or nothing: when a line fails, the lines already done are undone before the
//! answer (and, should the process die first, the holds expire by themselves). Every call is
//! idempotent by reservation id, so a caller may retry any of them.
//!
//! | route | does |
//! |---|---|
//! | `POST /reserve` | holds stock for every line until the hold deadline |
//! | `POST /reservations/{id}/confirm` | turns the holds into sales |
//! | `POST /reservations/{id}/release` | gives the holds back |
//! | `POST /reservations/{id}/cancel` | puts sold units back on sale (order cancelled) |

use std::time::Instant;

use actix_web::{HttpResponse, http::StatusCode, web};
use chrono::{DateTime, Utc};
use platform::problem::Problem;
use serde::{Deserialize, Serialize};

use super::{AppState, method_not_allowed, unknown_item};
use crate::{
    domain::{Line, ReservationId, check_lines},
    store::{HoldState, LineOutcome, StockStore, StoreError},
};

/// Registers the reservation routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/reserve")
            .route(web::post().to(reserve))
            .default_service(web::to(method_not_allowed)),
    );
    for (path, action) in [
        ("/reservations/{id}/confirm", Action::Confirm),
        ("/reservations/{id}/release", Action::Release),
        ("/reservations/{id}/cancel", Action::Cancel),
    ] {
        cfg.service(
            web::resource(path)
                .app_data(web::Data::new(action))
                .route(web::post().to(settle))
                .default_service(web::to(method_not_allowed)),
        );
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReserveRequest {
    reservation_id: ReservationId,
    lines: Vec<Line>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinesRequest {
    lines: Vec<Line>,
}

/// A reservation as answered by every route.
#[derive(Serialize)]
struct ReservationView {
    reservation_id: ReservationId,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    lines: Vec<Line>,
}

/// `POST /reserve`: 201 when the stock is now held, 200 when a retry finds it held (or already
/// confirmed); 409 when stock is short, 404 for an unknown item, 422 when the id was used with
/// other lines, 409 when the reservation was already closed.
async fn reserve(
    state: web::Data<AppState>,
    body: web::Json<ReserveRequest>,
) -> Result<HttpResponse, Problem> {
    let ReserveRequest {
        reservation_id: rid,
        lines,
    } = body.into_inner();
    check_lines(&lines).map_err(Problem::bad_request)?;
    let started = Instant::now();
    let result = reserve_all(&state.store, &rid, &lines, state.reservation_hold).await;
    metrics::histogram!("inventory_reservation_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok((_, _, true)) => "held",
        Ok((_, _, false)) => "replayed",
        Err(p) if p.status == 409 => "refused",
        Err(p) if p.status < 500 => "invalid",
        Err(_) => "failed",
    };
    metrics::counter!("inventory_reservations_total", "outcome" => outcome).increment(1);
    let (status, deadline, fresh) = result?;
    let view = ReservationView {
        reservation_id: rid,
        status: status.as_str(),
        expires_at: deadline.and_then(DateTime::from_timestamp_millis),
        lines,
    };
    Ok(if fresh {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Reserves every line or none. Returns the reservation's state, its earliest hold deadline, and
/// whether this call made the holds.
async fn reserve_all(
    store: &StockStore,
    rid: &ReservationId,
    lines: &[Line],
    hold: std::time::Duration,
) -> Result<(HoldState, Option<i64>, bool), Problem> {
    let mut deadline: Option<i64> = None;
    let mut fresh = false;
    let mut state = HoldState::Held;
    for (done, line) in lines.iter().enumerate() {
        let refusal = match store.reserve_line(rid, line, hold).await {
            Ok(LineOutcome::Recorded {
                state: s @ (HoldState::Held | HoldState::Confirmed),
                deadline_ms,
                fresh: f,
                ..
            }) if done == 0 || s == state => {
                state = s;
                fresh |= f;
                deadline = match (deadline, deadline_ms) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                continue;
            }
            Ok(outcome) => outcome_problem(rid, line, &outcome, Action::Reserve),
            Err(e) => {
                undo(store, rid, &lines[..=done], Action::Release).await;
                return Err(e.into());
            }
        };
        if state == HoldState::Held {
            undo(store, rid, &lines[..done], Action::Release).await;
        }
        return Err(refusal);
    }
    Ok((state, deadline, fresh))
}

/// What a settle route does to each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Reserve,
    Confirm,
    Release,
    Cancel,
}

impl Action {
    /// The state each line must end in for the call to succeed.
    fn goal(self) -> &'static [HoldState] {
        match self {
            Self::Reserve => &[HoldState::Held],
            Self::Confirm => &[HoldState::Confirmed],
            // A hold that expired before the release is given back all the same.
            Self::Release => &[HoldState::Released, HoldState::Expired],
            Self::Cancel => &[HoldState::Cancelled],
        }
    }

    async fn apply(
        self,
        store: &StockStore,
        rid: &ReservationId,
        line: &Line,
    ) -> Result<LineOutcome, StoreError> {
        match self {
            Self::Confirm => store.confirm_line(rid, line).await,
            Self::Release => store.release_line(rid, line).await,
            Self::Cancel => store.cancel_line(rid, line).await,
            Self::Reserve => Err(anyhow::anyhow!("reserve is not a settle action").into()),
        }
    }
}

/// Best-effort compensation of lines already done; failures are logged, and a hold that could
/// not be released expires by itself.
async fn undo(store: &StockStore, rid: &ReservationId, lines: &[Line], action: Action) {
    for line in lines {
        if let Err(e) = action.apply(store, rid, line).await {
            tracing::warn!(reservation = %rid, item = %line.item_id, error = %e,
                "could not undo a reservation line; a hold expires by itself");
        }
    }
}

/// `POST /reservations/{id}/confirm|release|cancel` with the reservation's lines.
async fn settle(
    state: web::Data<AppState>,
    action: web::Data<Action>,
    path: web::Path<String>,
    body: web::Json<LinesRequest>,
) -> Result<HttpResponse, Problem> {
    let rid = ReservationId::parse(&path).map_err(Problem::bad_request)?;
    let lines = body.into_inner().lines;
    check_lines(&lines).map_err(Problem::bad_request)?;
    let action = **action;
    let mut settled = 0;
    let mut refusal = None;
    for line in &lines {
        match action.apply(&state.store, &rid, line).await {
            Ok(LineOutcome::Recorded { state: s, .. }) if action.goal().contains(&s) => {
                settled += 1;
            }
            Ok(outcome) => {
                refusal = Some(outcome_problem(&rid, line, &outcome, action));
                break;
            }
            Err(e) => {
                refusal = Some(e.into());
                break;
            }
        }
    }
    if let Some(problem) = refusal {
        // A confirm is all or nothing: put back the lines it already turned into sales.
        if action == Action::Confirm {
            undo(&state.store, &rid, &lines[..settled], Action::Cancel).await;
        }
        return Err(problem);
    }
    let status = match action {
        Action::Confirm => "confirmed",
        Action::Release => "released",
        Action::Cancel | Action::Reserve => "cancelled",
    };
    metrics::counter!("inventory_settlements_total", "action" => status).increment(1);
    Ok(HttpResponse::Ok().json(ReservationView {
        reservation_id: rid,
        status,
        expires_at: None,
        lines,
    }))
}

/// The problem answer for a line outcome that is not what `action` needed.
fn outcome_problem(
    rid: &ReservationId,
    line: &Line,
    outcome: &LineOutcome,
    action: Action,
) -> Problem {
    let item = &line.item_id;
    match outcome {
        LineOutcome::UnknownItem => unknown_item(item),
        LineOutcome::Insufficient { available } => Problem::new(
            StatusCode::CONFLICT,
            "insufficient-stock",
            "Insufficient stock",
            format!(
                "item {item} has {available} units available; {} were asked for",
                line.quantity.get()
            ),
        )
        .with("item_id", item.as_str())
        .with("requested", line.quantity.get())
        .with("available", *available),
        LineOutcome::UnknownReservation => Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-reservation",
            "Unknown reservation",
            format!("reservation {rid} holds nothing of item {item}"),
        )
        .with("reservation_id", rid.as_str()),
        LineOutcome::Conflict { state, quantity } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reservation-mismatch",
            "Reservation mismatch",
            format!(
                "reservation {rid} is for {quantity} units of item {item} ({}), not {}",
                state.as_str(),
                line.quantity.get()
            ),
        )
        .with("reservation_id", rid.as_str()),
        LineOutcome::Recorded { state, .. } => {
            let hint = match (action, state) {
                (Action::Release, HoldState::Confirmed) => "; cancel it instead",
                (Action::Cancel, HoldState::Held) => "; release it instead",
                (Action::Confirm, HoldState::Expired) => {
                    "; its hold ran out and the stock went back on sale"
                }
                _ => "",
            };
            Problem::new(
                StatusCode::CONFLICT,
                "reservation-closed",
                "Reservation not in the right state",
                format!(
                    "reservation {rid} is {} for item {item}{hint}",
                    state.as_str()
                ),
            )
            .with("reservation_id", rid.as_str())
            .with("state", state.as_str())
        }
    }
}
