//! Endpoint controls in the dashboard: Create Webhook takes a rate limit (refused with
//! the API's message, what was entered kept), and a webhook's page shows the limit and
//! the custom headers with their values masked, never in clear.

use reqwest::Method;
use serde_json::json;

use super::{App, setup};

/// Creates a webhook through the form; the new webhook's page path.
async fn create_through_the_form(app: &App, session: &str, rate: &str, period: &str) -> String {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("url", "http://127.0.0.1:9/hook")
        .append_pair("events", "*")
        .append_pair("rate_limit", rate)
        .append_pair("rate_limit_period", period)
        .finish();
    let answer = app.post_as("/dashboard/webhooks", session, &body).await;
    assert_eq!(answer.status, 303, "{}", answer.text);
    answer.location().split('?').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_rate_limit_is_set_in_create_webhook_and_shown_with_masked_headers() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    let form = app.get("/dashboard/webhooks/new", Some(&session)).await;
    assert!(form.text.contains("name=\"rate_limit\""), "{}", form.text);
    assert!(form.text.contains("name=\"rate_limit_period\""));

    let page = create_through_the_form(&app, &session, "20", "second").await;
    let shown = app.get(&page, Some(&session)).await;
    assert!(
        shown.text.contains("20 per second at most"),
        "{}",
        shown.text
    );
    assert!(shown.text.contains("id=\"custom-headers\""));

    // Headers set through the API show masked; the value never reaches the page.
    let id = page.rsplit('/').next().unwrap();
    let token = "Bearer dashboard-secret-token-42";
    let res = app
        .client
        .patch(app.url(&format!("/v1/webhooks/{id}")))
        .bearer_auth(&app.key)
        .json(&json!({ "headers": { "Authorization": token } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let shown = app.get(&page, Some(&session)).await;
    assert!(
        shown.text.contains("Authorization: Bear…(32 chars)"),
        "{}",
        shown.text
    );
    assert!(
        !shown.text.contains("dashboard-secret-token"),
        "{}",
        shown.text
    );
    let revealed = app.get(&format!("{page}?reveal=1"), Some(&session)).await;
    assert!(!revealed.text.contains("dashboard-secret-token"));

    let per_minute = create_through_the_form(&app, &session, "90", "minute").await;
    let shown = app.get(&per_minute, Some(&session)).await;
    assert!(
        shown.text.contains("90 per minute at most"),
        "{}",
        shown.text
    );
    let unlimited = create_through_the_form(&app, &session, "", "second").await;
    let shown = app.get(&unlimited, Some(&session)).await;
    assert!(
        shown.text.contains("sent as fast as it answers"),
        "{}",
        shown.text
    );
}

#[tokio::test]
async fn a_rate_limit_out_of_bounds_is_refused_with_the_apis_message() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    let (status, detail) = app
        .api_problem(
            Method::POST,
            "/v1/webhooks",
            json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"], "rate_limit": { "per_minute": 0 } }),
        )
        .await;
    assert_eq!(status, 422);
    for entered in ["0", "abc", "10001"] {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("url", "http://127.0.0.1:9/hook")
            .append_pair("events", "*")
            .append_pair("rate_limit", entered)
            .append_pair("rate_limit_period", "minute")
            .finish();
        let answer = app.post_as("/dashboard/webhooks", &session, &body).await;
        assert_eq!(answer.status, 422, "{entered}: {}", answer.text);
        // The page words it as the API does, code marks shown as quotes.
        let mut open = false;
        let plain: String = detail
            .chars()
            .map(|c| match c {
                '`' => {
                    open = !open;
                    if open { '“' } else { '”' }
                }
                c => c,
            })
            .collect();
        assert!(
            answer.text.contains(&plain),
            "the dashboard says {detail:?} like the API:\n{}",
            answer.text
        );
        assert!(
            answer.text.contains(&format!("value=\"{entered}\"")),
            "kept"
        );
        assert!(answer.text.contains("<option value=\"minute\" selected>"));
    }
}
