//! Queries for workspaces, their API keys and their event catalogs (PostgreSQL).
//!
//! Invariants (the same as the SQLite backend's):
//! - A workspace is created together with the five built-in event types and its first
//!   key, in one transaction, so no workspace is ever seen without its catalog; a failure
//!   (a colliding key) leaves nothing behind.
//! - `bootstrap` runs under a transaction-level advisory lock, so processes starting at
//!   once on an empty database create one `default` workspace, not one each.
//! - Only live keys exist for callers: revoked keys neither authenticate nor list, and
//!   revoking one twice is `NotFound`.
//! - A workspace keeps at least one live key: revoking its last is `Conflict(LastApiKey)`,
//!   decided under a lock of the workspace's row.
//! - Key and catalog calls filter by workspace id, so another workspace's ids are
//!   `NotFound`.

use deadpool_postgres::GenericClient;
use domain::{ApiKeyId, EventTypeDef, WorkspaceId};
use tokio_postgres::Row;

use super::rows::{collect, is_unique_violation, now, parse, unsigned};
use crate::{
    ApiKey, ConflictKind, EventType, EventTypePatch, NewApiKey, Page, PageRequest, Result,
    StoreError, Workspace,
};

const WORKSPACE_COLUMNS: &str = "id, name, max_enabled_webhooks, created_at";

fn workspace_row(row: &Row) -> Result<Workspace> {
    Ok(Workspace {
        id: parse(row, 0)?,
        name: row.try_get(1)?,
        max_enabled_webhooks: unsigned::<u32, i64>(row, 2)?,
        created_at: row.try_get(3)?,
    })
}

const API_KEY_COLUMNS: &str = "id, workspace_id, name, hint, created_at";

fn api_key_row(row: &Row) -> Result<ApiKey> {
    Ok(ApiKey {
        id: parse(row, 0)?,
        workspace_id: parse(row, 1)?,
        name: row.try_get(2)?,
        hint: row.try_get(3)?,
        created_at: row.try_get(4)?,
    })
}

/// Creates the workspace `default` and its key unless any workspace exists.
pub(super) async fn bootstrap(
    client: &mut deadpool_postgres::Client,
    first_key: &NewApiKey,
) -> Result<Option<Workspace>> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('admin-webhooks bootstrap'))",
        &[],
    )
    .await?;
    let any: bool = tx
        .query_one("SELECT EXISTS (SELECT 1 FROM workspaces)", &[])
        .await?
        .try_get(0)?;
    if any {
        return Ok(None);
    }
    let (workspace, _) = create_workspace(&tx, "default", first_key).await?;
    tx.commit().await?;
    Ok(Some(workspace))
}

/// Inserts a workspace with its catalog and first key; the caller commits.
pub(super) async fn create_workspace(
    tx: &deadpool_postgres::Transaction<'_>,
    name: &str,
    first_key: &NewApiKey,
) -> Result<(Workspace, ApiKey)> {
    let workspace = Workspace::created(name, now());
    let statement = tx
        .prepare_cached(
            "INSERT INTO workspaces (id, name, max_enabled_webhooks, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &workspace.id.as_str(),
            &workspace.name,
            &i64::from(workspace.max_enabled_webhooks),
            &workspace.created_at,
        ],
    )
    .await?;
    let (mut names, mut categories, mut descriptions) = (Vec::new(), Vec::new(), Vec::new());
    for def in domain::catalog::builtin_event_types() {
        names.push(def.name);
        categories.push(def.category);
        descriptions.push(def.description);
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO event_types (workspace_id, name, category, description, builtin, created_at)
             SELECT $1, t.name, t.category, t.description, TRUE, $5
             FROM unnest($2::text[], $3::text[], $4::text[]) AS t(name, category, description)",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &workspace.id.as_str(),
            &names,
            &categories,
            &descriptions,
            &workspace.created_at,
        ],
    )
    .await?;
    let key = insert_api_key(tx, &workspace.id, first_key).await?;
    Ok((workspace, key))
}

