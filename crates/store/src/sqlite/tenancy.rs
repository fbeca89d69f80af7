//! Queries for workspaces, their API keys and their event catalogs.
//!
//! Invariants:
//! - A workspace is created together with the five built-in event types, in the same
//!   write job, so no workspace is ever seen without its catalog.
//! - Only live keys exist for callers: revoked keys neither authenticate nor list, and
//!   revoking one twice is `NotFound`.
//! - A workspace keeps at least one live key: revoking its last is `Conflict(LastApiKey)`.
//! - Key and catalog calls filter by workspace id, so another workspace's ids are
//!   `NotFound`.

use domain::{ApiKeyId, EventTypeDef, WorkspaceId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{is_unique_violation, now, parse, time, to_ms};
use crate::{
    ApiKey, ConflictKind, EventType, EventTypePatch, NewApiKey, Page, PageRequest, Result,
    StoreError, Workspace,
};

const WORKSPACE_COLUMNS: &str = "id, name, max_enabled_webhooks, created_at";

fn workspace_row(row: &Row<'_>) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: parse(row, 0)?,
        name: row.get(1)?,
        max_enabled_webhooks: row.get(2)?,
        created_at: time(row, 3)?,
    })
}

const API_KEY_COLUMNS: &str = "id, workspace_id, name, hint, created_at";

fn api_key_row(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: parse(row, 0)?,
        workspace_id: parse(row, 1)?,
        name: row.get(2)?,
        hint: row.get(3)?,
        created_at: time(row, 4)?,
    })
}

/// Creates the workspace `default` and its key unless any workspace exists.
pub(super) fn bootstrap(conn: &Connection, first_key: &NewApiKey) -> Result<Option<Workspace>> {
    let any: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM workspaces)")?
        .query_row([], |r| r.get(0))?;
    if any {
        return Ok(None);
    }
    let (workspace, _) = create_workspace(conn, "default", first_key)?;
    Ok(Some(workspace))
}

pub(super) fn create_workspace(
    conn: &Connection,
    name: &str,
    first_key: &NewApiKey,
) -> Result<(Workspace, ApiKey)> {
    let workspace = Workspace::created(name, now());
    conn.prepare_cached(
        "INSERT INTO workspaces (id, name, max_enabled_webhooks, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        workspace.id.as_str(),
        workspace.name,
        workspace.max_enabled_webhooks,
        to_ms(workspace.created_at)
    ])?;
    for def in domain::catalog::builtin_event_types() {
        insert_event_type(conn, &workspace.id, &def, None, true)?;
    }
    let key = insert_api_key(conn, &workspace.id, first_key)?;
    Ok((workspace, key))
}

pub(super) fn list_workspaces(conn: &Connection, page: &PageRequest) -> Result<Page<Workspace>> {
    let sql =
        format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id > ?1 ORDER BY id LIMIT ?2");
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(
            params![page.cursor_or_start(), page.fetch_limit()],
            workspace_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page.cut(rows, |w| w.id.to_string()))
}

pub(super) fn get_workspace(conn: &Connection, id: &WorkspaceId) -> Result<Workspace> {
    let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id.as_str()], workspace_row)?)
}

pub(super) fn set_workspace_limit(
    conn: &Connection,
    id: &WorkspaceId,
    max: u32,
) -> Result<Workspace> {
    let changed = conn
        .prepare_cached("UPDATE workspaces SET max_enabled_webhooks = ?1 WHERE id = ?2")?
        .execute(params![max, id.as_str()])?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    get_workspace(conn, id)
}

fn require_workspace(conn: &Connection, id: &WorkspaceId) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM workspaces WHERE id = ?1")?
        .query_row([id.as_str()], |_| Ok(()))
        .optional()?
        .ok_or(StoreError::NotFound)
}

pub(super) fn find_api_key(conn: &Connection, hash: &[u8; 32]) -> Result<Option<ApiKey>> {
    let sql =
        format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([&hash[..]], api_key_row)
        .optional()?)
}

pub(super) fn insert_api_key(
    conn: &Connection,
    workspace: &WorkspaceId,
    key: &NewApiKey,
) -> Result<ApiKey> {
    require_workspace(conn, workspace)?;
    let record = ApiKey::created(workspace, key, now());
    conn.prepare_cached(
        "INSERT INTO api_keys (id, workspace_id, name, hint, hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        record.id.as_str(),
        workspace.as_str(),
        record.name,
        record.hint,
        &key.hash[..],
        to_ms(record.created_at)
    ])
    .map_err(|e| ConflictKind::ApiKeyExists.if_unique(is_unique_violation(&e), e))?;
    Ok(record)
}

pub(super) fn list_api_keys(
    conn: &Connection,
    workspace: &WorkspaceId,
    page: &PageRequest,
) -> Result<Page<ApiKey>> {
    let sql = format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys
         WHERE workspace_id = ?1 AND id > ?2 AND revoked_at IS NULL
         ORDER BY id LIMIT ?3"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(
            params![
                workspace.as_str(),
                page.cursor_or_start(),
                page.fetch_limit()
            ],
            api_key_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page.cut(rows, |k| k.id.to_string()))
}

