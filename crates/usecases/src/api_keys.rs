//! API keys and the sessions they open: create (the value exists only in the answer),
//! list, revoke, and recognise a key presented by a caller.
//!
//! Invariants: the store keeps a key's SHA-256 hash and a short hint, never its value; a
//! key is recognised by hash only; revoking takes effect on the next request made with
//! the key to this process, and within a second on other processes sharing the store
//! ([`crate::known_keys`]), and ends every dashboard session it opened; a workspace's last live key
//! cannot be revoked (the store decides it atomically).

use domain::api_key::{generate_key, hash_key, key_hint};
use domain::{ApiKeyId, WorkspaceId};
use store::{ApiKey, NewApiKey, NewSession, Page, PageRequest, Session};

use crate::error::{FoundOr, Resource, UseCaseResult};
use crate::{Application, fields};

const MAX_NAME: usize = 100;

/// The store's name of the sign-in forms' key.
const SIGN_IN_FORM_SECRET: &str = "dashboard-sign-in-form";

/// A key just created: the only place its value appears.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: ApiKey,
    /// The key itself (`awk_…`), to be shown this once.
    pub value: String,
}

/// A fresh key value and what the store keeps of it.
pub(crate) fn new_key(name: String) -> (String, NewApiKey) {
    let value = generate_key();
    let record = NewApiKey {
        name,
        hash: hash_key(&value),
        hint: key_hint(&value),
    };
    (value, record)
}

impl Application {
    /// Creates a key named `name` (required, at most 100 characters).
    pub async fn create_api_key(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> UseCaseResult<CreatedKey> {
        let (value, record) = new_key(fields::required("name", name, MAX_NAME)?);
        let key = self
            .store
            .create_api_key(workspace, record)
            .await
            .found_or(Resource::Workspace, workspace)?;
        Ok(CreatedKey { key, value })
    }

    /// One page of the workspace's live keys (hints only).
    pub async fn list_api_keys(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> UseCaseResult<Page<ApiKey>> {
        page.check_cursor::<ApiKeyId>()?;
        Ok(self.store.list_api_keys(workspace, page).await?)
    }

    /// Revokes a key; refused (`Conflict::Store(LastApiKey)`) when it is the workspace's
    /// last live key, which would lock the workspace out for good.
    pub async fn revoke_api_key(
        &self,
        workspace: &WorkspaceId,
        id: &ApiKeyId,
    ) -> UseCaseResult<()> {
        self.store
            .revoke_api_key(workspace, id)
            .await
            .found_or(Resource::ApiKey, id)?;
        self.known_keys.forget(id);
        Ok(())
    }

    /// The live key whose value is `presented`, if any.
    pub async fn recognise_key(&self, presented: &str) -> UseCaseResult<Option<ApiKey>> {
        let hash = hash_key(presented);
        if let Some(key) = self.known_keys.get(&hash) {
            return Ok(Some(key));
        }
        let key = self.store.find_api_key(&hash).await?;
        if let Some(key) = &key {
            self.known_keys.live(hash, key);
        }
        Ok(key)
    }

    /// Records a dashboard session (only its id's hash).
    pub async fn open_session(&self, new: NewSession) -> UseCaseResult<Session> {
        Ok(self.store.create_session(new).await?)
    }

    /// The live session whose id hashes to `id_hash`, if any.
    pub async fn find_session(&self, id_hash: &[u8; 32]) -> UseCaseResult<Option<Session>> {
        Ok(self.store.find_session(id_hash).await?)
    }

    pub async fn close_session(&self, id_hash: &[u8; 32]) -> UseCaseResult<()> {
        Ok(self.store.delete_session(id_hash).await?)
    }

    /// The key that signs the dashboard's sign-in form tokens: random, made once and kept
    /// in the store, so every process sharing the store checks what any other signed.
    pub async fn sign_in_form_key(&self) -> UseCaseResult<[u8; 32]> {
        let mut candidate = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut candidate);
        Ok(self
            .store
            .shared_secret(SIGN_IN_FORM_SECRET, candidate)
            .await?)
    }
}
