//! The benchmarks' tenant, shared by the engine benchmark and the server's propagation benchmark (each
//! includes this file with `#[path]`), so both measure the same world: 100,000 users, 10,000 teams of five
//! memberships per user, 5,000 virtual accounts, 1,000,000 grants and 10,000 tokens at scale 1.0.

use std::collections::BTreeSet;

use gatehouse_core::snapshot::World;
use gatehouse_core::token::{mint, TokenEntropy};
use gatehouse_core::{
    BuiltinRole, CollaboratorRole, Email, Grant, Permission, Resource, ResourceKind, Role, RoleName, Subject, Team,
    TeamName, TokenKind, TokenOwner, User, VaName, VirtualAccount,
};
use time::OffsetDateTime;

/// xorshift64*: tiny, fixed-seed, good enough to spread a benchmark's picks.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        out
    }
}

/// How big the tenant is.
pub struct WorldSizes {
    pub users: usize,
    pub teams: usize,
    pub teams_per_user: usize,
    pub vas: usize,
    pub provider_accounts: usize,
    pub grants: usize,
    pub tokens: usize,
}

impl WorldSizes {
    /// The 100k-user tenant times `scale` (each count at least 10).
    pub fn scaled(scale: f64) -> WorldSizes {
        let n = |x: usize| ((x as f64 * scale) as usize).max(10);
        WorldSizes {
            users: n(100_000),
            teams: n(10_000),
            teams_per_user: 5,
            vas: n(5_000),
            provider_accounts: n(2_000),
            grants: n(1_000_000),
            tokens: n(10_000),
        }
    }
}

pub fn email(i: usize) -> Email {
    Email::new(&format!("user{i}@bench.example.com")).unwrap()
}
pub fn team_name(i: usize) -> TeamName {
    TeamName::new(&format!("team-{i}")).unwrap()
}
pub fn va_name(i: usize) -> VaName {
    VaName::new(&format!("va-{i}")).unwrap()
}
pub fn pa(i: usize) -> Resource {
    Resource::new(ResourceKind::ProviderAccount, &format!("pa-{i}"))
}

pub fn custom(name: &str, ps: &[Permission]) -> Role {
    Role {
        name: RoleName::new(name).unwrap(),
        display_name: name.to_owned(),
        description: String::new(),
        permissions: ps.iter().copied().collect(),
        builtin: None,
    }
}

pub const CUSTOM_ROLES: [&str; 4] = ["pa-reader", "gateway-viewer", "va-admin", "integrations"];

pub struct Built {
    pub world: World,
    /// Token strings of valid tokens, to authenticate.
    pub secrets: Vec<String>,
}

/// The tenant: seven roles (three built in, four custom), users mostly members, five team memberships per
/// user with about two managers per team, virtual accounts of which a tenth have expired, grants on
/// provider accounts to users, teams and accounts, and tokens of active users and live accounts.
pub fn build_world(sz: &WorldSizes, rng: &mut Rng, now: OffsetDateTime) -> Built {
    use Permission::*;
    let mut tm = BuiltinRole::TeamManager.default_role();
    for p in [VirtualAccountRead, VirtualAccountCreate, VirtualAccountManage, VirtualAccountDelete] {
        tm.permissions.insert(p);
    }
    let roles = vec![
        BuiltinRole::Admin.default_role(),
        BuiltinRole::Member.default_role(),
        tm,
        custom(CUSTOM_ROLES[0], &[UserList, TeamRead, RoleList, ProviderAccountRead]),
        custom(CUSTOM_ROLES[1], &[UserList, TeamRead, GatewayControlsList]),
        custom(CUSTOM_ROLES[2], &[VirtualAccountRead, VirtualAccountManage, TeamRead]),
        custom(CUSTOM_ROLES[3], &[ProviderAccountUseIntegrations, McpServerUse, ProviderAccountRead]),
    ];

    let users: Vec<User> = (0..sz.users)
        .map(|i| {
            let role = match rng.below(1000) {
                0 => "admin",
                1..=799 => "member",
                r => CUSTOM_ROLES[r % CUSTOM_ROLES.len()],
            };
            User {
                email: email(i),
                display_name: format!("User {i}"),
                role: RoleName::new(role).unwrap(),
                active: i == 0 || rng.chance(98),
            }
        })
        .collect();
    let mut users = users;
    users[0].role = RoleName::new("admin").unwrap();

    let mut members: Vec<BTreeSet<Email>> = vec![BTreeSet::new(); sz.teams];
    for u in &users {
        for _ in 0..sz.teams_per_user {
            members[rng.below(sz.teams)].insert(u.email.clone());
        }
    }
    let teams: Vec<Team> = members
        .into_iter()
        .enumerate()
        .map(|(i, members)| {
            // About two managers per team, picked among its members.
            let managers: BTreeSet<Email> = members.iter().filter(|_| rng.below(25) == 0).take(3).cloned().collect();
            Team { name: team_name(i), description: String::new(), managers, members }
        })
        .collect();

    let virtual_accounts: Vec<VirtualAccount> = (0..sz.vas)
        .map(|i| VirtualAccount {
            name: va_name(i),
            owner_team: team_name(rng.below(sz.teams)),
            description: String::new(),
            expires_at: match rng.below(10) {
                0 => Some(now - time::Duration::days(1)),
                1 => Some(now + time::Duration::days(30)),
                _ => None,
            },
        })
        .collect();

    let pa_roles = [CollaboratorRole::ProviderAccountUser, CollaboratorRole::ProviderAccountManager];
    let grants: Vec<Grant> = (0..sz.grants)
        .map(|_| {
            let subject = match rng.below(10) {
                0..=5 => Subject::User(email(rng.below(sz.users))),
                6..=8 => Subject::Team(team_name(rng.below(sz.teams))),
                _ => Subject::VirtualAccount(va_name(rng.below(sz.vas))),
            };
            Grant { resource: pa(rng.below(sz.provider_accounts)), subject, role: pa_roles[rng.below(4) / 3] }
        })
        .collect();

    let mut tokens = Vec::with_capacity(sz.tokens);
    let mut secrets = Vec::with_capacity(sz.tokens);
    while tokens.len() < sz.tokens {
        let (kind, owner) = if rng.chance(70) {
            let u = &users[rng.below(users.len())];
            if !u.active {
                continue;
            }
            (TokenKind::Pat, TokenOwner::User(u.email.clone()))
        } else {
            let v = &virtual_accounts[rng.below(virtual_accounts.len())];
            if v.expires_at.is_some_and(|e| e <= now) {
                continue;
            }
            (TokenKind::VirtualAccount, TokenOwner::VirtualAccount(v.name.clone()))
        };
        let entropy = TokenEntropy { id: rng.bytes(), secret: rng.bytes() };
        let (t, secret) = mint(kind, owner, "bench", now, None, entropy);
        tokens.push(t);
        secrets.push(secret.into_inner());
    }

    Built { world: World { roles, users, teams, virtual_accounts, tokens, grants, resources: Vec::new() }, secrets }
}
