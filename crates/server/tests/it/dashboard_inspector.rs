//! Issue 14 (items 4 to 6) in a real browser: the delivery inspector (both signature
//! headers as sent, the pretty body, each response, copy-as-curl without the secret), the
//! Edit and Replay pages, a new API key shown once (a reload creates nothing), errors
//! beside their fields, the HTML 404, the favicon, breadcrumbs that link, and a live log
//! that changes only what changed. Screenshots land beside the other dashboard ones.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};
use test_support::loopback::closed_port;
use test_support::poll_until;

use crate::support::browser::{Browser, DEADLINE};
use crate::support::service::KEY;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Service};

async fn api_json(service: &Service, path: &str) -> Value {
    let res = service.get(path).await;
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

/// The only delivery of webhook `id`, once it has `status` and at least one attempt.
async fn delivery_with(service: &Service, id: &str, status: &str) -> Value {
    poll_until(DEADLINE, || async {
        let list = api_json(service, &format!("/v1/webhooks/{id}/deliveries")).await;
        let first = list["data"].as_array()?.first()?.clone();
        (first["status"] == status && first["attempt_count"].as_u64()? >= 1).then_some(first)
    })
    .await
    .unwrap_or_else(|| panic!("a {status} delivery of {id}"))
}

async fn key_count(service: &Service) -> usize {
    api_json(service, "/v1/api-keys").await["data"]
        .as_array()
        .unwrap()
        .len()
}

async fn script(browser: &Browser, js: &str) -> Value {
    browser.client.execute(js, vec![]).await.expect("a script")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inspector_edit_replay_and_form_hygiene_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Failed deliveries wait ten minutes for their next attempt: one that arrives sooner
    // was sent by the replay.
    let service = ADMIN_WEBHOOKS.start(dir.path(), &["--retry-base", "10m"]);
    let receiver = Receiver::start().await;
    let (good, good_secret) = service
        .create_webhook(&receiver.webhook_url(), &["user.*"])
        .await;
    let dead_url = format!("http://127.0.0.1:{}/hook", closed_port());
    let (dead, dead_secret) = service.create_webhook(&dead_url, &["user.*"]).await;
    service
        .publish(
            "user.created",
            json!({"user_id": "usr_9x2k4m7", "email": "developer@example.com"}),
        )
        .await;
    let seen = receiver.wait_for(1, DEADLINE).await.remove(0);
    let delivered = delivery_with(&service, &good, "delivered").await;
    let failed = delivery_with(&service, &dead, "failed").await;

    browser.goto(&service.url("/dashboard/sign-in")).await;
    browser.fill("#api_key", KEY).await;
    browser
        .click("form[action='/dashboard/sign-in'] button[type=submit]")
        .await;
    // Only a signed-in page has the Settings navigation (the sign-in page has a `main h1`
    // too, so waiting for that raced the sign-in's redirect).
    browser.find("nav[aria-label='Settings']").await;

    // The inspector: the request as sent, both signatures, the pretty body, the answer.
    let id = delivered["id"].as_str().unwrap();
    browser
        .goto(&service.url(&format!("/dashboard/deliveries/{id}")))
        .await;
    let request = browser.text("#attempt-1 .request-headers").await;
    for name in ["x-admin-signature", "webhook-signature"] {
        assert!(request.contains(name), "{request}");
        assert!(
            request.contains(seen.header(name)),
            "{name} as received: {request}"
        );
    }
    browser
        .find("#attempt-1 .request-headers tr.signature")
        .await;
    let payload = browser.text("#payload").await;
    assert!(
        payload.contains("\"data\": {\n    \"email\": \"developer@example.com\",\n"),
        "pretty-printed: {payload}"
    );
    let squeezed = |text: &str| text.split_whitespace().collect::<String>();
    assert_eq!(
        squeezed(&payload),
        squeezed(std::str::from_utf8(&seen.body).unwrap()),
        "the bytes the receiver got, keys in the order sent"
    );
    let response = browser.text("#attempt-1 .response-headers").await;
    assert!(response.contains("content-length"), "{response}");
    browser.click("#attempt-1 details.curl summary").await;
    let curl = browser.text("#curl-1").await;
    assert!(curl.starts_with("curl -X POST"), "{curl}");
    assert!(curl.contains(seen.header("x-admin-signature")), "{curl}");
    assert!(curl.contains(seen.header("webhook-signature")), "{curl}");
    assert!(curl.contains("--data-binary"), "{curl}");
    let source = browser.client.source().await.unwrap();
    assert!(
        !source.contains(&good_secret),
        "the secret is nowhere on the page"
    );
    assert!(
        browser
            .find("button[data-copy='curl-1']")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "the copy button is shown (the script runs under the CSP)"
    );
    browser.screenshot_full("12-delivery-inspector", 1280).await;
    // At phone width the inspector reflows: nothing scrolls sideways.
    browser.client.set_window_size(390, 844).await.unwrap();
    let overflow = script(
        &browser,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
    )
    .await;
    assert_eq!(overflow, json!(0), "no horizontal scrolling at 390 px");
    browser
        .screenshot_full("18-phone-delivery-inspector", 390)
        .await;
    browser.client.set_window_size(1280, 900).await.unwrap();

    // A failed attempt: what was sent, and no response.
    let id = failed["id"].as_str().unwrap();
    browser
        .goto(&service.url(&format!("/dashboard/deliveries/{id}")))
        .await;
    let attempt = browser.text("#attempt-1").await;
    assert!(attempt.contains("webhook-signature"), "{attempt}");
    assert!(attempt.contains("No response."), "{attempt}");
    assert!(attempt.contains("connect"), "{attempt}");

    // Breadcrumbs are links: Integrations, then Settings, then API Keys.
    browser
        .click("nav.crumbs a[href='/dashboard/integrations']")
        .await;
    browser.wait_for_text("main h1", "Integrations").await;
    browser
        .click("nav.crumbs a[href='/dashboard/settings']")
        .await;
    browser.wait_for_text("main h1", "Settings").await;
    browser.screenshot("13-settings").await;
    browser.click("main a[href='/dashboard/api-keys']").await;
    browser.wait_for_text("main h1", "API keys").await;

    // Edit webhook: new subscriptions and a URL that answers; the secret and log stay.
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{dead}")))
        .await;
    browser.click("#edit-webhook").await;
    browser.wait_for_text("main h1", "Edit webhook").await;
    browser.fill("#url", &receiver.webhook_url()).await;
    browser.click("#ev-user-x").await; // untick the whole group
    browser.click("#ev-user-created").await;
    browser.click("#ev-order-completed").await;
    browser.screenshot_full("14-edit-webhook", 1280).await;
    browser.client.set_window_size(1280, 900).await.unwrap();
    browser.click("#save-webhook").await;
    browser
        .wait_for_text(".notice-success", "Changes saved")
        .await;
    let hook = api_json(&service, &format!("/v1/webhooks/{dead}")).await;
    let mut events: Vec<&str> = hook["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    events.sort_unstable();
    assert_eq!(events, ["order.completed", "user.created"]);
    assert_eq!(hook["secret"], dead_secret.as_str(), "the secret is kept");
    assert_eq!(hook["url"], receiver.webhook_url().as_str());
    browser
        .find(&format!(
            "tr.delivery[data-delivery='{id}'][data-status='failed']"
        ))
        .await;

    // Replay the failed delivery: it goes out now, not in ten minutes.
    browser.click("#replay-webhook").await;
    browser.wait_for_text("main h1", "Replay deliveries").await;
    browser.screenshot("15-replay").await;
    browser.click("#replay-submit").await;
    browser
        .wait_for_text(".notice-success", "1 delivery was queued again")
        .await;
    let got = receiver.wait_for(2, DEADLINE).await;
    assert_eq!(got[1].header("x-admin-delivery"), id);
    verify::verify_admin_signature(
        &dead_secret,
        &got[1].body,
        got[1].header("x-admin-signature"),
    )
    .expect("signed with the kept secret");
    browser
        .wait_for_text(&format!("tr.delivery[data-delivery='{id}']"), "delivered")
        .await;

    // The live log keeps unchanged rows as they are and announces new ones.
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{good}")))
        .await;
    let log = browser.find("#activity-log").await;
    assert_eq!(
        log.attr("aria-live").await.unwrap(),
        None,
        "not one big live region"
    );
    browser
        .find("#activity-announcer[aria-live='polite']")
        .await;
    script(
        &browser,
        "document.querySelector('tr.delivery').kept = 'same element';",
    )
    .await;
    let refreshed = |browser: &Browser| {
        let browser = browser.client.clone();
        async move {
            browser
                .execute(
                    "return document.getElementById('activity-log').getAttribute('data-refreshed');",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
        }
    };
    let first = browser
        .wait_for("a refresh", || async { refreshed(&browser).await })
        .await;
    browser
        .wait_for("another refresh", || async {
            refreshed(&browser).await.filter(|r| *r != first)
        })
        .await;
    let kept = script(
        &browser,
        "return document.querySelector('tr.delivery').kept || null;",
    )
    .await;
    assert_eq!(
        kept,
        json!("same element"),
        "an unchanged row is not replaced"
    );
    service
        .publish("user.updated", json!({"user_id": "usr_9x2k4m7"}))
        .await;
    browser
        .wait_for_text("#activity-announcer", "New delivery of user.updated")
        .await;
    let kept = script(
        &browser,
        &format!(
            "return document.querySelector(\"tr[data-delivery='{}']\").kept || null;",
            delivered["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(kept, json!("same element"), "still the same row");

    // A new API key: shown once after the redirect; a reload shows and creates nothing.
    browser.goto(&service.url("/dashboard/api-keys")).await;
    assert_eq!(key_count(&service).await, 1);
    browser.fill("#key-name", "reload test").await;
    browser
        .click("form[action='/dashboard/api-keys'] button[type=submit]")
        .await;
    let new_key = browser.wait_for_text("#new-key", "awk_").await;
    assert!(
        browser
            .url()
            .await
            .ends_with("/dashboard/api-keys?done=created")
    );
    assert_eq!(key_count(&service).await, 2);
    browser.client.refresh().await.unwrap();
    browser.wait_for_text("main", "shown once").await;
    assert!(!browser.client.source().await.unwrap().contains(&new_key));
    assert_eq!(key_count(&service).await, 2, "the reload created nothing");

    // A refused name: the error beside its field, plain text, wired to the field.
    browser.fill("#key-name", "   ").await;
    browser
        .click("form[action='/dashboard/api-keys'] button[type=submit]")
        .await;
    let error = browser.wait_for_text("#key-name-error", "empty").await;
    assert!(!error.contains('`'), "{error}");
    let field = browser.find("#key-name").await;
    assert_eq!(
        field.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    let described = field.attr("aria-describedby").await.unwrap().unwrap();
    assert!(
        described.split(' ').any(|id| id == "key-name-error"),
        "{described}"
    );
    let focused = script(&browser, "return document.activeElement.id;").await;
    assert_eq!(
        focused,
        json!("key-name"),
        "the refused field has the focus"
    );
    browser.screenshot("16-field-error").await;
    assert_eq!(key_count(&service).await, 2);

    // An unknown dashboard page is the dashboard's own 404, styled.
    browser.goto(&service.url("/dashboard/no/such/page")).await;
    let main = browser.wait_for_text("main", "404").await;
    assert!(main.contains("There is no such page"), "{main}");
    let styled = script(
        &browser,
        "return getComputedStyle(document.querySelector('.panel')).borderTopStyle;",
    )
    .await;
    assert_eq!(styled, json!("solid"), "the stylesheet applies");
    browser.screenshot("17-not-found").await;

    // The favicon the pages name is served.
    let icon = script(
        &browser,
        "return document.querySelector(\"link[rel='icon']\").getAttribute('href');",
    )
    .await;
    assert_eq!(icon, json!("/dashboard/assets/favicon.svg"));
    let res = service.get("/dashboard/assets/favicon.svg").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    let loaded = browser
        .wait_for("the favicon loaded as an image", || async {
            let done = browser
                .client
                .execute_async(
                    "const done = arguments[0]; const img = new Image(); \
                     img.onload = () => done(img.naturalWidth > 0); img.onerror = () => done(false); \
                     img.src = '/dashboard/assets/favicon.svg';",
                    vec![],
                )
                .await
                .ok()?;
            done.as_bool().filter(|ok| *ok)
        })
        .await;
    assert!(loaded);

    // The focus ring is the stylesheet's own, at 3 px.
    browser.goto(&service.url("/dashboard/api-keys")).await;
    browser
        .client
        .find(Locator::Css("#key-name"))
        .await
        .unwrap()
        .send_keys("x")
        .await
        .unwrap();
    let ring = script(
        &browser,
        "return getComputedStyle(document.activeElement).outlineWidth;",
    )
    .await;
    assert_eq!(ring, json!("3px"));
    tokio::time::timeout(Duration::from_secs(30), browser.close())
        .await
        .ok();
}
