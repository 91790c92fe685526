//! Warnings about a write that succeeds but leaves its author unable to see what they wrote: someone whose
//! role only lets them create (the seed's FAQ) would otherwise lose sight of their object the moment it
//! exists. The engine decides, on the state the write produced.

use gatehouse_core::resource_type::ResourceType;
use gatehouse_core::{Resource, Snapshot, Subject};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Something a successful write should make its author think twice about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Warning {
    /// A stable machine code: `creator_cannot_read` (the author cannot read the object they created).
    #[schema(example = "creator_cannot_read")]
    pub code: &'static str,
    /// The object it is about, as `kind:name`.
    #[schema(example = "mcp-server:github")]
    pub resource: String,
    /// The same in plain words, with what to do about it.
    pub message: String,
}

/// `creator_cannot_read` when `caller` could not read `r` in `after` (the state with it created).
pub fn creator_cannot_read(after: &Snapshot, caller: &Subject, r: &Resource, now: OffsetDateTime) -> Option<Warning> {
    let t = ResourceType::of_kind(r.kind)?;
    if super::can(after, caller, t.read_permission(), r, now) {
        return None;
    }
    let advice = match t.collaborator_roles().first() {
        Some(manager) => format!(
            " To keep it in sight, name yourself ({caller}) a collaborator with the role {manager} while creating it."
        ),
        None => String::new(),
    };
    Some(Warning {
        code: "creator_cannot_read",
        resource: r.to_string(),
        message: format!(
            "You will not be able to see or change {} {} once it is created: none of your roles or grants lets you read it.{advice}",
            t.noun(),
            r.name
        ),
    })
}
