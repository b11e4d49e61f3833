//! The one error body of every service: `application/problem+json` (RFC 9457).
//!
//! Handlers return `Result<_, Problem>` (or an error type that converts into one). A problem says
//! what went wrong in `detail`, in words a caller can act on, and never carries internals: an
//! unexpected error is logged with its whole cause chain and answered with a generic 500 or 503.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The media type of every error body.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// The prefix of every SIOMS problem type: `urn:sioms:problem:<slug>`.
pub const TYPE_PREFIX: &str = "urn:sioms:problem:";

macro_rules! problem_kinds {
    ($($(#[doc = $doc:literal])+ $kind:ident = ($slug:literal, $status:ident, $title:literal),)+) => {
        /// Every kind of problem SIOMS answers, with its one slug, status and title. A service
        /// answers a kind only through [`Problem::of`], and a client reads one back with
        /// [`Problem::kind`], so a kind cannot mean one status here and another there.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemKind {
            $($(#[doc = $doc])+ $kind,)+
        }

        impl ProblemKind {
            /// Every kind, in the order the OpenAPI document lists them.
            pub const ALL: &[ProblemKind] = &[$(Self::$kind,)+];

            /// The slug: the last part of the type URI.
            pub fn slug(self) -> &'static str {
                match self { $(Self::$kind => $slug,)+ }
            }

            /// The HTTP status every problem of this kind has.
            pub fn status(self) -> StatusCode {
                match self { $(Self::$kind => StatusCode::$status,)+ }
            }

            /// The short, stable summary of the kind.
            pub fn title(self) -> &'static str {
                match self { $(Self::$kind => $title,)+ }
            }

            /// What the kind means and what a caller can do about it.
            pub fn meaning(self) -> &'static str {
                match self { $(Self::$kind => concat!($($doc),+).trim_ascii(),)+ }
            }
        }
    };
}

