//! The hot queries can use the indexes the schema was shaped for — also as the generic
//! plans a prepared statement falls back to, where parameter values are unknown and only
//! predicates spelled like a partial index's let the planner use it. A scan here would
//! only show with a backlog of millions.
//!
//! Runs against the database of `ADMIN_WEBHOOKS_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) in a schema of its own; skipped loudly when
//! that is unreachable, unless `ADMIN_WEBHOOKS_REQUIRE_POSTGRES` is set.

use domain::DeliveryStatus;

use super::{PgOptions, PostgresStore};
use super::{activity, deliveries, leases, outcomes, publish, retention, stats, take_up};

/// The highest `$n` in `sql`: how many parameters `EXECUTE` must pass.
fn parameters(sql: &str) -> usize {
    let mut most = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        most = most.max(digits.parse().unwrap_or(0));
    }
    most
}

fn describe(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    }
}

async fn plan(client: &deadpool_postgres::Client, sql: &str) -> Result<String, String> {
    let arguments = match parameters(sql) {
        0 => String::new(),
        n => format!("({})", vec!["NULL"; n].join(", ")),
    };
    client
        .batch_execute(&format!("DEALLOCATE ALL; PREPARE q AS {sql}"))
        .await
        .map_err(|e| format!("{}: {sql}", describe(e)))?;
    Ok(client
        .simple_query(&format!("EXPLAIN EXECUTE q{arguments}"))
        .await
        .map_err(describe)?
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_queries_use_their_indexes() {
    let url = super::test_database::url();
    let schema = format!(
        "aw_plans_{}",
        domain::EventId::generate().as_str()[4..].to_ascii_lowercase()
    );
    let options = PgOptions {
        max_connections: 2,
        schema: Some(schema.clone()),
        ..PgOptions::default()
    };
    let cipher = crate::SecretCipher::parse(&crate::sealing::generate_key()).unwrap();
    let store = match PostgresStore::connect(&url, options, cipher).await {
        Ok(store) => store,
        Err(e) => return super::test_database::unreachable(&url, &e),
    };
    let client = store.pool.get().await.unwrap();
    client
        .batch_execute("SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    let checks: Vec<(String, &[&str])> = vec![
        (deliveries::LANES_WITH_WORK.into(), &["deliveries_open"]),
        (deliveries::LANE_WINDOW.into(), &["deliveries_open"]),
        (
            leases::CLAIM_LANES.into(),
            &["deliveries_open", "lane_leases_pkey"],
        ),
        (
            activity::delivery_log_sql(None),
            &["Index Scan Backward using deliveries_pkey"],
        ),
        (
            activity::delivery_log_sql(Some(DeliveryStatus::Failed)),
            &["deliveries_open"],
        ),
        (
            activity::delivery_log_sql(Some(DeliveryStatus::Expired)),
            &["deliveries_expired"],
        ),
        // On empty tables the planner may reach one workspace's events by either of its
        // indexes (by time or the log's); no scan either way.
        (activity::event_log_sql(), &["Index"]),
        // By the delivery's id: an endpoint's index would walk its whole backlog.
        (
            outcomes::RECORD_ATTEMPT.into(),
            &["Index Scan using deliveries_id_key"],
        ),
        (
            outcomes::RECORD_ATTEMPTS.into(),
            &["Index Cond: (id = ANY ($1))", "deliveries_id_key"],
        ),
        (
            outcomes::RECORD_WITHOUT_ATTEMPT.into(),
            &["Index Scan using deliveries_id_key"],
        ),
        (
            activity::CURSOR_SEQ.into(),
            &["Index Scan using deliveries_id_key"],
        ),
        (take_up::TAKERS.into(), &["webhooks_by_workspace"]),
        (take_up::ENTRIES.into(), &["events_log"]),
        (publish::KNOWN_TYPES.into(), &["event_types_pkey"]),
        // On empty tables the planner may reach keys by age or by key; no scan either way.
        (publish::EARLIER_EVENTS.into(), &[]),
        (
            stats::COUNTS.into(),
            &["Index Only Scan using attempts_by_webhook"],
        ),
        (stats::RANKED.into(), &["attempts_by_webhook"]),
        (retention::OLD_ATTEMPTS.into(), &["attempts_by_webhook"]),
        (
            retention::OLD_DELIVERIES.into(),
            &["deliveries_closed_by_age"],
        ),
        (
            retention::OLD_EVENTS.into(),
            &["events_by_workspace", "deliveries_by_event"],
        ),
        (retention::OLD_KEYS.into(), &["idempotency_keys_by_age"]),
    ];
    let mut failures = Vec::new();
    for (sql, wanted) in &checks {
        match plan(&client, sql).await {
            Ok(plan) => {
                if !wanted.iter().all(|w| plan.contains(w)) || plan.contains("Seq Scan") {
                    failures.push(format!("wanted {wanted:?}:\n{plan}\nfor {sql}"));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    drop(client);
    store.close().await;
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn parameters_are_counted_by_their_highest_number() {
    assert_eq!(parameters("SELECT $1, $12, $3"), 12);
    assert_eq!(parameters("SELECT 1"), 0);
}
