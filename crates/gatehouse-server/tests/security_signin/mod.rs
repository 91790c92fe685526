//! Issue 9, sign-in, sessions and transport: failed sign-ins are throttled (per account and address,
//! without locking a real user out), hashing is bounded, sign-in takes only JSON, only trusted proxies are
//! believed, password changes need the current password and end other sessions, expired sessions leave
//! memory, every error is JSON, and half-sent requests are dropped.

use std::time::Duration as StdDuration;

use gatehouse_server::client::IpNet;
use gatehouse_server::ServerConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Resp, TestServer};

async fn sign_in(s: &TestServer, email: &str, password: &str, forwarded_for: Option<&str>) -> Resp {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", s.base))
        .json(&json!({"email": email, "password": password}));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    Resp { status, body, headers }
}

fn trusting_localhost() -> ServerConfig {
    ServerConfig { trusted_proxies: vec![IpNet::parse("127.0.0.1").unwrap()], ..ServerConfig::default() }
}

fn retry_after(r: &Resp) -> i64 {
    r.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn failed_sign_ins_back_off_with_retry_after_and_a_success_resets() {
    let s = TestServer::start().await;
    s.user("bob@example.com", "member").await;
    for i in 0..6 {
        let r = s.login("bob@example.com", "wrong-password").await;
        assert_eq!(r.status, 401, "attempt {i}: {:?}", r.body);
    }
    // Blocked now: even the right password waits, and is not checked.
    let r = s.login("bob@example.com", "password-123").await;
    assert_eq!(r.status, 429, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "too_many_attempts");
    assert_eq!(retry_after(&r), 1);
    s.advance(1);
    // Each further failure doubles the window.
    assert_eq!(s.login("bob@example.com", "wrong-password").await.status, 401);
    let r = s.login("bob@example.com", "password-123").await;
    assert_eq!((r.status.as_u16(), retry_after(&r)), (429, 2));
    s.advance(2);
    assert_eq!(s.login("bob@example.com", "password-123").await.status, 200);
    // The success cleared the count: five more failures before the next block.
    for _ in 0..5 {
        assert_eq!(s.login("bob@example.com", "wrong-password").await.status, 401);
    }
    assert_eq!(s.login("bob@example.com", "password-123").await.status, 200);
    // Windows are capped (15 minutes for one account from one address).
    let mut longest = 0;
    for _ in 0..60 {
        let r = s.login("bob@example.com", "wrong-password").await;
        if r.status == 429 {
            longest = retry_after(&r);
            if longest == 900 {
                break;
            }
            s.advance(longest);
        }
    }
    assert_eq!(longest, 900);
    s.advance(900);
    assert_eq!(s.login("bob@example.com", "password-123").await.status, 200, "a window ends");
}

#[tokio::test]
async fn unknown_accounts_are_throttled_exactly_like_real_ones() {
    let s = TestServer::start().await;
    s.user("bob@example.com", "member").await;
    let mut seen = Vec::new();
    for email in ["bob@example.com", "nobody@example.com"] {
        let mut answers = Vec::new();
        for _ in 0..8 {
            let r = s.login(email, "wrong-password").await;
            answers.push((r.status, r.body.clone(), r.headers.get("retry-after").cloned()));
        }
        seen.push(answers);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0][7].0, 429);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // Without a trusted proxy, a client naming a new address in each request is still one address.
    let s = TestServer::start().await;
    for i in 0..6 {
        assert_eq!(sign_in(&s, "bob@example.com", "wrong", Some(&format!("198.51.100.{i}"))).await.status, 401);
    }
    let r = sign_in(&s, "bob@example.com", "wrong", Some("198.51.100.99")).await;
    assert_eq!(r.status, 429);
    // Behind a trusted proxy, the client's own address counts: one client's failures do not block another.
    let s = TestServer::start_with(trusting_localhost()).await;
    for _ in 0..6 {
        sign_in(&s, "admin@example.com", "wrong", Some("198.51.100.1")).await;
    }
    assert_eq!(sign_in(&s, "admin@example.com", "wrong", Some("198.51.100.1")).await.status, 429);
    let r = sign_in(&s, "admin@example.com", "correct-horse", Some("203.0.113.5")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A client cannot prepend its way past its own proxy: the proxy appends the real address last.
    let r = sign_in(&s, "admin@example.com", "correct-horse", Some("203.0.113.5, 198.51.100.1")).await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn guessing_from_many_addresses_cannot_lock_the_owner_out_where_they_sign_in() {
    let s = TestServer::start_with(trusting_localhost()).await;
    s.user("bob@example.com", "member").await;
    let home = "203.0.113.7";
    assert_eq!(sign_in(&s, "bob@example.com", "password-123", Some(home)).await.status, 200);
    // One wrong guess from each of many addresses: no address is blocked, the account is.
    for i in 0..51 {
        let r = sign_in(&s, "bob@example.com", "wrong", Some(&format!("192.0.2.{i}"))).await;
        assert_eq!(r.status, 401, "guess {i}");
    }
    let r = sign_in(&s, "bob@example.com", "password-123", Some("198.51.100.200")).await;
    assert_eq!(r.status, 429, "{:?}", r.body);
    assert!(retry_after(&r) <= 61, "an account-wide block is short");
    // Bob, where he signs in, is not locked out.
    assert_eq!(sign_in(&s, "bob@example.com", "password-123", Some(home)).await.status, 200);
    // And his success ended the account-wide block.
    assert_eq!(sign_in(&s, "bob@example.com", "password-123", Some("198.51.100.200")).await.status, 200);
}

#[tokio::test]
async fn password_hashing_is_bounded_and_the_overflow_is_told_to_retry() {
    let config =
        ServerConfig { hashing_concurrency: 1, hashing_wait: StdDuration::from_millis(1), ..trusting_localhost() };
    let s = TestServer::start_with(config).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..16 {
        let base = s.base.clone();
        calls.spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/api/v1/auth/login"))
                .header("x-forwarded-for", format!("192.0.2.{i}"))
                .json(&json!({"email": format!("u{i}@example.com"), "password": "wrong-password"}))
                .send()
                .await
                .unwrap();
            let (status, headers) = (r.status(), r.headers().clone());
            Resp { status, headers, body: r.json().await.unwrap() }
        });
    }
    let answers = calls.join_all().await;
    let busy: Vec<&Resp> = answers.iter().filter(|r| r.status == 503).collect();
    assert!(answers.iter().all(|r| r.status == 401 || r.status == 503));
    assert!(answers.iter().any(|r| r.status == 401));
    assert!(!busy.is_empty(), "one hash at a time: sixteen at once cannot all get a turn within a millisecond");
    assert_eq!(busy[0].body["error"]["code"], "server_busy");
    assert_eq!(retry_after(busy[0]), 1);
}

