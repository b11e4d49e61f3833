//! Calls to pricing-svc and inventory-svc: each attempt has a timeout, a failure that may be
//! transient (no answer, 5xx) is retried a bounded number of times with jittered exponential
//! backoff (every call here is safe to repeat: reads, or idempotent by reservation id), and a
//! circuit breaker per dependency answers at once while the dependency keeps failing, so a
//! dependency that is down gives a fast 503, never a hang.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use failsafe::{
    Config, StateMachine, backoff::Constant, failure_policy::ConsecutiveFailures,
    futures::CircuitBreaker as _,
};
use platform::{
    problem::{Problem, ProblemKind},
    reservation::{
        Action, HoldState, Line, LinesRequest, ReserveRequest, SettleBatchRequest, SettleBatchView,
        SettleEntry,
    },
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    config::DependencyConfig,
    domain::{ItemId, Quantity, Quote},
    price_book::Versioned,
};

/// Why a call got no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No answer in time, a broken connection, or a 5xx, after the retries.
    #[error("{dependency} is unavailable: {reason}")]
    Unavailable {
        /// The dependency's name.
        dependency: &'static str,
        /// What went wrong last.
        reason: String,
    },
    /// The circuit is open: the dependency failed repeatedly and is left alone for a while.
    #[error("{dependency} is failing; calls are paused (circuit open)")]
    CircuitOpen {
        /// The dependency's name.
        dependency: &'static str,
    },
}

/// A 2xx or 4xx answer: the dependency said something definite.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its JSON body (`null` when there was none).
    pub body: Value,
}

/// Records circuit transitions as a metric and a log line.
#[derive(Debug, Clone, Copy)]
pub struct BreakerEvents {
    dependency: &'static str,
}

impl failsafe::Instrument for BreakerEvents {
    fn on_call_rejected(&self) {
        metrics::counter!("order_dependency_rejected_total", "dependency" => self.dependency)
            .increment(1);
    }
    fn on_open(&self) {
        tracing::warn!(dependency = self.dependency, "circuit opened");
        metrics::gauge!("order_dependency_circuit_open", "dependency" => self.dependency).set(1.0);
    }
    fn on_half_open(&self) {
        tracing::info!(
            dependency = self.dependency,
            "circuit half-open: trying one call"
        );
    }
    fn on_closed(&self) {
        tracing::info!(dependency = self.dependency, "circuit closed");
        metrics::gauge!("order_dependency_circuit_open", "dependency" => self.dependency).set(0.0);
    }
}

type Breaker = StateMachine<ConsecutiveFailures<Constant>, BreakerEvents>;

/// The first backoff between two attempts at a call.
const RETRY_MIN_DELAY: Duration = Duration::from_millis(50);
/// The longest backoff between two attempts, before jitter (which adds up to as much again).
const RETRY_MAX_DELAY: Duration = Duration::from_millis(400);

/// The longest a call through a dependency configured by `config` takes before it returns: every
/// attempt runs into its timeout (which covers connecting too) and each retry waits the longest
/// backoff with the most jitter. An open circuit only makes it shorter. Whatever must outlast a
/// call (the stock sync's lease) is derived from this, so it follows `DEPENDENCY_TIMEOUT` and
/// `DEPENDENCY_RETRIES`.
pub fn longest_call(config: &DependencyConfig) -> Duration {
    let attempts = u32::try_from(config.retries.saturating_add(1)).unwrap_or(u32::MAX);
    let retries = attempts - 1;
    config
        .timeout
        .saturating_mul(attempts)
        .saturating_add(RETRY_MAX_DELAY.saturating_mul(2).saturating_mul(retries))
}

/// One dependency: its base URL, HTTP client, retry policy and circuit breaker.
pub struct Dependency {
    name: &'static str,
    base: String,
    http: reqwest::Client,
    retries: usize,
    breaker: Breaker,
}

/// The outcome of one attempt, for the breaker: only `Unavailable` counts as a failure.
#[derive(Debug)]
enum Attempt {
    Unavailable(String),
}

impl Dependency {
    /// A dependency named `name` (for metrics and messages).
    pub fn new(name: &'static str, config: &DependencyConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_millis(500)))
            // Under the services' keep-alive (platform::http::SERVER_KEEP_ALIVE): this side
            // lets go of an idle connection first.
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let policy = failsafe::failure_policy::consecutive_failures(
            config.circuit_failures,
            failsafe::backoff::constant(config.circuit_open_for),
        );
        let breaker = Config::new()
            .failure_policy(policy)
            .instrument(BreakerEvents { dependency: name })
            .build();
        Ok(Self {
            name,
            base: config.url.clone(),
            http,
            retries: config.retries,
            breaker,
        })
    }

