//! `check(subject, action, resource)`: the one decision procedure every route uses.

use time::OffsetDateTime;

use crate::decision::{Decision, HolderRef, Verdict};
use crate::ids::{Email, RoleName, TeamName};
use crate::model::{Action, Resource, ResourceKind, Subject};
use crate::permission::{PermSet, Permission};
use crate::snapshot::{Membership, Snapshot, SubjectKind, UserSlot, INLINE_TEAMS, TEAM_MANAGER};

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
        self.verdict(subject, action, resource, now).to_decision()
    }

    /// `check` without building the owned decision: what a hot path that only needs the answer (or shows the
    /// reason only on refusal) should call.
    pub fn verdict<'a>(
        &'a self,
        subject: &'a Subject,
        action: Action,
        resource: &'a Resource,
        now: OffsetDateTime,
    ) -> Verdict<'a> {
        // Where a grant would have to be; independent of the subject, so looked up first and the CPU overlaps
        // the two lookups' memory reads.
        let target = self.grant_target(action, resource);
        match subject {
            Subject::User(e) => self.verdict_user(subject, e, action, resource, target),
            Subject::Team(t) => {
                let Some(id) = self.team_id(t.as_str()) else {
                    return Verdict::UnknownSubject;
                };
                let slot = self.teams.slots.get(id);
                if slot.team.is_none() {
                    return Verdict::UnknownSubject;
                }
                if self.model_closed(subject, &[], action, resource) {
                    return Verdict::NotGranted { role: None, action, resource };
                }
                let own = (SubjectKind::Team, id);
                self.verdict_grants(subject, own, &[], None, action, resource, target)
            }
            Subject::VirtualAccount(v) => {
                let Some(id) = self.va_id(v.as_str()) else {
                    return Verdict::UnknownSubject;
                };
                let slot = self.vas.slots.get(id);
                if slot.va.is_none() {
                    return Verdict::UnknownSubject;
                }
                if slot.expires_at.is_some_and(|e| now >= e) {
                    return Verdict::Expired;
                }
                if self.model_closed(subject, &[], action, resource) {
                    return Verdict::NotGranted { role: None, action, resource };
                }
                let own = (SubjectKind::VirtualAccount, id);
                self.verdict_grants(subject, own, &[], None, action, resource, target)
            }
        }
    }

    /// The resource a grant must be on to decide `action` on `resource` (using a model is decided on the
    /// provider account that holds it), if anybody holds a grant there.
    #[inline]
    fn grant_target(&self, action: Action, resource: &Resource) -> Option<u32> {
        match (action, resource.kind) {
            (Action::Use, ResourceKind::Model) => {
                let (account, _) = resource.name.split_once('/')?;
                self.resource_id(ResourceKind::ProviderAccount, account)
            }
            _ => self.resource_id(resource.kind, &resource.name),
        }
    }

    fn verdict_user<'a>(
        &'a self,
        subject: &'a Subject,
        email: &Email,
        action: Action,
        resource: &'a Resource,
        target: Option<u32>,
    ) -> Verdict<'a> {
        let Some(u) = self.live_user(email.as_str()) else {
            return Verdict::UnknownSubject;
        };
        if !u.active {
            return Verdict::Inactive;
        }
        // A role that does not exist (any more) gives nothing; its slot says so with empty permissions.
        let role = self.roles.slots.get(u.role);
        if role.admin {
            return Verdict::Admin;
        }
        if !applies(action, resource) {
            return Verdict::NotApplicable { action, resource };
        }
        if self.model_closed(subject, u.teams.as_slice(), action, resource) {
            return Verdict::NotGranted { role: Some(&role.name), action, resource };
        }
        match action {
            Action::Perm(p) => {
                if role.perms.contains(p) {
                    return Verdict::Role { role: &role.name, permission: p };
                }
                if let Some(team) = self.team_manager_grant(u, p, resource) {
                    return Verdict::TeamManager { team, permission: p };
                }
            }
            Action::Use => {
                let p = match resource.kind {
                    ResourceKind::McpServer => Permission::McpServerUse,
                    _ => Permission::ProviderAccountUseIntegrations,
                };
                if role.perms.contains(p) {
                    return Verdict::Role { role: &role.name, permission: p };
                }
            }
        }
        let own = (SubjectKind::User, u.id);
        self.verdict_grants(subject, own, u.teams.as_slice(), Some(&role.name), action, resource, target)
    }

    /// Whether using this model is closed to the subject whatever its grants: the model is not configured,
    /// or its `authorized_subjects` name neither the subject nor (for a user) a team it is a member of.
    /// Both answer like a missing grant, so a check cannot tell whether a model exists.
    fn model_closed(&self, subject: &Subject, teams: &[Membership], action: Action, resource: &Resource) -> bool {
        if action != Action::Use || resource.kind != ResourceKind::Model {
            return false;
        }
        match self.resources().model(&resource.name) {
            None => true,
            Some(None) => false,
            Some(Some(allowed)) => !allowed.iter().any(|a| {
                a == subject
                    || match a {
                        Subject::Team(t) => self
                            .team_id(t.as_str())
                            .is_some_and(|id| teams.iter().any(|m| m.member() && m.team() == id)),
                        _ => false,
                    }
            }),
        }
    }

    /// The managed team through which `team-manager` gives `p` on `resource`, if any: for a permission that
    /// is not team-scoped, the first managed team by name.
    fn team_manager_grant(&self, u: &UserSlot, p: Permission, resource: &Resource) -> Option<&TeamName> {
        if !u.manages_any || !self.roles.slots.get(TEAM_MANAGER).perms.contains(p) {
            return None;
        }
        let mut managed = u.teams.as_slice().iter().filter(|m| m.manager());
        let team = if !team_scoped(p.kind()) {
            managed.next()?
        } else {
            let owner = match resource.kind {
                ResourceKind::Team => {
                    let id = self.team_id(&resource.name)?;
                    self.teams.slots.get(id).team.as_ref()?;
                    id
                }
                ResourceKind::VirtualAccount => {
                    let slot = self.vas.slots.get(self.va_id(&resource.name)?);
                    slot.va.as_ref()?;
                    slot.owner
                }
                _ => return None,
            };
            managed.find(|m| m.team() == owner)?
        };
        Some(&self.teams.slots.get(team.team()).name)
    }

    /// Collaborator grants held by the subject itself (`own`) or, for a user, by a team they are a member of
    /// (the first such team by name names the reason).
    #[allow(clippy::too_many_arguments)]
    fn verdict_grants<'a>(
        &'a self,
        subject: &'a Subject,
        (kind, id): (SubjectKind, u32),
        teams: &[Membership],
        role: Option<&'a RoleName>,
        action: Action,
        resource: &'a Resource,
        target: Option<u32>,
    ) -> Verdict<'a> {
        if !applies(action, resource) {
            return Verdict::NotApplicable { action, resource };
        }
        let deny = Verdict::NotGranted { role, action, resource };
        let Some(rid) = target else {
            return deny;
        };
        let on = self.resources.slots.get(rid);
        let resource_shown = || match (action, resource.kind) {
            (Action::Use, ResourceKind::Model) => &on.key,
            _ => resource,
        };
        let set = &on.holders;
        // Every candidate's first word is read before any is looked at, so the reads overlap.
        let own = set.peek(kind, id);
        let mut firsts = [0u64; INLINE_TEAMS];
        for (f, m) in firsts.iter_mut().zip(teams) {
            *f = set.peek(SubjectKind::Team, m.team());
        }
        if let Some(r) = set.find_peeked(kind, id, own).filter(|r| r.allows(action)) {
            return Verdict::Grant { holder: HolderRef::Subject(subject), role: r, resource: resource_shown() };
        }
        for (i, m) in teams.iter().enumerate().filter(|(_, m)| m.member()) {
            let held = match firsts.get(i) {
                Some(first) => set.find_peeked(SubjectKind::Team, m.team(), *first),
                None => set.find(SubjectKind::Team, m.team()),
            };
            if let Some(r) = held.filter(|r| r.allows(action)) {
                let team = &self.teams.slots.get(m.team()).name;
                return Verdict::Grant { holder: HolderRef::Team(team), role: r, resource: resource_shown() };
            }
        }
        deny
    }

    /// Tenant-wide permissions of a user: their role's set, every permission for admin, none when
    /// deactivated. What the escalation guard compares against.
    pub fn tenant_permissions(&self, e: &Email) -> PermSet {
        let Some(u) = self.live_user(e.as_str()) else { return PermSet::EMPTY };
        if !u.active {
            return PermSet::EMPTY;
        }
        let role = self.roles.slots.get(u.role);
        if role.admin {
            PermSet::all()
        } else {
            role.perms
        }
    }

    /// An active user holding the role named `admin`.
    pub fn is_admin(&self, e: &Email) -> bool {
        self.live_user(e.as_str())
            .and_then(|u| u.user.as_deref())
            .is_some_and(|u| u.active && u.role.as_str() == crate::model::BuiltinRole::Admin.name())
    }
}
