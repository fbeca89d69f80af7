//! `admin-webhooks receive`: a small receiver for trying the service on one machine. It
//! answers every POST, checks both signatures with the secret it was given, and prints
//! what arrived — the "webhook inspector" of the user guide, without a third-party site.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};

#[derive(Debug, clap::Args)]
pub struct ReceiveArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,

    /// The endpoint's signing secret (`whsec_…`); without it signatures are not checked.
    #[arg(long, env = "WEBHOOK_SECRET")]
    pub secret: Option<String>,

    /// Accept webhooks whose signature does not verify (answer 200 instead of 401).
    #[arg(long)]
    pub accept_invalid: bool,
}

/// How far `webhook-timestamp` may be from now before the message counts as a replay.
const TOLERANCE_SECS: i64 = 5 * 60;

pub async fn run(args: ReceiveArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    println!(
        "Receiving webhooks on http://{}/ (any path)",
        listener.local_addr()?
    );
    let secret = args.secret.clone();
    let accept_invalid = args.accept_invalid;
    let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let secret = secret.clone();
        async move { receive(secret.as_deref(), accept_invalid, &headers, &body) }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn receive(
    secret: Option<&str>,
    accept_invalid: bool,
    headers: &HeaderMap,
    body: &[u8],
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let verdict = secret.map(|secret| {
        let admin = verify::verify_admin_signature(secret, body, header("x-admin-signature"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let standard = verify::verify_standard(
            secret,
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
            body,
            now,
            TOLERANCE_SECS,
        );
        (admin.is_ok() && standard.is_ok(), admin, standard)
    });
    println!(
        "--- {} {}",
        header("x-admin-event"),
        header("idempotency-key")
    );
    match &verdict {
        None => println!("signature: not checked (no --secret)"),
        Some((true, _, _)) => {
            println!("signature: valid (X-Admin-Signature and webhook-signature)")
        }
        Some((false, admin, standard)) => println!(
            "signature: INVALID (X-Admin-Signature: {}; webhook-signature: {})",
            admin
                .as_ref()
                .map_or_else(|e| e.to_string(), |_| "valid".into()),
            standard
                .as_ref()
                .map_or_else(|e| e.to_string(), |_| "valid".into()),
        ),
    }
    println!("{}", String::from_utf8_lossy(body));
    match verdict {
        Some((false, _, _)) if !accept_invalid => StatusCode::UNAUTHORIZED,
        _ => StatusCode::OK,
    }
}
