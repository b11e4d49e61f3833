//! RabbitMQ: connections, the `sioms.events` topology, and a publisher that only reports success
//! once the broker has confirmed every message.
//!
//! Topology is declared idempotently every time a connection is made, so a broker that lost its
//! state (or a fresh one) is set up again on reconnect.

use std::time::Duration;

use anyhow::Context as _;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    options::{
        BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
        QueueDeclareOptions,
    },
    protocol::{AMQPErrorKind, AMQPSoftError},
    types::FieldTable,
};

use crate::{config::AmqpConfig, event::EventEnvelope};

/// How long a connection attempt may take before it counts as failed: a broker that accepts TCP
/// but never answers must not stall a relay forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the broker has to confirm a batch; past that the batch is treated as unconfirmed and
/// published again (consumers deduplicate by `event_id`).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// AMQP delivery mode 2: the broker writes the message to disk on durable queues.
const PERSISTENT: u8 = 2;

/// Opens a connection named `name` (shown in the RabbitMQ management UI).
pub async fn connect(url: &str, name: &str) -> anyhow::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, props))
        .await
        .map_err(|_| anyhow::anyhow!("no answer from RabbitMQ within {CONNECT_TIMEOUT:?}"))?
        .context("cannot connect to RabbitMQ")
}

/// Declares the events exchange: a durable topic exchange (routing key = event type), so it and
/// its bindings survive a broker restart and any consumer can bind to the types it wants.
pub async fn declare_events_exchange(channel: &Channel, exchange: &str) -> anyhow::Result<()> {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("cannot declare exchange {exchange}"))
}

/// Declares the events exchange, then a queue of this connection's own (server-named, exclusive,
/// auto-delete: gone with the connection) bound to it with `routing_key` (`#`: every event):
/// how a process follows events it needs only while it runs (a tap, a cache).
pub async fn exclusive_events_queue(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
) -> anyhow::Result<lapin::Queue> {
    declare_events_exchange(channel, exchange).await?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .context("cannot declare an exclusive queue")?;
    channel
        .queue_bind(
            queue.name().clone(),
            exchange.into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("cannot bind a queue to {exchange} with {routing_key}"))?;
    Ok(queue)
}

/// A new channel on `conn` in confirm mode: every publish on it is answered by the broker's
/// ack (it holds the message) or nack.
pub async fn confirming_channel(conn: &Connection) -> anyhow::Result<Channel> {
    let channel = conn
        .create_channel()
        .await
        .context("cannot open a channel")?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .context("cannot enable publisher confirms")?;
    Ok(channel)
}

/// Publishes envelopes to the events exchange with publisher confirms. Holds one connection and
/// makes a new one (re-declaring the exchange) after any failure; the caller decides how long to
/// back off between attempts.
pub struct ConfirmingPublisher {
    config: AmqpConfig,
    name: String,
    link: Option<(Connection, Channel)>,
}

impl ConfirmingPublisher {
    /// A publisher that connects on first use, under the connection name `name`.
    pub fn new(config: AmqpConfig, name: impl Into<String>) -> Self {
        Self {
            config,
            name: name.into(),
            link: None,
        }
    }

