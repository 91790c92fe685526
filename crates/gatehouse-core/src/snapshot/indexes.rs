//! Interning names to dense ids, and the indexes keyed by them.

use super::*;

impl Snapshot {
    pub(super) fn assign_identity(&mut self, subject: &Subject, id: IdentityId) {
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

    pub(super) fn intern_role(&mut self, n: &RoleName) -> u32 {
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

    pub(super) fn intern_user(&mut self, e: &Email) -> u32 {
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

    pub(super) fn intern_team(&mut self, n: &TeamName) -> u32 {
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

    pub(super) fn intern_va(&mut self, n: &VaName) -> u32 {
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

    pub(super) fn intern_resource(&mut self, r: &Resource) -> u32 {
        let (h, q) = (self.hasher.hash_one((r.kind, &*r.name)), InlineKey::new(&r.name));
        self.resources.intern(
            h,
            |s| s.key.kind == r.kind && s.inline.matches(&q, || s.key.name == r.name),
            || ResourceSlot { inline: q, key: r.clone(), holders: HolderSet::default() },
        )
    }

    pub(super) fn subject_id(&self, s: &Subject) -> Option<(SubjectKind, u32)> {
        match s {
            Subject::User(e) => self.user_id(e.as_str()).map(|id| (SubjectKind::User, id)),
            Subject::Team(t) => self.team_id(t.as_str()).map(|id| (SubjectKind::Team, id)),
            Subject::VirtualAccount(v) => self.va_id(v.as_str()).map(|id| (SubjectKind::VirtualAccount, id)),
        }
    }

    pub(super) fn intern_subject(&mut self, s: &Subject) -> (SubjectKind, u32) {
        match s {
            Subject::User(e) => (SubjectKind::User, self.intern_user(e)),
            Subject::Team(t) => (SubjectKind::Team, self.intern_team(t)),
            Subject::VirtualAccount(v) => (SubjectKind::VirtualAccount, self.intern_va(v)),
        }
    }

    pub(super) fn subject_of(&self, kind: SubjectKind, id: u32) -> Subject {
        match kind {
            SubjectKind::User => Subject::User(self.users.cold.get(id).name.clone()),
            SubjectKind::Team => Subject::Team(self.teams.slots.get(id).name.clone()),
            SubjectKind::VirtualAccount => Subject::VirtualAccount(self.vas.slots.get(id).name.clone()),
        }
    }

    pub(super) fn edit_subject_grants(&mut self, kind: SubjectKind, id: u32, f: impl FnOnce(&mut List<Held>)) {
        f(match kind {
            SubjectKind::User => &mut self.users.cold.get_mut(id).grants,
            SubjectKind::Team => &mut self.teams.slots.get_mut(id).grants,
            SubjectKind::VirtualAccount => &mut self.vas.slots.get_mut(id).grants,
        });
    }

    pub(super) fn subject_grants(&self, kind: SubjectKind, id: u32) -> &List<Held> {
        match kind {
            SubjectKind::User => &self.users.cold.get(id).grants,
            SubjectKind::Team => &self.teams.slots.get(id).grants,
            SubjectKind::VirtualAccount => &self.vas.slots.get(id).grants,
        }
    }

    pub(super) fn owner_tokens_mut(&mut self, owner: Owner) -> &mut List<u64> {
        match owner {
            Owner::User(id, _) => &mut self.users.cold.get_mut(id).tokens,
            Owner::VirtualAccount(id) => &mut self.vas.slots.get_mut(id).tokens,
        }
    }

    // Changes.
}
