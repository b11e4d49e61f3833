//! sioms-chaos: the fault suite behind `make chaos`. It drives a load of careful clients
//! through the gateway of a running stack, injects one fault after another (processes killed,
//! broker, Postgres and Redis connections dropped, the broker and Redis restarted), and after
//! each one checks what the clients were told and runs the auditor (`scripts/audit.sh`) at
//! rest. `scripts/chaos.sh` starts the stack it runs against and removes it afterwards;
//! `chaos/README.md` says what is injected, how, and how to read the table.
//!
//! # Layout
//!
//! - [`config`]: the `CHAOS_*` settings (clients, rate, durations, which faults).
//! - [`stack`]: the stack under test: its addresses (`scripts/stack.sh env`), pids,
//!   `scripts/stack.sh up`, whether it is at rest, the auditor.
//! - [`shop`]: one attempt of each gateway call.
//! - [`client`]: the careful client: retries with the same key and body, and what each key saw.
//! - [`load`]: the catalog (limited stock) and many careful clients at a paced rate.
//! - [`fault`]: the faults and how each is injected.
//! - [`checks`]: the client-view checks.
//! - [`report`]: the table.
//! - [`suite`]: the course of a run, row by row.

pub mod checks;
pub mod client;
pub mod config;
pub mod fault;
pub mod load;
pub mod report;
pub mod shop;
pub mod stack;
pub mod suite;
