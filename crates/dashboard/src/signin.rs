//! Signing in with an API key, and signing out.
//!
//! Invariants:
//! - The key is checked exactly as the API checks a bearer key (hashed, looked up among
//!   live keys) and then forgotten: only a session id goes back to the browser.
//! - The sign-in form is CSRF-protected by a signed double-submit token: `nonce.mac`
//!   (see [`crate::session`]) in an HttpOnly, SameSite=Strict cookie (`__Host-` prefixed
//!   where `Secure`), repeated in a hidden field; the two must match and the MAC must be
//!   the server's. There is no session to tie a token to yet.
//! - A wrong key answers 401 with the form again and says nothing about which part was
//!   wrong; no session is created. It counts against the client's address in the limiter
//!   shared with the API ([`usecases::auth_failures`]): over the limit the answer is 429
//!   with `Retry-After`. A right key is never refused by it.
//! - Signing out deletes the session from the store (so a copied cookie dies too) and
//!   clears the cookie.

use askama::Template;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use http::StatusCode;
use http::header::{RETRY_AFTER, SET_COOKIE};
use store::NewSession;
use usecases::AuthEdge;

use crate::DashState;
use crate::error::{PageError, PageResult};
use crate::form::{Posted, read_form};
use crate::session::{
    SESSION_COOKIE, clear_session_cookie, cookie, hash_session_id, random_token, safe_next, secure,
    set_cookie, sign_in_cookie, sign_in_token, sign_in_token_is_ours, tokens_match,
};
use crate::views::{Ctx, Notice, page};

/// How long a sign-in form stays usable.
const SIGN_IN_FORM_SECS: u64 = 3600;

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    ctx: Ctx,
    token: String,
    next: String,
    notice: Option<Notice>,
}

/// The key of the sign-in form tokens, read from the store once per process.
async fn form_key(state: &DashState) -> PageResult<[u8; 32]> {
    if let Some(key) = state.sign_in_key.get() {
        return Ok(*key);
    }
    // Two first requests may both ask; the store answers both with the same key.
    let key = state.app.sign_in_form_key().await?;
    Ok(*state.sign_in_key.get_or_init(|| key))
}

/// Renders the form with a fresh signed double-submit token and sets its cookie.
async fn form_page(
    state: &DashState,
    headers: &http::HeaderMap,
    status: StatusCode,
    next: &str,
    notice: Option<Notice>,
) -> PageResult<Response> {
    let token = sign_in_token(&form_key(state).await?);
    let template = SignInPage {
        ctx: Ctx::anonymous(),
        token: token.clone(),
        next: next.to_owned(),
        notice,
    };
    let mut response = page(status, &template)?;
    let (name, path) = sign_in_cookie(secure(state, headers));
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            name,
            &token,
            path,
            SIGN_IN_FORM_SECS,
            secure(state, headers),
        ),
    );
    Ok(response)
}

pub(crate) async fn show_form(
    State(state): State<DashState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: http::HeaderMap,
) -> PageResult<Response> {
    let notice = if query.contains_key("ended") {
        Notice::error(
            "Your session has ended (it expired, was signed out, or its API key was revoked). Sign in again.",
        )
    } else if query.contains_key("signed_out") {
        Notice::success("You are signed out.")
    } else {
        None
    };
    let next = query.get("next").map(String::as_str);
    form_page(&state, &headers, StatusCode::OK, safe_next(next), notice).await
}

pub(crate) async fn sign_in(
    State(state): State<DashState>,
    request: Request,
) -> PageResult<Response> {
    let headers = request.headers().clone();
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let form = read_form(request.into_body()).await?;
    let (cookie_name, _) = sign_in_cookie(secure(&state, &headers));
    let expected = cookie(&headers, cookie_name).unwrap_or("");
    let presented = form.text("csrf");
    if expected.is_empty()
        || !tokens_match(presented, expected)
        || !sign_in_token_is_ours(&form_key(&state).await?, expected)
    {
        return Err(PageError::Forbidden(
            "The sign-in form expired or did not come from this site. Reload the sign-in page \
             and try again."
                .to_owned(),
        ));
    }
    let next = safe_next(form.get("next")).to_owned();
    let key = form.text("api_key").trim();
    let found = if key.is_empty() {
        None
    } else {
        state.app.recognise_key(key).await?
    };
    let Some(key) = found else {
        if key.is_empty() {
            let notice = Notice::error("Enter an API key.");
            return form_page(&state, &headers, StatusCode::UNAUTHORIZED, &next, notice).await;
        }
        let message = "That API key is not valid or has been revoked. Check the key, or ask \
                       someone with access for a new one (Settings › API Keys).";
        return match state
            .config
            .auth_failures
            .failed(AuthEdge::Dashboard, client)
        {
            Ok(()) => {
                let notice = Notice::error(message);
                form_page(&state, &headers, StatusCode::UNAUTHORIZED, &next, notice).await
            }
            Err(limited) => {
                let notice = Notice::error(limited.to_string());
                let status = StatusCode::TOO_MANY_REQUESTS;
                let mut response = form_page(&state, &headers, status, &next, notice).await?;
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, limited.retry_after_secs.into());
                Ok(response)
            }
        };
    };
    let id = random_token();
    let ttl =
        chrono::Duration::from_std(state.config.session_ttl).unwrap_or(chrono::Duration::hours(12));
    state
        .app
        .open_session(NewSession {
            id_hash: hash_session_id(&id),
            workspace_id: key.workspace_id,
            api_key_id: key.id,
            expires_at: Utc::now() + ttl,
        })
        .await?;
    let secure = secure(&state, &headers);
    let mut response = Redirect::to(&next).into_response();
    let cookies = response.headers_mut();
    cookies.append(
        SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &id,
            "/dashboard",
            state.config.session_ttl.as_secs(),
            secure,
        ),
    );
    // The sign-in token is spent.
    let (name, path) = sign_in_cookie(secure);
    cookies.append(SET_COOKIE, set_cookie(name, "", path, 0, secure));
    Ok(response)
}

pub(crate) async fn sign_out(
    State(state): State<DashState>,
    headers: http::HeaderMap,
    Posted { session, .. }: Posted,
) -> PageResult<Response> {
    state.app.close_session(session.id_hash()).await?;
    let mut response = Redirect::to("/dashboard/sign-in?signed_out=1").into_response();
    let (name, value) = clear_session_cookie(secure(&state, &headers));
    response.headers_mut().append(name, value);
    Ok(response)
}