#[tokio::test]
async fn sign_in_takes_only_json() {
    let s = TestServer::start().await;
    let body = r#"{"email":"admin@example.com","password":"correct-horse"}"#;
    for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut req = reqwest::Client::new().post(format!("{}/api/v1/auth/login", s.base)).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "{ct:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["param"], "content-type");
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", s.base))
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_cookie_trusts_forwarded_proto_only_from_a_configured_proxy() {
    let s = TestServer::start().await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/session", s.base))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "admin@example.com", "password": "correct-horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(!cookie.contains("Secure"), "an untrusted peer's X-Forwarded-Proto was believed: {cookie}");
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_the_other_sessions() {
    let s = TestServer::start().await;
    let pat = s.user("bob@example.com", "member").await;
    let token = |r: Resp| r.body["token"].as_str().unwrap().to_owned();
    let here = token(s.login("bob@example.com", "password-123").await);
    let elsewhere = token(s.login("bob@example.com", "password-123").await);
    let path = "/api/v1/users/bob@example.com/password";
    let r = s.post(path, &here, json!({"password": "new-password-1"})).await;
    assert_eq!((r.status.as_u16(), &r.body["error"]["param"]), (400, &json!("current_password")), "{:?}", r.body);
    let r = s.post(path, &here, json!({"password": "new-password-1", "current_password": "guess-1234"})).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "wrong_current_password");
    // A leaked PAT cannot take the account over either.
    assert_eq!(s.post(path, &pat, json!({"password": "new-password-1"})).await.status, 400);
    let r = s.post(path, &here, json!({"password": "new-password-1", "current_password": "password-123"})).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(s.get("/api/v1/me", &here).await.status, 200, "the session making the change stays");
    assert_eq!(s.get("/api/v1/me", &elsewhere).await.status, 401, "the other session ended");
    assert_eq!(s.get("/api/v1/me", &pat).await.status, 200, "a PAT is not a session");
    assert_eq!(s.login("bob@example.com", "password-123").await.status, 401);
    // A reset by someone else ends every session; the admin needs no current password.
    let r = s.post(path, &s.admin, json!({"password": "reset-password-1"})).await;
    assert_eq!(r.status, 204);
    assert_eq!(s.get("/api/v1/me", &here).await.status, 401);
    assert_eq!(s.get("/api/v1/me", &pat).await.status, 200);
    assert_eq!(s.login("bob@example.com", "reset-password-1").await.status, 200);
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_sign_ins() {
    let s = TestServer::start().await;
    s.user("bob@example.com", "member").await;
    let session = s.login("bob@example.com", "password-123").await.body["token"].as_str().unwrap().to_owned();
    let path = "/api/v1/users/bob@example.com/password";
    for _ in 0..6 {
        let r = s.post(path, &session, json!({"password": "new-password-1", "current_password": "guess-1234"})).await;
        assert_eq!(r.status, 403);
    }
    let r = s.post(path, &session, json!({"password": "new-password-1", "current_password": "password-123"})).await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn expired_sessions_are_dropped_from_memory() {
    let config = ServerConfig {
        session_ttl: time::Duration::minutes(10),
        session_purge_interval: StdDuration::from_millis(20),
        poll_interval: StdDuration::from_millis(10),
        ..ServerConfig::default()
    };
    let s = TestServer::start_with(config).await;
    let r = s.login("admin@example.com", "correct-horse").await;
    let token = r.body["token"].as_str().unwrap().to_owned();
    let id = token.strip_prefix("gh_sess_").unwrap().split('_').next().unwrap().to_owned();
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    assert!(s.app.snapshot().token(&id).is_some(), "a live session stays");
    s.advance(11 * 60);
    let mut gone = false;
    for _ in 0..200 {
        if s.app.snapshot().token(&id).is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert!(gone, "an expired session is still held");
    // And it is not loaded back from the store.
    let store = gatehouse_store::open(&s.db_url).await.unwrap();
    let loaded = store.load().await.unwrap();
    assert!(loaded.world.tokens.iter().all(|t| t.id.as_str() != id));
}

#[tokio::test]
async fn every_error_is_json_with_a_code() {
    let s = TestServer::start().await;
    let http = reqwest::Client::new();
    let check = |what: &'static str, status: u16, r: reqwest::Response| async move {
        assert_eq!(r.status(), status, "{what}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/json"), "{what}: {ct}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"]["code"].as_str().is_some_and(|c| !c.is_empty()), "{what}: {v}");
        v
    };
    let r = http.delete(format!("{}/api/v1/me", s.base)).bearer_auth(&s.admin).send().await.unwrap();
    let v = check("405", 405, r).await;
    assert_eq!(v["error"]["code"], "method_not_allowed");
    let big = vec![b'x'; 2 * 1024 * 1024];
    let r = http
        .post(format!("{}/v1/chat/completions", s.base))
        .bearer_auth(&s.admin)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let v = check("413", 413, r).await;
    assert_eq!(v["error"]["code"], "body_too_large");
    let r = http
        .post(format!("{}/v1/chat/completions", s.base))
        .bearer_auth(&s.admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let status = r.status().as_u16();
    check("bad JSON", status, r).await;
    let r = http.get(format!("{}/api/v1/audit-events?limit=many", s.base)).bearer_auth(&s.admin).send().await.unwrap();
    check("bad query", 400, r).await;
    let r = http.get(format!("{}/api/v1/nothing-here", s.base)).bearer_auth(&s.admin).send().await.unwrap();
    check("404", 404, r).await;
}

/// Starts a request and never finishes its headers.
async fn half_sent(addr: &str) -> tokio::net::TcpStream {
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    c
}

/// Whether the server closed the connection within `within`.
async fn closed_within(c: &mut tokio::net::TcpStream, within: StdDuration) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(within, c.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar before closing is fine too.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn half_sent_requests_are_dropped_and_others_are_served_meanwhile() {
    let config = ServerConfig { header_read_timeout: StdDuration::from_secs(1), ..ServerConfig::default() };
    let s = TestServer::start_with(config).await;
    let addr = s.base.strip_prefix("http://").unwrap().to_owned();
    let mut slow = Vec::new();
    for _ in 0..200 {
        slow.push(half_sent(&addr).await);
    }
    let r = reqwest::Client::new().get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200, "served while 200 half-sent requests are open");
    for c in slow.iter_mut() {
        assert!(closed_within(c, StdDuration::from_secs(3)).await, "a half-sent request was kept");
    }
    // A stalled body is dropped after the idle timeout.
    let config = ServerConfig { idle_timeout: StdDuration::from_secs(1), ..ServerConfig::default() };
    let s = TestServer::start_with(config).await;
    let addr = s.base.strip_prefix("http://").unwrap().to_owned();
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/teams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"na",
        s.admin
    );
    c.write_all(head.as_bytes()).await.unwrap();
    assert!(closed_within(&mut c, StdDuration::from_secs(4)).await, "a stalled body was kept");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let config =
        ServerConfig { header_read_timeout: StdDuration::from_secs(1), max_connections: 4, ..ServerConfig::default() };
    let s = TestServer::start_with(config).await;
    let addr = s.base.strip_prefix("http://").unwrap().to_owned();
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(half_sent(&addr).await);
    }
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let r = reqwest::Client::new().get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(started.elapsed() >= StdDuration::from_millis(500), "served past the limit at once");
    assert!(started.elapsed() < StdDuration::from_secs(5));
}

