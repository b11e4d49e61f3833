//! The Postgres foundation against the real server: a fresh database per test, migrations run
//! once even when replicas race, and the database is gone afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use platform::{postgres, testing::TestDatabase};

mod embedded {
    refinery::embed_migrations!("tests/migrations");
}

#[tokio::test]
async fn migrations_run_once_even_when_replicas_start_together() {
    let db = TestDatabase::create(embedded::migrations::runner()).await;
    let pool = postgres::pool(&db.config).unwrap();
    // Three "replicas" migrating at once: the advisory lock makes them take turns, and refinery
    // sees the migration applied already.
    let runs = (0..3).map(|_| postgres::migrate(&pool, embedded::migrations::runner()));
    for result in futures::future::join_all(runs).await {
        result.unwrap();
    }
    let client = pool.get().await.unwrap();
    client
        .execute("INSERT INTO notes (body) VALUES ($1)", &[&"hello"])
        .await
        .unwrap();
    let applied: i64 = client
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, 1);
    assert!(postgres::ping(&pool).await.is_ok());
}

#[tokio::test]
async fn a_test_database_is_dropped_with_its_value() {
    let db = TestDatabase::create(embedded::migrations::runner()).await;
    let name = db.config.url.rsplit('/').next().unwrap().to_owned();
    drop(db);
    let server = platform::config::ProcessEnv;
    let admin =
        postgres::PostgresConfig::from_env(&platform::config::Env::new(&server), "postgres")
            .unwrap();
    let mut admin: tokio_postgres::Config = admin.url.parse().unwrap();
    admin.dbname("postgres");
    let (client, conn) = admin.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_connection_terminated_by_the_server_is_a_passing_failure_not_a_bug() {
    let db = TestDatabase::create(embedded::migrations::runner()).await;
    let pool = postgres::pool(&db.config).unwrap();
    let victim = pool.get().await.unwrap();
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    // What an operator (or the fault suite) does, while a statement runs: pg_terminate_backend,
    // and the statement fails with SQLSTATE 57P01 (admin_shutdown).
    let running = tokio::spawn(async move { victim.query_one("SELECT pg_sleep(10)", &[]).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let admin = pool.get().await.unwrap();
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let err = running.await.unwrap().unwrap_err();
    assert_eq!(
        err.code().map(|c| c.code()),
        Some("57P01"),
        "the server's own reason: {err:?}"
    );
    let db_err = postgres::DbError::from(err);
    assert!(
        matches!(db_err, postgres::DbError::Unavailable(_)),
        "{db_err:?}"
    );
    // A 503 for the client, who may retry, never a 500.
    let problem = platform::problem::Problem::from(db_err);
    assert_eq!(problem.status, 503);
}
