//! The immutable access graph. Readers hold an `Arc<Snapshot>`; writers clone it (cheap: every table is shared
//! in chunks and a write copies only the chunk it touches), apply changes and publish the new one, so a check
//! never waits for a writer.
//!
//! Layout, chosen for the check path: every user, team, virtual account, role and resource name is interned to
//! a dense `u32` id of its kind, and entries live in chunked vectors indexed by id. A check then costs one hash
//! probe per name in the request and a few array reads, with no allocation and no reference counting. An id is
//! never reused for another name: derived state keyed by a name that outlives its object (grants and tokens
//! of a deleted subject, the virtual accounts of a deleted team) stays keyed by it, exactly as the stored data
//! is, and a later object of the same name finds it again.

mod changes;
mod cow;
mod entries;
mod indexes;
mod queries;
mod tokens;

pub(crate) use cow::*;
pub(crate) use entries::*;
pub use queries::{TeamNames, TeamNamesIter, UserView};
pub(crate) use tokens::*;

use std::collections::BTreeSet;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use time::OffsetDateTime;

use crate::change::Change;
use crate::ids::{Email, IdentityId, RoleName, TeamName, TokenId, VaName};
use crate::model::{
    BuiltinRole, CollaboratorRole, Grant, Resource, ResourceKind, Role, Subject, Team, Token, TokenOwner, User,
    VirtualAccount,
};
use crate::permission::PermSet;

/// Entries per chunk of a table: a write copies one chunk, a read indexes two levels.
const CHUNK_BITS: u32 = 9;
const CHUNK: usize = 1 << CHUNK_BITS;
/// Shards of a name index, picked by the top bits of the name's hash: a new name copies one shard.
const SHARD_BITS: u32 = 8;
const SHARDS: usize = 1 << SHARD_BITS;

/// The user table is the largest and its entries the widest (128 bytes, half the slots empty), so it is cut
/// finer: a change copies about a hundred users, not four hundred.
const USER_SHARD_BITS: u32 = 10;
const USER_SHARDS: usize = 1 << USER_SHARD_BITS;

#[inline]
fn user_shard_of(h: u64) -> usize {
    (h >> (64 - USER_SHARD_BITS)) as usize
}

/// The id of `team-manager`, interned first by `Snapshot::default` so the engine needs no lookup for it.
pub(crate) const TEAM_MANAGER: u32 = 0;

/// Everything a store holds, as loaded at start-up.
#[derive(Clone, Debug, Default)]
pub struct World {
    pub roles: Vec<Role>,
    pub users: Vec<User>,
    pub teams: Vec<Team>,
    pub virtual_accounts: Vec<VirtualAccount>,
    pub tokens: Vec<Token>,
    pub grants: Vec<Grant>,
    pub resources: Vec<crate::resource::ResourceRecord>,
}

#[derive(Clone)]
pub struct Snapshot {
    /// One seed for every name hash of this snapshot and the ones cloned from it.
    hasher: RandomState,
    pub(crate) roles: Catalog<RoleSlot>,
    pub(crate) users: UserTable,
    pub(crate) teams: Catalog<TeamSlot>,
    pub(crate) vas: Catalog<VaSlot>,
    pub(crate) resources: Catalog<ResourceSlot>,
    tokens: TokenTable,
    live_users: usize,
    active_admins: usize,
    /// Provider accounts, MCP servers, agents and gateway controls (few: copied whole on a change).
    records: Arc<crate::resource::ResourceIndex>,
}

impl Default for Snapshot {
    fn default() -> Self {
        let mut s = Snapshot {
            hasher: RandomState::default(),
            roles: Catalog::default(),
            users: UserTable::default(),
            teams: Catalog::default(),
            vas: Catalog::default(),
            resources: Catalog::default(),
            tokens: TokenTable::default(),
            live_users: 0,
            active_admins: 0,
            records: Arc::default(),
        };
        let tm = s.intern_role(&BuiltinRole::TeamManager.role_name());
        debug_assert_eq!(tm, TEAM_MANAGER);
        s
    }
}

fn is_admin_user(u: &User) -> bool {
    u.active && u.role.as_str() == BuiltinRole::Admin.name()
}

impl Snapshot {
    /// Builds the graph from stored state: the same result as applying every object in order (roles, users,
    /// teams, virtual accounts, tokens, grants), but teams and grants are indexed in bulk.
    pub fn from_world(w: World) -> Snapshot {
        let World { roles, users, teams, virtual_accounts, tokens, grants, resources } = w;
        let mut s = Snapshot::default();
        for r in roles {
            s.put_role(r);
        }
        for u in users {
            s.put_user(u);
        }
        s.put_teams(teams);
        for v in virtual_accounts {
            s.put_virtual_account(v);
        }
        for t in tokens {
            s.put_token(t);
        }
        s.put_grants(grants);
        let records = Arc::make_mut(&mut s.records);
        for r in &resources {
            records.put(r);
        }
        s
    }

    /// The state as a `World` again, sorted: equal snapshots give equal worlds.
    pub fn to_world(&self) -> World {
        let mut w = World {
            roles: self.roles().map(|r| (**r).clone()).collect(),
            users: self.users().map(|u| u.user.clone()).collect(),
            teams: self.teams().map(|t| (**t).clone()).collect(),
            virtual_accounts: self.virtual_accounts().map(|v| (**v).clone()).collect(),
            tokens: self.tokens.iter().map(|e| (*e.token).clone()).collect(),
            grants: self
                .resources
                .slots
                .iter()
                .flat_map(|r| {
                    r.holders.iter().map(|h| Grant {
                        resource: r.key.clone(),
                        subject: self.subject_of(h.kind, h.id),
                        role: h.role,
                    })
                })
                .collect(),
            resources: self.records.all().map(|r| (**r).clone()).collect(),
        };
        w.resources.sort_by_key(|r| r.resource());
        w.roles.sort_by(|a, b| a.name.cmp(&b.name));
        w.users.sort_by(|a, b| a.email.cmp(&b.email));
        w.teams.sort_by(|a, b| a.name.cmp(&b.name));
        w.virtual_accounts.sort_by(|a, b| a.name.cmp(&b.name));
        w.tokens.sort_by(|a, b| a.id.cmp(&b.id));
        w.grants.sort();
        w
    }
}
