#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property tests of the authorization core.
//!
//! (a) `Snapshot::check` against a deliberately naive reference evaluator written straight from the rules,
//!     over random worlds and random requests.
//! (b) No privilege escalation: random operations by a non-admin caller never give anybody an access the
//!     caller did not have, and incremental application of changes equals a rebuild from scratch.
//! (c) Plain scenarios from docs/access-model.md's FAQ, at the engine level.

use std::collections::BTreeSet;

use gatehouse_core::ops::{execute, Op};
use gatehouse_core::resource::{ResourceRecord, ResourceSpec};
use gatehouse_core::snapshot::{Snapshot, World};
use gatehouse_core::spec::{ProviderAccountSpec, ProviderKind};
use gatehouse_core::token::{mint, AuthError, TokenEntropy};
use gatehouse_core::{
    Action, Allow, BuiltinRole, CollaboratorRole, Decision, Email, Grant, PermSet, Permission, Resource, ResourceKind,
    Role, RoleName, Secret, Subject, Team, TeamName, TokenId, TokenKind, TokenOwner, User, VaName, VirtualAccount,
};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

// ---------------------------------------------------------------------------------------------------------
// Names and the fixed part of the resource universe
// ---------------------------------------------------------------------------------------------------------

const PROVIDER_ACCOUNTS: [&str; 3] = ["pa-0", "pa-1", "pa-2"];
const MCP_SERVERS: [&str; 2] = ["mcp-0", "mcp-1"];
const AGENTS: [&str; 2] = ["agent-0", "agent-1"];
const MODELS_PER_ACCOUNT: usize = 2;

fn email(s: &str) -> Email {
    Email::new(s).unwrap()
}
fn user_email(i: usize) -> Email {
    email(&format!("u{i}@example.com"))
}
fn team_name(s: &str) -> TeamName {
    TeamName::new(s).unwrap()
}
fn va_name(s: &str) -> VaName {
    VaName::new(s).unwrap()
}
fn role_name(s: &str) -> RoleName {
    RoleName::new(s).unwrap()
}
fn res(kind: ResourceKind, name: &str) -> Resource {
    Resource::new(kind, name)
}

/// A permission set from the low 60 bits of a mask, in catalogue order.
fn perms_from_mask(mask: u64) -> PermSet {
    Permission::ALL.iter().enumerate().filter(|(i, _)| (mask >> i) & 1 == 1).map(|(_, p)| *p).collect()
}

fn perm_set(ps: &[Permission]) -> PermSet {
    ps.iter().copied().collect()
}

fn custom_role(name: &str, permissions: PermSet) -> Role {
    Role {
        name: role_name(name),
        display_name: name.to_owned(),
        description: String::new(),
        permissions,
        builtin: None,
    }
}

fn user(e: &Email, role: &str, active: bool) -> User {
    User { email: e.clone(), display_name: e.to_string(), role: role_name(role), active }
}

fn team(name: &str, members: &[&Email], managers: &[&Email]) -> Team {
    Team {
        name: team_name(name),
        description: String::new(),
        members: members.iter().map(|e| (*e).clone()).collect(),
        managers: managers.iter().map(|e| (*e).clone()).collect(),
    }
}

fn va(name: &str, owner: &str, expires_at: Option<OffsetDateTime>) -> VirtualAccount {
    VirtualAccount { name: va_name(name), owner_team: team_name(owner), description: String::new(), expires_at }
}

fn entropy(n: u64) -> TokenEntropy {
    let mut id = [0u8; 8];
    id.copy_from_slice(&n.to_be_bytes());
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    TokenEntropy { id, secret }
}

/// Every action: each permission, and `use`.
fn all_actions() -> Vec<Action> {
    Permission::ALL.iter().map(|p| Action::Perm(*p)).chain(std::iter::once(Action::Use)).collect()
}

/// Cases per property: the given default, or `PROPTEST_CASES` when set (for longer runs).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------------------
// Random worlds
// ---------------------------------------------------------------------------------------------------------

/// A world as plain numbers, so that proptest can shrink it; indices are taken modulo the list they pick from.
#[derive(Clone, Debug)]
struct WorldSpec {
    member_perms: u64,
    team_manager_perms: u64,
    customs: Vec<u64>,
    /// (role selector: 0 admin, 1 member, 2.. custom; active)
    users: Vec<(u8, bool)>,
    /// members of each team: (user index, is also a manager)
    teams: Vec<Vec<(u8, bool)>>,
    /// (owner team index, expiry in hours relative to NOW)
    vas: Vec<(u8, Option<i8>)>,
    /// (resource index, role selector, subject kind, subject index)
    grants: Vec<(u8, u8, u8, u8)>,
    /// (owner kind, owner index) of tokens, used only by the operations test
    tokens: Vec<(bool, u8)>,
    /// For each provider account and model slot: whether the model is configured, and if so an optional
    /// `authorized_subjects` list of (subject kind, index).
    models: Vec<ModelSlot>,
}

/// Whether a model slot is configured, and its optional narrowing list of (subject kind, index).
type ModelSlot = (bool, Option<Vec<(u8, u8)>>);

/// A sparse-ish permission mask (about one bit in four).
fn sparse_mask() -> impl Strategy<Value = u64> {
    (any::<u64>(), any::<u64>()).prop_map(|(a, b)| a & b)
}

/// A permission mask of either density.
fn mixed_mask() -> impl Strategy<Value = u64> {
    prop_oneof![sparse_mask(), any::<u64>()]
}

fn world_spec(max_users: usize, mask: fn() -> BoxedStrategy<u64>) -> impl Strategy<Value = WorldSpec> {
    (
        mask(),
        mask(),
        prop::collection::vec(mask(), 0..=4),
        prop::collection::vec((any::<u8>(), prop::bool::weighted(0.8)), 1..=max_users),
        prop::collection::vec(prop::collection::vec((any::<u8>(), prop::bool::weighted(0.5)), 0..=5), 0..=5),
        prop::collection::vec((any::<u8>(), prop::option::weighted(0.4, -3i8..=3)), 0..=4),
        prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()), 0..=30),
        prop::collection::vec((any::<bool>(), any::<u8>()), 0..=4),
        prop::collection::vec(
            (
                prop::bool::weighted(0.8),
                prop::option::weighted(0.3, prop::collection::vec((any::<u8>(), any::<u8>()), 0..=3)),
            ),
            PROVIDER_ACCOUNTS.len() * MODELS_PER_ACCOUNT,
        ),
    )
        .prop_map(|(member_perms, team_manager_perms, customs, users, teams, vas, grants, tokens, models)| {
            WorldSpec { member_perms, team_manager_perms, customs, users, teams, vas, grants, tokens, models }
        })
}

fn grant_resources() -> Vec<Resource> {
    PROVIDER_ACCOUNTS
        .iter()
        .map(|n| res(ResourceKind::ProviderAccount, n))
        .chain(MCP_SERVERS.iter().map(|n| res(ResourceKind::McpServer, n)))
        .chain(AGENTS.iter().map(|n| res(ResourceKind::Agent, n)))
        .collect()
}

/// Collaborator roles given on a kind of resource.
fn roles_for(kind: ResourceKind) -> Vec<CollaboratorRole> {
    CollaboratorRole::ALL.into_iter().filter(|r| r.resource_kind() == kind).collect()
}

