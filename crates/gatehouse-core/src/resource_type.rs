//! The resource-type catalogue: every kind of object stored as a resource (provider accounts, MCP servers,
//! agents, gateway controls) declared once, with its collection, manifest types, permissions and collaborator
//! roles. The write authorization, the REST collections, manifests and apply read it from here, so a new type
//! is one row (plus its spec), and no match elsewhere can quietly give it another type's permissions.
//!
//! Adding a resource type: its `ResourceKind` and permissions (`model.rs`, the `catalogue!` in
//! `permission.rs`), its collaborator roles if it has any (`CollaboratorRole`), a row in `resource_types!`
//! and its `ManifestType` variant here, its spec and `ResourceSpec` variant (`resource.rs`); then the
//! compiler lists every exhaustive match to extend, and the server mounts it with one `collections!` line
//! (`routes/resources.rs`, checked by a test against this table).

use std::fmt;
use std::str::FromStr;

use crate::model::{CollaboratorRole, ResourceKind};
use crate::permission::Permission;
use crate::spec::{AgentSpec, GatewayControlKind, McpServerSpec, McpVirtualSpec, ProviderKind};

macro_rules! resource_types {
    ($( $variant:ident {
        kind: $kind:ident,
        collection: $collection:literal,
        noun: $noun:literal,
        create: $create:ident, manage: $manage:ident, delete: $delete:ident, read: $read:ident,
        collaborators: [$($role:ident),*],
    } )*) => {
        /// A kind of stored resource. Declaration order is apply order (after roles, users, teams and
        /// virtual accounts): what an object may refer to comes first.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ResourceType { $($variant),* }

        impl ResourceType {
            /// Every type, in apply order.
            pub const ALL: &'static [ResourceType] = &[$(ResourceType::$variant),*];

            pub const fn kind(self) -> ResourceKind {
                match self { $(ResourceType::$variant => ResourceKind::$kind),* }
            }
            /// The REST collection under `/api/v1/`, e.g. `provider-accounts`.
            pub const fn collection(self) -> &'static str {
                match self { $(ResourceType::$variant => $collection),* }
            }
            /// For messages: "provider account".
            pub const fn noun(self) -> &'static str {
                match self { $(ResourceType::$variant => $noun),* }
            }
            /// The permission to create one (asked on the tenant).
            pub const fn create_permission(self) -> Permission {
                match self { $(ResourceType::$variant => Permission::$create),* }
            }
            /// The permission to change one.
            pub const fn manage_permission(self) -> Permission {
                match self { $(ResourceType::$variant => Permission::$manage),* }
            }
            pub const fn delete_permission(self) -> Permission {
                match self { $(ResourceType::$variant => Permission::$delete),* }
            }
            /// The permission to see one (and to list the collection).
            pub const fn read_permission(self) -> Permission {
                match self { $(ResourceType::$variant => Permission::$read),* }
            }
            /// The collaborator roles given on one (manager first); empty: it has no collaborators.
            pub const fn collaborator_roles(self) -> &'static [CollaboratorRole] {
                match self { $(ResourceType::$variant => &[$(CollaboratorRole::$role),*]),* }
            }
        }
    };
}

resource_types! {
    ProviderAccount {
        kind: ProviderAccount, collection: "provider-accounts", noun: "provider account",
        create: ProviderAccountCreate, manage: ProviderAccountManage, delete: ProviderAccountDelete,
        read: ProviderAccountRead,
        collaborators: [ProviderAccountManager, ProviderAccountUser],
    }
    McpServer {
        kind: McpServer, collection: "mcp-servers", noun: "MCP server",
        create: McpServerCreate, manage: McpServerManage, delete: McpServerDelete, read: McpServerRead,
        collaborators: [McpServerManager, McpServerUser],
    }
    Agent {
        kind: Agent, collection: "agents", noun: "agent",
        create: AgentCreate, manage: AgentManage, delete: AgentDelete, read: AgentRead,
        collaborators: [AgentManager, AgentViewer],
    }
    // One permission for every write of a gateway control.
    GatewayControls {
        kind: GatewayControls, collection: "gateway-controls", noun: "gateway control",
        create: GatewayControlsManage, manage: GatewayControlsManage, delete: GatewayControlsManage,
        read: GatewayControlsList,
        collaborators: [],
    }
}

impl ResourceType {
    /// The type whose objects are resources of `kind`; `None` for kinds that are only permission scopes.
    pub fn of_kind(kind: ResourceKind) -> Option<ResourceType> {
        ResourceType::ALL.iter().copied().find(|t| t.kind() == kind)
    }

    /// Whether objects of this type have collaborators (stored as grants).
    pub const fn has_collaborators(self) -> bool {
        !self.collaborator_roles().is_empty()
    }

    /// Every manifest type of this resource type.
    pub fn manifest_types(self) -> impl Iterator<Item = ManifestType> {
        ManifestType::ALL.iter().copied().filter(move |m| m.resource_type() == Some(self))
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind().as_str())
    }
}

/// A manifest's `type`: parsed once, then matched, never compared as a string. A new resource type adds its
/// variant here (with its row in `ALL`) besides its row in `resource_types!`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ManifestType {
    Role,
    User,
    Team,
    VirtualAccount,
    ProviderAccount(ProviderKind),
    McpServer,
    McpVirtual,
    Agent,
    GatewayControl(GatewayControlKind),
}

