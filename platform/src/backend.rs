//! [`BackendError`]: why a call to a backing store (Postgres or Redis) failed, the one error
//! every store returns. Either the backend was away (the caller may retry, the answer is a 503)
//! or something else went wrong (a bug or a broken invariant, logged, a 500); only the
//! backend's name differs between the two stores, in the texts.

use std::fmt;

use crate::{
    problem::Problem,
    redis::{PoolError, ScriptError},
};

/// Which backend a call went to: it names the backend in logs and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The services' databases.
    Postgres,
    /// inventory-svc's stock store.
    Redis,
}

impl Backend {
    /// What a client is told while the backend is away.
    fn unavailable_detail(self) -> &'static str {
        match self {
            Self::Postgres => "the database is unavailable right now; retry shortly",
            Self::Redis => "the stock store is unavailable right now; retry shortly",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Postgres => "Postgres",
            Self::Redis => "Redis",
        })
    }
}

/// A backend that did not answer, and why.
#[derive(Debug, thiserror::Error)]
#[error("{backend} is unavailable: {reason}")]
pub struct Outage {
    /// The backend that was away.
    pub backend: Backend,
    /// What the driver or pool said.
    pub reason: String,
}

/// Why a call to a backend failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend did not answer, the connection broke, or it was too slow: the caller may
    /// retry.
    #[error(transparent)]
    Unavailable(Outage),
    /// Anything else: a bug, a broken invariant or a corrupted key.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl BackendError {
    /// `backend` did not answer, for `reason`.
    pub fn unavailable(backend: Backend, reason: impl Into<String>) -> Self {
        Self::Unavailable(Outage {
            backend,
            reason: reason.into(),
        })
    }
}

impl From<BackendError> for Problem {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Unavailable(Outage { backend, reason }) => {
                tracing::warn!(%reason, "{backend} unavailable");
                Self::unavailable(backend.unavailable_detail())
            }
            BackendError::Unexpected(e) => Self::internal(&e),
        }
    }
}

/// An error with its causes, e.g. "…creating a new object: db error: sorry, too many clients
/// already" rather than only "…: db error".
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

impl From<deadpool_postgres::PoolError> for BackendError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::unavailable(Backend::Postgres, with_causes(&e))
    }
}

impl From<tokio_postgres::Error> for BackendError {
    fn from(e: tokio_postgres::Error) -> Self {
        // No SQLSTATE means the failure was the connection's, not the statement's. Some states
        // say the same from the server's side, and a retry can succeed: 08 connection
        // exception, 53 insufficient resources (too many connections), 57 operator
        // intervention (the connection was terminated, the server is shutting down or starting),
        // 40 transaction rollback (serialization failure, deadlock).
        let passing = e.code().is_none_or(|c| {
            ["08", "53", "57", "40"]
                .iter()
                .any(|class| c.code().starts_with(class))
        });
        if e.is_closed() || passing {
            Self::unavailable(Backend::Postgres, with_causes(&e))
        } else {
            Self::Unexpected(anyhow::Error::new(e).context("database statement failed"))
        }
    }
}

impl From<redis::RedisError> for BackendError {
    fn from(e: redis::RedisError) -> Self {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || matches!(
                e.kind(),
                redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
            )
        {
            Self::unavailable(Backend::Redis, e.to_string())
        } else {
            Self::Unexpected(anyhow::Error::new(e).context("Redis command failed"))
        }
    }
}

impl From<ScriptError> for BackendError {
    fn from(e: ScriptError) -> Self {
        match e {
            ScriptError::Redis(e) => e.into(),
            ScriptError::NotReplicated(e) => Self::unavailable(Backend::Redis, e.to_string()),
        }
    }
}

impl From<PoolError> for BackendError {
    fn from(e: PoolError) -> Self {
        Self::unavailable(Backend::Redis, e.to_string())
    }
}
