//! `admin-webhooks trigger <event-type> [--data JSON]`: publishes an event of a catalog
//! type with the catalog's example `data`, so that `listen` in one terminal and
//! `trigger user.created` in another are the whole tour.

use client::NewEvent;

use super::{ApiArgs, CliError, events, print};

#[derive(Debug, clap::Args)]
pub struct TriggerCommand {
    /// A type of the workspace's catalog (`user.created`).
    pub event_type: String,
    /// The event's `data` instead of the catalog's example: a JSON object.
    #[arg(long)]
    pub data: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl TriggerCommand {
    pub(super) async fn run(self) -> Result<(), CliError> {
        let api = self.api.client()?;
        let data = match self.data {
            Some(text) => events::json_argument("--data", text)?,
            None => {
                let catalog = api.list_event_types().await?;
                let Some(entry) = catalog.iter().find(|t| t.name == self.event_type) else {
                    let names: Vec<&str> = catalog.iter().map(|t| t.name.as_str()).collect();
                    return Err(CliError::Usage(format!(
                        "`{}` is not in this workspace's catalog; it has: {}",
                        self.event_type,
                        names.join(", ")
                    )));
                };
                let Some(example) = entry.example.clone() else {
                    return Err(CliError::Usage(format!(
                        "`{}` has no example in the catalog (only built-in types do); give the data with --data '{{…}}'",
                        self.event_type
                    )));
                };
                example
            }
        };
        let event = NewEvent {
            event_type: self.event_type,
            data,
            metadata: None,
        };
        let published = api.publish_event(&event, None).await?;
        print(&self.api, &published, events::human)
    }
}
