//! `Idempotency-Key`s in Postgres: a request claims its key, records its answer only while it
//! still holds the claim (the fence), or releases the key after a passing failure. See
//! `docs/decisions/0008-idempotency-keys-for-orders.md`.

use std::time::Duration;

use backon::Retryable as _;
use platform::postgres::DbError;
use serde_json::Value;
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;

use super::OrderStore;

/// The retention pass over `idempotency_keys`: a key is remembered for `keep` after its first
/// request (`created_at`); a retry after that is a new request.
pub fn key_retention(
    pool: deadpool_postgres::Pool,
    keep: Duration,
) -> platform::retention::Retention {
    platform::retention::Retention::new(pool, "idempotency_keys", "key", "created_at", keep)
}

/// The first outcome of an `Idempotency-Key`, as claimed by a request.
#[derive(Debug, Clone)]
pub enum KeyClaim {
    /// This request owns the key and places the order under `order_id`. `previous` is the
    /// order id of a claim it took over from a request that never finished (its process is
    /// gone): that request may have left a hold behind under it.
    Owned {
        /// The id this request places its order under.
        order_id: Uuid,
        /// The id of the abandoned claim this one replaces, if any.
        previous: Option<Uuid>,
    },
    /// A request with the same key and body finished: replay its answer.
    Done {
        /// Its HTTP status.
        status: u16,
        /// Its body.
        body: Value,
        /// The order it made, if any.
        order_id: Uuid,
    },
    /// The key was used with another body.
    Mismatch,
    /// A request with this key is still being handled by a live process.
    InFlight,
}

/// Whether a write that finishes a keyed request took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Finished {
    /// Written (and the key, if any, now replays this answer).
    Written,
    /// Nothing was written: another request took the key over meanwhile (this one's process
    /// looked gone), and its answer is the one that counts.
    ClaimLost,
}

/// The answer a keyed request records for its key: with its order
/// (`OrderStore::insert_many`), or alone for a final refusal that wrote none
/// ([`OrderStore::complete_key`]).
#[derive(Debug)]
pub struct KeyedAnswer {
    /// The `Idempotency-Key`.
    pub key: String,
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

/// Why an in-flight claim (a row of `idempotency_keys`, locked) may be taken over, if it may:
/// its owner's incarnation lock is free (the process is gone), or it is older than the stale
/// limit.
async fn abandoned(tx: &Transaction<'_>, claim: &Row) -> Result<Option<&'static str>, DbError> {
    if let Some(owner) = claim.get::<_, Option<i64>>("owner") {
        // Taken only if nobody holds it; released with this transaction.
        let gone: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&owner])
            .await?
            .get(0);
        if gone {
            return Ok(Some("owner_gone"));
        }
    }
    Ok(claim.get::<_, bool>("stale").then_some("stale"))
}

/// Records the answer for a key, if this request still holds its claim (it is the fence that
/// keeps a request whose claim was taken over from writing a second order for one key).
/// The fenced `UPDATE` that records a keyed answer: `$1` key, `$2` order id, `$3` status, `$4`
/// body. It matches only while the request (`$2`) still holds the key's claim.
pub(super) const FINISH_KEY: &str = "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_body = $4 \
     WHERE key = $1 AND order_id = $2 AND state = 'in_flight'";

/// [`FINISH_KEY`] for many orders at once, as a CTE over the `input` rows of
/// `OrderStore::insert_many` (`key`, `id`, `response_status`, `response_body`): each key whose
/// claim its order still holds records its answer, and the ids of those orders come back.
pub(super) const FINISH_KEYS: &str = "UPDATE idempotency_keys k SET state = 'done', \
     response_status = i.response_status, response_body = i.response_body \
     FROM input i WHERE k.key = i.key AND k.order_id = i.id AND k.state = 'in_flight' \
     RETURNING k.order_id";

/// The answer's status as stored.
pub(super) fn stored_status(status: u16) -> i16 {
    i16::try_from(status).unwrap_or(500)
}