#[tokio::test]
async fn a_passphrase_key_is_salted_and_credentials_sealed_the_old_way_are_sealed_again() {
    use gatehouse_core::clock::ManualClock;
    use gatehouse_server::crypto::{check_key, reseal_legacy, SecretKey};
    use gatehouse_server::{AppState, OsEntropy};
    use gatehouse_store::testing;
    use sha2::Digest;
    use std::sync::Arc;

    let pass = gatehouse_core::Secret::new("correct horse battery staple, and more".to_owned());
    let db = testing::sqlite();
    let store = gatehouse_store::open(&db.url).await.unwrap();
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()));
    let admin =
        gatehouse_server::bootstrap::bootstrap_admin(store.as_ref(), "a@example.com", None, clock.as_ref(), &OsEntropy)
            .await
            .unwrap()
            .into_inner();
    // A deployment of before: the passphrase's plain SHA-256 sealed a provider credential.
    let legacy = SecretKey::from_bytes(sha2::Sha256::digest(pass.expose().trim().as_bytes()).into());
    let app =
        AppState::new(store.clone(), clock.clone(), Arc::new(OsEntropy), ServerConfig::default(), Arc::new(legacy))
            .await
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(gatehouse_server::serve(listener, app, std::future::pending()));
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/provider-accounts"))
        .bearer_auth(&admin)
        .json(&json!({"type": "openai", "name": "oa", "auth": {"api_key": "sk-old"}, "models": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    task.abort();

    // Now: the salt comes from the store, made once; the new key still opens the old seal, and seals again.
    let salt = store.key_salt(&gatehouse_server::crypto::fresh_salt()).await.unwrap();
    assert_eq!(store.key_salt("something-else-entirely").await.unwrap(), salt, "the salt is kept");
    let key = Arc::new(SecretKey::from_setting(&pass, salt.as_bytes()).unwrap());
    let app = AppState::new(store.clone(), clock.clone(), Arc::new(OsEntropy), ServerConfig::default(), key.clone())
        .await
        .unwrap();
    check_key(&app.snapshot(), &key).expect("the old credentials open");
    let sealed =
        |app: &gatehouse_server::App| app.snapshot().resources().all().find_map(|r| r.sealed_auth.clone()).unwrap();
    assert!(key.needs_reseal("provider-account:oa", &sealed(&app).0));
    assert_eq!(reseal_legacy(&app).await.unwrap(), 1);
    assert_eq!(reseal_legacy(&app).await.unwrap(), 0, "once");
    let again =
        AppState::new(store.clone(), clock, Arc::new(OsEntropy), ServerConfig::default(), key.clone()).await.unwrap();
    let now = sealed(&again);
    assert!(!key.needs_reseal("provider-account:oa", &now.0), "stored under the salted key");
    let plain = key.open("provider-account:oa", &now.0).unwrap();
    assert!(String::from_utf8_lossy(plain.expose()).contains("sk-old"));
    // A wrong passphrase still stops the server.
    let wrong = SecretKey::from_setting(&gatehouse_core::Secret::new("x".repeat(40)), salt.as_bytes()).unwrap();
    assert!(check_key(&again.snapshot(), &wrong).is_err());
}
