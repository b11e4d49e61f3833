//! What analytics-consumer keeps and reports: the order report of a day or a range, and the
//! low-stock report.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The order report of a range of days.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RangeReport {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// One row per day, oldest first.
    pub days: Vec<DayReport>,
}

/// `?date=` (or no query) answers one day; `?from=&to=` a range.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum OrderReport {
    /// One day.
    Day(DayReport),
    /// A range.
    Range(RangeReport),
}

/// One day of the order report.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DayReport {
    /// The UTC day.
    pub date: NaiveDate,
    /// Orders confirmed that day.
    pub confirmed: i64,
    /// Orders rejected that day.
    pub rejected: i64,
    /// Orders cancelled that day.
    pub cancelled: i64,
    /// Revenue of that day's orders that still stand, in minor units per currency.
    pub revenue: BTreeMap<String, i64>,
}

/// The low-stock report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LowStockReport {
    /// Items below their threshold, lowest stock first.
    pub items: Vec<LowItem>,
}

/// One item of the low-stock report.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LowItem {
    /// The item.
    pub item_id: String,
    /// Its name, when known.
    pub name: Option<String>,
    /// Units available, as last announced.
    pub stock: i64,
    /// Its low-stock threshold.
    pub threshold: i64,
}