fn build_world(spec: &WorldSpec) -> World {
    let mut roles = vec![BuiltinRole::Admin.default_role()];
    let mut member = BuiltinRole::Member.default_role();
    member.permissions = perms_from_mask(spec.member_perms);
    roles.push(member);
    let mut tm = BuiltinRole::TeamManager.default_role();
    tm.permissions = perms_from_mask(spec.team_manager_perms);
    roles.push(tm);
    for (i, m) in spec.customs.iter().enumerate() {
        roles.push(custom_role(&format!("custom-{i}"), perms_from_mask(*m)));
    }
    let assignable: Vec<RoleName> =
        roles.iter().filter(|r| r.builtin != Some(BuiltinRole::TeamManager)).map(|r| r.name.clone()).collect();

    let users: Vec<User> = spec
        .users
        .iter()
        .enumerate()
        .map(|(i, (sel, active))| User {
            email: user_email(i),
            display_name: format!("User {i}"),
            role: assignable[*sel as usize % assignable.len()].clone(),
            active: *active,
        })
        .collect();

    let teams: Vec<Team> = spec
        .teams
        .iter()
        .enumerate()
        .map(|(i, ms)| {
            let mut t = Team {
                name: team_name(&format!("team-{i}")),
                description: String::new(),
                managers: BTreeSet::new(),
                members: BTreeSet::new(),
            };
            for (u, mgr) in ms {
                let e = users[*u as usize % users.len()].email.clone();
                t.members.insert(e.clone());
                if *mgr {
                    t.managers.insert(e);
                }
            }
            t
        })
        .collect();

    let virtual_accounts: Vec<VirtualAccount> = if teams.is_empty() {
        Vec::new()
    } else {
        spec.vas
            .iter()
            .enumerate()
            .map(|(i, (owner, exp))| VirtualAccount {
                name: va_name(&format!("va-{i}")),
                owner_team: teams[*owner as usize % teams.len()].name.clone(),
                description: String::new(),
                expires_at: exp.map(|h| NOW + Duration::hours(i64::from(h))),
            })
            .collect()
    };

    let subjects_of_kind = |k: u8| -> Vec<Subject> {
        match k % 3 {
            0 => users.iter().map(|u| Subject::User(u.email.clone())).collect(),
            1 => teams.iter().map(|t| Subject::Team(t.name.clone())).collect(),
            _ => virtual_accounts.iter().map(|v| Subject::VirtualAccount(v.name.clone())).collect(),
        }
    };
    let resources = grant_resources();
    let mut grants: Vec<Grant> = Vec::new();
    for (r, role, sk, si) in &spec.grants {
        let resource = resources[*r as usize % resources.len()].clone();
        let choices = roles_for(resource.kind);
        let role = choices[*role as usize % choices.len()];
        let mut subjects = subjects_of_kind(*sk);
        if subjects.is_empty() {
            subjects = subjects_of_kind(0);
        }
        let subject = subjects[*si as usize % subjects.len()].clone();
        // One role per (resource, subject): the snapshot keys grants that way (see `duplicate_grants_*`).
        if !grants.iter().any(|g| g.resource == resource && g.subject == subject) {
            grants.push(Grant { resource, subject, role });
        }
    }

    let mut tokens = Vec::new();
    for (i, (is_va, idx)) in spec.tokens.iter().enumerate() {
        let (kind, owner) = if *is_va && !virtual_accounts.is_empty() {
            let v = &virtual_accounts[*idx as usize % virtual_accounts.len()];
            (TokenKind::VirtualAccount, TokenOwner::VirtualAccount(v.name.clone()))
        } else {
            (TokenKind::Pat, TokenOwner::User(users[*idx as usize % users.len()].email.clone()))
        };
        let (t, _) = mint(kind, owner, "t", NOW - Duration::days(1), None, entropy(1_000 + i as u64));
        tokens.push(t);
    }

    // Provider accounts with their configured models, some narrowed to a few subjects.
    let mut resources = Vec::new();
    for (a, pa) in PROVIDER_ACCOUNTS.iter().enumerate() {
        let mut models = Vec::new();
        for m in 0..MODELS_PER_ACCOUNT {
            let Some((true, narrowed)) = spec.models.get(a * MODELS_PER_ACCOUNT + m) else { continue };
            let mut model = serde_json::json!({"name": format!("m-{m}"), "model_id": "x", "types": ["chat"]});
            if let Some(list) = narrowed {
                let mut picked: Vec<String> = Vec::new();
                for (kind, idx) in list {
                    let s = match kind % 3 {
                        0 => users.get(*idx as usize % users.len().max(1)).map(|u| format!("user:{}", u.email)),
                        1 if !teams.is_empty() => Some(format!("team:{}", teams[*idx as usize % teams.len()].name)),
                        2 if !virtual_accounts.is_empty() => Some(format!(
                            "virtualaccount:{}",
                            virtual_accounts[*idx as usize % virtual_accounts.len()].name
                        )),
                        _ => None,
                    };
                    if let Some(s) = s.filter(|s| !picked.contains(s)) {
                        picked.push(s);
                    }
                }
                model["authorized_subjects"] = serde_json::json!(picked);
            }
            models.push(model);
        }
        let spec = serde_json::json!({"name": pa, "models": models});
        let spec = ProviderAccountSpec::deserialize_for(ProviderKind::OpenAi, spec).unwrap();
        resources.push(ResourceRecord { spec: ResourceSpec::ProviderAccount(spec), sealed_auth: None });
    }

    World { roles, users, teams, virtual_accounts, tokens, grants, resources }
}

/// Every resource the tests ask about: the world's own, the fixed provider accounts, MCP servers, agents and
/// models, a few of other kinds, and one unknown name of each kind.
fn resource_universe(w: &World) -> Vec<Resource> {
    let mut out = vec![Resource::tenant()];
    out.extend(w.teams.iter().map(|t| Resource::team(&t.name)));
    out.push(res(ResourceKind::Team, "ghost"));
    out.extend(w.virtual_accounts.iter().map(|v| Resource::virtual_account(&v.name)));
    out.push(res(ResourceKind::VirtualAccount, "ghost"));
    for pa in PROVIDER_ACCOUNTS.iter().chain(std::iter::once(&"ghost")) {
        out.push(res(ResourceKind::ProviderAccount, pa));
        for m in 0..MODELS_PER_ACCOUNT {
            out.push(res(ResourceKind::Model, &format!("{pa}/m-{m}")));
        }
    }
    out.extend(MCP_SERVERS.iter().chain(std::iter::once(&"ghost")).map(|n| res(ResourceKind::McpServer, n)));
    out.extend(AGENTS.iter().chain(std::iter::once(&"ghost")).map(|n| res(ResourceKind::Agent, n)));
    out.extend(w.users.iter().map(|u| Resource::user(&u.email)));
    out.push(res(ResourceKind::User, "ghost@example.com"));
    out.extend(w.roles.iter().map(|r| Resource::role(&r.name)));
    out.push(res(ResourceKind::Role, "ghost"));
    out.push(res(ResourceKind::GatewayControls, "default-limits"));
    out.push(res(ResourceKind::Cluster, "c-0"));
    out
}