/// The `type` is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown type {0:?}")]
pub struct UnknownManifestType(pub String);

impl ManifestType {
    /// Every manifest type, in apply order.
    pub const ALL: &'static [ManifestType] = &[
        ManifestType::Role,
        ManifestType::User,
        ManifestType::Team,
        ManifestType::VirtualAccount,
        ManifestType::ProviderAccount(ProviderKind::OpenAi),
        ManifestType::ProviderAccount(ProviderKind::Anthropic),
        ManifestType::ProviderAccount(ProviderKind::AwsBedrock),
        ManifestType::ProviderAccount(ProviderKind::AzureOpenAi),
        ManifestType::ProviderAccount(ProviderKind::OpenAiCompatible),
        // After the real accounts: a virtual model routes to their models.
        ManifestType::ProviderAccount(ProviderKind::VirtualModel),
        ManifestType::McpServer,
        ManifestType::McpVirtual,
        ManifestType::Agent,
        ManifestType::GatewayControl(GatewayControlKind::RateLimiting),
        ManifestType::GatewayControl(GatewayControlKind::Budget),
        ManifestType::GatewayControl(GatewayControlKind::Guardrails),
        ManifestType::GatewayControl(GatewayControlKind::LoadBalancing),
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ManifestType::Role => "role",
            ManifestType::User => "user",
            ManifestType::Team => "team",
            ManifestType::VirtualAccount => "virtual-account",
            ManifestType::ProviderAccount(k) => k.manifest_type(),
            ManifestType::McpServer => McpServerSpec::MANIFEST_TYPE,
            ManifestType::McpVirtual => McpVirtualSpec::MANIFEST_TYPE,
            ManifestType::Agent => AgentSpec::MANIFEST_TYPE,
            ManifestType::GatewayControl(k) => k.manifest_type(),
        }
    }

    /// The resource type of this manifest type; `None` for roles, users, teams and virtual accounts.
    pub const fn resource_type(self) -> Option<ResourceType> {
        match self {
            ManifestType::Role | ManifestType::User | ManifestType::Team | ManifestType::VirtualAccount => None,
            ManifestType::ProviderAccount(_) => Some(ResourceType::ProviderAccount),
            ManifestType::McpServer | ManifestType::McpVirtual => Some(ResourceType::McpServer),
            ManifestType::Agent => Some(ResourceType::Agent),
            ManifestType::GatewayControl(_) => Some(ResourceType::GatewayControls),
        }
    }

    /// Where an object of this type goes in an apply: what it may refer to comes first.
    pub fn apply_order(self) -> usize {
        const BASIC: usize = 4;
        match self {
            ManifestType::Role => 0,
            ManifestType::User => 1,
            ManifestType::Team => 2,
            ManifestType::VirtualAccount => 3,
            ManifestType::ProviderAccount(_)
            | ManifestType::McpServer
            | ManifestType::McpVirtual
            | ManifestType::Agent
            | ManifestType::GatewayControl(_) => {
                BASIC + self.resource_type().and_then(|t| ResourceType::ALL.iter().position(|x| *x == t)).unwrap_or(0)
            }
        }
    }
}

impl FromStr for ManifestType {
    type Err = UnknownManifestType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ManifestType::ALL.iter().copied().find(|m| m.as_str() == s).ok_or_else(|| UnknownManifestType(s.to_owned()))
    }
}

impl fmt::Display for ManifestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collaborator_role_belongs_to_exactly_one_type_of_its_kind() {
        for role in CollaboratorRole::ALL {
            let owners: Vec<_> = ResourceType::ALL.iter().filter(|t| t.collaborator_roles().contains(&role)).collect();
            assert_eq!(owners.len(), 1, "{role}");
            assert_eq!(owners[0].kind(), role.resource_kind(), "{role}");
        }
    }

    #[test]
    fn permissions_are_of_the_type_s_kind() {
        for t in ResourceType::ALL {
            for p in [t.create_permission(), t.manage_permission(), t.delete_permission(), t.read_permission()] {
                assert_eq!(p.kind(), t.kind(), "{t}: {p}");
            }
            assert_eq!(ResourceType::of_kind(t.kind()), Some(*t));
            assert!(t.collection().starts_with(t.kind().as_str()));
            // A manager role is the first; it manages.
            if let Some(m) = t.collaborator_roles().first() {
                assert!(m.allows(crate::model::Action::Perm(t.manage_permission())), "{t}");
            }
        }
    }

    #[test]
    fn manifest_types_parse_back_and_cover_every_type_once() {
        let mut seen = std::collections::HashSet::new();
        for m in ManifestType::ALL {
            assert_eq!(m.as_str().parse::<ManifestType>(), Ok(*m));
            assert!(seen.insert(m.as_str()));
        }
        for t in ResourceType::ALL {
            assert!(t.manifest_types().next().is_some(), "{t} has no manifest type");
        }
        assert!("widget".parse::<ManifestType>().is_err());
        let orders: Vec<usize> = ManifestType::ALL.iter().map(|m| m.apply_order()).collect();
        assert!(orders.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(ManifestType::GatewayControl(GatewayControlKind::Budget).apply_order(), 7);
    }
}
