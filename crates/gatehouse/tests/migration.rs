//! Growing from SQLite: a deployment built through the API on SQLite, copied by `gatehouse copy` into a
//! fresh Postgres database, answers every token, check and gateway call the same way when a server runs on
//! the copy; and `gatehouse copy` refuses a target that already holds a deployment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use gatehouse_mock_upstream::MockConfig;
use gatehouse_store::testing;
use serde_json::{json, Value};

use common::{Api, Gatehouse};

/// Output tokens only, at $1000 per million, and the mock answers 7: each call costs exactly $0.007, so
/// the virtual account's $0.0525 budget takes 7 calls and refuses the 8th.
const PRICES: (f64, f64) = (0.0, 1000.0);
const BUDGET_CALLS: usize = 7;

fn gatehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env("GATEHOUSE_SECRET_KEY", common::SECRET_KEY)
        .env_remove("GATEHOUSE_DATABASE_URL")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A PAT for an existing user: a password, a login (whose session token is returned too), a PAT.
async fn tokens_of(admin: &Api, email: &str) -> (String, String) {
    let r = admin.post(&format!("/api/v1/users/{email}/password"), &json!({"password": "password-123"})).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let login = common::send(
        admin
            .http
            .post(format!("{}/api/v1/auth/login", admin.base))
            .json(&json!({"email": email, "password": "password-123"})),
    )
    .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    let session = login.body["token"].as_str().unwrap().to_owned();
    let pat = Api::new(&admin.base, &session).post("/api/v1/personal-access-tokens", &json!({"name": "laptop"})).await;
    assert_eq!(pat.status, 201, "{:?}", pat.body);
    (pat.body["token"].as_str().unwrap().to_owned(), session)
}

async fn created(r: common::Answer) -> Value {
    assert!(r.status == 201 || r.status == 200, "{} {:?}", r.status, r.body);
    r.body
}

