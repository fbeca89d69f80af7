//! Payload schemas of event types: set on create or with PATCH, checked at every publish
//! (single and per batch item) with a 422 naming each failing place, shown in the catalog.

use serde_json::{Value, json};

use crate::support::{App, setup, str_of};

async fn invoice_type(app: &App) -> Value {
    app.post(
        "/v1/event-types",
        json!({
            "type": "invoice.paid",
            "category": "Billing",
            "schema": {
                "type": "object",
                "required": ["invoice_id", "amount"],
                "properties": {
                    "invoice_id": {"type": "string", "pattern": "^inv_"},
                    "amount": {"type": "integer", "minimum": 0}
                }
            }
        }),
    )
    .await
    .expect(201)
}

#[tokio::test]
async fn a_payload_that_does_not_match_is_422_with_each_failing_path() {
    let app = setup().await;
    let created = invoice_type(&app).await;
    assert_eq!(
        created["schema"]["required"],
        json!(["invoice_id", "amount"])
    );

    app.post(
        "/v1/events",
        json!({"type": "invoice.paid", "data": {"invoice_id": "inv_1", "amount": 5}}),
    )
    .await
    .expect(202);
    let refused = app
        .post(
            "/v1/events",
            json!({"type": "invoice.paid", "data": {"invoice_id": "x_1", "amount": -1, "note": "kept private"}}),
        )
        .await;
    let detail = refused.problem(422);
    let problem = refused.json();
    assert_eq!(problem["type"], "/problems/schema-mismatch");
    assert!(detail.contains("invoice.paid"), "{detail}");
    let mut pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| str_of(e, "pointer"))
        .collect();
    pointers.sort_unstable();
    assert_eq!(pointers, ["/data/amount", "/data/invoice_id"]);
    for error in problem["errors"].as_array().unwrap() {
        assert!(!str_of(error, "detail").is_empty(), "{error}");
    }
    let missing = app
        .post("/v1/events", json!({"type": "invoice.paid", "data": {}}))
        .await;
    missing.problem(422);
    let errors = &missing.json()["errors"];
    assert_eq!(errors[0]["pointer"], "/data");
    assert!(
        str_of(&errors[0], "detail").contains("invoice_id"),
        "{errors}"
    );
    // Nothing refused was stored.
    let events = app.get("/v1/events?type=invoice.paid").await.expect(200);
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_batch_refuses_only_the_items_that_do_not_match() {
    let app = setup().await;
    invoice_type(&app).await;
    let answer = app
        .post(
            "/v1/events/batch",
            json!({"events": [
                {"type": "invoice.paid", "data": {"invoice_id": "inv_1", "amount": 1}},
                {"type": "invoice.paid", "data": {"invoice_id": "inv_2", "amount": "1"}},
                {"type": "user.created", "data": {"email": ["not", "a", "string"]}},
                {"type": "user.created", "data": {"n": 1}},
            ]}),
        )
        .await
        .expect(200);
    let items = answer["data"].as_array().unwrap();
    let statuses: Vec<u64> = items
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 422, 422, 202]);
    assert_eq!(items[1]["error"]["type"], "/problems/schema-mismatch");
    assert_eq!(items[1]["error"]["errors"][0]["pointer"], "/data/amount");
    assert_eq!(items[2]["error"]["errors"][0]["pointer"], "/data/email");
}

#[tokio::test]
async fn schemas_change_with_patch_and_apply_to_the_next_publish() {
    let app = setup().await;
    invoice_type(&app).await;
    let loose = json!({"type": "invoice.paid", "data": {"anything": true}});
    app.post("/v1/events", loose.clone()).await.problem(422);

    let changed = app
        .patch(
            "/v1/event-types/invoice.paid",
            json!({"schema": null, "description": "Paid"}),
        )
        .await
        .expect(200);
    assert_eq!(changed["schema"], Value::Null);
    assert_eq!(changed["description"], "Paid");
    assert_eq!(changed["category"], "Billing", "absent fields stay");
    app.post("/v1/events", loose.clone()).await.expect(202);

    // A built-in type takes a stricter schema, and goes back to its own with null.
    let strict = json!({"schema": {"type": "object", "required": ["user_id"]}});
    let user = app
        .patch("/v1/event-types/user.created", strict)
        .await
        .expect(200);
    assert_eq!(user["schema"]["required"], json!(["user_id"]));
    app.post("/v1/events", json!({"type": "user.created", "data": {}}))
        .await
        .problem(422);
    let reset = app
        .patch("/v1/event-types/user.created", json!({"schema": null}))
        .await
        .expect(200);
    assert_eq!(
        Some(reset["schema"].clone()),
        domain::catalog::builtin_schema("user.created")
    );
    app.post("/v1/events", json!({"type": "user.created", "data": {}}))
        .await
        .expect(202);

    // A built-in type keeps the guide's category; unknown names are 404.
    let detail = app
        .patch("/v1/event-types/user.created", json!({"category": "Mine"}))
        .await
        .problem(422);
    assert!(detail.contains("built-in"), "{detail}");
    app.patch("/v1/event-types/no.such", json!({"schema": null}))
        .await
        .problem(404);
    app.patch("/v1/event-types/NOT%20A%20NAME", json!({}))
        .await
        .problem(404);
    app.patch("/v1/event-types/invoice.paid", json!({"colour": "red"}))
        .await
        .problem(422);
}

#[tokio::test]
async fn schemas_that_are_not_valid_draft_2020_12_are_422() {
    let app = setup().await;
    for (schema, says) in [
        (json!([1, 2]), "must be a JSON object"),
        (json!({"type": "text"}), "not a valid JSON Schema"),
        (
            json!({"properties": {"a": {"minimum": "zero"}}}),
            "not a valid JSON Schema",
        ),
        (
            json!({"$schema": "http://json-schema.org/draft-07/schema#"}),
            "draft 2020-12",
        ),
        (
            json!({"$ref": "https://schemas.example.com/user.json"}),
            "not a valid JSON Schema",
        ),
    ] {
        let answer = app
            .post(
                "/v1/event-types",
                json!({"type": "invoice.paid", "category": "Billing", "schema": schema}),
            )
            .await;
        let detail = answer.problem(422);
        assert!(
            detail.contains("`schema`") && detail.contains(says),
            "{schema}: {detail}"
        );
        let detail = app
            .patch("/v1/event-types/user.created", json!({"schema": schema}))
            .await
            .problem(422);
        assert!(detail.contains(says), "{detail}");
    }
    // Nothing was added or changed.
    let list = app.get("/v1/event-types").await.expect(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 5);
    let user = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "user.created")
        .unwrap();
    assert_eq!(
        Some(user["schema"].clone()),
        domain::catalog::builtin_schema("user.created")
    );
}

#[tokio::test]
async fn types_without_a_schema_publish_anything_as_before() {
    let app = setup().await;
    app.post(
        "/v1/event-types",
        json!({"type": "audit.logged", "category": "Audit"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/events",
        json!({"type": "audit.logged", "data": {"x": [1, {"y": null}], "n": "1"}}),
    )
    .await
    .expect(202);
    // The built-in schemas are open: the shapes producers already send still pass.
    for data in [
        json!({}),
        json!({"n": 1}),
        json!({"order": 7}),
        json!({"user_id": "usr_1", "extra": {"a": 1}}),
    ] {
        for t in [
            "user.created",
            "user.updated",
            "order.completed",
            "system.alert",
            "integration.connected",
        ] {
            app.post("/v1/events", json!({"type": t, "data": data}))
                .await
                .expect(202);
        }
    }
}
