//! notifier-consumer's entry point: configuration, telemetry, build, run, report how it ended.

use notifier_consumer::{Application, config::NotifierConfig};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::run::main(
        "notifier-consumer",
        NotifierConfig::from_env,
        |config, shutdown| async move {
            let app = Application::build(config).await?;
            tracing::info!(port = app.port(), "notifier-consumer listening");
            app.run_until_stopped(shutdown).await
        },
    )
    .await
}
