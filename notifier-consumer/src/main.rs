//! notifier-consumer's entry point: configuration, telemetry, build, run, report how it ended.

use notifier_consumer::{Application, SERVICE, config::NotifierConfig};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::run::main(
        SERVICE,
        NotifierConfig::from_env,
        |config, shutdown| async move {
            let app = Application::build(config).await?;
            tracing::info!(port = app.port(), "{SERVICE} listening");
            app.run_until_stopped(shutdown).await
        },
    )
    .await
}
