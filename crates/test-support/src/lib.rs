//! What the tests of Admin Webhooks share, written once: the webhook [`receiver`] whose
//! answers a test controls, the [`loopback`] server under it (which the bench's counting
//! receiver reuses), test [`certs`], the [`service`] harness that runs the real binary,
//! and [`eventually`], the one way a test waits for something to happen.
//!
//! A dev-only crate: no production crate depends on it. `certs` and `service` are opt-in
//! features, so the bench can take the loopback server alone.

#[cfg(feature = "store")]
pub mod announced;
#[cfg(feature = "certs")]
pub mod certs;
pub mod eventually;
pub mod loopback;
pub mod receiver;
#[cfg(feature = "service")]
pub mod service;

pub use eventually::{clock_past, continually, eventually, instant_between, poll_until};
pub use receiver::{Receiver, Recorded, Reply};
