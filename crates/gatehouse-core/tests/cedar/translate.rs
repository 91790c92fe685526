//! A Gatehouse world as Cedar entities and policies that mean the same thing, written from the rules of
//! docs/access-model.md rather than from the engine's code, so that Cedar's authorizer can decide the same
//! requests independently (tests/cedar/diff.rs) and be timed on the same world (benches/engine.rs).
//!
//! Entities:
//! - `Tenant::"tenant"`: the tenant resource, and the parent of every subject (a principal not in it is
//!   unknown: Cedar's store otherwise cannot tell a deleted subject from a live one).
//! - `User` {active, role: Role, teams: Set<Team> (member of), manages: Set<Team>}.
//! - `Team` {}; `VirtualAccount` {owner: Team, expires_at?: Long (ns since the epoch)}.
//! - `Role` {perms: Set<Action>}: custom and built-in roles alike; `Role::"admin"` is the admin role.
//! - `ProviderAccount`, `McpServer`, `Agent` {<collaborator role>: Set<subject>, one per role of the kind}:
//!   the collaborator grants on them.
//! - `Model` {account: ProviderAccount, authorized_subjects?: Set<subject>}: configured models only.
//! - Every other resource kind is its own entity type; such resources need no entity.
//! - Actions: one per permission id, and `Action::"use"`; the groups `applies:<kind>` (the actions that apply
//!   to a kind of resource) and `team-scoped` (what team-manager gives only on managed teams).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use cedar_policy::{Authorizer, Context, Entities, EntityId, EntityTypeName, EntityUid, PolicySet, Request, Response};
use gatehouse_core::resource::ResourceSpec;
use gatehouse_core::snapshot::World;
use gatehouse_core::{Action, CollaboratorRole, Permission, Resource, ResourceKind, Subject};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// Every resource kind. The match below fails to compile when a kind is added, so the translation is
/// revisited then.
pub const KINDS: [ResourceKind; 19] = [
    ResourceKind::Tenant,
    ResourceKind::Model,
    ResourceKind::ProviderAccount,
    ResourceKind::McpServer,
    ResourceKind::Agent,
    ResourceKind::GatewayControls,
    ResourceKind::Cluster,
    ResourceKind::Workspace,
    ResourceKind::Application,
    ResourceKind::Environment,
    ResourceKind::Policy,
    ResourceKind::Role,
    ResourceKind::User,
    ResourceKind::Team,
    ResourceKind::VirtualAccount,
    ResourceKind::ExternalIdentity,
    ResourceKind::Repository,
    ResourceKind::SecretGroup,
    ResourceKind::Settings,
];

