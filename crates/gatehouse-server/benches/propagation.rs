#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Propagation benchmark (small custom harness, no criterion): a replica's snapshot brought up to date after
//! one change committed by another process, in the engine benchmark's 100k-user world (100,000 users,
//! 10,000 teams of five memberships per user, 5,000 virtual accounts, 1,000,000 grants, 10,000 tokens),
//! stored in a real database:
//! 1. incremental: the change read back from the change log and applied to a copy of the published
//!    snapshot, then published (the gateway's tables compiled again): `AppState::refresh`, as a
//!    notification or the poll triggers it;
//! 2. full: the same change with the log emptied, so that the whole state is loaded again.
//!
//! Run: `cargo bench -p gatehouse-server --bench propagation` (SQLite; Postgres too when
//! `GATEHOUSE_TEST_POSTGRES_URL` is set). `GATEHOUSE_BENCH_SCALE` (a float, default 1.0) scales the world.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::clock::ManualClock;
use gatehouse_core::token::{mint, TokenEntropy};
use gatehouse_core::{
    BuiltinRole, Change, CollaboratorRole, Email, Grant, Permission, Resource, ResourceKind, Role, RoleName, Subject,
    Team, TeamName, TokenKind, TokenOwner, User, VaName, VirtualAccount, World,
};
use gatehouse_server::state::{AppState, OsEntropy, ReloadKind, ServerConfig};
use gatehouse_store::testing;
use gatehouse_store::Store;
use time::OffsetDateTime;

/// The engine benchmark's generator (crates/gatehouse-core/benches/engine.rs), same sizes and shape.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        out
    }
}

struct Sizes {
    users: usize,
    teams: usize,
    vas: usize,
    provider_accounts: usize,
    grants: usize,
    tokens: usize,
}

