//! Request bodies to domain objects; every failure names the field.

use std::collections::BTreeSet;

use gatehouse_core::{Email, PermSet, Permission, Role, RoleName, Team, TeamName, User, VaName, VirtualAccount};

use crate::dto::{RoleBody, TeamBody, UserBody, VirtualAccountBody};
use crate::error::ApiError;

fn field<T>(name: &str, r: Result<T, gatehouse_core::InvalidName>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::invalid(name, e.to_string()))
}

/// The key in the path and the one in the body must agree: renaming is not a PUT.
pub fn same_key(field_name: &str, path: &str, body: &str) -> Result<(), ApiError> {
    if path == body {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field_name,
            format!("{body:?} does not match {path:?} in the path; objects cannot be renamed"),
        ))
    }
}

pub fn user(b: UserBody) -> Result<User, ApiError> {
    let email = field("email", Email::new(&b.email))?;
    let role = field("role", RoleName::new(b.role.as_deref().unwrap_or("member")))?;
    let display_name = match b.display_name {
        Some(d) if !d.trim().is_empty() => d.trim().to_owned(),
        _ => email.as_str().split('@').next().unwrap_or_default().to_owned(),
    };
    Ok(User { email, display_name, role, active: b.active.unwrap_or(true) })
}

pub fn team(b: TeamBody) -> Result<Team, ApiError> {
    let name = field("name", TeamName::new(&b.name))?;
    let emails = |f: &str, v: BTreeSet<String>| -> Result<BTreeSet<Email>, ApiError> {
        v.iter().map(|e| field(f, Email::new(e))).collect()
    };
    let managers = emails("managers", b.managers)?;
    let mut members = emails("members", b.members)?;
    // A manager is also a member.
    members.extend(managers.iter().cloned());
    Ok(Team { name, description: b.description, managers, members })
}

pub fn role(b: RoleBody) -> Result<Role, ApiError> {
    let name = field("name", RoleName::new(&b.name))?;
    if b.display_name.trim().is_empty() {
        return Err(ApiError::invalid("display_name", "is required"));
    }
    if b.description.trim().is_empty() {
        return Err(ApiError::invalid("description", "is required"));
    }
    let mut permissions = PermSet::EMPTY;
    for (i, p) in b.permissions.iter().enumerate() {
        let p: Permission = p.parse().map_err(|e| ApiError::invalid(format!("permissions[{i}]"), format!("{e}")))?;
        permissions.insert(p);
    }
    Ok(Role {
        name,
        display_name: b.display_name.trim().to_owned(),
        description: b.description,
        permissions,
        builtin: None,
    })
}

pub fn virtual_account(b: VirtualAccountBody) -> Result<VirtualAccount, ApiError> {
    Ok(VirtualAccount {
        name: field("name", VaName::new(&b.name))?,
        owner_team: field("owner_team", TeamName::new(&b.owner_team))?,
        description: b.description,
        expires_at: crate::bounds::opt_client_time("expires_at", b.expires_at)?,
    })
}

pub fn token_name(name: Option<String>, default: &str) -> Result<String, ApiError> {
    let n = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| default.to_owned());
    if n.chars().count() > 128 || n.chars().any(char::is_control) {
        return Err(ApiError::invalid("name", "must be at most 128 characters, without control characters"));
    }
    Ok(n)
}
