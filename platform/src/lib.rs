//! What every SIOMS service repeats, and nothing else: no business logic lives here.
//!
//! # Layout
//!
//! - [`contract`]: value types of the public contract (item ids, quantities, order statuses).
//! - [`config`]: typed configuration read from environment variables, validated at start-up.
//! - [`telemetry`]: tracing-subscriber set-up (JSON or readable logs).
//! - [`metrics`]: the Prometheus recorder and the `/metrics` route.
//! - [`http`]: request ids, RED metrics, health routes, admin auth and the extractor error
//!   handlers that turn bad input into problem+json.
//! - [`problem`]: the one error body of every service (`application/problem+json`, RFC 9457)
//!   and every kind of problem, with its status and title.
//! - [`backend`]: [`BackendError`], why a Postgres or Redis call failed, and its 503/500.
//! - [`postgres`]: the Postgres pool and embedded migrations.
//! - [`redis`]: the Redis connection pool.
//! - [`reservation`]: the internal reservation API between order-svc and inventory-svc.
//! - [`backoff`]: the doubling pause of every loop that retries while a dependency is away.
//! - [`amqp`]: the RabbitMQ connection, the `sioms.events` topology and a confirming publisher.
//! - [`consumer`]: how every consumer reads its queue (retries, dead letters, dedupe).
//! - [`event`]: every event's typed payload, and the envelope every service publishes.
//! - [`healthcheck`]: `<service> healthcheck`, the container health check built into every binary.
//! - [`openapi`]: OpenAPI pieces every service's document shares.
//! - [`outbox`]: the transactional outbox over Postgres and its relay.
//! - [`pace`]: how fast a background walk may go.
//! - [`retention`]: deletes the rows of dedup and idempotency tables once they are old enough.
//! - [`run`]: how a service process starts and stops (its `main`, its shutdown order).
//! - [`shutdown`]: one cancellation token per process, cancelled on SIGTERM or Ctrl-C.
//! - `testing` (feature `testing`): helpers for the integration tests of every service.

pub mod amqp;
pub mod backend;
pub mod backoff;
pub mod config;
pub mod consumer;
pub mod contract;
pub mod event;
pub mod healthcheck;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod pace;
pub mod postgres;
pub mod problem;
pub mod redis;
pub mod reservation;
pub mod retention;
pub mod run;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{Backend, BackendError};
