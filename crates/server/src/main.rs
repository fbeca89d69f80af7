//! The `admin-webhooks` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

use admin_webhooks::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let settings = args.resolve()?;
            let telemetry = admin_webhooks::telemetry::init(
                settings.log_format,
                settings.otlp_endpoint.as_ref(),
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            let listener = tokio::net::TcpListener::bind(settings.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
            let shutdown = admin_webhooks::shutdown_on_signal();
            let served = admin_webhooks::run(settings, listener, shutdown).await;
            telemetry.shutdown().await;
            served?;
        }
        Command::Receive(args) => admin_webhooks::receive::run(args).await?,
        Command::Api(command) => return Ok(admin_webhooks::cli::run(command).await),
    }
    Ok(ExitCode::SUCCESS)
}
