#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Engine benchmark with a small custom harness (no criterion): a large tenant, then
//! 1. `Snapshot::from_world` build time,
//! 2. `check` latency over ~1,000,000 mixed requests (each call timed, plus a bulk loop for the mean),
//! 3. `authenticate` latency for valid tokens,
//! 4. "rebuild after one change": `snap.clone()` + `apply(change)` for several kinds of change,
//!    plus the same changes through `ops::execute` (authorization and planning included).
//!
//! Section 2 runs twice: on requests whose users, teams, accounts, models and grants are picked uniformly,
//! and on requests picking each of them Zipf-like (s = 1), as real traffic concentrates on few users and
//! models. Both also time `Snapshot::verdict`, the same decision with its reason borrowed rather than owned.
//!
//! Section 2c decides a share of the uniform requests with Cedar too (the translation of tests/cedar), on the
//! same world, and reports the two means and their ratio.
//!
//! Run: `cargo bench -p gatehouse-core --bench engine`. Sizes can be scaled with `GATEHOUSE_BENCH_SCALE`
//! (a float, default 1.0) for quick runs; `GATEHOUSE_BENCH_CHECK_ROUNDS=n` repeats the bulk `check` loop, so
//! that `perf record` on the bench binary sees mostly `check`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use gatehouse_core::ops::{execute, Op};
use gatehouse_core::snapshot::{Snapshot, World};
use gatehouse_core::{
    Action, Change, CollaboratorRole, Email, Grant, PermSet, Permission, Resource, ResourceKind, RoleName, Subject,
    TeamName,
};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

#[path = "support/world.rs"]
mod world;
use world::{build_world, email, pa, team_name, Rng, WorldSizes};

#[path = "../tests/cedar/translate.rs"]
#[allow(dead_code)]
mod cedar_translate;

/// Zipf-like ranks (s = 1) over `n` items, each rank mapped to a random item so the hot ones are spread over
/// the tables rather than being the first ids.
struct Zipf {
    cdf: Vec<f64>,
    items: Vec<u32>,
}

impl Zipf {
    fn new(n: usize, rng: &mut Rng) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / k as f64;
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        let mut items: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            items.swap(i, rng.below(i + 1));
        }
        Zipf { cdf, items }
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        self.items[self.cdf.partition_point(|c| *c < u).min(self.items.len() - 1)] as usize
    }
}

/// How requests pick users, teams, virtual accounts, models, provider accounts and grants: uniformly, or
/// Zipf-like, as real traffic concentrates on few users and models.
struct Picker {
    zipf: Option<[Zipf; 6]>,
}

impl Picker {
    fn uniform() -> Picker {
        Picker { zipf: None }
    }
    fn zipf(sizes: [usize; 6], rng: &mut Rng) -> Picker {
        Picker { zipf: Some(sizes.map(|n| Zipf::new(n, rng))) }
    }
    fn pick(&self, which: usize, n: usize, rng: &mut Rng) -> usize {
        match &self.zipf {
            Some(z) => z[which].sample(rng),
            None => rng.below(n),
        }
    }
}

const USERS: usize = 0;
const TEAMS: usize = 1;
const VAS: usize = 2;
const MODELS: usize = 3;
const PAS: usize = 4;
const GRANTS: usize = 5;

/// The tenant, and how many requests and repetitions are timed on it.
struct Sizes {
    world: WorldSizes,
    requests: usize,
    repetitions: usize,
}

impl std::ops::Deref for Sizes {
    type Target = WorldSizes;
    fn deref(&self) -> &WorldSizes {
        &self.world
    }
}

