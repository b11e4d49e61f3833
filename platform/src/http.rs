//! What every service's HTTP layer shares: the request-id and RED-metrics middleware, the health
//! routes, the problem+json 405 of a known path, the admin bearer-token check, and extractor
//! configs that answer bad input with a problem+json 4xx (never actix's plain-text defaults).

use std::{future::Future, pin::Pin, sync::Arc, time::Instant};

use actix_web::{
    Error, FromRequest, HttpMessage, HttpRequest, HttpResponse,
    body::MessageBody,
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::{JsonPayloadError, PathError, QueryPayloadError},
    http::{StatusCode, header},
    middleware::Next,
    web,
};
use subtle::ConstantTimeEq;
use tracing::Instrument;

use crate::{
    config::AdminToken,
    problem::{Problem, ProblemKind},
};

/// The header that carries a request's id across every hop.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest request id taken from a client; a longer or odd one is replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The id of the request being handled, set by [`request_context`] and readable by handlers
/// (to pass on to the next hop) as an extractor.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl FromRequest for RequestId {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::new_v4().to_string()));
        std::future::ready(Ok(id))
    }
}

fn sane_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware: keeps a sane `X-Request-Id` from the caller (or makes one), runs the request in a
/// span that carries it, echoes it on the response, logs one line per request and records the
/// RED metrics `http_requests_total` and `http_request_duration_seconds`, labelled by route
/// template (never the raw path) so the label set stays small.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane_request_id(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let span = tracing::info_span!("request", request_id = %request_id, %method, %route);
    let started = Instant::now();

    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(res) => res.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    let status_class = format!("{}xx", status.as_u16() / 100);
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status_class).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(
                status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request failed"
            );
        } else {
            tracing::debug!(
                status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request done"
            );
        }
    });

    let mut res = result?;
    if let Ok(value) = header::HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(header::HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(res)
}

/// Checks a request's `Authorization: Bearer …` against the admin token: 401 without one, 403
/// with a wrong one. Compared in constant time so the token cannot be guessed byte by byte.
pub fn require_admin(req: &HttpRequest, token: &AdminToken) -> Result<(), Problem> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        None => Err(Problem::of(
            ProblemKind::Unauthenticated,
            "this route needs an admin token: send `Authorization: Bearer <ADMIN_TOKEN>`",
        )),
        Some(p) if bool::from(p.as_bytes().ct_eq(token.0.as_bytes())) => Ok(()),
        Some(_) => Err(Problem::of(
            ProblemKind::Forbidden,
            "the admin token presented is not valid",
        )),
    }
}

/// An extractor that passes only requests carrying the admin token (see [`require_admin`]).
/// The token must be registered as `web::Data<AdminToken>`.
pub struct Admin;

impl FromRequest for Admin {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match req.app_data::<web::Data<AdminToken>>() {
            Some(token) => require_admin(req, token).map(|()| Admin),
            None => Err(Problem::internal(&anyhow::anyhow!(
                "AdminToken is not registered as app data"
            ))),
        };
        std::future::ready(result.map_err(Into::into))
    }
}

/// The largest JSON body any service accepts; orders and items are far smaller.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// JSON bodies: problem+json 400 for malformed JSON or wrong fields, 415 for a wrong content
/// type, 413 past [`MAX_JSON_BODY`].
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BODY)
        .error_handler(|err, _req| {
            let problem = match &err {
                JsonPayloadError::ContentType => Problem::of(
                    ProblemKind::UnsupportedMediaType,
                    "send the body as JSON with `Content-Type: application/json`",
                ),
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => Problem::of(
                    ProblemKind::PayloadTooLarge,
                    format!("the body is larger than the {limit} bytes accepted"),
                ),
                JsonPayloadError::Deserialize(e) => Problem::bad_request(describe_json_error(e)),
                other => Problem::bad_request(format!("the body could not be read: {other}")),
            };
            problem.into()
        })
}

fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => format!("the body is not valid JSON: {e}"),
        Category::Data => format!("the body does not have the expected fields: {e}"),
        Category::Io => format!("the body could not be read: {e}"),
    }
}

/// Query strings: problem+json 400 naming what is wrong.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        Problem::bad_request(format!("the query string is invalid: {err}")).into()
    })
}

/// Path parameters: problem+json 400 naming what is wrong.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        Problem::bad_request(format!("the path is invalid: {err}")).into()
    })
}

/// The answer for a route that does not exist: problem+json 404.
pub async fn no_such_route(req: HttpRequest) -> Result<HttpResponse, Problem> {
    Err(Problem::not_found(format!(
        "there is no route {} {}",
        req.method(),
        req.path()
    )))
}

