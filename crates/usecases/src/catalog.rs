//! A workspace's catalog of event types: listing it, adding a custom type and changing a
//! type (its payload schema; a custom type's category and description too).
//!
//! Every workspace holds the guide's five built-in types; it may add its own. Names follow
//! `domain::validate_type_name` (lowercase words joined by dots); a name that exists is a
//! [`store::ConflictKind::EventTypeExists`] conflict. `webhook.test` is reserved for test
//! events and cannot be added. A schema must compile as JSON Schema draft 2020-12
//! ([`domain::EventSchema::compile`]) before it is stored; a built-in type keeps the
//! guide's category and description, and with no schema of its own uses its built-in one.

use domain::catalog::TEST_EVENT_TYPE;
use domain::{EventSchema, EventTypeDef, WorkspaceId, validate_type_name};
use serde_json::Value;
use store::{EventType, EventTypePatch};

use crate::error::{FoundOr, Resource, UseCaseError, UseCaseResult};
use crate::{Application, fields};

const MAX_CATEGORY: usize = 64;
const MAX_DESCRIPTION: usize = 500;

/// A type to add, as the user entered it.
#[derive(Debug, Clone, Default)]
pub struct EventTypeDraft {
    pub name: String,
    pub category: String,
    pub description: String,
    /// A JSON Schema (draft 2020-12) every published `data` of the type must match.
    pub schema: Option<Value>,
}

/// Changes to a type; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EventTypeChanges {
    pub category: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the type's own schema (a built-in type goes back to its
    /// built-in one).
    pub schema: Option<Option<Value>>,
}

/// Checks a schema and answers the text the store keeps.
fn checked_schema(schema: &Value) -> UseCaseResult<String> {
    EventSchema::compile(schema)
        .map_err(|e| UseCaseError::validation("schema", format!("`schema` {e}.")))?;
    Ok(schema.to_string())
}

impl EventTypeDraft {
    /// Checks the draft and answers what the store keeps.
    fn definition(&self) -> UseCaseResult<(EventTypeDef, Option<String>)> {
        validate_type_name(&self.name)
            .map_err(|e| UseCaseError::validation("type", e.to_string()))?;
        if self.name == TEST_EVENT_TYPE {
            return Err(UseCaseError::validation(
                "type",
                format!(
                    "`{TEST_EVENT_TYPE}` is reserved for test events (POST /v1/webhooks/{{id}}/test)."
                ),
            ));
        }
        let def = EventTypeDef {
            name: self.name.clone(),
            category: fields::required("category", &self.category, MAX_CATEGORY)?,
            description: fields::optional("description", &self.description, MAX_DESCRIPTION)?,
        };
        let schema = self.schema.as_ref().map(checked_schema).transpose()?;
        Ok((def, schema))
    }
}

fn is_builtin(name: &str) -> bool {
    domain::BUILTIN_EVENT_TYPES
        .iter()
        .any(|(_, n, _)| *n == name)
}

impl Application {
    /// The workspace's whole catalog, by name (it is small).
    pub async fn list_event_types(&self, workspace: &WorkspaceId) -> UseCaseResult<Vec<EventType>> {
        Ok(self.store.list_event_types(workspace).await?)
    }

    /// Adds a type to the workspace's catalog.
    pub async fn add_event_type(
        &self,
        workspace: &WorkspaceId,
        draft: &EventTypeDraft,
    ) -> UseCaseResult<EventType> {
        let (definition, schema) = draft.definition()?;
        let created = self
            .store
            .create_event_type(workspace, definition, schema)
            .await;
        self.schemas.forget(workspace);
        Ok(created?)
    }

    /// Changes a type of the workspace's catalog; publishes after the answer are checked
    /// against its new schema (in other processes sharing the store, within
    /// [`crate::schemas::FRESH_FOR`]).
    pub async fn change_event_type(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        changes: &EventTypeChanges,
    ) -> UseCaseResult<EventType> {
        let not_found = || UseCaseError::NotFound {
            kind: Resource::EventType,
            id: crate::Truncated(name, 128).to_string(),
        };
        if validate_type_name(name).is_err() {
            return Err(not_found());
        }
        if is_builtin(name) && (changes.category.is_some() || changes.description.is_some()) {
            let field = if changes.category.is_some() {
                "category"
            } else {
                "description"
            };
            return Err(UseCaseError::validation(
                field,
                format!(
                    "`{name}` is a built-in type: its category and description are the user \
                     guide's and cannot change; only its `schema` can."
                ),
            ));
        }
        let patch = EventTypePatch {
            category: changes
                .category
                .as_deref()
                .map(|c| fields::required("category", c, MAX_CATEGORY))
                .transpose()?,
            description: changes
                .description
                .as_deref()
                .map(|d| fields::optional("description", d, MAX_DESCRIPTION))
                .transpose()?,
            schema: match &changes.schema {
                Some(Some(schema)) => Some(Some(checked_schema(schema)?)),
                Some(None) => Some(None),
                None => None,
            },
        };
        let changed = self.store.update_event_type(workspace, name, patch).await;
        self.schemas.forget(workspace);
        changed.found_or(Resource::EventType, &name)
    }
}
