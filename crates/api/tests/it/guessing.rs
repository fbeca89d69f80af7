//! Guessing keys: failed authentications are limited per client address (429 with
//! `Retry-After` over the limit), and a valid key is never refused by that limit.

use reqwest::Method;
use usecases::FailureLimit;

use crate::support::{App, OPERATOR_KEY, Options, setup_with};

/// Three failures at once, then one an hour: a test never sees a token come back.
const THREE_THEN_WAIT: FailureLimit = FailureLimit {
    per_second: 1.0 / 3600.0,
    burst: 3,
};

async fn limited() -> App {
    setup_with(Options {
        auth_failures: Some(THREE_THEN_WAIT),
        ..Options::default()
    })
    .await
}

const WRONG: &str = "awk_not_a_key_of_anyone_0000000000000000000000";

#[tokio::test]
async fn wrong_keys_from_one_address_get_429_and_a_valid_key_still_works() {
    let app = limited().await;
    for _ in 0..3 {
        app.get_as(WRONG, "/v1/webhooks").await.problem(401);
    }
    let answer = app.get_as(WRONG, "/v1/webhooks").await;
    let detail = answer.problem(429);
    assert!(detail.contains("Retry after"), "{detail}");
    assert_eq!(
        answer.json()["type"],
        "/problems/too-many-failed-authentications"
    );
    let retry_after: u64 = answer
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(
        (3000..=3600).contains(&retry_after),
        "an hour per failure: {retry_after}"
    );

    // The same address with a valid key: never refused, never limited.
    for _ in 0..5 {
        app.get("/v1/webhooks").await.expect(200);
        app.get_as(OPERATOR_KEY, "/v1/workspaces").await.expect(200);
    }
    // Its failures stay limited, on operator routes too: one budget per address.
    app.get_as(WRONG, "/v1/api-keys").await.problem(429);
    app.get_as(WRONG, "/v1/workspaces").await.problem(429);
}

#[tokio::test]
async fn requests_without_a_key_guess_nothing_and_are_not_counted() {
    let app = limited().await;
    for _ in 0..10 {
        app.send(Method::GET, "/v1/webhooks", None, None, &[])
            .await
            .problem(401);
    }
    app.get_as(WRONG, "/v1/webhooks").await.problem(401);
}

#[tokio::test]
async fn a_wrong_operator_key_counts_like_a_wrong_api_key() {
    let app = limited().await;
    for _ in 0..3 {
        app.get_as(WRONG, "/v1/workspaces").await.problem(401);
    }
    app.get_as(WRONG, "/v1/workspaces").await.problem(429);
    app.get_as(WRONG, "/v1/webhooks").await.problem(429);
}

#[tokio::test]
async fn without_a_limit_failures_stay_plain_401s() {
    let app = setup_with(Options::default()).await;
    for _ in 0..50 {
        app.get_as(WRONG, "/v1/webhooks").await.problem(401);
    }
}
