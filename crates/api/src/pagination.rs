//! Cursor pagination shared by every list: `?limit=` (1..=100, default 50) and
//! `?cursor=` in, `{"data": [...], "next_cursor": "…" | null}` out.
//!
//! Cursors are opaque to clients: whatever `next_cursor` said is passed back to the store
//! unchanged. The API checks that `limit` is in range and the cursor is of sane size; the
//! use cases check that the cursor is an id of the listed kind ([`store::InvalidCursor`]).
//! So a bad parameter is a 400 that says which one, never a silently clamped page, nor a
//! first or empty page answered to a cursor no page gave.

use std::marker::PhantomData;

use domain::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId, validate_type_name};
use serde::{Deserialize, Serialize};
use store::{InvalidCursor, Page, PageRequest};
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::field_schemas;
use usecases::Truncated;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;
pub const MAX_CURSOR_LEN: usize = 256;

/// What a list pages by: its cursors are the ids (or names) of its items, so each list
/// documents the form of its own `cursor`.
pub trait CursorKind {
    /// The JSON Schema `pattern` a cursor of this list matches.
    fn pattern() -> String;
    /// The longest cursor of this list.
    const MAX_LEN: usize;
}

/// A ULID as `domain` ids carry it: 26 Crockford base32 characters, either case.
const ULID: &str = "[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}";

macro_rules! paged_by_id {
    ($($id:ty),*) => {$(
        impl CursorKind for $id {
            fn pattern() -> String {
                format!("^{}{ULID}$", <$id>::PREFIX)
            }
            const MAX_LEN: usize = <$id>::PREFIX.len() + 26;
        }
    )*};
}
paged_by_id!(WorkspaceId, ApiKeyId, WebhookId, EventId, DeliveryId);

/// The catalog pages by type name ([`List::from_whole`]).
pub struct ByTypeName;

impl CursorKind for ByTypeName {
    fn pattern() -> String {
        format!("^{}$", field_schemas::TYPE_NAME)
    }
    const MAX_LEN: usize = field_schemas::MAX_TYPE_NAME;
}

/// `limit` and `cursor` as they come in the query string, for a list paged by `K`. Kept
/// as text so that a bad value gets a message of ours rather than a deserializer's.
#[derive(Debug, Deserialize)]
pub struct PageParams<K> {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    #[serde(skip)]
    kind: PhantomData<K>,
}

impl<K: CursorKind> IntoParams for PageParams<K> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let query = |name: &str, description: &str, schema: utoipa::openapi::Schema| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        };
        vec![
            query(
                "limit",
                "Items per page, 1 to 100 (default 50).",
                field_schemas::limit_query(),
            ),
            query(
                "cursor",
                "The `next_cursor` of the previous page, unchanged.",
                field_schemas::cursor_query::<K>(),
            ),
        ]
    }
}

impl<K> PageParams<K> {
    pub fn to_request(&self) -> ApiResult<PageRequest> {
        page_request(self.limit.as_deref(), self.cursor.as_deref())
    }
}

/// Checks `limit` and `cursor`; empty values count as absent (`?cursor=` is common).
pub fn page_request(limit: Option<&str>, cursor: Option<&str>) -> ApiResult<PageRequest> {
    let limit = match limit.filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "`limit` must be a whole number from 1 to {MAX_LIMIT}, not `{}`.",
                    Truncated(text, 32)
                )));
            }
        },
    };
    let cursor = cursor.filter(|s| !s.is_empty());
    if cursor.is_some_and(|c| c.len() > MAX_CURSOR_LEN) {
        return Err(InvalidCursor.into());
    }
    Ok(PageRequest {
        limit,
        cursor: cursor.map(str::to_owned),
    })
}

/// One page of a list, as every list route answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    /// Converts a store page item by item into its response type.
    pub fn from_page<S>(page: Page<S>, convert: impl FnMut(S) -> T) -> Self {
        Self {
            data: page.data.into_iter().map(convert).collect(),
            next_cursor: page.next_cursor,
        }
    }

    /// Pages a list that the store returns whole (the catalog, which is small), sorted
    /// here by type name: `key` names an item, and the cursor is the name of the previous
    /// page's last item. Like the store's lists, a page starts after the cursor's place,
    /// whether or not an item holds that name; a cursor that is no type name at all is
    /// not one a page gave.
    pub fn from_whole(
        mut items: Vec<T>,
        page: &PageRequest,
        key: impl Fn(&T) -> &str,
    ) -> Result<Self, InvalidCursor> {
        items.sort_by(|a, b| key(a).cmp(key(b)));
        let start = match &page.cursor {
            Some(cursor) => {
                validate_type_name(cursor).map_err(|_| InvalidCursor)?;
                items.partition_point(|item| key(item) <= cursor.as_str())
            }
            None => 0,
        };
        let limit = page.effective_limit() as usize;
        let mut data: Vec<T> = items.into_iter().skip(start).collect();
        let next_cursor = if data.len() > limit {
            data.truncate(limit);
            data.last().map(|item| key(item).to_owned())
        } else {
            None
        };
        Ok(Self { data, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert_eq!(page_request(None, None).unwrap().limit, 50);
        assert_eq!(page_request(Some(""), Some("")).unwrap().cursor, None);
        assert_eq!(page_request(Some("100"), None).unwrap().limit, 100);
        for bad in ["0", "101", "-1", "ten"] {
            assert!(page_request(Some(bad), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn whole_lists_page_by_key() {
        let items: Vec<String> = (0..5).map(|i| format!("t.t{i}")).collect();
        let first = List::from_whole(
            items.clone(),
            &page_request(Some("2"), None).unwrap(),
            |s| s,
        )
        .unwrap();
        assert_eq!(first.data, ["t.t0", "t.t1"]);
        assert_eq!(first.next_cursor.as_deref(), Some("t.t1"));
        let last = List::from_whole(
            items.clone(),
            &page_request(Some("3"), Some("t.t1")).unwrap(),
            |s| s,
        )
        .unwrap();
        assert_eq!(last.data, ["t.t2", "t.t3", "t.t4"]);
        assert_eq!(last.next_cursor, None);
        let gone = page_request(None, Some("t.t15")).unwrap();
        let after_gone = List::from_whole(items.clone(), &gone, |s| s).unwrap();
        assert_eq!(
            after_gone.data,
            ["t.t2", "t.t3", "t.t4"],
            "starts after its place"
        );
        let made_up = page_request(None, Some("T 9")).unwrap();
        assert!(List::from_whole(items, &made_up, |s| s).is_err());
    }
}
