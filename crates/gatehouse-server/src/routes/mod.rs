//! Thin handlers: parse, call the service (`crate::service`, `AppState::write`) or read the snapshot, shape the answer.

pub mod audit_events;
pub mod auth;
pub mod explain;
mod explain_rights;
pub mod forms;
pub mod limits;
pub mod mcp_tools;
pub mod meta;
pub mod request_logs;
pub mod resources;
pub mod roles;
pub mod setup;
pub mod teams;
pub mod tokens;
pub mod usage_series;
pub mod users;
pub mod virtual_accounts;

pub use crate::service::{can, require};
