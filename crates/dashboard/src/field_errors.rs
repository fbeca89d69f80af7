//! A refused form's errors, each shown next to its field (`aria-invalid`,
//! `aria-describedby`) in plain text.
//!
//! Invariants:
//! - The words are the use case's, the same the API answers with; only the code marks
//!   (backticks) become quotes, since a person reads them here, not a developer's tool.
//! - A refusal that names no field of the form (a limit, a disabled endpoint) stays a
//!   notice at the top of the page.

use usecases::{Conflict, UseCaseError};

/// `message` for people: each `` `code` `` span becomes “code”.
pub fn plain_text(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 8);
    let mut open = false;
    for c in message.chars() {
        if c == '`' {
            out.push(if open { '”' } else { '“' });
            open = !open;
        } else {
            out.push(c);
        }
    }
    out
}

/// The errors of one submitted form, by field name.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn one(field: &'static str, message: &str) -> Self {
        Self(vec![(field, plain_text(message))])
    }

    /// The field `error` is about, among the form's `fields`, with its message; `None`
    /// when it names none of them (it is then a notice).
    pub fn from_error(error: &UseCaseError, fields: &[&'static str]) -> Option<Self> {
        let field = match error {
            UseCaseError::Validation { field, .. } => *field,
            UseCaseError::UrlNotAllowed(_) => "url",
            UseCaseError::Conflict(Conflict::UnknownEventType(_)) => "events",
            _ => return None,
        };
        let field = fields.iter().copied().find(|f| *f == field)?;
        Some(Self::one(field, &error.to_string()))
    }

    /// The message for `field`, if it was refused.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_marks_become_quotes() {
        assert_eq!(
            plain_text("`events` must list `user.*` or `*`."),
            "“events” must list “user.*” or “*”."
        );
        assert_eq!(plain_text("no marks"), "no marks");
    }

    #[test]
    fn errors_land_on_their_field() {
        let url = UseCaseError::UrlNotAllowed("The webhook URL is not allowed: `ftp`.".into());
        let errors = FieldErrors::from_error(&url, &["url", "events"]).unwrap();
        assert_eq!(
            errors.get("url"),
            Some("The webhook URL is not allowed: “ftp”.")
        );
        assert!(!errors.has("events"));
        let unknown = UseCaseError::Conflict(Conflict::UnknownEventType("a.b".into()));
        assert!(
            FieldErrors::from_error(&unknown, &["events"])
                .unwrap()
                .has("events")
        );
        assert!(
            FieldErrors::from_error(&url, &["name"]).is_none(),
            "not a field here"
        );
        let limit = UseCaseError::Conflict(Conflict::LimitReached { limit: 50 });
        assert!(FieldErrors::from_error(&limit, &["url"]).is_none());
    }
}
