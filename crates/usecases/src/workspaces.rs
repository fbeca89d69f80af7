//! Workspaces: the operator's calls (create with a first key, list, read, set the limit
//! of enabled webhooks), and reading one's own workspace.
//!
//! Invariants: creating a workspace also creates its first API key, whose value appears
//! only in that answer; the limit can be set from 0 to [`MAX_WEBHOOK_LIMIT`], and
//! lowering it below the current count disables nothing, it only stops further enabling.

use domain::WorkspaceId;
use store::{Page, PageRequest, Workspace};

use crate::api_keys::new_key;
use crate::error::{FoundOr, Resource, UseCaseError, UseCaseResult};
use crate::{Application, CreatedKey, fields};

/// The most a workspace's limit of enabled webhooks can be set to.
pub const MAX_WEBHOOK_LIMIT: u64 = 10_000;
const MAX_NAME: usize = 100;
/// The name of the key created with a workspace.
const FIRST_KEY_NAME: &str = "Initial key";

/// A workspace just created, with its first key.
#[derive(Debug)]
pub struct CreatedWorkspace {
    pub workspace: Workspace,
    pub first_key: CreatedKey,
}

impl Application {
    pub async fn create_workspace(&self, name: &str) -> UseCaseResult<CreatedWorkspace> {
        let name = fields::required("name", name, MAX_NAME)?;
        let (value, record) = new_key(FIRST_KEY_NAME.to_owned());
        let (workspace, key) = self.store.create_workspace(&name, record).await?;
        Ok(CreatedWorkspace {
            workspace,
            first_key: CreatedKey { key, value },
        })
    }

    pub async fn list_workspaces(&self, page: PageRequest) -> UseCaseResult<Page<Workspace>> {
        page.check_cursor::<WorkspaceId>()?;
        Ok(self.store.list_workspaces(page).await?)
    }

    pub async fn get_workspace(&self, id: &WorkspaceId) -> UseCaseResult<Workspace> {
        self.store
            .get_workspace(id)
            .await
            .found_or(Resource::Workspace, id)
    }

    /// Sets the limit of enabled webhooks. Taken wider than the store's `u32` so that a
    /// too-large number gets this rule's message.
    pub async fn set_webhook_limit(
        &self,
        id: &WorkspaceId,
        limit: u64,
    ) -> UseCaseResult<Workspace> {
        let limit = u32::try_from(limit)
            .ok()
            .filter(|n| u64::from(*n) <= MAX_WEBHOOK_LIMIT)
            .ok_or_else(|| {
                UseCaseError::validation(
                    "max_enabled_webhooks",
                    format!(
                        "`max_enabled_webhooks` must be a whole number from 0 to {MAX_WEBHOOK_LIMIT}."
                    ),
                )
            })?;
        self.store
            .set_workspace_limit(id, limit)
            .await
            .found_or(Resource::Workspace, id)
    }
}
