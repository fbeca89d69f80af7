//! A webhook's rate limit and custom headers through the API: accepted shapes, a clear
//! 422 naming the field and the header for each class of refusal, values masked in every
//! answer, and update semantics (absent leaves, `null` removes a limit, `{}` removes
//! every header).

use serde_json::{Value, json};

use crate::support::{App, PUBLIC_URL, setup, str_of};

const TOKEN: &str = "Bearer gateway-token-0123456789";

async fn create(app: &App, extra: Value) -> crate::support::Answer {
    let mut body = json!({ "url": PUBLIC_URL, "events": ["*"] });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    app.post("/v1/webhooks", body).await
}

#[tokio::test]
async fn a_rate_limit_and_headers_are_kept_and_values_are_only_shown_masked() {
    let app = setup().await;
    let hook = create(
        &app,
        json!({
            "rate_limit": { "per_second": 20 },
            "headers": { "Authorization": TOKEN, "X-Tenant": "t_42" },
        }),
    )
    .await
    .expect(201);
    assert_eq!(hook["rate_limit"], json!({ "per_second": 20 }));
    let masked = json!({ "Authorization": "Bear…(31 chars)", "X-Tenant": "t…(4 chars)" });
    assert_eq!(hook["headers"], masked);

    let path = format!("/v1/webhooks/{}", str_of(&hook, "id"));
    let shown = app.get(&path).await;
    assert!(!shown.text.contains("gateway-token"), "{}", shown.text);
    assert_eq!(shown.json()["headers"], masked);
    let list = app.get("/v1/webhooks").await;
    assert!(!list.text.contains("gateway-token"), "{}", list.text);
    assert_eq!(
        list.json()["data"][0]["rate_limit"],
        json!({ "per_second": 20 })
    );

    // Without either: null and {}.
    let plain = app.webhook(&["*"]).await;
    assert_eq!(plain["rate_limit"], Value::Null);
    assert_eq!(plain["headers"], json!({}));
    let explicit_null = create(&app, json!({ "rate_limit": null, "headers": null }))
        .await
        .expect(201);
    assert_eq!(
        (&explicit_null["rate_limit"], &explicit_null["headers"]),
        (&Value::Null, &json!({}))
    );
    // 3.0 is a whole number, as JSON Schema's `integer` says.
    let per_minute = create(&app, json!({ "rate_limit": { "per_minute": 600.0 } }))
        .await
        .expect(201);
    assert_eq!(per_minute["rate_limit"], json!({ "per_minute": 600 }));
}

#[tokio::test]
async fn updates_leave_change_and_remove_each_control() {
    let app = setup().await;
    let hook = create(
        &app,
        json!({ "rate_limit": { "per_minute": 90 }, "headers": { "Authorization": TOKEN } }),
    )
    .await
    .expect(201);
    let path = format!("/v1/webhooks/{}", str_of(&hook, "id"));

    let renamed = app
        .patch(&path, json!({ "description": "gateway", "headers": null }))
        .await
        .expect(200);
    assert_eq!(renamed["rate_limit"], json!({ "per_minute": 90 }));
    assert_eq!(
        renamed["headers"], hook["headers"],
        "null leaves the headers"
    );

    let changed = app
        .patch(
            &path,
            json!({ "rate_limit": { "per_second": 5 }, "headers": { "X-Region": "eu-west" } }),
        )
        .await
        .expect(200);
    assert_eq!(changed["rate_limit"], json!({ "per_second": 5 }));
    assert_eq!(
        changed["headers"],
        json!({ "X-Region": "e…(7 chars)" }),
        "replaced whole"
    );

    let removed = app
        .patch(&path, json!({ "rate_limit": null, "headers": {} }))
        .await
        .expect(200);
    assert_eq!(removed["rate_limit"], Value::Null);
    assert_eq!(removed["headers"], json!({}));
    assert_eq!(app.get(&path).await.expect(200), removed);
}

