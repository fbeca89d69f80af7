//! Issue 7, the dashboard in a real browser: headless Chromium, driven over WebDriver,
//! against the real binary in `--dev`, delivering to a real receiver on loopback.
//!
//! One long walk through the guide's steps, because starting a browser costs more than
//! any step: sign in, Create Webhook (the API's validation message first), Send Test
//! Event and watch the live activity log show it delivered with its status code and
//! response time, one delivery's attempts, rotating the secret, the catalog, creating
//! and revoking an API key, a phone-width view, a form posted without its CSRF token,
//! deleting with confirmation, and signing out. Screenshots of the main pages land in
//! `target/dashboard-screenshots/` (printed at the end).

use fantoccini::Locator;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::support::browser::{Browser, DEADLINE, screenshot_dir};
use crate::support::service::KEY;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Service};

const DESKTOP: (u32, u32) = (1280, 900);

/// Accepts the `confirm()` dialog a click just opened (the script asks before rotating
/// or revoking). It must be answered before any other command: chromedriver dismisses
/// an unanswered dialog on the next one.
async fn confirm(browser: &Browser) {
    browser
        .wait_for("a confirmation dialog", || async {
            browser.client.get_alert_text().await.ok()
        })
        .await;
    browser
        .client
        .accept_alert()
        .await
        .expect("accept the dialog");
}

async fn submit(browser: &Browser, form_action: &str) {
    browser
        .click(&format!("form[action='{form_action}'] button[type=submit]"))
        .await;
}

