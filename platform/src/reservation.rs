//! The internal reservation API between order-svc and inventory-svc: its request and answer
//! types and the actions that settle a reservation, shared so the two sides cannot drift.
//!
//! | route | body | does |
//! |---|---|---|
//! | `POST /reserve` | [`ReserveRequest`] | holds stock for every line until the hold deadline |
//! | `POST /reservations/{id}/confirm` | [`LinesRequest`] | turns the holds into sales |
//! | `POST /reservations/{id}/release` | [`LinesRequest`] | gives the holds back |
//! | `POST /reservations/{id}/cancel` | [`LinesRequest`] | puts sold units back on sale |
//! | `POST /reservations/confirm` (`release`, `cancel`) | [`SettleBatchRequest`] | settles many reservations alike in one call |
//!
//! Every route answers a [`ReservationView`], or a problem of a [`ProblemKind`]
//! (`insufficient-stock`, `unknown-item`, `unknown-reservation`, `reservation-mismatch`,
//! `reservation-closed`, `invalid-request`). A batch answers a [`SettleBatchView`]: for each
//! reservation, in the request's order, the state it was settled in or the problem its own
//! route would have answered; a batch that is malformed as a whole is one `invalid-request`.
//!
//! [`ProblemKind`]: crate::problem::ProblemKind

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, de};

use crate::contract::{ItemId, Quantity, check_token};

/// The most lines one reservation may have.
pub const MAX_LINES: usize = 100;

/// A reservation id chosen by the caller (order-svc uses the order's UUID): 1–128 characters
/// of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ReservationId(String);

impl ReservationId {
    /// Validates a reservation id.
    pub fn parse(raw: &str) -> Result<Self, String> {
        check_token(raw, 128, "reservation id")?;
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ReservationId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(de::Error::custom)
    }
}

impl From<uuid::Uuid> for ReservationId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id.to_string())
    }
}

/// One line of a reservation: so many units of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// The item.
    #[serde(alias = "item")]
    pub item_id: ItemId,
    /// How many units.
    pub quantity: Quantity,
}

/// Checks the lines of a reservation: 1 to [`MAX_LINES`], each item at most once (one hold per
/// item and reservation keeps retries unambiguous).
pub fn check_lines(lines: &[Line]) -> Result<(), String> {
    if lines.is_empty() {
        return Err("lines must hold at least one line".to_owned());
    }
    if lines.len() > MAX_LINES {
        return Err(format!(
            "lines has {} entries; at most {MAX_LINES} are allowed",
            lines.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for line in lines {
        if !seen.insert(&line.item_id) {
            return Err(format!(
                "item {} appears in more than one line; put its whole quantity in one line",
                line.item_id
            ));
        }
    }
    Ok(())
}

/// The body of `POST /reserve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    /// The caller's id for the reservation; a retry with the same id and lines is a no-op.
    pub reservation_id: ReservationId,
    /// What to hold.
    pub lines: Vec<Line>,
}

/// The body of `POST /reservations/{id}/{action}`: the reservation's lines, as reserved.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinesRequest {
    /// The lines to settle.
    pub lines: Vec<Line>,
}

/// The most reservations one batch settle may carry (a batch of one-line reservations with
/// UUID ids and the longest item ids stays under 36 KB, within every service's 64 KB body
/// limit, `crate::http::MAX_JSON_BODY`).
pub const MAX_BATCH: usize = 200;

/// One reservation in a batch settle: its id and its lines, as reserved.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleEntry {
    /// The reservation.
    pub reservation_id: ReservationId,
    /// Its lines.
    pub lines: Vec<Line>,
}

/// The body of `POST /reservations/{action}`: reservations settled alike, each on its own (one
/// refused reservation does not hold back the others).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleBatchRequest {
    /// 1 to [`MAX_BATCH`] reservations.
    pub reservations: Vec<SettleEntry>,
}

/// Checks a batch: 1 to [`MAX_BATCH`] reservations, each with valid lines ([`check_lines`]).
pub fn check_batch(entries: &[SettleEntry]) -> Result<(), String> {
    if entries.is_empty() {
        return Err("reservations must hold at least one reservation".to_owned());
    }
    if entries.len() > MAX_BATCH {
        return Err(format!(
            "reservations has {} entries; at most {MAX_BATCH} are allowed",
            entries.len()
        ));
    }
    for entry in entries {
        check_lines(&entry.lines)
            .map_err(|e| format!("reservation {}: {e}", entry.reservation_id))?;
    }
    Ok(())
}