#[tokio::test]
async fn rate_limits_out_of_bounds_or_of_the_wrong_shape_are_refused_clearly() {
    let app = setup().await;
    for (limit, says) in [
        (
            json!({ "per_second": 0 }),
            "`rate_limit.per_second` must be a whole number from 1 to 10000",
        ),
        (
            json!({ "per_minute": 10001 }),
            "`rate_limit.per_minute` must be a whole number from 1 to 10000",
        ),
        (json!({ "per_second": 1e30 }), "from 1 to 10000"),
        (json!({}), "exactly one of `per_second` or `per_minute`"),
        (json!({ "per_second": 1, "per_minute": 1 }), "exactly one"),
        (json!({ "per_hour": 1 }), "per_hour"),
        (json!({ "per_second": null }), "expected shape"),
        (json!({ "per_second": 1.5 }), "whole number"),
        (json!({ "per_second": -1 }), "whole number"),
        (json!("20/s"), "expected shape"),
    ] {
        let detail = create(&app, json!({ "rate_limit": limit }))
            .await
            .problem(422);
        assert!(detail.contains(says), "{limit}: {detail}");
    }
    assert_eq!(app.get("/v1/webhooks").await.expect(200)["data"], json!([]));
}

#[tokio::test]
async fn each_forbidden_class_of_header_is_refused_naming_the_header() {
    let app = setup().await;
    let secret_value = "s3cr3t-value-never-echoed";
    for (name, says) in [
        ("X-Admin-Signature", "`X-Admin-*` headers"),
        ("x-admin-whatever", "`X-Admin-*` headers"),
        ("Webhook-Signature", "`webhook-*` headers"),
        ("webhook-id", "`webhook-*` headers"),
        ("Content-Type", "application/json"),
        ("Content-Length", "from the body"),
        ("User-Agent", "Admin-Webhooks/<version>"),
        ("Idempotency-Key", "event id"),
        ("Host", "endpoint's URL"),
        ("Connection", "hop-by-hop"),
        ("Keep-Alive", "hop-by-hop"),
        ("Transfer-Encoding", "hop-by-hop"),
        ("TE", "hop-by-hop"),
        ("Trailer", "hop-by-hop"),
        ("Upgrade", "hop-by-hop"),
        ("Proxy-Authorization", "`Proxy-*` headers"),
        ("traceparent", "trace context"),
    ] {
        let answer = create(&app, json!({ "headers": { name: secret_value } })).await;
        let detail = answer.problem(422);
        assert!(
            detail.contains(&format!("header `{name}` cannot be set")) && detail.contains(says),
            "{name}: {detail}"
        );
        assert!(!answer.text.contains(secret_value), "{}", answer.text);
    }

    // Names that are not HTTP tokens.
    for name in ["Bad Name", "X-Colon:", "", "Zoë"] {
        let detail = create(&app, json!({ "headers": { name: "v" } }))
            .await
            .problem(422);
        assert!(
            detail.contains("not a valid HTTP header name"),
            "{name:?}: {detail}"
        );
    }
    // Values: line breaks, control characters, non-ASCII, empty, too long, edge spaces.
    for (value, says) in [
        (format!("{secret_value}\r\nX-Injected: 1"), "visible ASCII"),
        (format!("{secret_value}\u{0}"), "visible ASCII"),
        (format!("{secret_value}é"), "visible ASCII"),
        (String::new(), "is empty"),
        ("a".repeat(1025), "longer than 1024"),
        (format!("{secret_value} "), "white space"),
    ] {
        let answer = create(&app, json!({ "headers": { "Authorization": value } })).await;
        let detail = answer.problem(422);
        assert!(
            detail.contains("header `Authorization`") && detail.contains(says),
            "{detail}"
        );
        assert!(!answer.text.contains(secret_value), "{}", answer.text);
    }
    // Eleven headers; a value that is not a string.
    let eleven: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("X-H{i}"), json!("v"))).collect();
    let detail = create(&app, json!({ "headers": eleven }))
        .await
        .problem(422);
    assert!(detail.contains("at most 10"), "{detail}");
    create(&app, json!({ "headers": { "X-Number": 5 } }))
        .await
        .problem(422);
    // Ten, the limit, with a 1024-character value.
    let ten: serde_json::Map<String, Value> = (0..10)
        .map(|i| (format!("X-H{i}"), json!("a".repeat(1024))))
        .collect();
    create(&app, json!({ "headers": ten })).await.expect(201);

    // An update is checked the same way and changes nothing when refused.
    let hook = create(&app, json!({ "headers": { "Authorization": TOKEN } }))
        .await
        .expect(201);
    let path = format!("/v1/webhooks/{}", str_of(&hook, "id"));
    let detail = app
        .patch(&path, json!({ "headers": { "Host": "elsewhere.example" } }))
        .await
        .problem(422);
    assert!(detail.contains("header `Host` cannot be set"), "{detail}");
    assert_eq!(app.get(&path).await.expect(200)["headers"], hook["headers"]);
}
