//! The immutable access graph. Readers hold an `Arc<Snapshot>`; writers clone it (cheap: persistent maps share
//! structure), apply changes and publish the new one, so a check never waits for a writer.

use std::sync::Arc;

use imbl::shared_ptr::DefaultSharedPtr;
use imbl::OrdSet;

use crate::change::Change;
use crate::ids::{Email, RoleName, TeamName, TokenId, VaName};
use crate::model::{
    BuiltinRole, CollaboratorRole, Grant, Resource, Role, Subject, Team, Token, TokenOwner, User, VirtualAccount,
};

pub(crate) type Map<K, V> = imbl::GenericHashMap<K, V, foldhash::fast::RandomState, DefaultSharedPtr>;

/// A user with the derived team indexes the engine needs.
#[derive(Clone, Debug)]
pub struct UserEntry {
    pub user: User,
    pub member_of: OrdSet<TeamName>,
    pub manages: OrdSet<TeamName>,
}

/// Everything a store holds, as loaded at start-up.
#[derive(Clone, Debug, Default)]
pub struct World {
    pub roles: Vec<Role>,
    pub users: Vec<User>,
    pub teams: Vec<Team>,
    pub virtual_accounts: Vec<VirtualAccount>,
    pub tokens: Vec<Token>,
    pub grants: Vec<Grant>,
}

#[derive(Clone, Default)]
pub struct Snapshot {
    pub(crate) roles: Map<RoleName, Arc<Role>>,
    pub(crate) users: Map<Email, Arc<UserEntry>>,
    pub(crate) teams: Map<TeamName, Arc<Team>>,
    pub(crate) vas: Map<VaName, Arc<VirtualAccount>>,
    pub(crate) team_vas: Map<TeamName, OrdSet<VaName>>,
    pub(crate) tokens: Map<TokenId, Arc<Token>>,
    pub(crate) owner_tokens: Map<TokenOwner, OrdSet<TokenId>>,
    pub(crate) grants: Map<Resource, Map<Subject, CollaboratorRole>>,
    pub(crate) subject_grants: Map<Subject, OrdSet<Resource>>,
    pub(crate) active_admins: OrdSet<Email>,
}

impl Snapshot {
    /// Builds the graph from stored state. Order matters only in that teams reference users.
    pub fn from_world(w: World) -> Snapshot {
        let mut s = Snapshot::default();
        let changes = w
            .roles
            .into_iter()
            .map(Change::PutRole)
            .chain(w.users.into_iter().map(Change::PutUser))
            .chain(w.teams.into_iter().map(Change::PutTeam))
            .chain(w.virtual_accounts.into_iter().map(Change::PutVirtualAccount))
            .chain(w.tokens.into_iter().map(Change::PutToken))
            .chain(w.grants.into_iter().map(Change::PutGrant));
        for c in changes {
            s.apply(&c);
        }
        s
    }

    /// The state as a `World` again, sorted: equal snapshots give equal worlds.
    pub fn to_world(&self) -> World {
        let mut w = World {
            roles: self.roles.values().map(|r| (**r).clone()).collect(),
            users: self.users.values().map(|u| u.user.clone()).collect(),
            teams: self.teams.values().map(|t| (**t).clone()).collect(),
            virtual_accounts: self.vas.values().map(|v| (**v).clone()).collect(),
            tokens: self.tokens.values().map(|t| (**t).clone()).collect(),
            grants: self
                .grants
                .iter()
                .flat_map(|(r, m)| {
                    m.iter().map(|(s, role)| Grant { resource: r.clone(), subject: s.clone(), role: *role })
                })
                .collect(),
        };
        w.roles.sort_by(|a, b| a.name.cmp(&b.name));
        w.users.sort_by(|a, b| a.email.cmp(&b.email));
        w.teams.sort_by(|a, b| a.name.cmp(&b.name));
        w.virtual_accounts.sort_by(|a, b| a.name.cmp(&b.name));
        w.tokens.sort_by(|a, b| a.id.cmp(&b.id));
        w.grants.sort();
        w
    }

