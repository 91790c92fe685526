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

// ---------------------------------------------------------------------------------------------------------
// Copy-on-write building blocks
// ---------------------------------------------------------------------------------------------------------

/// A vector of entries indexed by id, in chunks shared between snapshots until written.
pub(crate) struct Slots<T> {
    chunks: Arc<Vec<Arc<Vec<T>>>>,
    len: u32,
}

impl<T> Clone for Slots<T> {
    fn clone(&self) -> Self {
        Slots { chunks: Arc::clone(&self.chunks), len: self.len }
    }
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots { chunks: Arc::new(Vec::new()), len: 0 }
    }
}

impl<T> Slots<T> {
    /// Ids come only from this table's own index, so they are always in range.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> &T {
        &self.chunks[(id >> CHUNK_BITS) as usize][id as usize & (CHUNK - 1)]
    }

    fn len(&self) -> u32 {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }
}

impl<T: Clone> Slots<T> {
    fn get_mut(&mut self, id: u32) -> &mut T {
        let chunks = Arc::make_mut(&mut self.chunks);
        &mut Arc::make_mut(&mut chunks[(id >> CHUNK_BITS) as usize])[id as usize & (CHUNK - 1)]
    }

    fn push(&mut self, v: T) -> u32 {
        let id = self.len;
        let chunks = Arc::make_mut(&mut self.chunks);
        match chunks.last_mut() {
            Some(c) if c.len() < CHUNK => Arc::make_mut(c).push(v),
            _ => {
                chunks.push(Arc::new(vec![v]));
            }
        }
        self.len += 1;
        id
    }
}

/// A small sorted array shared between snapshots; edits build a new one, so only lists that change are copied.
pub(crate) struct List<T>(Option<Arc<[T]>>);

impl<T> Clone for List<T> {
    fn clone(&self) -> Self {
        List(self.0.clone())
    }
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List(None)
    }
}

impl<T: Copy> List<T> {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        self.0.as_deref().unwrap_or(&[])
    }

    fn from_vec(v: Vec<T>) -> Self {
        // Empty lists hold no allocation: most users hold no grants and own no tokens.
        if v.is_empty() {
            List(None)
        } else {
            List(Some(v.into()))
        }
    }

    fn edit(&mut self, f: impl FnOnce(&mut Vec<T>)) {
        let mut v = self.as_slice().to_vec();
        f(&mut v);
        *self = List::from_vec(v);
    }

    /// Inserts or replaces the entry with `key`, keeping the list sorted by key.
    fn upsert<K: Ord>(&mut self, v: T, key: impl Fn(&T) -> K) {
        self.edit(|xs| match xs.binary_search_by(|x| key(x).cmp(&key(&v))) {
            Ok(i) => xs[i] = v,
            Err(i) => xs.insert(i, v),
        });
    }

    /// Removes the first entry `pred` accepts, in a list not sorted by what it looks for.
    fn remove_where(&mut self, pred: impl Fn(&T) -> bool) {
        if let Some(i) = self.as_slice().iter().position(pred) {
            self.edit(|xs| {
                xs.remove(i);
            });
        }
    }

    fn remove_by<K: Ord>(&mut self, k: K, key: impl Fn(&T) -> K) {
        if let Ok(i) = self.as_slice().binary_search_by(|x| key(x).cmp(&k)) {
            self.edit(|xs| {
                xs.remove(i);
            });
        }
    }
}

/// One shard of a name index: open addressing with linear probing over words `tag << 32 | id`, where `tag`
/// is the low half of the name's hash. A probe reads one word array (no separate control bytes), and names
/// are never removed, so there are no tombstones.
#[derive(Clone)]
struct Shard {
    words: Arc<[u64]>,
    len: u32,
}

const EMPTY: u64 = u64::MAX;

#[inline]
fn shard_of(h: u64) -> usize {
    (h >> (64 - SHARD_BITS)) as usize
}

fn place(words: &mut [u64], w: u64) {
    let mask = words.len() - 1;
    let mut i = (w >> 32) as usize & mask;
    while words[i] != EMPTY {
        i = (i + 1) & mask;
    }
    words[i] = w;
}

/// Name hash to id, sharded by the hash's top bits so a new name copies one shard. It stores ids only; the
/// names are in the entries.
#[derive(Clone, Default)]
struct NameIndex {
    shards: Arc<Vec<Shard>>,
}

impl NameIndex {
    #[inline]
    fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let words = &*self.shards.get(shard_of(h))?.words;
        if words.is_empty() {
            return None;
        }
        let mask = words.len() - 1;
        let tag = h as u32;
        let mut i = tag as usize & mask;
        loop {
            let w = words[i];
            if w == EMPTY {
                return None;
            }
            if (w >> 32) as u32 == tag && eq(w as u32) {
                return Some(w as u32);
            }
            i = (i + 1) & mask;
        }
    }

    fn insert(&mut self, h: u64, id: u32) {
        let shards = Arc::make_mut(&mut self.shards);
        if shards.is_empty() {
            let none: Arc<[u64]> = Arc::from(Vec::new());
            shards.resize(SHARDS, Shard { words: none, len: 0 });
        }
        let shard = &mut shards[shard_of(h)];
        // At most three quarters full: probes stay short and always meet an empty word.
        if (shard.len as usize + 1) * 4 > shard.words.len() * 3 {
            let mut words = vec![EMPTY; (shard.words.len() * 2).max(8)];
            for w in shard.words.iter().filter(|w| **w != EMPTY) {
                place(&mut words, *w);
            }
            shard.words = words.into();
        }
        place(Arc::make_mut(&mut shard.words), (u64::from(h as u32) << 32) | u64::from(id));
        shard.len += 1;
    }
}

/// Entries of one kind with their name index.
#[derive(Clone)]
pub(crate) struct Catalog<S> {
    pub(crate) slots: Slots<S>,
    index: NameIndex,
}

impl<S> Default for Catalog<S> {
    fn default() -> Self {
        Catalog { slots: Slots::default(), index: NameIndex::default() }
    }
}

impl<S: Clone> Catalog<S> {
    #[inline]
    fn find(&self, h: u64, eq: impl Fn(&S) -> bool) -> Option<u32> {
        self.index.find(h, |id| eq(self.slots.get(id)))
    }

