//! How every service process starts and stops, so each `main.rs` and `run_until_stopped` is a
//! few lines: load config → init telemetry → build → run → report how it ended, and on shutdown
//! stop in order: HTTP first (in-flight requests finish), then background workers, then the
//! outbox relay (which publishes what those requests committed).

use std::{future::Future, pin::Pin, time::Duration};

use actix_web::dev::Server;
use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, Env, ProcessEnv, ServiceConfig};

/// A background task of a service: given its own stop token, runs until it is cancelled.
pub type Worker =
    Box<dyn FnOnce(CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Wraps a task's `run(token)` as a [`Worker`].
pub fn worker<F, Fut>(run: F) -> Worker
where
    F: FnOnce(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Box::new(move |token| Box::pin(run(token)))
}

/// Runs `pass` at once and then every `interval` until `shutdown`: the loop of every periodic
/// worker (a reaper, a sync, a gauge refresh). A pass under way when `shutdown` comes is not cut
/// off: it finishes, then the loop returns. A pass that takes longer than `interval` pushes the
/// next one back instead of letting missed ticks fire in a burst.
pub async fn every<F, Fut>(interval: Duration, shutdown: &CancellationToken, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        pass().await;
    }
}

/// How long the relay may take to publish what is left after everything else stopped.
const RELAY_DRAIN: Duration = Duration::from_secs(15);

/// Serves `server` until `shutdown` is cancelled (or the server fails), then stops HTTP
/// gracefully, then `workers`, then `last` (an outbox relay, which publishes what the others
/// committed, or a consumer, which finishes the deliveries in hand).
pub async fn until_stopped(
    server: Server,
    shutdown: CancellationToken,
    workers: Vec<Worker>,
    last: Worker,
) -> anyhow::Result<()> {
    let handle = server.handle();
    let mut server = tokio::spawn(server);
    let workers_stop = CancellationToken::new();
    let running: Vec<_> = workers
        .into_iter()
        .map(|w| tokio::spawn(w(workers_stop.clone())))
        .collect();
    let relay_stop = CancellationToken::new();
    let relay = tokio::spawn(last(relay_stop.clone()));
    let served = tokio::select! {
        () = shutdown.cancelled() => {
            handle.stop(true).await;
            Ok(())
        }
        ended = &mut server => ended.context("HTTP server task failed")?
            .context("HTTP server stopped unexpectedly"),
    };
    workers_stop.cancel();
    for w in running {
        let _ = w.await;
    }
    relay_stop.cancel();
    let _ = tokio::time::timeout(RELAY_DRAIN, relay).await;
    if !server.is_finished() {
        server.abort();
    }
    served
}

/// What a service binary was asked to do on its command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// No argument: run the service.
    Serve,
    /// `healthcheck`: ask the running process's own `/readyz` and exit 0 when it is ready (the
    /// container image's `HEALTHCHECK`, so no curl needs to be in the image).
    Healthcheck,
}

impl Command {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        match (args.next().as_deref(), args.next()) {
            (None, _) => Ok(Self::Serve),
            (Some("healthcheck"), None) => Ok(Self::Healthcheck),
            (Some(other), _) => Err(other.to_owned()),
        }
    }
}

/// A service's `main`: reads its config from the environment (exit code 2 with a message naming
/// the variable when it is wrong), sets up logging, runs `serve` until SIGTERM/Ctrl-C, and
/// reports how it ended (exit code 1 on failure). Run as `<service> healthcheck`, it instead
/// asks the running service's `/readyz` with the same configuration (exit code 0 when ready).
pub async fn main<C, F, Fut>(
    name: &str,
    load: fn(&Env<'_>) -> Result<C, ConfigError>,
    serve: F,
) -> std::process::ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let command = match Command::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(arg) => {
            eprintln!("{name}: unknown argument {arg:?}; usage: {name} [healthcheck]");
            return std::process::ExitCode::from(2);
        }
    };
    let config = match load(&Env::new(&ProcessEnv)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{name}: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if command == Command::Healthcheck {
        return crate::healthcheck::run(name, config.http()).await;
    }
    crate::telemetry::init(config.log_format());
    let shutdown = crate::shutdown::on_signal();
    match serve(config, shutdown).await {
        Ok(()) => {
            tracing::info!("{name} stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            crate::telemetry::log_error_chain(&format!("{name} failed"), &e);
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Command;

    fn parse(args: &[&str]) -> Result<Command, String> {
        Command::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn no_argument_serves_and_healthcheck_checks() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(parse(&["healthcheck"]), Ok(Command::Healthcheck));
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(parse(&["serve"]), Err("serve".to_owned()));
        assert_eq!(
            parse(&["healthcheck", "now"]),
            Err("healthcheck".to_owned())
        );
    }
}
