//! Domain objects: roles, users, teams, virtual accounts, tokens, collaborator grants, subjects and resources.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{Email, InvalidName, RoleName, TeamName, TokenId, VaName};
use crate::permission::{PermSet, Permission};

/// The three roles every tenant has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuiltinRole {
    /// Every permission; cannot be edited, renamed or deleted.
    Admin,
    /// The default role of a new user; permissions editable.
    Member,
    /// Not assigned: applies to every manager of a team; permissions editable.
    TeamManager,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 3] = [BuiltinRole::Admin, BuiltinRole::Member, BuiltinRole::TeamManager];

    pub const fn name(self) -> &'static str {
        match self {
            BuiltinRole::Admin => "admin",
            BuiltinRole::Member => "member",
            BuiltinRole::TeamManager => "team-manager",
        }
    }

    pub fn role_name(self) -> RoleName {
        RoleName::from_static(self.name())
    }

    pub fn from_name(name: &str) -> Option<BuiltinRole> {
        BuiltinRole::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The role as a fresh tenant has it.
    pub fn default_role(self) -> Role {
        use Permission::*;
        let (display, description, perms): (&str, &str, PermSet) = match self {
            BuiltinRole::Admin => ("Admin", "Every permission in the tenant", PermSet::all()),
            // What a regular user needs to find colleagues, teams and roles; nothing that changes anything.
            BuiltinRole::Member => (
                "Member",
                "Default role of a user: can see users, teams and roles",
                [UserList, TeamRead, RoleList].into_iter().collect(),
            ),
            // Scoped to the teams a person manages (see the engine); virtual-account permissions are off
            // until an admin adds them, as in docs/access-model.md's FAQ.
            BuiltinRole::TeamManager => (
                "Team Manager",
                "Applies to every manager of a team, for the teams they manage",
                [TeamRead, TeamManage].into_iter().collect(),
            ),
        };
        Role {
            name: self.role_name(),
            display_name: display.to_owned(),
            description: description.to_owned(),
            permissions: perms,
            builtin: Some(self),
        }
    }
}

/// A tenant role: a named set of permissions that apply to every resource in the tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub name: RoleName,
    pub display_name: String,
    pub description: String,
    pub permissions: PermSet,
    pub builtin: Option<BuiltinRole>,
}

impl Role {
    pub fn is_admin(&self) -> bool {
        self.builtin == Some(BuiltinRole::Admin)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub email: Email,
    pub display_name: String,
    /// Exactly one tenant role.
    pub role: RoleName,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Team {
    pub name: TeamName,
    pub description: String,
    /// Every manager is also in `members`.
    pub managers: BTreeSet<Email>,
    pub members: BTreeSet<Email>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualAccount {
    pub name: VaName,
    pub owner_team: TeamName,
    pub description: String,
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenKind {
    /// `gh_pat_`: a personal access token.
    Pat,
    /// `gh_va_`: a virtual account token.
    VirtualAccount,
    /// `gh_sess_`: a login session.
    Session,
}

impl TokenKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            TokenKind::Pat => "gh_pat_",
            TokenKind::VirtualAccount => "gh_va_",
            TokenKind::Session => "gh_sess_",
        }
    }
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenKind::Pat => "pat",
            TokenKind::VirtualAccount => "virtual-account",
            TokenKind::Session => "session",
        }
    }
    pub fn from_str_opt(s: &str) -> Option<TokenKind> {
        [TokenKind::Pat, TokenKind::VirtualAccount, TokenKind::Session].into_iter().find(|k| k.as_str() == s)
    }
}

/// Who a token acts as. A token never carries access of its own: it is resolved to its owner on every request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenOwner {
    User(Email),
    VirtualAccount(VaName),
}

impl TokenOwner {
    pub fn subject(&self) -> Subject {
        match self {
            TokenOwner::User(e) => Subject::User(e.clone()),
            TokenOwner::VirtualAccount(v) => Subject::VirtualAccount(v.clone()),
        }
    }
}

/// SHA-256 of a token's secret part; the secret itself is never stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(****)")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub id: TokenId,
    pub kind: TokenKind,
    pub owner: TokenOwner,
    pub name: String,
    pub hash: TokenHash,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

impl Token {
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        !self.revoked && self.expires_at.is_none_or(|e| now < e)
    }
}

/// Kinds of resource, named as in permission ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    Tenant,
    Model,
    ProviderAccount,
    McpServer,
    Agent,
    GatewayControls,
    Cluster,
    Workspace,
    Application,
    Environment,
    Policy,
    Role,
    User,
    Team,
    VirtualAccount,
    ExternalIdentity,
    Repository,
    SecretGroup,
    Settings,
}

