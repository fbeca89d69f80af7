//! `admin-webhooks receive`: a small receiver for trying the service on one machine. It
//! answers every POST, checks both signatures with the secrets it was given, and prints
//! what arrived — the "webhook inspector" of the user guide, without a third-party site.
//!
//! Invariants: a delivery is valid when each of its two signatures verifies with one of
//! the secrets given, so a receiver given the new and the old secret of a rotation keeps
//! answering 200 through the grace period (`X-Admin-Signature` is made with the new
//! secret only, `webhook-signature` with both). SIGTERM and Ctrl-C stop it with exit
//! status 0, like `serve`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};

#[derive(Debug, clap::Args)]
pub struct ReceiveArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,

    /// The endpoint's signing secret (`whsec_…`); without it signatures are not checked.
    /// Repeat it (or separate secrets with commas) to accept several, e.g. the new and
    /// the old secret after a rotation. Prefer WEBHOOK_SECRET: a flag shows in the
    /// process list and on `cargo run`'s `Running` line.
    #[arg(
        long = "secret",
        env = "WEBHOOK_SECRET",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub secrets: Vec<String>,

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
    let secrets: Arc<[String]> = args
        .secrets
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let accept_invalid = args.accept_invalid;
    let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let secrets = secrets.clone();
        async move { receive(&secrets, accept_invalid, &headers, &body) }
    });
    let shutdown = crate::shutdown_on_signal();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

fn receive(
    secrets: &[String],
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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let verdict = (!secrets.is_empty()).then(|| {
        let admin = first_success(secrets, |secret| {
            verify::verify_admin_signature(secret, body, header("x-admin-signature"))
        });
        let standard = first_success(secrets, |secret| {
            verify::verify_standard(
                secret,
                header("webhook-id"),
                header("webhook-timestamp"),
                header("webhook-signature"),
                body,
                now,
                TOLERANCE_SECS,
            )
        });
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

/// Ok when `check` passes with one of the secrets; otherwise the first secret's error,
/// which says what is wrong with the header itself (missing, malformed, too old).
fn first_success(
    secrets: &[String],
    check: impl Fn(&str) -> Result<(), verify::VerifyError>,
) -> Result<(), verify::VerifyError> {
    let mut first_error = None;
    for secret in secrets {
        match check(secret) {
            Ok(()) => return Ok(()),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// The headers of an attempt signed as the service signs it: `X-Admin-Signature` with
    /// `admin_secret`, `webhook-signature` with each of `standard_secrets`.
    fn signed(admin_secret: &str, standard_secrets: &[&str], body: &[u8]) -> HeaderMap {
        let now = chrono::Utc::now().timestamp();
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: String| {
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        };
        set(
            "x-admin-signature",
            domain::signature::admin_signature(admin_secret, body),
        );
        set("webhook-id", "msg_1".to_owned());
        set("webhook-timestamp", now.to_string());
        set(
            "webhook-signature",
            domain::signature::standard_signature_header(standard_secrets, "msg_1", now, body),
        );
        headers
    }

    #[test]
    fn a_delivery_signed_with_any_of_the_given_secrets_verifies() {
        let (a, b, other) = (
            domain::signature::generate_secret(),
            domain::signature::generate_secret(),
            domain::signature::generate_secret(),
        );
        let secrets = [a.clone(), b.clone()];
        let body = br#"{"type":"user.created"}"#;
        for secret in [&a, &b] {
            let headers = signed(secret, &[secret], body);
            assert_eq!(receive(&secrets, false, &headers, body), StatusCode::OK);
        }
        let forged = signed(&other, &[&other], body);
        assert_eq!(
            receive(&secrets, false, &forged, body),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(receive(&secrets, true, &forged, body), StatusCode::OK);
    }

    #[test]
    fn during_a_rotation_the_old_and_new_secret_together_verify_but_the_old_alone_does_not() {
        let (old, new) = (
            domain::signature::generate_secret(),
            domain::signature::generate_secret(),
        );
        let body = b"{}";
        // In the grace period: X-Admin-Signature with the new secret, both in webhook-signature.
        let headers = signed(&new, &[&new, &old], body);
        assert_eq!(
            receive(&[new.clone(), old.clone()], false, &headers, body),
            StatusCode::OK
        );
        assert_eq!(
            receive(std::slice::from_ref(&old), false, &headers, body),
            StatusCode::UNAUTHORIZED,
            "X-Admin-Signature is made with the new secret only"
        );
    }
}
