//! What the whole-service tests share: the real binary and a controllable receiver.

pub mod browser;
pub mod postgres;
pub mod receiver;
pub mod service;

pub use receiver::{Received, Receiver, Reply};
pub use service::Service;