impl ResourceKind {
    const ALL: [ResourceKind; 19] = [
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

    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Tenant => "tenant",
            ResourceKind::Model => "model",
            ResourceKind::ProviderAccount => "provider-account",
            ResourceKind::McpServer => "mcp-server",
            ResourceKind::Agent => "agent",
            ResourceKind::GatewayControls => "gateway-controls",
            ResourceKind::Cluster => "cluster",
            ResourceKind::Workspace => "workspace",
            ResourceKind::Application => "application",
            ResourceKind::Environment => "environment",
            ResourceKind::Policy => "policy",
            ResourceKind::Role => "role",
            ResourceKind::User => "user",
            ResourceKind::Team => "team",
            ResourceKind::VirtualAccount => "virtual-account",
            ResourceKind::ExternalIdentity => "external-identity",
            ResourceKind::Repository => "repository",
            ResourceKind::SecretGroup => "secret-group",
            ResourceKind::Settings => "settings",
        }
    }

    /// Whether Gatehouse has objects of this kind yet. The catalogue lists the permissions of kinds still to
    /// come (clusters, workspaces, ...) so roles can be written once; today they grant nothing, and the
    /// console sets them apart so nobody expects them to.
    pub const fn exists(self) -> bool {
        match self {
            ResourceKind::Tenant
            | ResourceKind::Model
            | ResourceKind::ProviderAccount
            | ResourceKind::McpServer
            | ResourceKind::Agent
            | ResourceKind::GatewayControls
            | ResourceKind::Role
            | ResourceKind::User
            | ResourceKind::Team
            | ResourceKind::VirtualAccount => true,
            ResourceKind::Cluster
            | ResourceKind::Workspace
            | ResourceKind::Application
            | ResourceKind::Environment
            | ResourceKind::Policy
            | ResourceKind::ExternalIdentity
            | ResourceKind::Repository
            | ResourceKind::SecretGroup
            | ResourceKind::Settings => false,
        }
    }
}

/// A thing a permission is checked against: `<kind>:<name>`, or the whole tenant.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resource {
    pub kind: ResourceKind,
    pub name: Arc<str>,
}

impl Resource {
    pub fn tenant() -> Resource {
        Resource { kind: ResourceKind::Tenant, name: Arc::from("") }
    }
    pub fn new(kind: ResourceKind, name: &str) -> Resource {
        Resource { kind, name: Arc::from(name) }
    }
    pub fn team(t: &TeamName) -> Resource {
        Resource::new(ResourceKind::Team, t.as_str())
    }
    pub fn virtual_account(v: &VaName) -> Resource {
        Resource::new(ResourceKind::VirtualAccount, v.as_str())
    }
    pub fn user(e: &Email) -> Resource {
        Resource::new(ResourceKind::User, e.as_str())
    }
    pub fn role(r: &RoleName) -> Resource {
        Resource::new(ResourceKind::Role, r.as_str())
    }
    /// For a model `account/model`, the provider account that holds it.
    pub fn parent(&self) -> Option<Resource> {
        match self.kind {
            ResourceKind::Model => {
                self.name.split_once('/').map(|(acct, _)| Resource::new(ResourceKind::ProviderAccount, acct))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ResourceKind::Tenant {
            f.write_str("tenant")
        } else {
            write!(f, "{}:{}", self.kind.as_str(), self.name)
        }
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A subject or resource string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseRefError {
    #[error("{0:?} is not of the form <kind>:<name>")]
    Shape(String),
    #[error("unknown kind {kind:?} in {value:?}; expected one of {expected}")]
    Kind { kind: String, value: String, expected: &'static str },
    #[error(transparent)]
    Name(#[from] InvalidName),
}

impl FromStr for Resource {
    type Err = ParseRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "tenant" {
            return Ok(Resource::tenant());
        }
        let (kind, name) = s.split_once(':').ok_or_else(|| ParseRefError::Shape(s.to_owned()))?;
        let kind = ResourceKind::ALL
            .into_iter()
            .find(|k| *k != ResourceKind::Tenant && k.as_str() == kind)
            .ok_or_else(|| ParseRefError::Kind {
                kind: kind.to_owned(),
                value: s.to_owned(),
                expected: "a resource name of the permission table, or model",
            })?;
        let ok = match kind {
            ResourceKind::User => Email::new(name).map(|e| e.to_string()),
            ResourceKind::Model => match name.split_once('/') {
                Some((a, m)) if !a.is_empty() && !m.is_empty() => Ok(name.to_owned()),
                _ => Err(InvalidName {
                    what: "model",
                    value: name.to_owned(),
                    rule: "must be <provider-account>/<model>",
                }),
            },
            _ => crate::ids::ResourceName::new(name).map(|n| n.to_string()),
        }?;
        Ok(Resource::new(kind, &ok))
    }
}

/// Who is asking: `user:<email>`, `team:<name>`, `virtualaccount:<name>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    User(Email),
    Team(TeamName),
    VirtualAccount(VaName),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(e) => write!(f, "user:{e}"),
            Subject::Team(t) => write!(f, "team:{t}"),
            Subject::VirtualAccount(v) => write!(f, "virtualaccount:{v}"),
        }
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Subject {
    type Err = ParseRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = s.split_once(':').ok_or_else(|| ParseRefError::Shape(s.to_owned()))?;
        Ok(match kind {
            "user" => Subject::User(Email::new(name)?),
            "team" => Subject::Team(TeamName::new(name)?),
            "virtualaccount" => Subject::VirtualAccount(VaName::new(name)?),
            _ => {
                return Err(ParseRefError::Kind {
                    kind: kind.to_owned(),
                    value: s.to_owned(),
                    expected: "user, team or virtualaccount",
                })
            }
        })
    }
}

impl Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// What is being asked for: a tenant permission, or using a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Perm(Permission),
    /// Calling a model (or an MCP server's tools): `"permission": "use"`.
    Use,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Perm(p) => f.write_str(p.id()),
            Action::Use => f.write_str("use"),
        }
    }
}

