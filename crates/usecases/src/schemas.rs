//! The payload schemas publishing checks against, compiled once per schema and kept per
//! workspace, so a publish costs a map lookup and a validation, never a compile or (while
//! the entry is fresh) a store read.
//!
//! Invariants:
//! - A type's schema is the one stored with it, or for a built-in type without one its
//!   built-in schema (`domain::catalog::builtin_schema`); a type without either publishes
//!   unchecked, as before schemas existed.
//! - A change made through this process (adding or changing a type) drops the
//!   workspace's entry before it is answered, so the next publish here sees it.
//! - Entries are re-read after [`FRESH_FOR`]: a change made by another process sharing
//!   the store (PostgreSQL) applies here within that time. A re-read recompiles only
//!   the schemas whose text changed.
//! - A type missing from a fresh entry is re-read once (another process may have just
//!   added it); if it is still missing the store decides (it refuses unknown types).
//! - At most [`MAX_WORKSPACES`] workspaces are kept; past that the cache starts over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{EventSchema, WorkspaceId};
use serde_json::Value;
use store::EventType;

/// How long a workspace's compiled schemas are used before the catalog is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// The most workspaces whose schemas are kept at once.
const MAX_WORKSPACES: usize = 10_000;

/// The schema publishing applies to `event_type`: its own, else a built-in type's.
pub fn effective_schema(event_type: &EventType) -> Option<Value> {
    match &event_type.schema {
        Some(text) => serde_json::from_str(text).ok(),
        None if event_type.builtin => domain::catalog::builtin_schema(&event_type.name),
        None => None,
    }
}

/// One workspace's catalog as publishing needs it: each type's compiled schema.
struct Compiled {
    read_at: Instant,
    /// Type name → its schema (with the text it was compiled from), `None` when it has
    /// none.
    types: HashMap<String, Option<(String, Arc<EventSchema>)>>,
}

#[derive(Default)]
pub(crate) struct SchemaCache {
    workspaces: Mutex<HashMap<WorkspaceId, Arc<Compiled>>>,
}

/// What the cache found for a type.
pub(crate) enum Lookup {
    /// Fresh and present: its schema, if any.
    Known(Option<Arc<EventSchema>>),
    /// Not cached, stale, or not in the cached catalog: read the catalog.
    Unknown,
}

impl SchemaCache {
    pub(crate) fn lookup(&self, workspace: &WorkspaceId, event_type: &str) -> Lookup {
        let workspaces = self.workspaces.lock().expect("schema cache lock");
        match workspaces.get(workspace) {
            Some(compiled) if compiled.read_at.elapsed() < FRESH_FOR => {
                match compiled.types.get(event_type) {
                    Some(schema) => Lookup::Known(schema.as_ref().map(|(_, s)| s.clone())),
                    None => Lookup::Unknown,
                }
            }
            _ => Lookup::Unknown,
        }
    }

    /// Compiles a freshly read catalog (reusing what is compiled already) and keeps it;
    /// answers the schema of `event_type` (`None` also when the catalog lacks it).
    pub(crate) fn refresh(
        &self,
        workspace: &WorkspaceId,
        catalog: &[EventType],
        event_type: &str,
    ) -> Option<Arc<EventSchema>> {
        let previous = self
            .workspaces
            .lock()
            .expect("schema cache lock")
            .get(workspace)
            .cloned();
        let mut types = HashMap::with_capacity(catalog.len());
        for t in catalog {
            let compiled = effective_schema(t).and_then(|schema| {
                let text = schema.to_string();
                let reused = previous
                    .as_ref()
                    .and_then(|p| p.types.get(&t.name))
                    .and_then(Option::as_ref)
                    .filter(|(old, _)| *old == text)
                    .map(|(_, s)| s.clone());
                let schema = match reused {
                    Some(schema) => schema,
                    None => match EventSchema::compile(&schema) {
                        Ok(schema) => Arc::new(schema),
                        Err(error) => {
                            // Checked when it was stored; failing now means a stored value
                            // this version cannot read. Publishing goes on unchecked.
                            tracing::error!(
                                workspace = %workspace, event_type = %t.name, %error,
                                "a stored payload schema does not compile; not checking it"
                            );
                            return None;
                        }
                    },
                };
                Some((text, schema))
            });
            types.insert(t.name.clone(), compiled);
        }
        let found = types
            .get(event_type)
            .and_then(Option::as_ref)
            .map(|(_, s)| s.clone());
        let mut workspaces = self.workspaces.lock().expect("schema cache lock");
        if workspaces.len() >= MAX_WORKSPACES && !workspaces.contains_key(workspace) {
            workspaces.clear();
        }
        workspaces.insert(
            workspace.clone(),
            Arc::new(Compiled {
                read_at: Instant::now(),
                types,
            }),
        );
        found
    }

    /// Forgets a workspace's schemas (its catalog changed).
    pub(crate) fn forget(&self, workspace: &WorkspaceId) {
        self.workspaces
            .lock()
            .expect("schema cache lock")
            .remove(workspace);
    }
}
