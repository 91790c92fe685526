//! Two replicas on one database, two clients racing a `PUT` with the same `If-Match`: exactly one wins.

use std::sync::Arc;

use gatehouse_server::{AppState, OsEntropy, ServerConfig};
use reqwest::Method;
use serde_json::json;

use super::{etag, send, JSON};
use crate::common::TestServer;

/// A second server on the first one's database (the same secret key), serving HTTP on its own port.
struct Replica {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Replica {
    async fn start(s: &TestServer) -> Replica {
        let store = gatehouse_store::open(&s.db_url).await.unwrap();
        let key = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([7; 32]));
        let app = AppState::new(store, s.clock.clone(), Arc::new(OsEntropy), config(), key).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            gatehouse_server::serve(listener, app, std::future::pending()).await.unwrap();
        });
        Replica { base, task }
    }
}

const ROUNDS: usize = 40;

/// The object once the replica at `base` has picked up `version` of it (within 5 s).
async fn at_version(base: &str, path: &str, token: &str, version: &str) -> crate::common::Resp {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = send(base, Method::GET, path, token, None, None).await;
        if now.status == 200 && etag(&now) == version {
            return now;
        }
        assert!(std::time::Instant::now() < deadline, "{base} never saw version {version} of {path}: {:?}", now.body);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Replicas that look for each other's writes often, so that rounds follow each other quickly.
fn config() -> ServerConfig {
    ServerConfig { poll_interval: std::time::Duration::from_millis(20), ..ServerConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_clients_racing_one_version_on_two_replicas_never_both_win() {
    for db in gatehouse_store::testing::all().await.unwrap() {
        let label = db.label;
        let s = TestServer::start_on(db, config()).await;
        let other = Replica::start(&s).await;
        s.team("race", &[], &[]).await;
        let account = crate::common::resources::openai_account("race", json!([]));
        assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, account).await.status, 201);
        for path in ["/api/v1/teams/race", "/api/v1/provider-accounts/race"] {
            let version = etag(&s.get(path, &s.admin).await);
            at_version(&other.base, path, &s.admin, &version).await;
        }
        let mut wins = [0usize; 2];
        for round in 0..ROUNDS {
            // A typed collection and a resource collection, in turn.
            let (path, field) = if round % 2 == 0 {
                ("/api/v1/teams/race", "description")
            } else {
                ("/api/v1/provider-accounts/race", "base_url")
            };
            // Read on either replica: both compute the same version for the same state.
            let got =
                send(if round % 3 == 0 { &other.base } else { &s.base }, Method::GET, path, &s.admin, None, None).await;
            assert_eq!(got.status, 200, "{label}: {:?}", got.body);
            let version = etag(&got);
            let write = |base: &str, who: &str| {
                let mut body = got.body.clone();
                body[field] = json!(if field == "base_url" {
                    format!("http://127.0.0.1:9/{who}{round}/v1")
                } else {
                    format!("{who} {round}")
                });
                // A new destination needs the credentials again.
                if field == "base_url" {
                    body["auth"] = json!({"api_key": "sk-race"});
                }
                let (base, version, token) = (base.to_owned(), version.clone(), s.admin.clone());
                async move { send(&base, Method::PUT, path, &token, Some(&version), Some((JSON, body))).await }
            };
            let (a, b) = tokio::join!(write(&s.base, "first"), write(&other.base, "second"));
            let statuses = [a.status.as_u16(), b.status.as_u16()];
            assert!(
                statuses == [200, 412] || statuses == [412, 200],
                "{label} round {round}: exactly one wins, the other gets 412: {statuses:?} {:?} {:?}",
                a.body,
                b.body
            );
            let (winner, loser, who) = if statuses[0] == 200 { (&a, &b, "first") } else { (&b, &a, "second") };
            wins[usize::from(who == "second")] += 1;
            assert_eq!(loser.body["error"]["code"], "precondition_failed", "{label}");
            assert!(loser.message().contains(field), "{label}: the loser is told what changed: {}", loser.message());
            assert_eq!(etag(loser), etag(winner), "{label}: the loser is given the winner's version");
            // The winner's write is what both replicas hold, once each has picked it up.
            for base in [&s.base, &other.base] {
                let now = at_version(base, path, &s.admin, &etag(winner)).await;
                assert!(now.body[field].as_str().unwrap().contains(who), "{label}: {:?}", now.body);
            }
        }
        println!("{label}: {ROUNDS} races, wins by replica: {wins:?}");
    }
}
