//! Conversions between SQLite values and the store's types: times, typed ids, errors.
//!
//! Invariants:
//! - Times are stored as integer milliseconds (UTC). Every time the store hands out was
//!   truncated to milliseconds first ([`now`]), so a record returned by a write equals
//!   the same record read back.
//! - A driver error becomes `Backend`, except "no row" (`NotFound`); a unique violation
//!   becomes `Conflict` only where the caller says it is the user's conflict
//!   ([`is_unique_violation`]).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::types::{Type, ValueRef};
use rusqlite::{ErrorCode, Row};

use crate::StoreError;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match error {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            other => StoreError::Backend(Box::new(other)),
        }
    }
}

/// Whether the statement broke a UNIQUE or PRIMARY KEY constraint.
pub(super) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    match error {
        rusqlite::Error::SqliteFailure(e, _) => {
            e.code == ErrorCode::ConstraintViolation
                && matches!(
                    e.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                )
        }
        _ => false,
    }
}

pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// The current time at the precision the store keeps.
pub(super) fn now() -> DateTime<Utc> {
    from_ms(now_ms())
}

pub(super) fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(super) fn from_ms(ms: i64) -> DateTime<Utc> {
    // Only the store writes these columns, from real clocks; out of range means a
    // corrupted row, shown as the epoch rather than failing every list it appears in.
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(super) fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    Ok(from_ms(row.get(idx)?))
}

pub(super) fn opt_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(row.get::<_, Option<i64>>(idx)?.map(from_ms))
}

/// A text column parsed into a typed value (ids, statuses, error classes).
pub(super) fn parse<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let text = row.get_ref(idx)?.as_str()?;
    text.parse()
        .map_err(|e: T::Err| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, e.into()))
}

pub(super) fn parse_opt<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match row.get_ref(idx)? {
        ValueRef::Null => Ok(None),
        _ => parse(row, idx).map(Some),
    }
}