pub(super) async fn list_workspaces(
    client: &impl GenericClient,
    page: &PageRequest,
) -> Result<Page<Workspace>> {
    let sql =
        format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id > $1 ORDER BY id LIMIT $2");
    let statement = client.prepare_cached(&sql).await?;
    let rows = client
        .query(&statement, &[&page.cursor_or_start(), &page.fetch_limit()])
        .await?;
    Ok(page.cut(collect(&rows, workspace_row)?, |w| w.id.to_string()))
}

pub(super) async fn get_workspace(
    client: &impl GenericClient,
    id: &WorkspaceId,
) -> Result<Workspace> {
    let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1");
    let statement = client.prepare_cached(&sql).await?;
    let row = client.query_opt(&statement, &[&id.as_str()]).await?;
    row.as_ref()
        .map(workspace_row)
        .unwrap_or(Err(StoreError::NotFound))
}

pub(super) async fn set_workspace_limit(
    client: &impl GenericClient,
    id: &WorkspaceId,
    max: u32,
) -> Result<Workspace> {
    let sql = format!(
        "UPDATE workspaces SET max_enabled_webhooks = $1 WHERE id = $2 RETURNING {WORKSPACE_COLUMNS}"
    );
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(&statement, &[&i64::from(max), &id.as_str()])
        .await?;
    row.as_ref()
        .map(workspace_row)
        .unwrap_or(Err(StoreError::NotFound))
}

async fn require_workspace(client: &impl GenericClient, id: &WorkspaceId) -> Result<()> {
    let statement = client
        .prepare_cached("SELECT 1 FROM workspaces WHERE id = $1")
        .await?;
    match client.query_opt(&statement, &[&id.as_str()]).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound),
    }
}

pub(super) async fn find_api_key(
    client: &impl GenericClient,
    hash: &[u8; 32],
) -> Result<Option<ApiKey>> {
    let sql =
        format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE hash = $1 AND revoked_at IS NULL");
    let statement = client.prepare_cached(&sql).await?;
    let row = client.query_opt(&statement, &[&&hash[..]]).await?;
    row.as_ref().map(api_key_row).transpose()
}

pub(super) async fn insert_api_key(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    key: &NewApiKey,
) -> Result<ApiKey> {
    require_workspace(client, workspace).await?;
    let record = ApiKey::created(workspace, key, now());
    let statement = client
        .prepare_cached(
            "INSERT INTO api_keys (id, workspace_id, name, hint, hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    client
        .execute(
            &statement,
            &[
                &record.id.as_str(),
                &workspace.as_str(),
                &record.name,
                &record.hint,
                &&key.hash[..],
                &record.created_at,
            ],
        )
        .await
        .map_err(|e| ConflictKind::ApiKeyExists.if_unique(is_unique_violation(&e), e))?;
    Ok(record)
}

pub(super) async fn list_api_keys(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    page: &PageRequest,
) -> Result<Page<ApiKey>> {
    let sql = format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys
         WHERE workspace_id = $1 AND id > $2 AND revoked_at IS NULL
         ORDER BY id LIMIT $3"
    );
    let statement = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &statement,
            &[
                &workspace.as_str(),
                &page.cursor_or_start(),
                &page.fetch_limit(),
            ],
        )
        .await?;
    Ok(page.cut(collect(&rows, api_key_row)?, |k| k.id.to_string()))
}

/// Revokes a key unless it is its workspace's last live one; the caller commits.
pub(super) async fn revoke_api_key(
    tx: &deadpool_postgres::Transaction<'_>,
    workspace: &WorkspaceId,
    id: &ApiKeyId,
) -> Result<()> {
    // Revokes of one workspace queue on its row, so each sees the others' commits: under
    // READ COMMITTED two revokes of the last two keys would otherwise both see the other
    // key live and both succeed.
    let statement = tx
        .prepare_cached("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE")
        .await?;
    if tx
        .query_opt(&statement, &[&workspace.as_str()])
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound);
    }
    let statement = tx
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE id = $1), count(*) FROM api_keys
             WHERE workspace_id = $2 AND revoked_at IS NULL",
        )
        .await?;
    let row = tx
        .query_one(&statement, &[&id.as_str(), &workspace.as_str()])
        .await?;
    let (this, live): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    if this == 0 {
        return Err(StoreError::NotFound);
    }
    if live <= 1 {
        return Err(StoreError::Conflict(ConflictKind::LastApiKey));
    }
    let statement = tx
        .prepare_cached(
            "UPDATE api_keys SET revoked_at = $1
             WHERE id = $2 AND workspace_id = $3 AND revoked_at IS NULL",
        )
        .await?;
    tx.execute(&statement, &[&now(), &id.as_str(), &workspace.as_str()])
        .await?;
    Ok(())
}

