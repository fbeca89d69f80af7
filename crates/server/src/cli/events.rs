//! `admin-webhooks events publish|list|get`.

use client::{Event, EventFilter, NewEvent};
use domain::EventId;
use serde_json::value::RawValue;

use super::table::{Table, fields, time};
use super::{ApiArgs, CliError, ListFilterArgs, deliveries, next_page_hint, print};

#[derive(Debug, clap::Args)]
pub struct EventsCommand {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub verb: EventVerb,
}

#[derive(Debug, clap::Subcommand)]
pub enum EventVerb {
    /// Publish an event to every endpoint subscribed to its type.
    Publish(PublishArgs),
    /// One page of the workspace's events, newest first.
    List(ListFilterArgs),
    /// One event with its deliveries.
    Get { id: EventId },
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// A type of the workspace's catalog (`user.created`).
    #[arg(long = "type")]
    pub event_type: String,
    /// The event's `data`: a JSON object, sent byte for byte.
    #[arg(long)]
    pub data: String,
    /// The event's `metadata`: a JSON object.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Publishing again with the same key within 24 h answers the first event and
    /// creates nothing: safe to retry.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

impl EventsCommand {
    pub(super) async fn run(self) -> Result<(), CliError> {
        let api = self.api.client()?;
        let args = &self.api;
        match self.verb {
            EventVerb::Publish(publish) => {
                let event = NewEvent {
                    event_type: publish.event_type,
                    data: json_argument("--data", publish.data)?,
                    metadata: publish
                        .metadata
                        .map(|m| json_argument("--metadata", m))
                        .transpose()?,
                };
                let published = api
                    .publish_event(&event, publish.idempotency_key.as_deref())
                    .await?;
                print(args, &published, human)
            }
            EventVerb::List(list) => {
                let filter = EventFilter {
                    event_type: list.event_type,
                    since: list.since,
                    until: list.until,
                    page: list.page.query(),
                };
                let page = api.list_events(&filter).await?;
                print(args, &page, |page| {
                    let mut table = Table::new(&["ID", "TYPE", "TIMESTAMP"]);
                    for event in &page.data {
                        table.row(vec![
                            event.id.to_string(),
                            event.event_type.clone(),
                            time(&event.timestamp),
                        ]);
                    }
                    table.render("No events.") + &next_page_hint(page.next_cursor.as_deref())
                })
            }
            EventVerb::Get { id } => {
                let event = api.get_event(&id).await?;
                print(args, &event, |e| {
                    format!(
                        "{}\n\n{}",
                        human(&e.event),
                        deliveries::table(&e.deliveries).render("No deliveries.")
                    )
                })
            }
        }
    }
}

/// A JSON argument, kept as written so that it is published byte for byte.
pub(super) fn json_argument(flag: &str, text: String) -> Result<Box<RawValue>, CliError> {
    RawValue::from_string(text)
        .map_err(|e| CliError::Usage(format!("{flag} is not valid JSON: {e}")))
}

pub(super) fn human(event: &Event) -> String {
    fields(&[
        ("id", event.id.to_string()),
        ("type", event.event_type.clone()),
        ("timestamp", time(&event.timestamp)),
        ("data", event.data.get().to_owned()),
        ("metadata", event.metadata.get().to_owned()),
    ])
}
