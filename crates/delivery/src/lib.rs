//! Delivery: the dispatcher that runs inside `serve`, one lane per endpoint, and the
//! HTTPS sender they share.
//!
//! - A **lane** is one endpoint's ordered queue: at most one attempt in flight, the head
//!   retried in place, so one endpoint sees its events in publish order; lanes never wait
//!   for each other.
//! - The **store is the queue**: a lane holds only a bounded window of its deliveries in
//!   memory and refills it from the store, so a backlog of millions costs disk, not RAM.
//! - Outcomes are handed to the store without waiting for their commit (the store commits
//!   them in order); losing the process between a 2xx and that commit means the receiver
//!   sees the event again, with the same `Idempotency-Key` — at-least-once, never lost.

pub mod clock;
pub mod dispatcher;
mod lane;
pub mod listeners;
pub mod metrics;
pub mod sender;

pub use clock::{Clock, SystemClock, TokioClock};
pub use dispatcher::{DispatchConfig, Dispatcher};
pub use listeners::{RoutedSender, Switchboard};
pub use sender::{AttemptSender, Sender, SenderConfig};