async fn api_json(service: &Service, path: &str) -> (u16, Value) {
    let res = service.get(path).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A response time as the pages write it: digits, then " ms".
fn has_response_time(text: &str) -> bool {
    text.split(" ms").next().is_some_and(|before| {
        before
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .is_some_and(|digits| !digits.is_empty())
    }) && text.contains(" ms")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_walks_the_guide_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let receiver = Receiver::start().await;

    // Every page needs a session: `/` leads to the sign-in form.
    browser.goto(&service.url("/")).await;
    browser.find("#api_key").await;
    assert!(browser.url().await.contains("/dashboard/sign-in"));
    browser.screenshot("01-sign-in").await;

    // A wrong key is refused, the right one signs in.
    browser.fill("#api_key", "awk_this_is_not_a_key").await;
    submit(&browser, "/dashboard/sign-in").await;
    browser.wait_for_text(".notice-error", "not valid").await;
    browser.fill("#api_key", KEY).await;
    submit(&browser, "/dashboard/sign-in").await;
    browser.wait_for_text("main", "No webhooks yet").await;
    browser.screenshot("02-webhooks-empty").await;

    // The browser holds a session id, never the key: HttpOnly, SameSite=Strict.
    let cookies = browser.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "aw_session")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    assert!(cookies.iter().all(|c| !c.value().contains(KEY)));
    let storage = browser
        .client
        .execute(
            "return JSON.stringify(localStorage) + JSON.stringify(sessionStorage);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(storage, json!("{}{}"), "nothing kept in web storage");
    let session_cookie = session.value().to_owned();

    // Create Webhook: a URL the API refuses is refused here with the API's message.
    browser.click("a[href='/dashboard/webhooks/new']").await;
    browser.fill("#url", "ftp://example.com/hook").await;
    browser.click("#ev-user-x").await;
    submit(&browser, "/dashboard/webhooks").await;
    let shown = browser.wait_for_text("#url-error", "not allowed").await;
    let res = service
        .post(
            "/v1/webhooks",
            json!({"url": "ftp://example.com/hook", "events": ["user.*"]}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(
        shown,
        dashboard::plain_text(problem["detail"].as_str().unwrap())
    );
    assert!(
        browser
            .find("#ev-user-x")
            .await
            .is_selected()
            .await
            .unwrap(),
        "what was ticked stays ticked"
    );

    // Now a real receiver, a whole group and one event, described.
    browser.fill("#url", &receiver.webhook_url()).await;
    browser.click("#ev-order-completed").await;
    browser.fill("#description", "Local receiver").await;
    browser
        .screenshot_full("03-create-webhook", DESKTOP.0)
        .await;
    browser
        .client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .unwrap();
    submit(&browser, "/dashboard/webhooks").await;
    let secret = browser.wait_for_text("#secret-value", "whsec_").await;
    let page_url = browser.url().await;
    let id = page_url
        .split("/dashboard/webhooks/")
        .nth(1)
        .and_then(|rest| rest.split(['?', '#']).next())
        .expect("the webhook's page")
        .to_owned();
    let (status, hook) = api_json(&service, &format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 200);
    let mut events: Vec<&str> = hook["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    events.sort_unstable();
    assert_eq!(events, ["order.completed", "user.*"]);
    assert_eq!(hook["description"], "Local receiver");
    assert_eq!(
        hook["secret"],
        secret.as_str(),
        "the page shows the real secret"
    );
    browser
        .wait_for_text("#activity-log", "No deliveries yet — Send Test Event")
        .await;

    // Send Test Event: the live log shows it delivered with code and response time.
    browser.click("#send-test").await;
    let result = browser.wait_for_text("#test-result", "delivered").await;
    assert!(result.contains("200"), "{result}");
    assert!(has_response_time(&result), "{result}");
    let row = browser
        .wait_for_text("tr.delivery[data-status='delivered']", "200")
        .await;
    assert!(
        row.contains("webhook.test") && has_response_time(&row),
        "{row}"
    );
    let got = receiver.wait_for(1, DEADLINE).await;
    assert_eq!(got[0].json()["type"], "webhook.test");
    assert_eq!(got[0].json()["data"], json!({"test": true}));
    verify::verify_admin_signature(&secret, &got[0].body, got[0].header("x-admin-signature"))
        .expect("signed with the secret the page showed");

    // The log refreshes itself: a second event appears without reloading the page.
    let before = browser.url().await;
    service
        .publish("user.created", json!({"user_id": "usr_1"}))
        .await;
    browser.wait_for_text("#activity-log", "user.created").await;
    assert_eq!(browser.url().await, before, "no navigation happened");
    browser.find("#activity-log[data-refreshed]").await;
    browser
        .wait_for_text("#activity-log", "Updating live")
        .await;
    browser
        .wait_for("both deliveries delivered", || async {
            let rows = browser
                .client
                .find_all(Locator::Css("tr.delivery[data-status='delivered']"))
                .await
                .ok()?;
            (rows.len() == 2).then_some(())
        })
        .await;
    browser
        .screenshot_full("04-webhook-detail-activity", DESKTOP.0)
        .await;
    browser
        .client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .unwrap();

    // The filter keeps only one status.
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{id}?status=failed")))
        .await;
    browser
        .wait_for_text("#activity-log", "No deliveries with this status")
        .await;

    // One delivery's attempts, with the response body excerpt.
    browser
        .goto(&format!("{}/dashboard/webhooks/{id}", service.base))
        .await;
    browser
        .click("tr.delivery[data-status='delivered'] a[href^='/dashboard/deliveries/']")
        .await;
    browser.wait_for_text("main", "Attempts").await;
    browser.click(".attempt details summary").await;
    assert_eq!(browser.text("pre.response-body").await, "ok");
    let attempt = browser.text(".attempt").await;
    assert!(
        attempt.contains("status 200") && has_response_time(&attempt),
        "{attempt}"
    );
    browser.screenshot("05-delivery-attempts").await;
    // Retry from here sends it again.
    browser
        .click("form[action$='/retry'] button[type=submit]")
        .await;
    receiver.wait_for(3, DEADLINE).await;

    // Rotate the secret: a new one is shown, and the next delivery is signed with it.
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{id}")))
        .await;
    browser.click("#rotate-secret").await;
    confirm(&browser).await;
    let rotated = browser
        .wait_for("a new secret", || async {
            let text = browser
                .client
                .find(Locator::Css("#secret-value"))
                .await
                .ok()?;
            let text = text.text().await.ok()?;
            (text.starts_with("whsec_") && text != secret).then_some(text)
        })
        .await;
    browser
        .wait_for_text(".notice-success", "previous secret keeps signing")
        .await;
    let (_, hook) = api_json(&service, &format!("/v1/webhooks/{id}")).await;
    assert_eq!(hook["secret"], rotated.as_str());
    browser.click("#send-test").await;
    let got = receiver.wait_for(4, DEADLINE).await;
    verify::verify_admin_signature(&rotated, &got[3].body, got[3].header("x-admin-signature"))
        .expect("the next delivery is signed with the new secret");

    // The catalog: add a custom type; the Create form offers it at once.
    browser.goto(&service.url("/dashboard/event-types")).await;
    browser.fill("#type-name", "invoice.paid").await;
    browser.fill("#type-category", "Billing").await;
    browser
        .fill("#type-description", "An invoice was paid")
        .await;
    submit(&browser, "/dashboard/event-types").await;
    browser
        .wait_for_text(".notice-success", "invoice.paid")
        .await;
    browser.wait_for_text("main", "Billing").await;
    browser.screenshot_full("06-event-catalog", DESKTOP.0).await;
    browser
        .client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .unwrap();
    browser.goto(&service.url("/dashboard/webhooks/new")).await;
    browser.find("#ev-invoice-paid").await;
    browser.find("#ev-invoice-x").await;

    // API keys: the new key is shown once and works; revoked, it stops working.
    browser.goto(&service.url("/dashboard/api-keys")).await;
    browser.fill("#key-name", "ci pipeline").await;
    submit(&browser, "/dashboard/api-keys").await;
    let new_key = browser.wait_for_text("#new-key", "awk_").await;
    browser.screenshot("07-api-keys-created").await;
    let with_key = |key: String| {
        let client = service.client.clone();
        let url = service.url("/v1/webhooks");
        async move {
            client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(with_key(new_key.clone()).await, 200);
    browser.goto(&service.url("/dashboard/api-keys")).await;
    browser.wait_for_text("main", "ci pipeline").await;
    let source = browser.client.source().await.unwrap();
    assert!(!source.contains(&new_key), "a key is shown once only");
    browser
        .client
        .find(Locator::XPath(
            "//tr[td[contains(., 'ci pipeline')]]//button[contains(., 'Revoke')]",
        ))
        .await
        .expect("the key's revoke button")
        .click()
        .await
        .unwrap();
    confirm(&browser).await;
    browser.wait_for_text(".notice-success", "revoked").await;
    assert!(!browser.text("main").await.contains("ci pipeline"));
    assert_eq!(with_key(new_key).await, 401);
    browser.screenshot("08-api-keys").await;

    // A phone-width view.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{id}")))
        .await;
    browser.find("#activity-log").await;
    browser
        .screenshot_full("09-phone-webhook-detail", 390)
        .await;
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.goto(&service.url("/dashboard/webhooks")).await;
    browser.screenshot("10-phone-webhooks").await;
    browser
        .client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .unwrap();
    browser.goto(&service.url("/dashboard/webhooks")).await;
    browser.screenshot("11-webhooks").await;

    // A form posted with the session cookie but without its CSRF token is refused.
    let plain = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let cookie = format!("aw_session={session_cookie}");
    let rotate_url = service.url(&format!("/dashboard/webhooks/{id}/rotate"));
    let res = plain
        .post(&rotate_url)
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("rotate=1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("security token"));
    let (_, hook) = api_json(&service, &format!("/v1/webhooks/{id}")).await;
    assert_eq!(hook["secret"], rotated.as_str(), "nothing changed");
    // The same cookie with the page's token is accepted: the refusal was the token's.
    let token = browser
        .find("form.signout input[name=csrf]")
        .await
        .attr("value")
        .await
        .unwrap()
        .expect("a token");
    let res = plain
        .post(&rotate_url)
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // Delete, with its confirmation step.
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{id}")))
        .await;
    browser
        .click(&format!("a[href='/dashboard/webhooks/{id}/delete']"))
        .await;
    browser.wait_for_text("main", "Delete this webhook?").await;
    browser.click("#confirm-delete").await;
    browser.wait_for_text(".notice-success", "deleted").await;
    let (status, _) = api_json(&service, &format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 404);

    // Sign out: the session is gone from the store, so the old cookie is worthless.
    browser.click("form.signout button").await;
    browser.wait_for_text(".notice-success", "signed out").await;
    let res = plain
        .get(service.url("/dashboard/webhooks"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    browser.close().await;
    println!("dashboard screenshots: {}", screenshot_dir().display());
}

/// Outside `--dev` the session cookie is `Secure`. Browsers keep such a cookie from
/// `http://127.0.0.1` (a secure context), so signing in on the service's own machine
/// works without TLS; anywhere else it needs HTTPS, as the README says.
#[tokio::test(flavor = "multi_thread")]
async fn outside_dev_the_secure_cookie_still_signs_in_on_localhost() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start_unconfigured(dir.path());
    // The key the service printed on its first start, as the README tells a user to use.
    let key = browser
        .wait_for("the key printed at first start", || async {
            let printed = service.stdout();
            printed
                .split_whitespace()
                .find(|word| word.starts_with("awk_"))
                .map(str::to_owned)
        })
        .await;
    browser.goto(&service.url("/dashboard/sign-in")).await;
    browser.fill("#api_key", &key).await;
    submit(&browser, "/dashboard/sign-in").await;
    browser.wait_for_text("main", "No webhooks yet").await;
    let cookies = browser.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "aw_session")
        .expect("a session cookie");
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.http_only(), Some(true));
    browser.close().await;
}