fn subject_universe(w: &World) -> Vec<Subject> {
    w.users
        .iter()
        .map(|u| Subject::User(u.email.clone()))
        .chain(w.teams.iter().map(|t| Subject::Team(t.name.clone())))
        .chain(w.virtual_accounts.iter().map(|v| Subject::VirtualAccount(v.name.clone())))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// The reference evaluator
// ---------------------------------------------------------------------------------------------------------

/// Whether `subject` may do `action` on `resource`, computed from the rules by linear scans over the world.
///
/// The rules:
/// 1. An unknown subject is denied; so is an inactive user and a virtual account at or past its expiry.
/// 2. A user whose role is `admin` may do everything.
/// 3. Otherwise the action must apply to the resource: a permission applies to the tenant, to resources of
///    its own kind, and (for `virtual-account:*`) to teams, meaning the virtual accounts a team owns;
///    `use` applies to models, provider accounts and MCP servers only.
/// 4. A user's role permission allows on every resource it applies to. `use` is allowed by the role
///    permission `mcp-server:use` on MCP servers and `provider-account:use-integrations` on models and
///    provider accounts.
/// 5. The `team-manager` role's permissions apply to every user who manages at least one team: a
///    permission about teams or virtual accounts only on the teams they manage and on the virtual accounts
///    those teams own; any other permission tenant-wide.
/// 6. A collaborator grant allows what its role allows, on the resource it is given on, when held by the
///    subject itself or (for a user) by a team the user is a member of. Using a model is decided on the
///    provider account that holds it.
/// 7. Nothing else allows anything.
fn reference(w: &World, subject: &Subject, action: Action, resource: &Resource, now: OffsetDateTime) -> bool {
    // Rule 1 and 2.
    let mut user_found: Option<&User> = None;
    match subject {
        Subject::User(e) => {
            let mut found = None;
            for u in &w.users {
                if &u.email == e {
                    found = Some(u);
                }
            }
            let Some(u) = found else { return false };
            if !u.active {
                return false;
            }
            for r in &w.roles {
                if r.name == u.role && r.builtin == Some(BuiltinRole::Admin) {
                    return true;
                }
            }
            user_found = Some(u);
        }
        Subject::Team(t) => {
            if !w.teams.iter().any(|x| &x.name == t) {
                return false;
            }
        }
        Subject::VirtualAccount(v) => {
            let mut found = None;
            for x in &w.virtual_accounts {
                if &x.name == v {
                    found = Some(x);
                }
            }
            let Some(x) = found else { return false };
            if let Some(exp) = x.expires_at {
                if now >= exp {
                    return false;
                }
            }
        }
    }

    // Rule 3.
    let applies = match action {
        Action::Perm(p) => {
            resource.kind == ResourceKind::Tenant
                || resource.kind == p.kind()
                || (p.kind() == ResourceKind::VirtualAccount && resource.kind == ResourceKind::Team)
        }
        Action::Use => {
            matches!(resource.kind, ResourceKind::Model | ResourceKind::ProviderAccount | ResourceKind::McpServer)
        }
    };
    if !applies {
        return false;
    }

    // Rule 3b: a model is usable only if configured, and if it lists authorized subjects, only by them (or,
    // for a user, by a team they are a member of).
    if action == Action::Use && resource.kind == ResourceKind::Model {
        let (acct, model) = resource.name.split_once('/').unwrap_or_default();
        let mut found: Option<Option<Vec<Subject>>> = None;
        for r in &w.resources {
            if let ResourceSpec::ProviderAccount(p) = &r.spec {
                if p.name().as_str() == acct {
                    for (name, subjects) in p.model_access() {
                        if name.as_str() == model {
                            found = Some(subjects.map(|s| s.to_vec()));
                        }
                    }
                }
            }
        }
        let Some(narrowing) = found else { return false };
        if let Some(list) = narrowing {
            let mut ok = list.contains(subject);
            if let Some(u) = user_found {
                for t in &w.teams {
                    if t.members.contains(&u.email) && list.contains(&Subject::Team(t.name.clone())) {
                        ok = true;
                    }
                }
            }
            if !ok {
                return false;
            }
        }
    }

    if let Some(u) = user_found {
        // Rule 4.
        let mut role_perms = PermSet::EMPTY;
        for r in &w.roles {
            if r.name == u.role {
                role_perms = r.permissions;
            }
        }
        let needed = match action {
            Action::Perm(p) => p,
            Action::Use if resource.kind == ResourceKind::McpServer => Permission::McpServerUse,
            Action::Use => Permission::ProviderAccountUseIntegrations,
        };
        if role_perms.contains(needed) {
            return true;
        }

        // Rule 5.
        if let Action::Perm(p) = action {
            let managed: Vec<&TeamName> =
                w.teams.iter().filter(|t| t.managers.contains(&u.email)).map(|t| &t.name).collect();
            let mut tm_perms = PermSet::EMPTY;
            for r in &w.roles {
                if r.name.as_str() == "team-manager" {
                    tm_perms = r.permissions;
                }
            }
            if !managed.is_empty() && tm_perms.contains(p) {
                let team_scoped = p.kind() == ResourceKind::Team || p.kind() == ResourceKind::VirtualAccount;
                if !team_scoped {
                    return true;
                }
                if resource.kind == ResourceKind::Team && managed.iter().any(|t| t.as_str() == &*resource.name) {
                    return true;
                }
                if resource.kind == ResourceKind::VirtualAccount {
                    for v in &w.virtual_accounts {
                        if v.name.as_str() == &*resource.name && managed.contains(&&v.owner_team) {
                            return true;
                        }
                    }
                }
            }
        }
    }

    // Rule 6.
    let mut holders = vec![subject.clone()];
    if let Some(u) = user_found {
        for t in &w.teams {
            if t.members.contains(&u.email) {
                holders.push(Subject::Team(t.name.clone()));
            }
        }
    }
    let target = if action == Action::Use && resource.kind == ResourceKind::Model {
        let acct = resource.name.split('/').next().unwrap_or_default();
        res(ResourceKind::ProviderAccount, acct)
    } else {
        resource.clone()
    };
    for g in &w.grants {
        if g.resource == target && holders.contains(&g.subject) && g.role.allows(action) {
            return true;
        }
    }
    false
}

/// Checks that an allowed decision's reason is true of the world.
fn check_reason(w: &World, subject: &Subject, action: Action, resource: &Resource, d: &Decision) -> Result<(), String> {
    let Decision::Allowed(allow) = d else { return Ok(()) };
    let u = match subject {
        Subject::User(e) => w.users.iter().find(|u| &u.email == e),
        _ => None,
    };
    let role_of = |n: &RoleName| w.roles.iter().find(|r| &r.name == n);
    match allow {
        Allow::Admin => {
            let u = u.ok_or("Admin for a non-user")?;
            if !role_of(&u.role).is_some_and(|r| r.builtin == Some(BuiltinRole::Admin)) {
                return Err(format!("Admin reason but {} has role {}", u.email, u.role));
            }
        }
        Allow::Role { role, permission } => {
            let u = u.ok_or("Role reason for a non-user")?;
            if &u.role != role {
                return Err(format!("reason names role {role} but the user has {}", u.role));
            }
            if !role_of(role).is_some_and(|r| r.permissions.contains(*permission)) {
                return Err(format!("role {role} does not have {permission}"));
            }
            let expected = match action {
                Action::Perm(p) => p,
                Action::Use if resource.kind == ResourceKind::McpServer => Permission::McpServerUse,
                Action::Use => Permission::ProviderAccountUseIntegrations,
            };
            if *permission != expected {
                return Err(format!("reason permission {permission} is not the one asked ({expected})"));
            }
        }
        Allow::TeamManager { team, permission } => {
            let u = u.ok_or("TeamManager reason for a non-user")?;
            let t = w.teams.iter().find(|t| &t.name == team).ok_or(format!("no team {team}"))?;
            if !t.managers.contains(&u.email) {
                return Err(format!("{} does not manage {team}", u.email));
            }
            if action != Action::Perm(*permission) {
                return Err(format!("reason permission {permission} is not the one asked ({action})"));
            }
            let tm = role_of(&BuiltinRole::TeamManager.role_name()).ok_or("no team-manager role")?;
            if !tm.permissions.contains(*permission) {
                return Err(format!("team-manager does not have {permission}"));
            }
            if matches!(permission.kind(), ResourceKind::Team | ResourceKind::VirtualAccount) {
                let scoped_team = match resource.kind {
                    ResourceKind::Team => Some(resource.name.to_string()),
                    ResourceKind::VirtualAccount => w
                        .virtual_accounts
                        .iter()
                        .find(|v| v.name.as_str() == &*resource.name)
                        .map(|v| v.owner_team.to_string()),
                    _ => None,
                };
                if scoped_team.as_deref() != Some(team.as_str()) {
                    return Err(format!("team-scoped {permission} on {resource} justified by team {team}"));
                }
            }
        }
        Allow::Grant { holder, role, resource: on } => {
            if !w.grants.iter().any(|g| &g.subject == holder && g.role == *role && &g.resource == on) {
                return Err(format!("no grant {holder} {role} {on} in the world"));
            }
            if !role.allows(action) {
                return Err(format!("{role} does not allow {action}"));
            }
            let holder_ok = holder == subject
                || match (subject, holder) {
                    (Subject::User(e), Subject::Team(t)) => {
                        w.teams.iter().any(|x| &x.name == t && x.members.contains(e))
                    }
                    _ => false,
                };
            if !holder_ok {
                return Err(format!("{holder} is neither {subject} nor a team of it"));
            }
            let expected = if action == Action::Use && resource.kind == ResourceKind::Model {
                resource.parent()
            } else {
                Some(resource.clone())
            };
            if expected.as_ref() != Some(on) {
                return Err(format!("grant on {on} used for {resource}"));
            }
        }
    }
    Ok(())
}

/// Actions that make sense on a kind of resource: its own permissions, virtual-account ones on teams, `use`.
fn applicable_actions(kind: ResourceKind) -> Vec<Action> {
    if kind == ResourceKind::Tenant {
        return all_actions();
    }
    let mut out: Vec<Action> = Permission::ALL
        .iter()
        .filter(|p| p.kind() == kind || (kind == ResourceKind::Team && p.kind() == ResourceKind::VirtualAccount))
        .map(|p| Action::Perm(*p))
        .collect();
    if matches!(kind, ResourceKind::Model | ResourceKind::ProviderAccount | ResourceKind::McpServer) {
        out.push(Action::Use);
    }
    out
}

fn request_strategy() -> impl Strategy<Value = Vec<(u16, u16, u16, bool)>> {
    prop::collection::vec((any::<u16>(), any::<u16>(), any::<u16>(), prop::bool::weighted(0.75)), 64)
}

fn boxed_sparse() -> BoxedStrategy<u64> {
    sparse_mask().boxed()
}
fn boxed_mixed() -> BoxedStrategy<u64> {
    mixed_mask().boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(2048), ..ProptestConfig::default() })]

    /// (a) The engine agrees with the reference evaluator, and its reasons are true.
    #[test]
    fn engine_matches_reference(spec in world_spec(12, boxed_sparse), reqs in request_strategy()) {
        let w = build_world(&spec);
        let snap = Snapshot::from_world(w.clone());
        let mut subjects = subject_universe(&w);
        subjects.push(Subject::User(email("ghost@example.com")));
        subjects.push(Subject::Team(team_name("ghost")));
        subjects.push(Subject::VirtualAccount(va_name("ghost")));
        let resources = resource_universe(&w);
        let actions = all_actions();
        for (s, a, r, pick_applicable) in reqs {
            let subject = &subjects[s as usize % subjects.len()];
            let resource = &resources[r as usize % resources.len()];
            let action = if pick_applicable {
                let xs = applicable_actions(resource.kind);
                xs[a as usize % xs.len()]
            } else {
                actions[a as usize % actions.len()]
            };
            let d = snap.check(subject, action, resource, NOW);
            let want = reference(&w, subject, action, resource, NOW);
            prop_assert_eq!(d.is_allowed(), want, "check({}, {}, {}) = {}", subject, action, resource, d);
            if let Err(e) = check_reason(&w, subject, action, resource, &d) {
                prop_assert!(false, "check({}, {}, {}) = {}: inconsistent reason: {}", subject, action, resource, d, e);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    /// (a') Explanations: every explained ability is allowed by `check` with the very reason given, and every
    /// action `check` allows on the tenant or on an object of the world (narrowed models included) is
    /// explained, on that object or, for a permission, tenant-wide.
    #[test]
    fn explanations_match_check(spec in world_spec(12, boxed_mixed)) {
        let w = build_world(&spec);
        let snap = Snapshot::from_world(w.clone());
        let resources = resource_universe(&w);
        for subject in subject_universe(&w) {
            let e = snap.explain(&subject, NOW).expect("every subject of the world is explained");
            let mut explained = std::collections::HashSet::new();
            for a in &e.abilities {
                let d = snap.check(&subject, a.action, &a.resource, NOW);
                prop_assert_eq!(
                    &d, &Decision::Allowed(a.reason.clone()),
                    "{} explained as allowed to {} on {}", subject, a.action, a.resource
                );
                prop_assert!(explained.insert((a.action, a.resource.clone())), "{} explained twice", a.action);
            }
            for r in &resources {
                // Objects that exist (a ghost is asked about only through tenant-wide permissions).
                let exists = r.kind == ResourceKind::Tenant || object_exists(&snap, r);
                for action in applicable_actions(r.kind) {
                    if !snap.check(&subject, action, r, NOW).is_allowed() {
                        continue;
                    }
                    let covered = explained.contains(&(action, r.clone()))
                        || (matches!(action, Action::Perm(_)) && explained.contains(&(action, Resource::tenant())));
                    prop_assert!(
                        covered || !exists && action == Action::Use,
                        "{} may {} on {} ({}), unexplained", subject, action, r, snap.check(&subject, action, r, NOW)
                    );
                }
            }
        }
    }
}

/// Whether the world holds `r`: a role, user, team, virtual account, stored resource or model of one.
fn object_exists(s: &Snapshot, r: &Resource) -> bool {
    s.role(&r.name).is_some() && r.kind == ResourceKind::Role
        || s.user(&r.name).is_some() && r.kind == ResourceKind::User
        || s.team(&r.name).is_some() && r.kind == ResourceKind::Team
        || s.virtual_account(&r.name).is_some() && r.kind == ResourceKind::VirtualAccount
        || s.resources().model(&r.name).is_some() && r.kind == ResourceKind::Model
        || s.resources().get(r).is_some()
}

// ---------------------------------------------------------------------------------------------------------
// (b) No privilege escalation through operations
// ---------------------------------------------------------------------------------------------------------

/// An operation as numbers, resolved against the snapshot current when it runs.
#[derive(Clone, Debug)]
enum OpSpec {
    PutRole {
        target: u8,
        mask: u64,
    },
    DeleteRole {
        target: u8,
    },
    PutUser {
        target: u8,
        role: u8,
        active: bool,
    },
    DeleteUser {
        target: u8,
    },
    SetPassword {
        target: u8,
    },
    PutTeam {
        target: u8,
        edits: Vec<(u8, u8)>,
    },
    DeleteTeam {
        target: u8,
    },
    PutVa {
        target: u8,
        owner: u8,
        expiry: Option<i8>,
    },
    DeleteVa {
        target: u8,
    },
    IssueToken {
        kind: u8,
        target: u8,
    },
    RevokeToken {
        target: u8,
    },
    Rotate {
        target: u8,
        grace_minutes: u8,
    },
    PutGrant {
        resource: u8,
        role: u8,
        subject_kind: u8,
        subject: u8,
    },
    DeleteGrant {
        target: u8,
    },
    /// Edits a model's `authorized_subjects` on a provider account.
    Narrow {
        account: u8,
        model: u8,
        edit: u8,
        subject_kind: u8,
        subject: u8,
    },
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    let t = any::<u8>;
    prop_oneof![
        3 => (t(), any::<u64>()).prop_map(|(target, mask)| OpSpec::PutRole { target, mask }),
        1 => t().prop_map(|target| OpSpec::DeleteRole { target }),
        3 => (t(), t(), prop::bool::weighted(0.7)).prop_map(|(target, role, active)| OpSpec::PutUser { target, role, active }),
        1 => t().prop_map(|target| OpSpec::DeleteUser { target }),
        1 => t().prop_map(|target| OpSpec::SetPassword { target }),
        3 => (t(), prop::collection::vec((t(), t()), 1..4)).prop_map(|(target, edits)| OpSpec::PutTeam { target, edits }),
        1 => t().prop_map(|target| OpSpec::DeleteTeam { target }),
        2 => (t(), t(), prop::option::weighted(0.3, -2i8..=3)).prop_map(|(target, owner, expiry)| OpSpec::PutVa { target, owner, expiry }),
        1 => t().prop_map(|target| OpSpec::DeleteVa { target }),
        2 => (t(), t()).prop_map(|(kind, target)| OpSpec::IssueToken { kind, target }),
        1 => t().prop_map(|target| OpSpec::RevokeToken { target }),
        1 => (t(), t()).prop_map(|(target, grace_minutes)| OpSpec::Rotate { target, grace_minutes }),
        3 => (t(), t(), t(), t()).prop_map(|(resource, role, subject_kind, subject)| OpSpec::PutGrant { resource, role, subject_kind, subject }),
        1 => t().prop_map(|target| OpSpec::DeleteGrant { target }),
        2 => (t(), t(), t(), t(), t()).prop_map(|(account, model, edit, subject_kind, subject)| OpSpec::Narrow { account, model, edit, subject_kind, subject }),
    ]
}

/// Picks an existing name, or (one time in `n + 1`) `fresh`.
fn pick<T: Clone>(xs: &[T], sel: u8, fresh: T) -> T {
    let i = sel as usize % (xs.len() + 1);
    xs.get(i).cloned().unwrap_or(fresh)
}

fn resolve(spec: &OpSpec, w: &World, caller: &Email, serial: u64) -> Op {
    let role_names: Vec<RoleName> = w.roles.iter().map(|r| r.name.clone()).collect();
    let emails: Vec<Email> = w.users.iter().map(|u| u.email.clone()).collect();
    let team_names: Vec<TeamName> = w.teams.iter().map(|t| t.name.clone()).collect();
    let va_names: Vec<VaName> = w.virtual_accounts.iter().map(|v| v.name.clone()).collect();
    let fresh_email = email(&format!("new{serial}@example.com"));
    let fresh_team = team_name(&format!("new-team-{serial}"));
    let fresh_va = va_name(&format!("new-va-{serial}"));
    let fresh_role = role_name(&format!("new-role-{serial}"));
    match spec {
        OpSpec::PutRole { target, mask } => {
            let name = pick(&role_names, *target, fresh_role);
            let old = w.roles.iter().find(|r| r.name == name);
            // Mostly what the caller holds (plus what the role had), now and then one permission more.
            let caller_role = w.users.iter().find(|u| &u.email == caller).map(|u| u.role.clone());
            let held = w
                .roles
                .iter()
                .find(|r| Some(&r.name) == caller_role.as_ref())
                .map(|r| r.permissions)
                .unwrap_or_default();
            let had = old.map(|r| r.permissions).unwrap_or_default();
            let mut permissions = perms_from_mask(*mask).minus(PermSet::all().minus(held.union(had)));
            if mask >> 60 == 0 {
                permissions.insert(Permission::ALL[(*mask >> 54) as usize % Permission::ALL.len()]);
            }
            Op::PutRole(Role {
                name: name.clone(),
                display_name: name.to_string(),
                description: "edited".into(),
                permissions,
                builtin: old.and_then(|r| r.builtin),
            })
        }
        OpSpec::DeleteRole { target } => Op::DeleteRole(pick(&role_names, *target, fresh_role)),
        OpSpec::PutUser { target, role, active } => {
            let e = pick(&emails, *target, fresh_email);
            // Half the time the caller's own role, which they may always hand out.
            let caller_role = w.users.iter().find(|u| &u.email == caller).map(|u| u.role.clone());
            let role = match caller_role {
                Some(r) if role % 2 == 0 => r,
                _ => role_names[*role as usize / 2 % role_names.len()].clone(),
            };
            Op::PutUser(User { email: e.clone(), display_name: format!("edited {e}"), role, active: *active })
        }
        OpSpec::DeleteUser { target } => Op::DeleteUser(pick(&emails, *target, fresh_email)),
        OpSpec::SetPassword { target } => Op::SetPassword {
            email: pick(&emails, *target, fresh_email),
            hash: Secret::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        },
        OpSpec::PutTeam { target, edits } => {
            let name = pick(&team_names, *target, fresh_team);
            let mut t = w.teams.iter().find(|t| t.name == name).cloned().unwrap_or(Team {
                name,
                description: String::new(),
                managers: BTreeSet::new(),
                members: BTreeSet::new(),
            });
            for (u, kind) in edits {
                let e = emails[*u as usize % emails.len()].clone();
                match kind % 4 {
                    0 => {
                        t.members.insert(e);
                    }
                    1 => {
                        t.members.insert(e.clone());
                        t.managers.insert(e);
                    }
                    2 => {
                        t.members.remove(&e);
                        t.managers.remove(&e);
                    }
                    _ => {
                        t.managers.remove(&e);
                    }
                }
            }
            t.description = format!("edit {serial}");
            Op::PutTeam(t)
        }
        OpSpec::DeleteTeam { target } => Op::DeleteTeam(pick(&team_names, *target, fresh_team)),
        OpSpec::PutVa { target, owner, expiry } => {
            let name = pick(&va_names, *target, fresh_va);
            let owner_team = pick(&team_names, *owner, team_name("ghost"));
            Op::PutVirtualAccount(VirtualAccount {
                name,
                owner_team,
                description: format!("edit {serial}"),
                expires_at: expiry.map(|h| NOW + Duration::hours(i64::from(h))),
            })
        }
        OpSpec::DeleteVa { target } => Op::DeleteVirtualAccount(pick(&va_names, *target, fresh_va)),
        OpSpec::IssueToken { kind, target } => {
            let (kind, owner) = match kind % 4 {
                0 => (TokenKind::Pat, TokenOwner::User(caller.clone())),
                1 => (TokenKind::Session, TokenOwner::User(caller.clone())),
                2 => (TokenKind::Pat, TokenOwner::User(pick(&emails, *target, fresh_email))),
                _ => (TokenKind::VirtualAccount, TokenOwner::VirtualAccount(pick(&va_names, *target, fresh_va))),
            };
            Op::IssueToken(mint(kind, owner, "issued", NOW, None, entropy(serial)).0)
        }
        OpSpec::RevokeToken { target } => {
            let ids: Vec<TokenId> = w.tokens.iter().map(|t| t.id.clone()).collect();
            Op::RevokeToken(pick(&ids, *target, TokenId::from_bytes([0xee; 8])))
        }
        OpSpec::Rotate { target, grace_minutes } => {
            let name = pick(&va_names, *target, fresh_va);
            let new = mint(
                TokenKind::VirtualAccount,
                TokenOwner::VirtualAccount(name.clone()),
                "rotated",
                NOW,
                None,
                entropy(serial),
            )
            .0;
            Op::RotateVirtualAccount { name, new, grace: Duration::minutes(i64::from(*grace_minutes)) }
        }
        OpSpec::PutGrant { resource, role, subject_kind, subject } => {
            let resources = grant_resources();
            let resource = resources[*resource as usize % resources.len()].clone();
            // Mostly a role of the right kind; now and then any role, which must be refused.
            let role = if role % 8 == 0 {
                CollaboratorRole::ALL[*role as usize / 8 % CollaboratorRole::ALL.len()]
            } else {
                let rs = roles_for(resource.kind);
                rs[*role as usize % rs.len()]
            };
            let subject = match subject_kind % 3 {
                0 => Subject::User(pick(&emails, *subject, fresh_email)),
                1 => Subject::Team(pick(&team_names, *subject, fresh_team)),
                _ => Subject::VirtualAccount(pick(&va_names, *subject, fresh_va)),
            };
            Op::PutGrant(Grant { resource, subject, role })
        }
        OpSpec::DeleteGrant { target } => {
            let fallback = Grant {
                resource: res(ResourceKind::ProviderAccount, "pa-0"),
                subject: Subject::User(caller.clone()),
                role: CollaboratorRole::ProviderAccountUser,
            };
            Op::DeleteGrant(pick(&w.grants, *target, fallback))
        }
        OpSpec::Narrow { account, model, edit, subject_kind, subject } => {
            let mut rec = w.resources[*account as usize % w.resources.len()].clone();
            let subject = match subject_kind % 3 {
                0 => Subject::User(pick(&emails, *subject, caller.clone())),
                1 => Subject::Team(pick(&team_names, *subject, fresh_team)),
                _ => Subject::VirtualAccount(pick(&va_names, *subject, fresh_va)),
            };
            if let ResourceSpec::ProviderAccount(p) = &mut rec.spec {
                let models = p.models_mut();
                if !models.is_empty() {
                    let n = models.len();
                    let m = &mut models[*model as usize % n];
                    match edit % 5 {
                        0 => m.authorized_subjects.get_or_insert_with(Vec::new).push(subject),
                        1 => m.authorized_subjects = None,
                        2 => {
                            if let Some(l) = &mut m.authorized_subjects {
                                l.retain(|s| *s != subject);
                            }
                        }
                        3 => m.authorized_subjects = Some(vec![subject]),
                        // The same upstream model again under a new name, without the narrowing.
                        _ => {
                            let mut copy = m.clone();
                            copy.name = gatehouse_core::spec::ModelName::new(&format!("copy-{serial}")).unwrap();
                            copy.authorized_subjects = None;
                            models.push(copy);
                        }
                    }
                    if let Some(l) = &mut models[*model as usize % n].authorized_subjects {
                        l.dedup();
                    }
                }
            }
            Op::PutResource(rec)
        }
    }
}

#[derive(Clone, Debug)]
struct EscalationCase {
    world: WorldSpec,
    caller: u8,
    ops: Vec<OpSpec>,
}

fn escalation_case() -> impl Strategy<Value = EscalationCase> {
    (world_spec(8, boxed_mixed), any::<u8>(), prop::collection::vec(op_spec(), 1..=5))
        .prop_map(|(world, caller, ops)| EscalationCase { world, caller, ops })
}

/// The world of an escalation case: user 0 an active admin, and the caller an active non-admin.
fn escalation_world(case: &EscalationCase) -> (World, Email) {
    let mut spec = case.world.clone();
    if spec.users.len() < 2 {
        spec.users.push((1, true));
    }
    spec.users[0] = (0, true);
    let ci = 1 + case.caller as usize % (spec.users.len() - 1);
    let mut w = build_world(&spec);
    let u = &mut w.users[ci];
    u.active = true;
    if u.role.as_str() == "admin" {
        u.role = role_name("member");
    }
    let caller = u.email.clone();
    (w, caller)
}

fn worlds_equal(a: &World, b: &World) -> bool {
    a.roles == b.roles
        && a.users == b.users
        && a.teams == b.teams
        && a.virtual_accounts == b.virtual_accounts
        && a.tokens == b.tokens
        && a.grants == b.grants
        && a.resources == b.resources
}

/// Derived indexes of `s` equal what the stored objects say (and so what a rebuild computes).
fn check_indexes(s: &Snapshot) -> Result<(), String> {
    let w = s.to_world();
    for u in &w.users {
        let entry = s.user(u.email.as_str()).ok_or("user missing")?;
        let member_of: BTreeSet<&TeamName> =
            w.teams.iter().filter(|t| t.members.contains(&u.email)).map(|t| &t.name).collect();
        let manages: BTreeSet<&TeamName> =
            w.teams.iter().filter(|t| t.managers.contains(&u.email)).map(|t| &t.name).collect();
        if entry.member_of.iter().collect::<BTreeSet<_>>() != member_of {
            return Err(format!("{}: member_of {:?} but teams say {:?}", u.email, entry.member_of, member_of));
        }
        if entry.manages.iter().collect::<BTreeSet<_>>() != manages {
            return Err(format!("{}: manages {:?} but teams say {:?}", u.email, entry.manages, manages));
        }
        let admin = u.active && u.role.as_str() == "admin";
        if s.is_admin(&u.email) != admin {
            return Err(format!("{}: is_admin {} but user says {admin}", u.email, s.is_admin(&u.email)));
        }
        let owner = TokenOwner::User(u.email.clone());
        let mut of: Vec<TokenId> = s.tokens_of(&owner).map(|t| t.id.clone()).collect();
        of.sort();
        let want: Vec<TokenId> = w.tokens.iter().filter(|t| t.owner == owner).map(|t| t.id.clone()).collect();
        if of != want {
            return Err(format!("tokens_of({}) = {of:?}, want {want:?}", u.email));
        }
    }
    let admins = w.users.iter().filter(|u| u.active && u.role.as_str() == "admin").count();
    if s.active_admin_count() != admins {
        return Err(format!("active_admin_count {} but {admins} active admins", s.active_admin_count()));
    }
    for t in &w.teams {
        let mut vas: Vec<&VaName> = s.team_virtual_accounts(t.name.as_str()).collect();
        vas.sort();
        let want: Vec<&VaName> =
            w.virtual_accounts.iter().filter(|v| v.owner_team == t.name).map(|v| &v.name).collect();
        if vas != want {
            return Err(format!("team_virtual_accounts({}) = {vas:?}, want {want:?}", t.name));
        }
    }
    for v in &w.virtual_accounts {
        let owner = TokenOwner::VirtualAccount(v.name.clone());
        let mut of: Vec<TokenId> = s.tokens_of(&owner).map(|t| t.id.clone()).collect();
        of.sort();
        let want: Vec<TokenId> = w.tokens.iter().filter(|t| t.owner == owner).map(|t| t.id.clone()).collect();
        if of != want {
            return Err(format!("tokens_of({}) = {of:?}, want {want:?}", v.name));
        }
    }
    for subject in subject_universe(&w) {
        let mut of: Vec<Grant> = s.grants_of(&subject).collect();
        of.sort();
        let want: Vec<Grant> = w.grants.iter().filter(|g| g.subject == subject).cloned().collect();
        if of != want {
            return Err(format!("grants_of({subject}) = {of:?}, want {want:?}"));
        }
    }
    // No token or grant may outlive its owner or holder.
    for t in &w.tokens {
        let exists = match &t.owner {
            TokenOwner::User(e) => w.users.iter().any(|u| &u.email == e),
            TokenOwner::VirtualAccount(v) => w.virtual_accounts.iter().any(|x| &x.name == v),
        };
        if !exists {
            return Err(format!("token {} outlives its owner {:?}", t.id, t.owner));
        }
    }
    let subjects = subject_universe(&w);
    for g in &w.grants {
        if !subjects.contains(&g.subject) {
            return Err(format!("grant {g:?} outlives its holder"));
        }
    }
    for t in &w.teams {
        if !t.managers.is_subset(&t.members) {
            return Err(format!("team {} has managers who are not members", t.name));
        }
        if let Some(e) = t.members.iter().find(|e| !w.users.iter().any(|u| &u.email == *e)) {
            return Err(format!("team {} lists a user {e} who does not exist", t.name));
        }
    }
    for v in &w.virtual_accounts {
        if !w.teams.iter().any(|t| t.name == v.owner_team) {
            return Err(format!("virtual account {} is owned by a team {} that does not exist", v.name, v.owner_team));
        }
    }
    // Nor a name in a model's narrowing: whoever re-created it would inherit the place.
    for rec in &w.resources {
        if let ResourceSpec::ProviderAccount(p) = &rec.spec {
            for (m, list) in p.model_access() {
                if let Some(s) = list.unwrap_or_default().iter().find(|s| !subjects.contains(s)) {
                    return Err(format!("model {}/{m} still names {s}, which does not exist", p.name()));
                }
            }
        }
    }
    for u in &w.users {
        if !w.roles.iter().any(|r| r.name == u.role) {
            return Err(format!("user {} holds a role {} that does not exist", u.email, u.role));
        }
    }
    Ok(())
}

/// Gains that are not escalation by design.
fn gain_explained(before: &Snapshot, caller: &Subject, s: &Subject, op: &Op) -> bool {
    match (op, s) {
        // By design: whoever may manage a virtual account may take its tokens ("Manage Virtual Account ...
        // also includes permission to get the token"), so may act as it; renewing an expired one (a new
        // `expires_at`) gives them nothing they could not use before it expired.
        (Op::PutVirtualAccount(v), Subject::VirtualAccount(n)) => {
            &v.name == n
                && before
                    .check(caller, Action::Perm(Permission::VirtualAccountManage), &Resource::virtual_account(n), NOW)
                    .is_allowed()
        }
        // Passing a model's `authorized_subjects` (being listed, joining a listed team, gaining the account
        // while listed) is a gain like any other: only someone who may use the model may open it.
        _ => false,
    }
}

/// Everything `other` may do (on the snapshot's resources), `caller` may do too.
fn check_covers(s: &Snapshot, caller: &Subject, other: &Subject) -> Result<(), String> {
    for r in resource_universe(&s.to_world()) {
        for a in all_actions() {
            if s.check(other, a, &r, NOW).is_allowed() && !s.check(caller, a, &r, NOW).is_allowed() {
                return Err(format!("{other} may {a} on {r} ({}) but {caller} may not", s.check(other, a, &r, NOW)));
            }
        }
    }
    Ok(())
}

/// After a successful operation by `caller`, nobody may hold an access on a pre-existing resource that they
/// did not hold before, unless the caller held it before.
fn check_no_escalation(before: &Snapshot, after: &Snapshot, caller: &Subject, op: &Op) -> Result<(), String> {
    let wb = before.to_world();
    let wa = after.to_world();
    let resources = resource_universe(&wb);
    let actions = all_actions();
    let subjects = subject_universe(&wa);
    let mut caller_allowed = vec![None; resources.len() * actions.len()];
    for s in &subjects {
        for (ri, r) in resources.iter().enumerate() {
            for (ai, a) in actions.iter().enumerate() {
                if !after.check(s, *a, r, NOW).is_allowed() || before.check(s, *a, r, NOW).is_allowed() {
                    continue;
                }
                if gain_explained(before, caller, s, op) {
                    continue;
                }
                let c = *caller_allowed[ri * actions.len() + ai]
                    .get_or_insert_with(|| before.check(caller, *a, r, NOW).is_allowed());
                if !c {
                    return Err(format!(
                        "{op:?} by {caller} gave {s} {a} on {r} ({}), which the caller did not have ({})",
                        after.check(s, *a, r, NOW),
                        before.check(caller, *a, r, NOW)
                    ));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1024), ..ProptestConfig::default() })]

    /// (b) Random operations by a non-admin never escalate anybody, and incremental application of their
    /// changes matches a rebuild from scratch.
    #[test]
    fn operations_never_escalate(case in escalation_case()) {
        let (w, caller_email) = escalation_world(&case);
        let caller = Subject::User(caller_email.clone());
        let mut cur = Snapshot::from_world(w);
        if let Err(e) = check_indexes(&cur) {
            prop_assert!(false, "initial world: {}", e);
        }
        for (i, spec) in case.ops.iter().enumerate() {
            let op = resolve(spec, &cur.to_world(), &caller_email, i as u64 + 1);
            let Ok((after, _changes)) = execute(&cur, &caller, vec![op.clone()], NOW) else { continue };

            // Incremental equals rebuilt, and every derived index agrees with the objects.
            let rebuilt = Snapshot::from_world(after.to_world());
            prop_assert!(worlds_equal(&after.to_world(), &rebuilt.to_world()), "{:?}: incremental != rebuilt", op);
            if let Err(e) = check_indexes(&after) {
                prop_assert!(false, "after {:?}: {}", op, e);
            }
            let wa = after.to_world();
            for subject in subject_universe(&wa) {
                for r in resource_universe(&wa) {
                    for a in applicable_actions(r.kind) {
                        let (x, y) = (after.check(&subject, a, &r, NOW), rebuilt.check(&subject, a, &r, NOW));
                        prop_assert_eq!(&x, &y, "{:?}: check({}, {}, {}) differs from a rebuild", op, subject, a, r);
                    }
                }
            }

            // Admins: never more (by a non-admin), never none.
            let admins_before: BTreeSet<Email> =
                cur.users().filter(|u| cur.is_admin(&u.user.email)).map(|u| u.user.email.clone()).collect();
            let admins_after: BTreeSet<Email> =
                after.users().filter(|u| after.is_admin(&u.user.email)).map(|u| u.user.email.clone()).collect();
            prop_assert!(admins_after.is_subset(&admins_before), "{:?} made an admin: {:?} -> {:?}", op, admins_before, admins_after);
            prop_assert!(after.active_admin_count() >= 1, "{:?} left no active admin", op);

            match &op {
                Op::SetPassword { email: target, .. } if *target != caller_email => {
                    let target_role = cur.user(target.as_str()).and_then(|u| cur.role(u.user.role.as_str())).unwrap();
                    prop_assert!(!target_role.is_admin(), "{:?}: set an admin's password", op);
                    prop_assert!(
                        target_role.permissions.is_subset(cur.tenant_permissions(&caller_email)),
                        "{:?}: target's role {:?} exceeds the caller's {:?}", op, target_role.permissions, cur.tenant_permissions(&caller_email)
                    );
                    // Setting someone's password is a way to act as them: they may do nothing the caller may not.
                    if let Err(e) = check_covers(&cur, &caller, &Subject::User(target.clone())) {
                        prop_assert!(false, "{:?}: {}", op, e);
                    }
                }
                Op::IssueToken(t) if matches!(t.kind, TokenKind::Pat | TokenKind::Session) => {
                    prop_assert_eq!(&t.owner, &TokenOwner::User(caller_email.clone()), "{:?}", op);
                }
                _ => {}
            }

            if let Err(e) = check_no_escalation(&cur, &after, &caller, &op) {
                prop_assert!(false, "{}", e);
            }
            cur = after;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// (c) Seed FAQ scenarios
// ---------------------------------------------------------------------------------------------------------

struct Fixture {
    snap: Snapshot,
    admin: Email,
    manager: Email,
    other: Email,
}

/// admin; `manager` manages team `t` (owner of `va-t`); `other` manages team `u` (owner of `va-u`).
fn fixture(member: PermSet, team_manager: PermSet, extra_roles: Vec<Role>) -> Fixture {
    let admin = email("admin@example.com");
    let manager = email("manager@example.com");
    let other = email("other@example.com");
    let mut roles = vec![BuiltinRole::Admin.default_role()];
    let mut m = BuiltinRole::Member.default_role();
    m.permissions = member;
    roles.push(m);
    let mut tm = BuiltinRole::TeamManager.default_role();
    tm.permissions = team_manager;
    roles.push(tm);
    roles.extend(extra_roles);
    let w = World {
        roles,
        users: vec![user(&admin, "admin", true), user(&manager, "member", true), user(&other, "member", true)],
        teams: vec![team("t", &[&manager], &[&manager]), team("u", &[&other], &[&other])],
        virtual_accounts: vec![va("va-t", "t", None), va("va-u", "u", None)],
        tokens: vec![],
        grants: vec![],
        resources: vec![],
    };
    Fixture { snap: Snapshot::from_world(w), admin, manager, other }
}

fn allowed(s: &Snapshot, e: &Email, p: Permission, r: &Resource) -> bool {
    s.check(&Subject::User(e.clone()), Action::Perm(p), r, NOW).is_allowed()
}

const VA_PERMS: [Permission; 4] = [
    Permission::VirtualAccountRead,
    Permission::VirtualAccountCreate,
    Permission::VirtualAccountManage,
    Permission::VirtualAccountDelete,
];

#[test]
fn team_manager_with_virtual_account_permissions_reaches_only_their_teams_accounts() {
    let member = BuiltinRole::Member.default_role().permissions;
    let tm = BuiltinRole::TeamManager.default_role().permissions.union(perm_set(&VA_PERMS));
    let f = fixture(member, tm, vec![]);
    let (s, m) = (&f.snap, &f.manager);
    let va_t = Resource::virtual_account(&va_name("va-t"));
    let va_u = Resource::virtual_account(&va_name("va-u"));
    let team_t = Resource::team(&team_name("t"));
    let team_u = Resource::team(&team_name("u"));
    for p in [Permission::VirtualAccountRead, Permission::VirtualAccountManage, Permission::VirtualAccountDelete] {
        assert!(allowed(s, m, p, &va_t), "{p} on va-t");
        assert!(!allowed(s, m, p, &va_u), "{p} on va-u");
        assert!(!allowed(s, m, p, &Resource::tenant()), "{p} tenant-wide");
    }
    assert!(allowed(s, m, Permission::VirtualAccountCreate, &team_t));
    assert!(!allowed(s, m, Permission::VirtualAccountCreate, &team_u));
    assert!(!allowed(s, m, Permission::VirtualAccountCreate, &Resource::tenant()));
    let reason = s.check(&Subject::User(m.clone()), Action::Perm(Permission::VirtualAccountManage), &va_t, NOW);
    assert_eq!(
        reason,
        Decision::Allowed(Allow::TeamManager { team: team_name("t"), permission: Permission::VirtualAccountManage })
    );

    // The same through operations: create on their team, not on another; tokens of their own accounts only.
    let caller = Subject::User(m.clone());
    let mine = Op::PutVirtualAccount(va("va-new", "t", None));
    assert!(execute(s, &caller, vec![mine], NOW).is_ok());
    let theirs = Op::PutVirtualAccount(va("va-new", "u", None));
    assert!(execute(s, &caller, vec![theirs], NOW).is_err());
    let token = |v: &str| {
        let owner = TokenOwner::VirtualAccount(va_name(v));
        Op::IssueToken(mint(TokenKind::VirtualAccount, owner, "t", NOW, None, entropy(7)).0)
    };
    assert!(execute(s, &caller, vec![token("va-t")], NOW).is_ok());
    assert!(execute(s, &caller, vec![token("va-u")], NOW).is_err());
    assert!(execute(s, &caller, vec![Op::DeleteVirtualAccount(va_name("va-t"))], NOW).is_ok());
    assert!(execute(s, &caller, vec![Op::DeleteVirtualAccount(va_name("va-u"))], NOW).is_err());
    // Nor can they move their account to a team they do not manage.
    assert!(execute(s, &caller, vec![Op::PutVirtualAccount(va("va-t", "u", None))], NOW).is_err());
    // Someone who manages no team gets nothing from team-manager.
    let nobody = email("nobody@example.com");
    let mut w = s.to_world();
    w.users.push(user(&nobody, "member", true));
    let s2 = Snapshot::from_world(w);
    for p in VA_PERMS {
        assert!(!allowed(&s2, &nobody, p, &va_t));
        assert!(!allowed(&s2, &nobody, p, &team_t));
    }
}

#[test]
fn team_manager_without_virtual_account_permissions_cannot_touch_accounts() {
    let f = fixture(
        BuiltinRole::Member.default_role().permissions,
        BuiltinRole::TeamManager.default_role().permissions,
        vec![],
    );
    let va_t = Resource::virtual_account(&va_name("va-t"));
    for p in VA_PERMS {
        assert!(!allowed(&f.snap, &f.manager, p, &va_t), "{p} on va-t");
        assert!(!allowed(&f.snap, &f.manager, p, &Resource::team(&team_name("t"))), "{p} on team t");
    }
    // The default team-manager permissions (team read/manage) stay scoped to their own team.
    assert!(allowed(&f.snap, &f.manager, Permission::TeamManage, &Resource::team(&team_name("t"))));
    assert!(!allowed(&f.snap, &f.manager, Permission::TeamManage, &Resource::team(&team_name("u"))));
    let caller = Subject::User(f.manager.clone());
    assert!(execute(&f.snap, &caller, vec![Op::PutVirtualAccount(va("va-new", "t", None))], NOW).is_err());

    // Editing the role (as an admin, through an operation) switches them on.
    let mut tm = BuiltinRole::TeamManager.default_role();
    tm.permissions = tm.permissions.union(perm_set(&VA_PERMS));
    let (s, _) = execute(&f.snap, &Subject::User(f.admin.clone()), vec![Op::PutRole(tm)], NOW).unwrap();
    for p in [Permission::VirtualAccountRead, Permission::VirtualAccountManage, Permission::VirtualAccountDelete] {
        assert!(allowed(&s, &f.manager, p, &va_t), "{p} on va-t after the edit");
        assert!(!allowed(&s, &f.manager, p, &Resource::virtual_account(&va_name("va-u"))));
    }
}

#[test]
fn member_role_with_gateway_controls_list_lets_every_user_list_them() {
    let f = fixture(
        BuiltinRole::Member.default_role().permissions,
        BuiltinRole::TeamManager.default_role().permissions,
        vec![],
    );
    let gc = res(ResourceKind::GatewayControls, "default-limits");
    for e in [&f.manager, &f.other] {
        assert!(!allowed(&f.snap, e, Permission::GatewayControlsList, &gc));
    }
    let mut member = BuiltinRole::Member.default_role();
    member.permissions.insert(Permission::GatewayControlsList);
    let (s, _) = execute(&f.snap, &Subject::User(f.admin.clone()), vec![Op::PutRole(member)], NOW).unwrap();
    for e in [&f.manager, &f.other, &f.admin] {
        assert!(allowed(&s, e, Permission::GatewayControlsList, &gc), "{e}");
        assert!(allowed(&s, e, Permission::GatewayControlsList, &Resource::tenant()), "{e}");
    }
    // Listing is not managing.
    assert!(!allowed(&s, &f.other, Permission::GatewayControlsManage, &gc));
}

#[test]
fn mcp_server_create_alone_does_not_read_or_manage_until_made_a_collaborator() {
    let creators = custom_role("mcp-creator", perm_set(&[Permission::McpServerCreate]));
    let f = fixture(PermSet::EMPTY, PermSet::EMPTY, vec![creators]);
    let creator = email("creator@example.com");
    let mut w = f.snap.to_world();
    w.users.push(user(&creator, "mcp-creator", true));
    let github = res(ResourceKind::McpServer, "github");
    let s = Snapshot::from_world(w.clone());
    assert!(allowed(&s, &creator, Permission::McpServerCreate, &Resource::tenant()));
    assert!(allowed(&s, &creator, Permission::McpServerCreate, &github));
    for p in
        [Permission::McpServerRead, Permission::McpServerManage, Permission::McpServerDelete, Permission::McpServerUse]
    {
        assert!(!allowed(&s, &creator, p, &github), "{p}");
    }
    assert!(!s.check(&Subject::User(creator.clone()), Action::Use, &github, NOW).is_allowed());

    w.grants.push(Grant {
        resource: github.clone(),
        subject: Subject::User(creator.clone()),
        role: CollaboratorRole::McpServerManager,
    });
    let s = Snapshot::from_world(w);
    for p in [Permission::McpServerRead, Permission::McpServerManage, Permission::McpServerUse] {
        assert!(allowed(&s, &creator, p, &github), "{p} as mcp-server-manager");
    }
    assert!(s.check(&Subject::User(creator.clone()), Action::Use, &github, NOW).is_allowed());
    // A collaborator role on one server says nothing about another, and does not delete.
    assert!(!allowed(&s, &creator, Permission::McpServerDelete, &github));
    assert!(!allowed(&s, &creator, Permission::McpServerRead, &res(ResourceKind::McpServer, "other")));
}

#[test]
fn rotation_keeps_the_old_token_only_for_the_grace_period() {
    let f = fixture(
        BuiltinRole::Member.default_role().permissions,
        BuiltinRole::TeamManager.default_role().permissions,
        vec![],
    );
    let owner = TokenOwner::VirtualAccount(va_name("va-t"));
    let (old, old_secret) =
        mint(TokenKind::VirtualAccount, owner.clone(), "old", NOW - Duration::days(3), None, entropy(1));
    let mut w = f.snap.to_world();
    w.tokens.push(old);
    let s = Snapshot::from_world(w);
    assert!(s.authenticate(old_secret.expose(), NOW).is_ok());

    let grace = Duration::hours(2);
    let (new, new_secret) = mint(TokenKind::VirtualAccount, owner, "new", NOW, None, entropy(2));
    let op = Op::RotateVirtualAccount { name: va_name("va-t"), new, grace };
    let (s, _) = execute(&s, &Subject::User(f.admin.clone()), vec![op], NOW).unwrap();
    let one = Duration::seconds(1);
    let va_subject = Subject::VirtualAccount(va_name("va-t"));
    assert_eq!(s.authenticate(old_secret.expose(), NOW).map(|p| p.subject), Ok(va_subject.clone()));
    assert_eq!(s.authenticate(old_secret.expose(), NOW + grace - one).map(|p| p.subject), Ok(va_subject.clone()));
    assert_eq!(s.authenticate(old_secret.expose(), NOW + grace), Err(AuthError::Expired));
    assert_eq!(s.authenticate(old_secret.expose(), NOW + grace + one), Err(AuthError::Expired));
    for at in [NOW, NOW + grace - one, NOW + grace + one, NOW + Duration::days(400)] {
        assert_eq!(s.authenticate(new_secret.expose(), at).map(|p| p.subject), Ok(va_subject.clone()), "{at}");
    }
    // A wrong secret for a known id is just invalid.
    let mut forged = new_secret.expose().clone();
    forged.pop();
    forged.push(if new_secret.expose().ends_with('0') { '1' } else { '0' });
    assert_eq!(s.authenticate(&forged, NOW), Err(AuthError::Invalid));
}

#[test]
fn each_reason_a_token_fails_is_its_own_error() {
    let f = fixture(
        BuiltinRole::Member.default_role().permissions,
        BuiltinRole::TeamManager.default_role().permissions,
        vec![],
    );
    let owner = TokenOwner::User(f.admin.clone());
    let hour = Duration::hours(1);
    let (session, session_secret) =
        mint(TokenKind::Session, owner.clone(), "s", NOW - hour, Some(NOW + hour), entropy(11));
    let (mut revoked, revoked_secret) = mint(TokenKind::Pat, owner.clone(), "r", NOW - hour, None, entropy(12));
    revoked.revoked = true;
    let (pat, pat_secret) = mint(TokenKind::Pat, owner, "p", NOW - hour, Some(NOW + hour), entropy(13));
    let mut w = f.snap.to_world();
    w.tokens.extend([session, revoked, pat]);
    let s = Snapshot::from_world(w);
    assert!(s.authenticate(session_secret.expose(), NOW).is_ok());
    assert_eq!(s.authenticate(session_secret.expose(), NOW + hour).map(|_| ()), Err(AuthError::SessionEnded));
    assert_eq!(s.authenticate(revoked_secret.expose(), NOW).map(|_| ()), Err(AuthError::Revoked));
    assert_eq!(s.authenticate(pat_secret.expose(), NOW + hour).map(|_| ()), Err(AuthError::Expired));
    assert_eq!(s.authenticate("not-a-token", NOW).map(|_| ()), Err(AuthError::Malformed));
    // Malformed, unknown and wrong secrets read the same; only the code tells a client which.
    assert_eq!(AuthError::Malformed.to_string(), AuthError::Invalid.to_string());
}

#[test]
fn deactivating_a_user_ends_their_tokens_at_once() {
    let f = fixture(
        BuiltinRole::Member.default_role().permissions,
        BuiltinRole::TeamManager.default_role().permissions,
        vec![],
    );
    let owner = TokenOwner::User(f.other.clone());
    let (pat, pat_secret) = mint(TokenKind::Pat, owner.clone(), "pat", NOW - Duration::days(1), None, entropy(11));
    let (sess, sess_secret) = mint(TokenKind::Session, owner, "s", NOW, Some(NOW + Duration::hours(8)), entropy(12));
    let mut w = f.snap.to_world();
    w.tokens.extend([pat, sess]);
    let s = Snapshot::from_world(w);
    for t in [&pat_secret, &sess_secret] {
        assert_eq!(s.authenticate(t.expose(), NOW).map(|p| p.subject), Ok(Subject::User(f.other.clone())));
    }
    let admin = Subject::User(f.admin.clone());
    let (s, _) = execute(&s, &admin, vec![Op::PutUser(user(&f.other, "member", false))], NOW).unwrap();
    for t in [&pat_secret, &sess_secret] {
        assert!(s.authenticate(t.expose(), NOW).is_err());
    }
    // Reactivation does not bring the old tokens back.
    let (s, _) = execute(&s, &admin, vec![Op::PutUser(user(&f.other, "member", true))], NOW).unwrap();
    for t in [&pat_secret, &sess_secret] {
        assert!(s.authenticate(t.expose(), NOW).is_err());
    }
}

// ---------------------------------------------------------------------------------------------------------
// Regression tests for escalation holes the properties found.
// ---------------------------------------------------------------------------------------------------------

/// `ops.rs`, `Ctx::require_can_manage_user`: "more powerful than the caller" looks only at role permissions,
/// not at collaborator grants (held directly or through teams) nor at team-manager rights. A user manager
/// can therefore set the password of (and so log in as), or reactivate, a user who may do what they may not.
#[test]
fn a_user_manager_cannot_take_over_a_user_with_more_grants() {
    let user_admin = custom_role(
        "user-admin",
        perm_set(&[Permission::UserList, Permission::TeamRead, Permission::RoleList, Permission::UserManage]),
    );
    let admin = email("admin@example.com");
    let c = email("c@example.com");
    let u = email("u@example.com");
    let pa0 = res(ResourceKind::ProviderAccount, "pa-0");
    let w = World {
        roles: vec![
            BuiltinRole::Admin.default_role(),
            BuiltinRole::Member.default_role(),
            BuiltinRole::TeamManager.default_role(),
            user_admin,
        ],
        users: vec![user(&admin, "admin", true), user(&c, "user-admin", true), user(&u, "member", true)],
        teams: vec![],
        virtual_accounts: vec![],
        tokens: vec![],
        grants: vec![Grant {
            resource: pa0.clone(),
            subject: Subject::User(u.clone()),
            role: CollaboratorRole::ProviderAccountManager,
        }],
        resources: vec![],
    };
    let s = Snapshot::from_world(w);
    let caller = Subject::User(c.clone());
    assert!(allowed(&s, &u, Permission::ProviderAccountManage, &pa0));
    assert!(!allowed(&s, &c, Permission::ProviderAccountManage, &pa0));

    let set_password = Op::SetPassword { email: u.clone(), hash: Secret::new("$argon2id$x".into()) };
    assert!(
        execute(&s, &caller, vec![set_password], NOW).is_err(),
        "c may set the password of u, who may manage pa-0, which c may not"
    );

    // The same user, deactivated and then reactivated by c.
    let (s, _) = execute(&s, &Subject::User(admin), vec![Op::PutUser(user(&u, "member", false))], NOW).unwrap();
    assert!(
        execute(&s, &caller, vec![Op::PutUser(user(&u, "member", true))], NOW).is_err(),
        "c may reactivate u, giving back provider-account:manage on pa-0, which c does not hold"
    );
}

/// `ops.rs`, `authorize`, `Op::IssueToken` for `Pat`/`Session`: only `caller == owner` is checked, not that
/// the caller still exists and is active. Within one batch a caller can delete or deactivate themself and
/// then mint a personal token, which outlives them: it authenticates again as soon as an admin re-creates or
/// reactivates that email ("Deactivation ends every token and session at once, for good").
#[test]
fn a_batch_cannot_issue_a_token_to_a_deleted_or_deactivated_caller() {
    let user_admin = custom_role("user-admin", perm_set(&[Permission::UserList, Permission::UserManage]));
    let admin = email("admin@example.com");
    let c = email("c@example.com");
    let w = World {
        roles: vec![
            BuiltinRole::Admin.default_role(),
            BuiltinRole::Member.default_role(),
            BuiltinRole::TeamManager.default_role(),
            user_admin,
        ],
        users: vec![user(&admin, "admin", true), user(&c, "user-admin", true)],
        ..World::default()
    };
    let s = Snapshot::from_world(w);
    let caller = Subject::User(c.clone());
    let admin = Subject::User(admin);
    let pat = |n| mint(TokenKind::Pat, TokenOwner::User(c.clone()), "late", NOW, None, entropy(n));

    // Deactivate self, then mint.
    let (t, secret) = pat(1);
    let r = execute(&s, &caller, vec![Op::PutUser(user(&c, "user-admin", false)), Op::IssueToken(t)], NOW);
    if let Ok((after, _)) = r {
        let (after, _) = execute(&after, &admin, vec![Op::PutUser(user(&c, "user-admin", true))], NOW).unwrap();
        assert!(
            after.authenticate(secret.expose(), NOW).is_err(),
            "a token minted while deactivated works after reactivation"
        );
        panic!("a deactivated caller was issued a personal access token");
    }

    // Delete self, then mint.
    let (t, secret) = pat(2);
    let r = execute(&s, &caller, vec![Op::DeleteUser(c.clone()), Op::IssueToken(t)], NOW);
    if let Ok((after, _)) = r {
        let (after, _) = execute(&after, &admin, vec![Op::PutUser(user(&c, "member", true))], NOW).unwrap();
        assert!(
            after.authenticate(secret.expose(), NOW).is_err(),
            "a token minted by a deleted user works for the next user with that email"
        );
        panic!("a deleted caller was issued a personal access token");
    }
}

// Differential testing against Cedar, on these generators (tests/cedar/diff.rs).
#[path = "cedar/diff.rs"]
mod cedar_diff;
#[path = "cedar/translate.rs"]
mod cedar_translate;
