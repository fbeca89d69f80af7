//! The stylesheet and the script, embedded in the binary: no CDN, no build step, nothing
//! to deploy beside the binary.
//!
//! Their URLs carry no version, so they are cached only briefly and revalidated by ETag
//! (a hash of the content, computed once): a new binary's assets reach browsers at once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

pub(crate) const CSS: &str = include_str!("../assets/dashboard.css");
const JS: &str = include_str!("../assets/dashboard.js");
const FAVICON: &str = include_str!("../assets/favicon.svg");

static CSS_ETAG: LazyLock<String> = LazyLock::new(|| etag(CSS));
static JS_ETAG: LazyLock<String> = LazyLock::new(|| etag(JS));
static FAVICON_ETAG: LazyLock<String> = LazyLock::new(|| etag(FAVICON));

fn etag(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    format!("\"{}\"", &hex_prefix(&digest))
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Browsers ask for `/favicon.ico` on their own; the icon is the SVG one.
pub(crate) async fn favicon_ico() -> axum::response::Redirect {
    axum::response::Redirect::permanent("/dashboard/assets/favicon.svg")
}

pub(crate) async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let (body, content_type, tag) = match file.as_str() {
        "dashboard.css" => (CSS, "text/css; charset=utf-8", CSS_ETAG.as_str()),
        "dashboard.js" => (JS, "text/javascript; charset=utf-8", JS_ETAG.as_str()),
        "favicon.svg" => (FAVICON, "image/svg+xml", FAVICON_ETAG.as_str()),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let cache = [(CACHE_CONTROL, "public, max-age=300"), (ETAG, tag)];
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (cache, [(CONTENT_TYPE, content_type)], body).into_response()
}
