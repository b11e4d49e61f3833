//! Turning an event into alerts, exactly once: the alerts and the event id are recorded in one
//! transaction, and the mail is handed to the transport before it commits. If the commit then
//! fails the event is retried and the mail may go out twice (at least once); no alert is lost.

use deadpool_postgres::Pool;
use platform::{
    consumer::{Applied, first_delivery},
    event::EventEnvelope,
    postgres::DbError,
};
use serde_json::Value;

use crate::mail::{Mail, MailTransport};

/// The alert an event leads to: its kind, subject and body (or `None` for other events).
pub fn compose(event: &EventEnvelope) -> anyhow::Result<Option<(&'static str, String, String)>> {
    let d = &event.data;
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    let item = s(&d["item_id"]);
    Ok(Some(match event.kind.as_str() {
        "low_stock" => (
            "low_stock",
            format!("Low stock: {item}"),
            format!(
                "Item {item} ({}) is down to {} units, below its threshold of {}. Restock it.",
                s(&d["name"]),
                d["stock"],
                d["threshold"]
            ),
        ),
        "order_created" => (
            "order_confirmed",
            format!("Order {} confirmed", s(&d["order_id"])),
            format!(
                "Order {} for {} x {item} was confirmed: {} {} (minor units).",
                s(&d["order_id"]),
                d["quantity"],
                d["total_cents"],
                s(&d["currency"])
            ),
        ),
        "order_cancelled" => (
            "order_cancelled",
            format!("Order {} cancelled", s(&d["order_id"])),
            format!(
                "Order {} for {} x {item} was cancelled ({}); its stock went back on sale.",
                s(&d["order_id"]),
                d["quantity"],
                s(&d["reason"])
            ),
        ),
        "price_changed" => (
            "price_changed",
            format!("Price of {item} changed"),
            format!(
                "The price of {item} changed from {} to {} {} (minor units).",
                if d["old"].is_null() {
                    "none".to_owned()
                } else {
                    format!("{} {}", d["old"]["price_cents"], s(&d["old"]["currency"]))
                },
                d["new"]["price_cents"],
                s(&d["new"]["currency"])
            ),
        ),
        _ => return Ok(None),
    }))
}

/// Applies `event`: records and sends its alert to every recipient, once.
pub async fn apply(
    pool: &Pool,
    transport: &dyn MailTransport,
    recipients: &[String],
    event: &EventEnvelope,
) -> anyhow::Result<Applied> {
    let Some((kind, subject, body)) = compose(event)? else {
        return Ok(Applied::Done);
    };
    if event.data["item_id"].is_null() {
        anyhow::bail!("a {} event without item_id", event.kind);
    }
    let mut client = pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await.map_err(DbError::from)?;
    if !first_delivery(&tx, event.event_id).await? {
        return Ok(Applied::Duplicate);
    }
    for to in recipients {
        tx.execute(
            "INSERT INTO notifications (kind, recipient, subject, body, event_id, event_type) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&kind, to, &subject, &body, &event.event_id, &event.kind],
        )
        .await?;
        transport
            .send(&Mail {
                to: to.clone(),
                subject: subject.clone(),
                body: body.clone(),
                kind: kind.to_owned(),
            })
            .await?;
        metrics::counter!("notifier_alerts_total", "kind" => kind).increment(1);
    }
    tx.commit().await?;
    Ok(Applied::Done)
}
