#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Propagation benchmark (small custom harness, no criterion): a replica's snapshot brought up to date after
//! one change committed by another process, in the engine benchmark's 100k-user world (its generator,
//! `gatehouse-core/benches/support/world.rs`: 100,000 users, 10,000 teams of five memberships per user, 5,000
//! virtual accounts, 1,000,000 grants, 10,000 tokens),
//! stored in a real database:
//! 1. incremental: the change read back from the change log and applied to a copy of the published
//!    snapshot, then published (the gateway's tables compiled again): `AppState::refresh`, as a
//!    notification or the poll triggers it;
//! 2. full: the same change with the log emptied, so that the whole state is loaded again.
//!
//! Run: `cargo bench -p gatehouse-server --bench propagation` (SQLite; Postgres too when
//! `GATEHOUSE_TEST_POSTGRES_URL` is set). `GATEHOUSE_BENCH_SCALE` (a float, default 1.0) scales the world.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::clock::ManualClock;
use gatehouse_core::token::{mint, TokenEntropy};
use gatehouse_core::{
    Change, CollaboratorRole, Grant, RoleName, Subject, TokenKind, TokenOwner, User, VirtualAccount, World,
};
use gatehouse_server::state::{AppState, OsEntropy, ReloadKind, ServerConfig};
use gatehouse_store::testing;
use gatehouse_store::Store;
use time::OffsetDateTime;

#[path = "../../gatehouse-core/benches/support/world.rs"]
#[allow(dead_code)]
mod world;
use world::{build_world, email, pa, team_name, va_name, Rng, WorldSizes};

fn sizes() -> WorldSizes {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it, as a smoke on a
    // small world (the figures come from `cargo bench`).
    let default = if std::env::args().any(|a| a == "--bench") { 1.0 } else { 0.01 };
    WorldSizes::scaled(std::env::var("GATEHOUSE_BENCH_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(default))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
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
fn change(i: usize, sz: &WorldSizes, rng: &mut Rng) -> Change {
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
    let mut rng = Rng::new(0x5eed);
    // The other replica: a second connection committing as another process would.
    let writer = gatehouse_store::open(url).await.unwrap();
    let started = Instant::now();
    populate(writer.as_ref(), build_world(&sz, &mut rng, now()).world).await;
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
