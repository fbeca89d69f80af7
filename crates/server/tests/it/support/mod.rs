//! What the whole-service tests share: the real binary and a controllable receiver (both
//! from `test-support`), a browser and fresh PostgreSQL databases.

pub mod browser;
pub mod postgres;

pub use test_support::receiver::{Receiver, Recorded, Reply};
pub use test_support::service::{self, Binary, Service};

/// The binary under test; only this crate's tests know where cargo built it.
pub const ADMIN_WEBHOOKS: Binary = Binary(env!("CARGO_BIN_EXE_admin-webhooks"));
