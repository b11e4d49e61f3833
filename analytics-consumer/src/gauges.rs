//! Gauges read from the aggregates on a timer: `analytics_items_below_threshold`, the number of
//! items whose last known stock is below their threshold (what `/report/low-stock` lists).
//! A partial index keeps the count to the low items alone.

use std::time::Duration;

use deadpool_postgres::Pool;
use platform::postgres::DbError;
use tokio_util::sync::CancellationToken;

use crate::store;

/// How often the gauges are refreshed: well inside a 15 s scrape interval.
pub const REFRESH: Duration = Duration::from_secs(5);

/// Refreshes the gauges every [`REFRESH`] until `stop`.
pub async fn run(pool: Pool, stop: CancellationToken) {
    platform::run::every(REFRESH, &stop, || async {
        match items_below_threshold(&pool).await {
            Ok(n) => metrics::gauge!("analytics_items_below_threshold").set(n as f64),
            Err(e) => tracing::warn!(error = %e, "cannot count the items below their threshold"),
        }
    })
    .await;
}

/// How many items are below their threshold now.
pub async fn items_below_threshold(pool: &Pool) -> Result<i64, DbError> {
    store::items_below_threshold(pool).await
}
