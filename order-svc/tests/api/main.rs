//! order-svc's integration tests. Each test runs the real inventory-svc, pricing-svc and
//! order-svc in-process, on a fresh Redis key prefix, fresh databases and a fresh exchange.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod faults;
mod flash_sale;
mod group_commit;
mod helpers;
mod idempotency;
mod orders;
mod price_book;
mod stock_sync;
mod validation;
