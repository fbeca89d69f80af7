//! The address rules of SPEC §3 in strict mode (not `--dev`), each refusal a 422 that
//! names the problem; and what `--dev` allows.

use serde_json::json;

use crate::support::{Options, setup, setup_with};

async fn refused(app: &crate::support::App, url: &str) -> String {
    app.post("/v1/webhooks", json!({"url": url, "events": ["*"]}))
        .await
        .problem(422)
}

#[tokio::test]
async fn every_internal_address_class_is_refused() {
    let app = setup().await;
    let cases = [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://127.8.9.10:8443/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://10.0.0.1/hook", "private"),
        ("https://172.16.5.4/hook", "private"),
        ("https://172.31.255.254/hook", "private"),
        ("https://192.168.1.10/hook", "private"),
        ("https://[fd12:3456::1]/hook", "private"),
        ("https://169.254.10.20/hook", "link-local"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://100.64.0.1/hook", "carrier-grade NAT"),
        ("https://100.127.255.254/hook", "carrier-grade NAT"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://[ff02::1]/hook", "multicast"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://[::]/hook", "unspecified"),
        ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[::ffff:169.254.169.254]/hook", "cloud metadata"),
        ("https://localhost/hook", "loopback"),
        ("https://LOCALHOST.:8443/hook", "loopback"),
        ("https://api.localhost/hook", "loopback"),
    ];
    for (url, class) in cases {
        let detail = refused(&app, url).await;
        assert!(detail.contains(class), "{url}: {detail}");
        assert!(detail.contains("public addresses"), "{url}: {detail}");
    }
    let list = app.get("/v1/webhooks").await.expect(200);
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        0,
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn other_url_problems_are_named() {
    let app = setup().await;
    let cases = [
        ("http://93.184.215.14/hook", "https"),
        ("ftp://93.184.215.14/hook", "http or https"),
        (
            "https://user:pass@93.184.215.14/hook",
            "user name or password",
        ),
        ("not a url", "not a valid absolute URL"),
        ("/relative/path", "not a valid absolute URL"),
    ];
    for (url, problem) in cases {
        let detail = refused(&app, url).await;
        assert!(detail.contains(problem), "{url}: {detail}");
    }
    let long = format!("https://93.184.215.14/{}", "a".repeat(2100));
    assert!(refused(&app, &long).await.contains("2048"));
}

#[tokio::test]
async fn a_public_literal_is_accepted_in_strict_mode() {
    let app = setup().await;
    for url in [
        "https://93.184.215.14/hook",
        "https://[2606:4700::1111]/hook",
        "https://8.8.8.8:8443/in?x=1",
    ] {
        let hook = app
            .post("/v1/webhooks", json!({"url": url, "events": ["*"]}))
            .await
            .expect(201);
        assert_eq!(hook["url"], url);
    }
}

#[tokio::test]
async fn dev_mode_allows_http_and_loopback() {
    let app = setup_with(Options {
        dev: true,
        ..Options::default()
    })
    .await;
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://localhost:9000/hook",
        "https://10.1.2.3/hook",
        "http://internal.corp/hook",
    ] {
        app.post("/v1/webhooks", json!({"url": url, "events": ["*"]}))
            .await
            .expect(201);
    }
    // Even --dev takes only http and https.
    refused(&app, "ftp://127.0.0.1/").await;
}
