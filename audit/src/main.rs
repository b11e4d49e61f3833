//! `sioms-audit`: configuration from the environment and the command line, logs on stderr, the
//! report on stdout, and the exit status (0 every invariant holds, 1 a discrepancy persisted,
//! 2 a source could not be read).

use std::{io::IsTerminal as _, process::ExitCode};

use platform::config::{Env, ProcessEnv};
use sioms_audit::{
    Auditor,
    config::{AuditConfig, Command, USAGE},
};
use tracing_subscriber::EnvFilter;

/// The exit status when the audit could not even start (bad configuration).
const CANNOT_READ: u8 = 2;

/// A log filter `spec` with lapin turned off, unless `spec` says what to do with lapin.
fn quiet_lapin(spec: &str) -> String {
    if spec.contains("lapin") {
        spec.to_owned()
    } else {
        format!("{spec},lapin=off")
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // Progress (re-attempts) goes to stderr, so stdout holds only the report. lapin logs an
    // ERROR for every channel the broker closes, which the queue probes do on purpose (a
    // passive declare of a retry level that does not exist); a real broker failure reaches
    // the report as an unreadable source instead. So lapin stays quiet unless `RUST_LOG` names
    // it: the stacks' `RUST_LOG=info` (.env.example), meant for the services, used to let
    // those ERRORs through into every `make audit` of the tests and the fault suite.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .map(|spec| quiet_lapin(&spec))
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(quiet_lapin("warn,sioms_audit=info")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let attempts = match Command::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Audit { attempts }) => attempts,
        Err(e) => {
            eprintln!("sioms-audit: {e}\n{USAGE}");
            return ExitCode::from(CANNOT_READ);
        }
    };
    let mut config = match AuditConfig::from_env(&Env::new(&ProcessEnv)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sioms-audit: {e}");
            return ExitCode::from(CANNOT_READ);
        }
    };
    if let Some(attempts) = attempts {
        config.limits.attempts = attempts;
    }
    let auditor = match Auditor::new(&config) {
        Ok(auditor) => auditor,
        Err(e) => {
            eprintln!("sioms-audit: {e:#}");
            return ExitCode::from(CANNOT_READ);
        }
    };
    let patience = match config.limits.attempts {
        1 => "one attempt (strict)".to_owned(),
        n => format!(
            "up to {n} attempts, {} apart",
            humantime::format_duration(config.limits.settle)
        ),
    };
    println!(
        "sioms-audit: Redis keys {:?}, queues {} and {}; {patience}",
        config.redis.key_prefix, config.analytics_queue, config.notifier_queue,
    );
    let report = auditor.run().await;
    print!("{report}");
    ExitCode::from(report.exit_code())
}
