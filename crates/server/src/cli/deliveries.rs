//! `admin-webhooks deliveries list|get|retry` and `admin-webhooks replay`.

use client::{Delivery, DeliveryFilter, Replay};
use domain::{DeliveryId, DeliveryStatus, WebhookId};

use super::table::{Table, fields, or_dash, time};
use super::{ApiArgs, CliError, ListFilterArgs, next_page_hint, print};

#[derive(Debug, clap::Args)]
pub struct DeliveriesCommand {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub verb: DeliveryVerb,
}

#[derive(Debug, clap::Subcommand)]
pub enum DeliveryVerb {
    /// One page of an endpoint's deliveries, newest first.
    List(ListArgs),
    /// One delivery with every attempt.
    Get { id: DeliveryId },
    /// Send one delivery again now, whatever its status.
    Retry { id: DeliveryId },
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The endpoint (`wh_…`).
    pub webhook: WebhookId,
    /// `pending`, `delivered`, `failed` (being retried) or `expired`.
    #[arg(long)]
    pub status: Option<DeliveryStatus>,
    #[command(flatten)]
    pub filter: ListFilterArgs,
}

#[derive(Debug, clap::Args)]
pub struct ReplayCommand {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The endpoint (`wh_…`).
    pub webhook: WebhookId,
    /// RFC 3339: re-send deliveries created at or after it.
    #[arg(long)]
    pub since: String,
    /// RFC 3339: and before it [default: now].
    #[arg(long)]
    pub until: Option<String>,
    /// Only deliveries that now have this status.
    #[arg(long)]
    pub status: Option<DeliveryStatus>,
}

impl DeliveriesCommand {
    pub(super) async fn run(self) -> Result<(), CliError> {
        let api = self.api.client()?;
        let args = &self.api;
        match self.verb {
            DeliveryVerb::List(list) => {
                let filter = DeliveryFilter {
                    status: list.status,
                    event_type: list.filter.event_type,
                    since: list.filter.since,
                    until: list.filter.until,
                    page: list.filter.page.query(),
                };
                let page = api.list_deliveries(&list.webhook, &filter).await?;
                print(args, &page, |page| {
                    table(&page.data).render("No deliveries.")
                        + &next_page_hint(page.next_cursor.as_deref())
                })
            }
            DeliveryVerb::Get { id } => {
                let detail = api.get_delivery(&id).await?;
                print(args, &detail, |d| {
                    let mut attempts =
                        Table::new(&["ATTEMPTED", "STATUS", "MS", "ERROR CLASS", "ERROR"]);
                    for a in &d.attempts {
                        attempts.row(vec![
                            time(&a.attempted_at),
                            or_dash(a.status_code),
                            a.response_ms.to_string(),
                            or_dash(a.error_class),
                            or_dash(a.error_message.as_deref()),
                        ]);
                    }
                    format!(
                        "{}\n\n{}",
                        human(&d.delivery),
                        attempts.render("No attempts yet.")
                    )
                })
            }
            DeliveryVerb::Retry { id } => {
                let delivery = api.retry_delivery(&id).await?;
                print(args, &delivery, human)
            }
        }
    }
}

impl ReplayCommand {
    pub(super) async fn run(self) -> Result<(), CliError> {
        let api = self.api.client()?;
        let replay = Replay {
            since: self.since,
            until: self.until,
            status: self.status,
        };
        let replayed = api.replay(&self.webhook, &replay).await?;
        print(&self.api, &replayed, |r| {
            format!("Re-sending {} deliveries of {}.", r.replayed, self.webhook)
        })
    }
}

/// Deliveries as rows, one per delivery.
pub(super) fn table(deliveries: &[Delivery]) -> Table {
    let mut table = Table::new(&[
        "ID",
        "WEBHOOK",
        "TYPE",
        "STATUS",
        "ATTEMPTS",
        "LAST CODE",
        "CREATED",
    ]);
    for d in deliveries {
        table.row(vec![
            d.id.to_string(),
            d.webhook_id.to_string(),
            d.event_type.clone(),
            d.status.to_string(),
            d.attempt_count.to_string(),
            or_dash(d.last_status_code),
            time(&d.created_at),
        ]);
    }
    table
}

fn human(d: &Delivery) -> String {
    fields(&[
        ("id", d.id.to_string()),
        ("event", d.event_id.to_string()),
        ("webhook", d.webhook_id.to_string()),
        ("type", d.event_type.clone()),
        ("status", d.status.to_string()),
        ("attempts", d.attempt_count.to_string()),
        ("last status code", or_dash(d.last_status_code)),
        ("last error", or_dash(d.last_error.as_deref())),
        (
            "next attempt",
            or_dash(d.next_attempt_at.as_ref().map(time)),
        ),
        ("created", time(&d.created_at)),
    ])
}