    fn intern(&mut self, h: u64, eq: impl Fn(&S) -> bool, make: impl FnOnce() -> S) -> u32 {
        if let Some(id) = self.find(h, eq) {
            return id;
        }
        let id = self.slots.push(make());
        self.index.insert(h, id);
        id
    }
}

// ---------------------------------------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------------------------------------

/// A user's relation to one team, packed as `team << 2 | manager << 1 | member` (so team ids stay below
/// 2^30). Membership and management are kept apart because nothing below `ops` guarantees that managers
/// are members.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Membership(u32);

impl Membership {
    fn new(team: u32) -> Membership {
        Membership(team << 2)
    }
    #[inline]
    pub(crate) fn team(self) -> u32 {
        self.0 >> 2
    }
    #[inline]
    pub(crate) fn member(self) -> bool {
        self.0 & 1 != 0
    }
    #[inline]
    pub(crate) fn manager(self) -> bool {
        self.0 & 2 != 0
    }
    fn set_member(&mut self, on: bool) {
        self.0 = (self.0 & !1) | u32::from(on);
    }
    fn set_manager(&mut self, on: bool) {
        self.0 = (self.0 & !2) | (u32::from(on) << 1);
    }
}

pub(crate) const INLINE_TEAMS: usize = 8;

/// A user's memberships, in team-name order (which decides the team a reason names when several would do).
/// Most people are in a handful of teams, so they sit in the user's entry and a check reads no list.
#[derive(Clone)]
pub(crate) enum Teams {
    Inline { len: u8, items: [Membership; INLINE_TEAMS] },
    Heap(Arc<[Membership]>),
}

impl Default for Teams {
    fn default() -> Self {
        Teams::Inline { len: 0, items: [Membership(0); INLINE_TEAMS] }
    }
}

impl Teams {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[Membership] {
        match self {
            Teams::Inline { len, items } => &items[..*len as usize],
            Teams::Heap(xs) => xs,
        }
    }

    fn from_vec(v: Vec<Membership>) -> Teams {
        if v.len() <= INLINE_TEAMS {
            let mut items = [Membership(0); INLINE_TEAMS];
            items[..v.len()].copy_from_slice(&v);
            Teams::Inline { len: v.len() as u8, items }
        } else {
            Teams::Heap(v.into())
        }
    }
}

/// A collaborator grant as its holder sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) resource: u32,
    pub(crate) role: CollaboratorRole,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SubjectKind {
    User,
    Team,
    VirtualAccount,
}

/// A collaborator grant as its resource sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Holder {
    kind: SubjectKind,
    id: u32,
    role: CollaboratorRole,
}

/// The holders of grants on one resource, as an open-addressing set over words `kind << 62 | id << 8 | role`
/// at most half full. A check probes it once per candidate holder (the subject, each of its teams): every
/// probe is one independent read, and the set is found from the resource alone, in parallel with the
/// subject's lookup.
#[derive(Clone, Default)]
pub(crate) struct HolderSet(Option<Arc<[u64]>>);

impl HolderSet {
    #[inline]
    fn start(kind: SubjectKind, id: u32, mask: usize) -> usize {
        let k = (kind as u64) << 32 | u64::from(id);
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
    }

    fn build(holders: &[Holder]) -> HolderSet {
        if holders.is_empty() {
            return HolderSet(None);
        }
        let mut words = vec![EMPTY; (holders.len() * 2).next_power_of_two()];
        let mask = words.len() - 1;
        for h in holders {
            let mut i = HolderSet::start(h.kind, h.id, mask);
            while words[i] != EMPTY {
                i = (i + 1) & mask;
            }
            words[i] = (h.kind as u64) << 62 | u64::from(h.id) << 8 | h.role as u64;
        }
        HolderSet(Some(words.into()))
    }

    /// The word where a probe for the holder starts: reading it for every candidate before looking at any
    /// lets the reads overlap, where a branch on each would serialise them on every misprediction.
    #[inline]
    pub(crate) fn peek(&self, kind: SubjectKind, id: u32) -> u64 {
        match self.0.as_deref() {
            Some(words) => words[HolderSet::start(kind, id, words.len() - 1)],
            None => EMPTY,
        }
    }

    /// The holder's role, given the word `peek` read for it.
    #[inline]
    pub(crate) fn find_peeked(&self, kind: SubjectKind, id: u32, first: u64) -> Option<CollaboratorRole> {
        let want = (kind as u64) << 62 | u64::from(id) << 8;
        if first == EMPTY {
            return None;
        }
        if first & !0xff == want {
            return CollaboratorRole::ALL.get((first & 0xff) as usize).copied();
        }
        self.find(kind, id)
    }

    #[inline]
    pub(crate) fn find(&self, kind: SubjectKind, id: u32) -> Option<CollaboratorRole> {
        let words = self.0.as_deref()?;
        let mask = words.len() - 1;
        let want = (kind as u64) << 62 | u64::from(id) << 8;
        let mut i = HolderSet::start(kind, id, mask);
        loop {
            let w = words[i];
            if w == EMPTY {
                return None;
            }
            if w & !0xff == want {
                return CollaboratorRole::ALL.get((w & 0xff) as usize).copied();
            }
            i = (i + 1) & mask;
        }
    }

    fn iter(&self) -> impl Iterator<Item = Holder> + '_ {
        self.0.as_deref().unwrap_or(&[]).iter().filter(|w| **w != EMPTY).filter_map(|w| {
            let kind = match w >> 62 {
                0 => SubjectKind::User,
                1 => SubjectKind::Team,
                _ => SubjectKind::VirtualAccount,
            };
            let role = *CollaboratorRole::ALL.get((w & 0xff) as usize)?;
            Some(Holder { kind, id: (w >> 8) as u32, role })
        })
    }

    /// Rebuilds the set with `f` applied to its holders: edits are rare next to checks.
    fn edit(&mut self, f: impl FnOnce(&mut Vec<Holder>)) {
        let mut v: Vec<Holder> = self.iter().collect();
        f(&mut v);
        *self = HolderSet::build(&v);
    }
}

const INLINE_KEY: usize = 28;