pub(super) fn revoke_api_key(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: &ApiKeyId,
) -> Result<()> {
    // The check and the update are one statement on the single writer, so no other revoke
    // can slip between them.
    let changed = conn
        .prepare_cached(
            "UPDATE api_keys SET revoked_at = ?1
             WHERE id = ?2 AND workspace_id = ?3 AND revoked_at IS NULL
               AND EXISTS (SELECT 1 FROM api_keys AS other
                           WHERE other.workspace_id = ?3 AND other.revoked_at IS NULL
                             AND other.id <> ?2)",
        )?
        .execute(params![to_ms(now()), id.as_str(), workspace.as_str()])?;
    if changed == 1 {
        return Ok(());
    }
    let live: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM api_keys
                            WHERE id = ?1 AND workspace_id = ?2 AND revoked_at IS NULL)",
        )?
        .query_row(params![id.as_str(), workspace.as_str()], |r| r.get(0))?;
    Err(if live {
        StoreError::Conflict(ConflictKind::LastApiKey)
    } else {
        StoreError::NotFound
    })
}

/// The secret `name`, storing `candidate` as it if there is none yet.
pub(super) fn shared_secret(
    conn: &Connection,
    name: &str,
    candidate: &[u8; 32],
) -> Result<[u8; 32]> {
    conn.prepare_cached(
        "INSERT INTO shared_secrets (name, value, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
    )?
    .execute(params![name, &candidate[..], to_ms(now())])?;
    let value: Vec<u8> = conn
        .prepare_cached("SELECT value FROM shared_secrets WHERE name = ?1")?
        .query_row([name], |r| r.get(0))?;
    value
        .try_into()
        .map_err(|_| StoreError::Backend("a shared secret is not 32 bytes long".into()))
}

const EVENT_TYPE_COLUMNS: &str = "name, category, description, builtin, payload_schema";

fn event_type_row(row: &Row<'_>) -> rusqlite::Result<EventType> {
    Ok(EventType {
        name: row.get(0)?,
        category: row.get(1)?,
        description: row.get(2)?,
        builtin: row.get(3)?,
        schema: row.get(4)?,
    })
}

pub(super) fn list_event_types(
    conn: &Connection,
    workspace: &WorkspaceId,
) -> Result<Vec<EventType>> {
    // Built-ins first, then by category and name: the order the dashboard groups them in.
    let sql = format!(
        "SELECT {EVENT_TYPE_COLUMNS} FROM event_types
         WHERE workspace_id = ?1 ORDER BY builtin DESC, category, name"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map([workspace.as_str()], event_type_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn create_event_type(
    conn: &Connection,
    workspace: &WorkspaceId,
    def: &EventTypeDef,
    schema: Option<&str>,
) -> Result<EventType> {
    require_workspace(conn, workspace)?;
    insert_event_type(conn, workspace, def, schema, false)
}

fn insert_event_type(
    conn: &Connection,
    workspace: &WorkspaceId,
    def: &EventTypeDef,
    schema: Option<&str>,
    builtin: bool,
) -> Result<EventType> {
    conn.prepare_cached(
        "INSERT INTO event_types (workspace_id, name, category, description, builtin, created_at,
                                  payload_schema)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        workspace.as_str(),
        def.name,
        def.category,
        def.description,
        builtin,
        to_ms(now()),
        schema
    ])
    .map_err(|e| {
        ConflictKind::EventTypeExists(def.name.clone()).if_unique(is_unique_violation(&e), e)
    })?;
    Ok(EventType {
        name: def.name.clone(),
        category: def.category.clone(),
        description: def.description.clone(),
        builtin,
        schema: schema.map(str::to_owned),
    })
}

pub(super) fn update_event_type(
    conn: &Connection,
    workspace: &WorkspaceId,
    name: &str,
    patch: &EventTypePatch,
) -> Result<EventType> {
    let sql = format!(
        "UPDATE event_types SET category = COALESCE(?3, category),
                                description = COALESCE(?4, description),
                                payload_schema = CASE WHEN ?5 THEN ?6 ELSE payload_schema END
         WHERE workspace_id = ?1 AND name = ?2
         RETURNING {EVENT_TYPE_COLUMNS}"
    );
    let (set_schema, schema) = match &patch.schema {
        Some(schema) => (true, schema.as_deref()),
        None => (false, None),
    };
    Ok(conn.prepare_cached(&sql)?.query_row(
        params![
            workspace.as_str(),
            name,
            patch.category,
            patch.description,
            set_schema,
            schema
        ],
        event_type_row,
    )?)
}

/// Whether publishing `event_type` in `workspace` is allowed by its catalog.
pub(super) fn event_type_exists(
    conn: &Connection,
    workspace: &WorkspaceId,
    event_type: &str,
) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM event_types WHERE workspace_id = ?1 AND name = ?2)",
        )?
        .query_row(params![workspace.as_str(), event_type], |r| r.get(0))?)
}
