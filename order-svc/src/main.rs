//! order-svc's entry point: configuration, telemetry, build, run, report how it ended.

use platform::config::{Env, ProcessEnv};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match order_svc::config::OrderConfig::from_env(&Env::new(&ProcessEnv)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("order-svc: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    platform::telemetry::init(config.log_format);
    let shutdown = platform::shutdown::on_signal();
    let result = async {
        let app = order_svc::Application::build(config).await?;
        tracing::info!(port = app.port(), "order-svc listening");
        app.run_until_stopped(shutdown).await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!("order-svc stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            platform::telemetry::log_error_chain("order-svc failed", &e);
            std::process::ExitCode::FAILURE
        }
    }
}
