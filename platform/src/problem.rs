//! The one error body of every service: `application/problem+json` (RFC 9457).
//!
//! Handlers return `Result<_, Problem>` (or an error type that converts into one). A problem says
//! what went wrong in `detail`, in words a caller can act on, and never carries internals: an
//! unexpected error is logged with its whole cause chain and answered with a generic 500 or 503.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

/// The media type of every error body.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem: a status, a short stable title, a specific detail, and optional
/// extension members (e.g. `item_id`, `available`).
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// The short, stable summary of the kind.
    pub title: String,
    /// The HTTP status code, repeated in the body.
    pub status: u16,
    /// What went wrong this time, and how to fix it where the caller can.
    pub detail: String,
    /// Extension members, flattened into the body.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    /// A problem of a named kind: `slug` becomes the type `urn:sioms:problem:<slug>`.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:sioms:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            extensions: Map::new(),
        }
    }

    /// A problem whose status says it all (`type` is `about:blank`).
    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            extensions: Map::new(),
        }
    }

    /// 400: the request is malformed or a value is out of range.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Invalid request",
            detail,
        )
    }

    /// 404: the named resource does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 503: a dependency is unavailable; the caller may retry later.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency-unavailable",
            "Service unavailable",
            detail,
        )
    }

    /// Logs an unexpected error with its cause chain and returns a 500 that leaks nothing.
    pub fn internal(error: &anyhow::Error) -> Self {
        crate::telemetry::log_error_chain("unexpected error while handling a request", error);
        Self::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an unexpected error occurred; it has been logged",
        )
    }

    /// Adds an extension member. Its name must not be one of RFC 9457's own members.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        // Invariant: an extension never shadows a standard member (a duplicate key in the body).
        debug_assert!(
            !matches!(key, "type" | "title" | "status" | "detail" | "instance"),
            "problem extension {key:?} would duplicate a standard member"
        );
        self.extensions.insert(key.to_owned(), value.into());
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type(CONTENT_TYPE)
            .json(self)
    }
}
