//! Applying committed changes to a snapshot.

use super::*;

impl Snapshot {
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
    pub(super) fn put_role(&mut self, r: Role) {
        let id = self.intern_role(&r.name);
        let s = self.roles.slots.get_mut(id);
        s.perms = r.permissions;
        s.admin = r.is_admin();
        s.role = Some(Arc::new(r));
    }

    pub(super) fn put_user(&mut self, u: User) {
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

    pub(super) fn delete_user(&mut self, e: &Email) {
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
    pub(super) fn edit_membership(&mut self, e: &Email, team: u32, f: impl FnOnce(&mut Membership)) {
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

    pub(super) fn put_team(&mut self, t: Team) {
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
    pub(super) fn put_teams(&mut self, mut teams: Vec<Team>) {
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

    pub(super) fn delete_team(&mut self, n: &TeamName) {
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

    pub(super) fn put_virtual_account(&mut self, v: VirtualAccount) {
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

    pub(super) fn delete_virtual_account(&mut self, n: &VaName) {
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

    pub(super) fn put_token(&mut self, t: Token) {
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

    pub(super) fn revoke_token(&mut self, id: &TokenId) {
        // A revoked token can never be valid again, so it leaves the graph entirely.
        let Some(key) = token_key(id.as_str()) else { return };
        let h = self.hasher.hash_one(key);
        if let Some(e) = self.tokens.remove(h, key) {
            self.owner_tokens_mut(e.owner).remove_by(key, |k| *k);
        }
    }

    pub(super) fn put_grant(&mut self, g: &Grant) {
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
    pub(super) fn put_grants(&mut self, grants: Vec<Grant>) {
        if self.resources.slots.len() > 0 {
            for g in &grants {
                self.put_grant(g);
            }
            return;
        }
        pub(super) struct Row {
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

    pub(super) fn delete_grant(&mut self, g: &Grant) {
        let (Some(rid), Some((kind, sid))) =
            (self.resource_id(g.resource.kind, &g.resource.name), self.subject_id(&g.subject))
        else {
            return;
        };
        self.edit_subject_grants(kind, sid, |l| l.remove_by(rid, |h| h.resource));
        self.resources.slots.get_mut(rid).holders.edit(|hs| hs.retain(|x| (x.kind, x.id) != (kind, sid)));
    }

    // Read accessors used by the server and the guard.
}
