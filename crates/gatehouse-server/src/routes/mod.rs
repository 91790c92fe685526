//! Thin handlers: parse, call the service (`AppState::write`) or read the snapshot, shape the answer.

pub mod audit_events;
pub mod auth;
pub mod explain;
mod explain_rights;
pub mod meta;
pub mod request_logs;
pub mod resources;
pub mod roles;
pub mod teams;
pub mod tokens;
pub mod usage_series;
pub mod users;
pub mod virtual_accounts;

use gatehouse_core::{Action, Decision, Permission, Resource, Snapshot, Subject};
use time::OffsetDateTime;

use crate::error::ApiError;

/// Whether `who` may do `p` on `r`.
/// Lists filter every item through this, so it asks for the bare verdict and builds no reason.
pub fn can(s: &Snapshot, who: &Subject, p: Permission, r: &Resource, now: OffsetDateTime) -> bool {
    s.verdict(who, Action::Perm(p), r, now).is_allowed()
}

/// A read check whose refusal carries the engine's reason (about the caller, never about the object).
pub fn require(s: &Snapshot, who: &Subject, p: Permission, r: &Resource, now: OffsetDateTime) -> Result<(), ApiError> {
    match s.check(who, Action::Perm(p), r, now) {
        Decision::Allowed(_) => Ok(()),
        Decision::Denied(reason) => Err(ApiError::Refused(gatehouse_core::Refusal::Denied {
            caller: who.clone(),
            permission: p,
            resource: r.clone(),
            reason,
        })),
    }
}
