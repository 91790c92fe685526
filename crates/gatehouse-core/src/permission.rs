//! The permission catalogue: one table, from which the enum, ids, groups and descriptions are generated.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::ResourceKind;

macro_rules! catalogue {
    ($( $variant:ident = $id:literal, $kind:ident, $group:literal, $title:literal, $desc:literal; )*) => {
        /// A tenant permission, `<resource>:<action>`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Permission { $($variant),* }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),*];

            /// The stable id, e.g. `virtual-account:manage`.
            pub const fn id(self) -> &'static str {
                match self { $(Permission::$variant => $id),* }
            }
            /// The group of docs/access-model.md's permission table this permission is listed under.
            pub const fn group(self) -> &'static str {
                match self { $(Permission::$variant => $group),* }
            }
            /// The short name, e.g. "Manage Virtual Account".
            pub const fn title(self) -> &'static str {
                match self { $(Permission::$variant => $title),* }
            }
            /// The description, as the permission table gives it.
            pub const fn description(self) -> &'static str {
                match self { $(Permission::$variant => $desc),* }
            }
            /// The kind of resource this permission acts on.
            pub const fn kind(self) -> ResourceKind {
                match self { $(Permission::$variant => ResourceKind::$kind),* }
            }
        }
    };
}

catalogue! {
    ProviderAccountCreate = "provider-account:create", ProviderAccount, "AI Gateway", "Create Provider Account", "Allows creation of new provider accounts";
    ProviderAccountDelete = "provider-account:delete", ProviderAccount, "AI Gateway", "Delete Provider Account", "Allows deleting existing provider accounts";
    ProviderAccountManage = "provider-account:manage", ProviderAccount, "AI Gateway", "Manage Provider Account", "Allows updating provider account configuration";
    ProviderAccountRead = "provider-account:read", ProviderAccount, "AI Gateway", "Read Provider Account", "Allows viewing provider account details";
    ProviderAccountUseIntegrations = "provider-account:use-integrations", ProviderAccount, "AI Gateway", "Use Integrations", "Allows using integrations associated with provider accounts";
    McpServerCreate = "mcp-server:create", McpServer, "AI Gateway", "Create MCP Server", "Allows creation of new MCP servers";
    McpServerDelete = "mcp-server:delete", McpServer, "AI Gateway", "Delete MCP Server", "Allows deleting existing MCP servers";
    McpServerManage = "mcp-server:manage", McpServer, "AI Gateway", "Manage MCP Server", "Allows updating MCP server configuration";
    McpServerRead = "mcp-server:read", McpServer, "AI Gateway", "Read MCP Server", "Allows viewing MCP server details";
    McpServerUse = "mcp-server:use", McpServer, "AI Gateway", "Use MCP Server", "Allows using MCP server for operations";
    AgentCreate = "agent:create", Agent, "AI Gateway", "Create Agent", "Allows creation of new Agents";
    AgentDelete = "agent:delete", Agent, "AI Gateway", "Delete Agents", "Allows deleting existing Agents";
    AgentManage = "agent:manage", Agent, "AI Gateway", "Manage Agents", "Allows updating Agents";
    AgentRead = "agent:read", Agent, "AI Gateway", "Read Agents", "Allows viewing Agents details";
    GatewayControlsList = "gateway-controls:list", GatewayControls, "AI Gateway", "List Gateway Controls", "Allows listing and viewing gateway controls";
    GatewayControlsManage = "gateway-controls:manage", GatewayControls, "AI Gateway", "Manage Gateway Controls", "Allows creating, updating, and deleting gateway controls";
    ClusterCreate = "cluster:create", Cluster, "AI Engineering", "Create Cluster", "Allows creation of new clusters";
    ClusterDelete = "cluster:delete", Cluster, "AI Engineering", "Delete Cluster", "Allows deleting existing clusters";
    ClusterManage = "cluster:manage", Cluster, "AI Engineering", "Manage Clusters", "Allows updating and configuring cluster settings";
    ClusterRead = "cluster:read", Cluster, "AI Engineering", "Read Cluster", "Allows viewing cluster details and configuration";
    WorkspaceCreate = "workspace:create", Workspace, "AI Engineering", "Create Workspace", "Allows creation of new workspaces";
    WorkspaceDelete = "workspace:delete", Workspace, "AI Engineering", "Delete Workspace", "Allows deleting existing workspaces";
    WorkspaceManage = "workspace:manage", Workspace, "AI Engineering", "Manage Workspace", "Allows updating workspace configuration";
    WorkspaceRead = "workspace:read", Workspace, "AI Engineering", "Read Workspace", "Allows viewing workspace details";
    WorkspaceList = "workspace:list", Workspace, "AI Engineering", "List Workspaces", "Allows listing and viewing all workspaces";
    ApplicationList = "application:list", Application, "AI Engineering", "List Applications", "Allows listing and viewing applications";
    ApplicationManage = "application:manage", Application, "AI Engineering", "Manage Applications", "Allows creating, updating, and deleting applications";
    EnvironmentList = "environment:list", Environment, "AI Engineering", "List Environments", "Allows listing and viewing environments";
    EnvironmentManage = "environment:manage", Environment, "AI Engineering", "Manage Environments", "Allows creating, updating, and deleting environments";
    PolicyList = "policy:list", Policy, "AI Engineering", "List Policies", "Allows listing and viewing policies";
    PolicyManage = "policy:manage", Policy, "AI Engineering", "Manage Policies", "Allows creating, updating, and deleting policies";
    RoleList = "role:list", Role, "Common", "List Roles", "Allows listing and viewing roles";
    RoleManage = "role:manage", Role, "Common", "Manage Roles", "Allows creating, updating, and deleting roles";
    UserList = "user:list", User, "Common", "List Users", "Allows listing and viewing users";
    UserManage = "user:manage", User, "Common", "Manage Users", "Allows creating, updating, and deleting users";
    TeamCreate = "team:create", Team, "Common", "Create Team", "Allows creation of new teams";
    TeamDelete = "team:delete", Team, "Common", "Delete Team", "Allows deleting existing teams";
    TeamManage = "team:manage", Team, "Common", "Manage Team", "Allows updating team configuration and members";
    TeamRead = "team:read", Team, "Common", "Read Team", "Allows viewing team details and members";
    VirtualAccountCreate = "virtual-account:create", VirtualAccount, "Common", "Create Virtual Account", "Allows creation of new virtual accounts";
    VirtualAccountRead = "virtual-account:read", VirtualAccount, "Common", "Read Virtual Account", "Allows viewing virtual account details";
    VirtualAccountManage = "virtual-account:manage", VirtualAccount, "Common", "Manage Virtual Account", "Allows updating virtual account configuration and tokens";
    VirtualAccountDelete = "virtual-account:delete", VirtualAccount, "Common", "Delete Virtual Account", "Allows deleting existing virtual accounts";
    ExternalIdentityList = "external-identity:list", ExternalIdentity, "Common", "List External Identities", "Allows listing and viewing external identities";
    ExternalIdentityManage = "external-identity:manage", ExternalIdentity, "Common", "Manage External Identities", "Allows creating, updating, and deleting external identities";
    RepositoryCreate = "repository:create", Repository, "Common", "Create Repository", "Allows creation of new repositories";
    RepositoryDelete = "repository:delete", Repository, "Common", "Delete Repository", "Allows deleting existing repositories";
    RepositoryManage = "repository:manage", Repository, "Common", "Manage Repository", "Allows updating repository configuration";
    RepositoryRead = "repository:read", Repository, "Common", "Read Repository", "Allows viewing repository details";
    RepositoryReadData = "repository:read-data", Repository, "Common", "Read Data", "Allows reading data from repositories";
    RepositoryWriteData = "repository:write-data", Repository, "Common", "Write Data", "Allows writing data to repositories";
    RepositoryDeleteData = "repository:delete-data", Repository, "Common", "Delete Data", "Allows deleting data within repositories";
    SecretGroupCreate = "secret-group:create", SecretGroup, "Common", "Create Secret Group", "Allows creation of new secret groups";
    SecretGroupDelete = "secret-group:delete", SecretGroup, "Common", "Delete Secret Group", "Allows deleting existing secret groups";
    SecretGroupManage = "secret-group:manage", SecretGroup, "Common", "Manage Secret Group", "Allows updating secret group configuration";
    SecretGroupRead = "secret-group:read", SecretGroup, "Common", "Read Secret Group", "Allows viewing secret group details";
    SecretGroupReadData = "secret-group:read-data", SecretGroup, "Common", "Read Data", "Allows reading secret values";
    SecretGroupWriteData = "secret-group:write-data", SecretGroup, "Common", "Write Data", "Allows writing or updating secret values";
    SettingsList = "settings:list", Settings, "Common", "List Settings", "Allows listing and viewing platform settings";
    SettingsManage = "settings:manage", Settings, "Common", "Manage Settings", "Allows updating platform settings";
}

