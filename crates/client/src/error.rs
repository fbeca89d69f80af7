//! What a call of the API can fail with: the service's answer (an RFC 9457 problem), or
//! no usable answer at all.
//!
//! Invariant: an error never carries the API key; a [`Problem`] carries only what the
//! service chose to send (its 5xx details are generic by design).

use serde::Deserialize;

/// The body of every error answer of the API (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Problem {
    /// A stable slug of the kind of problem (`/problems/validation`) or `about:blank`.
    #[serde(rename = "type", default = "about_blank")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What was wrong and what to do about it, in the service's words.
    pub detail: String,
    /// The request's `X-Request-Id`, to quote to the operator.
    #[serde(default)]
    pub request_id: Option<String>,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

impl Problem {
    /// Reads an error answer's body; a body that is not a problem (a proxy's HTML page)
    /// still gives a problem, with the status and the start of the text as its detail.
    pub fn from_answer(status: u16, body: &str) -> Problem {
        serde_json::from_str(body).unwrap_or_else(|_| {
            let reason = reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            let excerpt: String = body.trim().chars().take(200).collect();
            Problem {
                kind: about_blank(),
                title: reason.to_owned(),
                status,
                detail: if excerpt.is_empty() {
                    format!("The service answered {status} {reason} without a body.")
                } else {
                    excerpt
                },
                request_id: None,
            }
        })
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service answered with an error status.
    #[error("{0}")]
    Api(Problem),
    /// The request never got an answer: connection refused, DNS, TLS, timeout.
    #[error("cannot reach the API at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The service answered with a success status and a body of another shape (a
    /// different version of the service, or not the service at all).
    #[error("the API at {url} answered something this client cannot read: {source}")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    /// `--api-url` is not an absolute http(s) URL.
    #[error("`{0}` is not an http:// or https:// URL of the API")]
    InvalidBaseUrl(String),
}

impl ClientError {
    /// The problem the service answered with, if it answered.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Api(problem) => Some(problem),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_body_is_read_whole() {
        let problem = Problem::from_answer(
            404,
            r#"{"type":"about:blank","title":"Not Found","status":404,"detail":"There is no webhook `wh_1`.","request_id":"req_1"}"#,
        );
        assert_eq!(problem.status, 404);
        assert_eq!(problem.detail, "There is no webhook `wh_1`.");
        assert_eq!(problem.request_id.as_deref(), Some("req_1"));
        assert_eq!(
            problem.to_string(),
            "404 Not Found: There is no webhook `wh_1`. (request req_1)"
        );
    }

    #[test]
    fn a_body_that_is_not_a_problem_still_says_what_came_back() {
        let problem = Problem::from_answer(502, "<html>Bad gateway</html>");
        assert_eq!(problem.status, 502);
        assert_eq!(problem.title, "Bad Gateway");
        assert_eq!(problem.detail, "<html>Bad gateway</html>");
        let empty = Problem::from_answer(503, "");
        assert!(empty.detail.contains("503"), "{}", empty.detail);
    }
}
