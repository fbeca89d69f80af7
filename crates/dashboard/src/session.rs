//! Sessions: who is signed in, and the CSRF token of their forms.
//!
//! Design:
//! - Signing in with an API key creates a session: 32 random bytes, sent to the browser
//!   as the cookie [`SESSION_COOKIE`] (base64url). The store keeps only the SHA-256 of
//!   it, with the workspace, the API key that signed in and the expiry
//!   (`Store::create_session`), so every process on a shared PostgreSQL store knows
//!   every session, and a copy of the database signs nobody in.
//! - The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
//!   page makes the browser send it), `Path=/dashboard` (the JSON API never sees it: it
//!   takes bearer keys only), with `Max-Age` = the session's lifetime, and `Secure`
//!   outside `--dev` or when a proxy says the request came over HTTPS.
//! - A session is alive until its expiry (12 h after sign-in by default, not extended by
//!   use) or until its API key is revoked, whichever comes first; the store checks both
//!   on every request. Signing out deletes it.
//! - The CSRF token is HMAC-SHA256(session id, "csrf"): per session, unguessable
//!   without the cookie, needing no storage, and the same in every process. Forms carry
//!   it in a hidden field and [`SignedIn::check_csrf`] compares in constant time.
//! - Before a session exists, the sign-in form's token is `nonce.mac`, the MAC being
//!   HMAC-SHA256 of a random nonce under the sign-in form key
//!   (`Application::sign_in_form_key`: random, kept in the store, so every process checks
//!   what any other issued). It travels in a cookie and a field that must match, and only
//!   the server can make one that verifies ([`sign_in_token_is_ours`]), so a pair chosen
//!   by an attacker (a planted cookie and a matching field) is refused. Where the cookie
//!   is `Secure` it is named `__Host-aw_sign_in`, which browsers accept only from this
//!   host over HTTPS with `Path=/`, so a sibling subdomain or a plain-HTTP answer cannot
//!   plant it.

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use domain::{ApiKeyId, WorkspaceId};
use hmac::{Hmac, Mac};
use http::header::{COOKIE, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::DashState;
use crate::error::PageError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "aw_session";

/// The sign-in form's own CSRF cookie (a signed double submit): there is no session yet
/// to tie a token to, and without it another site could sign a browser into the
/// attacker's workspace. Named [`SECURE_SIGN_IN_COOKIE`] where cookies are `Secure`.
pub const SIGN_IN_COOKIE: &str = "aw_sign_in";

/// [`SIGN_IN_COOKIE`] with the `__Host-` prefix, for answers whose cookies are `Secure`.
pub const SECURE_SIGN_IN_COOKIE: &str = "__Host-aw_sign_in";

/// What the sign-in form's MAC covers besides its nonce, so that no other MAC made with
/// the same key could pass for one.
const SIGN_IN_CONTEXT: &[u8] = b"admin-webhooks dashboard sign-in form v1\0";

/// The name of the hidden form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// Set by the dashboard's script on its background requests: a dead session then gets a
/// 401 it can show, rather than a redirect to an HTML form.
pub const FETCH_HEADER: &str = "x-requested-with";

/// A fresh random token: 32 bytes, base64url (session ids, sign-in form tokens).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a session id.
pub fn hash_session_id(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The CSRF token of the session whose id is `id`.
pub fn csrf_token(id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(id.as_bytes()).expect("HMAC takes any key");
    mac.update(b"admin-webhooks dashboard csrf v1");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn sign_in_mac(key: &[u8; 32], nonce: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(SIGN_IN_CONTEXT);
    mac.update(nonce.as_bytes());
    mac
}

/// A fresh sign-in form token, `nonce.mac`, signed with the sign-in form `key`.
pub fn sign_in_token(key: &[u8; 32]) -> String {
    let nonce = random_token();
    let mac = URL_SAFE_NO_PAD.encode(sign_in_mac(key, &nonce).finalize().into_bytes());
    format!("{nonce}.{mac}")
}

/// Whether `token` is a sign-in form token this service made with `key` (the MAC is
/// checked in constant time).
pub fn sign_in_token_is_ours(key: &[u8; 32], token: &str) -> bool {
    let Some((nonce, mac)) = token.split_once('.') else {
        return false;
    };
    let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else {
        return false;
    };
    sign_in_mac(key, nonce).verify_slice(&mac).is_ok()
}

/// The sign-in cookie's name and path: `__Host-` names need `Secure` and `Path=/`.
pub(crate) fn sign_in_cookie(secure: bool) -> (&'static str, &'static str) {
    if secure {
        (SECURE_SIGN_IN_COOKIE, "/")
    } else {
        (SIGN_IN_COOKIE, "/dashboard/sign-in")
    }
}

/// Whether two tokens are equal, in time that does not depend on where they differ.
pub fn tokens_match(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// Whether the cookies of this answer must be `Secure`.
pub(crate) fn secure(state: &DashState, headers: &HeaderMap) -> bool {
    state.config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Strict always.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age_secs: u64,
    secure: bool,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie values are base64url")
}

/// A `Set-Cookie` that makes the browser forget the session cookie.
pub(crate) fn clear_session_cookie(secure: bool) -> (http::HeaderName, HeaderValue) {
    (
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/dashboard", 0, secure),
    )
}

/// A request made with a live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub workspace_id: WorkspaceId,
    /// The API key that signed in ("this session" on the API Keys page).
    pub api_key_id: ApiKeyId,
    pub expires_at: DateTime<Utc>,
    /// The token this session's forms carry.
    pub csrf: String,
    id_hash: [u8; 32],
    /// Seals this session's one-time notices ([`crate::flash`]); derived from the
    /// session id, which only the browser holds, so the store cannot open them.
    flash_key: [u8; 32],
}

impl SignedIn {
    /// Whether a form's token is this session's.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), PageError> {
        match presented {
            Some(token) if tokens_match(token, &self.csrf) => Ok(()),
            _ => Err(PageError::Forbidden(
                "This form is missing its security token, or the token belongs to another \
                 session. Go back, reload the page and try again."
                    .to_owned(),
            )),
        }
    }

    pub(crate) fn id_hash(&self) -> &[u8; 32] {
        &self.id_hash
    }

    pub(crate) fn flash_key(&self) -> &[u8; 32] {
        &self.flash_key
    }
}

/// The key of the session whose id is `id` for its one-time notices.
fn flash_key(id: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(id.as_bytes()).expect("HMAC takes any key");
    mac.update(b"admin-webhooks dashboard flash v1");
    mac.finalize().into_bytes().into()
}

/// Why a request has no live session, and what to answer.
pub struct NoSession {
    /// A session cookie was sent, but its session is over (expired, signed out, key
    /// revoked): the browser is told to drop it.
    ended: bool,
    background: bool,
    method: Method,
    /// Where to come back to after signing in (path and query of a page).
    next: String,
    secure: bool,
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        let mut response = if self.background {
            (
                StatusCode::UNAUTHORIZED,
                "Your session has ended; sign in again.",
            )
                .into_response()
        } else {
            let mut target = "/dashboard/sign-in".to_owned();
            let mut params = url::form_urlencoded::Serializer::new(String::new());
            if self.ended {
                params.append_pair("ended", "1");
            }
            if self.method == Method::GET && self.next != "/dashboard" {
                params.append_pair("next", &self.next);
            }
            let query = params.finish();
            if !query.is_empty() {
                target.push('?');
                target.push_str(&query);
            }
            Redirect::to(&target).into_response()
        };
        if self.ended {
            let (name, value) = clear_session_cookie(self.secure);
            response.headers_mut().append(name, value);
        }
        response
    }
}

impl FromRequestParts<DashState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &DashState) -> Result<Self, Response> {
        let no_session = |ended: bool| NoSession {
            ended,
            background: parts.headers.contains_key(FETCH_HEADER),
            method: parts.method.clone(),
            next: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/dashboard".to_owned(), |p| p.as_str().to_owned()),
            secure: secure(state, &parts.headers),
        };
        // Ids are 43 characters; anything far longer is not worth hashing.
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE).filter(|v| v.len() <= 128) else {
            return Err(no_session(false).into_response());
        };
        let id_hash = hash_session_id(id);
        let session = state
            .app
            .find_session(&id_hash)
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        match session {
            Some(session) => Ok(SignedIn {
                workspace_id: session.workspace_id,
                api_key_id: session.api_key_id,
                expires_at: session.expires_at,
                csrf: csrf_token(id),
                id_hash,
                flash_key: flash_key(id),
            }),
            None => Err(no_session(true).into_response()),
        }
    }
}

