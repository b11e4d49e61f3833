//! notifier-consumer's integration tests, against the real RabbitMQ and Postgres.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod alerts;
