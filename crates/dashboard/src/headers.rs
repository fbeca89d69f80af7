//! Response headers every dashboard answer carries.
//!
//! - `Cache-Control: no-store`: pages show secrets and API keys; no cache (browser or
//!   proxy) may keep them, and the back button must not show a signed-out session's pages.
//! - A Content-Security-Policy allowing only the embedded stylesheet and script: no
//!   inline script or style, so an injected `<script>` could not run even if escaping
//!   failed somewhere; `frame-ancestors 'none'` (and `X-Frame-Options`) stop
//!   clickjacking of the buttons; `form-action 'self'` keeps forms posting here.
//! - `Referrer-Policy: same-origin`: URLs (webhook and delivery ids) do not leak to
//!   other sites.

use axum::response::Response;
use http::HeaderValue;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // Assets set their own (cacheable) policy.
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
