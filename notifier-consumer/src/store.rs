//! Every SQL statement of notifier-consumer: recording an alert (inside the caller's
//! transaction, which also records the event id) and reading the alerts back.

use deadpool_postgres::{Pool, Transaction};
use platform::postgres::DbError;
use uuid::Uuid;

use crate::domain::Notification;

/// Records one alert sent to `recipient`, for the event `event_id` of type `event_type`.
pub async fn record_alert(
    tx: &Transaction<'_>,
    kind: &str,
    recipient: &str,
    subject: &str,
    body: &str,
    event_id: Uuid,
    event_type: &str,
) -> anyhow::Result<()> {
    tx.execute(
        "INSERT INTO notifications (kind, recipient, subject, body, event_id, event_type) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&kind, &recipient, &subject, &body, &event_id, &event_type],
    )
    .await?;
    Ok(())
}

/// Up to `limit` alerts with ids below `before` (all when `None`) and of `kind` (any when
/// `None`), newest first.
pub async fn notifications(
    pool: &Pool,
    before: Option<i64>,
    kind: Option<&str>,
    limit: usize,
) -> Result<Vec<Notification>, DbError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id, kind, recipient, subject, body, event_id, event_type, created_at FROM notifications \
             WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR kind = $2) \
             ORDER BY id DESC LIMIT $3",
            &[&before, &kind, &i64::try_from(limit).unwrap_or(i64::MAX)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Notification {
            id: r.get(0),
            kind: r.get(1),
            recipient: r.get(2),
            subject: r.get(3),
            body: r.get(4),
            event_id: r.get(5),
            event_type: r.get(6),
            created_at: r.get(7),
        })
        .collect())
}
