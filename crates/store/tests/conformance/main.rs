//! The store contract's conformance suite: every check is an `async fn` over a
//! [`Harness`] (a fresh, empty store of some backend), and [`conformance!`] turns the
//! whole list into tests for one backend. A new backend adds one `conformance!` line
//! with its own setup function; the checks stay as they are.
//!
//! The checks speak only through `dyn Store`, so they test the contract, not an
//! implementation; backend-specific behaviour (files, closing) is tested beside the
//! backend (`tests/sqlite.rs`).

extern crate admin_webhooks_store as store;

mod activity;
mod announcements;
mod batch;
mod dispatch;
mod durability;
mod gone;
mod health;
mod inspector;
mod listeners;
mod log;
mod operations;
mod postgres;
mod publish;
mod resend;
mod retention;
mod sessions;
mod support;
mod tenancy;
mod webhooks;

use std::sync::Arc;

use store::Store;
use store::sqlite::SqliteStore;
use support::{Harness, Reopen};
use tempfile::TempDir;

/// Expands to one `#[tokio::test]` per check, each on a fresh store from `$setup`.
macro_rules! conformance {
    ($backend:ident, $setup:path) => {
        conformance!(@tests $backend, $setup;
            tenancy::bootstrap_happens_once,
            tenancy::new_workspace_has_the_builtin_catalog,
            tenancy::custom_event_types_add_and_conflict,
            tenancy::api_keys_are_scoped_and_revocable,
            tenancy::workspaces_paginate_and_take_limits,
            tenancy::a_failed_write_leaves_nothing_behind,
            tenancy::the_last_live_key_cannot_be_revoked,
            tenancy::shared_secrets_are_written_once,
            tenancy::event_type_schemas_are_stored_and_changed,
            webhooks::webhook_crud_round_trips,
            webhooks::webhook_controls_round_trip,
            webhooks::webhooks_paginate_by_id,
            webhooks::workspaces_cannot_see_each_other,
            webhooks::enabled_webhook_limit_is_enforced,
            webhooks::limit_holds_under_concurrent_creates,
            publish::publish_reaches_matching_enabled_webhooks,
            publish::seq_follows_publish_order_under_concurrency,
            publish::unknown_event_type_is_refused,
            publish::failed_publishes_leave_concurrent_ones_intact,
            publish::idempotency_key_returns_the_first_event,
            publish::only_webhook_targets_one_endpoint,
            publish::stored_body_is_the_rendered_body,
            publish::trace_context_is_kept_with_the_event,
            log::an_endpoint_created_after_an_event_does_not_get_it,
            log::take_up_keeps_order_across_batches,
            batch::a_batch_answers_each_item_in_order,
            announcements::publishes_are_announced_once_readable,
            announcements::changes_and_resends_are_announced_once_readable,
            dispatch::outcomes_are_fenced_by_attempt_count,
            dispatch::delivered_failed_and_expired_transitions,
            dispatch::outcomes_commit_in_submission_order,
            dispatch::lane_target_follows_the_webhook,
            dispatch::list_deliveries_pages_newest_first_with_filters,
            dispatch::deleting_a_webhook_removes_its_deliveries,
            durability::data_survives_reopening,
            activity::list_deliveries_filters_by_time_range,
            activity::events_list_newest_first_with_filters,
            activity::event_deliveries_are_one_per_endpoint,
            activity::stats_count_and_rank_response_times,
            resend::retry_reopens_in_place_with_a_fresh_window,
            resend::replay_reopens_a_range_of_one_endpoint,
            retention::prune_removes_old_closed_rows_and_keeps_open_ones,
            retention::rotation_keeps_the_previous_secret_for_its_grace,
            operations::migrations_are_current,
            operations::backlogs_report_pending_heads_and_failure_runs,
            operations::alerts_are_raised_once_until_cleared,
            gone::a_410_outcome_disables_its_webhook_atomically,
            gone::stats_count_throttled_attempts,
            gone::stats_of_attempts_without_any_answer,
            sessions::sessions_live_until_expiry_sign_out_or_revocation,
            sessions::sessions_survive_reopening,
            health::series_bucket_attempts_and_rank_answered_times,
            health::health_reports_the_waiting_line_and_the_failure_run,
            inspector::attempt_headers_round_trip,
            listeners::listeners_are_outside_the_limit_and_found_once_unseen,
        );
    };
    (@tests $backend:ident, $setup:path; $($module:ident :: $check:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $check() {
                    // A setup returns a `Harness`, or an `Option<Harness>` that is `None`
                    // when its backend cannot run here (it says so loudly).
                    let harness: Option<crate::support::Harness> = $setup().await.into();
                    if let Some(harness) = harness {
                        crate::$module::$check(harness).await;
                    }
                }
            )*
        }
    };
}

/// A fresh SQLite file in its own temporary directory, kept as long as the harness.
async fn sqlite() -> Harness {
    let dir = TempDir::new().expect("temporary directory");
    let path = dir.path().join("store").join("admin-webhooks.db");
    let open = move || -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&path).expect("open the SQLite store"))
    };
    let store = open();
    let reopen: Reopen = Box::new(move |old| {
        let open = open.clone();
        Box::pin(async move {
            // The last handle going away commits queued work and stops the writer.
            drop(old);
            open()
        })
    });
    Harness::new(store, reopen, dir)
}

conformance!(sqlite_backend, crate::sqlite);
conformance!(postgres_backend, crate::postgres::harness);
