//! The activity log: listing (newest first, filters, pages) and one delivery's detail.

use serde_json::{Value, json};

use crate::support::{setup, str_of};

#[tokio::test]
async fn a_publish_creates_a_pending_delivery_with_no_attempts() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let hook_id = str_of(&hook, "id");
    let event = app.publish("user.created").await;

    let list = app
        .get(&format!("/v1/webhooks/{hook_id}/deliveries"))
        .await
        .expect(200);
    assert_eq!(list["next_cursor"], Value::Null);
    let delivery = &list["data"][0];
    assert!(str_of(delivery, "id").starts_with("dlv_"));
    assert_eq!(delivery["event_id"], event["id"]);
    assert_eq!(delivery["webhook_id"], hook_id);
    assert_eq!(delivery["type"], "user.created");
    assert_eq!(delivery["status"], "pending");
    assert_eq!(delivery["attempt_count"], 0);
    assert_eq!(delivery["last_status_code"], Value::Null);

    let detail = app
        .get(&format!("/v1/deliveries/{}", str_of(delivery, "id")))
        .await
        .expect(200);
    assert_eq!(detail["id"], delivery["id"]);
    assert_eq!(detail["status"], "pending");
    assert_eq!(detail["attempts"], json!([]));
}

#[tokio::test]
async fn deliveries_list_newest_first_in_pages() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let hook_id = str_of(&hook, "id");
    let first = app.publish("user.created").await;
    let second = app.publish("order.completed").await;
    let third = app.publish("user.updated").await;

    let path = format!("/v1/webhooks/{hook_id}/deliveries");
    let all = app.get(&path).await.expect(200);
    let events: Vec<&Value> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["event_id"])
        .collect();
    assert_eq!(events, [&third["id"], &second["id"], &first["id"]]);

    let page1 = app.get(&format!("{path}?limit=2")).await.expect(200);
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    let cursor = str_of(&page1, "next_cursor");
    let page2 = app
        .get(&format!("{path}?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["data"][0]["event_id"], first["id"]);
    assert_eq!(page2["next_cursor"], Value::Null);
}

#[tokio::test]
async fn deliveries_filter_by_status_and_type() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let path = format!("/v1/webhooks/{}/deliveries", str_of(&hook, "id"));
    app.publish("user.created").await;
    app.publish("order.completed").await;

    let count = |v: &Value| v["data"].as_array().unwrap().len();
    assert_eq!(
        count(&app.get(&format!("{path}?status=pending")).await.expect(200)),
        2
    );
    assert_eq!(
        count(
            &app.get(&format!("{path}?status=delivered"))
                .await
                .expect(200)
        ),
        0
    );
    let orders = app
        .get(&format!("{path}?type=order.completed"))
        .await
        .expect(200);
    assert_eq!(count(&orders), 1);
    assert_eq!(orders["data"][0]["type"], "order.completed");
    assert_eq!(
        count(
            &app.get(&format!("{path}?status=&type=&limit=&cursor="))
                .await
                .expect(200)
        ),
        2
    );
    let detail = app.get(&format!("{path}?status=done")).await.problem(400);
    assert!(
        detail.contains("pending, delivered, failed or expired"),
        "{detail}"
    );
}

#[tokio::test]
async fn deleting_a_webhook_makes_its_log_404() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let hook_id = str_of(&hook, "id");
    app.publish("user.created").await;
    let delivery = app.delivery_ids(hook_id).await.remove(0);
    app.delete(&format!("/v1/webhooks/{hook_id}"))
        .await
        .expect(204);
    app.get(&format!("/v1/webhooks/{hook_id}/deliveries"))
        .await
        .problem(404);
    app.get(&format!("/v1/deliveries/{delivery}"))
        .await
        .problem(404);
}