impl OrderStore {
    /// Claims an `Idempotency-Key` for a request with `fingerprint`, by the process incarnation
    /// `owner`; `order_id` is the id this request would use. A key still in flight is taken over
    /// with the new id when its owner's incarnation is gone (see [`crate::incarnation`]), or
    /// when it has been in flight longer than `stale_after` (a claim without an owner, or a
    /// request stuck in a live process).
    pub async fn claim_key(
        &self,
        key: &str,
        fingerprint: &str,
        order_id: Uuid,
        owner: i64,
        stale_after: Duration,
    ) -> Result<KeyClaim, DbError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO idempotency_keys (key, fingerprint, order_id, state, locked_at, owner) \
                 VALUES ($1, $2, $3, 'in_flight', now(), $4) ON CONFLICT (key) DO NOTHING",
                &[&key, &fingerprint, &order_id, &owner],
            )
            .await?;
        if inserted == 1 {
            tx.commit().await?;
            return Ok(KeyClaim::Owned {
                order_id,
                previous: None,
            });
        }
        let row = tx
            .query_one(
                "SELECT fingerprint, order_id, state, response_status, response_body, owner, \
                 now() - locked_at > make_interval(secs => $2) AS stale \
                 FROM idempotency_keys WHERE key = $1 FOR UPDATE",
                &[&key, &stale_after.as_secs_f64()],
            )
            .await?;
        let claim = if row.get::<_, String>("fingerprint") != fingerprint {
            KeyClaim::Mismatch
        } else if row.get::<_, String>("state") == "done" {
            KeyClaim::Done {
                status: u16::try_from(row.get::<_, i16>("response_status")).unwrap_or(500),
                body: row.get("response_body"),
                order_id: row.get("order_id"),
            }
        } else if let Some(reason) = abandoned(&tx, &row).await? {
            metrics::counter!("order_idempotency_takeovers_total", "reason" => reason).increment(1);
            tx.execute(
                "UPDATE idempotency_keys SET order_id = $2, owner = $3, locked_at = now() WHERE key = $1",
                &[&key, &order_id, &owner],
            )
            .await?;
            KeyClaim::Owned {
                order_id,
                previous: Some(row.get("order_id")),
            }
        } else {
            KeyClaim::InFlight
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Remembers a final answer that wrote no order (e.g. 404, 422), if the claim made with
    /// `order_id` still holds.
    pub async fn complete_key(
        &self,
        order_id: Uuid,
        answer: &KeyedAnswer,
    ) -> Result<Finished, DbError> {
        let client = self.pool.get().await?;
        let updated = client
            .execute(
                FINISH_KEY,
                &[
                    &answer.key,
                    &order_id,
                    &stored_status(answer.status),
                    &answer.body,
                ],
            )
            .await?;
        Ok(if updated == 1 {
            Finished::Written
        } else {
            Finished::ClaimLost
        })
    }

    /// Forgets a key whose request (claimed with `order_id`) failed for a passing reason, so a
    /// retry starts afresh; a claim taken over meanwhile is left to its new owner. The failure
    /// was often Postgres' (a connection terminated, a restart), so it is tried a few times on
    /// fresh connections: a key left claimed by a live process would make its retries wait for
    /// `IDEMPOTENCY_STALE_AFTER`.
    pub async fn release_key(&self, key: &str, order_id: Uuid) -> Result<(), DbError> {
        let release = || async {
            let client = self.pool.get().await?;
            client
                .execute(
                    "DELETE FROM idempotency_keys WHERE key = $1 AND order_id = $2 AND state = 'in_flight'",
                    &[&key, &order_id],
                )
                .await?;
            Ok::<_, DbError>(())
        };
        release
            .retry(
                backon::ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(50))
                    .with_max_delay(Duration::from_secs(1))
                    .with_max_times(6),
            )
            .when(|e| matches!(e, DbError::Unavailable(_)))
            .await
    }
}
