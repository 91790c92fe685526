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

/// A decision whose names are borrowed from the snapshot and the request: reaching it allocates nothing and
/// touches no reference count, which matters when many threads check against one snapshot. `to_decision`
/// makes the owned `Decision` (and the text) only for callers that keep or show the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    Admin,
    Role { role: &'a RoleName, permission: Permission },
    TeamManager { team: &'a TeamName, permission: Permission },
    Grant { holder: HolderRef<'a>, role: CollaboratorRole, resource: &'a Resource },
    UnknownSubject,
    Inactive,
    Expired,
    NotApplicable { action: Action, resource: &'a Resource },
    NotGranted { role: Option<&'a RoleName>, action: Action, resource: &'a Resource },
}

/// Who holds the grant behind `Verdict::Grant`: the subject asked about, or one of its teams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HolderRef<'a> {
    Subject(&'a Subject),
    Team(&'a TeamName),
}

impl Verdict<'_> {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Admin | Verdict::Role { .. } | Verdict::TeamManager { .. } | Verdict::Grant { .. })
    }

    pub fn to_decision(&self) -> Decision {
        match *self {
            Verdict::Admin => Decision::Allowed(Allow::Admin),
            Verdict::Role { role, permission } => Decision::Allowed(Allow::Role { role: role.clone(), permission }),
            Verdict::TeamManager { team, permission } => {
                Decision::Allowed(Allow::TeamManager { team: team.clone(), permission })
            }
            Verdict::Grant { holder, role, resource } => Decision::Allowed(Allow::Grant {
                holder: match holder {
                    HolderRef::Subject(s) => s.clone(),
                    HolderRef::Team(t) => Subject::Team(t.clone()),
                },
                role,
                resource: resource.clone(),
            }),
            Verdict::UnknownSubject => Decision::Denied(Deny::UnknownSubject),
            Verdict::Inactive => Decision::Denied(Deny::Inactive),
            Verdict::Expired => Decision::Denied(Deny::Expired),
            Verdict::NotApplicable { action, resource } => {
                Decision::Denied(Deny::NotApplicable { action, resource: resource.clone() })
            }
            Verdict::NotGranted { role, action, resource } => {
                Decision::Denied(Deny::NotGranted { role: role.cloned(), action, resource: resource.clone() })
            }
        }
    }
}

impl fmt::Display for Verdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Showing a reason is off the hot path; one formatting code keeps the two texts identical.
        fmt::Display::fmt(&self.to_decision(), f)
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