fn sizes() -> Sizes {
    let scale: f64 = std::env::var("GATEHOUSE_BENCH_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    Sizes { world: WorldSizes::scaled(scale), requests: ((1_000_000.0 * scale) as usize).max(10), repetitions: 400 }
}

struct Request {
    subject: Subject,
    action: Action,
    resource: Resource,
}

const MIX: [&str; 4] = ["model use", "va manage", "team read", "pa read"];

/// A mix of the four kinds of request the brief names, each a quarter.
fn requests(sz: &Sizes, world: &World, rng: &mut Rng, p: &Picker) -> Vec<(usize, Request)> {
    let subjects_users: Vec<Subject> = world.users.iter().map(|u| Subject::User(u.email.clone())).collect();
    let subjects_teams: Vec<Subject> = world.teams.iter().map(|t| Subject::Team(t.name.clone())).collect();
    let subjects_vas: Vec<Subject> =
        world.virtual_accounts.iter().map(|v| Subject::VirtualAccount(v.name.clone())).collect();
    let models: Vec<Resource> = (0..sz.provider_accounts)
        .flat_map(|i| ["gpt-4o", "claude"].map(|m| Resource::new(ResourceKind::Model, &format!("pa-{i}/{m}"))))
        .collect();
    let pas: Vec<Resource> = (0..sz.provider_accounts).map(pa).collect();
    let vas: Vec<Resource> = world.virtual_accounts.iter().map(|v| Resource::virtual_account(&v.name)).collect();
    let teams: Vec<Resource> = world.teams.iter().map(|t| Resource::team(&t.name)).collect();
    // Grants, to aim a share of the requests at subjects that do hold something.
    let grants = &world.grants;
    let first_manager: std::collections::HashMap<&TeamName, &Email> =
        world.teams.iter().filter_map(|t| t.managers.iter().next().map(|m| (&t.name, m))).collect();
    (0..sz.requests)
        .map(|_| {
            let kind = rng.below(4);
            let any_subject = |rng: &mut Rng| match rng.below(10) {
                0..=6 => subjects_users[p.pick(USERS, subjects_users.len(), rng)].clone(),
                7..=8 => subjects_vas[p.pick(VAS, subjects_vas.len(), rng)].clone(),
                _ => subjects_teams[p.pick(TEAMS, subjects_teams.len(), rng)].clone(),
            };
            let req = match kind {
                0 => {
                    // Half aimed at a model of an account the subject holds a grant on.
                    if rng.chance(50) {
                        let g = &grants[p.pick(GRANTS, grants.len(), rng)];
                        let m = format!("{}/gpt-4o", g.resource.name);
                        Request {
                            subject: g.subject.clone(),
                            action: Action::Use,
                            resource: Resource::new(ResourceKind::Model, &m),
                        }
                    } else {
                        Request {
                            subject: any_subject(rng),
                            action: Action::Use,
                            resource: models[p.pick(MODELS, models.len(), rng)].clone(),
                        }
                    }
                }
                1 => {
                    // Team managers asking about accounts of teams they manage, and everybody else.
                    let i = p.pick(VAS, world.virtual_accounts.len(), rng);
                    let subject = match first_manager.get(&world.virtual_accounts[i].owner_team) {
                        Some(m) if rng.chance(50) => Subject::User((*m).clone()),
                        _ => subjects_users[p.pick(USERS, subjects_users.len(), rng)].clone(),
                    };
                    Request {
                        subject,
                        action: Action::Perm(Permission::VirtualAccountManage),
                        resource: vas[i].clone(),
                    }
                }
                2 => Request {
                    subject: any_subject(rng),
                    action: Action::Perm(Permission::TeamRead),
                    resource: teams[p.pick(TEAMS, teams.len(), rng)].clone(),
                },
                _ => {
                    if rng.chance(50) {
                        let g = &grants[p.pick(GRANTS, grants.len(), rng)];
                        Request {
                            subject: g.subject.clone(),
                            action: Action::Perm(Permission::ProviderAccountRead),
                            resource: g.resource.clone(),
                        }
                    } else {
                        Request {
                            subject: any_subject(rng),
                            action: Action::Perm(Permission::ProviderAccountRead),
                            resource: pas[p.pick(PAS, pas.len(), rng)].clone(),
                        }
                    }
                }
            };
            (kind, req)
        })
        .collect()
}

struct Stats {
    n: usize,
    mean: f64,
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

fn stats(mut xs: Vec<u64>) -> Stats {
    xs.sort_unstable();
    let n = xs.len();
    let at = |q: f64| xs[((n as f64 * q) as usize).min(n - 1)];
    Stats {
        n,
        mean: xs.iter().sum::<u64>() as f64 / n as f64,
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: xs[n - 1],
    }
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// The cost of reading the clock twice, which every individually timed call includes.
fn timer_overhead() -> Stats {
    let mut xs = Vec::with_capacity(200_000);
    for _ in 0..200_000 {
        let t = Instant::now();
        xs.push(ns(black_box(t).elapsed()));
    }
    stats(xs)
}

fn row(name: &str, s: &Stats, unit: &str, div: f64) {
    println!(
        "{name:<48} {:>9} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1}  {unit}",
        s.n,
        s.mean / div,
        s.p50 as f64 / div,
        s.p99 as f64 / div,
        s.p999 as f64 / div,
        s.max as f64 / div
    );
}

fn header(unit: &str) {
    println!(
        "{:<48} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}  ({unit})",
        "", "n", "mean", "p50", "p99", "p99.9", "max"
    );
}

type MakeOp<'a> = Box<dyn Fn(usize, &mut Rng) -> Op + 'a>;

/// `check` over a request set: each call timed (overall and per kind of request), then a bulk loop for the mean.
fn check_table(snap: &Snapshot, reqs: &[(usize, Request)], overhead: &Stats) {
    // Warm up (and count allowed), then the bulk loop for the mean without per-call timing.
    let mut allowed = [0usize; 4];
    let mut count = [0usize; 4];
    for (k, r) in reqs {
        count[*k] += 1;
        if snap.check(&r.subject, r.action, &r.resource, NOW).is_allowed() {
            allowed[*k] += 1;
        }
    }
    // `GATEHOUSE_BENCH_CHECK_ROUNDS` repeats the bulk loop (for profiling with perf); the mean is per call.
    let rounds: usize = std::env::var("GATEHOUSE_BENCH_CHECK_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let t = Instant::now();
    for _ in 0..rounds {
        for (_, r) in reqs {
            black_box(snap.check(black_box(&r.subject), r.action, black_box(&r.resource), NOW));
        }
    }
    let bulk = t.elapsed() / rounds as u32;
    let mut per_call = Vec::with_capacity(reqs.len());
    let mut per_kind: [Vec<u64>; 4] = Default::default();
    for (k, r) in reqs {
        let t = Instant::now();
        let d = snap.check(black_box(&r.subject), r.action, black_box(&r.resource), NOW);
        let e = ns(t.elapsed());
        black_box(d);
        per_call.push(e);
        per_kind[*k].push(e);
    }
    // The same decisions with the reason borrowed from the snapshot: no reference count is touched.
    let t = Instant::now();
    for (_, r) in reqs {
        black_box(snap.verdict(black_box(&r.subject), r.action, black_box(&r.resource), NOW).is_allowed());
    }
    let verdict_bulk = t.elapsed();
    let mut verdict_each = Vec::with_capacity(reqs.len());
    for (_, r) in reqs {
        let t = Instant::now();
        let d = snap.verdict(black_box(&r.subject), r.action, black_box(&r.resource), NOW);
        let e = ns(t.elapsed());
        black_box(d);
        verdict_each.push(e);
    }
    header("ns");
    row("timer overhead (Instant::now + elapsed)", overhead, "", 1.0);
    row("check, each call timed (incl. overhead)", &stats(per_call), "", 1.0);
    for (k, xs) in per_kind.into_iter().enumerate() {
        let frac = allowed[k] as f64 / count[k].max(1) as f64 * 100.0;
        row(&format!("  {} ({frac:.0}% allowed)", MIX[k]), &stats(xs), "", 1.0);
    }
    row("verdict (reason borrowed), each call timed", &stats(verdict_each), "", 1.0);
    println!(
        "check, bulk loop mean: {:.1} ns/call ({} calls in {bulk:.2?}); allowed overall {:.1}%; verdict, bulk loop mean: {:.1} ns/call",
        ns(bulk) as f64 / reqs.len() as f64,
        reqs.len(),
        allowed.iter().sum::<usize>() as f64 / reqs.len() as f64 * 100.0,
        ns(verdict_bulk) as f64 / reqs.len() as f64
    );
}

/// Cedar's authorizer on the same world and the same (uniform) requests: the first
/// `GATEHOUSE_BENCH_CEDAR_REQUESTS` of them (default 200,000; each Cedar request is built beforehand, as each of
/// ours is). Both bulk loops take the owned answer (`check`'s decision, Cedar's response), and the decisions
/// are compared on the way.
fn cedar_table(world: &World, snap: &Snapshot, reqs: &[(usize, Request)]) {
    use cedar_translate::{request, CedarWorld};
    let n: usize = std::env::var("GATEHOUSE_BENCH_CEDAR_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let reqs = &reqs[..n.min(reqs.len())];
    let t = Instant::now();
    let rss_before = rss_kib();
    let cedar = CedarWorld::new(world);
    let build = t.elapsed();
    let rss_after = rss_kib();
    let cedar_reqs: Vec<cedar_policy::Request> =
        reqs.iter().map(|(_, r)| request(&r.subject, r.action, &r.resource, NOW)).collect();
    let mut disagreements = 0usize;
    let mut allowed = 0usize;
    for ((_, r), c) in reqs.iter().zip(&cedar_reqs) {
        let ours = snap.check(&r.subject, r.action, &r.resource, NOW).is_allowed();
        let theirs = cedar.decide(c).decision() == cedar_policy::Decision::Allow;
        disagreements += usize::from(ours != theirs);
        allowed += usize::from(ours);
    }
    let mut ours_kind = [Duration::ZERO; 4];
    let mut cedar_kind = [Duration::ZERO; 4];
    let mut count = [0usize; 4];
    let t = Instant::now();
    for (_, r) in reqs {
        black_box(snap.check(black_box(&r.subject), r.action, black_box(&r.resource), NOW));
    }
    let ours = t.elapsed();
    let t = Instant::now();
    for c in &cedar_reqs {
        black_box(cedar.decide(black_box(c)));
    }
    let theirs = t.elapsed();
    // Per kind of request, each side timed in runs of one kind at a time.
    for k in 0..4 {
        let idx: Vec<usize> = (0..reqs.len()).filter(|i| reqs[*i].0 == k).collect();
        count[k] = idx.len();
        let t = Instant::now();
        for i in &idx {
            let r = &reqs[*i].1;
            black_box(snap.check(black_box(&r.subject), r.action, black_box(&r.resource), NOW));
        }
        ours_kind[k] = t.elapsed();
        let t = Instant::now();
        for i in &idx {
            black_box(cedar.decide(black_box(&cedar_reqs[*i])));
        }
        cedar_kind[k] = t.elapsed();
    }
    let per = |d: Duration, n: usize| ns(d) as f64 / n.max(1) as f64;
    println!(
        "\n2c. Cedar (cedar-policy 4, tests/cedar/translate.rs) on the same world, the first {} uniform requests",
        reqs.len()
    );
    println!(
        "   Cedar entities built in {build:.2?} (+{:.1} MiB resident); {allowed} allowed; {disagreements} disagreements",
        (rss_after as f64 - rss_before as f64) / 1024.0
    );
    println!("{:<48} {:>12} {:>12} {:>10}", "", "ours ns", "cedar ns", "cedar/ours");
    let line = |name: &str, o: f64, c: f64| println!("{name:<48} {o:>12.1} {c:>12.1} {:>10.1}", c / o);
    line("all requests, bulk loop mean", per(ours, reqs.len()), per(theirs, reqs.len()));
    for k in 0..4 {
        line(&format!("  {}", MIX[k]), per(ours_kind[k], count[k]), per(cedar_kind[k], count[k]));
    }
}

/// Resident memory of this process, from `/proc/self/status` (Linux only; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let sz = sizes();
    let mut rng = Rng::new(0x5EED_2026);

    let t = Instant::now();
    let built = build_world(&sz, &mut rng, NOW);
    let gen_time = t.elapsed();
    let world = built.world;
    println!(
        "world: {} users, {} teams ({} memberships, {} managers), {} virtual accounts, {} grants on {} provider accounts, {} tokens, {} roles (generated in {:.2?})",
        world.users.len(),
        world.teams.len(),
        world.teams.iter().map(|t| t.members.len()).sum::<usize>(),
        world.teams.iter().map(|t| t.managers.len()).sum::<usize>(),
        world.virtual_accounts.len(),
        world.grants.len(),
        sz.provider_accounts,
        world.tokens.len(),
        world.roles.len(),
        gen_time
    );

    // 1. Build. The snapshot shares the world's names (`Arc<str>`); the growth in resident memory from before
    // the input copy to after the build is what the snapshot holds on top of them.
    let rss_before = rss_kib();
    let input = world.clone();
    let t = Instant::now();
    let snap = Snapshot::from_world(input);
    let build = t.elapsed();
    let rss_after = rss_kib();
    println!("\n1. Snapshot::from_world: {build:.2?}");
    println!(
        "   resident memory: +{:.1} MiB for the snapshot ({:.1} MiB before the build, {:.1} MiB after)",
        (rss_after as f64 - rss_before as f64) / 1024.0,
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );

    // 2. check, on uniformly picked requests and on skewed ones (their own generator, so the uniform set and
    // every later section stay as they were).
    let reqs = requests(&sz, &world, &mut rng, &Picker::uniform());
    let overhead = timer_overhead();
    println!("\n2. check ({} requests, users, teams, accounts, models and grants picked uniformly)", reqs.len());
    check_table(&snap, &reqs, &overhead);
    let mut skew_rng = Rng::new(0x5EED_21FF);
    let skew_sizes = [
        world.users.len(),
        world.teams.len(),
        world.virtual_accounts.len(),
        2 * sz.provider_accounts,
        sz.provider_accounts,
        world.grants.len(),
    ];
    let picker = Picker::zipf(skew_sizes, &mut skew_rng);
    let skewed = requests(&sz, &world, &mut skew_rng, &picker);
    drop(picker);
    println!("\n2b. check ({} requests, each of those picked Zipf-like, s = 1)", skewed.len());
    check_table(&snap, &skewed, &overhead);
    drop(skewed);

    cedar_table(&world, &snap, &reqs);

    // Where the time goes: the uniform requests with a hot working set, and a bare user lookup in the
    // snapshot against a std HashMap holding the same keys.
    let hot = &reqs[..1000.min(reqs.len())];
    let t = Instant::now();
    for _ in 0..1000 {
        for (_, r) in hot {
            black_box(snap.check(black_box(&r.subject), r.action, black_box(&r.resource), NOW));
        }
    }
    let hot_mean = ns(t.elapsed()) as f64 / (hot.len() * 1000) as f64;
    let mut hot_each = Vec::with_capacity(hot.len() * 100);
    for _ in 0..100 {
        for (_, r) in hot {
            let t = Instant::now();
            black_box(snap.check(black_box(&r.subject), r.action, black_box(&r.resource), NOW));
            hot_each.push(ns(t.elapsed()));
        }
    }
    let emails: Vec<Email> = (0..reqs.len()).map(|_| email(rng.below(sz.users))).collect();
    let t = Instant::now();
    for e in &emails {
        black_box(snap.user(black_box(e.as_str())));
    }
    let snap_user = ns(t.elapsed()) as f64 / emails.len() as f64;
    let std_users: std::collections::HashMap<Email, usize, foldhash::fast::RandomState> =
        world.users.iter().enumerate().map(|(i, u)| (u.email.clone(), i)).collect();
    let t = Instant::now();
    for e in &emails {
        black_box(std_users.get(black_box(e.as_str())));
    }
    let std_user = ns(t.elapsed()) as f64 / emails.len() as f64;
    println!();
    header("ns");
    row("check, hot working set (1,000 requests), each timed", &stats(hot_each), "", 1.0);
    println!(
        "diagnostics: check mean with a hot working set (1,000 requests x 1,000): {hot_mean:.1} ns; \
         random user lookup among {} users: Snapshot::user {snap_user:.1} ns, std HashMap {std_user:.1} ns",
        sz.users
    );

    // 3. authenticate.
    let mut auth = Vec::with_capacity(built.secrets.len() * 3);
    let mut ok = 0usize;
    for _round in 0..3 {
        for s in &built.secrets {
            let t = Instant::now();
            let r = snap.authenticate(black_box(s), NOW);
            auth.push(ns(t.elapsed()));
            ok += usize::from(r.is_ok());
            black_box(r).ok();
        }
    }
    let t = Instant::now();
    for s in &built.secrets {
        black_box(snap.authenticate(black_box(s), NOW)).ok();
    }
    let auth_bulk = t.elapsed();
    println!("\n3. authenticate ({} valid tokens x 3 rounds; {} accepted)", built.secrets.len(), ok);
    header("ns");
    row("authenticate, each call timed", &stats(auth), "", 1.0);
    println!("authenticate, bulk loop mean: {:.1} ns/call", ns(auth_bulk) as f64 / built.secrets.len() as f64);

    // 4. Rebuild after one change: clone + apply.
    println!("\n4. clone + apply(one change), {} repetitions each", sz.repetitions);
    header("µs");
    let member_role = snap.role("member").map(|r| (**r).clone()).unwrap();
    let change_for = |kind: usize, i: usize, rng: &mut Rng| -> Change {
        match kind {
            0 => {
                let e = email(1 + rng.below(sz.users - 1));
                let mut u = snap.user(e.as_str()).unwrap().user.clone();
                u.role = RoleName::new(if u.role.as_str() == "member" { "pa-reader" } else { "member" }).unwrap();
                Change::PutUser(u)
            }
            1 => {
                let mut t = (**snap.team(team_name(rng.below(sz.teams)).as_str()).unwrap()).clone();
                t.members.insert(email(rng.below(sz.users)));
                Change::PutTeam(t)
            }
            2 => Change::PutGrant(Grant {
                resource: pa(rng.below(sz.provider_accounts)),
                subject: Subject::User(email(rng.below(sz.users))),
                role: CollaboratorRole::ProviderAccountUser,
            }),
            _ => {
                let mut r = member_role.clone();
                r.permissions = if i.is_multiple_of(2) {
                    r.permissions.union([Permission::GatewayControlsList].into_iter().collect::<PermSet>())
                } else {
                    r.permissions
                };
                Change::PutRole(r)
            }
        }
    };
    let change_names = ["PutUser (role change)", "PutTeam (add a member)", "PutGrant", "PutRole (edit member)"];
    for (kind, name) in change_names.iter().enumerate() {
        let changes: Vec<Change> = (0..sz.repetitions).map(|i| change_for(kind, i, &mut rng)).collect();
        let mut xs = Vec::with_capacity(changes.len());
        for c in &changes {
            let t = Instant::now();
            let mut next = snap.clone();
            next.apply(c);
            let e = ns(t.elapsed());
            xs.push(e);
            drop(black_box(next));
        }
        row(name, &stats(xs), "", 1000.0);
    }

    // The same through `execute`: authorization, planning and application, as the server does it.
    println!("\n   through ops::execute (as an admin; authorization + plan + apply)");
    header("µs");
    let admin = Subject::User(email(0));
    let ops: [(&str, MakeOp<'_>); 6] = [
        (
            "PutUser (role change)",
            Box::new(|_, rng: &mut Rng| match change_for(0, 0, rng) {
                Change::PutUser(u) => Op::PutUser(u),
                _ => unreachable!(),
            }),
        ),
        (
            "PutTeam (add a member)",
            Box::new(|_, rng: &mut Rng| match change_for(1, 0, rng) {
                Change::PutTeam(t) => Op::PutTeam(t),
                _ => unreachable!(),
            }),
        ),
        (
            "PutGrant",
            Box::new(|_, rng: &mut Rng| match change_for(2, 0, rng) {
                Change::PutGrant(g) => Op::PutGrant(g),
                _ => unreachable!(),
            }),
        ),
        (
            "PutRole (edit member)",
            Box::new(|i, rng: &mut Rng| match change_for(3, i, rng) {
                Change::PutRole(r) => Op::PutRole(r),
                _ => unreachable!(),
            }),
        ),
        (
            "DeleteUser (cascade over teams)",
            Box::new(|_, rng: &mut Rng| Op::DeleteUser(email(1 + rng.below(sz.users - 1)))),
        ),
        ("DeleteRole (counts holders; refused)", Box::new(|_, _| Op::DeleteRole(RoleName::new("pa-reader").unwrap()))),
    ];
    for (name, make) in &ops {
        let mut xs = Vec::with_capacity(sz.repetitions);
        let mut refused = 0;
        for i in 0..sz.repetitions {
            let op = make(i, &mut rng);
            let t = Instant::now();
            let r = execute(&snap, &admin, vec![op], NOW);
            xs.push(ns(t.elapsed()));
            refused += usize::from(r.is_err());
            drop(black_box(r));
        }
        let label = if refused > 0 { format!("{name} [{refused} refused]") } else { (*name).to_owned() };
        row(&label, &stats(xs), "", 1000.0);
    }
}