    /// Applies one committed change. Only derived indexes are maintained here; cascades over stored data
    /// (a deleted user leaving their teams) are explicit changes made by `plan`, so the store and the
    /// snapshot follow the same list.
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::PutRole(r) => {
                self.roles.insert(r.name.clone(), Arc::new(r.clone()));
            }
            Change::DeleteRole(n) => {
                self.roles.remove(n);
            }
            Change::PutUser(u) => {
                let entry = match self.users.get(&u.email) {
                    Some(old) => {
                        UserEntry { user: u.clone(), member_of: old.member_of.clone(), manages: old.manages.clone() }
                    }
                    None => UserEntry { user: u.clone(), member_of: OrdSet::new(), manages: OrdSet::new() },
                };
                self.users.insert(u.email.clone(), Arc::new(entry));
                if u.active && u.role.as_str() == BuiltinRole::Admin.name() {
                    self.active_admins.insert(u.email.clone());
                } else {
                    self.active_admins.remove(&u.email);
                }
            }
            Change::DeleteUser(e) => {
                self.users.remove(e);
                self.active_admins.remove(e);
            }
            Change::SetPassword { .. } => {}
            Change::PutTeam(t) => {
                let old = self.teams.get(&t.name).cloned();
                let (old_members, old_managers) = match &old {
                    Some(o) => (o.members.clone(), o.managers.clone()),
                    None => Default::default(),
                };
                for e in old_members.difference(&t.members) {
                    self.edit_user(e, |u| {
                        u.member_of.remove(&t.name);
                    });
                }
                for e in t.members.difference(&old_members) {
                    self.edit_user(e, |u| {
                        u.member_of.insert(t.name.clone());
                    });
                }
                for e in old_managers.difference(&t.managers) {
                    self.edit_user(e, |u| {
                        u.manages.remove(&t.name);
                    });
                }
                for e in t.managers.difference(&old_managers) {
                    self.edit_user(e, |u| {
                        u.manages.insert(t.name.clone());
                    });
                }
                self.teams.insert(t.name.clone(), Arc::new(t.clone()));
            }
            Change::DeleteTeam(n) => {
                if let Some(t) = self.teams.remove(n) {
                    for e in &t.members {
                        self.edit_user(e, |u| {
                            u.member_of.remove(n);
                            u.manages.remove(n);
                        });
                    }
                }
                self.team_vas.remove(n);
            }
            Change::PutVirtualAccount(v) => {
                if let Some(old) = self.vas.get(&v.name).cloned() {
                    if let Some(set) = self.team_vas.get_mut(&old.owner_team) {
                        set.remove(&v.name);
                    }
                }
                self.team_vas.entry(v.owner_team.clone()).or_default().insert(v.name.clone());
                self.vas.insert(v.name.clone(), Arc::new(v.clone()));
            }
            Change::DeleteVirtualAccount(n) => {
                if let Some(old) = self.vas.remove(n) {
                    if let Some(set) = self.team_vas.get_mut(&old.owner_team) {
                        set.remove(n);
                    }
                }
            }
            Change::PutToken(t) => {
                self.owner_tokens.entry(t.owner.clone()).or_default().insert(t.id.clone());
                self.tokens.insert(t.id.clone(), Arc::new(t.clone()));
            }
            Change::SetTokenExpiry { id, expires_at } => {
                if let Some(t) = self.tokens.get_mut(id) {
                    Arc::make_mut(t).expires_at = *expires_at;
                }
            }
            Change::RevokeToken(id) => {
                // A revoked token can never be valid again, so it leaves the graph entirely.
                if let Some(t) = self.tokens.remove(id) {
                    if let Some(set) = self.owner_tokens.get_mut(&t.owner) {
                        set.remove(id);
                        if set.is_empty() {
                            self.owner_tokens.remove(&t.owner);
                        }
                    }
                }
            }
            Change::PutGrant(g) => {
                self.grants.entry(g.resource.clone()).or_default().insert(g.subject.clone(), g.role);
                self.subject_grants.entry(g.subject.clone()).or_default().insert(g.resource.clone());
            }
            Change::DeleteGrant(g) => {
                if let Some(m) = self.grants.get_mut(&g.resource) {
                    m.remove(&g.subject);
                    if m.is_empty() {
                        self.grants.remove(&g.resource);
                    }
                }
                if let Some(set) = self.subject_grants.get_mut(&g.subject) {
                    set.remove(&g.resource);
                    if set.is_empty() {
                        self.subject_grants.remove(&g.subject);
                    }
                }
            }
        }
    }

    fn edit_user(&mut self, e: &Email, f: impl FnOnce(&mut UserEntry)) {
        if let Some(u) = self.users.get_mut(e) {
            f(Arc::make_mut(u));
        }
    }

    // Read accessors used by the server and the guard.

    pub fn role(&self, n: &str) -> Option<&Arc<Role>> {
        self.roles.get(n)
    }
    pub fn roles(&self) -> impl Iterator<Item = &Arc<Role>> {
        self.roles.values()
    }
    pub fn user(&self, e: &str) -> Option<&Arc<UserEntry>> {
        self.users.get(e)
    }
    pub fn users(&self) -> impl Iterator<Item = &Arc<UserEntry>> {
        self.users.values()
    }
    pub fn team(&self, n: &str) -> Option<&Arc<Team>> {
        self.teams.get(n)
    }
    pub fn teams(&self) -> impl Iterator<Item = &Arc<Team>> {
        self.teams.values()
    }
    pub fn virtual_account(&self, n: &str) -> Option<&Arc<VirtualAccount>> {
        self.vas.get(n)
    }
    pub fn virtual_accounts(&self) -> impl Iterator<Item = &Arc<VirtualAccount>> {
        self.vas.values()
    }
    /// Virtual accounts owned by a team.
    pub fn team_virtual_accounts(&self, t: &str) -> impl Iterator<Item = &VaName> {
        self.team_vas.get(t).into_iter().flat_map(|s| s.iter())
    }
    pub fn token(&self, id: &str) -> Option<&Arc<Token>> {
        self.tokens.get(id)
    }
    /// Tokens (not revoked) of an owner.
    pub fn tokens_of(&self, owner: &TokenOwner) -> impl Iterator<Item = &Arc<Token>> {
        self.owner_tokens.get(owner).into_iter().flat_map(|s| s.iter()).filter_map(|id| self.tokens.get(id))
    }
    /// Grants held directly by a subject.
    pub fn grants_of<'a>(&'a self, s: &'a Subject) -> impl Iterator<Item = Grant> + 'a {
        self.subject_grants.get(s).into_iter().flat_map(|set| set.iter()).filter_map(move |r| {
            self.grants.get(r).and_then(|m| m.get(s)).map(|role| Grant {
                resource: r.clone(),
                subject: s.clone(),
                role: *role,
            })
        })
    }
    /// Grants on a resource.
    pub fn grants_on<'a>(&'a self, r: &'a Resource) -> impl Iterator<Item = Grant> + 'a {
        self.grants.get(r).into_iter().flat_map(|m| m.iter()).map(move |(s, role)| Grant {
            resource: r.clone(),
            subject: s.clone(),
            role: *role,
        })
    }
    pub fn active_admin_count(&self) -> usize {
        self.active_admins.len()
    }
    pub fn user_count(&self) -> usize {
        self.users.len()
    }
    /// How many users hold a role.
    pub fn role_holders(&self, role: &str) -> usize {
        self.users.values().filter(|u| u.user.role.as_str() == role).count()
    }
}