/// A dependency check for `/readyz`: a name and an async probe.
pub type ReadinessProbe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The dependency checks behind `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness {
    probes: Vec<(&'static str, ReadinessProbe)>,
}

impl Readiness {
    /// Adds a named check.
    #[must_use]
    pub fn check(mut self, name: &'static str, probe: ReadinessProbe) -> Self {
        self.probes.push((name, probe));
        self
    }

    /// Ready while Postgres answers `SELECT 1`.
    #[must_use]
    pub fn postgres(self, pool: deadpool_postgres::Pool) -> Self {
        self.check(
            "postgres",
            Arc::new(move || {
                let pool = pool.clone();
                Box::pin(async move { crate::postgres::ping(&pool).await })
            }),
        )
    }

    /// Ready while Redis answers `PING`.
    #[must_use]
    pub fn redis(self, pool: crate::redis::Pool) -> Self {
        self.check(
            "redis",
            Arc::new(move || {
                let pool = pool.clone();
                Box::pin(async move { crate::redis::ping(&pool).await })
            }),
        )
    }

    /// Ready while `flag` is set; `why_not` says what it means when it is not.
    #[must_use]
    pub fn flag(
        self,
        name: &'static str,
        flag: Arc<std::sync::atomic::AtomicBool>,
        why_not: &'static str,
    ) -> Self {
        self.check(
            name,
            Arc::new(move || {
                let up = flag.load(std::sync::atomic::Ordering::SeqCst);
                Box::pin(async move { if up { Ok(()) } else { Err(why_not.to_owned()) } })
            }),
        )
    }

    /// Runs every check, each bounded by a short timeout so `/readyz` never hangs.
    pub async fn run(&self) -> Vec<(&'static str, Result<(), String>)> {
        let checks = self.probes.iter().map(|(name, probe)| async move {
            let outcome =
                match tokio::time::timeout(std::time::Duration::from_secs(2), probe()).await {
                    Ok(result) => result,
                    Err(_) => Err("did not answer within 2s".to_owned()),
                };
            (*name, outcome)
        });
        futures::future::join_all(checks).await
    }
}

/// Registers `/healthz` (the process is alive) and `/readyz` (every dependency answers).
pub fn health_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let results = readiness.run().await;
    let ready = results.iter().all(|(_, r)| r.is_ok());
    let checks: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(name, r)| {
            let v = match r {
                Ok(()) => serde_json::json!("ok"),
                Err(e) => serde_json::json!(e),
            };
            (name.to_owned(), v)
        })
        .collect();
    let body = serde_json::json!({ "status": if ready { "ready" } else { "not ready" }, "checks": checks });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Binds `HOST:PORT` (port 0 picks a free one), with an error that names the variables.
pub fn bind(config: &crate::config::HttpConfig) -> anyhow::Result<std::net::TcpListener> {
    use anyhow::Context as _;
    std::net::TcpListener::bind((config.host.as_str(), config.port)).with_context(|| {
        format!(
            "cannot listen on {}:{} (set HOST/PORT)",
            config.host, config.port
        )
    })
}

/// How long a service keeps an idle client connection open: longer than every client that
/// pools connections to it keeps one idle (the gateway's upstreams 60 s, order-svc's clients
/// 30 s), so the client always lets go first. The other way round (actix-web's default is 5 s),
/// a client can reuse a connection at the moment the service closes it, and the request fails
/// without having reached the service; nginx does not resend a POST, so a customer got a 503.
pub const SERVER_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(75);

/// Builds a service's HTTP server the way every service runs it: request ids and RED metrics,
/// problem+json for bad JSON, queries and paths, `/healthz`, `/readyz`, `/metrics`, a problem
/// 404 for unknown routes, and no signal handling of its own (the process's shutdown token
/// decides). `routes` registers the service's own routes and app data.
pub fn serve<F>(
    config: &crate::config::HttpConfig,
    listener: std::net::TcpListener,
    readiness: Readiness,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
    routes: F,
) -> std::io::Result<actix_web::dev::Server>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let readiness = web::Data::new(readiness);
    let prometheus = web::Data::new(prometheus);
    Ok(actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .wrap(actix_web::middleware::from_fn(request_context))
            .app_data(json_config())
            .app_data(query_config())
            .app_data(path_config())
            .app_data(readiness.clone())
            .app_data(prometheus.clone())
            .configure(health_routes)
            .route("/metrics", web::get().to(crate::metrics::render))
            .configure(routes.clone())
            .default_service(web::to(no_such_route))
    })
    .workers(config.workers)
    .keep_alive(SERVER_KEEP_ALIVE)
    .disable_signals()
    .shutdown_timeout(config.shutdown_timeout.as_secs().max(1))
    .listen(listener)?
    .run())
}

/// The answer for a known path called with a method it does not take: problem+json 405.
pub async fn method_not_allowed() -> Result<HttpResponse, Problem> {
    Err(Problem::status(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take that method",
    ))
}

/// A route path that answers any method it was not given a route for with a problem+json 405
/// ([`method_not_allowed`]) rather than actix's bare one; its methods are added with `.route(…)`.
pub fn resource(path: impl Into<String>) -> actix_web::Resource {
    web::resource(path.into()).default_service(web::to(method_not_allowed))
}