impl Permission {
    const fn bit(self) -> u64 {
        1u64 << (self as u8)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The id is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission id {0:?}")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL.iter().copied().find(|p| p.id() == s).ok_or_else(|| UnknownPermission(s.to_owned()))
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of permissions as a bit set: the catalogue has fewer than 64 entries, so a check is one AND.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermSet(u64);

const _: () = assert!(Permission::ALL.len() <= 64);

impl PermSet {
    pub const EMPTY: PermSet = PermSet(0);

    pub fn all() -> PermSet {
        Permission::ALL.iter().copied().collect()
    }
    pub const fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }
    pub fn insert(&mut self, p: Permission) {
        self.0 |= p.bit();
    }
    pub fn remove(&mut self, p: Permission) {
        self.0 &= !p.bit();
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    pub const fn union(self, o: PermSet) -> PermSet {
        PermSet(self.0 | o.0)
    }
    /// Permissions in `self` that are not in `o`.
    pub const fn minus(self, o: PermSet) -> PermSet {
        PermSet(self.0 & !o.0)
    }
    pub const fn is_subset(self, o: PermSet) -> bool {
        self.0 & !o.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.iter().copied().filter(move |p| self.contains(*p))
    }
    /// Comma-separated ids, for messages.
    pub fn ids(self) -> String {
        self.iter().map(Permission::id).collect::<Vec<_>>().join(", ")
    }
}

impl FromIterator<Permission> for PermSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut s = PermSet::EMPTY;
        for p in iter {
            s.insert(p);
        }
        s
    }
}

impl fmt::Debug for PermSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Permission::id)).finish()
    }
}

impl Serialize for PermSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_the_sixty_contract_ids_once_each() {
        assert_eq!(Permission::ALL.len(), 60);
        let ids: std::collections::BTreeSet<_> = Permission::ALL.iter().map(|p| p.id()).collect();
        assert_eq!(ids.len(), 60);
        for p in Permission::ALL {
            assert_eq!(p.id().parse::<Permission>(), Ok(*p));
            let (res, _) = p.id().split_once(':').unwrap_or_default();
            assert_eq!(res, p.kind().as_str(), "{p}");
        }
        assert!("provider-account:use".parse::<Permission>().is_err());
    }

    #[test]
    fn permset_algebra() {
        let a: PermSet = [Permission::UserList, Permission::TeamRead].into_iter().collect();
        let b: PermSet = [Permission::UserList].into_iter().collect();
        assert!(b.is_subset(a));
        assert!(!a.is_subset(b));
        assert_eq!(a.minus(b).ids(), "team:read");
        assert_eq!(PermSet::all().len(), 60);
    }
}
