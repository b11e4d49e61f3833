//! inventory-svc: the catalog's items and their stock, and the atomic reservations that keep
//! SIOMS from ever selling stock it does not have.
//!
//! # Layout
//!
//! - [`config`]: environment variables, validated at start-up.
//! - [`domain`]: ids, quantities and the other validated values of the API.
//! - [`store`]: Redis keys and the Lua scripts of `lua/` (the only code that touches Redis).
//! - [`reservations`]: multi-line reservations, all or nothing by compensation.
//! - [`routes`]: the HTTP API (public item routes, internal reservation routes).
//! - [`relay`]: publishes the events the scripts decided to RabbitMQ (transactional outbox).
//! - [`reaper`]: gives back the stock of expired holds.
//! - `testing` (feature `testing`): the service's test app, for its tests and its callers'.
//!
//! [`Application::build`] binds the listener and wires everything; [`Application::run_until_stopped`]
//! serves until the shutdown token is cancelled, then drains in order: HTTP first (in-flight
//! requests finish), then the reaper, then the relay (which publishes what those requests
//! decided).

pub mod config;
pub mod domain;
pub mod reaper;
pub mod relay;
pub mod reservations;
pub mod routes;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use actix_web::{dev::Server, web};
use platform::{amqp::ConfirmingPublisher, http::Readiness};
use tokio_util::sync::CancellationToken;

use crate::{
    config::InventoryConfig,
    reaper::HoldReaper,
    relay::OutboxRelay,
    routes::AppState,
    store::{OutboxSignal, StockStore, StoreSettings},
};

/// The service's name, taken from its crate's so that it is written once: wherever the process
/// names itself (its `main`, its start-up errors, its logs).
pub const SERVICE: &str = env!("CARGO_PKG_NAME");

/// A built, bound, not yet running inventory-svc.
pub struct Application {
    port: u16,
    server: Server,
    relay: OutboxRelay,
    reaper: HoldReaper,
}

impl Application {
    /// Connects nothing yet (pools connect lazily), binds the listener, and wires the routes,
    /// the relay and the reaper.
    pub async fn build(config: InventoryConfig) -> anyhow::Result<Self> {
        let prometheus = platform::metrics::install()?;
        let pool = platform::redis::pool(&config.redis)?;
        let signal = OutboxSignal::default();
        let store = Arc::new(StockStore::new(
            pool,
            StoreSettings {
                key_prefix: config.redis.key_prefix.clone(),
                record_retention: config.record_retention,
                default_stock: config.default_stock,
                default_threshold: config.default_threshold,
                command_timeout: config.redis_command_timeout,
            },
            Some(signal.clone()),
        ));
        let relay = OutboxRelay::new(
            store.clone(),
            ConfirmingPublisher::new(config.amqp.clone(), format!("{SERVICE} relay")),
            signal,
            config.outbox_sweep_interval,
            config.outbox_sweep_rate,
        );
        let reaper = HoldReaper::new(store.clone(), config.reaper_interval, config.reaper_rate);

        // Readiness is Redis only: without it nothing works, while a broker outage only delays
        // events, which wait in the outbox streams.
        let readiness = Readiness::default().redis(store.pool().clone());

        let state = web::Data::new(AppState {
            store,
            reservation_hold: config.reservation_hold,
        });
        let admin = web::Data::new(config.admin_token.clone());
        let listener = platform::http::bind(&config.http)?;
        let port = listener.local_addr()?.port();
        let server = platform::http::serve(
            &config.http,
            listener,
            readiness,
            prometheus,
            move |cfg: &mut web::ServiceConfig| {
                cfg.app_data(state.clone())
                    .app_data(admin.clone())
                    .configure(routes::items::register)
                    .configure(routes::reservations::register);
            },
        )?;

        Ok(Self {
            port,
            server,
            relay,
            reaper,
        })
    }

    /// The port the listener is bound to (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled, then stops gracefully: in-flight requests finish,
    /// and the events they decided are published before this returns (bounded).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        platform::run::until_stopped(
            self.server,
            shutdown,
            vec![platform::run::worker(move |t| self.reaper.run(t))],
            platform::run::worker(move |t| self.relay.run(t)),
        )
        .await
    }
}
