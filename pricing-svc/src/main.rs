//! pricing-svc's entry point: configuration, telemetry, build, run, report how it ended.

use platform::config::{Env, ProcessEnv};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match pricing_svc::config::PricingConfig::from_env(&Env::new(&ProcessEnv)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("pricing-svc: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    platform::telemetry::init(config.log_format);
    let shutdown = platform::shutdown::on_signal();
    let result = async {
        let app = pricing_svc::Application::build(config).await?;
        tracing::info!(port = app.port(), "pricing-svc listening");
        app.run_until_stopped(shutdown).await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!("pricing-svc stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            platform::telemetry::log_error_chain("pricing-svc failed", &e);
            std::process::ExitCode::FAILURE
        }
    }
}
