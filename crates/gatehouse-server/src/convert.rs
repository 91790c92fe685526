//! Request bodies to domain objects; every failure names the field.

use std::collections::BTreeSet;

use gatehouse_core::{Email, PermSet, Permission, Role, RoleName, Team, TeamName, User, VaName, VirtualAccount};

use crate::dto::{RoleBody, TeamBody, UserBody, VirtualAccountBody};
use gatehouse_core::field::{FieldError, FieldErrors, FieldPath};
use gatehouse_core::Refusal;

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
    let mut f = Fields::new();
    let email = f.check(field("email", Email::new(&b.email)))?;
    let role = f.check(field("role", RoleName::new(b.role.as_deref().unwrap_or("member"))))?;
    let (email, role) = f.done(email.zip(role))?;
    let display_name = match b.display_name {
        Some(d) if !d.trim().is_empty() => d.trim().to_owned(),
        _ => email.as_str().split('@').next().unwrap_or_default().to_owned(),
    };
    Ok(User { email, display_name, role, active: b.active.unwrap_or(true) })
}

pub fn team(b: TeamBody) -> Result<Team, ApiError> {
    let mut f = Fields::new();
    let name = f.check(field("name", TeamName::new(&b.name)))?;
    let mut emails = |at: &str, v: BTreeSet<String>| -> Result<BTreeSet<Email>, ApiError> {
        let mut out = BTreeSet::new();
        for e in &v {
            if let Some(e) = f.check(field(at, Email::new(e)))? {
                out.insert(e);
            }
        }
        Ok(out)
    };
    let managers = emails("managers", b.managers)?;
    let mut members = emails("members", b.members)?;
    let name = f.done(name)?;
    // A manager is also a member.
    members.extend(managers.iter().cloned());
    Ok(Team { name, description: b.description, managers, members })
}

pub fn role(b: RoleBody) -> Result<Role, ApiError> {
    let mut f = Fields::new();
    let name = f.check(field("name", RoleName::new(&b.name)))?;
    if b.display_name.trim().is_empty() {
        f.invalid("display_name", "is required");
    }
    if b.description.trim().is_empty() {
        f.invalid("description", "is required");
    }
    let mut permissions = PermSet::EMPTY;
    for (i, p) in b.permissions.iter().enumerate() {
        match p.parse::<Permission>() {
            Ok(p) => permissions.insert(p),
            Err(e) => f.invalid(format!("permissions[{i}]"), format!("{e}")),
        }
    }
    Ok(Role {
        name: f.done(name)?,
        display_name: b.display_name.trim().to_owned(),
        description: b.description,
        permissions,
        builtin: None,
    })
}

pub fn virtual_account(b: VirtualAccountBody) -> Result<VirtualAccount, ApiError> {
    let mut f = Fields::new();
    let name = f.check(field("name", VaName::new(&b.name)))?;
    let owner_team = f.check(field("owner_team", TeamName::new(&b.owner_team)))?;
    let expires_at = f.check(crate::bounds::opt_client_time("expires_at", b.expires_at))?;
    let ((name, owner_team), expires_at) = f.done(name.zip(owner_team).zip(expires_at))?;
    Ok(VirtualAccount { name, owner_team, description: b.description, expires_at })
}

pub fn token_name(name: Option<String>, default: &str) -> Result<String, ApiError> {
    let n = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| default.to_owned());
    if n.chars().count() > 128 || n.chars().any(char::is_control) {
        return Err(ApiError::invalid("name", "must be at most 128 characters, without control characters"));
    }
    Ok(n)
}

/// Checks every field of a request before answering: the field errors are collected, so the answer lists
/// them all; any other error (a refusal, an unavailable store) ends the checking at once.
#[derive(Default)]
pub struct Fields(FieldErrors);

impl Fields {
    pub fn new() -> Fields {
        Fields(FieldErrors::new())
    }

    /// The value of a check that passed; a field error is kept and gives `None`.
    pub fn check<T>(&mut self, r: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(ApiError::Invalid(e) | ApiError::Refused(Refusal::Invalid(e))) => {
                self.0.push(e);
                Ok(None)
            }
            Err(ApiError::InvalidMany(all)) => {
                for e in all.into_vec() {
                    self.0.push(e);
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub fn invalid(&mut self, field: impl Into<FieldPath>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `value` when no field was at fault, else every field error at once.
    pub fn done<T>(self, value: Option<T>) -> Result<T, ApiError> {
        ApiError::from_fields(self.0)?;
        // Every check that gave `None` recorded an error, so with none recorded every value is there.
        value.ok_or_else(|| ApiError::Internal("a field check failed without saying why".to_owned()))
    }
}
