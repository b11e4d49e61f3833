//! sioms-chaos's entry point: settings, the suite, and an exit code (0: every row passed,
//! 1: a row failed, 2: the suite could not run). Run it from the repository root with the
//! stack's `STACK`, `PORT_BASE` and `REDIS_PORT` (as `scripts/chaos.sh` does).

use std::process::ExitCode;

use sioms_chaos::{config::ChaosConfig, stack::STACK_SCRIPT, suite};

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = async {
        let config = ChaosConfig::from_env()?;
        let root = std::env::current_dir()?;
        anyhow::ensure!(
            root.join(STACK_SCRIPT).exists(),
            "no {STACK_SCRIPT} here: run sioms-chaos from the repository root (make chaos does)"
        );
        suite::run(config, &root).await
    }
    .await;
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sioms-chaos: {e:#}");
            ExitCode::from(2)
        }
    }
}
