//! Three replicas on the machine's Postgres (a database of the test's own): each kind of change made
//! through one replica, and how long until the others enforce it, measured with the affected credential.

use std::time::{Duration, Instant};

use gatehouse_mock_upstream::MockConfig;
use gatehouse_store::testing;
use serde_json::{json, Value};

use crate::common::{self, send, Api, Gatehouse};

/// The bound every change must meet on every replica.
const BOUND: Duration = Duration::from_secs(1);

/// What a credential gets from one replica for one probe: the status only.
async fn probe(http: &reqwest::Client, base: &str, token: &str, what: &Probe) -> u16 {
    let req = match what {
        Probe::Me => http.get(format!("{base}/api/v1/me")),
        Probe::Chat => http.post(format!("{base}/v1/chat/completions")).json(&common::chat_body("acct/m", 5)),
        Probe::ReadAccount => http.get(format!("{base}/api/v1/provider-accounts/acct")),
    };
    send(req.bearer_auth(token)).await.status
}

enum Probe {
    Me,
    Chat,
    ReadAccount,
}

/// Polls every replica with `token` until `probe` answers as `want` says, from the moment the change was
/// acknowledged; returns each replica's lag (the writing replica's included, which is 0 by construction of
/// the single writer path, and checked all the same).
async fn lags(bases: &[String], token: &str, what: Probe, want: impl Fn(u16) -> bool, acked: Instant) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for base in bases {
        // Polled one replica after the other: the lag of each is measured from the acknowledgement, so a
        // replica polled later is only given more time if it was already late (and then fails anyway).
        let lag = loop {
            let status = probe(&http, base, token, &what).await;
            if want(status) {
                break acked.elapsed();
            }
            assert!(acked.elapsed() < BOUND * 5, "{base} still answers {status} after {:?}", acked.elapsed());
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        out.push(lag);
    }
    out
}

