//! Whole-service tests: the real `admin-webhooks` binary on a real SQLite file, driven over
//! HTTP, delivering to real receivers on loopback.

mod activity;
mod bootstrap;
mod crash;
mod delivery;
mod multiprocess;
mod operations;
mod resend;
mod restart;
mod support;
