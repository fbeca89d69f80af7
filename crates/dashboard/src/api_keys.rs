//! Settings › API Keys: create (the value shown once), list, revoke.
//!
//! Invariants:
//! - A key is made by the same use case as `POST /v1/api-keys`: the store keeps its hash
//!   and hint. The POST answers with a redirect (a reload creates nothing) and hands the
//!   value to the page it redirects to in a sealed one-time notice ([`crate::flash`]):
//!   it appears in that one answer, which like every page is `no-store`, and never again.
//! - Revoking a key ends every dashboard session it opened (the store checks the key on
//!   every request); revoking the key of this very session signs it out.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::ApiKeyId;
use http::StatusCode;
use http::header::SET_COOKIE;
use store::PageRequest;
use usecases::UseCaseError;

use crate::DashState;
use crate::error::{PageResult, parse_id, use_case_status};
use crate::field_errors::FieldErrors;
use crate::flash;
use crate::form::Posted;
use crate::session::{SignedIn, clear_session_cookie, secure};
use crate::views::{Ctx, Notice, When, page, query, when};

/// The page that shows a new key, and the path its one-time notice is scoped to.
const KEYS_PATH: &str = "/dashboard/api-keys";

/// What the one-time notice of a new key is for (bound into its seal).
const NEW_KEY_PURPOSE: &str = "new-api-key";

const PAGE_SIZE: u32 = 100;

struct KeyRow {
    id: String,
    name: String,
    hint: String,
    created: When,
    /// The key this session signed in with.
    current: bool,
}

/// A key just created: its one appearance.
#[derive(serde::Serialize, serde::Deserialize)]
struct CreatedKey {
    name: String,
    value: String,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    ctx: Ctx,
    keys: Vec<KeyRow>,
    next: Option<String>,
    created: Option<CreatedKey>,
    notice: Option<Notice>,
    name: String,
    errors: FieldErrors,
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct KeysQuery {
    cursor: Option<String>,
    done: Option<String>,
}

async fn render(
    state: &DashState,
    session: &SignedIn,
    cursor: Option<String>,
    status: StatusCode,
    (created, notice, name, errors): (Option<CreatedKey>, Option<Notice>, String, FieldErrors),
) -> PageResult<Response> {
    let ctx = Ctx::new(state, session, "keys").await?;
    let keys = state
        .app
        .list_api_keys(
            &session.workspace_id,
            PageRequest {
                limit: PAGE_SIZE,
                cursor: cursor.filter(|c| !c.is_empty()),
            },
        )
        .await?;
    let template = KeysPage {
        ctx,
        keys: keys
            .data
            .into_iter()
            .map(|k| KeyRow {
                current: k.id == session.api_key_id,
                id: k.id.to_string(),
                name: k.name,
                hint: k.hint,
                created: when(k.created_at),
            })
            .collect(),
        next: keys
            .next_cursor
            .map(|c| format!("/dashboard/api-keys{}", query(&[("cursor", &c)]))),
        created,
        notice,
        name,
        errors,
    };
    page(status, &template)
}

pub(crate) async fn list(
    State(state): State<DashState>,
    headers: http::HeaderMap,
    session: SignedIn,
    Query(q): Query<KeysQuery>,
) -> PageResult<Response> {
    let sealed = crate::session::cookie(&headers, flash::FLASH_COOKIE);
    let created = sealed
        .and_then(|s| flash::open(session.flash_key(), NEW_KEY_PURPOSE, s))
        .and_then(|text| serde_json::from_str::<CreatedKey>(&text).ok());
    let notice = match q.done.as_deref() {
        Some("revoked") => Notice::success(
            "The key was revoked: requests with it now get 401, and dashboard sessions it \
             opened have ended.",
        ),
        Some("created") if created.is_none() => Notice::success(
            "The key was created. Its value was shown once, right after creating it; if you \
             did not copy it, revoke the key and create another.",
        ),
        _ => None,
    };
    let mut response = render(
        &state,
        &session,
        q.cursor,
        StatusCode::OK,
        (created, notice, String::new(), FieldErrors::none()),
    )
    .await?;
    if sealed.is_some() {
        // Shown once: the next answer (a reload) finds no notice.
        response.headers_mut().append(
            SET_COOKIE,
            flash::clear(KEYS_PATH, secure(&state, &headers)),
        );
    }
    Ok(response)
}

/// Creates the key, then redirects to the list, where its value is shown once.
pub(crate) async fn create(
    State(state): State<DashState>,
    headers: http::HeaderMap,
    Posted { session, form }: Posted,
) -> PageResult<Response> {
    let entered = form.text("name").to_owned();
    let created = match state
        .app
        .create_api_key(&session.workspace_id, &entered)
        .await
    {
        Ok(created) => created,
        // Only the name can be refused; anything else is the error page.
        Err(error @ UseCaseError::Validation { .. }) => {
            let status = use_case_status(&error);
            let errors = FieldErrors::one("name", &error.to_string());
            return render(
                &state,
                &session,
                None,
                status,
                (None, None, entered, errors),
            )
            .await;
        }
        Err(error) => return Err(error.into()),
    };
    let shown = CreatedKey {
        name: created.key.name,
        value: created.value,
    };
    // Two strings always serialize; were it ever empty, the page says the key was made.
    let text = serde_json::to_string(&shown).unwrap_or_default();
    let sealed = flash::seal(session.flash_key(), NEW_KEY_PURPOSE, &text);
    let mut response = Redirect::to(&format!("{KEYS_PATH}?done=created")).into_response();
    response.headers_mut().append(
        SET_COOKIE,
        flash::cookie(&sealed, KEYS_PATH, secure(&state, &headers)),
    );
    Ok(response)
}

pub(crate) async fn revoke(
    State(state): State<DashState>,
    headers: http::HeaderMap,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> PageResult<Response> {
    let id: ApiKeyId = parse_id(&id, "API key")?;
    state.app.revoke_api_key(&session.workspace_id, &id).await?;
    if id == session.api_key_id {
        // This session died with its key: say so on the sign-in page.
        let mut response = Redirect::to("/dashboard/sign-in?ended=1").into_response();
        let (name, value) = clear_session_cookie(secure(&state, &headers));
        response.headers_mut().append(name, value);
        return Ok(response);
    }
    Ok(Redirect::to("/dashboard/api-keys?done=revoked").into_response())
}