fn sizes() -> Sizes {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it, as a smoke on a
    // small world (the figures come from `cargo bench`).
    let default = if std::env::args().any(|a| a == "--bench") { 1.0 } else { 0.01 };
    let scale: f64 = std::env::var("GATEHOUSE_BENCH_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let n = |x: usize| ((x as f64 * scale) as usize).max(10);
    Sizes {
        users: n(100_000),
        teams: n(10_000),
        vas: n(5_000),
        provider_accounts: n(2_000),
        grants: n(1_000_000),
        tokens: n(10_000),
    }
}

fn email(i: usize) -> Email {
    Email::new(&format!("user{i}@bench.example.com")).unwrap()
}
fn team_name(i: usize) -> TeamName {
    TeamName::new(&format!("team-{i}")).unwrap()
}
fn va_name(i: usize) -> VaName {
    VaName::new(&format!("va-{i}")).unwrap()
}
fn pa(i: usize) -> Resource {
    Resource::new(ResourceKind::ProviderAccount, &format!("pa-{i}"))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn build_world(sz: &Sizes, rng: &mut Rng) -> World {
    use Permission::*;
    let custom = |name: &str, ps: &[Permission]| Role {
        name: RoleName::new(name).unwrap(),
        display_name: name.to_owned(),
        description: String::new(),
        permissions: ps.iter().copied().collect(),
        builtin: None,
    };
    let roles = vec![
        BuiltinRole::Admin.default_role(),
        BuiltinRole::Member.default_role(),
        BuiltinRole::TeamManager.default_role(),
        custom("pa-reader", &[UserList, TeamRead, RoleList, ProviderAccountRead]),
    ];
    let users: Vec<User> = (0..sz.users)
        .map(|i| User {
            email: email(i),
            display_name: format!("User {i}"),
            role: RoleName::new(match rng.below(1000) {
                0 => "admin",
                1..=799 => "member",
                _ => "pa-reader",
            })
            .unwrap(),
            active: i == 0 || rng.chance(98),
        })
        .collect();
    let mut members: Vec<BTreeSet<Email>> = vec![BTreeSet::new(); sz.teams];
    for u in &users {
        for _ in 0..5 {
            members[rng.below(sz.teams)].insert(u.email.clone());
        }
    }
    let teams: Vec<Team> = members
        .into_iter()
        .enumerate()
        .map(|(i, members)| {
            let managers: BTreeSet<Email> = members.iter().filter(|_| rng.below(25) == 0).take(3).cloned().collect();
            Team { name: team_name(i), description: String::new(), managers, members }
        })
        .collect();
    let virtual_accounts: Vec<VirtualAccount> = (0..sz.vas)
        .map(|i| VirtualAccount {
            name: va_name(i),
            owner_team: team_name(rng.below(sz.teams)),
            description: String::new(),
            expires_at: None,
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
    let tokens = (0..sz.tokens)
        .map(|_| {
            let owner = if rng.chance(70) {
                TokenOwner::User(email(rng.below(sz.users)))
            } else {
                TokenOwner::VirtualAccount(va_name(rng.below(sz.vas)))
            };
            let kind = if matches!(owner, TokenOwner::User(_)) { TokenKind::Pat } else { TokenKind::VirtualAccount };
            mint(kind, owner, "bench", now(), None, TokenEntropy { id: rng.bytes(), secret: rng.bytes() }).0
        })
        .collect();
    World { roles, users, teams, virtual_accounts, tokens, grants, resources: Vec::new() }
}

/// The world as changes, committed in batches (each logged as "load everything": see the change log).
async fn populate(store: &dyn Store, w: World) {
    let World { roles, users, teams, virtual_accounts, tokens, grants, .. } = w;
    let all: Vec<Change> = roles
        .into_iter()
        .map(Change::PutRole)
        .chain(users.into_iter().map(Change::PutUser))
        .chain(teams.into_iter().map(Change::PutTeam))
        .chain(virtual_accounts.into_iter().map(Change::PutVirtualAccount))
        .chain(tokens.into_iter().map(Change::PutToken))
        .chain(grants.into_iter().map(Change::PutGrant))
        .collect();
    for batch in all.chunks(50_000) {
        store.commit(batch, &[]).await.unwrap();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn summary(xs: &mut [Duration]) -> String {
    xs.sort();
    let at = |q: f64| xs[((xs.len() - 1) as f64 * q).round() as usize];
    format!(
        "median {:8.2} ms   p90 {:8.2} ms   max {:8.2} ms   (n = {})",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(1.0)),
        xs.len()
    )
}

/// One change of each kind an operator makes, against the world's existing objects.
fn change(i: usize, sz: &Sizes, rng: &mut Rng) -> Change {
    match i % 4 {
        0 => Change::PutUser(User {
            email: email(1 + rng.below(sz.users - 1)),
            display_name: format!("Renamed {i}"),
            role: RoleName::new("member").unwrap(),
            active: rng.chance(50),
        }),
        1 => Change::PutGrant(Grant {
            resource: pa(rng.below(sz.provider_accounts)),
            subject: Subject::User(email(rng.below(sz.users))),
            role: CollaboratorRole::ProviderAccountUser,
        }),
        2 => Change::PutVirtualAccount(VirtualAccount {
            name: va_name(rng.below(sz.vas)),
            owner_team: team_name(rng.below(sz.teams)),
            description: format!("moved {i}"),
            expires_at: None,
        }),
        _ => {
            let owner = TokenOwner::User(email(rng.below(sz.users)));
            let e = TokenEntropy { id: rng.bytes(), secret: rng.bytes() };
            Change::PutToken(mint(TokenKind::Pat, owner, "new", now(), None, e).0)
        }
    }
}

async fn run(label: &str, url: &str) {
    let sz = sizes();
    let mut rng = Rng(0x5eed);
    // The other replica: a second connection committing as another process would.
    let writer = gatehouse_store::open(url).await.unwrap();
    let started = Instant::now();
    populate(writer.as_ref(), build_world(&sz, &mut rng)).await;
    println!("{label}: populated {} users, {} grants in {:.1} s", sz.users, sz.grants, started.elapsed().as_secs_f64());
    let store = gatehouse_store::open(url).await.unwrap();
    let started = Instant::now();
    let clock = Arc::new(ManualClock::new(now()));
    let key = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([7; 32]));
    let app = AppState::new(store, clock, Arc::new(OsEntropy), ServerConfig::default(), key).await.unwrap();
    println!("{label}: start-up load {:.1} ms", ms(started.elapsed()));

    let (mut incremental, mut full) = (Vec::new(), Vec::new());
    for i in 0..40 {
        writer.commit(&[change(i, &sz, &mut rng)], &[]).await.unwrap();
        let t = Instant::now();
        app.refresh().await.unwrap();
        let wall = t.elapsed();
        let r = app.last_reload().unwrap();
        assert_eq!((r.kind, r.versions), (ReloadKind::Incremental, 1));
        incremental.push(wall);
    }
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    for i in 0..5 {
        writer.commit(&[change(i, &sz, &mut rng)], &[]).await.unwrap();
        sqlx::query("DELETE FROM change_log").execute(&pool).await.unwrap();
        let t = Instant::now();
        app.refresh().await.unwrap();
        let wall = t.elapsed();
        assert_eq!(app.last_reload().unwrap().kind, ReloadKind::Full);
        full.push(wall);
    }
    println!("{label}: one change, incremental (log + apply + publish): {}", summary(&mut incremental));
    println!("{label}: one change, full reload   (load + build + publish): {}", summary(&mut full));
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let db = testing::sqlite();
        run("sqlite", &db.url).await;
        match std::env::var(testing::POSTGRES_ENV) {
            Ok(admin) if !admin.is_empty() => {
                let db = testing::postgres(&admin).await.unwrap();
                run("postgres", &db.url).await;
            }
            _ => println!("postgres: skipped ({} is not set)", testing::POSTGRES_ENV),
        }
    });
}