/// The Cedar entity type of a resource kind: its id in CamelCase (`provider-account` is `ProviderAccount`).
pub fn type_of(kind: ResourceKind) -> String {
    match kind {
        ResourceKind::Tenant
        | ResourceKind::Model
        | ResourceKind::ProviderAccount
        | ResourceKind::McpServer
        | ResourceKind::Agent
        | ResourceKind::GatewayControls
        | ResourceKind::Cluster
        | ResourceKind::Workspace
        | ResourceKind::Application
        | ResourceKind::Environment
        | ResourceKind::Policy
        | ResourceKind::Role
        | ResourceKind::User
        | ResourceKind::Team
        | ResourceKind::VirtualAccount
        | ResourceKind::ExternalIdentity
        | ResourceKind::Repository
        | ResourceKind::SecretGroup
        | ResourceKind::Settings => {}
    }
    kind.as_str()
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The resource kind a permission acts on, read off its id (`<kind>:<verb>`).
fn perm_kind(p: Permission) -> ResourceKind {
    let prefix = p.id().split(':').next().unwrap_or_default();
    KINDS.into_iter().find(|k| k.as_str() == prefix).expect("every permission id starts with a kind")
}

/// The attribute of a resource entity that lists a collaborator role's holders.
fn role_attr(r: CollaboratorRole) -> String {
    r.as_str().replace('-', "_")
}

fn uid_json(ty: &str, id: &str) -> Value {
    json!({"type": ty, "id": id})
}
fn entity_ref(ty: &str, id: &str) -> Value {
    json!({"__entity": {"type": ty, "id": id}})
}
fn subject_ref(s: &Subject) -> Value {
    match s {
        Subject::User(e) => entity_ref("User", e.as_str()),
        Subject::Team(t) => entity_ref("Team", t.as_str()),
        Subject::VirtualAccount(v) => entity_ref("VirtualAccount", v.as_str()),
    }
}
fn action_id(a: Action) -> String {
    match a {
        Action::Perm(p) => p.id().to_owned(),
        Action::Use => "use".to_owned(),
    }
}
fn ns(t: OffsetDateTime) -> i64 {
    // Nanoseconds fit an i64 until 2262; exact, so expiry "at or past" is decided on the same instant.
    i64::try_from(t.unix_timestamp_nanos()).expect("a time before 2262")
}

/// What each collaborator role allows, as docs/access-model.md's table of collaborator roles gives it:
/// (role, actions on the resource itself, whether it allows `use` of the models of a provider account).
const COLLABORATOR_ROLES: [(CollaboratorRole, &[&str], bool); 6] = [
    (CollaboratorRole::ProviderAccountManager, &["use", "provider-account:read", "provider-account:manage"], true),
    (CollaboratorRole::ProviderAccountUser, &["use", "provider-account:read"], true),
    (CollaboratorRole::McpServerManager, &["use", "mcp-server:read", "mcp-server:manage", "mcp-server:use"], false),
    (CollaboratorRole::McpServerUser, &["use", "mcp-server:read", "mcp-server:use"], false),
    (CollaboratorRole::AgentManager, &["agent:read", "agent:manage"], false),
    (CollaboratorRole::AgentViewer, &["agent:read"], false),
];

/// The policies. Their ids name the rule, so a disagreement (and the reason check) can say which fired.
pub fn policies_text() -> String {
    let mut p = String::new();
    p.push_str(
        r#"
// A subject the tenant does not know gets nothing, whatever grants still name it.
@id("unknown-subject")
forbid (principal, action, resource) unless { principal in Tenant::"tenant" };

// A deactivated user gets nothing, admin or not.
@id("inactive")
forbid (principal is User, action, resource) unless { principal.active };

// A virtual account at or past its expiry gets nothing.
@id("expired")
forbid (principal is VirtualAccount, action, resource)
when { principal has expires_at && context.now >= principal.expires_at };

// The admin role has every permission, on everything.
@id("admin")
permit (principal is User, action, resource) when { principal.role == Role::"admin" };

// A model is used only if configured and, when narrowed, by a listed subject or a member of a listed team
// (admins excepted).
@id("model-closed")
forbid (principal, action == Action::"use", resource is Model)
unless {
  (principal is User && principal.role == Role::"admin") ||
  (resource has account &&
    (!(resource has authorized_subjects) ||
     resource.authorized_subjects.contains(principal) ||
     (principal is User && principal.teams.containsAny(resource.authorized_subjects))))
};

// A role's permissions apply on every resource (that they apply to: see not-applicable).
@id("role")
permit (principal is User, action, resource) when { principal.role.perms.contains(action) };

// `use` of an MCP server comes with mcp-server:use; of a provider account's models with use-integrations.
@id("role-use-mcp")
permit (principal is User, action == Action::"use", resource is McpServer)
when { principal.role.perms.contains(Action::"mcp-server:use") };

@id("role-use-model")
permit (principal is User, action == Action::"use", resource)
when {
  (resource is Model || resource is ProviderAccount) &&
  principal.role.perms.contains(Action::"provider-account:use-integrations")
};

// team-manager applies to whoever manages a team: tenant-wide, except team and virtual-account permissions,
// which it gives only on the teams they manage and the virtual accounts those teams own.
@id("team-manager")
permit (principal is User, action, resource)
when {
  !principal.manages.isEmpty() &&
  !(action in Action::"team-scoped") &&
  Role::"team-manager".perms.contains(action)
};

@id("team-manager-team")
permit (principal is User, action in Action::"team-scoped", resource is Team)
when { principal.manages.contains(resource) && Role::"team-manager".perms.contains(action) };

@id("team-manager-va")
permit (principal is User, action in Action::"team-scoped", resource is VirtualAccount)
when { principal.manages.contains(resource.owner) && Role::"team-manager".perms.contains(action) };
"#,
    );
    // A collaborator grant allows what its role allows, held by the subject or (for a user) a team of theirs.
    // `contains`/`containsAny` rather than `principal in resource.<role>`: the same meaning (users' teams are
    // listed), but Cedar's `in` over a set is linear in the set, and the benchmark's accounts have hundreds
    // of holders.
    for (role, actions, models) in COLLABORATOR_ROLES {
        let attr = role_attr(role);
        let ty = type_of(role.resource_kind());
        let list = actions.iter().map(|a| format!("Action::\"{a}\"")).collect::<Vec<_>>().join(", ");
        p.push_str(&format!(
            "\n@id(\"grant:{role}\")\npermit (principal, action in [{list}], resource is {ty})\nwhen {{ resource.{attr}.contains(principal) || (principal is User && principal.teams.containsAny(resource.{attr})) }};\n",
            role = role.as_str()
        ));
        if models {
            p.push_str(&format!(
                "\n@id(\"grant:{role}:model\")\npermit (principal, action == Action::\"use\", resource is Model)\nwhen {{ resource.account.{attr}.contains(principal) || (principal is User && principal.teams.containsAny(resource.account.{attr})) }};\n",
                role = role.as_str()
            ));
        }
    }
    // Outside admin, an action must apply to the resource: a permission to the tenant and to resources of its
    // kind (virtual-account ones also to teams: the accounts a team owns), `use` to models, provider accounts
    // and MCP servers.
    let applies: Vec<String> = KINDS
        .iter()
        .map(|k| format!("(resource is {} && action in Action::\"applies:{}\")", type_of(*k), k.as_str()))
        .collect();
    p.push_str(&format!(
        "\n@id(\"not-applicable\")\nforbid (principal, action, resource)\nunless {{\n  (principal is User && principal.role == Role::\"admin\") ||\n  {}\n}};\n",
        applies.join(" ||\n  ")
    ));
    p
}

/// The action entities and their groups.
fn action_entities() -> Vec<Value> {
    let mut out = Vec::new();
    for p in Permission::ALL {
        let kind = perm_kind(*p);
        let mut parents =
            vec![uid_json("Action", "applies:tenant"), uid_json("Action", &format!("applies:{}", kind.as_str()))];
        if kind == ResourceKind::VirtualAccount {
            parents.push(uid_json("Action", "applies:team"));
        }
        if matches!(kind, ResourceKind::Team | ResourceKind::VirtualAccount) {
            parents.push(uid_json("Action", "team-scoped"));
        }
        out.push(json!({"uid": uid_json("Action", p.id()), "attrs": {}, "parents": parents}));
    }
    let use_parents: Vec<Value> = [ResourceKind::Model, ResourceKind::ProviderAccount, ResourceKind::McpServer]
        .iter()
        .map(|k| uid_json("Action", &format!("applies:{}", k.as_str())))
        .collect();
    out.push(json!({"uid": uid_json("Action", "use"), "attrs": {}, "parents": use_parents}));
    for k in KINDS {
        out.push(json!({"uid": uid_json("Action", &format!("applies:{}", k.as_str())), "attrs": {}, "parents": []}));
    }
    out.push(json!({"uid": uid_json("Action", "team-scoped"), "attrs": {}, "parents": []}));
    out
}

/// The world's entities, as Cedar's JSON entity format.
pub fn entities_json(w: &World) -> Value {
    let tenant = uid_json("Tenant", "tenant");
    let mut out = action_entities();
    out.push(json!({"uid": tenant, "attrs": {}, "parents": []}));
    for r in &w.roles {
        let perms: Vec<Value> = r.permissions.iter().map(|p| entity_ref("Action", p.id())).collect();
        out.push(json!({"uid": uid_json("Role", r.name.as_str()), "attrs": {"perms": perms}, "parents": []}));
    }
    let mut teams_of: BTreeMap<&str, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for t in &w.teams {
        for m in &t.members {
            teams_of.entry(m.as_str()).or_default().0.push(entity_ref("Team", t.name.as_str()));
        }
        for m in &t.managers {
            teams_of.entry(m.as_str()).or_default().1.push(entity_ref("Team", t.name.as_str()));
        }
        out.push(json!({"uid": uid_json("Team", t.name.as_str()), "attrs": {}, "parents": [tenant]}));
    }
    for u in &w.users {
        let (teams, manages) = teams_of.remove(u.email.as_str()).unwrap_or_default();
        out.push(json!({
            "uid": uid_json("User", u.email.as_str()),
            "attrs": {"active": u.active, "role": entity_ref("Role", u.role.as_str()), "teams": teams, "manages": manages},
            "parents": [tenant],
        }));
    }
    for v in &w.virtual_accounts {
        let mut attrs = json!({"owner": entity_ref("Team", v.owner_team.as_str())});
        if let Some(e) = v.expires_at {
            attrs["expires_at"] = json!(ns(e));
        }
        out.push(json!({"uid": uid_json("VirtualAccount", v.name.as_str()), "attrs": attrs, "parents": [tenant]}));
    }
    // Resources that hold grants or are configured, each with every role attribute of its kind.
    let mut holders: BTreeMap<Resource, BTreeMap<CollaboratorRole, Vec<Value>>> = BTreeMap::new();
    for rec in &w.resources {
        if matches!(
            rec.spec,
            ResourceSpec::ProviderAccount(_)
                | ResourceSpec::McpServer(_)
                | ResourceSpec::McpVirtual(_)
                | ResourceSpec::Agent(_)
        ) {
            holders.entry(rec.resource()).or_default();
        }
    }
    for g in &w.grants {
        holders.entry(g.resource.clone()).or_default().entry(g.role).or_default().push(subject_ref(&g.subject));
    }
    for (r, mut by_role) in holders {
        let mut attrs = serde_json::Map::new();
        for role in CollaboratorRole::ALL.into_iter().filter(|x| x.resource_kind() == r.kind) {
            attrs.insert(role_attr(role), Value::Array(by_role.remove(&role).unwrap_or_default()));
        }
        out.push(json!({"uid": uid_json(&type_of(r.kind), &r.name), "attrs": attrs, "parents": []}));
    }
    for rec in &w.resources {
        let ResourceSpec::ProviderAccount(p) = &rec.spec else { continue };
        let account = p.name().as_str();
        for (m, list) in p.model_access() {
            let mut attrs = json!({"account": entity_ref("ProviderAccount", account)});
            if let Some(list) = list {
                attrs["authorized_subjects"] = Value::Array(list.iter().map(subject_ref).collect());
            }
            out.push(json!({"uid": uid_json("Model", &format!("{account}/{m}")), "attrs": attrs, "parents": []}));
        }
    }
    Value::Array(out)
}

/// A world ready for Cedar's authorizer.
pub struct CedarWorld {
    pub policies: PolicySet,
    pub entities: Entities,
    authorizer: Authorizer,
}

impl CedarWorld {
    pub fn new(w: &World) -> CedarWorld {
        let policies = PolicySet::from_str(&policies_text()).unwrap_or_else(|e| panic!("policies: {e:?}"));
        let entities = Entities::from_json_value(entities_json(w), None).unwrap_or_else(|e| panic!("entities: {e:?}"));
        CedarWorld { policies, entities, authorizer: Authorizer::new() }
    }

    pub fn decide(&self, r: &Request) -> Response {
        self.authorizer.is_authorized(r, &self.policies, &self.entities)
    }

    /// The `@id`s of the policies that determined a response (the satisfied permits when allowed, the
    /// satisfied forbids when denied).
    pub fn reasons(&self, r: &Response) -> BTreeSet<String> {
        r.diagnostics()
            .reason()
            .map(|p| self.policies.annotation(p, "id").map_or_else(|| p.to_string(), str::to_owned))
            .collect()
    }
}

fn uid(ty: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(EntityTypeName::from_str(ty).expect("a type name"), EntityId::new(id))
}

pub fn subject_uid(s: &Subject) -> EntityUid {
    match s {
        Subject::User(e) => uid("User", e.as_str()),
        Subject::Team(t) => uid("Team", t.as_str()),
        Subject::VirtualAccount(v) => uid("VirtualAccount", v.as_str()),
    }
}

pub fn resource_uid(r: &Resource) -> EntityUid {
    match r.kind {
        ResourceKind::Tenant => uid("Tenant", "tenant"),
        k => uid(&type_of(k), &r.name),
    }
}

/// The Cedar request for `check(subject, action, resource)` at `now`.
pub fn request(s: &Subject, a: Action, r: &Resource, now: OffsetDateTime) -> Request {
    let context = Context::from_json_value(json!({"now": ns(now)}), None).expect("a context");
    Request::new(subject_uid(s), uid("Action", &action_id(a)), resource_uid(r), context, None)
        .expect("a request without a schema")
}
