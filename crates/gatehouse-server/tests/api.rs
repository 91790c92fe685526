//! The admin API over HTTP against the real server: every rule of the access core.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apply;
mod audit;
mod authz;
mod common;
mod console_session;
mod escalation;
mod explain;
mod foundations_catalogue;
mod foundations_errors;
mod foundations_pipeline;
mod gateway;
mod guardrails;
mod hygiene;
mod limits;
mod mcp;
mod persistence;
mod request_logs;
mod resources;
mod roles;
mod security_limits;
mod security_logs;
mod security_signin;
mod security_writes;
mod teams;
mod tokens;
