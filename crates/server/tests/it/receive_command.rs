//! `admin-webhooks receive` as the README runs it: the real binary, given secrets in
//! `WEBHOOK_SECRET`, verifying deliveries signed with any of them, and stopping with exit
//! status 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use domain::signature::{admin_signature, generate_secret, standard_signature_header};

/// Starts `receive` on a free port with `secrets` in `WEBHOOK_SECRET` (comma-separated);
/// returns the child and the URL it announced.
fn start_receive(secrets: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_admin-webhooks"))
        .args(["receive", "--listen", "127.0.0.1:0"])
        .env("WEBHOOK_SECRET", secrets.join(","))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("[receive] {line}");
            if let Some(url) = line.strip_prefix("Receiving webhooks on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url.split_whitespace().next().unwrap().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("receive announces its address");
    (child, url)
}

/// POSTs `body` signed as the service signs it with `secret`.
async fn deliver(url: &str, secret: &str, body: &'static str) -> u16 {
    let timestamp = chrono::Utc::now().timestamp();
    reqwest::Client::new()
        .post(url)
        .header(
            "x-admin-signature",
            admin_signature(secret, body.as_bytes()),
        )
        .header("webhook-id", "evt_1")
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            standard_signature_header(&[secret], "evt_1", timestamp, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_verifies_with_any_of_its_secrets_and_exits_0_on_sigterm() {
    let (new, old, stranger) = (generate_secret(), generate_secret(), generate_secret());
    let (mut child, url) = start_receive(&[&new, &old]);
    let body = r#"{"type":"user.created"}"#;
    assert_eq!(
        deliver(&url, &new, body).await,
        200,
        "signed with the first"
    );
    assert_eq!(
        deliver(&url, &old, body).await,
        200,
        "signed with the second"
    );
    assert_eq!(
        deliver(&url, &stranger, body).await,
        401,
        "signed with neither"
    );

    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}
