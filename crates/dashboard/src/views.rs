//! What every page shares: the layout's context ([`Ctx`]), notices, and the formatting
//! of times, durations, rates and statuses, so every page says them the same way.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::DeliveryStatus;
use http::StatusCode;

use crate::DashState;
use crate::error::PageResult;
use crate::session::SignedIn;

/// The layout's data: the navigation and the sign-out form, when signed in.
pub struct Ctx {
    pub signed_in: bool,
    /// The session's CSRF token, for every form on the page.
    pub csrf: String,
    pub workspace: String,
    /// The navigation entry of this page: `webhooks`, `catalog` or `keys`.
    pub active: &'static str,
}

impl Ctx {
    pub async fn new(
        state: &DashState,
        session: &SignedIn,
        active: &'static str,
    ) -> PageResult<Ctx> {
        let workspace = state.app.get_workspace(&session.workspace_id).await?;
        Ok(Ctx {
            signed_in: true,
            csrf: session.csrf.clone(),
            workspace: workspace.name,
            active,
        })
    }

    pub fn anonymous() -> Ctx {
        Ctx {
            signed_in: false,
            csrf: String::new(),
            workspace: String::new(),
            active: "",
        }
    }
}

/// A line at the top of a page: what just happened, or what went wrong.
pub struct Notice {
    /// `success` or `error` (a CSS class; errors are announced with `role="alert"`).
    pub kind: &'static str,
    pub text: String,
}

impl Notice {
    pub fn success(text: impl Into<String>) -> Option<Notice> {
        Some(Notice {
            kind: "success",
            text: text.into(),
        })
    }

    pub fn error(text: impl Into<String>) -> Option<Notice> {
        Some(Notice {
            kind: "error",
            text: text.into(),
        })
    }
}

/// Renders a page with a status.
pub fn page(status: StatusCode, template: &impl Template) -> PageResult<Response> {
    Ok((status, Html(template.render()?)).into_response())
}

/// A time as the pages show it: readable text, with the exact time for machines.
pub struct When {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    pub text: String,
}

pub fn when(at: DateTime<Utc>) -> When {
    When {
        iso: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        text: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

/// "in 5 s", "3 min ago": how far `at` is from `now`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds();
    let span = span(secs.unsigned_abs());
    if secs >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

fn span(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        3600..=86_399 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d", secs / 86_400),
    }
}

/// A duration from the configuration, said plainly ("24 h", "90 s").
pub fn duration(d: std::time::Duration) -> String {
    match d.as_secs() {
        secs if secs >= 3600 && secs % 3600 == 0 => format!("{} h", secs / 3600),
        secs => span(secs),
    }
}

/// A success rate as a percentage, or "—" when nothing was attempted.
pub fn rate(rate: Option<f64>) -> String {
    match rate {
        Some(r) if r >= 1.0 => "100 %".to_owned(),
        Some(r) => format!("{:.1} %", r * 100.0),
        None => "—".to_owned(),
    }
}

pub fn millis(ms: Option<u32>) -> String {
    ms.map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms"))
}

pub fn code(code: Option<u16>) -> String {
    code.map_or_else(|| "—".to_owned(), |c| c.to_string())
}

/// The statuses the activity log filters by, in the order the filter lists them.
pub const STATUSES: [DeliveryStatus; 4] = [
    DeliveryStatus::Pending,
    DeliveryStatus::Delivered,
    DeliveryStatus::Failed,
    DeliveryStatus::Expired,
];

/// What a status badge says beside the status itself (screen readers read both).
pub fn status_hint(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "waiting for its next attempt",
        DeliveryStatus::Delivered => "received a 2xx",
        DeliveryStatus::Failed => "failed, will be retried",
        DeliveryStatus::Expired => "given up after the retention period",
    }
}

/// The query string of a URL built from pairs (empty values left out).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.append_pair(key, value);
    }
    let text = out.finish();
    if text.is_empty() {
        text
    } else {
        format!("?{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let now = Utc::now();
        assert_eq!(relative(now + chrono::Duration::seconds(5), now), "in 5 s");
        assert_eq!(
            relative(now - chrono::Duration::seconds(180), now),
            "3 min ago"
        );
        assert_eq!(rate(Some(0.987)), "98.7 %");
        assert_eq!(rate(Some(1.0)), "100 %");
        assert_eq!(rate(None), "—");
        assert_eq!(millis(Some(12)), "12 ms");
        assert_eq!(duration(std::time::Duration::from_secs(86_400)), "24 h");
        assert_eq!(
            query(&[("status", "failed"), ("cursor", "")]),
            "?status=failed"
        );
        assert_eq!(query(&[("status", "")]), "");
    }
}