#[track_caller]
fn ok(r: common::Answer, status: u16) -> Value {
    assert_eq!(r.status, status, "{:?}", r.body);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_replica_are_enforced_by_the_others_within_a_second() {
    let Some(pg) = std::env::var(testing::POSTGRES_ENV).ok().filter(|u| !u.is_empty()) else {
        println!("skipping changes_on_one_replica: {} is not set", testing::POSTGRES_ENV);
        return;
    };
    let db = testing::postgres(&pg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let admin = common::bootstrap(&db.url);
    let replicas = [
        Gatehouse::start(dir.path(), &db.url, &[]).await,
        Gatehouse::start(dir.path(), &db.url, &[]).await,
        Gatehouse::start(dir.path(), &db.url, &[]).await,
    ];
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let on = |i: usize| Api::new(&bases[i], &admin);

    // The world, written through replica 0: an account used by team ml, a role without permissions, bob.
    ok(
        on(0).post("/api/v1/teams", &json!({"name": "ml", "description": "ML", "managers": [], "members": []})).await,
        201,
    );
    let account = json!({
        "type": "openai-compatible", "name": "acct", "base_url": format!("{}/v1", mock.base_url()),
        "auth": {"api_key": "sk-test"}, "models": [{"name": "m", "model_id": "gpt-4o-mini", "types": ["chat"]}],
        "collaborators": [{"subject": "team:ml", "role": "provider-account-user"}]
    });
    ok(on(0).post("/api/v1/provider-accounts", &account).await, 201);
    let probe_role = json!({"name": "probe", "display_name": "Probe", "description": "A role to probe", "permissions": ["agent:read"]});
    ok(on(0).post("/api/v1/roles", &probe_role).await, 201);
    ok(on(0).post("/api/v1/users", &json!({"email": "bob@example.com", "role": "probe"})).await, 201);
    ok(on(0).post("/api/v1/users/bob@example.com/password", &json!({"password": "password-123"})).await, 204);
    let login = |base: String| async move {
        let r = send(
            reqwest::Client::new()
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": "bob@example.com", "password": "password-123"})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    };
    let session = login(bases[1].clone()).await;
    let pat = |name: &'static str| {
        let (base, session) = (bases[1].clone(), session.clone());
        async move {
            let r = send(
                reqwest::Client::new()
                    .post(format!("{base}/api/v1/personal-access-tokens"))
                    .bearer_auth(&session)
                    .json(&json!({"name": name})),
            )
            .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            (r.body["token"].as_str().unwrap().to_owned(), r.body["id"].as_str().unwrap().to_owned())
        }
    };
    let (bob, _) = pat("main").await;
    let (spare, spare_id) = pat("spare").await;
    ok(
        on(2).post("/api/v1/virtual-accounts", &json!({"name": "app", "owner_team": "ml", "description": "App"})).await,
        201,
    );
    let va = ok(on(2).post("/api/v1/virtual-accounts/app/tokens", &json!({"name": "t"})).await, 201);
    let va_token = va["token"].as_str().unwrap().to_owned();
    // Everything above is everywhere before measuring.
    common::eventually(Duration::from_secs(10), "the setup on every replica", || async {
        let http = reqwest::Client::new();
        for b in &bases {
            if probe(&http, b, &va_token, &Probe::Me).await != 200 || probe(&http, b, &spare, &Probe::Me).await != 200 {
                return None;
            }
        }
        Some(())
    })
    .await;

    let mut all: Vec<(String, Duration)> = Vec::new();
    let mut record = |what: &str, lags: Vec<Duration>| {
        println!("{what}: {:?}", lags.iter().map(|d| format!("{:.1} ms", d.as_secs_f64() * 1e3)).collect::<Vec<_>>());
        all.extend(lags.into_iter().map(|d| (what.to_owned(), d)));
    };
    for round in 0..3 {
        // A grant: bob joins ml, whose account he may then use.
        let team = |members: Value| json!({"name": "ml", "description": "ML", "managers": [], "members": members});
        let w = round % 3;
        ok(
            send(
                on(w)
                    .http
                    .put(format!("{}/api/v1/teams/ml", bases[w]))
                    .bearer_auth(&admin)
                    .json(&team(json!(["bob@example.com"]))),
            )
            .await,
            200,
        );
        let acked = Instant::now();
        record("grant (team member added)", lags(&bases, &bob, Probe::Chat, |s| s == 200, acked).await);
        // A team member removed.
        let w = (round + 1) % 3;
        ok(
            send(on(w).http.put(format!("{}/api/v1/teams/ml", bases[w])).bearer_auth(&admin).json(&team(json!([]))))
                .await,
            200,
        );
        let acked = Instant::now();
        record("team member removed", lags(&bases, &bob, Probe::Chat, |s| s != 200, acked).await);
        // A role edited: bob's role gains, then loses, reading provider accounts.
        let w = (round + 2) % 3;
        let mut role = probe_role.clone();
        role["permissions"] = json!(["agent:read", "provider-account:read"]);
        ok(send(on(w).http.put(format!("{}/api/v1/roles/probe", bases[w])).bearer_auth(&admin).json(&role)).await, 200);
        let acked = Instant::now();
        record("role edited (permission added)", lags(&bases, &bob, Probe::ReadAccount, |s| s == 200, acked).await);
        ok(
            send(
                on(round % 3)
                    .http
                    .put(format!("{}/api/v1/roles/probe", bases[round % 3]))
                    .bearer_auth(&admin)
                    .json(&probe_role),
            )
            .await,
            200,
        );
        let acked = Instant::now();
        record("role edited (permission removed)", lags(&bases, &bob, Probe::ReadAccount, |s| s != 200, acked).await);
    }
    // A token revoked.
    let r = on(1).http.delete(format!("{}/api/v1/personal-access-tokens/{spare_id}", bases[1])).bearer_auth(&admin);
    assert_eq!(send(r).await.status, 204);
    let acked = Instant::now();
    record("token revoked", lags(&bases, &spare, Probe::Me, |s| s == 401, acked).await);
    // A virtual account's token rotated with no grace: the old one stops everywhere.
    ok(on(2).post("/api/v1/virtual-accounts/app/rotate", &json!({"grace_period_seconds": 0})).await, 201);
    let acked = Instant::now();
    record("token rotated", lags(&bases, &va_token, Probe::Me, |s| s == 401, acked).await);
    // A session signed in on one replica works on the others, and signing out ends it everywhere.
    let s2 = login(bases[2].clone()).await;
    let acked = Instant::now();
    record("signed in (new session)", lags(&bases, &s2, Probe::Me, |s| s == 200, acked).await);
    let r = send(reqwest::Client::new().post(format!("{}/api/v1/auth/logout", bases[0])).bearer_auth(&s2)).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let acked = Instant::now();
    record("signed out", lags(&bases, &s2, Probe::Me, |s| s == 401, acked).await);
    // A user deactivated: every credential of theirs stops, their session included.
    let r = send(
        on(1)
            .http
            .put(format!("{}/api/v1/users/bob@example.com", bases[1]))
            .bearer_auth(&admin)
            .json(&json!({"email": "bob@example.com", "role": "probe", "active": false})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let acked = Instant::now();
    record("user deactivated", lags(&bases, &bob, Probe::Me, |s| s == 401, acked).await);
    record("user deactivated (session)", lags(&bases, &session, Probe::Me, |s| s == 401, acked).await);

    let mut lags: Vec<Duration> = all.iter().map(|(_, d)| *d).collect();
    lags.sort();
    let median = lags[lags.len() / 2];
    let (worst_what, worst) = all.iter().max_by_key(|(_, d)| *d).unwrap();
    println!(
        "propagation over {} measurements: median {:.1} ms, worst {:.1} ms ({worst_what})",
        lags.len(),
        median.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    assert!(*worst < BOUND, "{worst_what} took {worst:?}");
    for r in &replicas {
        assert!(!r.log().contains("reloaded the access graph"), "deltas, not full reloads:\n{}", r.log());
    }
}
