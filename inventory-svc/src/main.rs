//! inventory-svc's entry point: configuration, telemetry, build, run, report how it ended.

use platform::config::{Env, ProcessEnv};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match inventory_svc::config::InventoryConfig::from_env(&Env::new(&ProcessEnv)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("inventory-svc: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    platform::telemetry::init(config.log_format);
    let shutdown = platform::shutdown::on_signal();
    let result = async {
        let app = inventory_svc::Application::build(config).await?;
        tracing::info!(port = app.port(), "inventory-svc listening");
        app.run_until_stopped(shutdown).await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!("inventory-svc stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            platform::telemetry::log_error_chain("inventory-svc failed", &e);
            std::process::ExitCode::FAILURE
        }
    }
}
