//! A decision carries its reason: the role, team or grant that allowed it, or why nothing did.

use std::fmt;

use crate::ids::{RoleName, TeamName};
use crate::model::{Action, CollaboratorRole, Resource, Subject};
use crate::permission::Permission;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed(Allow),
    Denied(Deny),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allow {
    /// The subject holds the `admin` role.
    Admin,
    /// The subject's tenant role has the permission (on every resource).
    Role { role: RoleName, permission: Permission },
    /// The subject manages `team`, and the `team-manager` role has the permission.
    TeamManager { team: TeamName, permission: Permission },
    /// `holder` (the subject, or a team it belongs to) is a collaborator on `resource`.
    Grant { holder: Subject, role: CollaboratorRole, resource: Resource },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deny {
    UnknownSubject,
    Inactive,
    Expired,
    /// The permission is about another kind of resource.
    NotApplicable {
        action: Action,
        resource: Resource,
    },
    /// Nothing gave it: not the role (named if the subject has one), not a managed team, not a grant.
    NotGranted {
        role: Option<RoleName>,
        action: Action,
        resource: Resource,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allow::Admin => f.write_str("role admin has every permission"),
            Allow::Role { role, permission } => write!(f, "role {role} grants {permission}"),
            Allow::TeamManager { team, permission } => {
                write!(f, "manager of team {team}, and role team-manager grants {permission}")
            }
            Allow::Grant { holder, role, resource } => write!(f, "{holder} is {role} on {resource}"),
        }
    }
}

impl fmt::Display for Deny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deny::UnknownSubject => f.write_str("no such subject"),
            Deny::Inactive => f.write_str("the user is deactivated"),
            Deny::Expired => f.write_str("the virtual account has expired"),
            Deny::NotApplicable { action, resource } => {
                write!(f, "{action} does not apply to {resource}")
            }
            Deny::NotGranted { role: Some(role), action, resource } => write!(
                f,
                "role {role} does not grant {action}, and no managed team or collaborator grant gives it on {resource}"
            ),
            Deny::NotGranted { role: None, action, resource } => {
                write!(f, "no collaborator grant gives {action} on {resource}")
            }
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed(a) => write!(f, "allowed: {a}"),
            Decision::Denied(d) => write!(f, "denied: {d}"),
        }
    }
}
