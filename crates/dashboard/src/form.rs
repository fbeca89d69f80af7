//! Posted forms: the body parsed as `application/x-www-form-urlencoded`, and the CSRF
//! check every dashboard POST passes before its handler runs.
//!
//! Invariant: a handler that takes [`Posted`] runs only for a live session whose token
//! came in the form's [`CSRF_FIELD`]; a missing or foreign token is a 403 page, and no
//! store call happens. (The session is checked first: a POST without one redirects to
//! the sign-in form.)

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};

use crate::DashState;
use crate::error::PageError;
use crate::session::{CSRF_FIELD, SignedIn};

/// Forms are small: a URL, a few dozen checkboxes, a description.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A parsed form body. Keys may repeat (one `events` per ticked checkbox).
#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or "".
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A form posted by a live session with its CSRF token.
pub struct Posted {
    pub session: SignedIn,
    pub form: FormData,
}

impl FromRequest<DashState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &DashState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = SignedIn::from_request_parts(&mut parts, state).await?;
        let form = read_form(body).await.map_err(IntoResponse::into_response)?;
        session
            .check_csrf(form.get(CSRF_FIELD))
            .map_err(IntoResponse::into_response)?;
        Ok(Posted { session, form })
    }
}

/// Reads a form body of at most [`MAX_FORM_BYTES`].
pub async fn read_form(body: axum::body::Body) -> Result<FormData, PageError> {
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::BadRequest("This form is larger than 64 KiB.".to_owned()))?;
    Ok(FormData::parse(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_encoding() {
        let form = FormData::parse(
            b"events=user.*&events=order.completed&url=https%3A%2F%2Fa.b%2Fc&x=a+b",
        );
        assert_eq!(form.all("events"), vec!["user.*", "order.completed"]);
        assert_eq!(form.get("url"), Some("https://a.b/c"));
        assert_eq!(form.text("x"), "a b");
        assert_eq!(form.text("missing"), "");
    }
}