    /// Sends a request (retrying transient failures) and returns the 2xx/4xx answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        request_id: &str,
    ) -> Result<Answer, CallError> {
        let url = format!("{}{path}", self.base);
        let attempt = || async {
            let call = async {
                let mut req = self
                    .http
                    .request(method.clone(), &url)
                    .header(platform::http::REQUEST_ID_HEADER, request_id);
                if let Some(b) = body {
                    req = req.json(b);
                }
                let res = req
                    .send()
                    .await
                    .map_err(|e| Attempt::Unavailable(error_chain(&e)))?;
                let status = res.status();
                if status.is_server_error() {
                    return Err(Attempt::Unavailable(format!("answered {status}")));
                }
                let body = res.json::<Value>().await.unwrap_or(Value::Null);
                Ok(Answer { status, body })
            };
            let started = std::time::Instant::now();
            let result = self.breaker.call(call).await;
            metrics::histogram!("order_dependency_duration_seconds", "dependency" => self.name)
                .record(started.elapsed().as_secs_f64());
            result.map_err(|e| match e {
                failsafe::Error::Rejected => CallError::CircuitOpen {
                    dependency: self.name,
                },
                failsafe::Error::Inner(Attempt::Unavailable(reason)) => CallError::Unavailable {
                    dependency: self.name,
                    reason,
                },
            })
        };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(RETRY_MIN_DELAY)
                    .with_max_delay(RETRY_MAX_DELAY)
                    .with_max_times(self.retries)
                    .with_jitter(),
            )
            .when(|e| matches!(e, CallError::Unavailable { .. }))
            .await
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// pricing-svc.
pub struct PricingClient(pub Dependency);

impl PricingClient {
    /// The item's current price and its version, or `None` when it has none.
    pub async fn quote(
        &self,
        item: &ItemId,
        request_id: &str,
    ) -> Result<Option<Versioned>, CallError> {
        #[derive(serde::Deserialize)]
        struct Price {
            #[serde(flatten)]
            quote: Quote,
            version: u64,
        }
        let answer = self
            .0
            .send(Method::GET, &format!("/price/{item}"), None, request_id)
            .await?;
        if answer.status == StatusCode::OK {
            return serde_json::from_value::<Price>(answer.body)
                .map(|p| {
                    Some(Versioned {
                        quote: p.quote,
                        version: p.version,
                    })
                })
                .map_err(|e| unexpected(self.0.name, &e.to_string()));
        }
        match answer.problem() {
            Some((ProblemKind::NoPrice, _)) => Ok(None),
            _ => Err(answer.unexpected(self.0.name)),
        }
    }
}

/// What inventory-svc said to a reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The units are held (or were already, for a retry).
    Held,
    /// Not enough stock; this many units are available.
    Insufficient {
        /// Units available.
        available: u64,
    },
    /// No such item.
    UnknownItem,
    /// The reservation was refused for another reason (closed, mismatched): the detail.
    Refused(String),
}

/// What inventory-svc said to a confirm, release or cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Done (or already done).
    Done,
    /// The reservation is in another state, e.g. expired, held, released.
    WrongState(HoldState),
    /// The reservation is for other lines than the ones sent: the detail.
    Mismatch(String),
    /// Inventory has no record of it (item removed, or the record outlived its retention).
    Unknown,
}

/// What a settle of a reservation means for the order: how inventory answered, by the kind of
/// its problem; `None` for an answer the contract does not allow.
fn settlement(problem: Option<(ProblemKind, Problem)>) -> Option<Settlement> {
    Some(match problem? {
        (ProblemKind::UnknownReservation | ProblemKind::UnknownItem, _) => Settlement::Unknown,
        (ProblemKind::ReservationClosed, p) => Settlement::WrongState(
            p.extension("state")
                .and_then(Value::as_str)
                .and_then(HoldState::parse)?,
        ),
        (ProblemKind::ReservationMismatch, p) => Settlement::Mismatch(p.detail),
        _ => return None,
    })
}

/// One order's reservation in a batch settle.
#[derive(Debug, Clone)]
pub struct ToSettle {
    /// The order (its id is the reservation's).
    pub order: Uuid,
    /// Its item.
    pub item: ItemId,
    /// Its units.
    pub quantity: Quantity,
}

/// inventory-svc.
pub struct InventoryClient(pub Dependency);

fn unexpected(dependency: &'static str, reason: &str) -> CallError {
    CallError::Unavailable {
        dependency,
        reason: format!("unexpected answer: {reason}"),
    }
}

impl Answer {
    /// The answer as a problem of a known kind, if it is one.
    fn problem(&self) -> Option<(ProblemKind, Problem)> {
        if self.status.is_success() {
            return None;
        }
        let problem: Problem = serde_json::from_value(self.body.clone()).ok()?;
        Some((problem.kind()?, problem))
    }

