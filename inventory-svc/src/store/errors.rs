//! [`StoreError`]: why a store call failed, and how Redis, script and pool errors map to it.

use platform::redis::ScriptError;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer (down, restarting, or too slow): the caller may retry.
    #[error("Redis is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a corrupted key.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<redis::RedisError> for StoreError {
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
            Self::Unavailable(e.to_string())
        } else {
            Self::Unexpected(anyhow::Error::new(e).context("Redis command failed"))
        }
    }
}

impl From<ScriptError> for StoreError {
    fn from(e: ScriptError) -> Self {
        match e {
            ScriptError::Redis(e) => e.into(),
            ScriptError::NotReplicated(e) => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<platform::redis::PoolError> for StoreError {
    fn from(e: platform::redis::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}