/// The length and first bytes of a name, stored in its entry: confirming a probe for a short name then reads
/// no memory beyond the entry itself.
#[derive(Clone, Copy)]
pub(crate) struct InlineKey {
    len: u32,
    prefix: [u8; INLINE_KEY],
}

impl InlineKey {
    #[inline]
    fn new(name: &str) -> InlineKey {
        let mut prefix = [0u8; INLINE_KEY];
        let n = name.len().min(INLINE_KEY);
        prefix[..n].copy_from_slice(&name.as_bytes()[..n]);
        InlineKey { len: name.len() as u32, prefix }
    }

    /// Whether the name this key was made from equals the one `q` was made from; `full` compares the whole
    /// names and is called only for names longer than the prefix.
    #[inline]
    fn matches(&self, q: &InlineKey, full: impl FnOnce() -> bool) -> bool {
        self.len == q.len && self.prefix == q.prefix && (self.len as usize <= INLINE_KEY || full())
    }
}

/// What a check reads about a user, in one aligned pair of cache lines (fetched together).
#[derive(Clone)]
#[repr(align(128))]
pub(crate) struct UserSlot {
    key: InlineKey,
    /// The low half of the name's hash, where probes for it start.
    tag: u32,
    pub(crate) id: u32,
    pub(crate) role: u32,
    pub(crate) active: bool,
    pub(crate) manages_any: bool,
    pub(crate) teams: Teams,
    pub(crate) name: Email,
    /// `None`: no such user (deleted, or a name only grants or tokens refer to).
    pub(crate) user: Option<Arc<User>>,
}

/// What only writes and the accessors read about a user, by id.
#[derive(Clone)]
pub(crate) struct UserCold {
    name: Email,
    /// While the user exists; cleared when they are deleted, so a successor under the name gets their own.
    identity: Option<IdentityId>,
    /// Sorted by resource id.
    grants: List<Held>,
    tokens: List<u64>,
}

/// One shard of the user table: open addressing with linear probing, at most half full.
#[derive(Clone, Default)]
struct UserShard {
    slots: Vec<Option<UserSlot>>,
    len: u32,
}

/// Users, stored in their hash table itself: a lookup by name reads the entry and nothing before it, where an
/// index would cost one more dependent read on every check. Entries move when a shard grows, so references
/// use the dense id (`UserSlot::id`), by which `cold` is indexed.
#[derive(Clone, Default)]
pub(crate) struct UserTable {
    shards: Arc<Vec<Arc<UserShard>>>,
    cold: Slots<UserCold>,
}

impl UserTable {
    #[inline]
    fn position(&self, h: u64, eq: impl Fn(&UserSlot) -> bool) -> Option<(usize, usize)> {
        let shard = user_shard_of(h);
        let slots = &self.shards.get(shard)?.slots;
        if slots.is_empty() {
            return None;
        }
        let mask = slots.len() - 1;
        let tag = h as u32;
        let mut i = tag as usize & mask;
        loop {
            match &slots[i] {
                None => return None,
                Some(s) if s.tag == tag && eq(s) => return Some((shard, i)),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    #[inline]
    fn find(&self, h: u64, name: &str) -> Option<&UserSlot> {
        let q = InlineKey::new(name);
        let (shard, i) = self.position(h, |s| s.key.matches(&q, || s.name.as_str() == name))?;
        self.shards[shard].slots[i].as_ref()
    }

    fn find_mut(&mut self, h: u64, name: &str) -> Option<&mut UserSlot> {
        let q = InlineKey::new(name);
        let (shard, i) = self.position(h, |s| s.key.matches(&q, || s.name.as_str() == name))?;
        Arc::make_mut(&mut Arc::make_mut(&mut self.shards)[shard]).slots[i].as_mut()
    }

    /// The entry of an id whose name hashes to `h`.
    fn by_id(&self, id: u32, h: u64) -> Option<&UserSlot> {
        let (shard, i) = self.position(h, |s| s.id == id)?;
        self.shards[shard].slots[i].as_ref()
    }

    /// Adds a name not yet in the table.
    fn insert(&mut self, h: u64, name: &Email) -> u32 {
        let id = self.cold.push(UserCold {
            name: name.clone(),
            identity: None,
            grants: List::default(),
            tokens: List::default(),
        });
        let shards = Arc::make_mut(&mut self.shards);
        if shards.is_empty() {
            shards.resize_with(USER_SHARDS, Default::default);
        }
        let shard = Arc::make_mut(&mut shards[user_shard_of(h)]);
        if (shard.len as usize + 1) * 2 > shard.slots.len() {
            let old = std::mem::take(&mut shard.slots);
            shard.slots = vec![None; (old.len() * 2).max(8)];
            for s in old.into_iter().flatten() {
                UserShard::place(&mut shard.slots, s);
            }
        }
        let slot = UserSlot {
            key: InlineKey::new(name.as_str()),
            tag: h as u32,
            id,
            role: TEAM_MANAGER,
            active: false,
            manages_any: false,
            teams: Teams::default(),
            name: name.clone(),
            user: None,
        };
        UserShard::place(&mut shard.slots, slot);
        shard.len += 1;
        id
    }

    fn iter(&self) -> impl Iterator<Item = &UserSlot> + '_ {
        self.shards.iter().flat_map(|s| s.slots.iter().flatten())
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut UserSlot> + '_ {
        Arc::make_mut(&mut self.shards).iter_mut().flat_map(|s| Arc::make_mut(s).slots.iter_mut().flatten())
    }
}

impl UserShard {
    fn place(slots: &mut [Option<UserSlot>], s: UserSlot) {
        let mask = slots.len() - 1;
        let mut i = s.tag as usize & mask;
        while slots[i].is_some() {
            i = (i + 1) & mask;
        }
        slots[i] = Some(s);
    }
}

const _: () = assert!(std::mem::size_of::<UserSlot>() == 128 && std::mem::size_of::<Option<UserSlot>>() == 128);

#[derive(Clone)]
pub(crate) struct TeamSlot {
    key: InlineKey,
    pub(crate) team: Option<Arc<Team>>,
    pub(crate) name: TeamName,
    pub(crate) grants: List<Held>,
    /// Virtual accounts naming this team as owner, in name order.
    vas: List<u32>,
}

#[derive(Clone)]
#[repr(align(64))]
pub(crate) struct VaSlot {
    key: InlineKey,
    pub(crate) va: Option<Arc<VirtualAccount>>,
    pub(crate) owner: u32,
    pub(crate) expires_at: Option<OffsetDateTime>,
    pub(crate) grants: List<Held>,
    pub(crate) name: VaName,
    tokens: List<u64>,
    /// As `UserCold::identity`.
    identity: Option<IdentityId>,
}

#[derive(Clone)]
pub(crate) struct RoleSlot {
    pub(crate) name: RoleName,
    pub(crate) role: Option<Arc<Role>>,
    /// Empty, and `admin` false, while the role does not exist.
    pub(crate) perms: PermSet,
    pub(crate) admin: bool,
    /// Users holding the role, whether or not it exists.
    holders: u32,
}

#[derive(Clone)]
#[repr(align(64))]
pub(crate) struct ResourceSlot {
    inline: InlineKey,
    pub(crate) key: Resource,
    pub(crate) holders: HolderSet,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Owner {
    /// A user's id and the hash of their name, which finds their entry without reading the name.
    User(u32, u64),
    VirtualAccount(u32),
}

#[derive(Clone)]
pub(crate) struct TokenEntry {
    key: u64,
    pub(crate) owner: Owner,
    pub(crate) token: Arc<Token>,
}

/// Tokens by id, sharded like the name indexes. A token id is 16 hex digits, so its key is the number they
/// spell: no string is read or compared to find a token.
#[derive(Clone, Default)]
struct TokenTable {
    shards: Arc<Vec<Arc<HashTable<TokenEntry>>>>,
}

/// A token id's key; `None` for a string that is not a token id.
pub(crate) fn token_key(id: &str) -> Option<u64> {
    if id.len() != 16 {
        return None;
    }
    id.bytes().try_fold(0u64, |k, b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some((k << 4) | u64::from(d))
    })
}

impl TokenTable {
    #[inline]
    fn get(&self, h: u64, key: u64) -> Option<&TokenEntry> {
        self.shards.get((h >> (64 - SHARD_BITS)) as usize)?.find(h, |e| e.key == key)
    }

    fn get_mut(&mut self, h: u64, key: u64) -> Option<&mut TokenEntry> {
        self.get(h, key)?;
        let shard = Arc::make_mut(Arc::make_mut(&mut self.shards).get_mut((h >> (64 - SHARD_BITS)) as usize)?);
        shard.find_mut(h, |e| e.key == key)
    }

    fn insert(&mut self, hasher: &RandomState, h: u64, e: TokenEntry) {
        let shards = Arc::make_mut(&mut self.shards);
        if shards.is_empty() {
            shards.resize_with(SHARDS, || Arc::new(HashTable::new()));
        }
        let shard = Arc::make_mut(&mut shards[(h >> (64 - SHARD_BITS)) as usize]);
        match shard.find_mut(h, |x| x.key == e.key) {
            Some(x) => *x = e,
            None => {
                shard.insert_unique(h, e, |x| hasher.hash_one(x.key));
            }
        }
    }

    fn remove(&mut self, h: u64, key: u64) -> Option<TokenEntry> {
        self.get(h, key)?;
        let shard = Arc::make_mut(Arc::make_mut(&mut self.shards).get_mut((h >> (64 - SHARD_BITS)) as usize)?);
        let (e, _) = shard.find_entry(h, |e| e.key == key).ok()?.remove();
        Some(e)
    }

    fn iter(&self) -> impl Iterator<Item = &TokenEntry> + '_ {
        self.shards.iter().flat_map(|s| s.iter())
    }
}

// ---------------------------------------------------------------------------------------------------------
// The snapshot
// ---------------------------------------------------------------------------------------------------------

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

