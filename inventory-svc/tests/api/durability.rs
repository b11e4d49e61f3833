//! With the Redis configuration the project ships (`deploy/redis/redis.conf`, append-only file),
//! a Redis restart loses no acknowledged stock change or reservation.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::StatusCode;

use crate::helpers::{Options, assert_conserved, spawn_app_with};

/// A redis-server of our own, on a free port, with the shipped configuration.
struct OwnRedis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/redis/redis.conf")
}

impl OwnRedis {
    async fn start(port: u16, dir: &Path) -> Self {
        let bin = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&bin)
            .arg(shipped_config())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} (install it: apt-get install -y redis-server): {e}")
            });
        let up = platform::testing::eventually(Duration::from_secs(10), || async {
            redis_ping(port).await
        })
        .await;
        assert!(up, "redis-server on port {port} did not come up");
        Self {
            child: Some(child),
            port,
            dir: dir.to_owned(),
        }
    }

    /// Kills the server outright (no chance to save anything on the way out).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn restart(&mut self) {
        self.kill();
        *self = Self::start(self.port, &self.dir.clone()).await;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn redis_ping(port: u16) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else {
        return false;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .is_ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_redis_restart_loses_no_acknowledged_change() {
    let dir = std::env::temp_dir().join(platform::testing::unique_name("sioms-redis"));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut redis = OwnRedis::start(port, &dir).await;
    let app = spawn_app_with(Options {
        redis_url: Some(format!("redis://127.0.0.1:{port}")),
        ..Options::default()
    })
    .await;

    app.add_item("widget", 500, None).await;
    for i in 0..100 {
        let rid = format!("o{i}");
        assert_eq!(
            app.reserve(&rid, &[("widget", 2)]).await.status(),
            StatusCode::CREATED
        );
        if i % 2 == 0 {
            assert_eq!(
                app.settle("confirm", &rid, &[("widget", 2)]).await.status(),
                StatusCode::OK
            );
        }
    }
    assert_eq!(app.set_stock("widget", 450).await.status(), StatusCode::OK);
    let before = app.ledger("widget").await;
    assert_eq!(
        (before.stock, before.reserved, before.sold),
        (450, 100, 100)
    );

    redis.restart().await;

    // The pool reconnects on its own; the first calls after the restart may still fail fast.
    let back = platform::testing::eventually(Duration::from_secs(10), || async {
        app.client
            .get(format!("{}/ledger/widget", app.address))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert!(back, "the service did not recover after the Redis restart");
    let after = app.ledger("widget").await;
    assert_eq!(after, before, "every acknowledged change survived");
    assert_conserved(&after);

    // Holds and reservation records survived too: a retry is still recognised, a confirm works.
    assert_eq!(
        app.reserve("o1", &[("widget", 2)]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.settle("confirm", "o1", &[("widget", 2)]).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.ledger("widget").await.sold, 102);
}
