//! order-svc: takes orders, prices them at pricing-svc, reserves their stock at inventory-svc,
//! records them in Postgres with their events (transactional outbox), and cancels them.
//!
//! # Layout
//!
//! - [`config`]: environment variables.
//! - [`domain`]: orders, requests and statuses.
//! - [`clients`]: calls to pricing-svc and inventory-svc (timeouts, retries, circuit breakers).
//! - [`checkout`]: the steps of placing and cancelling an order, and what undoes what.
//! - [`price_book`]: the prices quoted lately, kept fresh by `price_changed` events.
//! - [`store`]: Postgres (orders, idempotency keys, outbox rows).
//! - [`group_commit`]: writes the orders of concurrent requests together, one statement and one
//!   commit for all of them.
//! - [`incarnation`]: this process's proof of life, so a key it claimed is taken over at once
//!   when it dies.
//! - [`confirmations`]: confirms the holds of written orders and marks them `committed`, in
//!   batches, after their answers.
//! - [`stock_sync`]: finishes confirmations and returns of stock that a request could not.
//! - [`routes`]: `POST /orders`, `GET /orders`, `GET /orders/{id}`, `POST /orders/{id}/cancel`.
//!
//! The outbox relay is [`platform::outbox::OutboxRelay`].

pub mod checkout;
pub mod clients;
pub mod config;
pub mod confirmations;
pub mod domain;
pub mod group_commit;
pub mod incarnation;
pub mod price_book;
pub mod routes;
pub mod stock_sync;
pub mod store;

use std::sync::Arc;

use actix_web::{dev::Server, web};
use platform::{http::Readiness, outbox::OutboxRelay, retention::Retention};
use tokio_util::sync::CancellationToken;

use crate::{
    checkout::Checkout,
    clients::{Dependency, InventoryClient, PricingClient},
    config::OrderConfig,
    confirmations::Confirmer,
    group_commit::Committer,
    incarnation::Incarnation,
    price_book::{PriceBook, PriceFeed},
    stock_sync::StockSync,
    store::OrderStore,
};

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

/// A built, bound, not yet running order-svc.
pub struct Application {
    port: u16,
    server: Server,
    relay: OutboxRelay,
    stock_sync: StockSync,
    confirmer: Confirmer,
    committer: Committer,
    price_feed: PriceFeed,
    incarnation: Incarnation,
    key_retention: Retention,
}

impl Application {
    /// Runs the migrations, binds the listener, wires routes, relay and stock sync.
    pub async fn build(config: OrderConfig) -> anyhow::Result<Self> {
        let prometheus = platform::metrics::install()?;
        let pool =
            platform::postgres::migrated_pool(&config.postgres, migrations(), SERVICE).await?;
        let incarnation = Incarnation::acquire(&config.postgres.url).await?;
        let relay = OutboxRelay::for_service(
            pool.clone(),
            &config.amqp,
            config.outbox_poll_interval,
            SERVICE,
        );
        let (confirmations, pending) = confirmations::channel();
        let prices = Arc::new(PriceBook::new(config.price_book_ttl));
        let price_feed = PriceFeed::new(
            prices.clone(),
            config.amqp.clone(),
            format!("{SERVICE}-price-feed"),
        );
        let key_retention = store::key_retention(pool.clone(), config.idempotency_key_retention);
        let store = OrderStore::new(pool.clone());
        let (writes, committer) = group_commit::channel(store.clone());
        let checkout = Arc::new(Checkout {
            store,
            writes,
            pricing: PricingClient(Dependency::new("pricing-svc", &config.pricing)?),
            prices,
            inventory: InventoryClient(Dependency::new("inventory-svc", &config.inventory)?),
            idempotency_wait: config.idempotency_wait,
            idempotency_stale_after: config.idempotency_stale_after,
            incarnation: incarnation.id(),
            relay_waker: relay.waker(),
            confirmations,
        });
        let confirmer = pending.worker(checkout.clone());
        let stock_sync = StockSync::new(
            checkout.clone(),
            config.stock_sync_interval,
            stock_sync::lease_for(&config.inventory),
        );
        // Ready when Postgres answers: orders cannot be recorded without it. A dependency that
        // is down makes POST /orders answer 503 quickly, which is better than no route at all.
        let readiness = Readiness::default().postgres(pool);
        let data = web::Data::new(checkout);
        let listener = platform::http::bind(&config.http)?;
        let port = listener.local_addr()?.port();
        let server = platform::http::serve(
            &config.http,
            listener,
            readiness,
            prometheus,
            move |cfg: &mut web::ServiceConfig| {
                cfg.app_data(data.clone()).configure(routes::register);
            },
        )?;
        Ok(Self {
            port,
            server,
            relay,
            stock_sync,
            confirmer,
            committer,
            price_feed,
            incarnation,
            key_retention,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown`, then stops HTTP gracefully, stops the stock sync, and lets the
    /// relay publish what the last requests committed.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        platform::run::until_stopped(
            self.server,
            shutdown,
            vec![
                platform::run::worker(move |t| self.stock_sync.run(t)),
                platform::run::worker(move |t| self.confirmer.run(t)),
                platform::run::worker(move |t| self.committer.run(t)),
                platform::run::worker(move |t| self.price_feed.run(t)),
                platform::run::worker(move |t| self.incarnation.run(t)),
                platform::run::worker(move |t| self.key_retention.run(t)),
            ],
            platform::run::worker(move |t| self.relay.run(t)),
        )
        .await
    }
}
