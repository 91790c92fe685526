//! The database goes away under load and comes back (a cluster of the test's own): the gateway keeps
//! answering from the last snapshot, writes are refused with a 503 `store_unavailable`, nothing
//! acknowledged is lost, and every replica converges once the database is back.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_mock_upstream::MockConfig;
use serde_json::json;

use crate::common::{self, Api, Gatehouse};
use crate::pg_cluster::Cluster;

#[derive(Default)]
struct Seen {
    /// Users whose creation was acknowledged (201).
    acked: BTreeSet<String>,
    /// Writes refused: (phase, status, code).
    refused: Vec<(&'static str, u16, String)>,
    /// Gateway calls and reads: (phase, status).
    served: Vec<(&'static str, u16)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_ridden_out_and_nothing_acknowledged_is_lost() {
    let Some(cluster) = Cluster::start("a_database_outage") else { return };
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let admin = common::bootstrap(&url);
    let replicas = [
        Gatehouse::start(dir.path(), &url, &[]).await,
        Gatehouse::start(dir.path(), &url, &[]).await,
        Gatehouse::start(dir.path(), &url, &[]).await,
    ];
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    Api::new(&bases[0], &admin).provider_account("acct", &mock.base_url(), "gpt-4o-mini", (1.0, 2.0)).await;
    common::eventually(Duration::from_secs(10), "the account on every replica", || async {
        for b in &bases {
            if Api::new(b, &admin).chat("acct/m", 5).await.status != 200 {
                return None;
            }
        }
        Some(())
    })
    .await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let phase = Arc::new(Mutex::new("before"));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    // Writers: one per replica, creating users one after the other.
    for (w, base) in bases.iter().enumerate() {
        let (api, seen, stop, phase) = (Api::new(base, &admin), seen.clone(), stop.clone(), phase.clone());
        load.spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let email = format!("w{w}-{n}@example.com");
                let r = api.post("/api/v1/users", &json!({"email": email, "role": "member"})).await;
                {
                    let mut s = seen.lock().unwrap();
                    match r.status {
                        201 => {
                            s.acked.insert(email);
                        }
                        status => s.refused.push((*phase.lock().unwrap(), status, r.code().to_owned())),
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    // Readers: the gateway and the API's reads of the snapshot, on every replica.
    for base in bases.clone() {
        let (api, seen, stop, phase) = (Api::new(&base, &admin), seen.clone(), stop.clone(), phase.clone());
        load.spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let chat = api.chat("acct/m", 5).await.status;
                let read = api.get("/api/v1/roles").await.status;
                {
                    let p = *phase.lock().unwrap();
                    let mut s = seen.lock().unwrap();
                    s.served.push((p, chat));
                    s.served.push((p, read));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = seen.lock().unwrap().acked.len();
    assert!(before > 5, "writes went through before the outage: {before}");

    cluster.stop();
    *phase.lock().unwrap() = "outage";
    let refused_before = seen.lock().unwrap().refused.len();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (acked_during, refused_during) = {
        let s = seen.lock().unwrap();
        (s.acked.len() - before, s.refused.len() - refused_before)
    };
    // A write may have been acknowledged just as the database stopped; afterwards none can be.
    assert!(acked_during <= 3, "{acked_during} writes acknowledged without a database");
    assert!(refused_during >= 2, "writes were refused during the outage: {refused_during}");

    cluster.resume();
    *phase.lock().unwrap() = "after";
    // Writes succeed again, by themselves.
    let acked_at_resume = seen.lock().unwrap().acked.len();
    common::eventually(Duration::from_secs(20), "writes to be acknowledged again", || async {
        (seen.lock().unwrap().acked.len() >= acked_at_resume + 6).then_some(())
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while load.join_next().await.is_some() {}

    let s = std::mem::take(&mut *seen.lock().unwrap());
    // While the database is down a write gets a 503 store_unavailable; otherwise the only refusal three
    // writers racing on one database may get is a 409 after several attempts (never a 500).
    let bad: Vec<_> = s
        .refused
        .iter()
        .filter(|(p, status, code)| {
            !matches!(
                (*p, *status, code.as_str()),
                (_, 503, "store_unavailable") | ("before" | "after", 409, "state_contention")
            )
        })
        .collect();
    assert!(bad.is_empty(), "refusals: {bad:?}");
    let unserved: Vec<_> = s.served.iter().filter(|(_, status)| *status != 200).collect();
    assert!(unserved.is_empty(), "the gateway and reads kept answering: {unserved:?}");
    let during = s.served.iter().filter(|(p, _)| *p == "outage").count();
    assert!(during >= 20, "calls were made during the outage: {during}");
    let unavailable = s.refused.iter().filter(|(_, status, _)| *status == 503).count();
    println!(
        "outage: {} writes acknowledged, {unavailable} refused with 503 store_unavailable, {} with 409, {} gateway \
         calls and reads answered 200 ({during} while the database was down)",
        s.acked.len(),
        s.refused.len() - unavailable,
        s.served.len()
    );
    // Every replica converges on everything acknowledged.
    let acked = s.acked.clone();
    for base in &bases {
        let api = Api::new(base, &admin);
        common::eventually(Duration::from_secs(10), "every acknowledged user on every replica", || async {
            let users = api.get("/api/v1/users").await.body.to_string();
            acked.iter().all(|e| users.contains(e.as_str())).then_some(())
        })
        .await;
    }
    // And in the database itself, read by a fresh process.
    let loaded = gatehouse_store::open(&url).await.unwrap().load().await.unwrap();
    let stored: BTreeSet<String> = loaded.world.users.iter().map(|u| u.email.to_string()).collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    for r in &replicas {
        assert!(r.log().contains("the database cannot be reached"), "{}", r.log());
    }
}
