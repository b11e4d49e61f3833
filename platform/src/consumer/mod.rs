//! `EventConsumer`: the way every SIOMS consumer reads its own durable queue on `sioms.events`.
//!
//! # Topology (declared idempotently on every (re)connection)
//!
//! For a consumer whose queue is `Q`:
//!
//! | name | what |
//! |---|---|
//! | `Q` | the work queue, durable, bound to the events exchange with the consumer's routing keys |
//! | `Q.retry.1` … `Q.retry.N` | durable holding queues, one per retry level, each with a fixed `x-message-ttl` (the level's delay) and `x-dead-letter-routing-key = Q`, so an expired message goes back to `Q` through the default exchange |
//! | `Q.dead` | durable parking queue for messages that failed every attempt; nothing consumes it |
//!
//! One TTL per holding queue (rather than per-message TTLs in one queue) keeps expiry in FIFO
//! order: RabbitMQ only expires messages at the head of a queue.
//!
//! # Delivery
//!
//! - Bounded prefetch (`basic.qos`), up to `concurrency` handler calls at once, each taking the
//!   deliveries already in hand, up to `batch` of them, and applying them in one transaction: a
//!   trickle is applied one event at a time, a backlog a batch at a time (one commit for many).
//! - Manual ack only after the handler returned `Ok`, i.e. after its effect committed: one frame
//!   (`multiple`) per run of settled deliveries, never covering one still being applied. The
//!   handler records the `event_id`s in the same transaction ([`first_deliveries`]), so a
//!   redelivered or duplicated event takes effect once, whether it comes in another batch or the
//!   same one.
//! - When a batch fails as a whole, its events are applied again one by one, so a poison event
//!   (or a deadlock with a concurrent batch) costs only itself.
//! - A failure (the body does not decode, or the handler fails) republishes the message to the
//!   next retry level, with an `x-attempt` header, and acks the original only once the broker
//!   confirmed the copy; after the last level it goes to `Q.dead` with `x-last-error`. A poison
//!   message never holds up the messages behind it.
//! - When the broker goes away, the consumer reconnects with backoff (doubling to 5 s) and
//!   re-declares the topology; [`EventConsumer::ready`] is false meanwhile. Unacked messages
//!   are redelivered by the broker; acks that fail after a reconnect are only logged.
//! - On shutdown it stops taking deliveries, lets the handlers in hand finish and ack, and closes.
//!
//! # Layout
//!
//! Everything public is re-exported here, so callers name `platform::consumer::X` whatever
//! file it lives in:
//!
//! - `settings`: what a consumer reads from the environment ([`ConsumerSettings`]).
//! - `topology`: the queues above, declared idempotently ([`declare_topology`]), and their
//!   depth gauges.
//! - `acks`: the acks of one channel, a frame per run of settled deliveries.
//! - `delivery`: handling a batch of deliveries: the [`Handler`], the acks, the retry or the
//!   parking of each that failed.
//! - `service`: the consumer loop that reconnects ([`EventConsumer`]) and the consumer
//!   process around it ([`ConsumerService`]).

mod acks;
mod delivery;
mod service;
mod settings;
mod topology;

pub use delivery::{ATTEMPT_HEADER, Applied, Handler, LAST_ERROR_HEADER, first_deliveries};
pub use service::{ConsumerService, EventConsumer};
pub use settings::{ConsumerSettings, QueueType};
pub use topology::{declare_topology, topology_queues};