    /// Applies one committed change. Only derived indexes are maintained here; cascades over stored data
    /// (a deleted user leaving their teams) are explicit changes made by `plan`, so the store and the
    /// snapshot follow the same list.
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::PutRole(r) => self.put_role(r.clone()),
            Change::DeleteRole(n) => {
                if let Some(id) = self.role_id(n.as_str()) {
                    let s = self.roles.slots.get_mut(id);
                    s.role = None;
                    s.perms = PermSet::EMPTY;
                    s.admin = false;
                }
            }
            Change::PutUser(u) => self.put_user(u.clone()),
            Change::DeleteUser(e) => self.delete_user(e),
            Change::SetPassword { .. } => {}
            Change::PutTeam(t) => self.put_team(t.clone()),
            Change::DeleteTeam(n) => self.delete_team(n),
            Change::PutVirtualAccount(v) => self.put_virtual_account(v.clone()),
            Change::DeleteVirtualAccount(n) => self.delete_virtual_account(n),
            Change::PutToken(t) => self.put_token(t.clone()),
            Change::SetTokenExpiry { id, expires_at } => {
                if let Some(key) = token_key(id.as_str()) {
                    let h = self.hasher.hash_one(key);
                    if let Some(e) = self.tokens.get_mut(h, key) {
                        Arc::make_mut(&mut e.token).expires_at = *expires_at;
                    }
                }
            }
            Change::RevokeToken(id) => self.revoke_token(id),
            Change::PutResource(r) => Arc::make_mut(&mut self.records).put(r),
            Change::DeleteResource(r) => Arc::make_mut(&mut self.records).remove(r),
            Change::PutGrant(g) => self.put_grant(g),
            Change::DeleteGrant(g) => self.delete_grant(g),
            Change::AssignIdentity { subject, id } => self.assign_identity(subject, *id),
        }
    }

    fn assign_identity(&mut self, subject: &Subject, id: IdentityId) {
        match subject {
            Subject::User(e) => {
                let Some(slot) = self.user_slot(e.as_str()) else { return };
                if slot.user.is_some() {
                    let uid = slot.id;
                    self.users.cold.get_mut(uid).identity = Some(id);
                }
            }
            Subject::VirtualAccount(v) => {
                let Some(vid) = self.va_id(v.as_str()) else { return };
                let slot = self.vas.slots.get_mut(vid);
                if slot.va.is_some() {
                    slot.identity = Some(id);
                }
            }
            Subject::Team(_) => {}
        }
    }

    /// The identity of an existing user or virtual account (`None` for teams, for names nobody holds, and
    /// for the rare subject stored before identities were given and not yet reloaded).
    pub fn identity(&self, subject: &Subject) -> Option<IdentityId> {
        match subject {
            Subject::User(e) => {
                let slot = self.user_slot(e.as_str())?;
                slot.user.as_ref()?;
                self.users.cold.get(slot.id).identity
            }
            Subject::VirtualAccount(v) => {
                let slot = self.vas.slots.get(self.va_id(v.as_str())?);
                slot.va.as_ref()?;
                slot.identity
            }
            Subject::Team(_) => None,
        }
    }

    // Interning. Every lookup by name goes through these.

    #[inline]
    pub(crate) fn role_id(&self, n: &str) -> Option<u32> {
        self.roles.find(self.hasher.hash_one(n), |s| s.name.as_str() == n)
    }

    fn intern_role(&mut self, n: &RoleName) -> u32 {
        let h = self.hasher.hash_one(n.as_str());
        self.roles.intern(
            h,
            |s| s.name == *n,
            || RoleSlot { name: n.clone(), role: None, perms: PermSet::EMPTY, admin: false, holders: 0 },
        )
    }

    /// The user entry of a name, whether or not the user exists (see `UserSlot::user`).
    #[inline]
    pub(crate) fn user_slot(&self, e: &str) -> Option<&UserSlot> {
        self.users.find(self.hasher.hash_one(e), e)
    }

    pub(crate) fn user_id(&self, e: &str) -> Option<u32> {
        self.user_slot(e).map(|s| s.id)
    }

    fn intern_user(&mut self, e: &Email) -> u32 {
        let h = self.hasher.hash_one(e.as_str());
        match self.users.find(h, e.as_str()) {
            Some(s) => s.id,
            None => self.users.insert(h, e),
        }
    }

    #[inline]
    pub(crate) fn team_id(&self, n: &str) -> Option<u32> {
        let q = InlineKey::new(n);
        self.teams.find(self.hasher.hash_one(n), |s| s.key.matches(&q, || s.name.as_str() == n))
    }

    fn intern_team(&mut self, n: &TeamName) -> u32 {
        let (h, q) = (self.hasher.hash_one(n.as_str()), InlineKey::new(n.as_str()));
        self.teams.intern(
            h,
            |s| s.key.matches(&q, || s.name == *n),
            || TeamSlot { key: q, team: None, name: n.clone(), grants: List::default(), vas: List::default() },
        )
    }

    #[inline]
    pub(crate) fn va_id(&self, n: &str) -> Option<u32> {
        let q = InlineKey::new(n);
        self.vas.find(self.hasher.hash_one(n), |s| s.key.matches(&q, || s.name.as_str() == n))
    }

    fn intern_va(&mut self, n: &VaName) -> u32 {
        let (h, q) = (self.hasher.hash_one(n.as_str()), InlineKey::new(n.as_str()));
        self.vas.intern(
            h,
            |s| s.key.matches(&q, || s.name == *n),
            || VaSlot {
                key: q,
                va: None,
                owner: 0,
                expires_at: None,
                grants: List::default(),
                name: n.clone(),
                tokens: List::default(),
                identity: None,
            },
        )
    }

    #[inline]
    pub(crate) fn resource_id(&self, kind: ResourceKind, name: &str) -> Option<u32> {
        let q = InlineKey::new(name);
        self.resources.find(self.hasher.hash_one((kind, name)), |s| {
            s.key.kind == kind && s.inline.matches(&q, || &*s.key.name == name)
        })
    }

    fn intern_resource(&mut self, r: &Resource) -> u32 {
        let (h, q) = (self.hasher.hash_one((r.kind, &*r.name)), InlineKey::new(&r.name));
        self.resources.intern(
            h,
            |s| s.key.kind == r.kind && s.inline.matches(&q, || s.key.name == r.name),
            || ResourceSlot { inline: q, key: r.clone(), holders: HolderSet::default() },
        )
    }

    fn subject_id(&self, s: &Subject) -> Option<(SubjectKind, u32)> {
        match s {
            Subject::User(e) => self.user_id(e.as_str()).map(|id| (SubjectKind::User, id)),
            Subject::Team(t) => self.team_id(t.as_str()).map(|id| (SubjectKind::Team, id)),
            Subject::VirtualAccount(v) => self.va_id(v.as_str()).map(|id| (SubjectKind::VirtualAccount, id)),
        }
    }

    fn intern_subject(&mut self, s: &Subject) -> (SubjectKind, u32) {
        match s {
            Subject::User(e) => (SubjectKind::User, self.intern_user(e)),
            Subject::Team(t) => (SubjectKind::Team, self.intern_team(t)),
            Subject::VirtualAccount(v) => (SubjectKind::VirtualAccount, self.intern_va(v)),
        }
    }

    fn subject_of(&self, kind: SubjectKind, id: u32) -> Subject {
        match kind {
            SubjectKind::User => Subject::User(self.users.cold.get(id).name.clone()),
            SubjectKind::Team => Subject::Team(self.teams.slots.get(id).name.clone()),
            SubjectKind::VirtualAccount => Subject::VirtualAccount(self.vas.slots.get(id).name.clone()),
        }
    }

    fn edit_subject_grants(&mut self, kind: SubjectKind, id: u32, f: impl FnOnce(&mut List<Held>)) {
        f(match kind {
            SubjectKind::User => &mut self.users.cold.get_mut(id).grants,
            SubjectKind::Team => &mut self.teams.slots.get_mut(id).grants,
            SubjectKind::VirtualAccount => &mut self.vas.slots.get_mut(id).grants,
        });
    }

    fn subject_grants(&self, kind: SubjectKind, id: u32) -> &List<Held> {
        match kind {
            SubjectKind::User => &self.users.cold.get(id).grants,
            SubjectKind::Team => &self.teams.slots.get(id).grants,
            SubjectKind::VirtualAccount => &self.vas.slots.get(id).grants,
        }
    }

    fn owner_tokens_mut(&mut self, owner: Owner) -> &mut List<u64> {
        match owner {
            Owner::User(id, _) => &mut self.users.cold.get_mut(id).tokens,
            Owner::VirtualAccount(id) => &mut self.vas.slots.get_mut(id).tokens,
        }
    }

    // Changes.

    fn put_role(&mut self, r: Role) {
        let id = self.intern_role(&r.name);
        let s = self.roles.slots.get_mut(id);
        s.perms = r.permissions;
        s.admin = r.is_admin();
        s.role = Some(Arc::new(r));
    }

    fn put_user(&mut self, u: User) {
        let h = self.hasher.hash_one(u.email.as_str());
        if self.users.find(h, u.email.as_str()).is_none() {
            self.users.insert(h, &u.email);
        }
        let role = self.intern_role(&u.role);
        let Some(slot) = self.users.find_mut(h, u.email.as_str()) else { return };
        let old = slot.user.as_deref().map(|old| (slot.role, is_admin_user(old)));
        slot.role = role;
        slot.active = u.active;
        let admin = is_admin_user(&u);
        slot.user = Some(Arc::new(u));
        match old {
            Some((old_role, was_admin)) => {
                let r = self.roles.slots.get_mut(old_role);
                r.holders = r.holders.saturating_sub(1);
                self.active_admins -= usize::from(was_admin);
            }
            None => self.live_users += 1,
        }
        self.roles.slots.get_mut(role).holders += 1;
        self.active_admins += usize::from(admin);
    }

    fn delete_user(&mut self, e: &Email) {
        let h = self.hasher.hash_one(e.as_str());
        let Some(slot) = self.users.find(h, e.as_str()) else { return };
        let Some(old) = slot.user.as_deref() else { return };
        let (role, was_admin) = (slot.role, is_admin_user(old));
        let r = self.roles.slots.get_mut(role);
        r.holders = r.holders.saturating_sub(1);
        self.active_admins -= usize::from(was_admin);
        self.live_users -= 1;
        // Grants and tokens stay keyed by the email, as the store keeps them; `plan` deletes them.
        if let Some(slot) = self.users.find_mut(h, e.as_str()) {
            slot.user = None;
            slot.active = false;
            slot.manages_any = false;
            slot.teams = Teams::default();
            let uid = slot.id;
            self.users.cold.get_mut(uid).identity = None;
        }
    }

    /// Changes an existing user's relation to a team; a name with no user is skipped, as the team still
    /// lists it but nobody is there to be a member.
    fn edit_membership(&mut self, e: &Email, team: u32, f: impl FnOnce(&mut Membership)) {
        let h = self.hasher.hash_one(e.as_str());
        let Some(slot) = self.users.find(h, e.as_str()) else { return };
        if slot.user.is_none() {
            return;
        }
        let mut list = slot.teams.as_slice().to_vec();
        match list.iter().position(|m| m.team() == team) {
            Some(i) => {
                f(&mut list[i]);
                if !list[i].member() && !list[i].manager() {
                    list.remove(i);
                }
            }
            None => {
                let mut m = Membership::new(team);
                f(&mut m);
                if m.member() || m.manager() {
                    let teams = &self.teams.slots;
                    let name = &teams.get(team).name;
                    let at = list.partition_point(|x| teams.get(x.team()).name < *name);
                    list.insert(at, m);
                }
            }
        }
        if let Some(slot) = self.users.find_mut(h, e.as_str()) {
            slot.manages_any = list.iter().any(|m| m.manager());
            slot.teams = Teams::from_vec(list);
        }
    }

    fn put_team(&mut self, t: Team) {
        let tid = self.intern_team(&t.name);
        let old = self.teams.slots.get(tid).team.clone();
        let empty = BTreeSet::new();
        let (old_members, old_managers) = old.as_deref().map_or((&empty, &empty), |o| (&o.members, &o.managers));
        for e in old_members.difference(&t.members) {
            self.edit_membership(e, tid, |m| m.set_member(false));
        }
        for e in t.members.difference(old_members) {
            self.edit_membership(e, tid, |m| m.set_member(true));
        }
        for e in old_managers.difference(&t.managers) {
            self.edit_membership(e, tid, |m| m.set_manager(false));
        }
        for e in t.managers.difference(old_managers) {
            self.edit_membership(e, tid, |m| m.set_manager(true));
        }
        self.teams.slots.get_mut(tid).team = Some(Arc::new(t));
    }

    /// `put_team` for every team of a world, indexing memberships in one pass.
    fn put_teams(&mut self, mut teams: Vec<Team>) {
        if self.teams.slots.len() > 0 {
            // Bulk indexing relies on team ids following name order; only a fresh snapshot guarantees it.
            for t in teams {
                self.put_team(t);
            }
            return;
        }
        // The last of several teams with one name wins, as when applied one by one.
        teams.reverse();
        teams.sort_by(|a, b| a.name.cmp(&b.name));
        teams.dedup_by(|a, b| a.name == b.name);
        let mut lists: Vec<Vec<Membership>> = vec![Vec::new(); self.users.cold.len() as usize];
        for t in teams {
            let team = self.intern_team(&t.name);
            for e in &t.members {
                if let Some(uid) = self.live_user(e.as_str()).map(|u| u.id) {
                    let mut m = Membership::new(team);
                    m.set_member(true);
                    lists[uid as usize].push(m);
                }
            }
            for e in &t.managers {
                if let Some(uid) = self.live_user(e.as_str()).map(|u| u.id) {
                    let list = &mut lists[uid as usize];
                    match list.last_mut() {
                        Some(m) if m.team() == team => m.set_manager(true),
                        _ => {
                            let mut m = Membership::new(team);
                            m.set_manager(true);
                            list.push(m);
                        }
                    }
                }
            }
            self.teams.slots.get_mut(team).team = Some(Arc::new(t));
        }
        for slot in self.users.iter_mut() {
            if let Some(list) = lists.get_mut(slot.id as usize).filter(|l| !l.is_empty()) {
                slot.manages_any = list.iter().any(|m| m.manager());
                slot.teams = Teams::from_vec(std::mem::take(list));
            }
        }
    }

    fn delete_team(&mut self, n: &TeamName) {
        let Some(tid) = self.team_id(n.as_str()) else { return };
        if let Some(t) = self.teams.slots.get(tid).team.clone() {
            for e in &t.members {
                self.edit_membership(e, tid, |m| {
                    m.set_member(false);
                    m.set_manager(false);
                });
            }
        }
        let slot = self.teams.slots.get_mut(tid);
        slot.team = None;
        slot.vas = List::default();
    }

    fn put_virtual_account(&mut self, v: VirtualAccount) {
        let vid = self.intern_va(&v.name);
        let slot = self.vas.slots.get(vid);
        if slot.va.is_some() {
            let old_owner = slot.owner;
            self.teams.slots.get_mut(old_owner).vas.remove_where(|x| *x == vid);
        }
        let tid = self.intern_team(&v.owner_team);
        let vas = &self.vas.slots;
        let teams = &mut self.teams.slots;
        let name = &vas.get(vid).name;
        teams.get_mut(tid).vas.edit(|xs| {
            let at = xs.partition_point(|x| vas.get(*x).name < *name);
            if xs.get(at) != Some(&vid) {
                xs.insert(at, vid);
            }
        });
        let slot = self.vas.slots.get_mut(vid);
        slot.owner = tid;
        slot.expires_at = v.expires_at;
        slot.va = Some(Arc::new(v));
    }

    fn delete_virtual_account(&mut self, n: &VaName) {
        let Some(vid) = self.va_id(n.as_str()) else { return };
        let slot = self.vas.slots.get(vid);
        if slot.va.is_none() {
            return;
        }
        let owner = slot.owner;
        self.teams.slots.get_mut(owner).vas.remove_where(|x| *x == vid);
        let slot = self.vas.slots.get_mut(vid);
        slot.va = None;
        slot.expires_at = None;
        slot.identity = None;
    }

    fn put_token(&mut self, t: Token) {
        // A `TokenId` is always 16 lowercase hex digits, so every token has a key.
        let Some(key) = token_key(t.id.as_str()) else { return };
        let owner = match &t.owner {
            TokenOwner::User(e) => Owner::User(self.intern_user(e), self.hasher.hash_one(e.as_str())),
            TokenOwner::VirtualAccount(v) => Owner::VirtualAccount(self.intern_va(v)),
        };
        self.owner_tokens_mut(owner).upsert(key, |k| *k);
        let h = self.hasher.hash_one(key);
        self.tokens.insert(&self.hasher, h, TokenEntry { key, owner, token: Arc::new(t) });
    }

    fn revoke_token(&mut self, id: &TokenId) {
        // A revoked token can never be valid again, so it leaves the graph entirely.
        let Some(key) = token_key(id.as_str()) else { return };
        let h = self.hasher.hash_one(key);
        if let Some(e) = self.tokens.remove(h, key) {
            self.owner_tokens_mut(e.owner).remove_by(key, |k| *k);
        }
    }

    fn put_grant(&mut self, g: &Grant) {
        let rid = self.intern_resource(&g.resource);
        let (kind, sid) = self.intern_subject(&g.subject);
        self.edit_subject_grants(kind, sid, |l| l.upsert(Held { resource: rid, role: g.role }, |h| h.resource));
        self.resources.slots.get_mut(rid).holders.edit(|hs| {
            let h = Holder { kind, id: sid, role: g.role };
            match hs.iter_mut().find(|x| (x.kind, x.id) == (kind, sid)) {
                Some(x) => *x = h,
                None => hs.push(h),
            }
        });
    }

    /// `put_grant` for every grant of a world, sorting once instead of inserting one by one.
    fn put_grants(&mut self, grants: Vec<Grant>) {
        if self.resources.slots.len() > 0 {
            for g in &grants {
                self.put_grant(g);
            }
            return;
        }
        struct Row {
            resource: u32,
            kind: SubjectKind,
            subject: u32,
            role: CollaboratorRole,
        }
        let mut rows: Vec<Row> = grants
            .iter()
            .map(|g| {
                let resource = self.intern_resource(&g.resource);
                let (kind, subject) = self.intern_subject(&g.subject);
                Row { resource, kind, subject, role: g.role }
            })
            .collect();
        drop(grants);
        // The last grant of a (resource, subject) wins, as when applied one by one: reversed, a stable sort
        // puts it first among its equals, and `dedup` keeps the first.
        rows.reverse();
        rows.sort_by_key(|r| (r.resource, r.kind, r.subject));
        rows.dedup_by_key(|r| (r.resource, r.kind, r.subject));
        for group in rows.chunk_by(|a, b| a.resource == b.resource) {
            let holders: Vec<Holder> =
                group.iter().map(|r| Holder { kind: r.kind, id: r.subject, role: r.role }).collect();
            self.resources.slots.get_mut(group[0].resource).holders = HolderSet::build(&holders);
        }
        rows.sort_unstable_by_key(|r| (r.kind, r.subject, r.resource));
        for group in rows.chunk_by(|a, b| (a.kind, a.subject) == (b.kind, b.subject)) {
            let held = group.iter().map(|r| Held { resource: r.resource, role: r.role }).collect();
            self.edit_subject_grants(group[0].kind, group[0].subject, |l| *l = List::from_vec(held));
        }
    }

    fn delete_grant(&mut self, g: &Grant) {
        let (Some(rid), Some((kind, sid))) =
            (self.resource_id(g.resource.kind, &g.resource.name), self.subject_id(&g.subject))
        else {
            return;
        };
        self.edit_subject_grants(kind, sid, |l| l.remove_by(rid, |h| h.resource));
        self.resources.slots.get_mut(rid).holders.edit(|hs| hs.retain(|x| (x.kind, x.id) != (kind, sid)));
    }

    // Read accessors used by the server and the guard.

    #[inline]
    pub(crate) fn live_user(&self, e: &str) -> Option<&UserSlot> {
        self.user_slot(e).filter(|s| s.user.is_some())
    }

    pub(crate) fn user_by_id(&self, id: u32, h: u64) -> Option<&UserSlot> {
        self.users.by_id(id, h)
    }

    pub(crate) fn token_entry(&self, id: &str) -> Option<&TokenEntry> {
        let key = token_key(id)?;
        self.tokens.get(self.hasher.hash_one(key), key)
    }

    fn view<'a>(&'a self, s: &'a UserSlot) -> Option<UserView<'a>> {
        let user = s.user.as_deref()?;
        let list = s.teams.as_slice();
        let teams = &self.teams.slots;
        Some(UserView {
            user,
            member_of: TeamNames { teams, list, managers: false },
            manages: TeamNames { teams, list, managers: true },
        })
    }

    /// Provider accounts, MCP servers, agents and gateway controls.
    pub fn resources(&self) -> &crate::resource::ResourceIndex {
        &self.records
    }

    pub fn role(&self, n: &str) -> Option<&Arc<Role>> {
        self.roles.slots.get(self.role_id(n)?).role.as_ref()
    }
    pub fn roles(&self) -> impl Iterator<Item = &Arc<Role>> {
        self.roles.slots.iter().filter_map(|s| s.role.as_ref())
    }
    pub fn user(&self, e: &str) -> Option<UserView<'_>> {
        self.view(self.user_slot(e)?)
    }
    pub fn users(&self) -> impl Iterator<Item = UserView<'_>> {
        self.users.iter().filter_map(|s| self.view(s))
    }
    pub fn team(&self, n: &str) -> Option<&Arc<Team>> {
        self.teams.slots.get(self.team_id(n)?).team.as_ref()
    }
    pub fn teams(&self) -> impl Iterator<Item = &Arc<Team>> {
        self.teams.slots.iter().filter_map(|s| s.team.as_ref())
    }
    pub fn virtual_account(&self, n: &str) -> Option<&Arc<VirtualAccount>> {
        self.vas.slots.get(self.va_id(n)?).va.as_ref()
    }
    pub fn virtual_accounts(&self) -> impl Iterator<Item = &Arc<VirtualAccount>> {
        self.vas.slots.iter().filter_map(|s| s.va.as_ref())
    }
    /// Virtual accounts owned by a team, in name order.
    pub fn team_virtual_accounts(&self, t: &str) -> impl Iterator<Item = &VaName> {
        let list = self.team_id(t).map_or(&[][..], |id| self.teams.slots.get(id).vas.as_slice());
        list.iter().map(|v| &self.vas.slots.get(*v).name)
    }
    pub fn token(&self, id: &str) -> Option<&Arc<Token>> {
        self.token_entry(id).map(|e| &e.token)
    }
    /// Tokens (not revoked) of an owner, in id order.
    pub fn tokens_of(&self, owner: &TokenOwner) -> impl Iterator<Item = &Arc<Token>> {
        let keys = match owner {
            TokenOwner::User(e) => {
                self.user_id(e.as_str()).map_or(&[][..], |id| self.users.cold.get(id).tokens.as_slice())
            }
            TokenOwner::VirtualAccount(v) => {
                self.va_id(v.as_str()).map_or(&[][..], |id| self.vas.slots.get(id).tokens.as_slice())
            }
        };
        keys.iter().filter_map(|k| self.tokens.get(self.hasher.hash_one(*k), *k)).map(|e| &e.token)
    }
    /// Grants held directly by a subject, in resource order (which decides the grant a refusal names).
    pub fn grants_of<'a>(&'a self, s: &'a Subject) -> impl Iterator<Item = Grant> + 'a {
        let held = self.subject_id(s).map_or(&[][..], |(kind, id)| self.subject_grants(kind, id).as_slice());
        let mut out: Vec<Grant> = held
            .iter()
            .map(|h| Grant {
                resource: self.resources.slots.get(h.resource).key.clone(),
                subject: s.clone(),
                role: h.role,
            })
            .collect();
        // The lists are in id order for the check path; sorting here keeps that path free of name compares.
        out.sort_unstable_by(|a, b| a.resource.cmp(&b.resource));
        out.into_iter()
    }
    /// Grants on a resource.
    pub fn grants_on<'a>(&'a self, r: &'a Resource) -> impl Iterator<Item = Grant> + 'a {
        let holders = self.resource_id(r.kind, &r.name).map(|id| &self.resources.slots.get(id).holders);
        holders.into_iter().flat_map(|s| s.iter()).map(move |h| Grant {
            resource: r.clone(),
            subject: self.subject_of(h.kind, h.id),
            role: h.role,
        })
    }
    pub fn active_admin_count(&self) -> usize {
        self.active_admins
    }
    pub fn user_count(&self) -> usize {
        self.live_users
    }
    /// How many users hold a role.
    pub fn role_holders(&self, role: &str) -> usize {
        self.role_id(role).map_or(0, |id| self.roles.slots.get(id).holders as usize)
    }
}

