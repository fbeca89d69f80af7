//! The first start on an empty store, as the README runs it: no configuration at all.

use std::time::Duration;

use test_support::eventually;

use crate::support::ADMIN_WEBHOOKS;

#[tokio::test(flavor = "multi_thread")]
async fn first_start_prints_a_working_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start_unconfigured(dir.path());
    let key = eventually(Duration::from_secs(10), "a key printed", || async {
        let out = service.stdout();
        out.split_whitespace()
            .find(|w| w.starts_with("awk_"))
            .map(str::to_owned)
    })
    .await;
    let res = service
        .client
        .get(service.url("/v1/webhooks"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the printed key works");
    assert!(service.terminate().success());

    // A second start on the same store creates nothing and prints no key.
    let again = ADMIN_WEBHOOKS.start_unconfigured(dir.path());
    let res = again
        .client
        .get(again.url("/v1/webhooks"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the first key still works");
    assert!(
        !again.stdout().contains("awk_"),
        "the key is printed once only"
    );
}
