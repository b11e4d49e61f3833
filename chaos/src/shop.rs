//! `Shop`: the suite's client of the gateway, one attempt per call. Whether to try again is the
//! careful client's decision ([`crate::client`]), made from the [`Reply`] each call returns.

use std::time::Duration;

use reqwest::{Client, Method};
use serde_json::{Value, json};
use uuid::Uuid;

/// The header that makes `POST /orders` safe to retry (order-svc's contract).
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// What every SIOMS problem type starts with; the rest is the problem's slug.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:sioms:problem:";

/// Problem types (`type` of a problem+json body) the suite tells apart.
pub mod problem {
    /// 409 on `POST /orders`: short stock; final, the order is recorded as rejected.
    pub const INSUFFICIENT_STOCK: &str = "urn:sioms:problem:insufficient-stock";
    /// 409 on `POST /orders`: a request with the same key is still being handled; retry.
    pub const REQUEST_IN_PROGRESS: &str = "urn:sioms:problem:request-in-progress";
    /// 409 on `POST /orders/{id}/cancel`: the order is not confirmed (e.g. cancelled already).
    pub const ORDER_NOT_CANCELLABLE: &str = "urn:sioms:problem:order-not-cancellable";
}

/// What one attempt got back.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An HTTP answer, with its body as JSON (`Null` when it was not JSON).
    Answered {
        /// HTTP status code.
        status: u16,
        /// The body.
        body: Value,
    },
    /// No answer: the connection failed, broke or timed out.
    Failed(String),
}

impl Reply {
    /// The problem type of an error answer, if it has one.
    pub fn problem(&self) -> Option<&str> {
        match self {
            Self::Answered { body, .. } => body.get("type").and_then(Value::as_str),
            Self::Failed(_) => None,
        }
    }

    /// Worth trying again with the same request: no answer, a 5xx, a 429, or a 409 that says
    /// the same key is still being handled.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Failed(_) => true,
            Self::Answered { status, .. } => {
                *status >= 500
                    || *status == 429
                    || (*status == 409 && self.problem() == Some(problem::REQUEST_IN_PROGRESS))
            }
        }
    }

    /// A short description for a report: `201`, `409 insufficient-stock` (a SIOMS problem's
    /// slug), `500 Internal Server Error` (an `about:blank` problem's title), `timeout`, …
    pub fn describe(&self) -> String {
        match self {
            Self::Failed(e) => e.clone(),
            Self::Answered { status, body } => {
                let title = body.get("title").and_then(Value::as_str);
                match (self.problem(), title) {
                    (Some(kind), _) if kind.starts_with(PROBLEM_TYPE_PREFIX) => {
                        format!("{status} {}", &kind[PROBLEM_TYPE_PREFIX.len()..])
                    }
                    (Some(_), Some(title)) => format!("{status} {title}"),
                    (Some(kind), None) => format!("{status} {kind}"),
                    (None, _) => status.to_string(),
                }
            }
        }
    }
}

/// A client of one stack's gateway, with the admin token for the admin routes.
#[derive(Debug, Clone)]
pub struct Shop {
    base: String,
    token: String,
    http: Client,
}

impl Shop {
    /// A client of the gateway at `base`; every attempt is given up after `attempt_timeout`.
    pub fn new(base: &str, token: &str, attempt_timeout: Duration) -> anyhow::Result<Self> {
        let http = Client::builder()
            .timeout(attempt_timeout)
            .connect_timeout(Duration::from_secs(2))
            // The gateway closes idle connections after 30 s (and on every reload): never
            // reuse one that old, so a reuse failure is a fault's doing, not the pool's.
            .pool_idle_timeout(Duration::from_secs(20))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    /// The HTTP client, for calls to a service directly (its `/metrics`).
    pub fn http(&self) -> &Client {
        &self.http
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        admin: bool,
        key: Option<Uuid>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if admin {
            req = req.bearer_auth(&self.token);
        }
        if let Some(key) = key {
            req = req.header(IDEMPOTENCY_KEY_HEADER, key.to_string());
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = match req.send().await {
            Ok(res) => res,
            Err(e) => return Reply::Failed(transport(&e)),
        };
        let status = res.status().as_u16();
        match res.bytes().await {
            Ok(bytes) => Reply::Answered {
                status,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            },
            Err(e) => Reply::Failed(transport(&e)),
        }
    }

    /// `POST /items` (admin).
    pub async fn add_item(&self, id: &str, stock: u64) -> Reply {
        let body = json!({"id": id, "name": format!("Chaos item {id}"), "stock": stock});
        self.send(Method::POST, "/items", Some(body), true, None)
            .await
    }

    /// `PUT /price/{id}` (admin), in EUR.
    pub async fn set_price(&self, id: &str, cents: u64) -> Reply {
        let body = json!({"price_cents": cents, "currency": "EUR"});
        self.send(Method::PUT, &format!("/price/{id}"), Some(body), true, None)
            .await
    }

    /// `POST /orders` with an `Idempotency-Key`.
    pub async fn place(&self, key: Uuid, item: &str, quantity: u64) -> Reply {
        let body = json!({"item_id": item, "quantity": quantity});
        self.send(Method::POST, "/orders", Some(body), false, Some(key))
            .await
    }

    /// `POST /orders/{id}/cancel`.
    pub async fn cancel(&self, order: Uuid) -> Reply {
        self.send(
            Method::POST,
            &format!("/orders/{order}/cancel"),
            None,
            false,
            None,
        )
        .await
    }

    /// `GET /orders/{id}`.
    pub async fn order(&self, order: Uuid) -> Reply {
        self.send(Method::GET, &format!("/orders/{order}"), None, false, None)
            .await
    }

    /// `GET /orders?limit=200[&cursor=…]`: one page of the order listing, newest first.
    pub async fn orders_page(&self, cursor: Option<&str>) -> Reply {
        let path = match cursor {
            Some(c) => format!("/orders?limit=200&cursor={c}"),
            None => "/orders?limit=200".to_owned(),
        };
        self.send(Method::GET, &path, None, false, None).await
    }
}

/// What kind of transport failure `e` is, without the URL (the same for every call).
fn transport(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect error"
    } else if e.is_body() || e.is_decode() {
        "broken body"
    } else {
        "connection error"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answered(status: u16, kind: &str) -> Reply {
        Reply::Answered {
            status,
            body: json!({"type": kind}),
        }
    }

    #[test]
    fn a_careful_client_retries_only_what_may_succeed_later() {
        assert!(Reply::Failed("connect error".into()).retryable());
        assert!(answered(503, "urn:sioms:problem:dependency-unavailable").retryable());
        assert!(answered(502, "about:blank").retryable());
        assert!(answered(409, problem::REQUEST_IN_PROGRESS).retryable());
        assert!(!answered(409, problem::INSUFFICIENT_STOCK).retryable());
        assert!(!answered(422, "urn:sioms:problem:idempotency-key-reused").retryable());
        assert!(!answered(201, "").retryable());
    }

    #[test]
    fn a_reply_is_described_by_its_status_and_problem_slug() {
        assert_eq!(
            answered(409, problem::INSUFFICIENT_STOCK).describe(),
            "409 insufficient-stock"
        );
        assert_eq!(
            Reply::Answered {
                status: 500,
                body: json!({"type": "about:blank", "title": "Internal Server Error"})
            }
            .describe(),
            "500 Internal Server Error"
        );
        assert_eq!(
            Reply::Answered {
                status: 201,
                body: json!({"id": "x"})
            }
            .describe(),
            "201"
        );
    }
}