/// A user with the teams they are in and manage, borrowed from a snapshot.
#[derive(Clone, Copy)]
pub struct UserView<'a> {
    pub user: &'a User,
    pub member_of: TeamNames<'a>,
    pub manages: TeamNames<'a>,
}

impl fmt::Debug for UserView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserView")
            .field("user", self.user)
            .field("member_of", &self.member_of)
            .field("manages", &self.manages)
            .finish()
    }
}

/// The teams a user is in, or manages, in name order.
#[derive(Clone, Copy)]
pub struct TeamNames<'a> {
    teams: &'a Slots<TeamSlot>,
    list: &'a [Membership],
    managers: bool,
}

impl<'a> TeamNames<'a> {
    pub fn iter(&self) -> TeamNamesIter<'a> {
        TeamNamesIter { teams: self.teams, list: self.list.iter(), managers: self.managers }
    }
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    pub fn contains(&self, team: &str) -> bool {
        self.iter().any(|t| t.as_str() == team)
    }
}

impl fmt::Debug for TeamNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for TeamNames<'a> {
    type Item = &'a TeamName;
    type IntoIter = TeamNamesIter<'a>;
    fn into_iter(self) -> TeamNamesIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &TeamNames<'a> {
    type Item = &'a TeamName;
    type IntoIter = TeamNamesIter<'a>;
    fn into_iter(self) -> TeamNamesIter<'a> {
        self.iter()
    }
}

pub struct TeamNamesIter<'a> {
    teams: &'a Slots<TeamSlot>,
    list: std::slice::Iter<'a, Membership>,
    managers: bool,
}

impl<'a> Iterator for TeamNamesIter<'a> {
    type Item = &'a TeamName;
    fn next(&mut self) -> Option<&'a TeamName> {
        let managers = self.managers;
        let m = self.list.find(|m| if managers { m.manager() } else { m.member() })?;
        Some(&self.teams.get(m.team()).name)
    }
}
