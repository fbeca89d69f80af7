//! A workspace's catalog of event types: listing it and adding a custom type.
//!
//! Every workspace holds the guide's five built-in types; it may add its own. Names follow
//! `domain::validate_type_name` (lowercase words joined by dots); a name that exists is a
//! [`store::ConflictKind::EventTypeExists`] conflict. `webhook.test` is reserved for test
//! events and cannot be added.

use domain::catalog::TEST_EVENT_TYPE;
use domain::{EventTypeDef, WorkspaceId, validate_type_name};
use store::EventType;

use crate::error::{UseCaseError, UseCaseResult};
use crate::{Application, fields};

const MAX_CATEGORY: usize = 64;
const MAX_DESCRIPTION: usize = 500;

/// A type to add, as the user entered it.
#[derive(Debug, Clone, Default)]
pub struct EventTypeDraft {
    pub name: String,
    pub category: String,
    pub description: String,
}

impl EventTypeDraft {
    /// Checks the draft and answers what the store keeps.
    fn definition(&self) -> UseCaseResult<EventTypeDef> {
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
        Ok(EventTypeDef {
            name: self.name.clone(),
            category: fields::required("category", &self.category, MAX_CATEGORY)?,
            description: fields::optional("description", &self.description, MAX_DESCRIPTION)?,
        })
    }
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
        let definition = draft.definition()?;
        Ok(self.store.create_event_type(workspace, definition).await?)
    }
}