    /// Whether the publisher currently holds a working connection.
    pub fn is_connected(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|(conn, ch)| conn.status().connected() && ch.status().connected())
    }

    async fn channel(&mut self) -> anyhow::Result<&Channel> {
        if !self.is_connected() {
            self.link = None;
            let conn = connect(&self.config.url, &self.name).await?;
            let channel = confirming_channel(&conn).await?;
            declare_events_exchange(&channel, &self.config.exchange).await?;
            self.link = Some((conn, channel));
        }
        self.link
            .as_ref()
            .map(|(_, ch)| ch)
            .ok_or_else(|| anyhow::anyhow!("no AMQP channel"))
    }

    /// Publishes every envelope and waits until the broker has confirmed all of them. On any
    /// error the connection is dropped (so the next call reconnects) and the whole batch counts
    /// as not published: the caller keeps it and tries again later.
    pub async fn publish_all(&mut self, events: &[EventEnvelope]) -> anyhow::Result<()> {
        let result = self.try_publish_all(events).await;
        if result.is_err()
            && let Some((conn, _)) = self.link.take()
        {
            let _ = conn.close(0, "publish failed".into()).await;
        }
        result
    }

    async fn try_publish_all(&mut self, events: &[EventEnvelope]) -> anyhow::Result<()> {
        let exchange = self.config.exchange.clone();
        let channel = self.channel().await?;
        let payloads = events
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .context("cannot encode an event")?;
        let messages = events
            .iter()
            .zip(&payloads)
            .map(|(event, payload)| Outgoing {
                exchange: &exchange,
                routing_key: event.kind.as_str(),
                payload,
                properties: properties(event),
            });
        let outcomes = tokio::time::timeout(CONFIRM_TIMEOUT, publish_together(channel, messages))
            .await
            .map_err(|_| {
                anyhow::anyhow!("RabbitMQ did not confirm within {CONFIRM_TIMEOUT:?}")
            })??;
        if outcomes.iter().any(|c| matches!(c, Confirmation::Nack(_))) {
            anyhow::bail!("RabbitMQ refused (nacked) a message");
        }
        Ok(())
    }
}

/// One message to publish: where to, and what.
pub struct Outgoing<'a> {
    /// The exchange (`""`: the default exchange, which routes to the queue named by the key).
    pub exchange: &'a str,
    /// The routing key.
    pub routing_key: &'a str,
    /// The body.
    pub payload: &'a [u8],
    /// Its properties.
    pub properties: BasicProperties,
}

/// Publishes `messages` on a channel in confirm mode and returns the broker's confirmations, in
/// the messages' order, once it has confirmed (or refused) every one.
///
/// Every message is handed to lapin before any is waited for. lapin's `basic_publish` queues a
/// message's frames for its I/O thread and resolves once that thread has written them; awaited
/// one by one, each message cost a hand-over to that thread and a wake-up back, with a socket
/// write of its own. Handed over together, the thread writes a batch in a few writes and the
/// caller wakes once. The messages are queued in the order given (`try_join_all` first polls
/// its futures in order, and a publish queues its frames on its first poll).
pub async fn publish_together<'a>(
    channel: &Channel,
    messages: impl IntoIterator<Item = Outgoing<'a>>,
) -> anyhow::Result<Vec<Confirmation>> {
    let sends = messages.into_iter().map(|m| {
        channel.basic_publish(
            m.exchange.into(),
            m.routing_key.into(),
            BasicPublishOptions::default(),
            m.payload,
            m.properties,
        )
    });
    let confirms = futures::future::try_join_all(sends)
        .await
        .context("cannot publish")?;
    futures::future::try_join_all(confirms)
        .await
        .context("lost the channel while waiting for confirms")
}

/// AMQP properties of an event: `message_id` = event id (for deduplication by any consumer),
/// `type` = event type, JSON content type, persistent delivery.
pub fn properties(event: &EventEnvelope) -> BasicProperties {
    BasicProperties::default()
        .with_message_id(event.event_id.to_string().into())
        .with_type(event.kind.as_str().into())
        .with_content_type(crate::event::CONTENT_TYPE.into())
        .with_delivery_mode(PERSISTENT)
        .with_app_id(event.source.as_str().into())
        .with_timestamp(u64::try_from(event.occurred_at.timestamp()).unwrap_or_default())
}

/// Ready messages in `queue`, by a passive declare on a channel of its own (a declare of a
/// missing queue closes its channel); `None` when the queue does not exist.
pub async fn queue_depth(conn: &Connection, queue: &str) -> anyhow::Result<Option<u32>> {
    let channel = conn
        .create_channel()
        .await
        .context("cannot open a channel")?;
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    match declared {
        Ok(q) => {
            let _ = channel.close(0, "probed".into()).await;
            Ok(Some(q.message_count()))
        }
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot inspect queue {queue}"))),
    }
}

fn is_not_found(e: &lapin::Error) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p)
        if matches!(p.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)))
}
