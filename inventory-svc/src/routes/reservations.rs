//! The internal reservation API that order-svc calls (not routed by the gateway); its types are
//! `platform::reservation`'s, and [`crate::reservations`] does the work.
//!
//! | route | does |
//! |---|---|
//! | `POST /reserve` | holds stock for every line until the hold deadline |
//! | `POST /reservations/{id}/confirm` | turns the holds into sales |
//! | `POST /reservations/{id}/release` | gives the holds back |
//! | `POST /reservations/{id}/cancel` | puts sold units back on sale (order cancelled) |
//! | `POST /reservations/confirm` (`release`, `cancel`) | the same for many reservations in one call |

use std::time::Instant;

use actix_web::{HttpResponse, web};
use chrono::DateTime;
use platform::{
    http::resource,
    problem::{Problem, ProblemKind},
    reservation::{
        Action, HoldState, Line, LinesRequest, ReservationId, ReservationView, ReserveRequest,
        SettleBatchRequest, SettleBatchView, SettleOutcome, check_batch, check_lines,
    },
};

use super::{AppState, unknown_item};
use crate::{
    reservations::{self, Refused, Reserved},
    store::LineOutcome,
};

/// Registers the reservation routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/reserve").route(web::post().to(reserve)));
    for action in Action::ALL {
        cfg.service(
            resource(format!("/reservations/{{id}}/{action}"))
                .app_data(web::Data::new(action))
                .route(web::post().to(settle)),
        );
        cfg.service(
            resource(action.batch_path())
                .app_data(web::Data::new(action))
                .route(web::post().to(settle_batch)),
        );
    }
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
    let result = reservations::reserve(&state.store, &rid, &lines, state.reservation_hold)
        .await
        .map_err(|r| refusal_problem(&rid, r, None));
    metrics::histogram!("inventory_reservation_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok(Reserved { fresh: true, .. }) => "held",
        Ok(Reserved { fresh: false, .. }) => "replayed",
        Err(p) if p.status == 409 => "refused",
        Err(p) if p.status < 500 => "invalid",
        Err(_) => "failed",
    };
    metrics::counter!("inventory_reservations_total", "outcome" => outcome).increment(1);
    let reserved = result?;
    let view = ReservationView {
        reservation_id: rid,
        status: reserved.state,
        expires_at: reserved
            .deadline_ms
            .and_then(DateTime::from_timestamp_millis),
        lines,
    };
    Ok(if reserved.fresh {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// The state a reservation settled by `action` is in, counted in `inventory_settlements_total`.
fn settled(action: Action) -> HoldState {
    let status = action.settled();
    metrics::counter!("inventory_settlements_total", "action" => status.as_str()).increment(1);
    status
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
    reservations::settle(&state.store, &rid, &lines, action)
        .await
        .map_err(|r| refusal_problem(&rid, r, Some(action)))?;
    let status = settled(action);
    Ok(HttpResponse::Ok().json(ReservationView {
        reservation_id: rid,
        status,
        expires_at: None,
        lines,
    }))
}

/// `POST /reservations/confirm|release|cancel` with many reservations: each is settled as its
/// own route would (concurrently, so their scripts share round trips to Redis), and answered
/// with its state or its problem. 200 unless the batch is malformed as a whole (400).
async fn settle_batch(
    state: web::Data<AppState>,
    action: web::Data<Action>,
    body: web::Json<SettleBatchRequest>,
) -> Result<HttpResponse, Problem> {
    let entries = body.into_inner().reservations;
    check_batch(&entries).map_err(Problem::bad_request)?;
    let action = **action;
    metrics::histogram!("inventory_settle_batch_size").record(entries.len() as f64);
    let results = futures::future::join_all(entries.into_iter().map(|entry| {
        let store = &state.store;
        async move {
            let rid = entry.reservation_id;
            match reservations::settle(store, &rid, &entry.lines, action).await {
                Ok(()) => SettleOutcome {
                    reservation_id: rid,
                    status: Some(settled(action)),
                    problem: None,
                },
                Err(refused) => {
                    let problem = refusal_problem(&rid, refused, Some(action));
                    SettleOutcome {
                        reservation_id: rid,
                        status: None,
                        problem: Some(problem),
                    }
                }
            }
        }
    }))
    .await;
    Ok(HttpResponse::Ok().json(SettleBatchView { results }))
}

/// The problem answer for a refused reserve (`action` is `None`) or settle.
fn refusal_problem(rid: &ReservationId, refused: Refused, action: Option<Action>) -> Problem {
    match refused {
        Refused::Store(e) => e.into(),
        Refused::Line { line, outcome } => outcome_problem(rid, &line, &outcome, action),
    }
}

/// The problem answer for a line outcome that is not what the call needed.
fn outcome_problem(
    rid: &ReservationId,
    line: &Line,
    outcome: &LineOutcome,
    action: Option<Action>,
) -> Problem {
    let item = &line.item_id;
    match outcome {
        LineOutcome::UnknownItem => unknown_item(item),
        LineOutcome::Insufficient { available } => Problem::of(
            ProblemKind::InsufficientStock,
            format!(
                "item {item} has {available} units available; {} were asked for",
                line.quantity.get()
            ),
        )
        .with("item_id", item.as_str())
        .with("requested", line.quantity.get())
        .with("available", *available),
        LineOutcome::UnknownReservation => Problem::of(
            ProblemKind::UnknownReservation,
            format!("reservation {rid} holds nothing of item {item}"),
        )
        .with("reservation_id", rid.as_str()),
        LineOutcome::Conflict { state, quantity } => Problem::of(
            ProblemKind::ReservationMismatch,
            format!(
                "reservation {rid} is for {quantity} units of item {item} ({}), not {}",
                state.as_str(),
                line.quantity.get()
            ),
        )
        .with("reservation_id", rid.as_str()),
        LineOutcome::Recorded { state, .. } => {
            let hint = match (action, state) {
                (Some(Action::Release), HoldState::Confirmed) => "; cancel it instead",
                (Some(Action::Cancel), HoldState::Held) => "; release it instead",
                (Some(Action::Confirm), HoldState::Expired) => {
                    "; its hold ran out and the stock went back on sale"
                }
                _ => "",
            };
            Problem::of(
                ProblemKind::ReservationClosed,
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
