//! What notifier-consumer records: one alert per event and recipient.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One sent alert.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    /// Its id (increasing).
    pub id: i64,
    /// `low_stock`, `order_confirmed`, `order_cancelled` or `price_changed`.
    pub kind: String,
    /// Where it went.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Body.
    pub body: String,
    /// The event it came from.
    pub event_id: Uuid,
    /// That event's type.
    pub event_type: String,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}
