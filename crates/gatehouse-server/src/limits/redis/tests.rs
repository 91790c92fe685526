//! The Redis counters against a real Redis (`GATEHOUSE_TEST_REDIS_URL`): the same behaviours as the
//! in-process counters, checked on both, plus what only a shared store has to show (replicas, rebuilds,
//! outages). Every test works under a prefix of its own and deletes only its own keys.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use time::OffsetDateTime;

use super::*;
use crate::limits::{MemoryCounters, RebuildFuture};

const MINUTE: Period = Period::Sliding(60);

fn redis_url() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            println!("skipped: GATEHOUSE_TEST_REDIS_URL is not set");
            None
        }
    }
}

fn unique_prefix(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!("gatehouse:test:{test}:{}:{nanos}:{}:", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Deletes the keys under one test's prefix when dropped, a failing test's included.
struct Wipe {
    url: String,
    prefix: String,
}

impl Drop for Wipe {
    fn drop(&mut self) {
        wipe(&self.url, &self.prefix);
    }
}

fn wipe(url: &str, prefix: &str) {
    let Ok(client) = Client::open(url) else { return };
    let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else { return };
    let mut cursor = 0u64;
    loop {
        let Ok((next, keys)): ::redis::RedisResult<(u64, Vec<String>)> = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut con)
        else {
            return;
        };
        if !keys.is_empty() {
            let _: ::redis::RedisResult<i64> = ::redis::cmd("DEL").arg(&keys).query(&mut con);
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

fn sync_query<T: ::redis::FromRedisValue>(url: &str, cmd: &mut ::redis::Cmd) -> T {
    let client = Client::open(url).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(2)).unwrap();
    cmd.query(&mut con).unwrap()
}

async fn setup(test: &str) -> Option<(RedisCounters, Wipe)> {
    let url = redis_url()?;
    let prefix = unique_prefix(test);
    let c = RedisCounters::connect(&url, prefix.clone()).await.unwrap();
    Some((c, Wipe { url, prefix }))
}

/// Tomorrow, 10:00 UTC. Keys expire at the times the tests make up, so those must lie ahead of Redis's
/// own clock.
fn base() -> OffsetDateTime {
    let today = OffsetDateTime::now_utc().date();
    today.next_day().unwrap().with_hms(10, 0, 0).unwrap().assume_utc()
}

fn ask(counter: &str, limit: u64, amount: u64) -> Ask<'_> {
    Ask { counter, period: MINUTE, limit, amount, decides: true }
}

fn secs(s: i64) -> time::Duration {
    time::Duration::seconds(s)
}

// The scenarios below run on both backends: the in-process one is the reference.

async fn all_or_nothing(c: &dyn Counters, now: OffsetDateTime) {
    assert!(matches!(c.admit(now, &[ask("a", 2, 1), ask("b", 1, 1)]).await.unwrap(), Verdict::Admitted(_)));
    // `b` is full: `a` must not be charged either.
    let v = c.admit(now, &[ask("a", 2, 1), ask("b", 1, 1)]).await.unwrap();
    assert!(matches!(v, Verdict::Refused { index: 1, .. }), "{v:?}");
    assert_eq!(c.peek(now, &[("a", MINUTE), ("b", MINUTE)]).await.unwrap(), vec![1, 1]);
    // A counter that does not decide is charged past its limit.
    let v = c.admit(now, &[Ask { decides: false, ..ask("b", 1, 1) }]).await.unwrap();
    assert_eq!(v, Verdict::Admitted(vec![Held { slot: now.unix_timestamp() / 5, used: 2 }]));
    assert_eq!(c.peek(now, &[("never", MINUTE)]).await.unwrap(), vec![0]);
}

async fn asks_on_one_counter(c: &dyn Counters, now: OffsetDateTime) {
    let v = c.admit(now, &[ask("a", 3, 2), ask("a", 3, 2)]).await.unwrap();
    assert!(matches!(v, Verdict::Refused { index: 0, full: Full { used: 0, retry_after: None } }), "{v:?}");
    let v = c.admit(now, &[ask("a", 4, 2), ask("a", 4, 2)]).await.unwrap();
    let slot = MINUTE.slot(now);
    assert_eq!(v, Verdict::Admitted(vec![Held { slot, used: 2 }, Held { slot, used: 4 }]));
}

async fn retry_after(c: &dyn Counters, now: OffsetDateTime) {
    let slot = MINUTE.slot(now);
    assert_eq!(slot * 5, now.unix_timestamp());
    c.admit(now, &[ask("w", 3, 2)]).await.unwrap();
    c.admit(now + secs(5), &[ask("w", 3, 1)]).await.unwrap();
    let later = now + secs(10);
    let Verdict::Refused { index: 0, full } = c.admit(later, &[ask("w", 3, 1)]).await.unwrap() else { panic!() };
    // The two of `slot` leave at (slot + 13) * 5.
    assert_eq!(full, Full { used: 3, retry_after: Some((slot + 13) * 5 - later.unix_timestamp()) });
    // Freeing two needs the first slot only; freeing three needs the second too.
    let Verdict::Refused { full, .. } = c.admit(later, &[ask("w", 4, 3)]).await.unwrap() else { panic!() };
    assert_eq!(full.retry_after, Some((slot + 13) * 5 - later.unix_timestamp()));
    let Verdict::Refused { full, .. } = c.admit(later, &[ask("w", 3, 3)]).await.unwrap() else { panic!() };
    assert_eq!(full.retry_after, Some((slot + 14) * 5 - later.unix_timestamp()));
    let Verdict::Refused { full, .. } = c.admit(later, &[ask("w", 3, 4)]).await.unwrap() else { panic!() };
    assert_eq!(full.retry_after, None);
    assert!(matches!(c.admit(now + secs(65), &[ask("w", 3, 2)]).await.unwrap(), Verdict::Admitted(_)));
    // A calendar period frees everything at its end.
    let day = Ask { counter: "d", period: Period::Day, limit: 10, amount: 8, decides: true };
    c.admit(now, &[day]).await.unwrap();
    let Verdict::Refused { full, .. } = c.admit(now, &[day]).await.unwrap() else { panic!() };
    let end_of_day = Period::Day.expires(Period::Day.slot(now));
    assert_eq!(full, Full { used: 8, retry_after: Some(end_of_day - now.unix_timestamp()) });
}

async fn settling(c: &dyn Counters, now: OffsetDateTime) {
    let day = Period::Day;
    let Verdict::Admitted(held) =
        c.admit(now, &[Ask { counter: "s", period: day, limit: 1000, amount: 500, decides: true }]).await.unwrap()
    else {
        panic!()
    };
    let slot = held[0].slot;
    let fix = |delta| Correction { counter: "s", period: day, slot, delta };
    assert_eq!(c.settle(now, &[fix(-200)]).await.unwrap(), vec![300]);
    assert_eq!(c.settle(now, &[fix(50), fix(-10)]).await.unwrap(), vec![350, 340]);
    assert_eq!(c.settle(now, &[fix(-1000)]).await.unwrap(), vec![0]);
    assert_eq!(c.settle(now, &[fix(100)]).await.unwrap(), vec![100]);
    // The next day starts from nothing, and a late correction of yesterday does not leak into it.
    let tomorrow = now + time::Duration::days(1);
    assert_eq!(c.settle(tomorrow, &[fix(10)]).await.unwrap(), vec![0]);
    assert_eq!(c.peek(tomorrow, &[("s", day)]).await.unwrap(), vec![0]);
    // A window slot that still counts takes a correction even if nothing was counted in it.
    let w = MINUTE.slot(now);
    let fix = Correction { counter: "m", period: MINUTE, slot: w, delta: 7 };
    assert_eq!(c.settle(now + secs(30), &[fix]).await.unwrap(), vec![7]);
    assert_eq!(c.settle(now + secs(65), &[fix]).await.unwrap(), vec![0]);
}

#[tokio::test]
async fn behaves_as_the_in_process_counters() {
    let Some((redis, _wipe)) = setup("same").await else { return };
    for (name, c) in [("memory", &MemoryCounters::new() as &dyn Counters), ("redis", &redis as &dyn Counters)] {
        println!("{name}");
        let now = base();
        all_or_nothing(c, now).await;
        asks_on_one_counter(c, now + secs(1000)).await;
        retry_after(c, now + secs(2000)).await;
        settling(c, now + secs(3000)).await;
    }
    assert_eq!(redis.backend(), "redis");
}

#[tokio::test]
async fn old_slots_are_dropped_and_keys_expire_with_their_newest_slot() {
    let Some((c, wipe)) = setup("expiry").await else { return };
    let now = base();
    c.admit(now, &[ask("a", 10, 1)]).await.unwrap();
    c.admit(now + secs(70), &[ask("a", 10, 1)]).await.unwrap();
    let key = format!("{}a", wipe.prefix);
    let fields: Vec<String> = sync_query(&wipe.url, ::redis::cmd("HKEYS").arg(&key));
    assert_eq!(fields, vec![MINUTE.slot(now + secs(70)).to_string()]);
    let expires_ms: i64 = sync_query(&wipe.url, ::redis::cmd("PEXPIRETIME").arg(&key));
    assert_eq!(expires_ms, MINUTE.expires(MINUTE.slot(now + secs(70))) * 1000);
    let month = Ask { counter: "m", period: Period::Month, limit: 10, amount: 1, decides: true };
    c.admit(now, &[month]).await.unwrap();
    let expires_ms: i64 = sync_query(&wipe.url, ::redis::cmd("PEXPIRETIME").arg(format!("{}m", wipe.prefix)));
    assert_eq!(expires_ms, Period::Month.end(Period::Month.start(now)).unix_timestamp() * 1000);
    // An admission by a replica whose clock is behind never shortens a key's life.
    c.admit(now + secs(30), &[ask("a", 10, 1)]).await.unwrap();
    let again: i64 = sync_query(&wipe.url, ::redis::cmd("PEXPIRETIME").arg(&key));
    assert_eq!(again, MINUTE.expires(MINUTE.slot(now + secs(70))) * 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_admit_exactly_the_limit_from_200_concurrent_requests() {
    let Some((one, wipe)) = setup("replicas").await else { return };
    let two = RedisCounters::connect(&wipe.url, wipe.prefix.clone()).await.unwrap();
    let replicas = [Arc::new(one), Arc::new(two)];
    let now = base();
    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let c = replicas[i % 2].clone();
            tokio::spawn(async move {
                let asks = [ask("shared", 37, 1), Ask { decides: false, ..ask("other", 5, 1) }];
                c.admit(now, &asks).await
            })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Verdict::Admitted(_) => admitted += 1,
            Verdict::Refused { index, full } => assert_eq!((index, full.used), (0, 37)),
        }
    }
    println!("200 concurrent admissions over two replicas: {:?}", started.elapsed());
    assert_eq!(admitted, 37);
    for c in &replicas {
        // The non-deciding counter was charged by every admitted request, past its own limit.
        assert_eq!(c.peek(now, &[("shared", MINUTE), ("other", MINUTE)]).await.unwrap(), vec![37, 37]);
    }
}

/// What a rebuild source was asked: `(counter, period_start)`.
type Asked = Arc<Mutex<Vec<(String, i64)>>>;

/// A rebuild source that answers `amount` and records what it was asked.
fn rebuild_source(amount: u64, delay: Duration) -> (Rebuild, Asked) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let rebuild: Rebuild = Arc::new(move |counter: &str, start: i64| {
        seen.lock().unwrap().push((counter.to_owned(), start));
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Ok(amount)
        })
    });
    (rebuild, calls)
}

