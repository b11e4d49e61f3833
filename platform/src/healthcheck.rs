//! `<service> healthcheck`: the container health check, built into every binary so an image
//! needs no curl. It asks the running process's own `GET /readyz` on the address its
//! configuration binds (loopback when it binds every interface) and maps the answer to an exit
//! code: 0 ready, 1 not ready or not answering. Docker's `HEALTHCHECK` and compose's
//! `service_healthy` use it; Kubernetes probes call the same route over HTTP directly.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    process::ExitCode,
    time::Duration,
};

use crate::config::HttpConfig;

/// How long the check waits for an answer: shorter than any sensible `HEALTHCHECK --timeout`,
/// so a hung process reads as "not ready" rather than as a killed check.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The host to call for a server bound to `host`: a wildcard bind is reached on loopback.
fn target_host(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => format!("[{}]", Ipv6Addr::LOCALHOST),
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => host.to_owned(),
    }
}

/// Asks `/readyz` of the service configured by `http`: `Ok` with what it answered when it is
/// ready, `Err` with what went wrong otherwise.
pub async fn check(http: &HttpConfig) -> Result<String, String> {
    let url = format!("http://{}:{}/readyz", target_host(&http.host), http.port);
    let answer = async {
        let client = reqwest::Client::builder().timeout(TIMEOUT).build()?;
        let response = client.get(&url).send().await?;
        let status = response.status();
        Ok::<_, reqwest::Error>((status, response.text().await.unwrap_or_default()))
    };
    match answer.await {
        Ok((status, body)) if status.is_success() => Ok(format!("ready ({url}: {status} {body})")),
        Ok((status, body)) => Err(format!("not ready ({url}: {status} {body})")),
        Err(e) => Err(format!("not answering ({url}: {e})")),
    }
}

/// `<service> healthcheck`: prints what [`check`] found (Docker keeps it in `docker inspect`)
/// and returns the exit code.
pub async fn run(name: &str, http: &HttpConfig) -> ExitCode {
    match check(http).await {
        Ok(found) => {
            println!("{name}: {found}");
            ExitCode::SUCCESS
        }
        Err(found) => {
            println!("{name}: {found}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::{
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        time::Duration,
    };

    use super::{check, target_host};
    use crate::{config::HttpConfig, http::Readiness};

    #[test]
    fn a_wildcard_bind_is_checked_on_loopback() {
        assert_eq!(target_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(target_host("::"), "[::1]");
        assert_eq!(target_host("10.1.2.3"), "10.1.2.3");
        assert_eq!(target_host("fd00::1"), "[fd00::1]");
        assert_eq!(target_host("localhost"), "localhost");
    }

    fn config(port: u16) -> HttpConfig {
        HttpConfig {
            host: "0.0.0.0".to_owned(),
            port,
            workers: 1,
            shutdown_timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn it_follows_the_services_readiness() {
        let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let http = config(listener.local_addr().unwrap().port());
        let up = Arc::new(AtomicBool::new(true));
        let readiness = Readiness::default().flag("broker", up.clone(), "broker away");
        let prometheus = crate::metrics::install().unwrap();
        let server = crate::http::serve(&http, listener, readiness, prometheus, |_| {}).unwrap();
        let handle = server.handle();
        tokio::spawn(server);

        let ready = check(&http).await.unwrap();
        assert!(ready.contains("200"), "{ready}");
        up.store(false, Ordering::SeqCst);
        let not_ready = check(&http).await.unwrap_err();
        assert!(
            not_ready.contains("503") && not_ready.contains("broker away"),
            "{not_ready}"
        );

        handle.stop(false).await;
        let gone = check(&http).await.unwrap_err();
        assert!(gone.starts_with("not answering"), "{gone}");
    }
}
