//! Turning a batch of events into alerts, each exactly once: the alerts and the events' ids are
//! recorded in one transaction, and the mail is handed to the transport before it commits. If the commit then
//! fails the event is retried and the mail may go out twice (at least once); no alert is lost.

use deadpool_postgres::Pool;
use platform::{
    consumer::{Applied, first_deliveries},
    event::{Event, EventEnvelope},
    postgres::DbError,
};

use crate::{
    mail::{Mail, MailTransport},
    store,
};

/// One alert: its kind, subject and body.
pub struct Alert {
    /// Its kind, as listed by `GET /notifications?kind=`.
    pub kind: &'static str,
    /// The mail's subject.
    pub subject: String,
    /// The mail's body.
    pub body: String,
}

/// The alert an event leads to (`None` for events that alert nobody).
pub fn compose(event: &Event) -> Option<Alert> {
    let item = event.item_id();
    let (kind, subject, body) = match event {
        Event::LowStock(e) => (
            "low_stock",
            format!("Low stock: {item}"),
            format!(
                "Item {item} ({}) is down to {} units, below its threshold of {}. Restock it.",
                e.name, e.stock, e.threshold
            ),
        ),
        Event::OrderCreated(o) => (
            "order_confirmed",
            format!("Order {} confirmed", o.order_id),
            format!(
                "Order {} for {} x {item} was confirmed: {} {} (minor units).",
                o.order_id, o.quantity, o.total_cents, o.currency
            ),
        ),
        Event::OrderCancelled(o) => (
            "order_cancelled",
            format!("Order {} cancelled", o.order_id),
            format!(
                "Order {} for {} x {item} was cancelled ({}); its stock went back on sale.",
                o.order_id,
                o.quantity,
                o.reason.as_deref().unwrap_or("no reason given")
            ),
        ),
        Event::PriceChanged(e) => (
            "price_changed",
            format!("Price of {item} changed"),
            format!(
                "The price of {item} changed from {} to {} {} (minor units).",
                e.old.as_ref().map_or_else(
                    || "none".to_owned(),
                    |old| format!("{} {}", old.price_cents, old.currency)
                ),
                e.new.price_cents,
                e.new.currency
            ),
        ),
        Event::StockChanged(_) | Event::ItemRemoved(_) | Event::OrderRejected(_) => return None,
    };
    Some(Alert {
        kind,
        subject,
        body,
    })
}

/// Applies a batch of events in one transaction: records each one's alert for every
/// recipient and sends it, once; then commits. Events of types SIOMS does not publish alert
/// nobody; a payload that breaks its schema fails the batch (the consumer then applies its
/// events one by one, so only that one fails, and is retried, then parked as a dead letter).
pub async fn apply(
    pool: &Pool,
    transport: &dyn MailTransport,
    recipients: &[String],
    envelopes: &[EventEnvelope],
) -> anyhow::Result<Vec<Applied>> {
    let alerts = envelopes
        .iter()
        .map(|e| Ok(e.decode_known()?.as_ref().and_then(compose)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut client = pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await.map_err(DbError::from)?;
    let ids: Vec<_> = envelopes.iter().map(|e| e.event_id).collect();
    let first = first_deliveries(&tx, &ids).await?;
    let mut records = Vec::new();
    for ((envelope, alert), first) in envelopes.iter().zip(&alerts).zip(&first) {
        if let (true, Some(alert)) = (first, alert) {
            for to in recipients {
                records.push(store::AlertRecord {
                    kind: alert.kind,
                    recipient: to,
                    subject: &alert.subject,
                    body: &alert.body,
                    event_id: envelope.event_id,
                    event_type: &envelope.kind,
                });
            }
        }
    }
    store::record_alerts(&tx, &records).await?;
    for record in &records {
        transport
            .send(&Mail {
                to: record.recipient.to_owned(),
                subject: record.subject.to_owned(),
                body: record.body.to_owned(),
                kind: record.kind.to_owned(),
            })
            .await?;
        metrics::counter!("notifier_alerts_total", "kind" => record.kind).increment(1);
    }
    tx.commit().await?;
    Ok(Applied::of_batch(first))
}
