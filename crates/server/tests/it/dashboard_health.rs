//! Issue 14 items 1–3 in a real browser (headless Chromium over WebDriver, the binary in
//! `--dev`): an endpoint at a dead port shows "failing since", its waiting count and the
//! reason of its failures in the log, rows held behind its head say so, and a test event
//! says how many deliveries are ahead of it; the list shows health badges and
//! sparklines; the health panel refreshes after a new delivery without a reload; the
//! chart pages draw one bucket per hour (or per 5 min, 6 h) as SVG. Screenshots land in
//! `target/dashboard-screenshots/` (`2x-…`).

use fantoccini::Locator;
use serde_json::{Value, json};
use test_support::loopback::closed_port;

use crate::support::browser::{Browser, DEADLINE};
use crate::support::service::KEY;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Service};

const WIDTH: u32 = 1280;

async fn api_json(service: &Service, path: &str) -> Value {
    let res = service.get(path).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

async fn count(browser: &Browser, css: &str) -> usize {
    browser
        .client
        .find_all(Locator::Css(css))
        .await
        .map_or(0, |found| found.len())
}

async fn sign_in(browser: &Browser, service: &Service) {
    browser.goto(&service.url("/dashboard/sign-in")).await;
    browser.fill("#api_key", KEY).await;
    browser
        .click("form[action='/dashboard/sign-in'] button[type=submit]")
        .await;
    browser.find("nav[aria-label='Settings']").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_endpoint_explains_itself_and_charts_draw_its_history() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let receiver = Receiver::start().await;
    let dead_url = format!("http://127.0.0.1:{}/hook", closed_port());
    let (dead, _) = service.create_webhook(&dead_url, &["user.*"]).await;
    let (live, _) = service
        .create_webhook(&receiver.webhook_url(), &["order.*"])
        .await;

    // Three events to the dead port: the first fails (refused), two wait behind it.
    for i in 0..3 {
        service
            .publish("user.created", json!({"user_id": format!("usr_{i}")}))
            .await;
    }
    service
        .publish("order.completed", json!({"order_id": "ord_1"}))
        .await;
    receiver.wait_for(1, DEADLINE).await;
    let health = browser
        .wait_for("the dead endpoint to be failing", || async {
            let h = api_json(&service, &format!("/v1/webhooks/{dead}/health")).await;
            (h["state"] == "failing").then_some(h)
        })
        .await;
    assert_eq!(health["waiting"], 3);
    let head = health["head_delivery_id"].as_str().unwrap().to_owned();

    // The list: a badge per endpoint, a sparkline, what waits.
    sign_in(&browser, &service).await;
    browser.goto(&service.url("/dashboard/webhooks")).await;
    let dead_row = browser
        .wait_for_text(&format!("tr[data-webhook='{dead}']"), "failing")
        .await;
    assert!(dead_row.contains("Failing since"), "{dead_row}");
    assert!(
        dead_row.contains("3 waiting, oldest expires in 23 h"),
        "{dead_row}"
    );
    assert!(dead_row.contains("Nothing delivered yet"), "{dead_row}");
    let live_row = browser
        .wait_for_text(&format!("tr[data-webhook='{live}']"), "healthy")
        .await;
    assert!(live_row.contains("Last delivered"), "{live_row}");
    assert_eq!(
        count(&browser, "tbody#webhook-rows svg.sparkline[role='img']").await,
        2
    );
    let label = browser
        .find(&format!("tr[data-webhook='{live}'] svg.sparkline"))
        .await
        .attr("aria-label")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(label.contains("latest 100 %"), "{label}");
    browser.screenshot_full("20-webhooks-health", WIDTH).await;

    // The dead endpoint's page: failing since, waiting, the reason, the line behind it.
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{dead}")))
        .await;
    let glance = browser.wait_for_text("#glance", "Failing since").await;
    assert!(glance.contains("3 waiting"), "{glance}");
    assert!(
        browser.text("#stat-p50").await.contains("no response yet"),
        "no 0 ms for an endpoint that never answered"
    );
    assert_eq!(browser.text("#health-badge").await, "failing");
    let head_row = browser
        .wait_for_text(
            &format!("tr.delivery[data-delivery='{head}']"),
            "the connection was refused",
        )
        .await;
    assert!(head_row.contains("Connection failed"), "{head_row}");
    assert!(
        !head_row.contains(" ms"),
        "no response time without an answer: {head_row}"
    );
    let held = count(&browser, "tr.delivery .waiting-behind").await;
    assert_eq!(held, 2, "the two untried deliveries wait behind the head");
    let behind = browser.text("tr.delivery .waiting-behind").await;
    assert!(
        behind.contains(&format!("waiting behind {head} (ordered delivery)")),
        "{behind}"
    );
    let rows = browser.text("#activity-log table").await;
    assert!(!rows.contains(" ago"), "no retry time in the past: {rows}");

    // A test event there says what is ahead of it.
    browser.click("#send-test").await;
    let result = browser.wait_for_text("#test-result", "ahead").await;
    assert!(
        result.contains("Queued behind 3 deliveries ahead"),
        "{result}"
    );
    browser.wait_for_text("#glance", "4 waiting").await;
    browser.screenshot_full("21-webhook-failing", WIDTH).await;

    // The healthy endpoint's panel refreshes after a new delivery, without a reload.
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{live}")))
        .await;
    browser.wait_for_text("#stat-attempts", "1").await;
    let before = browser.url().await;
    service
        .publish("order.completed", json!({"order_id": "ord_2"}))
        .await;
    receiver.wait_for(2, DEADLINE).await;
    browser.wait_for_text("#stat-attempts", "2").await;
    browser.find("#glance[data-refreshed]").await;
    assert_eq!(browser.url().await, before, "no navigation happened");
    assert!(browser.text("#stat-p50").await.ends_with(" ms"));

    // The list refreshes too: the next delivery shows in its row without a reload.
    browser.goto(&service.url("/dashboard/webhooks")).await;
    let row = format!("tr[data-webhook='{live}']");
    browser.wait_for_text(&row, "of 2 attempts").await;
    let before = browser.url().await;
    service
        .publish("order.completed", json!({"order_id": "ord_3"}))
        .await;
    receiver.wait_for(3, DEADLINE).await;
    browser.wait_for_text(&row, "of 3 attempts").await;
    browser.find("#webhook-rows[data-refreshed]").await;
    assert_eq!(browser.url().await, before, "no navigation happened");

    // Charts: SVG with a text alternative, one bucket per hour over 24 h.
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{live}/charts")))
        .await;
    browser.find("svg.chart-svg").await;
    assert_eq!(count(&browser, "svg.chart-svg[role='img']").await, 3);
    assert_eq!(count(&browser, "table.series-data tbody tr").await, 24);
    assert!(count(&browser, "#chart-attempts rect.bar-ok").await >= 1);
    assert!(count(&browser, "#chart-rate circle.dot").await >= 1);
    let described = browser.text("#chart-attempts .chart-summary").await;
    assert!(described.contains("3 in all, 3 succeeded"), "{described}");
    let api = api_json(&service, &format!("/v1/webhooks/{live}/stats/series")).await;
    assert_eq!(api["buckets"].as_array().unwrap().len(), 24);
    browser.screenshot_full("22-charts-24h", WIDTH).await;
    for (window, buckets) in [("1h", 12), ("7d", 28)] {
        browser
            .goto(&service.url(&format!(
                "/dashboard/webhooks/{live}/charts?window={window}"
            )))
            .await;
        browser
            .find(&format!("section.charts[data-window='{window}']"))
            .await;
        assert_eq!(
            count(&browser, "table.series-data tbody tr").await,
            buckets,
            "{window}"
        );
    }
    browser.screenshot_full("23-charts-7d", WIDTH).await;
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{dead}/charts?window=1h")))
        .await;
    let latency = browser.text("#chart-latency .chart-summary").await;
    assert!(latency.starts_with("No response"), "{latency}");
    assert_eq!(count(&browser, "#chart-latency circle.dot").await, 0);
    assert!(count(&browser, "#chart-attempts rect.bar-unanswered").await >= 1);
    browser.screenshot_full("24-charts-failing", WIDTH).await;

    // At phone width the failing endpoint still says what is wrong.
    browser
        .goto(&service.url(&format!("/dashboard/webhooks/{dead}")))
        .await;
    browser.wait_for_text("#glance", "Failing since").await;
    browser
        .screenshot_full("25-webhook-failing-phone", 390)
        .await;
    browser.close().await;
}
