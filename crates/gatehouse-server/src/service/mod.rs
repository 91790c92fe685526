//! What the API does, apart from HTTP: functions that take the application state (its published snapshot),
//! the caller and typed input, and return typed results or an `ApiError`. Handlers only parse the request,
//! call one of these and shape the answer; nothing here knows axum.

pub mod apply;
pub mod audit;
pub mod creator;
pub mod export;
pub mod limits;
pub mod lists;
pub mod mcp_tools;
pub mod request_log_csv;
pub mod resources;
pub mod test_connection;
pub mod usage;
pub mod usage_filters;
pub mod usage_series;

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
