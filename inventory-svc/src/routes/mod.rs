//! The HTTP API: the public item routes and the internal reservation routes.

pub mod items;
pub mod reservations;

use std::{sync::Arc, time::Duration};

use platform::problem::{Problem, ProblemKind};

use crate::{domain::ItemId, store::StockStore};

/// What every handler shares.
pub struct AppState {
    /// Items, stock and reservations.
    pub store: Arc<StockStore>,
    /// How long a new reservation holds its stock.
    pub reservation_hold: Duration,
}

/// An item id from the path, or a 400 naming what is wrong with it.
pub fn item_id(raw: &str) -> Result<ItemId, Problem> {
    ItemId::parse(raw).map_err(Problem::bad_request)
}

/// 404 for an item that does not exist.
pub fn unknown_item(id: &ItemId) -> Problem {
    Problem::of(
        ProblemKind::UnknownItem,
        format!("item {id} does not exist"),
    )
    .with("item_id", id.as_str())
}
