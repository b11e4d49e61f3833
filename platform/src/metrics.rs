//! The Prometheus recorder behind the `metrics` facade, and the `/metrics` route.
//!
//! The recorder is process-global (that is how the `metrics` facade works), so it is installed
//! once; tests that run many applications in one process share it. Besides what the services
//! record, every `/metrics` carries the process' own figures (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, … from the metrics-process crate,
//! read at each scrape) and `sioms_build_info{version, revision}` (always 1).

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The installed recorder's handle, or why it could not be installed; set once, by the first
/// caller, while any other caller waits.
static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process metrics, collected when `/metrics` is rendered.
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// `SIOMS_REVISION`: the source revision this binary was built from, for `sioms_build_info`
/// (the images and `make up` set it; `unknown` otherwise).
const REVISION_VAR: &str = "SIOMS_REVISION";

/// Latency buckets (seconds) for every `*_duration_seconds` histogram: from 0.5 ms, where a
/// Redis script answers, to 10 s, where a request is surely broken.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the recorder (once per process) and returns the handle that renders it.
///
/// The whole installation (the global recorder, the process collector, `sioms_build_info`)
/// runs inside one `OnceLock` initialisation, so a caller racing the first one waits for all
/// of it instead of rendering a half-installed recorder.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    HANDLE
        .get_or_init(|| install_once().map_err(|error| format!("{error:#}")))
        .clone()
        .map_err(|error| anyhow::anyhow!("metrics recorder was not installed: {error}"))
}

fn install_once() -> anyhow::Result<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".to_owned()),
            DURATION_BUCKETS,
        )?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    let process = PROCESS.get_or_init(metrics_process::Collector::default);
    process.describe();
    let revision = std::env::var(REVISION_VAR).unwrap_or_else(|_| "unknown".to_owned());
    metrics::gauge!("sioms_build_info", "version" => env!("CARGO_PKG_VERSION"), "revision" => revision)
        .set(1.0);
    Ok(handle)
}

/// `GET /metrics`: the Prometheus text exposition. Each scrape also runs the readiness checks
/// (each bounded by its timeout) into `readiness_check_up{check}` (1 passing, 0 failing), so
/// an alert sees what `/readyz` sees, and reads the process metrics.
pub async fn render(
    handle: web::Data<PrometheusHandle>,
    readiness: web::Data<crate::http::Readiness>,
) -> HttpResponse {
    for (check, outcome) in readiness.run().await {
        metrics::gauge!("readiness_check_up", "check" => check).set(if outcome.is_ok() {
            1.0
        } else {
            0.0
        });
    }
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, atomic::AtomicBool};

    use actix_web::{body::to_bytes, web};

    use crate::http::Readiness;

    #[actix_web::test]
    async fn metrics_carry_the_process_the_build_and_readiness() {
        let handle = super::install().unwrap();
        let up = Arc::new(AtomicBool::new(false));
        let readiness = Readiness::default().flag("broker", up, "broker away");
        let response = super::render(web::Data::new(handle), web::Data::new(readiness)).await;
        let text =
            String::from_utf8(to_bytes(response.into_body()).await.unwrap().to_vec()).unwrap();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "sioms_build_info{version=\"",
            "readiness_check_up{check=\"broker\"} 0",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
