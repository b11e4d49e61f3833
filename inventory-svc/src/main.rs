//! inventory-svc's entry point: configuration, telemetry, build, run, report how it ended.

use inventory_svc::{Application, SERVICE, config::InventoryConfig};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::run::main(
        SERVICE,
        InventoryConfig::from_env,
        |config, shutdown| async move {
            let app = Application::build(config).await?;
            tracing::info!(port = app.port(), "{SERVICE} listening");
            app.run_until_stopped(shutdown).await
        },
    )
    .await
}
