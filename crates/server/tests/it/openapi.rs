//! `GET /openapi.json` documents every route the service serves, and is valid OpenAPI 3.1.
//!
//! Why the document cannot silently drift from the router: routes are registered only
//! through `utoipa_axum::routes!`, which takes method and path from each handler's
//! `#[utoipa::path]` (see `crates/api/src/openapi.rs`). The tests hold both ends:
//! - every operation the document lists is served (by its handler, not the 404/405
//!   fallback), and the document lists at least every route of the SPEC;
//! - no source file registers a route any other way (a plain axum `.route(` would serve
//!   something the document does not know).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::ADMIN_WEBHOOKS;
use crate::support::service::{KEY, OPERATOR_KEY};

/// The routes SPEC and the README promise, as (method, path) in the document's spelling.
const EXPECTED: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/workspaces"),
    ("post", "/v1/workspaces"),
    ("get", "/v1/workspaces/{id}"),
    ("patch", "/v1/workspaces/{id}"),
    ("get", "/v1/api-keys"),
    ("post", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{id}"),
    ("get", "/v1/event-types"),
    ("post", "/v1/event-types"),
    ("get", "/v1/webhooks"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks/{id}"),
    ("patch", "/v1/webhooks/{id}"),
    ("delete", "/v1/webhooks/{id}"),
    ("post", "/v1/webhooks/{id}/test"),
    ("post", "/v1/webhooks/{id}/secret/rotate"),
    ("post", "/v1/webhooks/{id}/replay"),
    ("get", "/v1/webhooks/{id}/stats"),
    ("get", "/v1/webhooks/{id}/stats/series"),
    ("get", "/v1/webhooks/{id}/health"),
    ("get", "/v1/webhooks/{id}/deliveries"),
    ("get", "/v1/deliveries/{id}"),
    ("post", "/v1/deliveries/{id}/retry"),
    ("post", "/v1/events"),
    ("get", "/v1/events"),
    ("get", "/v1/events/{id}"),
    ("post", "/v1/listeners"),
    ("get", "/v1/listeners/{id}/stream"),
    ("post", "/v1/listeners/{id}/results"),
];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "head", "options"];

fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(*method).is_some() {
                found.insert(((*method).to_owned(), path.clone()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_covers_every_route_and_every_documented_route_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let res = service
        .client
        .get(service.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let document: Value = res.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");

    let documented = operations(&document);
    for (method, path) in EXPECTED {
        assert!(
            documented.contains(&((*method).to_owned(), (*path).to_owned())),
            "{} {path} is missing from /openapi.json",
            method.to_uppercase()
        );
    }

    for (method, path) in &documented {
        let operation = &document["paths"][path][method];
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path} documents no answer"
        );
        let secured = operation["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty());
        if path.starts_with("/v1/") {
            assert!(secured, "{method} {path} names no security scheme");
            assert!(
                operation["responses"]["401"].is_object()
                    && operation["responses"]["429"].is_object(),
                "{method} {path} lacks its 401/429 problems"
            );
        }
        // Served by its handler: an unknown id answers that handler's 404, a missing body
        // its 4xx, never the fallback's "nothing at" or a 405.
        let url = service.url(&path.replace("{id}", "x_unknown"));
        let key = if path.starts_with("/v1/workspaces") {
            OPERATOR_KEY
        } else {
            KEY
        };
        let request = service
            .client
            .request(method.to_uppercase().parse().unwrap(), url)
            .bearer_auth(key);
        let request = if matches!(method.as_str(), "post" | "patch") {
            request.json(&json!({}))
        } else {
            request
        };
        let res = request.send().await.unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path} is documented but not served");
        assert!(
            !body.contains("There is nothing at"),
            "{method} {path} is documented but not served: {body}"
        );
    }
}

/// A route registered with plain axum (`.route(…)`, `routing::get`) instead of
/// `utoipa_axum::routes!` would be served without being documented.
#[test]
fn routes_are_registered_only_from_their_documentation() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut offenders = Vec::new();
    for dir in ["api/src", "server/src"] {
        for entry in std::fs::read_dir(crates.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.contains(".route(") || line.contains("routing::") {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "register routes with utoipa_axum::routes! so they are documented:\n{}",
        offenders.join("\n")
    );
}

/// Runs `openapi-spec-validator` (PyPI; `.ci/run` installs it) over the document. Without
/// it the check is skipped loudly, unless `CI` is set, where that is a failure.
#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_valid_openapi_3_1() {
    let probe = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        if std::env::var_os("CI").is_some() {
            panic!("openapi-spec-validator is required in CI (pip install openapi-spec-validator)");
        }
        eprintln!(
            "\n!!!!!!!!!! SKIPPED: python3 with openapi-spec-validator is not installed;\n\
             !!!!!!!!!! `pip install openapi-spec-validator` to validate /openapi.json.\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let text = service
        .client
        .get(service.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, text).unwrap();
    let output = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             from openapi_spec_validator.validation import OpenAPIV31SpecValidator\n\
             validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\n\
             print('valid')",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The rules the API enforces on what it is sent are in the document, so that a client
/// (or schemathesis) generating requests from it is not refused for their shape.
#[tokio::test(flavor = "multi_thread")]
async fn the_document_states_the_rules_of_what_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let document: Value = service.get("/openapi.json").await.json().await.unwrap();
    let schemas = &document["components"]["schemas"];
    let create_webhook = &schemas["CreateWebhook"]["properties"];
    assert_eq!(create_webhook["url"]["format"], "uri");
    assert!(create_webhook["url"]["pattern"].is_string());
    assert_eq!(create_webhook["events"]["minItems"], 1);
    assert_eq!(create_webhook["events"]["items"]["maxLength"], 128);
    let subscription = create_webhook["events"]["items"]["pattern"]
        .as_str()
        .unwrap();
    assert!(subscription.starts_with('^') && subscription.ends_with('$'));
    for (schema, field, min) in [
        ("CreateApiKey", "name", 1),
        ("CreateWorkspace", "name", 1),
        ("CreateEventType", "category", 1),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert_eq!(property["minLength"], min, "{schema}.{field}");
        assert!(property["maxLength"].is_u64(), "{schema}.{field}");
        assert!(property["pattern"].is_string(), "{schema}.{field}");
    }
    assert!(schemas["PublishEvent"]["properties"]["type"]["pattern"].is_string());
    // Endpoint controls: a rate limit of one period, headers with their rules.
    let rate_limit = &create_webhook["rate_limit"]["anyOf"][0]["oneOf"];
    assert_eq!(
        rate_limit[0]["properties"]["per_second"]["maximum"],
        json!(10000)
    );
    assert_eq!(rate_limit[1]["required"], json!(["per_minute"]));
    assert_eq!(rate_limit[1]["additionalProperties"], json!(false));
    let headers = &create_webhook["headers"]["anyOf"][0];
    assert_eq!(headers["maxProperties"], 10);
    assert_eq!(headers["additionalProperties"]["maxLength"], 1024);
    let names = headers["propertyNames"]["pattern"].as_str().unwrap();
    assert!(names.contains("[xX]-[aA][dD][mM][iI][nN]-"), "{names}");
    assert!(schemas["UpdateWebhook"]["properties"]["rate_limit"]["anyOf"][1]["type"] == "null");
    assert_eq!(
        schemas["ReplayRequest"]["properties"]["since"]["format"],
        "date-time"
    );
    // An attempt's headers as sent and received (the delivery inspector's).
    let attempt = &schemas["AttemptBody"]["properties"];
    for field in ["request_headers", "response_headers"] {
        assert!(
            attempt[field].to_string().contains("RecordedHeadersBody"),
            "{field}: {}",
            attempt[field]
        );
    }
    assert_eq!(schemas["HeaderBody"]["required"], json!(["name", "value"]));
    assert_eq!(
        schemas["RecordedHeadersBody"]["required"],
        json!(["headers", "truncated"])
    );

    let parameter_of = |method: &str, path: &str, name: &str| {
        document["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} has no `{name}`"))["schema"]
            .clone()
    };
    let parameter = |path: &str, name: &str| parameter_of("get", path, name);
    // An empty query value counts as absent, so each says so beside its rule.
    let rule = |schema: Value| schema["anyOf"][0].clone();
    let deliveries = "/v1/webhooks/{id}/deliveries";
    assert_eq!(
        rule(parameter(deliveries, "status"))["enum"],
        json!(["pending", "delivered", "failed", "expired"])
    );
    assert_eq!(rule(parameter(deliveries, "since"))["format"], "date-time");
    assert_eq!(
        rule(parameter("/v1/events", "until"))["format"],
        "date-time"
    );
    assert_eq!(
        rule(parameter("/v1/webhooks/{id}/stats", "window"))["enum"],
        json!(["1h", "24h"])
    );
    let limit = rule(parameter("/v1/webhooks", "limit"));
    assert_eq!(
        (&limit["type"], &limit["minimum"], &limit["maximum"]),
        (&json!("integer"), &json!(1), &json!(100))
    );
    let cursor = rule(parameter("/v1/webhooks", "cursor"));
    assert!(cursor["pattern"].as_str().unwrap().starts_with("^wh_"));

    let key = parameter_of("post", "/v1/events", "Idempotency-Key");
    assert_eq!(
        (&key["minLength"], &key["maxLength"]),
        (&json!(1), &json!(255))
    );
    assert!(key["pattern"].is_string());
    // A JSON body sent as something else is documented as a 415.
    assert!(document["paths"]["/v1/webhooks"]["post"]["responses"]["415"].is_object());
    // Stateful clients can follow a created webhook to what can be done with it.
    let links = &document["paths"]["/v1/webhooks"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        links["getWebhook"]["parameters"]["id"],
        "$response.body#/id"
    );
}
