//! Turning an event into alerts, exactly once: the alerts and the event id are recorded in one
//! transaction, and the mail is handed to the transport before it commits. If the commit then
//! fails the event is retried and the mail may go out twice (at least once); no alert is lost.

use deadpool_postgres::Pool;
use platform::{
    consumer::{Applied, first_delivery},
    event::{DecodeError, Event, EventEnvelope},
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

/// Applies `envelope`: records and sends its alert to every recipient, once. Events of types
/// SIOMS does not publish alert nobody; a payload that breaks its schema is an error (retried,
/// then parked as a dead letter).
pub async fn apply(
    pool: &Pool,
    transport: &dyn MailTransport,
    recipients: &[String],
    envelope: &EventEnvelope,
) -> anyhow::Result<Applied> {
    let alert = match envelope.decode() {
        Ok(event) => compose(&event),
        Err(DecodeError::UnknownKind(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let Some(Alert {
        kind,
        subject,
        body,
    }) = alert
    else {
        return Ok(Applied::Done);
    };
    let mut client = pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await.map_err(DbError::from)?;
    if !first_delivery(&tx, envelope.event_id).await? {
        return Ok(Applied::Duplicate);
    }
    for to in recipients {
        store::record_alert(
            &tx,
            kind,
            to,
            &subject,
            &body,
            envelope.event_id,
            &envelope.kind,
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
