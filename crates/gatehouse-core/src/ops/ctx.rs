//! The caller of an operation and the questions every family of operations asks about them: may they,
//! and do they hold what they would hand out.

use time::OffsetDateTime;

use super::{conferred, AdminOnly, Giving, Outranked, Refusal};
use crate::engine::team_scoped;
use crate::ids::Email;
use crate::model::{Action, BuiltinRole, CollaboratorRole, Resource, Subject};
use crate::permission::{PermSet, Permission};
use crate::snapshot::Snapshot;

/// The caller of an operation, resolved from a token.
pub struct Ctx<'a> {
    pub snap: &'a Snapshot,
    pub caller: &'a Subject,
    pub now: OffsetDateTime,
    /// Resources this caller created earlier in the same batch: while creating one, its creator may name
    /// themself a collaborator (docs/access-model.md, FAQ).
    pub created: &'a std::collections::HashSet<Resource>,
}

impl Ctx<'_> {
    pub(super) fn caller_email(&self) -> Option<&Email> {
        match self.caller {
            Subject::User(e) => Some(e),
            Subject::Team(_) | Subject::VirtualAccount(_) => None,
        }
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.caller_email().is_some_and(|e| self.snap.is_admin(e))
    }

    pub(super) fn perms(&self) -> PermSet {
        self.caller_email().map(|e| self.snap.tenant_permissions(e)).unwrap_or_default()
    }

    pub(crate) fn allows(&self, action: Action, r: &Resource) -> bool {
        self.snap.verdict(self.caller, action, r, self.now).is_allowed()
    }

    pub(super) fn require(&self, p: Permission, r: &Resource) -> Result<(), Refusal> {
        match self.snap.check(self.caller, Action::Perm(p), r, self.now) {
            crate::decision::Decision::Allowed(_) => Ok(()),
            crate::decision::Decision::Denied(d) => {
                Err(Refusal::Denied { caller: self.caller.clone(), permission: p, resource: r.clone(), reason: d })
            }
        }
    }

    /// `require` for a put that creates or changes, by whether the object exists. A caller who may do
    /// neither gets the same refusal either way, so it does not tell whether the object exists.
    pub(super) fn require_put(
        &self,
        exists: bool,
        create: (Permission, &Resource),
        manage: (Permission, &Resource),
    ) -> Result<(), Refusal> {
        let (wanted, other) = if exists { (manage, create) } else { (create, manage) };
        match self.require(wanted.0, wanted.1) {
            Ok(()) => Ok(()),
            Err(_) if !self.allows(Action::Perm(other.0), other.1) => Err(Refusal::MayNeither {
                caller: self.caller.clone(),
                create: create.0,
                manage: manage.0,
                resource: manage.1.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Outside admin, nobody hands out permissions they do not hold themselves.
    pub(super) fn require_holds(&self, wanted: PermSet, what: Giving) -> Result<(), Refusal> {
        if self.is_admin() {
            return Ok(());
        }
        let missing = wanted.minus(self.perms());
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Refusal::WouldEscalate { what, missing })
        }
    }

    /// Outside admin, nobody changes a user more powerful than themself (an admin, or one whose role has
    /// permissions the caller lacks): that would be a way to act as them.
    pub(super) fn require_can_manage_user(&self, target: &Email) -> Result<(), Refusal> {
        if self.is_admin() || self.caller_email() == Some(target) {
            return Ok(());
        }
        let Some(u) = self.snap.user(target.as_str()) else { return Ok(()) };
        let role = self.snap.role(u.user.role.as_str());
        if role.is_some_and(|r| r.is_admin()) {
            return Err(Refusal::AdminOnly(AdminOnly::ChangeAdmin(target.clone())));
        }
        let theirs = role.map(|r| r.permissions).unwrap_or_default();
        let missing = theirs.minus(self.perms());
        if !missing.is_empty() {
            return Err(Refusal::Outranked(Outranked::Permissions { target: target.clone(), missing }));
        }
        // Their collaborator grants, held directly or through a team, count as much as their role.
        let what = Giving::UserChange(target.clone());
        let holders =
            std::iter::once(Subject::User(target.clone())).chain(u.member_of.iter().cloned().map(Subject::Team));
        for h in holders {
            for g in self.snap.grants_of(&h) {
                self.require_holds_grant(g.role, &g.resource, &what)?;
            }
        }
        // So do the models whose narrowing lets them (or a team of theirs) in: acting as them would open those.
        let target_subject = Subject::User(target.clone());
        let listed = std::iter::once(target_subject.clone()).chain(u.member_of.iter().cloned().map(Subject::Team));
        for holder in listed {
            for model in self.snap.resources().models_naming(&holder) {
                if self.snap.check(&target_subject, Action::Use, &model, self.now).is_allowed()
                    && !self.allows(Action::Use, &model)
                {
                    return Err(Refusal::Outranked(Outranked::Model { target: target.clone(), model }));
                }
            }
        }
        // So do the team-manager rights on the teams they manage.
        let tm = self.snap.role(BuiltinRole::TeamManager.name()).map(|r| r.permissions).unwrap_or_default();
        for team in &u.manages {
            for p in tm.iter() {
                let scope = if team_scoped(p.kind()) { Resource::team(team) } else { Resource::tenant() };
                if !self.allows(Action::Perm(p), &scope) {
                    return Err(Refusal::Outranked(Outranked::TeamManager {
                        target: target.clone(),
                        team: team.clone(),
                        permission: p,
                    }));
                }
            }
        }
        Ok(())
    }

    /// The actions a collaborator role confers, each of which the caller must hold to give it.
    pub(super) fn require_holds_grant(
        &self,
        role: CollaboratorRole,
        r: &Resource,
        what: &Giving,
    ) -> Result<(), Refusal> {
        for a in conferred(role) {
            if !self.allows(a, r) {
                return Err(Refusal::WouldGiveCollaboratorRole {
                    what: what.clone(),
                    role,
                    resource: r.clone(),
                    action: a,
                });
            }
        }
        Ok(())
    }
}
