//! pricing-svc: each item's current price (integer minor units and a currency), its history,
//! and a `price_changed` event for every change, written through a transactional outbox.
//!
//! # Layout
//!
//! - [`config`]: environment variables.
//! - [`domain`]: prices and currencies, validated.
//! - [`store`]: Postgres (prices, history, outbox rows in one transaction).
//! - [`routes`]: `GET /price/{id}`, `GET /prices`, `GET /price/{id}/history`, `PUT /price/{id}`.
//! - `testing` (feature `testing`): the service's test app, for its tests and its callers'.
//!
//! The outbox relay is [`platform::outbox::OutboxRelay`].

pub mod config;
pub mod domain;
pub mod routes;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

use actix_web::{dev::Server, web};
use platform::{http::Readiness, outbox::OutboxRelay};
use tokio_util::sync::CancellationToken;

use crate::{config::PricingConfig, routes::AppState, store::PriceStore};

/// The service's name, taken from its crate's so that it is written once: wherever the process
/// names itself (its `main`, its start-up errors, its logs).
pub const SERVICE: &str = env!("CARGO_PKG_NAME");

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The service's database migrations (`migrations/`), embedded in the binary.
pub fn migrations() -> platform::postgres::Migrations {
    embedded::migrations::runner()
}

/// A built, bound, not yet running pricing-svc.
pub struct Application {
    port: u16,
    server: Server,
    relay: OutboxRelay,
}

impl Application {
    /// Runs the migrations, binds the listener, wires routes and relay.
    pub async fn build(config: PricingConfig) -> anyhow::Result<Self> {
        let prometheus = platform::metrics::install()?;
        let pool =
            platform::postgres::migrated_pool(&config.postgres, migrations(), SERVICE).await?;
        let relay = OutboxRelay::for_service(
            pool.clone(),
            &config.amqp,
            config.outbox_poll_interval,
            SERVICE,
        );
        let readiness = Readiness::default().postgres(pool.clone());
        let state = web::Data::new(AppState {
            store: PriceStore::new(pool),
            relay_waker: relay.waker(),
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
                    .configure(routes::register);
            },
        )?;
        Ok(Self {
            port,
            server,
            relay,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown`, then stops HTTP gracefully and lets the relay publish what the
    /// last requests committed.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        platform::run::until_stopped(
            self.server,
            shutdown,
            Vec::new(),
            platform::run::worker(move |t| self.relay.run(t)),
        )
        .await
    }
}
