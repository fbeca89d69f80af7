//! `admin-webhooks webhooks list|create|get|update|delete|test|rotate-secret`.

use std::collections::BTreeMap;

use client::{NewWebhook, Webhook, WebhookChanges};
use domain::{RateLimit, RatePeriod, WebhookId};

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
    /// At most this many requests per second or minute: `20/s`, `600/m`.
    #[arg(long, value_name = "N/s|N/m", value_parser = parse_rate_limit)]
    pub rate_limit: Option<RateLimit>,
    /// A header added to every attempt, `Name: value`; repeat it for more. The value
    /// shows in the process list like any argument.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
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
    /// A new rate limit (`20/s`, `600/m`), or `none` to remove it.
    #[arg(long, value_name = "N/s|N/m|none", value_parser = parse_rate_limit_change)]
    pub rate_limit: Option<RateLimitChange>,
    /// Replaces every custom header, `Name: value`; repeat it for more.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = parse_header, conflicts_with = "clear_headers")]
    pub headers: Option<Vec<(String, String)>>,
    /// Removes every custom header.
    #[arg(long)]
    pub clear_headers: bool,
}

/// `20/s`, `20/second`, `600/m`, `600/minute`, within the API's bounds.
fn parse_rate_limit(text: &str) -> Result<RateLimit, String> {
    let (count, period) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a rate: write it as `20/s` or `600/m`"))?;
    let period = match period.trim() {
        "s" | "sec" | "second" => RatePeriod::Second,
        "m" | "min" | "minute" => RatePeriod::Minute,
        other => return Err(format!("`{other}` is not a period: use `s` or `m`")),
    };
    let count: u64 = count
        .trim()
        .parse()
        .map_err(|_| format!("`{count}` is not a whole number"))?;
    RateLimit::new(period, count).map_err(|e| e.to_string())
}

/// A new rate limit, or `None` to remove it.
#[derive(Debug, Clone)]
pub struct RateLimitChange(Option<RateLimit>);

/// [`parse_rate_limit`], or `none`.
fn parse_rate_limit_change(text: &str) -> Result<RateLimitChange, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(RateLimitChange(None));
    }
    parse_rate_limit(text).map(|limit| RateLimitChange(Some(limit)))
}

/// `Name: value` (the API checks the rest and names the header when it refuses).
fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or("a header is written `Name: value`")?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
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
                    rate_limit: create.rate_limit,
                    headers: (!create.headers.is_empty())
                        .then(|| create.headers.into_iter().collect()),
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
                    rate_limit: update.rate_limit.map(|change| change.0),
                    headers: match (update.headers, update.clear_headers) {
                        (Some(headers), _) => Some(headers.into_iter().collect()),
                        (None, true) => Some(BTreeMap::new()),
                        (None, false) => None,
                    },
                };
                if changes == WebhookChanges::default() {
                    return Err(CliError::Usage(
                        "nothing to change: give --url, --event, --description, --enable, \
                         --disable, --rate-limit, --header or --clear-headers"
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
        (
            "rate limit",
            hook.rate_limit
                .map_or_else(|| "none".to_owned(), |limit| limit.to_string()),
        ),
    ];
    for (name, masked) in &hook.headers {
        pairs.push(("header", format!("{name}: {masked}")));
    }
    if let Some(secret) = &hook.secret {
        pairs.push(("secret", secret.clone()));
    }
    pairs.push(("created", time(&hook.created_at)));
    pairs.push(("updated", time(&hook.updated_at)));
    fields(&pairs)
}
