//! Helpers shared by the delivery crate's integration tests: a recording receiver
//! (HTTP and HTTPS) and test certificates.
//!
//! Each test binary includes this module and uses only part of it, so unused items are
//! expected here rather than dead code.
#![allow(dead_code)]

pub mod certs;
pub mod receiver;

/// The guide's Node.js verification script (see the file for its contract).
pub const NODE_VERIFY_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/verify_admin_signature.js"
);
