//! Multi-line reservations by compensation (docs/decisions/0004): each line is one atomic script
//! on one item, and the lines of a reservation take effect all or nothing. When a line is
//! refused, the lines already done are undone before the answer; should the process die first,
//! the holds expire by themselves. Every call is idempotent by reservation id.

use platform::reservation::{Action, HoldState, Line, ReservationId};

use crate::store::{LineOutcome, StockStore, StoreError};

/// A reservation whose every line is held (or, for a retry, already confirmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// The state every line is in.
    pub state: HoldState,
    /// The earliest hold deadline (ms since the epoch), for held lines.
    pub deadline_ms: Option<i64>,
    /// Whether this call made the holds (not a retry that found them).
    pub fresh: bool,
}

/// Why a reservation call did not take effect.
#[derive(Debug)]
pub enum Refused {
    /// A line's script answered something other than what the call needed.
    Line {
        /// The line.
        line: Line,
        /// What its script found.
        outcome: LineOutcome,
    },
    /// The store failed.
    Store(StoreError),
}

/// Reserves every line or none.
pub async fn reserve(
    store: &StockStore,
    rid: &ReservationId,
    lines: &[Line],
    hold: std::time::Duration,
) -> Result<Reserved, Refused> {
    let mut reserved = Reserved {
        state: HoldState::Held,
        deadline_ms: None,
        fresh: false,
    };
    for (done, line) in lines.iter().enumerate() {
        let outcome = match store.reserve_line(rid, line, hold).await {
            Ok(LineOutcome::Recorded {
                state: s @ (HoldState::Held | HoldState::Confirmed),
                deadline_ms,
                fresh,
                ..
            }) if done == 0 || s == reserved.state => {
                reserved.state = s;
                reserved.fresh |= fresh;
                reserved.deadline_ms = match (reserved.deadline_ms, deadline_ms) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                continue;
            }
            Ok(outcome) => outcome,
            Err(e) => {
                // The failed line may have taken effect before the error: undo it too.
                undo(store, rid, &lines[..=done], Action::Release).await;
                return Err(Refused::Store(e));
            }
        };
        if reserved.state == HoldState::Held {
            undo(store, rid, &lines[..done], Action::Release).await;
        }
        return Err(Refused::Line {
            line: line.clone(),
            outcome,
        });
    }
    Ok(reserved)
}

/// Confirms, releases or cancels every line. A confirm is all or nothing: when a line is
/// refused, the lines it already turned into sales are put back.
pub async fn settle(
    store: &StockStore,
    rid: &ReservationId,
    lines: &[Line],
    action: Action,
) -> Result<(), Refused> {
    for (settled, line) in lines.iter().enumerate() {
        let refused = match apply(store, action, rid, line).await {
            Ok(LineOutcome::Recorded { state, .. }) if action.goal().contains(&state) => continue,
            Ok(outcome) => Refused::Line {
                line: line.clone(),
                outcome,
            },
            Err(e) => Refused::Store(e),
        };
        if action == Action::Confirm {
            undo(store, rid, &lines[..settled], Action::Cancel).await;
        }
        return Err(refused);
    }
    Ok(())
}

async fn apply(
    store: &StockStore,
    action: Action,
    rid: &ReservationId,
    line: &Line,
) -> Result<LineOutcome, StoreError> {
    match action {
        Action::Confirm => store.confirm_line(rid, line).await,
        Action::Release => store.release_line(rid, line).await,
        Action::Cancel => store.cancel_line(rid, line).await,
    }
}

/// Best-effort compensation of lines already done; failures are logged, and a hold that could
/// not be released expires by itself.
async fn undo(store: &StockStore, rid: &ReservationId, lines: &[Line], action: Action) {
    for line in lines {
        if let Err(e) = apply(store, action, rid, line).await {
            tracing::warn!(reservation = %rid, item = %line.item_id, error = %e,
                "could not undo a reservation line; a hold expires by itself");
        }
    }
}
