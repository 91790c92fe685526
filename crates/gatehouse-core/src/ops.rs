//! Admin operations as values. `execute` authorizes each one against the snapshot (with the caller's own
//! permissions and the no-escalation rules), expands it into the changes it makes (cascades included) and
//! applies them to a scratch snapshot. It is pure: the server persists the changes in one transaction and
//! then publishes the scratch snapshot, and the property tests drive the very same function.

use std::collections::BTreeSet;
use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::change::Change;
use crate::engine::team_scoped;
use crate::ids::{Email, RoleName, TeamName, TokenId, VaName};
use crate::model::{
    Action, BuiltinRole, CollaboratorRole, Grant, Resource, ResourceKind, Role, Subject, Team, Token, TokenKind,
    TokenOwner, User, VirtualAccount,
};
use crate::permission::{PermSet, Permission};
use crate::secret::Secret;
use crate::snapshot::Snapshot;

/// The longest grace period of a rotation, as documented for the seeds' system.
pub const MAX_GRACE: Duration = Duration::days(365);

#[derive(Clone, Debug)]
pub enum Op {
    /// Create or replace a role.
    PutRole(Role),
    DeleteRole(RoleName),
    /// Create or replace a user.
    PutUser(User),
    DeleteUser(Email),
    SetPassword {
        email: Email,
        hash: Secret<String>,
    },
    PutTeam(Team),
    DeleteTeam(TeamName),
    PutVirtualAccount(VirtualAccount),
    DeleteVirtualAccount(VaName),
    IssueToken(Token),
    /// Issue `new` for a virtual account; its other tokens stop working after `grace`.
    RotateVirtualAccount {
        name: VaName,
        new: Token,
        grace: Duration,
    },
    RevokeToken(TokenId),
    PutGrant(Grant),
    DeleteGrant(Grant),
    /// Create or replace a provider account, MCP server, agent or gateway control (collaborators are grants).
    PutResource(crate::resource::ResourceRecord),
    /// Delete one, with its grants.
    DeleteResource(Resource),
}

/// Why an operation was refused. Each maps to one HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 403: the caller may not do this.
    Forbidden(String),
    /// 404: no such object (or none the caller may see).
    NotFound(String),
    /// 409: the state forbids it (in use, last admin, already exists).
    Conflict(String),
    /// 400: a field is wrong.
    Invalid { field: String, message: String },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Forbidden(m) | Refusal::NotFound(m) | Refusal::Conflict(m) => f.write_str(m),
            Refusal::Invalid { field, message } => write!(f, "{field}: {message}"),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Refusal {
    Refusal::Invalid { field: field.to_owned(), message: message.into() }
}

/// The caller of an operation, resolved from a token.
pub struct Ctx<'a> {
    pub snap: &'a Snapshot,
    pub caller: &'a Subject,
    pub now: OffsetDateTime,
    /// Resources this caller created earlier in the same batch: while creating one, its creator may name
    /// themself a collaborator (the seed's MCP FAQ).
    pub created: &'a std::collections::HashSet<Resource>,
}

