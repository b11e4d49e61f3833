//! The auditor against real Redis, Postgres and RabbitMQ: a consistent world audits clean, and
//! each kind of planted discrepancy fails the audit and is named.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod helpers;
mod planted;
mod settling;
mod world;
