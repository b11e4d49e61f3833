//! Logging set-up: JSON lines when `LOG_FORMAT=json` (containers, log shippers), readable lines
//! otherwise. The filter comes from `RUST_LOG` (default `info`). Every request runs inside a span
//! that carries its request id (see [`crate::http`]), so every line logged for it shows the id.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines for a terminal.
    Text,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "text" | "pretty" => Ok(Self::Text),
            other => Err(format!("expected json or text, got {other:?}")),
        }
    }
}

/// Installs the global subscriber. Calling it twice is harmless (the second call does nothing),
/// which lets tests call it from every test.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Text => registry.with(fmt::layer().with_target(false)).try_init(),
    };
}

/// Installs a subscriber for tests: lines go through libtest's capture, so they show only for a
/// failing test. Harmless to call from every test.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_target(false).with_test_writer())
        .try_init();
}

/// Logs an error with its whole cause chain, once.
pub fn log_error_chain(context: &str, error: &anyhow::Error) {
    tracing::error!(error = format!("{error:#}"), "{context}");
}