/// The secret `name`, storing `candidate` as it if there is none yet.
pub(super) async fn shared_secret(
    client: &impl GenericClient,
    name: &str,
    candidate: &[u8; 32],
) -> Result<[u8; 32]> {
    // Of processes racing to store a first value, all read the winner's. A loser's
    // statement may have started before the winner committed and so see no row; its next
    // statement does.
    let statement = client
        .prepare_cached(
            "WITH offered AS (
                 INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING
                 RETURNING value
             )
             SELECT value FROM offered
             UNION ALL
             SELECT value FROM shared_secrets WHERE name = $1",
        )
        .await?;
    let rows = client
        .query(&statement, &[&name, &&candidate[..], &now()])
        .await?;
    let value: Vec<u8> = match rows.first() {
        Some(row) => row.try_get(0)?,
        None => {
            let statement = client
                .prepare_cached("SELECT value FROM shared_secrets WHERE name = $1")
                .await?;
            client.query_one(&statement, &[&name]).await?.try_get(0)?
        }
    };
    value
        .try_into()
        .map_err(|_| StoreError::Backend("a shared secret is not 32 bytes long".into()))
}

const EVENT_TYPE_COLUMNS: &str = "name, category, description, builtin, payload_schema";

fn event_type_row(row: &Row) -> Result<EventType> {
    Ok(EventType {
        name: row.try_get(0)?,
        category: row.try_get(1)?,
        description: row.try_get(2)?,
        builtin: row.try_get(3)?,
        schema: row.try_get(4)?,
    })
}

pub(super) async fn list_event_types(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
) -> Result<Vec<EventType>> {
    // Built-ins first, then by category and name: the order the dashboard groups them in.
    let statement = client
        .prepare_cached(&format!(
            "SELECT {EVENT_TYPE_COLUMNS} FROM event_types
             WHERE workspace_id = $1 ORDER BY builtin DESC, category, name"
        ))
        .await?;
    let rows = client.query(&statement, &[&workspace.as_str()]).await?;
    collect(&rows, event_type_row)
}

pub(super) async fn create_event_type(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    def: &EventTypeDef,
    schema: Option<&str>,
) -> Result<EventType> {
    require_workspace(client, workspace).await?;
    let statement = client
        .prepare_cached(
            "INSERT INTO event_types (workspace_id, name, category, description, builtin, created_at,
                                      payload_schema)
             VALUES ($1, $2, $3, $4, FALSE, $5, $6)
             ON CONFLICT (workspace_id, name) DO NOTHING",
        )
        .await?;
    let inserted = client
        .execute(
            &statement,
            &[
                &workspace.as_str(),
                &def.name,
                &def.category,
                &def.description,
                &now(),
                &schema,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::Conflict(ConflictKind::EventTypeExists(
            def.name.clone(),
        )));
    }
    Ok(EventType {
        name: def.name.clone(),
        category: def.category.clone(),
        description: def.description.clone(),
        builtin: false,
        schema: schema.map(str::to_owned),
    })
}

pub(super) async fn update_event_type(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    name: &str,
    patch: &EventTypePatch,
) -> Result<EventType> {
    let statement = client
        .prepare_cached(&format!(
            "UPDATE event_types SET category = COALESCE($3, category),
                                    description = COALESCE($4, description),
                                    payload_schema = CASE WHEN $5 THEN $6 ELSE payload_schema END
             WHERE workspace_id = $1 AND name = $2
             RETURNING {EVENT_TYPE_COLUMNS}"
        ))
        .await?;
    let (set_schema, schema) = match &patch.schema {
        Some(schema) => (true, schema.as_deref()),
        None => (false, None),
    };
    let row = client
        .query_opt(
            &statement,
            &[
                &workspace.as_str(),
                &name,
                &patch.category,
                &patch.description,
                &set_schema,
                &schema,
            ],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    event_type_row(&row)
}
