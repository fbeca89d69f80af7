//! Conversions between PostgreSQL values and the store's types: errors, times, typed ids.
//!
//! Invariants:
//! - Every time the store writes was truncated to milliseconds first ([`now`], [`ms`]),
//!   as on SQLite, so a record returned by a write equals the same record read back and
//!   both backends hand out the same precision.
//! - A driver error becomes `Backend`; a pool that was closed becomes `Closed`; missing
//!   rows are turned into `NotFound` by the callers, which know when that is the answer.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use crate::{Result, StoreError};

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::Backend(Box::new(error))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            other => StoreError::Backend(Box::new(other)),
        }
    }
}

/// Whether the statement broke a UNIQUE or PRIMARY KEY constraint.
pub(super) fn is_unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Whether the server gave up on the statement to break a deadlock or a serialization
/// conflict: running it again (after rolling back) is the documented remedy.
pub(super) fn is_retryable(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// `time` at the precision the store keeps.
pub(super) fn ms(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or_default()
}

/// The current time (of this process) at the precision the store keeps.
pub(super) fn now() -> DateTime<Utc> {
    ms(Utc::now())
}

/// A text column parsed into a typed value (ids, statuses, error classes).
pub(super) fn parse<T>(row: &Row, idx: usize) -> Result<T>
where
    T: FromStr,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let text: &str = row.try_get(idx)?;
    text.parse()
        .map_err(|e: T::Err| StoreError::Backend(e.into()))
}

pub(super) fn parse_opt<T>(row: &Row, idx: usize) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let text: Option<&str> = row.try_get(idx)?;
    text.map(|t| t.parse().map_err(|e: T::Err| StoreError::Backend(e.into())))
        .transpose()
}

/// An integer column that holds a non-negative count or duration the contract types as
/// unsigned; a value out of range means a corrupted row.
pub(super) fn unsigned<T, S>(row: &Row, idx: usize) -> Result<T>
where
    S: for<'a> tokio_postgres::types::FromSql<'a> + Copy + std::fmt::Display,
    T: TryFrom<S>,
{
    let value: S = row.try_get(idx)?;
    T::try_from(value).map_err(|_| {
        StoreError::Backend(format!("column {idx} holds {value}, out of range").into())
    })
}

pub(super) fn unsigned_opt<T, S>(row: &Row, idx: usize) -> Result<Option<T>>
where
    S: for<'a> tokio_postgres::types::FromSql<'a> + Copy + std::fmt::Display,
    T: TryFrom<S>,
{
    let value: Option<S> = row.try_get(idx)?;
    value
        .map(|v| {
            T::try_from(v).map_err(|_| {
                StoreError::Backend(format!("column {idx} holds {v}, out of range").into())
            })
        })
        .transpose()
}

/// Maps every row with a fallible conversion.
pub(super) fn collect<T>(rows: &[Row], convert: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(convert).collect()
}
