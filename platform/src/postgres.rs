//! Postgres: the connection pool (deadpool-postgres over tokio-postgres) and embedded migrations
//! (refinery), run at start-up under an advisory lock so replicas starting together take turns.

use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use tokio_postgres::NoTls;

use crate::config::{ConfigError, Env};

pub use deadpool_postgres::{Object as Client, Pool as PgPool};
pub use refinery::Runner as Migrations;

/// How long a caller waits for a pooled connection (or a new one) before failing fast.
const POOL_TIMEOUT: Duration = Duration::from_secs(2);

/// The advisory lock every service's migration run takes (any fixed number; one lock per
/// database is enough because each service has its own database).
const MIGRATION_LOCK: i64 = 0x5105_0001;

/// How to reach Postgres.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `DATABASE_URL`, e.g. `postgres://postgres@127.0.0.1:5432/sioms_orders`.
    pub url: String,
    /// `DATABASE_POOL_SIZE`: connections kept per process (default 16).
    pub pool_size: usize,
}

impl PostgresConfig {
    /// Reads the section; `default_db` names this service's database in the default URL.
    pub fn from_env(env: &Env<'_>, default_db: &str) -> Result<Self, ConfigError> {
        let url: String = env.or(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{default_db}"),
        )?;
        url.parse::<tokio_postgres::Config>()
            .map_err(|e| ConfigError::new("DATABASE_URL", format!("cannot parse: {e}")))?;
        let pool_size = env.or("DATABASE_POOL_SIZE", 16usize)?;
        if pool_size == 0 {
            return Err(ConfigError::new("DATABASE_POOL_SIZE", "must be at least 1"));
        }
        Ok(Self { url, pool_size })
    }
}

/// Builds the pool; no connection is made until the first use.
pub fn pool(config: &PostgresConfig) -> anyhow::Result<Pool> {
    let pg: tokio_postgres::Config = config.url.parse().context("DATABASE_URL")?;
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            // A cheap check that the connection still works before handing it out again.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(config.pool_size)
        .timeouts(Timeouts {
            wait: Some(POOL_TIMEOUT),
            create: Some(POOL_TIMEOUT),
            recycle: Some(POOL_TIMEOUT),
        })
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .context("cannot build the Postgres pool")
}

/// The pool of a service's database, with its migrations run (a service's first step).
pub async fn migrated_pool(
    config: &PostgresConfig,
    migrations: Migrations,
    service: &str,
) -> anyhow::Result<Pool> {
    let pool = pool(config)?;
    migrate(&pool, migrations)
        .await
        .with_context(|| format!("{service} migrations"))?;
    Ok(pool)
}

/// Runs the embedded migrations, one replica at a time.
pub async fn migrate(pool: &Pool, migrations: Migrations) -> anyhow::Result<()> {
    let mut client = pool
        .get()
        .await
        .context("cannot connect to Postgres to migrate")?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("cannot take the migration lock")?;
    let client: &mut tokio_postgres::Client = &mut client;
    let result = migrations
        .run_async(client)
        .await
        .context("migrations failed");
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .context("cannot release the migration lock")?;
    result.map(|_| ())
}

/// Why a database call failed: [`crate::BackendError`], whose unavailable variant names
/// Postgres for the calls this pool makes.
pub type DbError = crate::BackendError;

/// `SELECT 1`, for `/readyz`.
pub async fn ping(pool: &Pool) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
