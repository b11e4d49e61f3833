//! The Redis pool against the real server: a connection in steady use goes out again without a
//! PING, one that sat idle is checked first, and one Redis dropped is replaced.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use platform::{redis::Pool, testing::redis_config};

/// A pool of one connection, so every `get` hands out the same one while it lives.
fn pool_of_one() -> (Pool, redis::Client) {
    let mut config = redis_config();
    assert!(
        !config.cluster,
        "these tests watch one server's clients: run them without REDIS_CLUSTER"
    );
    config.pool_size = 1;
    let observer = redis::Client::open(config.url.as_str()).unwrap();
    (platform::redis::pool(&config).unwrap(), observer)
}

/// The pooled connection's id at the server.
async fn client_id(pool: &Pool) -> redis::RedisResult<i64> {
    let mut conn = pool.get().await.unwrap();
    redis::cmd("CLIENT").arg("ID").query_async(&mut conn).await
}

/// The last command the server ran for client `id`, as `CLIENT LIST` names it (`cmd=`).
async fn last_command(observer: &redis::Client, id: i64) -> String {
    let mut conn = observer.get_multiplexed_async_connection().await.unwrap();
    let line: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("ID")
        .arg(id)
        .query_async(&mut conn)
        .await
        .unwrap();
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("cmd="))
        .unwrap_or_else(|| panic!("no cmd= in {line:?}"))
        .to_owned()
}

#[tokio::test]
async fn a_connection_in_steady_use_goes_out_again_without_a_ping() {
    let (pool, observer) = pool_of_one();
    let id = client_id(&pool).await.unwrap();
    // Taken again at once: deadpool-redis would PING it first; this pool hands it out as it is.
    let conn = pool.get().await.unwrap();
    assert_eq!(last_command(&observer, id).await, "client|id");
    drop(conn);
    assert_eq!(client_id(&pool).await.unwrap(), id, "the same connection");
}

#[tokio::test]
async fn a_connection_that_sat_idle_is_checked_before_it_goes_out() {
    let (pool, observer) = pool_of_one();
    let id = client_id(&pool).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let conn = pool.get().await.unwrap();
    assert_eq!(last_command(&observer, id).await, "ping");
    drop(conn);
}

#[tokio::test]
async fn a_connection_redis_dropped_fails_once_and_is_then_replaced() {
    let (pool, observer) = pool_of_one();
    let id = client_id(&pool).await.unwrap();
    let mut admin = observer.get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, 1);
    // Used a moment ago and answered, so it goes out unchecked: the one command sent on it
    // fails (a caller retries it, as after any Redis restart)...
    assert!(client_id(&pool).await.is_err());
    // ...and having gone unanswered, the connection is checked, found dead and replaced.
    let replaced = client_id(&pool).await.unwrap();
    assert_ne!(replaced, id);
}