impl Ctx<'_> {
    fn caller_email(&self) -> Option<&Email> {
        match self.caller {
            Subject::User(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.caller_email().is_some_and(|e| self.snap.is_admin(e))
    }

    fn perms(&self) -> PermSet {
        self.caller_email().map(|e| self.snap.tenant_permissions(e)).unwrap_or_default()
    }

    pub(crate) fn allows(&self, action: Action, r: &Resource) -> bool {
        self.snap.verdict(self.caller, action, r, self.now).is_allowed()
    }

    fn require(&self, p: Permission, r: &Resource) -> Result<(), Refusal> {
        match self.snap.check(self.caller, Action::Perm(p), r, self.now) {
            crate::decision::Decision::Allowed(_) => Ok(()),
            crate::decision::Decision::Denied(d) => {
                Err(Refusal::Forbidden(format!("{} may not {p} on {r}: {d}", self.caller)))
            }
        }
    }

    /// `require` for a put that creates or changes, by whether the object exists. A caller who may do
    /// neither gets the same refusal either way, so it does not tell whether the object exists.
    fn require_put(
        &self,
        exists: bool,
        create: (Permission, &Resource),
        manage: (Permission, &Resource),
    ) -> Result<(), Refusal> {
        let (wanted, other) = if exists { (manage, create) } else { (create, manage) };
        match self.require(wanted.0, wanted.1) {
            Ok(()) => Ok(()),
            Err(_) if !self.allows(Action::Perm(other.0), other.1) => {
                Err(Refusal::Forbidden(format!("{} may not {} nor {} {}", self.caller, create.0, manage.0, manage.1)))
            }
            Err(e) => Err(e),
        }
    }

    /// Outside admin, nobody hands out permissions they do not hold themselves.
    fn require_holds(&self, wanted: PermSet, what: &str) -> Result<(), Refusal> {
        if self.is_admin() {
            return Ok(());
        }
        let missing = wanted.minus(self.perms());
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Forbidden(format!("{what} would give permissions you do not hold: {}", missing.ids())))
        }
    }

    /// Outside admin, nobody changes a user more powerful than themself (an admin, or one whose role has
    /// permissions the caller lacks): that would be a way to act as them.
    fn require_can_manage_user(&self, target: &Email) -> Result<(), Refusal> {
        if self.is_admin() || self.caller_email() == Some(target) {
            return Ok(());
        }
        let Some(u) = self.snap.user(target.as_str()) else { return Ok(()) };
        let role = self.snap.role(u.user.role.as_str());
        if role.is_some_and(|r| r.is_admin()) {
            return Err(Refusal::Forbidden(format!("only an admin can change the admin {target}")));
        }
        let theirs = role.map(|r| r.permissions).unwrap_or_default();
        let missing = theirs.minus(self.perms());
        if !missing.is_empty() {
            return Err(Refusal::Forbidden(format!(
                "{target} holds permissions you do not ({}), so you may not change them",
                missing.ids()
            )));
        }
        // Their collaborator grants, held directly or through a team, count as much as their role.
        let what = format!("changing {target}, who");
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
                    return Err(Refusal::Forbidden(format!(
                        "{target} may use {model}, which you may not; you may not change them"
                    )));
                }
            }
        }
        // So do the team-manager rights on the teams they manage.
        let tm = self.snap.role(BuiltinRole::TeamManager.name()).map(|r| r.permissions).unwrap_or_default();
        for team in &u.manages {
            for p in tm.iter() {
                let scope = if team_scoped(p.kind()) { Resource::team(team) } else { Resource::tenant() };
                if !self.allows(Action::Perm(p), &scope) {
                    return Err(Refusal::Forbidden(format!(
                        "{target} manages team {team} and so holds {p} there, which you do not; you may not change them"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The actions a collaborator role confers, each of which the caller must hold to give it.
    fn require_holds_grant(&self, role: CollaboratorRole, r: &Resource, what: &str) -> Result<(), Refusal> {
        for a in conferred(role) {
            if !self.allows(a, r) {
                return Err(Refusal::Forbidden(format!(
                    "{what} would give (or holds) {role} on {r}, and you may not {a} on it yourself"
                )));
            }
        }
        Ok(())
    }
}

/// Every action a collaborator role allows on its resource.
pub fn conferred(role: CollaboratorRole) -> impl Iterator<Item = Action> {
    std::iter::once(Action::Use).chain(Permission::ALL.iter().map(|p| Action::Perm(*p))).filter(move |a| match a {
        Action::Use => role.allows(*a),
        Action::Perm(p) => p.kind() == role.resource_kind() && role.allows(*a),
    })
}

fn manage_permission(kind: ResourceKind) -> Option<Permission> {
    match kind {
        ResourceKind::ProviderAccount => Some(Permission::ProviderAccountManage),
        ResourceKind::McpServer => Some(Permission::McpServerManage),
        ResourceKind::Agent => Some(Permission::AgentManage),
        _ => None,
    }
}

/// The create, manage and delete permissions of a kind of resource. Gateway controls have one permission
/// for all writes.
fn resource_permissions(kind: ResourceKind) -> (Permission, Permission, Permission) {
    use Permission::*;
    match kind {
        ResourceKind::ProviderAccount => (ProviderAccountCreate, ProviderAccountManage, ProviderAccountDelete),
        ResourceKind::McpServer => (McpServerCreate, McpServerManage, McpServerDelete),
        ResourceKind::Agent => (AgentCreate, AgentManage, AgentDelete),
        _ => (GatewayControlsManage, GatewayControlsManage, GatewayControlsManage),
    }
}

/// Validation's view of the snapshot.
pub struct SnapshotLookup<'a>(pub &'a Snapshot);

impl crate::spec::Lookup for SnapshotLookup<'_> {
    fn subject_exists(&self, s: &Subject) -> bool {
        subject_exists(self.0, s)
    }
    fn model_exists(&self, account: &str, model: &str) -> bool {
        self.0.resources().model(&format!("{account}/{model}")).is_some()
    }
}

fn subject_exists(s: &Snapshot, subject: &Subject) -> bool {
    match subject {
        Subject::User(e) => s.user(e.as_str()).is_some(),
        Subject::Team(t) => s.team(t.as_str()).is_some(),
        Subject::VirtualAccount(v) => s.virtual_account(v.as_str()).is_some(),
    }
}

/// Checks one operation: permissions first, so a refused caller learns nothing about the state.
pub fn authorize(cx: &Ctx<'_>, op: &Op) -> Result<(), Refusal> {
    let snap = cx.snap;
    match op {
        Op::PutRole(role) => {
            cx.require(Permission::RoleManage, &Resource::role(&role.name))?;
            let old = snap.role(role.name.as_str());
            if old.is_some_and(|r| r.is_admin())
                || (old.is_none() && BuiltinRole::from_name(role.name.as_str()).is_some())
            {
                return Err(Refusal::Forbidden(format!("the built-in role {} cannot be edited", role.name)));
            }
            if old.is_none() && role.permissions.is_empty() {
                return Err(invalid("permissions", "must name at least one permission"));
            }
            if old.is_some_and(|r| r.builtin.is_none()) && role.permissions.is_empty() {
                return Err(invalid("permissions", "must name at least one permission"));
            }
            let before = old.map(|r| r.permissions).unwrap_or_default();
            cx.require_holds(role.permissions.minus(before), &format!("editing role {}", role.name))
        }
        Op::DeleteRole(name) => {
            cx.require(Permission::RoleManage, &Resource::role(name))?;
            let Some(role) = snap.role(name.as_str()) else {
                return Err(Refusal::NotFound(format!("no role named {name}")));
            };
            if role.builtin.is_some() {
                return Err(Refusal::Forbidden(format!("the built-in role {name} cannot be deleted")));
            }
            match snap.role_holders(name.as_str()) {
                0 => Ok(()),
                n => Err(Refusal::Conflict(format!(
                    "role {name} is held by {n} user{}; give them another role first",
                    if n == 1 { "" } else { "s" }
                ))),
            }
        }
        Op::PutUser(user) => {
            let old = snap.user(user.email.as_str()).map(|u| u.user.clone());
            let self_edit = cx.caller_email() == Some(&user.email)
                && old.as_ref().is_some_and(|o| o.role == user.role && o.active == user.active);
            if !self_edit {
                cx.require(Permission::UserManage, &Resource::user(&user.email))?;
                cx.require_can_manage_user(&user.email)?;
            }
            let Some(role) = snap.role(user.role.as_str()) else {
                return Err(invalid("role", format!("no role named {}", user.role)));
            };
            if role.builtin == Some(BuiltinRole::TeamManager) {
                return Err(invalid("role", "team-manager is not assigned: it applies to every manager of a team"));
            }
            if old.as_ref().is_none_or(|o| o.role != user.role) {
                if role.is_admin() && !cx.is_admin() {
                    return Err(Refusal::Forbidden("only an admin can make an admin".into()));
                }
                cx.require_holds(role.permissions, &format!("giving {} the role {}", user.email, user.role))?;
            }
            let was_admin = snap.is_admin(&user.email);
            let stays_admin = user.active && role.is_admin();
            if was_admin && !stays_admin && snap.active_admin_count() <= 1 {
                return Err(Refusal::Conflict(format!(
                    "{} is the last active admin; make another admin first",
                    user.email
                )));
            }
            Ok(())
        }
        Op::DeleteUser(email) => {
            cx.require(Permission::UserManage, &Resource::user(email))?;
            if snap.user(email.as_str()).is_none() {
                return Err(Refusal::NotFound(format!("no user {email}")));
            }
            cx.require_can_manage_user(email)?;
            if snap.is_admin(email) && snap.active_admin_count() <= 1 {
                return Err(Refusal::Conflict(format!("{email} is the last active admin; make another admin first")));
            }
            Ok(())
        }
        Op::SetPassword { email, .. } => {
            if cx.caller_email() != Some(email) {
                cx.require(Permission::UserManage, &Resource::user(email))?;
                cx.require_can_manage_user(email)?;
            }
            if snap.user(email.as_str()).is_none() {
                return Err(Refusal::NotFound(format!("no user {email}")));
            }
            Ok(())
        }
        Op::PutTeam(team) => {
            let old = snap.team(team.name.as_str());
            let here = Resource::team(&team.name);
            cx.require_put(old.is_some(), (Permission::TeamCreate, &here), (Permission::TeamManage, &here))?;
            if !team.managers.is_subset(&team.members) {
                return Err(invalid("managers", "every manager must also be a member"));
            }
            if !cx.is_admin() {
                let empty = BTreeSet::new();
                let (old_members, old_managers) = old.map_or((&empty, &empty), |t| (&t.members, &t.managers));
                if team.members.difference(old_members).next().is_some() {
                    let holder = Subject::Team(team.name.clone());
                    for g in snap.grants_of(&holder) {
                        cx.require_holds_grant(g.role, &g.resource, &format!("adding members to team {}", team.name))?;
                    }
                }
                if team.managers.difference(old_managers).next().is_some() {
                    let tm = snap.role(BuiltinRole::TeamManager.name()).map(|r| r.permissions).unwrap_or_default();
                    for p in tm.iter() {
                        let scope = if team_scoped(p.kind()) {
                            // A team being created owns nothing yet, so managing it confers nothing yet.
                            if old.is_none() {
                                continue;
                            }
                            Resource::team(&team.name)
                        } else {
                            Resource::tenant()
                        };
                        if !cx.allows(Action::Perm(p), &scope) {
                            return Err(Refusal::Forbidden(format!(
                                "making someone a manager of team {} would give them {p} through the team-manager role, which you do not hold",
                                team.name
                            )));
                        }
                    }
                }
            }
            if let Some(e) = team.members.iter().find(|e| snap.user(e.as_str()).is_none()) {
                return Err(invalid("members", format!("no user {e}")));
            }
            Ok(())
        }
        Op::DeleteTeam(name) => {
            cx.require(Permission::TeamDelete, &Resource::team(name))?;
            if snap.team(name.as_str()).is_none() {
                return Err(Refusal::NotFound(format!("no team {name}")));
            }
            match snap.team_virtual_accounts(name.as_str()).count() {
                0 => Ok(()),
                n => Err(Refusal::Conflict(format!(
                    "team {name} owns {n} virtual account{}; delete them or give them another owner team first",
                    if n == 1 { "" } else { "s" }
                ))),
            }
        }
        Op::PutVirtualAccount(va) => {
            let old = snap.virtual_account(va.name.as_str());
            let (owner, here) = (Resource::team(&va.owner_team), Resource::virtual_account(&va.name));
            let create = (Permission::VirtualAccountCreate, &owner);
            cx.require_put(old.is_some(), create, (Permission::VirtualAccountManage, &here))?;
            if old.is_some_and(|o| o.owner_team != va.owner_team) {
                cx.require(Permission::VirtualAccountCreate, &owner)?;
                // The new team's managers get the team-manager rights on it; the caller must hold them.
                if !cx.is_admin() {
                    let tm = snap.role(BuiltinRole::TeamManager.name()).map(|r| r.permissions).unwrap_or_default();
                    for p in tm.iter().filter(|p| p.kind() == ResourceKind::VirtualAccount) {
                        cx.require(p, &here)?;
                    }
                }
            }
            if snap.team(va.owner_team.as_str()).is_none() {
                return Err(invalid("owner_team", format!("no team {}", va.owner_team)));
            }
            if va.expires_at.is_some_and(|e| e <= cx.now) && old.is_none_or(|o| o.expires_at != va.expires_at) {
                return Err(invalid("expires_at", "must be in the future"));
            }
            Ok(())
        }
        Op::DeleteVirtualAccount(name) => {
            cx.require(Permission::VirtualAccountDelete, &Resource::virtual_account(name))?;
            if snap.virtual_account(name.as_str()).is_none() {
                return Err(Refusal::NotFound(format!("no virtual account {name}")));
            }
            Ok(())
        }
        Op::IssueToken(t) => {
            if t.expires_at.is_some_and(|e| e <= cx.now) {
                return Err(invalid("expires_at", "must be in the future"));
            }
            match (&t.owner, t.kind) {
                (TokenOwner::User(e), TokenKind::Pat | TokenKind::Session) => {
                    if cx.caller_email() != Some(e) {
                        return Err(Refusal::Forbidden(
                            "personal access tokens can only be created for yourself".into(),
                        ));
                    }
                    // Within a batch the caller may have just deactivated or deleted themself.
                    if !snap.user(e.as_str()).is_some_and(|u| u.user.active) {
                        return Err(Refusal::Forbidden(format!("{e} is not an active user")));
                    }
                    Ok(())
                }
                (TokenOwner::VirtualAccount(v), TokenKind::VirtualAccount) => require_va_tokens(cx, v),
                _ => Err(invalid("kind", "token kind does not match its owner")),
            }
        }
        Op::RotateVirtualAccount { name, new, grace } => {
            require_va_tokens(cx, name)?;
            if new.owner != TokenOwner::VirtualAccount(name.clone()) || new.kind != TokenKind::VirtualAccount {
                return Err(invalid("token", "rotation must issue a token of the same virtual account"));
            }
            if grace.is_negative() || *grace > MAX_GRACE {
                return Err(invalid("grace_period_seconds", "must be between 0 and 31536000 (365 days)"));
            }
            Ok(())
        }
        Op::RevokeToken(id) => {
            let not_found = || Refusal::NotFound(format!("no token {id}"));
            let token = snap.token(id.as_str()).ok_or_else(not_found)?;
            match &token.owner {
                TokenOwner::User(e) if cx.caller_email() == Some(e) => Ok(()),
                // Someone else's token: an admin, or a user manager who may manage that user. Anyone else
                // is told it does not exist, so token ids cannot be probed.
                TokenOwner::User(e) => {
                    if cx.require(Permission::UserManage, &Resource::user(e)).is_err() {
                        return Err(not_found());
                    }
                    cx.require_can_manage_user(e)
                }
                TokenOwner::VirtualAccount(v) => {
                    if !cx.allows(Action::Perm(Permission::VirtualAccountRead), &Resource::virtual_account(v)) {
                        return Err(not_found());
                    }
                    cx.require(Permission::VirtualAccountManage, &Resource::virtual_account(v))
                }
            }
        }
        Op::PutResource(rec) => {
            let r = rec.resource();
            require_put_resource(cx, &r)?;
            rec.spec
                .validate(&SnapshotLookup(snap))
                .map_err(|e| Refusal::Invalid { field: e.field, message: e.message })?;
            // Only an object that names where its credentials go may hold any (see `destination`).
            if rec.sealed_auth.is_some() && rec.spec.destination().is_none() {
                return Err(invalid("auth", format!("a {} holds no credentials", r.kind.as_str())));
            }
            if let Some(old) = snap.resources().get(&r) {
                // Stored credentials never follow a new destination: whoever moves it sends them again.
                if let Some(what) = old.spec.moved_destination(&rec.spec) {
                    if old.sealed_auth.is_some() && rec.sealed_auth == old.sealed_auth {
                        return Err(invalid(
                            "auth",
                            format!(
                                "is required when {what} changes: stored credentials are not sent to a new destination"
                            ),
                        ));
                    }
                }
            }
            if let crate::resource::ResourceSpec::ProviderAccount(p) = &rec.spec {
                // Models a gateway control still names cannot go.
                if let Some(old) = snap.resources().get(&r) {
                    if let crate::resource::ResourceSpec::ProviderAccount(before) = &old.spec {
                        crate::narrowing::check_account_edit(cx, before, p)?;
                        for m in before.models().iter().filter(|m| p.model(m.name.as_str()).is_none()) {
                            let users = snap.resources().controls_naming(&r.name, Some(m.name.as_str()));
                            if let Some(c) = users.first() {
                                return Err(Refusal::Conflict(format!(
                                    "model {}/{} is named by gateway control {c}; change the control first",
                                    r.name, m.name
                                )));
                            }
                        }
                    }
                }
            }
            Ok(())
        }
        Op::DeleteResource(r) => {
            let (_, _, delete) = resource_permissions(r.kind);
            cx.require(delete, r)?;
            if snap.resources().get(r).is_none() {
                return Err(Refusal::NotFound(format!("no {r}")));
            }
            if r.kind == ResourceKind::ProviderAccount {
                if let Some(c) = snap.resources().controls_naming(&r.name, None).first() {
                    return Err(Refusal::Conflict(format!(
                        "{r} has models named by gateway control {c}; change the control first"
                    )));
                }
            }
            Ok(())
        }
        Op::PutGrant(g) | Op::DeleteGrant(g) => {
            let Some(manage) = manage_permission(g.resource.kind) else {
                return Err(invalid("resource", format!("{} has no collaborators", g.resource)));
            };
            // "User can add themself as MCP Server Manager using collaborator ... while creating it first time."
            let creator_naming_self = matches!(op, Op::PutGrant(_))
                && &g.subject == cx.caller
                && cx.created.contains(&g.resource)
                && g.role.resource_kind() == g.resource.kind;
            if creator_naming_self {
                return Ok(());
            }
            // Every question about the caller's own rights before any about the state (does the resource,
            // does the subject exist), so a refused caller learns nothing.
            cx.require(manage, &g.resource)?;
            if g.role.resource_kind() != g.resource.kind {
                return Err(invalid("role", format!("{} is not a role on {}", g.role, g.resource)));
            }
            if matches!(op, Op::PutGrant(_)) && !cx.is_admin() {
                cx.require_holds_grant(g.role, &g.resource, &format!("granting {}", g.subject))?;
            }
            if snap.resources().get(&g.resource).is_none() {
                return Err(Refusal::NotFound(format!("no {}", g.resource)));
            }
            if !subject_exists(snap, &g.subject) {
                return Err(invalid("subject", format!("no such subject {}", g.subject)));
            }
            Ok(())
        }
    }
}

/// The right to create `r` (if it does not exist) or to change it: what a put of it asks first, before
/// anything about the state is said.
fn require_put_resource(cx: &Ctx<'_>, r: &Resource) -> Result<(), Refusal> {
    let (create, manage, _) = resource_permissions(r.kind);
    cx.require_put(cx.snap.resources().get(r).is_some(), (create, &Resource::tenant()), (manage, r))
}

/// `require_put_resource` for a server that validates a body against the state before it builds the
/// operations: it asks this first, so a refused caller learns nothing from the validation.
pub fn may_put_resource(snap: &Snapshot, caller: &Subject, r: &Resource, now: OffsetDateTime) -> Result<(), Refusal> {
    let created = std::collections::HashSet::new();
    require_put_resource(&Ctx { snap, caller, now, created: &created }, r)
}

fn require_va_tokens(cx: &Ctx<'_>, v: &VaName) -> Result<(), Refusal> {
    // "Manage Virtual Account ... also includes permission to get the token" (the seed's FAQ).
    cx.require(Permission::VirtualAccountManage, &Resource::virtual_account(v))?;
    match cx.snap.virtual_account(v.as_str()) {
        None => Err(Refusal::NotFound(format!("no virtual account {v}"))),
        Some(va) if va.expires_at.is_some_and(|e| e <= cx.now) => {
            Err(Refusal::Conflict(format!("virtual account {v} has expired")))
        }
        Some(_) => Ok(()),
    }
}

/// The changes an authorized operation makes, cascades included.
pub fn plan(snap: &Snapshot, op: Op, now: OffsetDateTime) -> Vec<Change> {
    match op {
        Op::PutRole(mut role) => {
            role.builtin = snap.role(role.name.as_str()).and_then(|r| r.builtin);
            vec![Change::PutRole(role)]
        }
        Op::DeleteRole(n) => vec![Change::DeleteRole(n)],
        Op::PutUser(user) => {
            let mut out = Vec::new();
            let was_active = snap.user(user.email.as_str()).is_some_and(|u| u.user.active);
            if was_active && !user.active {
                // Deactivation ends every token and session at once, for good.
                let owner = TokenOwner::User(user.email.clone());
                out.extend(snap.tokens_of(&owner).map(|t| Change::RevokeToken(t.id.clone())));
            }
            // A list naming someone who does not exist names a predecessor (deleted before deletions
            // cleaned lists): the newcomer inherits nothing. The same for teams and virtual accounts.
            if snap.user(user.email.as_str()).is_none() {
                out.extend(crate::narrowing::forget(snap, &Subject::User(user.email.clone())));
            }
            out.push(Change::PutUser(user));
            out
        }
        Op::DeleteUser(email) => {
            // The user's own membership index, not a scan of every team: it lists exactly the teams whose
            // members include them.
            let teams = snap.user(email.as_str()).into_iter().flat_map(|u| u.member_of.iter());
            let mut out: Vec<Change> = teams
                .filter_map(|name| snap.team(name.as_str()))
                .map(|t| {
                    let mut t = (**t).clone();
                    t.members.remove(&email);
                    t.managers.remove(&email);
                    Change::PutTeam(t)
                })
                .collect();
            let owner = TokenOwner::User(email.clone());
            out.extend(snap.tokens_of(&owner).map(|t| Change::RevokeToken(t.id.clone())));
            let subject = Subject::User(email.clone());
            out.extend(snap.grants_of(&subject).map(Change::DeleteGrant));
            out.extend(crate::narrowing::forget(snap, &subject));
            out.push(Change::DeleteUser(email));
            out
        }
        Op::SetPassword { email, hash } => vec![Change::SetPassword { email, hash }],
        Op::PutTeam(team) => {
            let mut out = Vec::new();
            if snap.team(team.name.as_str()).is_none() {
                out.extend(crate::narrowing::forget(snap, &Subject::Team(team.name.clone())));
            }
            out.push(Change::PutTeam(team));
            out
        }
        Op::DeleteTeam(name) => {
            let subject = Subject::Team(name.clone());
            let mut out: Vec<Change> = snap.grants_of(&subject).map(Change::DeleteGrant).collect();
            out.extend(crate::narrowing::forget(snap, &subject));
            out.push(Change::DeleteTeam(name));
            out
        }
        Op::PutVirtualAccount(va) => {
            let mut out = Vec::new();
            // Expiry ends the tokens for good, as deactivation does: clearing or moving the expiry of an
            // account that has expired renews the account, not the tokens it had.
            let expired = snap
                .virtual_account(va.name.as_str())
                .is_some_and(|o| o.expires_at.is_some_and(|e| e <= now) && o.expires_at != va.expires_at);
            if expired {
                let owner = TokenOwner::VirtualAccount(va.name.clone());
                out.extend(snap.tokens_of(&owner).map(|t| Change::RevokeToken(t.id.clone())));
            }
            if snap.virtual_account(va.name.as_str()).is_none() {
                out.extend(crate::narrowing::forget(snap, &Subject::VirtualAccount(va.name.clone())));
            }
            out.push(Change::PutVirtualAccount(va));
            out
        }
        Op::DeleteVirtualAccount(name) => {
            let owner = TokenOwner::VirtualAccount(name.clone());
            let mut out: Vec<Change> = snap.tokens_of(&owner).map(|t| Change::RevokeToken(t.id.clone())).collect();
            let subject = Subject::VirtualAccount(name.clone());
            out.extend(snap.grants_of(&subject).map(Change::DeleteGrant));
            out.extend(crate::narrowing::forget(snap, &subject));
            out.push(Change::DeleteVirtualAccount(name));
            out
        }
        Op::IssueToken(t) => vec![Change::PutToken(t)],
        Op::RotateVirtualAccount { name, new, grace } => {
            let until = now + grace;
            let owner = TokenOwner::VirtualAccount(name);
            let mut out: Vec<Change> = snap
                .tokens_of(&owner)
                .filter(|t| t.is_live(now) && t.expires_at.is_none_or(|e| e > until))
                .map(|t| Change::SetTokenExpiry { id: t.id.clone(), expires_at: Some(until) })
                .collect();
            out.push(Change::PutToken(new));
            out
        }
        Op::RevokeToken(id) => vec![Change::RevokeToken(id)],
        Op::PutGrant(g) => vec![Change::PutGrant(g)],
        Op::DeleteGrant(g) => vec![Change::DeleteGrant(g)],
        Op::PutResource(rec) => vec![Change::PutResource(rec)],
        Op::DeleteResource(r) => {
            let mut out: Vec<Change> = snap.grants_on(&r).map(Change::DeleteGrant).collect();
            out.push(Change::DeleteResource(r));
            out
        }
    }
}

/// A refused operation within a batch: which one, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRefusal {
    pub index: usize,
    pub refusal: Refusal,
}

/// Authorizes and plans a batch in order, each operation seeing the ones before it; all or nothing.
pub fn execute(
    snap: &Snapshot,
    caller: &Subject,
    ops: Vec<Op>,
    now: OffsetDateTime,
) -> Result<(Snapshot, Vec<Change>), BatchRefusal> {
    let mut scratch = snap.clone();
    let mut changes = Vec::new();
    let mut created = std::collections::HashSet::new();
    for (index, op) in ops.into_iter().enumerate() {
        let cx = Ctx { snap: &scratch, caller, now, created: &created };
        authorize(&cx, &op).map_err(|refusal| BatchRefusal { index, refusal })?;
        let watch = crate::narrowing::watch(&cx, &op);
        if let Op::PutResource(rec) = &op {
            let r = rec.resource();
            if scratch.resources().get(&r).is_none() {
                created.insert(r);
            }
        }
        let planned = plan(&scratch, op, now);
        for c in &planned {
            scratch.apply(c);
        }
        // Checked on the state after the operation, so every way past a list is covered at once (a refusal
        // drops the scratch state with the whole batch).
        if let Some(w) = &watch {
            crate::narrowing::check_gains(w, &scratch, now).map_err(|refusal| BatchRefusal { index, refusal })?;
        }
        changes.extend(planned);
    }
    Ok((scratch, changes))
}
