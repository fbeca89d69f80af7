//! The command line of the API: `admin-webhooks webhooks|events|deliveries|replay|trigger
//! …`, thin adapters over [`client::ApiClient`] that parse arguments, make one call and
//! print its result; and `listen`, which holds a stream open (see [`listen`]).
//!
//! Invariants:
//! - Output goes to stdout: a table (or `field: value` lines) for people by default, the
//!   API's JSON with `--json` for scripts. Nothing else is written to stdout in `--json`
//!   mode, so it always parses.
//! - Any failure exits with status 1 and says why on stderr; an API error says the
//!   problem's status, title and detail (and its request id).
//! - The API key is never printed: not in `--help` (its environment value is hidden), not
//!   in `Debug`, not in errors.

mod deliveries;
mod events;
mod listen;
mod table;
mod trigger;
mod webhooks;

use std::io::Write;
use std::process::ExitCode;

use client::{ApiClient, ClientError, PageQuery};
use serde::Serialize;

use crate::config::Secret;

pub use deliveries::{DeliveriesCommand, ReplayCommand};
pub use events::EventsCommand;
pub use listen::ListenCommand;
pub use trigger::TriggerCommand;
pub use webhooks::WebhooksCommand;

/// The commands that call the API, flattened into the binary's subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ApiCommand {
    /// Endpoints: list, create, get, update, delete, test, rotate-secret.
    Webhooks(WebhooksCommand),
    /// Events: publish, list, get.
    Events(EventsCommand),
    /// The activity log: list an endpoint's deliveries, get one, retry one.
    Deliveries(DeliveriesCommand),
    /// Re-send an endpoint's deliveries created in a time range, in their order.
    Replay(ReplayCommand),
    /// Receive the workspace's webhooks on this machine: connects out to the service and
    /// forwards each delivery to a local URL (no tunnel, no --dev).
    Listen(ListenCommand),
    /// Publish an event of a catalog type with the catalog's example data.
    Trigger(TriggerCommand),
}

/// How to reach the API and how to print; accepted after any verb.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Root URL of the service's API.
    #[arg(long, env = "ADMIN_WEBHOOKS_API_URL", default_value = client::DEFAULT_API_URL, global = true)]
    pub api_url: String,

    /// An API key of the workspace (`awk_…`). Prefer the environment variable: a flag
    /// shows in the process list and the shell's history.
    #[arg(
        long,
        env = "ADMIN_WEBHOOKS_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub api_key: Option<Secret>,

    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ApiArgs {
    fn client(&self) -> Result<ApiClient, ClientError> {
        ApiClient::new(
            &self.api_url,
            self.api_key.as_ref().map(|key| key.expose().to_owned()),
        )
    }
}

/// Which page of a list to print.
#[derive(Debug, Clone, clap::Args)]
pub struct PageArgs {
    /// Items per page, 1 to 100 [default: 50].
    #[arg(long)]
    pub limit: Option<u32>,
    /// The cursor printed after the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
}

impl PageArgs {
    fn query(&self) -> PageQuery {
        PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }
}

/// The filters events and deliveries share, with the page to print.
#[derive(Debug, Clone, clap::Args)]
pub struct ListFilterArgs {
    /// Only events (or deliveries of events) of this type.
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// RFC 3339: published (deliveries: created) at or after it.
    #[arg(long)]
    pub since: Option<String>,
    /// RFC 3339: published (deliveries: created) before it.
    #[arg(long)]
    pub until: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
}

/// What a command failed with.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An argument the API would refuse anyway, caught before calling it.
    #[error("{0}")]
    Usage(String),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs one command; the exit code is 0 on success, 1 on any failure (said on stderr).
pub async fn run(command: ApiCommand) -> ExitCode {
    let result = match command {
        ApiCommand::Webhooks(command) => command.run().await,
        ApiCommand::Events(command) => command.run().await,
        ApiCommand::Deliveries(command) => command.run().await,
        ApiCommand::Replay(command) => command.run().await,
        ApiCommand::Listen(command) => command.run().await,
        ApiCommand::Trigger(command) => command.run().await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::from(1)
        }
    }
}

/// The sentence printed for a failure, with the problem's fields when the API answered.
fn describe(error: &CliError) -> String {
    match error {
        CliError::Client(ClientError::Api(problem)) => {
            let mut text = format!(
                "the API answered {} {}: {}",
                problem.status, problem.title, problem.detail
            );
            if let Some(id) = &problem.request_id {
                text.push_str(&format!(" (request id {id})"));
            }
            text
        }
        CliError::Client(other) => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
        other => other.to_string(),
    }
}

/// Prints `value` as the API's JSON when `--json` was given, otherwise as `human` renders
/// it.
fn print<T: Serialize>(
    args: &ApiArgs,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> Result<(), CliError> {
    let text = if args.json {
        serde_json::to_string_pretty(value).map_err(std::io::Error::other)?
    } else {
        human(value)
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", text.trim_end())?;
    out.flush()?;
    Ok(())
}

/// The line after a table saying how to get the next page, if there is one.
fn next_page_hint(next_cursor: Option<&str>) -> String {
    next_cursor.map_or_else(String::new, |cursor| {
        format!("\nMore: add --cursor {cursor}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::config::{Cli, Command};

    fn parse(argv: &[&str]) -> ApiCommand {
        let mut all = vec!["admin-webhooks"];
        all.extend_from_slice(argv);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Api(command) => command,
            other => panic!("not an API command: {other:?}"),
        }
    }

    #[test]
    fn api_flags_are_taken_after_the_verb_and_the_key_never_shows() {
        let ApiCommand::Webhooks(command) = parse(&[
            "webhooks",
            "list",
            "--json",
            "--api-url",
            "http://127.0.0.1:1234",
            "--api-key",
            "awk_very_secret_key_0123456789",
        ]) else {
            panic!("not webhooks");
        };
        assert!(command.api.json);
        assert_eq!(command.api.api_url, "http://127.0.0.1:1234");
        let shown = format!("{command:?}");
        assert!(!shown.contains("very_secret"), "{shown}");
    }

    #[test]
    fn an_api_error_is_told_with_its_status_title_detail_and_request_id() {
        let problem = client::Problem {
            kind: "about:blank".into(),
            title: "Not Found".into(),
            status: 404,
            detail: "There is no webhook `wh_x`.".into(),
            request_id: Some("req_1".into()),
        };
        assert_eq!(
            describe(&CliError::Client(ClientError::Api(problem))),
            "the API answered 404 Not Found: There is no webhook `wh_x`. (request id req_1)"
        );
    }
}
