//! Issue #9: manifests that would expand without bound, and rules checked against a state another process
//! has already changed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gatehouse_core::{Email, Op, RoleName, Subject, User};
use gatehouse_server::{AppState, OsEntropy, ServerConfig};
use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

/// The classic "billion laughs": each level nine aliases of the one before.
fn alias_bomb() -> String {
    let mut s = String::from("type: team\nname: bomb\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..=9 {
        let p = i - 1;
        s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    s
}

#[tokio::test]
async fn yaml_aliases_are_refused_before_anything_expands() {
    let s = TestServer::start().await;
    let member = s.user("mallory@example.com", "member").await;
    let bomb = alias_bomb();
    assert!(bomb.len() < 2_000);
    // Under serde_yaml's own repetition limit, yet quadratic: 2,000 aliases of a 2,000-item list are four
    // million values from 14 KB.
    let wide = format!(
        "type: team\nname: wide\nx: &x [{}]\ny: [{}]\n",
        vec!["a"; 2_000].join(","),
        vec!["*x"; 2_000].join(",")
    );
    assert!(wide.len() < 15_000);
    for (dry_run, bomb) in [(true, &wide), (false, &wide), (true, &bomb), (false, &bomb)] {
        let started = std::time::Instant::now();
        let path = format!("/api/v1/apply?dry_run={dry_run}");
        let r = s.raw(Method::PUT, &path, Some(&member), Some(bomb.clone().into_bytes())).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert_eq!(r.body["error"]["param"], "document 1");
        assert!(r.message().contains("aliases"), "{}", r.message());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    // Deep nesting and too many objects are refused the same way, naming the limit.
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let r = s.raw(Method::PUT, "/api/v1/apply", Some(&member), Some(deep.into_bytes())).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.message().contains("nested more than 64 levels"), "{}", r.message());
    // Deeper still, the parser's own bound answers first; a 400 all the same.
    let deeper = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let r = s.raw(Method::PUT, "/api/v1/apply", Some(&member), Some(deeper.into_bytes())).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["error"]["param"], "document 1");
    let many = "{type: team, name: t}\n---\n".repeat(10_001);
    let r = s.raw(Method::PUT, "/api/v1/apply?dry_run=true", Some(&s.admin), Some(many.into_bytes())).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.message().contains("more than 10000 objects"), "{}", r.message());
    // The server is still there, and an anchor that nothing refers to is fine.
    let ok = "type: team\nname: &n ml\ndescription: plain\n";
    let r = s.raw(Method::PUT, "/api/v1/apply", Some(&s.admin), Some(ok.as_bytes().to_vec())).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

fn admin(email: &str) -> User {
    User {
        email: Email::new(email).unwrap(),
        display_name: email.into(),
        role: RoleName::new("admin").unwrap(),
        active: true,
    }
}

fn demoted(email: &str) -> User {
    User { role: RoleName::new("member").unwrap(), ..admin(email) }
}

/// Two admins, on two servers sharing one database, demote each other at the same moment. Whichever
/// commits second was authorized against a state that no longer holds (the other is no longer an admin,
/// and would be the last one): its write must be checked again, not land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_authorized_on_a_state_another_process_changed_is_checked_again() {
    for db in gatehouse_store::testing::all().await.unwrap() {
        let s = TestServer::start_on(db, ServerConfig::default()).await;
        let r = s.post("/api/v1/users", &s.admin, json!({"email": "b@example.com", "role": "admin"})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        // A second process on the same database.
        let store = gatehouse_store::open(&s.db_url).await.unwrap();
        let key = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([7; 32]));
        let other =
            AppState::new(store, s.clock.clone(), Arc::new(OsEntropy), ServerConfig::default(), key).await.unwrap();
        let a = Subject::User(Email::new("admin@example.com").unwrap());
        let b = Subject::User(Email::new("b@example.com").unwrap());

        // b demotes a on the other process, while a's demotion of b is being checked on the first.
        let builds = AtomicUsize::new(0);
        let first = s
            .app
            .write_with(
                &a,
                |_, _| {
                    if builds.fetch_add(1, Ordering::SeqCst) == 0 {
                        tokio::task::block_in_place(|| {
                            tokio::runtime::Handle::current().block_on(async {
                                other.write(&b, vec![Op::PutUser(demoted("admin@example.com"))], |_| Ok(())).await
                            })
                        })
                        .unwrap();
                    }
                    Ok(vec![Op::PutUser(demoted("b@example.com"))])
                },
                |_| Ok(()),
            )
            .await;
        // Checked again on the newer state, where a is a member: refused.
        let Err(err) = first else { panic!("a's demotion of b landed on a state where a is no longer an admin") };
        assert_eq!(err.parts().0, axum::http::StatusCode::FORBIDDEN, "{err}");
        assert_eq!(err.code(), "forbidden", "{err}");
        assert_eq!(builds.load(Ordering::SeqCst), 2, "worked out again once");
        s.app.refresh().await.unwrap();
        let snap = s.app.snapshot();
        assert!(snap.is_admin(&Email::new("b@example.com").unwrap()), "one admin remains");
        assert_eq!(snap.active_admin_count(), 1);
    }
}
