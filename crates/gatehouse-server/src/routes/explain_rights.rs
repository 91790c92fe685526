//! Who may read an explanation of someone else's access, and which of its entries: read rights on the
//! subject and on every resource an entry names, as the rest of the API asks for them.

use gatehouse_core::{Permission, Resource, ResourceKind, Snapshot, Subject};
use time::OffsetDateTime;

use super::{can, require};
use crate::error::{ApiError, Forbidden};

/// The permission that lets a caller read objects of `kind` through the API; `None` for kinds the API
/// serves no reads of, whose entries only admins (who may do anything) see.
fn read_permission(kind: ResourceKind) -> Option<Permission> {
    match kind {
        ResourceKind::ProviderAccount | ResourceKind::Model => Some(Permission::ProviderAccountRead),
        ResourceKind::McpServer => Some(Permission::McpServerRead),
        ResourceKind::Agent => Some(Permission::AgentRead),
        ResourceKind::GatewayControls => Some(Permission::GatewayControlsList),
        ResourceKind::Role => Some(Permission::RoleList),
        ResourceKind::User => Some(Permission::UserList),
        ResourceKind::Team => Some(Permission::TeamRead),
        ResourceKind::VirtualAccount => Some(Permission::VirtualAccountRead),
        ResourceKind::Tenant
        | ResourceKind::Cluster
        | ResourceKind::Workspace
        | ResourceKind::Application
        | ResourceKind::Environment
        | ResourceKind::Policy
        | ResourceKind::ExternalIdentity
        | ResourceKind::Repository
        | ResourceKind::SecretGroup
        | ResourceKind::Settings => None,
    }
}

/// The resource a model's read right is asked on: its provider account.
fn read_target(r: &Resource) -> Resource {
    match (r.kind, r.name.split_once('/')) {
        (ResourceKind::Model, Some((account, _))) => Resource::new(ResourceKind::ProviderAccount, account),
        _ => r.clone(),
    }
}

fn subject_resource(subject: &Subject) -> Resource {
    match subject {
        Subject::User(e) => Resource::user(e),
        Subject::Team(t) => Resource::team(t),
        Subject::VirtualAccount(v) => Resource::virtual_account(v),
    }
}

/// Whether `caller` may read what an entry names (`tenant`, or a resource).
pub fn may_read(s: &Snapshot, caller: &Subject, resource: &str, now: OffsetDateTime) -> bool {
    if resource == "tenant" {
        return true;
    }
    let Ok(r) = resource.parse::<Resource>() else { return false };
    if r.kind == ResourceKind::Tenant {
        return true;
    }
    let admin = matches!(caller, Subject::User(e) if s.is_admin(e));
    match read_permission(r.kind) {
        Some(p) => admin || can(s, caller, p, &read_target(&r), now),
        None => admin,
    }
}

/// Someone else's access: `role:list` (the explanation shows what roles grant) and read rights on the
/// subject. Asked before the subject is looked up, so a refusal says nothing about whether it exists.
pub fn require_subject(s: &Snapshot, caller: &Subject, subject: &Subject, now: OffsetDateTime) -> Result<(), ApiError> {
    if !can(s, caller, Permission::RoleList, &Resource::tenant(), now) {
        return Err(ApiError::Forbidden(Forbidden::OthersAccess {
            caller: caller.to_string(),
            subject: subject.to_string(),
        }));
    }
    let r = subject_resource(subject);
    let p = read_permission(r.kind).unwrap_or(Permission::UserList);
    require(s, caller, p, &r, now)
}