/// What a batch settle did to one reservation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettleOutcome {
    /// The reservation.
    pub reservation_id: ReservationId,
    /// The state it is in now, when the action took effect (or had already).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<HoldState>,
    /// Otherwise the problem its own route would have answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<crate::problem::Problem>,
}

/// The answer to a batch settle: one outcome per reservation, in the request's order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettleBatchView {
    /// The outcomes.
    pub results: Vec<SettleOutcome>,
}

/// Where one line of a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// Units are held until the deadline.
    Held,
    /// The hold became a sale.
    Confirmed,
    /// The hold was given back by the caller.
    Released,
    /// The hold passed its deadline and its units went back on sale.
    Expired,
    /// The sale was cancelled and its units went back on sale.
    Cancelled,
}

impl HoldState {
    /// From its name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "held" => Self::Held,
            "confirmed" => Self::Confirmed,
            "released" => Self::Released,
            "expired" => Self::Expired,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// The state's name, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::Released => "released",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A reservation as every route answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReservationView {
    /// Its id.
    pub reservation_id: ReservationId,
    /// Where it stands after the call.
    pub status: HoldState,
    /// When the holds run out (for held reservations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Its lines.
    pub lines: Vec<Line>,
}

/// What a settle call does to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Turn the holds into sales.
    Confirm,
    /// Give the holds back.
    Release,
    /// Put sold units back on sale (the order was cancelled).
    Cancel,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 3] = [Self::Confirm, Self::Release, Self::Cancel];

    /// Its name: the last segment of its route.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Release => "release",
            Self::Cancel => "cancel",
        }
    }

    /// The route of this action on a reservation.
    pub fn path(self, reservation: &ReservationId) -> String {
        format!("/reservations/{reservation}/{}", self.as_str())
    }

    /// The route of this action on a batch of reservations.
    pub fn batch_path(self) -> String {
        format!("/reservations/{}", self.as_str())
    }

    /// The states a line may end in for the action to have succeeded.
    pub fn goal(self) -> &'static [HoldState] {
        match self {
            Self::Confirm => &[HoldState::Confirmed],
            // A hold that expired before the release is given back all the same.
            Self::Release => &[HoldState::Released, HoldState::Expired],
            Self::Cancel => &[HoldState::Cancelled],
        }
    }

    /// The state a settled reservation is reported in.
    pub fn settled(self) -> HoldState {
        match self {
            Self::Confirm => HoldState::Confirmed,
            Self::Release => HoldState::Released,
            Self::Cancel => HoldState::Cancelled,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_must_name_each_item_once() {
        let line = |id: &str| Line {
            item_id: ItemId::parse(id).unwrap(),
            quantity: Quantity::new(1).unwrap(),
        };
        assert!(check_lines(&[line("a"), line("b")]).is_ok());
        assert!(check_lines(&[line("a"), line("a")]).is_err());
        assert!(check_lines(&[]).is_err());
    }

    #[test]
    fn a_batch_holds_one_to_max_batch_reservations_with_valid_lines() {
        let entry = |id: &str, items: &[&str]| SettleEntry {
            reservation_id: ReservationId::parse(id).unwrap(),
            lines: items
                .iter()
                .map(|i| Line {
                    item_id: ItemId::parse(i).unwrap(),
                    quantity: Quantity::new(1).unwrap(),
                })
                .collect(),
        };
        assert!(check_batch(&[entry("r1", &["a"]), entry("r2", &["a", "b"])]).is_ok());
        assert!(check_batch(&[]).is_err());
        let too_many = vec![entry("r", &["a"]); MAX_BATCH + 1];
        assert!(check_batch(&too_many).unwrap_err().contains("at most"));
        let bad = check_batch(&[entry("r1", &["a"]), entry("r2", &["a", "a"])]).unwrap_err();
        assert!(bad.starts_with("reservation r2:"), "{bad}");
    }

    #[test]
    fn every_state_reads_back_from_its_name() {
        for s in [
            HoldState::Held,
            HoldState::Confirmed,
            HoldState::Released,
            HoldState::Expired,
            HoldState::Cancelled,
        ] {
            assert_eq!(HoldState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
