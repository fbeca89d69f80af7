//! `admin-webhooks listen --forward-to URL`: receive a workspace's webhooks on a
//! developer's machine without exposing it. The command connects out to the service,
//! attaches a listener endpoint (created, or the one given by `--listener`), and holds
//! its stream open; each delivery is forwarded to the local URL and its result reported
//! back, where the service records it as the attempt (see `api::listeners` for the
//! protocol).
//!
//! Invariants:
//! - One delivery at a time, in the order the stream sends them (the service sends the
//!   next only after the previous one's result).
//! - When the stream drops, the command reconnects by itself with backoff to the same
//!   listener, so deliveries wait in the service meanwhile and then drain in order. A
//!   listener removed meanwhile (unseen for the service's TTL) is replaced by a new one,
//!   whose secret is printed.
//! - stdout holds one line per delivery (with `--json`, one JSON object per line; with
//!   `--print-json`, the body after each line); everything else goes to stderr.

use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use client::{
    ApiClient, AttachListener, ClientError, ListenerResult, LocalForwarder, StreamEvent,
    StreamedDelivery, Webhook,
};
use domain::WebhookId;

use super::{ApiArgs, CliError};

/// The first pause before reconnecting, doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct ListenCommand {
    /// The local URL every delivery is posted to (`http://localhost:3000/webhooks`).
    #[arg(long)]
    pub forward_to: String,
    /// Event types or groups to receive, comma-separated (`user.*,order.completed`)
    /// [default: every type, or what the re-attached listener had].
    #[arg(long, value_delimiter = ',')]
    pub events: Option<Vec<String>>,
    /// Re-attach to this listener (`wh_…`, printed at start), keeping its secret and the
    /// deliveries waiting for it.
    #[arg(long)]
    pub listener: Option<WebhookId>,
    /// The name of a new listener (`listen://<name>`) [default: this machine's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Print each delivery's body after its line.
    #[arg(long)]
    pub print_json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl ListenCommand {
    pub(super) async fn run(self) -> Result<(), CliError> {
        let api = self.api.client()?;
        let forwarder = LocalForwarder::new(&self.forward_to).map_err(|_| {
            CliError::Usage(format!(
                "--forward-to `{}` is not an http:// or https:// URL",
                self.forward_to
            ))
        })?;
        let mut listener = self.attach(&api, self.listener.clone()).await?;
        self.announce(&listener, &forwarder);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let ended = tokio::select! {
                ended = self.stream(&api, &listener.id, &forwarder, &mut backoff) => ended,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            match ended {
                Err(CliError::Client(ClientError::Api(problem))) if problem.status == 404 => {
                    eprintln!(
                        "listener {} is gone (unseen for longer than the service keeps listeners); attaching a new one",
                        listener.id
                    );
                    listener = self.attach(&api, None).await?;
                    self.announce(&listener, &forwarder);
                    continue;
                }
                Err(CliError::Client(ClientError::Api(problem))) if problem.status == 401 => {
                    return Err(CliError::Client(ClientError::Api(problem)));
                }
                Err(error) => eprintln!(
                    "{} connection lost ({}); reconnecting in {backoff:?}",
                    stamp(),
                    super::describe(&error)
                ),
                Ok(()) => eprintln!(
                    "{} the service closed the stream; reconnecting in {backoff:?}",
                    stamp()
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Creates a listener, or re-attaches to `id`.
    async fn attach(&self, api: &ApiClient, id: Option<WebhookId>) -> Result<Webhook, CliError> {
        let name = match (&id, &self.name) {
            (Some(_), _) => None,
            (None, Some(name)) => Some(name.clone()),
            (None, None) => Some(domain::listener::listener_name_from(&machine_name())),
        };
        let attach = AttachListener {
            id,
            name,
            events: self.events.clone(),
        };
        Ok(api.attach_listener(&attach).await?)
    }

    fn announce(&self, listener: &Webhook, forwarder: &LocalForwarder) {
        eprintln!(
            "Listening as {} ({}) for {}, forwarding to {}\n\
             Signing secret (verify X-Admin-Signature / webhook-signature with it): {}\n\
             Re-attach later, keeping waiting deliveries: --listener {}",
            listener.id,
            listener.url,
            listener.events.join(","),
            forwarder.url(),
            listener.secret.as_deref().unwrap_or("(not shown)"),
            listener.id,
        );
    }

    /// Holds one stream open, forwarding and reporting each delivery, until it ends.
    async fn stream(
        &self,
        api: &ApiClient,
        listener: &WebhookId,
        forwarder: &LocalForwarder,
        backoff: &mut Duration,
    ) -> Result<(), CliError> {
        let mut stream = api.listener_stream(listener).await?;
        while let Some(event) = stream.next().await? {
            match event {
                StreamEvent::Ready => {
                    *backoff = FIRST_BACKOFF;
                    eprintln!("{} connected; waiting for events", stamp());
                }
                StreamEvent::Delivery(delivery) => {
                    let result = forwarder.forward(&delivery).await;
                    self.print(&delivery, &result)?;
                    if let Err(error) = api.report_listener_result(listener, &result).await {
                        eprintln!(
                            "{} the result of {} was not recorded: {}",
                            stamp(),
                            delivery.delivery_id,
                            super::describe(&CliError::Client(error))
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// One line per delivery: time, type, event id, local status (or error), duration.
    fn print(&self, delivery: &StreamedDelivery, result: &ListenerResult) -> Result<(), CliError> {
        let outcome = match (result.status_code, &result.error_class) {
            (Some(status), _) => status.to_string(),
            (None, Some(class)) => class.clone(),
            (None, None) => "error".to_owned(),
        };
        let mut out = std::io::stdout().lock();
        if self.api.json {
            let line = serde_json::json!({
                "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "type": delivery.event_type,
                "event_id": delivery.event_id,
                "delivery_id": delivery.delivery_id,
                "attempt": delivery.attempt,
                "status_code": result.status_code,
                "error_class": result.error_class,
                "response_ms": result.response_ms,
            });
            writeln!(out, "{line}")?;
        } else {
            let retry = if delivery.attempt > 1 {
                format!("  (attempt {})", delivery.attempt)
            } else {
                String::new()
            };
            writeln!(
                out,
                "{}  {:<24} {}  -> {}  {} ms{retry}",
                stamp(),
                delivery.event_type,
                delivery.event_id,
                outcome,
                result.response_ms
            )?;
        }
        if self.print_json {
            let pretty = serde_json::from_str::<serde_json::Value>(&delivery.body)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| delivery.body.clone());
            writeln!(out, "{pretty}")?;
        }
        out.flush()?;
        Ok(())
    }
}

fn stamp() -> String {
    Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// This machine's name, for a new listener's default name.
fn machine_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}
