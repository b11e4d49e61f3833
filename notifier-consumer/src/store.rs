//! Every SQL statement of notifier-consumer: recording a batch's alerts (inside the caller's
//! transaction, which also records the events' ids) and reading the alerts back.

use deadpool_postgres::{Pool, Transaction};
use platform::postgres::DbError;
use uuid::Uuid;

use crate::domain::Notification;

/// One alert sent to one recipient, for one event.
#[derive(Debug, Clone)]
pub struct AlertRecord<'a> {
    /// Its kind.
    pub kind: &'static str,
    /// Who it went to.
    pub recipient: &'a str,
    /// The mail's subject.
    pub subject: &'a str,
    /// The mail's body.
    pub body: &'a str,
    /// The event it came from.
    pub event_id: Uuid,
    /// That event's type.
    pub event_type: &'a str,
}

/// Records alerts, in the order given (their ids follow it), with one statement.
pub async fn record_alerts(tx: &Transaction<'_>, alerts: &[AlertRecord<'_>]) -> anyhow::Result<()> {
    if alerts.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = alerts.iter().map(|a| a.kind).collect();
    let recipients: Vec<&str> = alerts.iter().map(|a| a.recipient).collect();
    let subjects: Vec<&str> = alerts.iter().map(|a| a.subject).collect();
    let bodies: Vec<&str> = alerts.iter().map(|a| a.body).collect();
    let event_ids: Vec<Uuid> = alerts.iter().map(|a| a.event_id).collect();
    let event_types: Vec<&str> = alerts.iter().map(|a| a.event_type).collect();
    let statement = tx
        .prepare_cached(
        "INSERT INTO notifications (kind, recipient, subject, body, event_id, event_type) \
         SELECT kind, recipient, subject, body, event_id, event_type FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[]) \
         WITH ORDINALITY AS a(kind, recipient, subject, body, event_id, event_type, n) ORDER BY n",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &kinds,
            &recipients,
            &subjects,
            &bodies,
            &event_ids,
            &event_types,
        ],
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
