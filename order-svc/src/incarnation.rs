//! `Incarnation`: this process's proof of life, as every replica can see it in Postgres.
//!
//! At start the process picks a random number and takes a session-level advisory lock on it,
//! on a connection of its own. An `Idempotency-Key` it claims records that number. A retry
//! that finds the key still in flight tries the same lock (`pg_try_advisory_xact_lock`): while
//! the owner lives the lock is taken and the retry waits for the owner's answer; once the
//! owner is gone (killed, crashed, its host lost) Postgres has dropped its session and the lock
//! with it, so the retry takes the key over at once.
//!
//! A lost lock connection (Postgres restarted, the connection terminated) is re-made at once,
//! but for a moment a live owner looks dead. That is safe: a request only finishes a key it
//! still owns (see [`crate::store`]), so a request whose key was taken over writes nothing and
//! gives back its hold, and the retry's answer is the one that counts.

use std::time::Duration;

use anyhow::Context as _;
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;

/// How long to wait between attempts to re-take the lock.
const RETRY: Duration = Duration::from_millis(250);

/// This process's incarnation: its number, and the connection holding its lock.
pub struct Incarnation {
    id: i64,
    config: tokio_postgres::Config,
    held: tokio::task::JoinHandle<()>,
}

/// How long to try for the lock: longer than Postgres takes to tear down our previous session.
const LOCK_PATIENCE: Duration = Duration::from_secs(10);

/// Connects and takes the lock on `id`; the returned task holds the session, and ends when the
/// connection does.
async fn hold(
    config: &tokio_postgres::Config,
    id: i64,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .context("cannot connect to Postgres")?;
    let connection = tokio::spawn(connection);
    // The random number is this process's alone, so the lock is free unless our own previous
    // session is still being torn down: then it frees itself within moments.
    let deadline = tokio::time::Instant::now() + LOCK_PATIENCE;
    loop {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&id])
            .await
            .context("cannot take the incarnation lock")?
            .get(0);
        if locked {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "another session holds the lock of incarnation {id}"
        );
        tokio::time::sleep(RETRY).await;
    }
    Ok(tokio::spawn(async move {
        // The session (and the lock) lasts as long as its client.
        let _session = client;
        if let Ok(Err(e)) = connection.await {
            tracing::warn!(error = %e, "the incarnation's connection to Postgres ended");
        }
    }))
}

impl Incarnation {
    /// Takes the lock of a fresh random incarnation number on its own connection to `url`.
    pub async fn acquire(url: &str) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config = url.parse().context("DATABASE_URL")?;
        // A host that vanishes without closing the connection is noticed too.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
        let id = uuid::Uuid::new_v4().as_u64_pair().0.cast_signed();
        let held = hold(&config, id).await?;
        tracing::info!(incarnation = id, "holding this process's incarnation lock");
        Ok(Self { id, config, held })
    }

    /// The number claims record.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Keeps the lock until `shutdown`, taking it again whenever its connection is lost.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = &mut self.held => {}
            }
            metrics::counter!("order_incarnation_lock_lost_total").increment(1);
            loop {
                if shutdown.is_cancelled() {
                    return;
                }
                match hold(&self.config, self.id).await {
                    Ok(held) => {
                        self.held = held;
                        tracing::info!(incarnation = self.id, "incarnation lock taken again");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot take the incarnation lock again; retrying");
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
        }
    }
}
