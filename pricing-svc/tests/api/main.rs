//! pricing-svc's integration tests, against the real Postgres (a fresh database per test) and
//! RabbitMQ (a fresh exchange per test).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod helpers;
mod prices;
