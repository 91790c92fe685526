//! `check(subject, action, resource)`: the one decision procedure every route uses.

use time::OffsetDateTime;

use crate::decision::{Allow, Decision, Deny};
use crate::ids::{Email, TeamName};
use crate::model::{Action, BuiltinRole, Resource, ResourceKind, Subject};
use crate::permission::{PermSet, Permission};
use crate::snapshot::{Snapshot, UserEntry};

/// Permission kinds whose `team-manager` grant is limited to the teams a person manages (and the virtual
/// accounts those teams own). Other permissions in `team-manager` apply tenant-wide to every team manager.
pub const fn team_scoped(kind: ResourceKind) -> bool {
    matches!(kind, ResourceKind::Team | ResourceKind::VirtualAccount)
}

fn applies(action: Action, r: &Resource) -> bool {
    match action {
        Action::Perm(p) => {
            r.kind == ResourceKind::Tenant
                || r.kind == p.kind()
                // `virtual-account:*` on `team:T` means "on the virtual accounts team T owns" (and creating one).
                || (p.kind() == ResourceKind::VirtualAccount && r.kind == ResourceKind::Team)
        }
        Action::Use => matches!(r.kind, ResourceKind::Model | ResourceKind::ProviderAccount | ResourceKind::McpServer),
    }
}

impl Snapshot {
    pub fn check(&self, subject: &Subject, action: Action, resource: &Resource, now: OffsetDateTime) -> Decision {
        match subject {
            Subject::User(e) => self.check_user(e, action, resource),
            Subject::Team(t) => {
                if !self.teams.contains_key(t) {
                    return Decision::Denied(Deny::UnknownSubject);
                }
                self.check_grants(subject, action, resource, None)
            }
            Subject::VirtualAccount(v) => {
                let Some(va) = self.vas.get(v) else {
                    return Decision::Denied(Deny::UnknownSubject);
                };
                if va.expires_at.is_some_and(|e| now >= e) {
                    return Decision::Denied(Deny::Expired);
                }
                self.check_grants(subject, action, resource, None)
            }
        }
    }

    fn check_user(&self, email: &Email, action: Action, resource: &Resource) -> Decision {
        let Some(u) = self.users.get(email) else {
            return Decision::Denied(Deny::UnknownSubject);
        };
        if !u.user.active {
            return Decision::Denied(Deny::Inactive);
        }
        let role = self.roles.get(&u.user.role);
        if role.is_some_and(|r| r.is_admin()) {
            return Decision::Allowed(Allow::Admin);
        }
        if !applies(action, resource) {
            return Decision::Denied(Deny::NotApplicable { action, resource: resource.clone() });
        }
        let perms = role.map(|r| r.permissions).unwrap_or_default();
        match action {
            Action::Perm(p) => {
                if perms.contains(p) {
                    return Decision::Allowed(Allow::Role { role: u.user.role.clone(), permission: p });
                }
                if let Some(team) = self.team_manager_grant(u, p, resource) {
                    return Decision::Allowed(Allow::TeamManager { team: team.clone(), permission: p });
                }
            }
            Action::Use => {
                let p = match resource.kind {
                    ResourceKind::McpServer => Permission::McpServerUse,
                    _ => Permission::ProviderAccountUseIntegrations,
                };
                if perms.contains(p) {
                    return Decision::Allowed(Allow::Role { role: u.user.role.clone(), permission: p });
                }
            }
        }
        self.check_grants(&Subject::User(email.clone()), action, resource, Some(u))
    }

    /// The managed team through which `team-manager` gives `p` on `resource`, if any.
    fn team_manager_grant<'a>(&'a self, u: &'a UserEntry, p: Permission, resource: &Resource) -> Option<&'a TeamName> {
        if u.manages.is_empty() {
            return None;
        }
        let tm = self.roles.get(BuiltinRole::TeamManager.name())?;
        if !tm.permissions.contains(p) {
            return None;
        }
        if !team_scoped(p.kind()) {
            return u.manages.iter().next();
        }
        let owner: &TeamName = match resource.kind {
            ResourceKind::Team => self.teams.get(&*resource.name).map(|t| &t.name)?,
            ResourceKind::VirtualAccount => self.vas.get(&*resource.name).map(|v| &v.owner_team)?,
            _ => return None,
        };
        u.manages.get(owner)
    }

    /// Collaborator grants held by the subject itself or, for a user, by a team they are a member of.
    fn check_grants(
        &self,
        subject: &Subject,
        action: Action,
        resource: &Resource,
        user: Option<&UserEntry>,
    ) -> Decision {
        let deny = || {
            Decision::Denied(Deny::NotGranted {
                role: user.map(|u| u.user.role.clone()),
                action,
                resource: resource.clone(),
            })
        };
        if !applies(action, resource) {
            return Decision::Denied(Deny::NotApplicable { action, resource: resource.clone() });
        }
        // Using a model is decided on the provider account that holds it.
        let parent;
        let target = match (action, resource.kind) {
            (Action::Use, ResourceKind::Model) => match resource.parent() {
                Some(p) => {
                    parent = p;
                    &parent
                }
                None => return deny(),
            },
            _ => resource,
        };
        let Some(on) = self.grants.get(target) else {
            return deny();
        };
        if let Some(role) = on.get(subject) {
            if role.allows(action) {
                return Decision::Allowed(Allow::Grant {
                    holder: subject.clone(),
                    role: *role,
                    resource: target.clone(),
                });
            }
        }
        for t in user.iter().flat_map(|u| u.member_of.iter()) {
            let holder = Subject::Team(t.clone());
            if let Some(role) = on.get(&holder) {
                if role.allows(action) {
                    return Decision::Allowed(Allow::Grant { holder, role: *role, resource: target.clone() });
                }
            }
        }
        deny()
    }

    /// Tenant-wide permissions of a user: their role's set, every permission for admin, none when
    /// deactivated. What the escalation guard compares against.
    pub fn tenant_permissions(&self, e: &Email) -> PermSet {
        let Some(u) = self.users.get(e) else { return PermSet::EMPTY };
        if !u.user.active {
            return PermSet::EMPTY;
        }
        match self.roles.get(&u.user.role) {
            Some(r) if r.is_admin() => PermSet::all(),
            Some(r) => r.permissions,
            None => PermSet::EMPTY,
        }
    }

    pub fn is_admin(&self, e: &Email) -> bool {
        self.active_admins.contains(e)
    }
}
