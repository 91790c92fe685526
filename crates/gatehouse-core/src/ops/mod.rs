//! Admin operations as values. `execute` authorizes each one against the snapshot (with the caller's own
//! permissions and the no-escalation rules), expands it into the changes it makes (cascades included) and
//! applies them to a scratch snapshot. It is pure: the server persists the changes in one transaction and
//! then publishes the scratch snapshot, and the property tests drive the very same function.
//!
//! One module per family of operations, each with its authorization and its plan; `ctx` holds the questions
//! they all ask about the caller.

use time::{Duration, OffsetDateTime};

use crate::change::Change;
use crate::ids::{Email, RoleName, TeamName, TokenId, VaName};
use crate::model::{Action, CollaboratorRole, Grant, Resource, Role, Subject, Team, Token, User, VirtualAccount};
use crate::permission::Permission;
use crate::secret::Secret;
use crate::snapshot::Snapshot;

mod ctx;
mod refusal;
mod resources;
mod roles;
mod teams;
mod users;
mod virtual_accounts;

pub use ctx::Ctx;
use refusal::invalid;
pub use refusal::{AdminOnly, Giving, Missing, NarrowedChange, Outranked, Refusal};
pub use resources::may_put_resource;

/// The longest grace period of a rotation, as docs/access-model.md documents it.
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

/// Every action a collaborator role allows on its resource.
pub fn conferred(role: CollaboratorRole) -> impl Iterator<Item = Action> {
    std::iter::once(Action::Use).chain(Permission::ALL.iter().map(|p| Action::Perm(*p))).filter(move |a| match a {
        Action::Use => role.allows(*a),
        Action::Perm(p) => p.kind() == role.resource_kind() && role.allows(*a),
    })
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
    fn mcp_server(&self, name: &str) -> Option<crate::spec::McpTools> {
        let rec = self.0.resources().get(&crate::model::Resource::new(crate::model::ResourceKind::McpServer, name))?;
        crate::spec::McpTools::of(&rec.spec)
    }
    fn model_is_virtual(&self, account: &str, _model: &str) -> bool {
        let r = Resource::new(crate::model::ResourceKind::ProviderAccount, account);
        matches!(
            self.0.resources().get(&r).map(|rec| &rec.spec),
            Some(crate::resource::ResourceSpec::ProviderAccount(p)) if p.kind() == crate::spec::ProviderKind::VirtualModel
        )
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
    match op {
        Op::PutRole(role) => roles::put(cx, role),
        Op::DeleteRole(name) => roles::delete(cx, name),
        Op::PutUser(user) => users::put(cx, user),
        Op::DeleteUser(email) => users::delete(cx, email),
        Op::SetPassword { email, .. } => users::set_password(cx, email),
        Op::PutTeam(team) => teams::put(cx, team),
        Op::DeleteTeam(name) => teams::delete(cx, name),
        Op::PutVirtualAccount(va) => virtual_accounts::put(cx, va),
        Op::DeleteVirtualAccount(name) => virtual_accounts::delete(cx, name),
        Op::IssueToken(t) => virtual_accounts::issue_token(cx, t),
        Op::RotateVirtualAccount { name, new, grace } => virtual_accounts::rotate(cx, name, new, grace),
        Op::RevokeToken(id) => virtual_accounts::revoke_token(cx, id),
        Op::PutResource(rec) => resources::put(cx, rec),
        Op::DeleteResource(r) => resources::delete(cx, r),
        Op::PutGrant(g) => resources::grant(cx, g, true),
        Op::DeleteGrant(g) => resources::grant(cx, g, false),
    }
}

/// The changes an authorized operation makes, cascades included.
pub fn plan(snap: &Snapshot, op: Op, now: OffsetDateTime) -> Vec<Change> {
    match op {
        Op::PutRole(role) => roles::plan_put(snap, role),
        Op::DeleteRole(n) => vec![Change::DeleteRole(n)],
        Op::PutUser(user) => users::plan_put(snap, user),
        Op::DeleteUser(email) => users::plan_delete(snap, email),
        Op::SetPassword { email, hash } => vec![Change::SetPassword { email, hash }],
        Op::PutTeam(team) => teams::plan_put(snap, team),
        Op::DeleteTeam(name) => teams::plan_delete(snap, name),
        Op::PutVirtualAccount(va) => virtual_accounts::plan_put(snap, va, now),
        Op::DeleteVirtualAccount(name) => virtual_accounts::plan_delete(snap, name),
        Op::IssueToken(t) => vec![Change::PutToken(t)],
        Op::RotateVirtualAccount { name, new, grace } => virtual_accounts::plan_rotate(snap, name, new, grace, now),
        Op::RevokeToken(id) => vec![Change::RevokeToken(id)],
        Op::PutGrant(g) => vec![Change::PutGrant(g)],
        Op::DeleteGrant(g) => vec![Change::DeleteGrant(g)],
        Op::PutResource(rec) => vec![Change::PutResource(rec)],
        Op::DeleteResource(r) => resources::plan_delete(snap, r),
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
