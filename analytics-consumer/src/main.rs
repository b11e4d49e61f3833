//! analytics-consumer's entry point: configuration, telemetry, build, run, report how it ended.

use analytics_consumer::{Application, SERVICE, config::AnalyticsConfig};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::run::main(
        SERVICE,
        AnalyticsConfig::from_env,
        |config, shutdown| async move {
            let app = Application::build(config).await?;
            tracing::info!(port = app.port(), "{SERVICE} listening");
            app.run_until_stopped(shutdown).await
        },
    )
    .await
}
