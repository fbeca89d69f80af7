//! The catalog: built-in types, custom types, name rules and duplicates.

use serde_json::{Value, json};

use crate::support::{setup, str_of};

#[tokio::test]
async fn every_workspace_starts_with_the_guides_five_types() {
    let app = setup().await;
    let list = app.get("/v1/event-types").await.expect(200);
    assert_eq!(list["next_cursor"], Value::Null);
    let types = list["data"].as_array().unwrap();
    let mut names: Vec<&str> = types.iter().map(|t| str_of(t, "name")).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "integration.connected",
            "order.completed",
            "system.alert",
            "user.created",
            "user.updated"
        ]
    );
    let created = types.iter().find(|t| t["name"] == "user.created").unwrap();
    assert_eq!(
        created,
        &json!({
            "name": "user.created",
            "category": "Users",
            "description": "New user registered in the system",
            "builtin": true,
            "example": {
                "user_id": "usr_9x2k4m7",
                "email": "ada@example.com",
                "name": "Ada Lovelace",
                "plan": "free",
                "created_at": "2025-01-15T09:30:00Z",
            },
        })
    );
    // Every built-in type has an example object (what `trigger` publishes).
    assert!(types.iter().all(|t| t["example"].is_object()), "{list}");
}

#[tokio::test]
async fn a_workspace_adds_its_own_types() {
    let app = setup().await;
    let body = json!({"type": "invoice.paid", "category": "Billing", "description": "An invoice was paid"});
    let created = app.post("/v1/event-types", body.clone()).await.expect(201);
    assert_eq!(
        created,
        json!({"name": "invoice.paid", "category": "Billing", "description": "An invoice was paid", "builtin": false, "example": null})
    );
    let detail = app.post("/v1/event-types", body).await.problem(409);
    assert!(detail.contains("invoice.paid"), "{detail}");
    app.post(
        "/v1/event-types",
        json!({"type": "user.created", "category": "Users"}),
    )
    .await
    .problem(409);

    let list = app.get("/v1/event-types").await.expect(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn invalid_names_are_422_with_the_rule() {
    let app = setup().await;
    for bad in [
        "Invoice.Paid",
        "invoice",
        "invoice..paid",
        "user.*",
        "invoice paid",
    ] {
        let detail = app
            .post(
                "/v1/event-types",
                json!({"type": bad, "category": "Billing"}),
            )
            .await
            .problem(422);
        assert!(detail.contains("lowercase words"), "{bad}: {detail}");
    }
    let reserved = app
        .post(
            "/v1/event-types",
            json!({"type": "webhook.test", "category": "X"}),
        )
        .await
        .problem(422);
    assert!(reserved.contains("reserved"), "{reserved}");
    app.post(
        "/v1/event-types",
        json!({"type": "invoice.paid", "category": ""}),
    )
    .await
    .problem(422);
    app.post("/v1/event-types", json!({"type": "invoice.paid"}))
        .await
        .problem(422);
}

#[tokio::test]
async fn the_catalog_pages_like_every_list() {
    let app = setup().await;
    let first = app.get("/v1/event-types?limit=3").await.expect(200);
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let cursor = str_of(&first, "next_cursor");
    let rest = app
        .get(&format!("/v1/event-types?limit=3&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    assert_eq!(rest["next_cursor"], Value::Null);
}
