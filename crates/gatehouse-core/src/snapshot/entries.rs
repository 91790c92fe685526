//! The entries of each kind: users (stored in their hash table), teams, virtual accounts, roles,
//! resources and tokens, and the grants they hold.

use super::*;

/// A user's relation to one team, packed as `team << 2 | manager << 1 | member` (so team ids stay below
/// 2^30). Membership and management are kept apart because nothing below `ops` guarantees that managers
/// are members.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Membership(u32);

impl Membership {
    pub(super) fn new(team: u32) -> Membership {
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
    pub(super) fn set_member(&mut self, on: bool) {
        self.0 = (self.0 & !1) | u32::from(on);
    }
    pub(super) fn set_manager(&mut self, on: bool) {
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

    pub(super) fn from_vec(v: Vec<Membership>) -> Teams {
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
    pub(super) kind: SubjectKind,
    pub(super) id: u32,
    pub(super) role: CollaboratorRole,
}

/// The holders of grants on one resource, as an open-addressing set over words `kind << 62 | id << 8 | role`
/// at most half full. A check probes it once per candidate holder (the subject, each of its teams): every
/// probe is one independent read, and the set is found from the resource alone, in parallel with the
/// subject's lookup.
#[derive(Clone, Default)]
pub(crate) struct HolderSet(Option<Arc<[u64]>>);

impl HolderSet {
    #[inline]
    pub(super) fn start(kind: SubjectKind, id: u32, mask: usize) -> usize {
        let k = (kind as u64) << 32 | u64::from(id);
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
    }

    pub(super) fn build(holders: &[Holder]) -> HolderSet {
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

    pub(super) fn iter(&self) -> impl Iterator<Item = Holder> + '_ {
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
    pub(super) fn edit(&mut self, f: impl FnOnce(&mut Vec<Holder>)) {
        let mut v: Vec<Holder> = self.iter().collect();
        f(&mut v);
        *self = HolderSet::build(&v);
    }
}

pub(super) const INLINE_KEY: usize = 28;

/// The length and first bytes of a name, stored in its entry: confirming a probe for a short name then reads
/// no memory beyond the entry itself.
#[derive(Clone, Copy)]
pub(crate) struct InlineKey {
    pub(super) len: u32,
    pub(super) prefix: [u8; INLINE_KEY],
}

impl InlineKey {
    #[inline]
    pub(super) fn new(name: &str) -> InlineKey {
        let mut prefix = [0u8; INLINE_KEY];
        let n = name.len().min(INLINE_KEY);
        prefix[..n].copy_from_slice(&name.as_bytes()[..n]);
        InlineKey { len: name.len() as u32, prefix }
    }

    /// Whether the name this key was made from equals the one `q` was made from; `full` compares the whole
    /// names and is called only for names longer than the prefix.
    #[inline]
    pub(super) fn matches(&self, q: &InlineKey, full: impl FnOnce() -> bool) -> bool {
        self.len == q.len && self.prefix == q.prefix && (self.len as usize <= INLINE_KEY || full())
    }
}

/// What a check reads about a user, in one aligned pair of cache lines (fetched together).
#[derive(Clone)]
#[repr(align(128))]
pub(crate) struct UserSlot {
    pub(super) key: InlineKey,
    /// The low half of the name's hash, where probes for it start.
    pub(super) tag: u32,
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
    pub(super) name: Email,
    /// While the user exists; cleared when they are deleted, so a successor under the name gets their own.
    pub(super) identity: Option<IdentityId>,
    /// Sorted by resource id.
    pub(super) grants: List<Held>,
    pub(super) tokens: List<u64>,
}

/// One shard of the user table: open addressing with linear probing, at most half full.
#[derive(Clone, Default)]
pub(super) struct UserShard {
    pub(super) slots: Vec<Option<UserSlot>>,
    pub(super) len: u32,
}

/// Users, stored in their hash table itself: a lookup by name reads the entry and nothing before it, where an
/// index would cost one more dependent read on every check. Entries move when a shard grows, so references
/// use the dense id (`UserSlot::id`), by which `cold` is indexed.
#[derive(Clone, Default)]
pub(crate) struct UserTable {
    pub(super) shards: Arc<Vec<Arc<UserShard>>>,
    pub(super) cold: Slots<UserCold>,
}

impl UserTable {
    #[inline]
    pub(super) fn position(&self, h: u64, eq: impl Fn(&UserSlot) -> bool) -> Option<(usize, usize)> {
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
    pub(super) fn find(&self, h: u64, name: &str) -> Option<&UserSlot> {
        let q = InlineKey::new(name);
        let (shard, i) = self.position(h, |s| s.key.matches(&q, || s.name.as_str() == name))?;
        self.shards[shard].slots[i].as_ref()
    }

    pub(super) fn find_mut(&mut self, h: u64, name: &str) -> Option<&mut UserSlot> {
        let q = InlineKey::new(name);
        let (shard, i) = self.position(h, |s| s.key.matches(&q, || s.name.as_str() == name))?;
        Arc::make_mut(&mut Arc::make_mut(&mut self.shards)[shard]).slots[i].as_mut()
    }

    /// The entry of an id whose name hashes to `h`.
    pub(super) fn by_id(&self, id: u32, h: u64) -> Option<&UserSlot> {
        let (shard, i) = self.position(h, |s| s.id == id)?;
        self.shards[shard].slots[i].as_ref()
    }

    /// Adds a name not yet in the table.
    pub(super) fn insert(&mut self, h: u64, name: &Email) -> u32 {
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

    pub(super) fn iter(&self) -> impl Iterator<Item = &UserSlot> + '_ {
        self.shards.iter().flat_map(|s| s.slots.iter().flatten())
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut UserSlot> + '_ {
        Arc::make_mut(&mut self.shards).iter_mut().flat_map(|s| Arc::make_mut(s).slots.iter_mut().flatten())
    }
}

impl UserShard {
    pub(super) fn place(slots: &mut [Option<UserSlot>], s: UserSlot) {
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
    pub(super) key: InlineKey,
    pub(crate) team: Option<Arc<Team>>,
    pub(crate) name: TeamName,
    pub(crate) grants: List<Held>,
    /// Virtual accounts naming this team as owner, in name order.
    pub(super) vas: List<u32>,
}

#[derive(Clone)]
#[repr(align(64))]
pub(crate) struct VaSlot {
    pub(super) key: InlineKey,
    pub(crate) va: Option<Arc<VirtualAccount>>,
    pub(crate) owner: u32,
    pub(crate) expires_at: Option<OffsetDateTime>,
    pub(crate) grants: List<Held>,
    pub(crate) name: VaName,
    pub(super) tokens: List<u64>,
    /// As `UserCold::identity`.
    pub(super) identity: Option<IdentityId>,
}

#[derive(Clone)]
pub(crate) struct RoleSlot {
    pub(crate) name: RoleName,
    pub(crate) role: Option<Arc<Role>>,
    /// Empty, and `admin` false, while the role does not exist.
    pub(crate) perms: PermSet,
    pub(crate) admin: bool,
    /// Users holding the role, whether or not it exists.
    pub(super) holders: u32,
}

#[derive(Clone)]
#[repr(align(64))]
pub(crate) struct ResourceSlot {
    pub(super) inline: InlineKey,
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
    pub(super) key: u64,
    pub(crate) owner: Owner,
    pub(crate) token: Arc<Token>,
}