    /// An answer the contract does not allow here.
    fn unexpected(&self, dependency: &'static str) -> CallError {
        unexpected(dependency, &format!("{} {}", self.status, self.body))
    }
}

fn one_line(item: &ItemId, quantity: Quantity) -> Vec<Line> {
    vec![Line {
        item_id: item.clone(),
        quantity,
    }]
}

fn to_json(body: &impl serde::Serialize) -> Value {
    // Invariant: the request types are plain structs of strings and numbers.
    serde_json::to_value(body).unwrap_or(Value::Null)
}

impl InventoryClient {
    /// Holds `quantity` units of `item` under the order's id.
    pub async fn reserve(
        &self,
        order: Uuid,
        item: &ItemId,
        quantity: Quantity,
        request_id: &str,
    ) -> Result<Reservation, CallError> {
        let body = to_json(&ReserveRequest {
            reservation_id: order.into(),
            lines: one_line(item, quantity),
        });
        let answer = self
            .0
            .send(Method::POST, "/reserve", Some(&body), request_id)
            .await?;
        if answer.status.is_success() {
            return Ok(Reservation::Held);
        }
        Ok(match answer.problem() {
            Some((ProblemKind::InsufficientStock, p)) => Reservation::Insufficient {
                available: p
                    .extension("available")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| answer.unexpected(self.0.name))?,
            },
            Some((ProblemKind::UnknownItem, _)) => Reservation::UnknownItem,
            Some((ProblemKind::ReservationClosed | ProblemKind::ReservationMismatch, p)) => {
                Reservation::Refused(p.detail)
            }
            _ => return Err(answer.unexpected(self.0.name)),
        })
    }

    /// Confirms, releases or cancels the order's reservation.
    pub async fn settle(
        &self,
        action: Action,
        order: Uuid,
        item: &ItemId,
        quantity: Quantity,
        request_id: &str,
    ) -> Result<Settlement, CallError> {
        let body = to_json(&LinesRequest {
            lines: one_line(item, quantity),
        });
        let path = action.path(&order.into());
        let answer = self
            .0
            .send(Method::POST, &path, Some(&body), request_id)
            .await?;
        if answer.status.is_success() {
            return Ok(Settlement::Done);
        }
        settlement(answer.problem()).ok_or_else(|| answer.unexpected(self.0.name))
    }

    /// Settles many orders' reservations alike in one call (`POST /reservations/{action}`):
    /// one outcome per order, in order. A refusal of one does not touch the others.
    pub async fn settle_batch(
        &self,
        action: Action,
        orders: &[ToSettle],
        request_id: &str,
    ) -> Result<Vec<Result<Settlement, CallError>>, CallError> {
        let body = to_json(&SettleBatchRequest {
            reservations: orders
                .iter()
                .map(|o| SettleEntry {
                    reservation_id: o.order.into(),
                    lines: one_line(&o.item, o.quantity),
                })
                .collect(),
        });
        let answer = self
            .0
            .send(Method::POST, &action.batch_path(), Some(&body), request_id)
            .await?;
        if !answer.status.is_success() {
            return Err(answer.unexpected(self.0.name));
        }
        let view: SettleBatchView = serde_json::from_value(answer.body)
            .map_err(|e| unexpected(self.0.name, &e.to_string()))?;
        if view.results.len() != orders.len() {
            let counts = format!(
                "{} results for {} reservations",
                view.results.len(),
                orders.len()
            );
            return Err(unexpected(self.0.name, &counts));
        }
        Ok(view
            .results
            .into_iter()
            .map(|outcome| match (outcome.status, outcome.problem) {
                (Some(_), _) => Ok(Settlement::Done),
                (None, Some(problem)) if problem.status >= 500 => Err(CallError::Unavailable {
                    dependency: self.0.name,
                    reason: problem.detail,
                }),
                (None, problem) => {
                    let text = format!("{problem:?}");
                    settlement(problem.and_then(|p| Some((p.kind()?, p))))
                        .ok_or_else(|| unexpected(self.0.name, &text))
                }
            })
            .collect())
    }

    /// Whether the item exists.
    pub async fn item_exists(&self, item: &ItemId, request_id: &str) -> Result<bool, CallError> {
        let answer = self
            .0
            .send(Method::GET, &format!("/items/{item}"), None, request_id)
            .await?;
        if answer.status.is_success() {
            return Ok(true);
        }
        match answer.problem() {
            Some((ProblemKind::UnknownItem, _)) => Ok(false),
            _ => Err(answer.unexpected(self.0.name)),
        }
    }
}
