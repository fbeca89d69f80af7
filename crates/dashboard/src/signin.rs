//! Signing in with an API key, and signing out.
//!
//! Invariants:
//! - The key is checked exactly as the API checks a bearer key (hashed, looked up among
//!   live keys) and then forgotten: only a session id goes back to the browser.
//! - The sign-in form is CSRF-protected by a double-submit token: a random value in an
//!   HttpOnly, SameSite=Strict cookie scoped to the form's path, repeated in a hidden
//!   field, compared in constant time. There is no session to tie a token to yet.
//! - A wrong key answers 401 with the form again and says nothing about which part was
//!   wrong; no session is created.
//! - Signing out deletes the session from the store (so a copied cookie dies too) and
//!   clears the cookie.

use askama::Template;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use http::StatusCode;
use http::header::SET_COOKIE;
use store::NewSession;

use crate::DashState;
use crate::error::{PageError, PageResult};
use crate::form::{Posted, read_form};
use crate::session::{
    SESSION_COOKIE, SIGN_IN_COOKIE, clear_session_cookie, cookie, hash_session_id, random_token,
    safe_next, secure, set_cookie, tokens_match,
};
use crate::views::{Ctx, Notice, page};

const SIGN_IN_PATH: &str = "/dashboard/sign-in";
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

/// Renders the form with a fresh double-submit token and sets its cookie.
fn form_page(
    state: &DashState,
    headers: &http::HeaderMap,
    status: StatusCode,
    next: &str,
    notice: Option<Notice>,
) -> PageResult<Response> {
    let token = random_token();
    let template = SignInPage {
        ctx: Ctx::anonymous(),
        token: token.clone(),
        next: next.to_owned(),
        notice,
    };
    let mut response = page(status, &template)?;
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            SIGN_IN_COOKIE,
            &token,
            SIGN_IN_PATH,
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
    form_page(&state, &headers, StatusCode::OK, safe_next(next), notice)
}

pub(crate) async fn sign_in(
    State(state): State<DashState>,
    request: Request,
) -> PageResult<Response> {
    let headers = request.headers().clone();
    let form = read_form(request.into_body()).await?;
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or("");
    let presented = form.text("csrf");
    if expected.is_empty() || !tokens_match(presented, expected) {
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
        let message = if form.text("api_key").trim().is_empty() {
            "Enter an API key."
        } else {
            "That API key is not valid or has been revoked. Check the key, or ask someone with \
             access for a new one (Settings › API Keys)."
        };
        return form_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            &next,
            Notice::error(message),
        );
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
    cookies.append(
        SET_COOKIE,
        set_cookie(SIGN_IN_COOKIE, "", SIGN_IN_PATH, 0, secure),
    );
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
