//! The operator API: workspaces and their limits.

use serde_json::json;

use crate::support::{OPERATOR_KEY, setup, str_of};

#[tokio::test]
async fn the_operator_creates_a_workspace_with_a_working_first_key() {
    let app = setup().await;
    let created = app
        .post_as(OPERATOR_KEY, "/v1/workspaces", json!({"name": "  Acme  "}))
        .await
        .expect(201);
    let workspace = &created["workspace"];
    assert!(str_of(workspace, "id").starts_with("ws_"));
    assert_eq!(workspace["name"], "Acme");
    assert_eq!(workspace["max_enabled_webhooks"], 50);
    assert!(str_of(workspace, "created_at").ends_with('Z'));
    let key = str_of(&created["api_key"], "key");
    assert!(key.starts_with("awk_"), "{key}");
    assert!(str_of(&created["api_key"], "id").starts_with("ak_"));
    let hint = str_of(&created["api_key"], "hint");
    assert_eq!(hint, format!("awk_...{}", &key[key.len() - 4..]));

    let types = app.get_as(key, "/v1/event-types").await.expect(200);
    assert_eq!(types["data"].as_array().unwrap().len(), 5);

    let list = app.get_as(OPERATOR_KEY, "/v1/workspaces").await.expect(200);
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| str_of(w, "name"))
        .collect();
    assert!(
        names.contains(&"default") && names.contains(&"Acme"),
        "{names:?}"
    );
    let one = app
        .get_as(
            OPERATOR_KEY,
            &format!("/v1/workspaces/{}", str_of(workspace, "id")),
        )
        .await
        .expect(200);
    assert_eq!(one["name"], "Acme");
    assert!(one.get("api_key").is_none());
}

#[tokio::test]
async fn workspace_names_are_checked() {
    let app = setup().await;
    app.post_as(OPERATOR_KEY, "/v1/workspaces", json!({"name": "   "}))
        .await
        .problem(422);
    app.post_as(
        OPERATOR_KEY,
        "/v1/workspaces",
        json!({"name": "x".repeat(101)}),
    )
    .await
    .problem(422);
    app.post_as(OPERATOR_KEY, "/v1/workspaces", json!({}))
        .await
        .problem(422);
}

#[tokio::test]
async fn the_operator_sets_limits_within_range() {
    let app = setup().await;
    let (id, _) = app.second_workspace("Big").await;
    let path = format!("/v1/workspaces/{id}");
    let raised = app
        .patch_as(OPERATOR_KEY, &path, json!({"max_enabled_webhooks": 10000}))
        .await
        .expect(200);
    assert_eq!(raised["max_enabled_webhooks"], 10000);
    let lowered = app
        .patch_as(OPERATOR_KEY, &path, json!({"max_enabled_webhooks": 0}))
        .await
        .expect(200);
    assert_eq!(lowered["max_enabled_webhooks"], 0);
    for bad in [json!(10001), json!(-1), json!(1.5), json!(u64::MAX)] {
        app.patch_as(OPERATOR_KEY, &path, json!({"max_enabled_webhooks": bad}))
            .await
            .problem(422);
    }
    let missing = app
        .patch_as(
            OPERATOR_KEY,
            "/v1/workspaces/ws_nope",
            json!({"max_enabled_webhooks": 5}),
        )
        .await
        .problem(404);
    assert!(missing.contains("workspace"), "{missing}");
    let unknown = domain::WorkspaceId::generate();
    app.patch_as(
        OPERATOR_KEY,
        &format!("/v1/workspaces/{unknown}"),
        json!({"max_enabled_webhooks": 5}),
    )
    .await
    .problem(404);
}
