//! Postgres for tests: [`TestDatabase`], a fresh database per test, migrated, and dropped
//! (with `FORCE`, so lingering connections do not keep it) when the test ends.

use super::block_on_fresh_thread;
use crate::config::{Env, ProcessEnv};

/// A fresh database for one test, migrated, and dropped when the value is dropped.
pub struct TestDatabase {
    /// Its connection settings.
    pub config: crate::postgres::PostgresConfig,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates `test_<uuid>` on the server of `DATABASE_URL` (default: this machine's) and
    /// runs `migrations` in it.
    pub async fn create(migrations: crate::postgres::Migrations) -> Self {
        let base = crate::postgres::PostgresConfig::from_env(&Env::new(&ProcessEnv), "postgres")
            .expect("DATABASE_URL");
        let mut admin: tokio_postgres::Config = base.url.parse().unwrap();
        admin.dbname("postgres");
        let admin_url = url_with_db(&base.url, "postgres");
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let (client, conn) = admin
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("Postgres is not reachable at {} ({e}). Start it with: pg_ctlcluster <version> main start (Debian: apt-get install -y postgresql)", base.url));
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let config = crate::postgres::PostgresConfig {
            url: url_with_db(&base.url, &name),
            pool_size: 8,
        };
        let pool = crate::postgres::pool(&config).unwrap();
        crate::postgres::migrate(&pool, migrations).await.unwrap();
        pool.close();
        Self {
            config,
            admin_url,
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        block_on_fresh_thread(async move {
            let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await
            else {
                return;
            };
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        });
    }
}

/// The same Postgres URL naming another database.
fn url_with_db(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}
