//! Integration tests of the HTTP API over real HTTP and a real SQLite store, built as one
//! test binary (STYLE 13).

mod activity;
mod addresses;
mod api_keys;
mod auth;
mod batch;
mod deliveries;
mod endpoint_controls;
mod event_types;
mod events;
mod guessing;
mod isolation;
mod listeners;
mod lockout;
mod payloads;
mod protocol;
mod series;
mod strictness;
mod support;
mod webhooks;
mod workspaces;
