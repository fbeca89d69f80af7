//! `admin-webhooks webhooks list|create|get|update|delete|test|rotate-secret`.

use client::{NewWebhook, Webhook, WebhookChanges};
use domain::WebhookId;

use super::table::{Table, fields, time};
use super::{ApiArgs, CliError, PageArgs, events, next_page_hint, print};

#[derive(Debug, clap::Args)]
pub struct WebhooksCommand {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub verb: WebhookVerb,
}

#[derive(Debug, clap::Subcommand)]
pub enum WebhookVerb {
    /// One page of the workspace's endpoints (without their secrets).
    List(PageArgs),
    /// Register an endpoint; prints its signing secret.
    Create(CreateArgs),
    /// One endpoint, with its signing secret.
    Get { id: WebhookId },
    /// Change an endpoint; what is not given stays as it is.
    Update(UpdateArgs),
    /// Delete an endpoint with its deliveries and their log.
    Delete { id: WebhookId },
    /// Send a `webhook.test` event to this endpoint alone.
    Test { id: WebhookId },
    /// Give the endpoint a new signing secret; the old one keeps signing for the grace.
    RotateSecret { id: WebhookId },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The receiver's URL (`https://…`; `http://` and loopback only with `serve --dev`).
    #[arg(long)]
    pub url: String,
    /// An event type, group (`user.*`) or `*`; repeat it, or separate with commas.
    #[arg(long = "event", required = true, value_delimiter = ',')]
    pub events: Vec<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Register it disabled: nothing is delivered until it is enabled.
    #[arg(long)]
    pub disabled: bool,
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    pub id: WebhookId,
    #[arg(long)]
    pub url: Option<String>,
    /// Replaces the subscriptions; repeat it, or separate with commas.
    #[arg(long = "event", value_delimiter = ',')]
    pub events: Option<Vec<String>>,
    #[arg(long)]
    pub description: Option<String>,
    /// Resume deliveries.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Pause deliveries (they wait, and are sent in order once enabled again).
    #[arg(long)]
    pub disable: bool,
}

impl WebhooksCommand {
    pub(super) async fn run(self) -> Result<(), CliError> {
        let api = self.api.client()?;
        let args = &self.api;
        match self.verb {
            WebhookVerb::List(page) => {
                let page = api.list_webhooks(&page.query()).await?;
                print(args, &page, |page| {
                    let mut table = Table::new(&["ID", "URL", "EVENTS", "ENABLED", "DESCRIPTION"]);
                    for hook in &page.data {
                        table.row(vec![
                            hook.id.to_string(),
                            hook.url.clone(),
                            hook.events.join(","),
                            hook.enabled.to_string(),
                            hook.description.clone(),
                        ]);
                    }
                    table.render("No webhooks.") + &next_page_hint(page.next_cursor.as_deref())
                })
            }
            WebhookVerb::Create(create) => {
                let new = NewWebhook {
                    url: create.url,
                    events: create.events,
                    description: create.description,
                    enabled: create.disabled.then_some(false),
                };
                let hook = api.create_webhook(&new).await?;
                print(args, &hook, human)
            }
            WebhookVerb::Get { id } => print(args, &api.get_webhook(&id).await?, human),
            WebhookVerb::Update(update) => {
                let changes = WebhookChanges {
                    url: update.url,
                    events: update.events,
                    description: update.description,
                    enabled: match (update.enable, update.disable) {
                        (true, _) => Some(true),
                        (_, true) => Some(false),
                        _ => None,
                    },
                };
                if changes == WebhookChanges::default() {
                    return Err(CliError::Usage(
                        "nothing to change: give --url, --event, --description, --enable or \
                         --disable"
                            .to_owned(),
                    ));
                }
                let hook = api.update_webhook(&update.id, &changes).await?;
                print(args, &hook, human)
            }
            WebhookVerb::Delete { id } => {
                api.delete_webhook(&id).await?;
                // The API answers 204 without a body: a script has nothing to parse.
                if !args.json {
                    println!("Deleted {id}.");
                }
                Ok(())
            }
            WebhookVerb::Test { id } => {
                let event = api.send_test_event(&id).await?;
                print(args, &event, events::human)
            }
            WebhookVerb::RotateSecret { id } => {
                let rotated = api.rotate_secret(&id).await?;
                print(args, &rotated, |r| {
                    fields(&[
                        ("webhook", r.webhook_id.to_string()),
                        ("secret", r.secret.clone()),
                        (
                            "old secret signs until",
                            time(&r.previous_secret_expires_at),
                        ),
                    ])
                })
            }
        }
    }
}

fn human(hook: &Webhook) -> String {
    let mut pairs = vec![
        ("id", hook.id.to_string()),
        ("url", hook.url.clone()),
        ("events", hook.events.join(", ")),
        ("enabled", hook.enabled.to_string()),
        ("description", hook.description.clone()),
    ];
    if let Some(secret) = &hook.secret {
        pairs.push(("secret", secret.clone()));
    }
    pairs.push(("created", time(&hook.created_at)));
    pairs.push(("updated", time(&hook.updated_at)));
    fields(&pairs)
}
