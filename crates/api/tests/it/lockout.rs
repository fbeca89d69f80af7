//! A workspace cannot lock itself out: its last live key cannot be revoked, and the
//! operator can issue a key to an existing workspace.

use serde_json::json;

use crate::support::{OPERATOR_KEY, setup, str_of};

#[tokio::test]
async fn the_last_live_key_cannot_be_revoked() {
    let app = setup().await;
    let keys = app.get("/v1/api-keys").await.expect(200);
    let only = str_of(&keys["data"][0], "id").to_owned();
    let answer = app.delete(&format!("/v1/api-keys/{only}")).await;
    let detail = answer.problem(409);
    assert!(detail.contains("last live API key"), "{detail}");
    assert!(detail.contains("Create another key first"), "{detail}");
    assert_eq!(answer.json()["type"], "/problems/last-api-key");
    app.get("/v1/webhooks").await.expect(200);

    // With a second key, the first can go; then the second is the last.
    let second = app
        .post("/v1/api-keys", json!({"name": "second"}))
        .await
        .expect(201);
    let second_key = str_of(&second, "key").to_owned();
    let second_id = str_of(&second, "id").to_owned();
    app.delete(&format!("/v1/api-keys/{only}"))
        .await
        .expect(204);
    app.delete_as(&second_key, &format!("/v1/api-keys/{second_id}"))
        .await
        .problem(409);
    app.get_as(&second_key, "/v1/webhooks").await.expect(200);
}

#[tokio::test]
async fn the_operator_issues_a_key_to_an_existing_workspace() {
    let app = setup().await;
    let (workspace, first) = app.second_workspace("acme").await;
    let path = format!("/v1/workspaces/{workspace}/api-keys");
    let issued = app
        .post_as(OPERATOR_KEY, &path, json!({"name": "  recovery  "}))
        .await
        .expect(201);
    let key = str_of(&issued, "key");
    assert!(key.starts_with("awk_"), "{key}");
    assert_eq!(issued["name"], "recovery");
    assert_eq!(str_of(&issued, "workspace_id"), workspace);
    assert_eq!(
        str_of(&issued, "hint"),
        format!("awk_...{}", &key[key.len() - 4..])
    );
    // The key works for that workspace, and shows in its list beside the first.
    let listed = app.get_as(key, "/v1/api-keys").await.expect(200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains(key),
        "lists never show a value"
    );
    app.get_as(&first, "/v1/webhooks").await.expect(200);

    // Only the operator, only for a workspace that exists, only with a name.
    app.post_as(&first, &path, json!({"name": "x"}))
        .await
        .problem(401);
    let detail = app
        .post_as(
            OPERATOR_KEY,
            "/v1/workspaces/ws_01JABCDEF0123456789ABCDEFG/api-keys",
            json!({"name": "x"}),
        )
        .await
        .problem(404);
    assert!(detail.contains("workspace"), "{detail}");
    app.post_as(OPERATOR_KEY, &path, json!({"name": " "}))
        .await
        .problem(422);
}
