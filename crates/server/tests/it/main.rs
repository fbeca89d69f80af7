//! Whole-service tests: the real `admin-webhooks` binary on a real SQLite file, driven over
//! HTTP, delivering to real receivers on loopback.

mod activity;
mod alerts;
mod bootstrap;
mod cli;
mod connections;
mod crash;
mod dashboard;
mod dashboard_health;
mod dashboard_http;
mod dashboard_inspector;
mod data_dir;
mod delivery;
mod endpoint_controls;
mod first_minutes;
mod gone;
mod guessing;
mod listen;
mod logs;
mod multiprocess;
mod openapi;
mod operations;
mod receive_command;
mod resend;
mod restart;
mod support;
