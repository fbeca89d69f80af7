//! The workspace's catalog of event types, with the example `data` of the built-in ones.

use serde::{Deserialize, Serialize};

use crate::{ApiClient, ClientError, Page};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventType {
    pub name: String,
    pub category: String,
    pub description: String,
    pub builtin: bool,
    /// A realistic `data` of this type; `None` for types the workspace added.
    #[serde(default)]
    pub example: Option<Box<serde_json::value::RawValue>>,
}

impl ApiClient {
    /// The whole catalog (`GET /v1/event-types`, every page).
    pub async fn list_event_types(&self) -> Result<Vec<EventType>, ClientError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut pairs = vec![("limit", "100".to_owned())];
            if let Some(cursor) = &cursor {
                pairs.push(("cursor", cursor.clone()));
            }
            let page: Page<EventType> = self.get("v1/event-types").query(&pairs).fetch().await?;
            all.extend(page.data);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }
}
