//! Listener endpoints in the dashboard: marked as listeners in the webhook list, and the
//! catalog shows each built-in type's example data (what `trigger` publishes).

use super::setup;

#[tokio::test(flavor = "multi_thread")]
async fn the_list_marks_listeners_and_the_catalog_shows_examples() {
    let app = setup().await;
    let created = app
        .client
        .post(app.url("/v1/listeners"))
        .bearer_auth(&app.key)
        .json(&serde_json::json!({ "name": "alice-laptop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let session = app.sign_in(&app.key).await;

    let list = app.get("/dashboard/webhooks", Some(&session)).await;
    assert_eq!(list.status, 200);
    assert!(list.text.contains("listen://alice-laptop"), "{}", list.text);
    assert!(list.text.contains("badge-listener"), "{}", list.text);

    let catalog = app.get("/dashboard/event-types", Some(&session)).await;
    assert_eq!(catalog.status, 200);
    let example = domain::catalog::example_data("order.completed").unwrap();
    // Askama escapes the quotes of the JSON.
    let shown = example.replace('"', "&#34;");
    assert!(catalog.text.contains(&shown), "{}", catalog.text);
    assert!(
        catalog
            .text
            .contains("admin-webhooks trigger order.completed")
    );
}
