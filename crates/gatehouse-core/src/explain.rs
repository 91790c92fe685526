//! "What can this subject do, and why": asked of `check` itself, question by question, so an explanation
//! can never disagree with a decision (per-model narrowing included) and each ability carries the reason the
//! engine gives for it.

use time::OffsetDateTime;

use crate::decision::{Allow, Decision};
use crate::ids::RoleName;
use crate::model::{Action, Resource, ResourceKind, Subject};
use crate::permission::Permission;
use crate::resource::ResourceSpec;
use crate::snapshot::Snapshot;

/// One thing the subject may do, and the role, team or grant that allows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ability {
    pub action: Action,
    /// The tenant for a permission held tenant-wide, which then holds on every resource it applies to.
    pub resource: Resource,
    pub reason: Allow,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// False for a deactivated user or an expired virtual account, who may do nothing.
    pub active: bool,
    /// A user's role.
    pub role: Option<RoleName>,
    /// Tenant-wide permissions first (catalogue order), then the abilities on each object that the tenant-wide
    /// ones do not already cover.
    pub abilities: Vec<Ability>,
}

impl Snapshot {
    /// Everything `subject` may do, each with the reason `check` gives; `None` if there is no such subject.
    ///
    /// The questions asked: every action on the tenant, and every action that applies to each object
    /// that exists (roles, users, teams, virtual accounts, stored resources, their models, and whatever the
    /// subject or its teams hold a grant on). A permission allowed on the tenant is allowed on every object
    /// it applies to (by the role, or a team manager's tenant-wide right), so it is not repeated per object.
    pub fn explain(&self, subject: &Subject, now: OffsetDateTime) -> Option<Explanation> {
        let (active, role) = match subject {
            Subject::User(e) => {
                let u = self.user(e.as_str())?;
                (u.user.active, Some(u.user.role.clone()))
            }
            Subject::Team(t) => {
                self.team(t.as_str())?;
                (true, None)
            }
            Subject::VirtualAccount(v) => {
                let va = self.virtual_account(v.as_str())?;
                (va.expires_at.is_none_or(|e| now < e), None)
            }
        };
        let mut abilities = Vec::new();
        let mut tenant_wide = crate::permission::PermSet::EMPTY;
        let tenant = Resource::tenant();
        // `use` on the tenant is an admin's alone (it applies to nothing else there).
        let on_tenant = Permission::ALL.iter().map(|p| Action::Perm(*p)).chain(std::iter::once(Action::Use));
        for action in on_tenant {
            if let Decision::Allowed(reason) = self.check(subject, action, &tenant, now) {
                if let Action::Perm(p) = action {
                    tenant_wide.insert(p);
                }
                abilities.push(Ability { action, resource: tenant.clone(), reason });
            }
        }
        for r in self.objects(subject) {
            for action in actions_on(r.kind) {
                if matches!(action, Action::Perm(p) if tenant_wide.contains(p)) {
                    continue;
                }
                if let Decision::Allowed(reason) = self.check(subject, action, &r, now) {
                    abilities.push(Ability { action, resource: r.clone(), reason });
                }
            }
        }
        Some(Explanation { active, role, abilities })
    }

    /// Every object an ability could be about, each once, in a stable order.
    fn objects(&self, subject: &Subject) -> Vec<Resource> {
        let mut out: Vec<Resource> = Vec::new();
        let mut names = |mut v: Vec<Resource>| {
            v.sort();
            out.extend(v);
        };
        names(self.roles().map(|r| Resource::role(&r.name)).collect());
        names(self.users().map(|u| Resource::user(&u.user.email)).collect());
        names(self.teams().map(|t| Resource::team(&t.name)).collect());
        names(self.virtual_accounts().map(|v| Resource::virtual_account(&v.name)).collect());
        // Resources with their models right after each provider account; then anything the subject (or a
        // team of theirs) holds a grant on that is not stored (a grant is what `check` reads).
        let mut stored: Vec<Resource> = self.resources().all().map(|rec| rec.resource()).collect();
        let mut holders = vec![subject.clone()];
        if let Subject::User(e) = subject {
            if let Some(u) = self.user(e.as_str()) {
                holders.extend(u.member_of.iter().cloned().map(Subject::Team));
            }
        }
        for h in &holders {
            stored.extend(self.grants_of(h).map(|g| g.resource));
        }
        stored.sort();
        stored.dedup();
        for r in stored {
            let models = match self.resources().get(&r).map(|rec| &rec.spec) {
                Some(ResourceSpec::ProviderAccount(p)) => p
                    .models()
                    .iter()
                    .map(|m| Resource::new(ResourceKind::Model, &format!("{}/{}", r.name, m.name)))
                    .collect(),
                Some(
                    ResourceSpec::McpServer(_)
                    | ResourceSpec::McpVirtual(_)
                    | ResourceSpec::Agent(_)
                    | ResourceSpec::GatewayControl(_),
                )
                | None => Vec::new(),
            };
            out.push(r);
            out.extend(models);
        }
        out
    }
}

/// The actions that apply to an object of `kind`: its own permissions, the virtual-account permissions on a
/// team (about the accounts it owns), and `use` on what can be used.
fn actions_on(kind: ResourceKind) -> impl Iterator<Item = Action> {
    let perms = Permission::ALL
        .iter()
        .copied()
        .filter(move |p| p.kind() == kind || (kind == ResourceKind::Team && p.kind() == ResourceKind::VirtualAccount))
        .map(Action::Perm);
    let usable = matches!(kind, ResourceKind::Model | ResourceKind::ProviderAccount | ResourceKind::McpServer);
    perms.chain(usable.then_some(Action::Use))
}
