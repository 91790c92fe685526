//! Redis stopped and started again under steady load, without restarting the gateway: a server failing
//! closed (the default) refuses quickly with 503 `limits_unavailable`, one failing open admits uncounted,
//! and both count again within seconds of Redis's return, saying so in their logs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_mock_upstream::MockConfig;
use serde_json::json;

use crate::common::redis_server::OwnRedis;
use crate::common::{self, Answer, Api, Gatehouse};

/// Far above the load, so that every refusal is the outage's.
const LIMIT: u64 = 100_000;
/// A refusal for an unreachable Redis takes one bounded Redis operation (500 ms at worst), never more.
const QUICK: Duration = Duration::from_secs(3);
/// How soon after Redis answers again the gateway must be counting again.
const RECOVERY: Duration = Duration::from_secs(5);

const CLOSED: usize = 0;
const OPEN: usize = 1;

struct Record {
    server: usize,
    sent: Instant,
    done: Instant,
    answer: Answer,
}

impl Record {
    fn counted(&self) -> bool {
        self.answer.status == 200 && !self.answer.header("x-ratelimit-remaining-requests").is_empty()
    }

    fn unchecked(&self) -> bool {
        self.answer.status == 200 && self.answer.header("x-gatehouse-applied-controls") == "rate-limit:rl/all;unchecked"
    }
}

type Records = Arc<Mutex<Vec<Record>>>;

/// Calls `api` one after another, a short pause between, until `stop`.
async fn load(server: usize, api: Arc<Api>, records: Records, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let answer = api.chat("acct/m", 10).await;
        records.lock().unwrap().push(Record { server, sent, done: Instant::now(), answer });
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

async fn until(records: &Records, what: &str, f: impl Fn(&Vec<Record>) -> bool) {
    common::eventually(Duration::from_secs(20), what, || async { f(&records.lock().unwrap()).then_some(()) }).await;
}

/// A server on its own SQLite database, with the model and the rate limit, counting in `redis_url`.
async fn server(dir: &std::path::Path, mock: &str, env: &[(&str, &str)]) -> (Gatehouse, Api) {
    let db_url = format!("sqlite://{}/{}.db", dir.display(), common::unique("g"));
    let admin = common::bootstrap(&db_url);
    let server = Gatehouse::start(dir, &db_url, env).await;
    let api = Api::new(&server.base, &admin);
    api.provider_account("acct", mock, "mock-tokens-7", (1.0, 2.0)).await;
    let r = api
        .apply(&json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
            {"id": "all", "limit_to": LIMIT, "unit": "requests_per_minute"}]}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    (server, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_started_under_load_fails_closed_or_open_then_recovers() {
    let port = common::free_port();
    let Some(redis) = OwnRedis::start(port).await else { return };
    let url = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let (closed, closed_api) = server(dir.path(), &mock.base_url(), &[("GATEHOUSE_REDIS_URL", &url)]).await;
    let (open, open_api) = server(
        dir.path(),
        &mock.base_url(),
        &[("GATEHOUSE_REDIS_URL", &url), ("GATEHOUSE_LIMITS_ON_STORE_FAILURE", "open")],
    )
    .await;

    let records: Records = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (closed_api, open_api) = (Arc::new(closed_api), Arc::new(open_api));
    let workers: Vec<_> = [(CLOSED, &closed_api), (CLOSED, &closed_api), (OPEN, &open_api)]
        .into_iter()
        .map(|(server, api)| tokio::spawn(load(server, api.clone(), records.clone(), stop.clone())))
        .collect();
    until(&records, "counted answers from both servers", |r| {
        r.iter().filter(|r| r.server == CLOSED && r.counted()).count() >= 5
            && r.iter().filter(|r| r.server == OPEN && r.counted()).count() >= 3
    })
    .await;

    redis.kill();
    let killed = Instant::now();
    // Down for a while: every request keeps failing fast, and the log still says it once.
    until(&records, "answers from both servers while Redis is down", |r| {
        killed.elapsed() >= Duration::from_secs(2)
            && r.iter().filter(|r| r.server == CLOSED && r.sent > killed).count() >= 20
            && r.iter().filter(|r| r.server == OPEN && r.sent > killed && r.unchecked()).count() >= 3
    })
    .await;

    let restarting = Instant::now();
    let redis = OwnRedis::start(port).await.expect("redis-server ran a moment ago");
    let up = Instant::now();
    until(&records, "counted answers from both servers after Redis returned", |r| {
        r.iter().filter(|r| r.server == CLOSED && r.sent > up && r.counted()).count() >= 10
            && r.iter().filter(|r| r.server == OPEN && r.sent > up && r.counted()).count() >= 3
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    // Failing closed: only 200s and quick 503 `limits_unavailable`, never anything else, never a hang.
    let all = std::mem::take(&mut *records.lock().unwrap());
    let (closed_calls, open_calls): (Vec<&Record>, Vec<&Record>) = all.iter().partition(|r| r.server == CLOSED);
    for r in &closed_calls {
        assert!(r.answer.took < QUICK, "{:?} took {:?}", r.answer.status, r.answer.took);
        match r.answer.status {
            200 => assert!(r.counted(), "failing closed never admits uncounted: {:?}", r.answer),
            503 => assert_eq!(r.answer.code(), "limits_unavailable", "{:?}", r.answer.body),
            other => panic!("unexpected {other}: {:?}", r.answer.body),
        }
    }
    let during: Vec<&&Record> = closed_calls.iter().filter(|r| r.sent > killed && r.done < restarting).collect();
    assert!(during.len() >= 20);
    assert!(during.iter().all(|r| r.answer.status == 503), "every request while Redis was down was refused");
    // Recovery: counted again within seconds of Redis answering, and from then on every time.
    let back = closed_calls.iter().find(|r| r.sent > restarting && r.answer.status == 200).unwrap();
    assert!(back.done.duration_since(up) < RECOVERY, "counted again only {:?} after Redis returned", back.done - up);
    assert!(closed_calls.iter().filter(|r| r.sent > back.done).all(|r| r.counted()), "a refusal after recovery");
    let slowest = during.iter().map(|r| r.answer.took).max().unwrap_or_default();
    println!(
        "fail closed: {} refusals while Redis was down (slowest {slowest:?}); counted again {:?} after it answered",
        during.len(),
        back.done.saturating_duration_since(up)
    );

    // Failing open: everything admitted, uncounted while Redis was down and counted again afterwards.
    assert!(open_calls.iter().all(|r| r.answer.status == 200 && r.answer.took < QUICK));
    assert!(open_calls.iter().filter(|r| r.sent > killed && r.done < restarting).all(|r| r.unchecked()));
    let back = open_calls.iter().find(|r| r.sent > restarting && r.counted()).unwrap();
    assert!(back.done.duration_since(up) < RECOVERY, "counted again only {:?} after Redis returned", back.done - up);
    // Both servers count in the Redis that came back (empty: it keeps nothing on disk).
    assert!(!crate::common::redis_server::keys(&redis.url(), "gatehouse:limits:").await.is_empty());

    // The outage and the recovery are each logged once, not once per request.
    for (log, mode) in [(closed.log(), "refused (503)"), (open.log(), "admitted unchecked")] {
        assert_eq!(log.matches("limit counters unreachable").count(), 1, "{log}");
        assert!(log.contains(&format!("requests under rate limits or budgets are {mode}")), "{log}");
        assert_eq!(log.matches("limit counters reachable again").count(), 1, "{log}");
    }
    assert!(open.log().contains("admitted a request without checking its limits (fail open)"));
    assert!(!closed.log().contains("fail open"));
}
