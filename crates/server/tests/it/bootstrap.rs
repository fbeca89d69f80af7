//! The first start on an empty store, as the README runs it: no configuration at all.

use std::time::Duration;

use crate::support::Service;

#[tokio::test(flavor = "multi_thread")]
async fn first_start_prints_a_working_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start_unconfigured(dir.path());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let key = loop {
        let out = service.stdout();
        if let Some(key) = out.split_whitespace().find(|w| w.starts_with("awk_")) {
            break key.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no key printed: {out}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
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
    let again = Service::start_unconfigured(dir.path());
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