#[tokio::test]
async fn a_wiped_budget_comes_back_from_the_store_and_a_live_one_is_left_alone() {
    let Some((c, guard)) = setup("rebuild").await else { return };
    let (rebuild, calls) = rebuild_source(700, Duration::ZERO);
    c.set_rebuild(rebuild);
    let now = base();
    let start = Period::Month.start(now).unix_timestamp();
    let budget = Ask { counter: "budget", period: Period::Month, limit: 1000, amount: 100, decides: true };
    let used = |v: Verdict| match v {
        Verdict::Admitted(h) => h[0].used,
        Verdict::Refused { .. } => panic!("{v:?}"),
    };
    assert_eq!(used(c.admit(now, &[budget]).await.unwrap()), 800);
    assert_eq!(*calls.lock().unwrap(), vec![("budget".to_owned(), start)]);
    // Live: charged on, never rebuilt (a rebuild would bring back 700 and lose the second 100).
    assert_eq!(used(c.admit(now, &[budget]).await.unwrap()), 900);
    assert_eq!(
        c.settle(now, &[Correction { counter: "budget", period: Period::Month, slot: start, delta: -50 }])
            .await
            .unwrap(),
        vec![850]
    );
    // Rate limits are never rebuilt: a missing window is empty.
    assert_eq!(used(c.admit(now, &[ask("rate", 5, 1)]).await.unwrap()), 1);
    assert_eq!(calls.lock().unwrap().len(), 1);

    // Redis loses everything.
    wipe(&guard.url, &guard.prefix);
    // A correction does not bring the budget back with just itself: it stays missing for the store to refill.
    let fix = Correction { counter: "budget", period: Period::Month, slot: start, delta: 30 };
    assert_eq!(c.settle(now, &[fix]).await.unwrap(), vec![0]);
    assert_eq!(c.peek(now, &[("budget", Period::Month)]).await.unwrap(), vec![0]);
    let refused = c.admit(now, &[Ask { amount: 301, ..budget }]).await.unwrap();
    assert_eq!(
        refused,
        Verdict::Refused {
            index: 0,
            full: Full { used: 700, retry_after: Some(Period::Month.expires(start) - now.unix_timestamp()) }
        }
    );
    assert_eq!(calls.lock().unwrap().len(), 2);
    assert_eq!(used(c.admit(now, &[budget]).await.unwrap()), 800);
    assert_eq!(calls.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_rebuilding_at_once_agree_on_one_seed() {
    let Some((one, wipe)) = setup("rebuild-race").await else { return };
    let two = RedisCounters::connect(&wipe.url, wipe.prefix.clone()).await.unwrap();
    // A slow store widens the race: many requests find the counter missing before any seeds it.
    let (rebuild, calls) = rebuild_source(700, Duration::from_millis(30));
    one.set_rebuild(rebuild.clone());
    two.set_rebuild(rebuild);
    let replicas = [Arc::new(one), Arc::new(two)];
    let now = base();
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let c = replicas[i % 2].clone();
            tokio::spawn(async move {
                let budget = Ask { counter: "budget", period: Period::Week, limit: 1000, amount: 1, decides: true };
                c.admit(now, &[budget]).await
            })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        if matches!(t.await.unwrap().unwrap(), Verdict::Admitted(_)) {
            admitted += 1;
        }
    }
    println!("rebuild calls during the race: {}", calls.lock().unwrap().len());
    assert!(calls.lock().unwrap().len() > 1, "the race did not happen");
    assert_eq!(admitted, 300);
    assert_eq!(replicas[0].peek(now, &[("budget", Period::Week)]).await.unwrap(), vec![1000]);
}

#[tokio::test]
async fn a_failing_rebuild_is_unavailable_not_a_reset_budget() {
    let Some((c, _wipe)) = setup("rebuild-fails").await else { return };
    c.set_rebuild(Arc::new(|_: &str, _: i64| -> RebuildFuture { Box::pin(async { Err("store down".to_owned()) }) }));
    let budget = Ask { counter: "budget", period: Period::Day, limit: 1000, amount: 1, decides: true };
    let err = c.admit(base(), &[budget]).await.unwrap_err();
    assert!(err.0.contains("store down"), "{err}");
    assert_eq!(c.peek(base(), &[("budget", Period::Day)]).await.unwrap(), vec![0]);
}

async fn assert_unavailable_quickly(c: &RedisCounters) {
    let now = base();
    let started = Instant::now();
    assert!(c.admit(now, &[ask("a", 5, 1)]).await.is_err());
    assert!(c.settle(now, &[Correction { counter: "a", period: MINUTE, slot: 1, delta: 1 }]).await.is_err());
    assert!(c.peek(now, &[("a", MINUTE)]).await.is_err());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "three operations took {took:?}");
    let started = Instant::now();
    assert!(c.admit(now, &[ask("a", 5, 1)]).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_unreachable_redis_is_unavailable_within_a_second() {
    let started = Instant::now();
    let err = RedisCounters::connect("redis://127.0.0.1:1", "x:".into()).await.err().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    println!("{err}");
    let c = RedisCounters::connect_lazy("redis://127.0.0.1:1", "x:".into()).await.unwrap();
    assert_unavailable_quickly(&c).await;
    // Something listening that never answers (a stuck Redis) is no better.
    let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", stuck.local_addr().unwrap());
    let started = Instant::now();
    assert!(RedisCounters::connect(&url, "x:".into()).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    let c = RedisCounters::connect_lazy(&url, "x:".into()).await.unwrap();
    assert_unavailable_quickly(&c).await;
    assert!(RedisCounters::connect_lazy("not a url", "x:".into()).await.is_err());
}

/// A redis-server of the test's own, killed when dropped.
struct OwnRedis {
    child: Child,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed where GATEHOUSE_TEST_REDIS_URL is set");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { child }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn counting_resumes_by_itself_when_redis_comes_back() {
    if redis_url().is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = OwnRedis::start(port);
    let c =
        RedisCounters::connect(&format!("redis://127.0.0.1:{port}"), "gatehouse:test:restart:".into()).await.unwrap();
    let now = base();
    assert!(matches!(c.admit(now, &[ask("a", 5, 1)]).await.unwrap(), Verdict::Admitted(_)));
    drop(server);
    assert_unavailable_quickly(&c).await;

    let _server = OwnRedis::start(port);
    let back = Instant::now();
    let verdict = loop {
        match c.admit(now, &[ask("a", 5, 1)]).await {
            Ok(v) => break v,
            Err(e) => {
                assert!(back.elapsed() < Duration::from_secs(10), "still unavailable after Redis came back: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    println!("counting resumed {:?} after Redis came back", back.elapsed());
    // A Redis that kept nothing: the script is loaded again, the count starts over.
    assert_eq!(verdict, Verdict::Admitted(vec![Held { slot: MINUTE.slot(now), used: 1 }]));
}

#[tokio::test]
async fn admission_latency_on_this_machine() {
    let Some((c, _wipe)) = setup("latency").await else { return };
    let now = base();
    let budget = Ask { counter: "budget", period: Period::Month, limit: u64::MAX / 4, amount: 3, decides: true };
    let mut took = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let started = Instant::now();
        let v = c.admit(now, &[ask("rate", 1_000_000, 1), budget]).await.unwrap();
        took.push(started.elapsed());
        assert!(matches!(v, Verdict::Admitted(_)));
    }
    took.sort();
    println!(
        "sequential admissions (one rate limit and one budget), 1000: p50 {:?}, p99 {:?}, max {:?}",
        took[500], took[990], took[999]
    );
    assert_eq!(c.peek(now, &[("rate", MINUTE), ("budget", Period::Month)]).await.unwrap(), vec![1000, 3000]);
}

// The differential property: any sequence of operations gives the same answers on both backends.

const COUNTERS: [(&str, Period, u64); 5] = [
    ("minute", Period::Sliding(60), 8),
    ("hour", Period::Sliding(3600), 15),
    ("day", Period::Day, 12),
    ("week", Period::Week, 20),
    ("month", Period::Month, 30),
];

#[derive(Clone, Debug)]
enum Op {
    Wait(i64),
    Admit(Vec<(usize, u64, bool)>),
    /// Corrections of earlier admissions, picked by index among them.
    Settle(Vec<(usize, i64)>),
    Peek,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop_oneof![0i64..10, 0i64..120, 0i64..5000, 0i64..400_000].prop_map(Op::Wait),
        6 => proptest::collection::vec((0..COUNTERS.len(), 0u64..6, proptest::bool::weighted(0.8)), 1..4).prop_map(Op::Admit),
        2 => proptest::collection::vec((any::<usize>(), -6i64..7), 1..3).prop_map(Op::Settle),
        1 => Just(Op::Peek),
    ]
}

/// How much of each the differential test exercised: admissions, refusals, corrections, peeks.
static SEEN: [AtomicUsize; 4] = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];

fn seen(i: usize) {
    SEEN[i].fetch_add(1, Ordering::Relaxed);
}

async fn same_answers(url: &str, ops: &[Op]) -> Result<(), TestCaseError> {
    let prefix = unique_prefix("differential");
    let _wipe = Wipe { url: url.to_owned(), prefix: prefix.clone() };
    let redis = RedisCounters::connect(url, prefix).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
    let memory = MemoryCounters::new();
    let mut now = base();
    let mut charged: Vec<(usize, i64)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Wait(s) => now += secs(*s),
            Op::Admit(asks) => {
                let asks: Vec<Ask<'_>> = asks
                    .iter()
                    .map(|(i, amount, decides)| {
                        let (counter, period, limit) = COUNTERS[*i];
                        Ask { counter, period, limit, amount: *amount, decides: *decides }
                    })
                    .collect();
                let want = memory.admit(now, &asks).await.unwrap();
                let got = redis.admit(now, &asks).await.unwrap();
                prop_assert_eq!(&got, &want, "step {}: admit {:?}", step, op);
                seen(0);
                if matches!(want, Verdict::Refused { .. }) {
                    seen(1);
                }
                if let Verdict::Admitted(held) = want {
                    let idx = asks.iter().map(|a| COUNTERS.iter().position(|c| c.0 == a.counter).unwrap_or(0));
                    charged.extend(idx.zip(held.iter().map(|h| h.slot)));
                }
            }
            Op::Settle(picks) => {
                if charged.is_empty() {
                    continue;
                }
                let fixes: Vec<Correction<'_>> = picks
                    .iter()
                    .map(|(pick, delta)| {
                        let (i, slot) = charged[pick % charged.len()];
                        Correction { counter: COUNTERS[i].0, period: COUNTERS[i].1, slot, delta: *delta }
                    })
                    .collect();
                let want = memory.settle(now, &fixes).await.unwrap();
                let got = redis.settle(now, &fixes).await.unwrap();
                prop_assert_eq!(got, want, "step {}: settle {:?}", step, op);
                seen(2);
            }
            Op::Peek => {
                let all: Vec<(&str, Period)> = COUNTERS.iter().map(|(c, p, _)| (*c, *p)).collect();
                // Usage, not just the sums: the oldest counting slot (what a report's reset time is
                // worked out from) must agree too.
                let want = memory.usage(now, &all).await.unwrap();
                let got = redis.usage(now, &all).await.unwrap();
                prop_assert_eq!(got, want, "step {}: usage at {}", step, now);
                seen(3);
            }
        }
    }
    Ok(())
}

#[test]
fn the_same_operations_give_the_same_answers_as_in_process() {
    let Some(url) = redis_url() else { return };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut runner = TestRunner::new(Config { cases: 32, failure_persistence: None, ..Config::default() });
    let result = runner.run(&proptest::collection::vec(op(), 1..60), |ops| rt.block_on(same_answers(&url, &ops)));
    if let Err(e) = result {
        panic!("{e}");
    }
    let [admits, refused, settles, peeks] = SEEN.each_ref().map(|n| n.load(Ordering::Relaxed));
    println!("differential: {admits} admissions ({refused} refused), {settles} settlements, {peeks} peeks");
    assert!(refused > 0 && refused < admits && settles > 0 && peeks > 0);
}
