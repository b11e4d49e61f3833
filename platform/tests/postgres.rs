//! The Postgres foundation against the real server: a fresh database per test, migrations run
//! once even when replicas race, and the database is gone afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use platform::{outbox, postgres, testing::TestDatabase};

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

#[tokio::test]
async fn the_outbox_backlog_spans_the_waiting_ids_and_is_zero_when_empty() {
    let db = TestDatabase::create(embedded::migrations::runner()).await;
    let pool = postgres::pool(&db.config).unwrap();
    let client = pool.get().await.unwrap();
    // The table every service's migrations create (platform::outbox's documentation).
    client
        .batch_execute(
            "CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL UNIQUE, \
             kind TEXT NOT NULL, occurred_at TIMESTAMPTZ NOT NULL, source TEXT NOT NULL, \
             data JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
    let empty = outbox::backlog(&pool).await.unwrap();
    assert_eq!((empty.events, empty.oldest_age_seconds), (0, 0.0));

    // 1,000 rows, the oldest written a minute ago.
    client
        .batch_execute(
            "INSERT INTO outbox (event_id, kind, occurred_at, source, data, created_at) \
             SELECT gen_random_uuid(), 'order_created', now(), 'test', '{}', \
                    now() - make_interval(secs => 60 - n * 0.01) \
             FROM generate_series(0, 999) AS n",
        )
        .await
        .unwrap();
    let full = outbox::backlog(&pool).await.unwrap();
    assert_eq!(full.events, 1000);
    assert!(
        (59.0..120.0).contains(&full.oldest_age_seconds),
        "oldest waited {}s",
        full.oldest_age_seconds
    );

    // A relay publishes the oldest 400 (rows leave in id order).
    client
        .batch_execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT 400)",
        )
        .await
        .unwrap();
    let left = outbox::backlog(&pool).await.unwrap();
    assert_eq!(left.events, 600);
    assert!(
        left.oldest_age_seconds < full.oldest_age_seconds - 3.0,
        "the oldest is now younger: {} then {}",
        full.oldest_age_seconds,
        left.oldest_age_seconds
    );

    client.batch_execute("DELETE FROM outbox").await.unwrap();
    assert_eq!(outbox::backlog(&pool).await.unwrap().events, 0);
}
