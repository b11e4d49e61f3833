//! analytics-consumer's integration tests, against the real RabbitMQ and Postgres: a fresh
//! exchange, queue and database per test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod delivery;
mod helpers;
mod reports;
