//! Tables that only need their recent rows: [`Retention`] deletes the rows older than a
//! retention, a bounded batch at a time, in the background.
//!
//! Two tables grow with every request or event and are only read for a while after a row was
//! written: a consumer's `processed_events` (the ids it has applied, so that a redelivery is not
//! applied twice) and order-svc's `idempotency_keys` (the answer a retry with the same key
//! gets). Each names a column of the row's age, with an index on it, so a pass that finds
//! nothing to delete reads a few index pages
//! (docs/decisions/0028-retention-of-dedup-and-idempotency-rows.md).

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;

use crate::pace::Pace;

/// How often a retention pass runs.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// Rows deleted per statement: a short transaction that holds few locks.
const BATCH: u64 = 1_000;
/// Rows deleted per second at most, so a large backlog (the first pass after an upgrade, or
/// after a long stop) is deleted over time instead of all at once.
const PACE: Pace = Pace::new(std::num::NonZeroU32::new(10_000).unwrap());

/// Deletes the rows of one table whose age column is older than `keep`.
pub struct Retention {
    pool: Pool,
    table: &'static str,
    delete: String,
}

impl Retention {
    /// Keeps `table`'s rows for `keep` after `age_column`'s time; `key` is the table's primary
    /// key (one column), by which a batch is deleted. `age_column` needs an index. The
    /// retention counts in whole seconds.
    pub fn new(
        pool: Pool,
        table: &'static str,
        key: &'static str,
        age_column: &'static str,
        keep: Duration,
    ) -> Self {
        // The retention and the batch are written into the statement, not passed as
        // parameters: the planner then estimates the age condition for what it is (few rows
        // old enough) in every plan, and keeps to the index.
        let delete = format!(
            "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
             WHERE {age_column} < now() - interval '{} seconds' LIMIT {BATCH})",
            keep.as_secs()
        );
        Self {
            pool,
            table,
            delete,
        }
    }

    /// A consumer's `processed_events`, by `processed_at`.
    pub fn processed_events(pool: Pool, keep: Duration) -> Self {
        Self::new(pool, "processed_events", "event_id", "processed_at", keep)
    }

    /// Deletes every row older than the retention, a batch per statement (each on a pooled
    /// connection taken for it alone, so a long backlog never holds one); returns how many.
    pub async fn prune(&self) -> Result<u64, crate::postgres::DbError> {
        let mut deleted = 0;
        loop {
            let started = tokio::time::Instant::now();
            let client = self.pool.get().await?;
            let statement = client.prepare_cached(&self.delete).await?;
            let n = client.execute(&statement, &[]).await?;
            drop(client);
            deleted += n;
            metrics::counter!("retention_deleted_rows_total", "table" => self.table).increment(n);
            if n < BATCH {
                return Ok(deleted);
            }
            tokio::time::sleep(PACE.rest(started, BATCH)).await;
        }
    }

    /// Prunes every [`INTERVAL`] until `shutdown`. A pass that fails (Postgres away) is logged
    /// and tried again at the next interval: until then the rows simply stay.
    pub async fn run(self, shutdown: CancellationToken) {
        crate::run::every(INTERVAL, &shutdown, || async {
            match self.prune().await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(table = self.table, rows = n, "retention: deleted old rows")
                }
                Err(e) => tracing::warn!(
                    table = self.table,
                    error = format!("{e:#}"),
                    "retention: cannot delete old rows yet; will retry"
                ),
            }
        })
        .await;
    }
}
