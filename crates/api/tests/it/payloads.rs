//! The payload rules at `POST /v1/events`: JSON that parses but that receivers cannot
//! read (too deep, an infinite number, a lone surrogate) is a 422 naming the field and
//! the rule, and nothing is stored or woken.

use reqwest::Method;

use crate::support::{Answer, App, setup};

/// Publishes a body written by hand: the shapes under test cannot go through `json!`.
async fn publish_raw(app: &App, data: &str, metadata: Option<&str>) -> Answer {
    let metadata = metadata.map_or(String::new(), |m| format!(r#","metadata":{m}"#));
    let body = format!(r#"{{"type":"user.created","data":{data}{metadata}}}"#);
    app.send(
        Method::POST,
        "/v1/events",
        Some(&app.key),
        Some(body.into_bytes()),
        &[],
    )
    .await
}

/// Asserts a 422 whose detail names the field and contains `rule`, and that the refused
/// event left no trace.
async fn assert_refused(app: &App, answer: &Answer, field: &str, rule: &str) {
    let detail = answer.problem(422);
    assert!(detail.starts_with(&format!("`{field}` ")), "{detail}");
    assert!(detail.contains(rule), "{detail}");
    let events = app.get("/v1/events").await.expect(200);
    assert_eq!(events["data"].as_array().unwrap().len(), 0, "{events}");
    assert!(app.published.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_lone_surrogate_is_refused() {
    let app = setup().await;
    let answer = publish_raw(&app, r#"{"x":"\ud800"}"#, None).await;
    assert_refused(&app, &answer, "data", "surrogate").await;
    let answer = publish_raw(&app, r#"{"x":"\udc00 then text"}"#, None).await;
    assert_refused(&app, &answer, "data", r"\udc00").await;
}

#[tokio::test]
async fn a_number_beyond_a_double_is_refused() {
    let app = setup().await;
    let answer = publish_raw(&app, r#"{"n":1e999999}"#, None).await;
    assert_refused(&app, &answer, "data", "`1e999999`").await;
    assert!(
        answer.json()["detail"]
            .as_str()
            .unwrap()
            .contains("as a string")
    );
}

#[tokio::test]
async fn nesting_beyond_the_limit_is_refused_even_far_beyond_any_parser_limit() {
    let app = setup().await;
    let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(130_000), "]".repeat(130_000));
    let answer = publish_raw(&app, &deep, None).await;
    assert_refused(&app, &answer, "data", "more than 64 levels deep").await;
    // One level over the default limit is enough to be refused.
    let over = format!(r#"{{"x":{}{}}}"#, "[".repeat(64), "]".repeat(64));
    let answer = publish_raw(&app, &over, None).await;
    assert_refused(&app, &answer, "data", "--max-payload-depth").await;
}

#[tokio::test]
async fn metadata_follows_the_same_rules() {
    let app = setup().await;
    let answer = publish_raw(&app, "{}", Some(r#"{"source":"\ud83d"}"#)).await;
    assert_refused(&app, &answer, "metadata", "surrogate").await;
}

#[tokio::test]
async fn payloads_within_the_rules_are_accepted_as_sent() {
    let app = setup().await;
    // Exactly the limit: the object is level 1, the arrays inside it levels 2 to 64.
    let at_limit = format!(r#"{{"x":{}{}}}"#, "[".repeat(63), "]".repeat(63));
    publish_raw(&app, &at_limit, None).await.expect(202);
    let fine = r#"{"pair":"\ud83d\ude00","max":1.7976931348623157e308,"tiny":1e-400}"#;
    let event = publish_raw(&app, fine, None).await.expect(202);
    let stored = app
        .get(&format!("/v1/events/{}", event["id"].as_str().unwrap()))
        .await;
    assert!(stored.text.contains(fine), "{}", stored.text);
}