/// Builds the deployment through the API; returns the tokens to compare, by label.
async fn populate(admin: &Api, mock_base: &str) -> Vec<(String, String)> {
    created(
        admin
            .post(
                "/api/v1/roles",
                &json!({"name": "auditor", "display_name": "Auditor", "description": "reads the tenant",
                        "permissions": ["team:read", "user:list", "role:list"]}),
            )
            .await,
    )
    .await;
    for (email, role) in [
        ("alice@example.com", "member"),
        ("bob@example.com", "auditor"),
        ("carol@example.com", "member"),
        ("dave@example.com", "member"),
    ] {
        created(admin.post("/api/v1/users", &json!({"email": email, "role": role})).await).await;
    }
    created(
        admin
            .post(
                "/api/v1/teams",
                &json!({"name": "ml", "managers": ["alice@example.com"], "members": ["bob@example.com"]}),
            )
            .await,
    )
    .await;
    created(admin.post("/api/v1/teams", &json!({"name": "ops", "members": ["dave@example.com"]})).await).await;
    created(admin.post("/api/v1/virtual-accounts", &json!({"name": "ci", "owner_team": "ml"})).await).await;
    let account = json!({
        "type": "openai-compatible", "name": "acct", "base_url": format!("{mock_base}/v1"),
        "auth": {"api_key": "sk-upstream-secret"},
        "models": [{"name": "m", "model_id": "mock-tokens-7", "types": ["chat"],
                    "pricing": {"input_per_million_tokens": PRICES.0, "output_per_million_tokens": PRICES.1}}],
        "collaborators": [{"subject": "team:ml", "role": "provider-account-user"},
                          {"subject": "virtualaccount:ci", "role": "provider-account-user"}]
    });
    created(admin.post("/api/v1/provider-accounts", &account).await).await;
    let mcp = json!({"type": "remote", "name": "tools", "url": "http://127.0.0.1:9/mcp", "tools": ["add"],
                     "auth": {"type": "bearer", "token": "key-upstream-123"},
                     "collaborators": [{"subject": "user:bob@example.com", "role": "mcp-server-user"}]});
    created(admin.post("/api/v1/mcp-servers", &mcp).await).await;
    let r = admin
        .apply(&json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
            {"id": "bob", "when": {"subjects": ["user:bob@example.com"]}, "limit_to": 1000, "unit": "requests_per_minute"}]}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = admin
        .apply(&json!({"type": "gateway-budget-config", "name": "money", "rules": [
            {"id": "ci", "when": {"subjects": ["virtualaccount:ci"]}, "limit_to": 0.0525, "unit": "cost_per_month"}]}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let (alice, alice_session) = tokens_of(admin, "alice@example.com").await;
    let (bob, _) = tokens_of(admin, "bob@example.com").await;
    let (carol, _) = tokens_of(admin, "carol@example.com").await;
    let (dave, _) = tokens_of(admin, "dave@example.com").await;
    let ci = created(admin.post("/api/v1/virtual-accounts/ci/tokens", &json!({})).await).await;
    let ci_old = created(admin.post("/api/v1/virtual-accounts/ci/tokens", &json!({})).await).await;
    let r = admin
        .http
        .delete(format!("{}/api/v1/virtual-accounts/ci/tokens/{}", admin.base, ci_old["id"].as_str().unwrap()))
        .bearer_auth(&admin.token);
    assert!(common::send(r).await.status < 300);
    // Carol is deactivated: her token stops working.
    let c = json!({"email": "carol@example.com", "display_name": "Carol", "role": "member", "active": false});
    let r = common::send(
        admin.http.put(format!("{}/api/v1/users/carol@example.com", admin.base)).bearer_auth(&admin.token).json(&c),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let ci = ci["token"].as_str().unwrap().to_owned();
    // Requests and spend: alice's calls, and the virtual account's budget used up.
    for _ in 0..3 {
        assert_eq!(Api::new(&admin.base, &alice).chat("acct/m", 7).await.status, 200);
    }
    for _ in 0..BUDGET_CALLS {
        let r = Api::new(&admin.base, &ci).chat("acct/m", 7).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let r = Api::new(&admin.base, &ci).chat("acct/m", 7).await;
    assert_eq!((r.status, r.code()), (429, "budget_exceeded"), "{:?}", r.body);
    assert_eq!(Api::new(&admin.base, &dave).chat("acct/m", 7).await.status, 403);
    vec![
        ("admin".into(), admin.token.clone()),
        ("alice".into(), alice),
        ("alice-session".into(), alice_session),
        ("bob".into(), bob),
        ("carol-deactivated".into(), carol),
        ("dave".into(), dave),
        ("ci".into(), ci),
        ("ci-revoked".into(), ci_old["token"].as_str().unwrap().to_owned()),
        ("unknown".into(), "gh_pat_notatokenatallnotatokenatall".into()),
    ]
}

/// The subjects, permissions and resources to ask about: every permission on resources of its kind.
async fn grid(admin: &Api) -> Vec<Value> {
    let perms = admin.get("/api/v1/permissions").await.body;
    let subjects = [
        "user:admin@example.com",
        "user:alice@example.com",
        "user:bob@example.com",
        "user:carol@example.com",
        "user:dave@example.com",
        "virtualaccount:ci",
        "team:ml",
    ];
    let names = |kind: &str| -> Vec<String> {
        match kind {
            "tenant" => vec!["tenant".into()],
            "team" => vec!["team:ml".into(), "team:ops".into()],
            "user" => vec!["user:alice@example.com".into(), "user:bob@example.com".into()],
            "provider-account" => vec!["provider-account:acct".into(), "provider-account:none".into()],
            "model" => vec!["model:acct/m".into(), "model:acct/other".into()],
            "mcp-server" => vec!["mcp-server:tools".into()],
            other => vec![format!("{other}:ci"), format!("{other}:rl"), format!("{other}:money")],
        }
    };
    let mut checks = Vec::new();
    for s in subjects {
        for p in perms.as_array().unwrap() {
            for r in names(p["resource"].as_str().unwrap()) {
                checks.push(json!({"subject": s, "permission": p["id"], "resource": r}));
            }
        }
        for r in names("model") {
            checks.push(json!({"subject": s, "permission": "use", "resource": r}));
        }
    }
    checks
}

/// Everything a server answers that the copy must not change, by label.
async fn answers(base: &str, tokens: &[(String, String)], checks: &[Value]) -> Vec<(String, u16, Value)> {
    let admin = Api::new(base, &tokens[0].1);
    let mut out = Vec::new();
    for (label, token) in tokens {
        let me = Api::new(base, token).get("/api/v1/me").await;
        out.push((format!("me {label}"), me.status, me.body));
        let limits = Api::new(base, token).get("/api/v1/limits").await;
        out.push((format!("limits {label}"), limits.status, limits.body));
    }
    for chunk in checks.chunks(200) {
        let r = admin.post("/api/v1/authz/checks", &json!({"checks": chunk})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for (q, a) in chunk.iter().zip(r.body["results"].as_array().unwrap()) {
            out.push((format!("check {q}"), r.status, a.clone()));
        }
    }
    for s in ["user:alice@example.com", "user:bob@example.com", "virtualaccount:ci", "team:ml"] {
        let r = admin.get(&format!("/api/v1/authz/subjects/{s}/access")).await;
        out.push((format!("access {s}"), r.status, r.body));
    }
    for path in ["/api/v1/provider-accounts/acct/access", "/api/v1/users", "/api/v1/teams", "/api/v1/roles"] {
        let r = admin.get(path).await;
        out.push((path.to_owned(), r.status, r.body));
    }
    out
}

/// The gateway's answer to each token: status and error code (bodies carry ids that differ per call).
async fn gateway(base: &str, tokens: &[(String, String)]) -> Vec<(String, u16, String)> {
    let mut out = Vec::new();
    for (label, token) in tokens {
        let r = Api::new(base, token).chat("acct/m", 7).await;
        out.push((label.clone(), r.status, r.code().to_owned()));
    }
    out
}

/// What the logs hold: audit events and request logs (counted through the API, paging by id), and usage.
async fn records(admin: &Api) -> (usize, usize, Value) {
    let count = |path: &'static str, key: &'static str| async move {
        let (mut n, mut before) = (0, None::<i64>);
        loop {
            let page = match before {
                Some(b) => admin.get(&format!("{path}?limit=1000&before_id={b}")).await,
                None => admin.get(&format!("{path}?limit=1000")).await,
            };
            assert_eq!(page.status, 200, "{path}: {:?}", page.body);
            n += page.body[key].as_array().map(Vec::len).unwrap_or_default();
            match page.body["next_before_id"].as_i64() {
                Some(id) => before = Some(id),
                None => return n,
            }
        }
    };
    let audit = count("/api/v1/audit-events", "events").await;
    let logs = count("/api/v1/request-logs", "requests").await;
    (audit, logs, admin.get("/api/v1/usage").await.body)
}

/// Every manifest, as `gatehouse export` prints them.
async fn export(admin: &Api) -> String {
    let r = admin.http.get(format!("{}/api/v1/export", admin.base)).bearer_auth(&admin.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let yaml = r.text().await.unwrap();
    assert!(yaml.contains("name: acct") && yaml.contains("name: money"), "{yaml}");
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_deployment_copied_to_postgres_answers_the_same() {
    let Some(pg) = std::env::var(testing::POSTGRES_ENV).ok().filter(|u| !u.is_empty()) else {
        println!("skipping the SQLite to Postgres migration: {} is not set", testing::POSTGRES_ENV);
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/g.db", dir.path().display());
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let token = common::bootstrap(&sqlite);
    let one = Gatehouse::start(dir.path(), &sqlite, &[]).await;
    let admin = Api::new(&one.base, &token);
    let tokens = populate(&admin, &mock.base_url()).await;
    let checks = grid(&admin).await;
    let before = answers(&one.base, &tokens, &checks).await;
    let gateway_before = gateway(&one.base, &tokens).await;
    // The request log is written in the background: a graceful stop stores what it still holds, and the
    // server started again on the same file shows all of it.
    let (exit, log) = one.terminate().await;
    assert!(exit.success(), "{log}");
    let one = Gatehouse::start(dir.path(), &sqlite, &[]).await;
    let admin = Api::new(&one.base, &token);
    let records_before = records(&admin).await;
    assert!(records_before.1 > BUDGET_CALLS + 3 + tokens.len() / 2, "{records_before:?}");
    let export_before = export(&admin).await;
    let (exit, log) = one.terminate().await;
    assert!(exit.success(), "{log}");

    let db = testing::postgres(&pg).await.unwrap();
    let migrated = gatehouse(&["--database-url", &db.url, "migrate"]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let version = gatehouse_store::MIGRATIONS;
    assert_eq!(text(&migrated.stdout).trim(), format!("schema version {version} (migrated from 0)"));
    let again = gatehouse(&["--database-url", &db.url, "migrate"]);
    assert_eq!(text(&again.stdout).trim(), format!("schema version {version} (up to date)"), "idempotent");

    let out = gatehouse(&["copy", "--from", &sqlite, "--to", &db.url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    println!("{printed}");
    assert!(printed.contains("tokens: ") && printed.contains("audit_events.id: next id after"), "{printed}");

    let two = Gatehouse::start(dir.path(), &db.url, &[]).await;
    let admin_two = Api::new(&two.base, &token);
    assert_eq!(records(&admin_two).await, records_before, "audit events, request logs and usage");
    assert_eq!(export(&admin_two).await, export_before, "the exported manifests");
    let after = answers(&two.base, &tokens, &checks).await;
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a, b, "{} differs on the copy", b.0);
    }
    let gateway_after = gateway(&two.base, &tokens).await;
    assert_eq!(gateway_after, gateway_before);
    // The provider call succeeded on the copy: its credential was decrypted with the same passphrase,
    // stretched with the copied salt; the budget spent on SQLite still refuses the virtual account.
    let statuses: Vec<_> = gateway_after.iter().map(|(l, s, c)| format!("{l}={s}{c}")).collect();
    println!("gateway answers on the copy: {statuses:?}");
    assert!(gateway_after.iter().any(|(l, s, _)| l == "alice" && *s == 200), "{statuses:?}");
    assert!(gateway_after.iter().any(|(l, s, c)| l == "ci" && *s == 429 && c == "budget_exceeded"), "{statuses:?}");
    assert!(gateway_after.iter().any(|(l, s, _)| l == "ci-revoked" && *s == 401), "{statuses:?}");
    let allowed = before.iter().filter(|(l, _, b)| l.starts_with("check") && b["allowed"] == true).count();
    let denied = before.iter().filter(|(l, _, b)| l.starts_with("check") && b["allowed"] == false).count();
    println!("{} checks compared: {allowed} allowed, {denied} denied", checks.len());
    assert!(allowed > 20 && denied > 20, "the grid asks questions with both answers");

    // A second copy into the now populated database is refused, naming what is there, and changes nothing.
    let out = gatehouse(&["copy", "--from", &sqlite, "--to", &db.url]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("the target database is not empty") && err.contains("users: 5 rows"), "{err}");
    assert_eq!(records(&admin_two).await.0, records_before.0);
    drop(two);
}

#[test]
fn migrate_and_copy_name_a_database_they_cannot_reach_without_its_password() {
    let started = std::time::Instant::now();
    let url = "postgres://gatehouse:hunter2-secret@127.0.0.1:1/gatehouse";
    for args in [vec!["--database-url", url, "migrate"], vec!["copy", "--from", url, "--to", "sqlite://unused.db"]] {
        let out = gatehouse(&args);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(
            err.contains("cannot open the") && err.contains("postgres://gatehouse:****@127.0.0.1:1/gatehouse"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(!std::path::Path::new("unused.db").exists(), "nothing is created when the source cannot be read");
}
