//! inventory-svc's integration tests: one binary, against the real Redis and RabbitMQ.
//!
//! Each test spawns its own application on a free port with its own Redis key prefix and its
//! own events exchange, so tests run in parallel and leave nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod concurrency;
mod durability;
mod events;
mod helpers;
mod items;
mod reservations;
mod validation;