impl FromStr for Action {
    type Err = crate::permission::UnknownPermission;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "use" {
            Ok(Action::Use)
        } else {
            s.parse().map(Action::Perm)
        }
    }
}

/// A per-resource role given to a user, team or virtual account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CollaboratorRole {
    ProviderAccountManager,
    ProviderAccountUser,
    McpServerManager,
    McpServerUser,
    AgentManager,
    AgentViewer,
}

impl CollaboratorRole {
    pub const ALL: [CollaboratorRole; 6] = [
        CollaboratorRole::ProviderAccountManager,
        CollaboratorRole::ProviderAccountUser,
        CollaboratorRole::McpServerManager,
        CollaboratorRole::McpServerUser,
        CollaboratorRole::AgentManager,
        CollaboratorRole::AgentViewer,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            CollaboratorRole::ProviderAccountManager => "provider-account-manager",
            CollaboratorRole::ProviderAccountUser => "provider-account-user",
            CollaboratorRole::McpServerManager => "mcp-server-manager",
            CollaboratorRole::McpServerUser => "mcp-server-user",
            CollaboratorRole::AgentManager => "agent-manager",
            CollaboratorRole::AgentViewer => "agent-viewer",
        }
    }

    /// The resource kind this role is given on.
    pub const fn resource_kind(self) -> ResourceKind {
        match self {
            CollaboratorRole::ProviderAccountManager | CollaboratorRole::ProviderAccountUser => {
                ResourceKind::ProviderAccount
            }
            CollaboratorRole::McpServerManager | CollaboratorRole::McpServerUser => ResourceKind::McpServer,
            CollaboratorRole::AgentManager | CollaboratorRole::AgentViewer => ResourceKind::Agent,
        }
    }

    /// Whether holding this role on a resource allows `action` on it (or, for `Use`, on its models).
    pub const fn allows(self, action: Action) -> bool {
        use CollaboratorRole::*;
        use Permission::*;
        matches!(
            (self, action),
            (ProviderAccountManager | ProviderAccountUser | McpServerManager | McpServerUser, Action::Use)
                | (ProviderAccountManager, Action::Perm(ProviderAccountRead | ProviderAccountManage))
                | (ProviderAccountUser, Action::Perm(ProviderAccountRead))
                | (McpServerManager, Action::Perm(McpServerRead | McpServerManage | McpServerUse))
                | (McpServerUser, Action::Perm(McpServerRead | McpServerUse))
                | (AgentManager, Action::Perm(AgentRead | AgentManage))
                | (AgentViewer, Action::Perm(AgentRead))
        )
    }
}

impl fmt::Display for CollaboratorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `subject` holds `role` on `resource`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grant {
    pub resource: Resource,
    pub subject: Subject,
    pub role: CollaboratorRole,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_and_print() {
        for s in ["user:alice@example.com", "team:ml-platform", "virtualaccount:checkout-service"] {
            assert_eq!(s.parse::<Subject>().unwrap().to_string(), s);
        }
        for s in
            ["virtual-account:checkout-service", "provider-account:openai-main", "model:openai-main/gpt-4o", "tenant"]
        {
            assert_eq!(s.parse::<Resource>().unwrap().to_string(), s);
        }
        assert!("group:x".parse::<Subject>().is_err());
        assert!("widget:x".parse::<Resource>().is_err());
        assert!("model:gpt-4o".parse::<Resource>().is_err());
        assert_eq!(
            "model:openai-main/gpt-4o".parse::<Resource>().unwrap().parent().unwrap().to_string(),
            "provider-account:openai-main"
        );
    }
}
