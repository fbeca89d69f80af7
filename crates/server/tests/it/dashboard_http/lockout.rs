//! The dashboard cannot revoke a workspace's last live key either: the page says why
//! and the session lives on.

use super::setup;

#[tokio::test]
async fn revoking_the_last_key_is_refused_with_the_reason() {
    let app = setup().await;
    let keys: serde_json::Value = app
        .client
        .get(app.url("/v1/api-keys"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let only = keys["data"][0]["id"].as_str().unwrap().to_owned();
    let session = app.sign_in(&app.key).await;
    let answer = app
        .post_as(&format!("/dashboard/api-keys/{only}/revoke"), &session, "")
        .await;
    assert_eq!(answer.status, 409, "{}", answer.text);
    assert!(answer.text.contains("last live API key"), "{}", answer.text);
    assert!(answer.set_cookie("aw_session").is_none());
    assert_eq!(
        app.get("/dashboard/webhooks", Some(&session)).await.status,
        200
    );
}
