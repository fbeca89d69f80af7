//! The event catalog: the workspace's event types by category, and adding a custom type
//! (through the same use case as the API, so with its rules and messages).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use store::ConflictKind;
use usecases::{Conflict, EventTypeDraft, UseCaseError};

use crate::DashState;
use crate::error::{PageResult, use_case_status};
use crate::field_errors::{FieldErrors, plain_text};
use crate::form::Posted;
use crate::session::SignedIn;
use crate::views::{Ctx, Notice, page};

struct TypeRow {
    name: String,
    description: String,
    builtin: bool,
    /// The catalog's example `data` (built-in types), as `admin-webhooks trigger` sends it.
    example: Option<&'static str>,
}

struct CategoryView {
    name: String,
    /// The group subscriptions that cover the category (`user.*`).
    groups: String,
    types: Vec<TypeRow>,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    ctx: Ctx,
    categories: Vec<CategoryView>,
    /// Existing category names, offered while typing a new type's category.
    category_names: Vec<String>,
    notice: Option<Notice>,
    entered: (String, String, String),
    errors: FieldErrors,
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct CatalogQuery {
    added: Option<String>,
}

async fn render(
    state: &DashState,
    session: &SignedIn,
    status: StatusCode,
    (mut notice, errors): (Option<Notice>, FieldErrors),
    entered: (String, String, String),
    added: Option<&str>,
) -> PageResult<Response> {
    let ctx = Ctx::new(state, session, "catalog").await?;
    let types = state.app.list_event_types(&session.workspace_id).await?;
    let mut categories: Vec<CategoryView> = Vec::new();
    for t in types {
        let prefix = format!("{}.*", t.name.split('.').next().unwrap_or(&t.name));
        let index = match categories.iter().position(|c| c.name == t.category) {
            Some(i) => i,
            None => {
                categories.push(CategoryView {
                    name: t.category.clone(),
                    groups: String::new(),
                    types: Vec::new(),
                });
                categories.len() - 1
            }
        };
        let category = &mut categories[index];
        if !category.groups.split(", ").any(|g| g == prefix) {
            if !category.groups.is_empty() {
                category.groups.push_str(", ");
            }
            category.groups.push_str(&prefix);
        }
        if notice.is_none() && added == Some(t.name.as_str()) {
            // Only a type that exists is announced: the name comes from the URL.
            notice = Notice::success(format!(
                "Added `{}`. Webhooks can subscribe to it now; groups that match it already do.",
                t.name
            ));
        }
        category.types.push(TypeRow {
            example: domain::catalog::example_data(&t.name),
            name: t.name,
            description: t.description,
            builtin: t.builtin,
        });
    }
    let category_names = categories.iter().map(|c| c.name.clone()).collect();
    page(
        status,
        &CatalogPage {
            ctx,
            categories,
            category_names,
            notice,
            entered,
            errors,
        },
    )
}

pub(crate) async fn list(
    State(state): State<DashState>,
    session: SignedIn,
    Query(q): Query<CatalogQuery>,
) -> PageResult<Response> {
    let added = q.added.as_deref();
    render(
        &state,
        &session,
        StatusCode::OK,
        (None, FieldErrors::none()),
        Default::default(),
        added,
    )
    .await
}

pub(crate) async fn create(
    State(state): State<DashState>,
    Posted { session, form }: Posted,
) -> PageResult<Response> {
    let draft = EventTypeDraft {
        name: form.text("type").trim().to_owned(),
        category: form.text("category").to_owned(),
        description: form.text("description").to_owned(),
    };
    match state
        .app
        .add_event_type(&session.workspace_id, &draft)
        .await
    {
        Ok(created) => {
            let target = format!(
                "/dashboard/event-types{}",
                crate::views::query(&[("added", &created.name)])
            );
            Ok(Redirect::to(&target).into_response())
        }
        Err(error) if !use_case_status(&error).is_server_error() => {
            let status = use_case_status(&error);
            // A type that exists already is the type field's problem too.
            let shown = match &error {
                UseCaseError::Conflict(Conflict::Store(ConflictKind::EventTypeExists(_))) => {
                    (None, FieldErrors::one("type", &error.to_string()))
                }
                _ => match FieldErrors::from_error(&error, &["type", "category", "description"]) {
                    Some(errors) => (None, errors),
                    None => (
                        Notice::error(plain_text(&error.to_string())),
                        FieldErrors::none(),
                    ),
                },
            };
            let entered = (draft.name, draft.category, draft.description);
            render(&state, &session, status, shown, entered, None).await
        }
        Err(error) => Err(error.into()),
    }
}