/// Where to go after signing in: a dashboard page of this site, never elsewhere (an
/// open redirect would let a link to our sign-in page forward to a look-alike site).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with("/dashboard")
                && !path.starts_with("//")
                && !path.contains(['\\', '\r', '\n'])
                && !path.starts_with("/dashboard/sign-") =>
        {
            path
        }
        _ => "/dashboard/webhooks",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_per_session_and_stable() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(csrf_token(&a), csrf_token(&a));
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert_ne!(csrf_token(&a), a, "the token is not the session id");
        assert!(tokens_match(&csrf_token(&a), &csrf_token(&a)));
        assert!(!tokens_match(&csrf_token(&a), &csrf_token(&b)));
        assert!(!tokens_match("", &csrf_token(&a)));
    }

    #[test]
    fn sign_in_tokens_verify_only_under_their_key() {
        let (key, other) = ([7u8; 32], [8u8; 32]);
        let token = sign_in_token(&key);
        assert!(sign_in_token_is_ours(&key, &token));
        assert_ne!(token, sign_in_token(&key), "each form gets a fresh nonce");
        assert!(!sign_in_token_is_ours(&other, &token));
        let (nonce, _) = token.split_once('.').unwrap();
        for forged in [
            "x",
            "",
            ".",
            &format!("{nonce}."),
            &format!("{nonce}.AAAA"),
            nonce,
        ] {
            assert!(!sign_in_token_is_ours(&key, forged), "{forged}");
        }
        // The MAC is bound to its nonce.
        let (_, mac) = sign_in_token(&key)
            .split_once('.')
            .map(|(n, m)| (n.to_owned(), m.to_owned()))
            .unwrap();
        assert!(!sign_in_token_is_ours(&key, &format!("{nonce}.{mac}")));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; aw_session=xyz ; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn next_stays_on_the_dashboard() {
        assert_eq!(
            safe_next(Some("/dashboard/webhooks/wh_1?status=failed")),
            "/dashboard/webhooks/wh_1?status=failed"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/v1/webhooks",
            "/dashboard/sign-out",
            "/dashboard\\evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/dashboard/webhooks", "{bad}");
        }
        assert_eq!(safe_next(None), "/dashboard/webhooks");
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let value = set_cookie(SESSION_COOKIE, "abc", "/dashboard", 60, true);
        assert_eq!(
            value.to_str().unwrap(),
            "aw_session=abc; Path=/dashboard; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
    }
}
