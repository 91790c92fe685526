//! Reading a snapshot: accessors by name, listings, counts, and borrowed views of users.

use super::*;

impl Snapshot {
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

    pub(super) fn view<'a>(&'a self, s: &'a UserSlot) -> Option<UserView<'a>> {
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
    pub(super) teams: &'a Slots<TeamSlot>,
    pub(super) list: &'a [Membership],
    pub(super) managers: bool,
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
    pub(super) teams: &'a Slots<TeamSlot>,
    pub(super) list: std::slice::Iter<'a, Membership>,
    pub(super) managers: bool,
}

impl<'a> Iterator for TeamNamesIter<'a> {
    type Item = &'a TeamName;
    fn next(&mut self) -> Option<&'a TeamName> {
        let managers = self.managers;
        let m = self.list.find(|m| if managers { m.manager() } else { m.member() })?;
        Some(&self.teams.get(m.team()).name)
    }
}