problem_kinds! {
    /// The request is malformed or a value is out of range; `detail` names the field.
    InvalidRequest = ("invalid-request", BAD_REQUEST, "Invalid request"),
    /// An admin route was called without `Authorization: Bearer <ADMIN_TOKEN>`.
    Unauthenticated = ("unauthenticated", UNAUTHORIZED, "Authentication required"),
    /// The admin token presented is not valid.
    Forbidden = ("forbidden", FORBIDDEN, "Forbidden"),
    /// No such route, or no such resource where no more specific kind applies.
    NotFound = ("not-found", NOT_FOUND, "Not found"),
    /// The item does not exist (`item_id`).
    UnknownItem = ("unknown-item", NOT_FOUND, "Unknown item"),
    /// The order does not exist (`order_id`).
    UnknownOrder = ("unknown-order", NOT_FOUND, "Unknown order"),
    /// The item exists but has no price yet (`item_id`); pricing-svc's `GET /price/{id}`.
    NoPrice = ("no-price", NOT_FOUND, "No price"),
    /// Internal: the reservation holds nothing of the item (`reservation_id`).
    UnknownReservation = ("unknown-reservation", NOT_FOUND, "Unknown reservation"),
    /// `POST /items` with the id of an item that exists; change it with `PUT /items/{id}`.
    ItemExists = ("item-exists", CONFLICT, "Item exists"),
    /// Not enough stock (`item_id`, `requested`, `available`; `order_id` of the order recorded
    /// as rejected when it comes from `POST /orders`).
    InsufficientStock = ("insufficient-stock", CONFLICT, "Insufficient stock"),
    /// Only a confirmed order can be cancelled (`order_id`, `order_status`).
    OrderNotCancellable = ("order-not-cancellable", CONFLICT, "Order cannot be cancelled"),
    /// A request with this `Idempotency-Key` is still being handled; retry in a moment.
    RequestInProgress = ("request-in-progress", CONFLICT, "Request in progress"),
    /// Internal: the reservation is not in a state that allows the action (`state`).
    ReservationClosed = ("reservation-closed", CONFLICT, "Reservation not in the right state"),
    /// The item exists but has no price, so it cannot be ordered (`item_id`).
    UnpricedItem = ("unpriced-item", UNPROCESSABLE_ENTITY, "Item has no price"),
    /// The `Idempotency-Key` was used before with another body; use a new key for a new order.
    IdempotencyKeyReused = ("idempotency-key-reused", UNPROCESSABLE_ENTITY, "Idempotency-Key reused"),
    /// Internal: the reservation id was used with other lines (`reservation_id`).
    ReservationMismatch = ("reservation-mismatch", UNPROCESSABLE_ENTITY, "Reservation mismatch"),
    /// The body is not `application/json`.
    UnsupportedMediaType = ("unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
    /// The body is larger than the service (or the gateway) accepts.
    PayloadTooLarge = ("payload-too-large", PAYLOAD_TOO_LARGE, "Payload too large"),
    /// The gateway's per-client rate limit on `POST /orders`; retry after a pause.
    RateLimited = ("rate-limited", TOO_MANY_REQUESTS, "Too many requests"),
    /// A dependency is unavailable; the caller may retry later.
    DependencyUnavailable = ("dependency-unavailable", SERVICE_UNAVAILABLE, "Service unavailable"),
}

impl ProblemKind {
    /// The type URI: `urn:sioms:problem:<slug>`.
    pub fn type_uri(self) -> String {
        format!("{TYPE_PREFIX}{}", self.slug())
    }

    /// The kind a type URI names, if it names one.
    pub fn from_type_uri(uri: &str) -> Option<Self> {
        let slug = uri.strip_prefix(TYPE_PREFIX)?;
        Self::ALL.iter().copied().find(|k| k.slug() == slug)
    }
}

/// An RFC 9457 problem: a status, a short stable title, a specific detail, and optional
/// extension members (e.g. `item_id`, `available`). It is also what a client reads back from
/// another service's error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// The short, stable summary of the kind.
    pub title: String,
    /// The HTTP status code, repeated in the body.
    pub status: u16,
    /// What went wrong this time, and how to fix it where the caller can.
    #[serde(default)]
    pub detail: String,
    /// Extension members, flattened into the body.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    /// A problem of a kind, which gives its type, title and status.
    pub fn of(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.type_uri(),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            extensions: Map::new(),
        }
    }

    /// The kind of a SIOMS problem (`None` for `about:blank` or a foreign type).
    pub fn kind(&self) -> Option<ProblemKind> {
        ProblemKind::from_type_uri(&self.kind)
    }

    /// An extension member, if present.
    pub fn extension(&self, key: &str) -> Option<&Value> {
        self.extensions.get(key)
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
        Self::of(ProblemKind::InvalidRequest, detail)
    }

    /// 404: the named resource does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::of(ProblemKind::NotFound, detail)
    }

    /// 503: a dependency is unavailable; the caller may retry later.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::of(ProblemKind::DependencyUnavailable, detail)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_kind_has_one_slug_and_reads_back_from_its_uri() {
        let mut slugs = std::collections::HashSet::new();
        for &kind in ProblemKind::ALL {
            assert!(slugs.insert(kind.slug()), "{} twice", kind.slug());
            assert_eq!(ProblemKind::from_type_uri(&kind.type_uri()), Some(kind));
            assert!(kind.status().is_client_error() || kind.status().is_server_error());
            assert!(!kind.meaning().is_empty());
        }
        assert_eq!(ProblemKind::from_type_uri("about:blank"), None);
        assert_eq!(ProblemKind::from_type_uri("urn:sioms:problem:nope"), None);
    }

    #[test]
    fn a_problem_round_trips_with_its_kind_and_extensions() {
        let p = Problem::of(ProblemKind::InsufficientStock, "short").with("available", 3);
        let back: Problem = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back.kind(), Some(ProblemKind::InsufficientStock));
        assert_eq!(back.status, 409);
        assert_eq!(back.extension("available"), Some(&Value::from(3)));
    }
}
