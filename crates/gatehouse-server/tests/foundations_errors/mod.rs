//! Every error body carries a stable machine `code` per reason (issue #10, structured errors): one request
//! per refusal, each asserted on its status, `type`, `code` and, for a field, `param`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Resp, TestServer};

#[track_caller]
fn assert_error(what: &str, r: &Resp, status: u16, kind: &str, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{what}: {:?}", r.body);
    assert_eq!(r.body["error"]["type"], kind, "{what}: {:?}", r.body);
    assert_eq!(r.body["error"]["code"], code, "{what}: {:?}", r.body);
    assert!(!r.message().is_empty(), "{what}: a message too");
}

fn account(name: &str, models: &[&str]) -> Value {
    let models: Vec<Value> =
        models.iter().map(|m| json!({"name": m, "model_id": "gpt-4o", "types": ["chat"]})).collect();
    json!({"type": "openai", "name": name, "auth": {"api_key": "sk-stored"}, "models": models})
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test]
async fn each_refusal_has_its_own_code() {
    let s = TestServer::start().await;
    let a = s.admin.clone();
    s.role("hr", &["user:manage", "user:list", "team:read", "role:list"]).await;
    s.role("ops", &["user:list", "settings:manage"]).await;
    s.role("role-admin", &["role:manage", "role:list", "user:list"]).await;
    let hr = s.user("hr@example.com", "hr").await;
    let ra = s.user("ra@example.com", "role-admin").await;
    s.user("ops@example.com", "ops").await;
    let member = s.user("m@example.com", "member").await;
    s.team("ml", &[], &["m@example.com"]).await;
    assert_eq!(s.post("/api/v1/virtual-accounts", &a, json!({"name": "app", "owner_team": "ml"})).await.status, 201);
    let exp = rfc3339(s.now() + time::Duration::hours(1));
    let r = s.post("/api/v1/virtual-accounts", &a, json!({"name": "tmp", "owner_team": "ml", "expires_at": exp})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(s.post("/api/v1/provider-accounts", &a, account("acct", &["m", "n"])).await.status, 201);
    let limits = json!({"type": "gateway-rate-limiting-config", "name": "lim", "rules": [{"id": "r", "when": {"models": ["acct/m"]}, "limit_to": 100, "unit": "requests_per_minute", "rate_limit_applies_per": ["user"]}]});
    let r = s.post("/api/v1/gateway-controls", &a, limits).await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    const P: &str = "permission_error";
    const C: &str = "conflict_error";
    const I: &str = "invalid_request_error";
    const N: &str = "not_found_error";
    let put_user = |email: &str, role: &str| json!({"email": email, "role": role});
    let cases: Vec<(&str, Resp, u16, &str, &str)> = vec![
        ("last admin", s.delete("/api/v1/users/admin@example.com", &a).await, 409, C, "last_admin"),
        (
            "last admin demoted",
            s.put("/api/v1/users/admin@example.com", &a, put_user("admin@example.com", "member")).await,
            409,
            C,
            "last_admin",
        ),
        ("role in use", s.delete("/api/v1/roles/hr", &a).await, 409, C, "role_in_use"),
        ("built-in role", s.delete("/api/v1/roles/member", &a).await, 403, P, "builtin_role"),
        (
            "would escalate",
            s.post(
                "/api/v1/roles",
                &ra,
                json!({"name": "sneaky", "display_name": "S", "description": "d", "permissions": ["user:manage"]}),
            )
            .await,
            403,
            P,
            "would_escalate",
        ),
        ("admin only", s.post("/api/v1/users", &hr, put_user("n@example.com", "admin")).await, 403, P, "admin_only"),
        (
            "admin only, changing an admin",
            s.put("/api/v1/users/admin@example.com", &hr, put_user("admin@example.com", "member")).await,
            403,
            P,
            "admin_only",
        ),
        (
            "outranked",
            s.put("/api/v1/users/ops@example.com", &hr, put_user("ops@example.com", "member")).await,
            403,
            P,
            "outranked",
        ),
        ("forbidden", s.delete("/api/v1/teams/ml", &member).await, 403, P, "forbidden"),
        ("not found (core)", s.delete("/api/v1/teams/nope", &a).await, 404, N, "not_found"),
        ("not found (read)", s.get("/api/v1/teams/nope", &a).await, 404, N, "not_found"),
        ("no such route", s.get("/api/v1/nope", &a).await, 404, N, "not_found"),
        (
            "already exists",
            s.post("/api/v1/teams", &a, json!({"name": "ml", "managers": [], "members": []})).await,
            409,
            C,
            "already_exists",
        ),
        ("team owns VAs", s.delete("/api/v1/teams/ml", &a).await, 409, C, "team_owns_virtual_accounts"),
        (
            "model in use",
            s.put("/api/v1/provider-accounts/acct", &a, account("acct", &["n"])).await,
            409,
            C,
            "model_in_use_by_control",
        ),
        ("account in use", s.delete("/api/v1/provider-accounts/acct", &a).await, 409, C, "account_in_use_by_control"),
        (
            "credentials required",
            {
                let mut moved = account("acct", &["m", "n"]);
                moved["base_url"] = json!("https://elsewhere.example/v1");
                moved.as_object_mut().unwrap().remove("auth");
                s.put("/api/v1/provider-accounts/acct", &a, moved).await
            },
            400,
            I,
            "credentials_required",
        ),
        (
            "invalid field",
            s.post("/api/v1/teams", &a, json!({"name": "t2", "managers": [], "members": ["ghost@example.com"]})).await,
            400,
            I,
            "invalid_field",
        ),
        (
            "invalid body field",
            s.post("/api/v1/users", &a, json!({"email": 5, "role": "member"})).await,
            400,
            I,
            "invalid_field",
        ),
        (
            "malformed JSON",
            s.raw(Method::POST, "/api/v1/teams", Some(&a), Some(b"{not json".to_vec())).await,
            400,
            I,
            "malformed_json",
        ),
        ("audit log", s.get("/api/v1/audit-events", &member).await, 403, P, "admin_only"),
    ];
    for (what, r, status, kind, code) in &cases {
        assert_error(what, r, *status, kind, code);
    }
    let param = |i: usize| cases[i].1.body["error"]["param"].clone();
    let at = |what: &str| cases.iter().position(|c| c.0 == what).unwrap();
    assert_eq!(param(at("credentials required")), "auth");
    assert_eq!(param(at("invalid field")), "members");
    assert_eq!(param(at("invalid body field")), "email");
    assert_eq!(param(at("malformed JSON")), "body");
    // Data, not prose: the numbers and names are in the message, rendered from the variant.
    assert!(cases[at("role in use")].1.message().contains("held by 1 user;"), "{:?}", cases[at("role in use")].1.body);
    assert!(cases[at("model in use")].1.message().contains("model acct/m is named by gateway control lim"));

    // An expired virtual account's tokens: a conflict of its own.
    s.advance(2 * 3600);
    let r = s.post("/api/v1/virtual-accounts/tmp/tokens", &a, json!({})).await;
    assert_error("virtual account expired", &r, 409, C, "virtual_account_expired");
}

#[tokio::test]
async fn a_field_error_in_a_document_has_a_typed_path() {
    let s = TestServer::start().await;
    let body = "type: team\nname: ok\n---\ntype: team\nname: t2\nmembers: [x@example.com]\n";
    let r = s.raw(Method::PUT, "/api/v1/apply?dry_run=true", Some(&s.admin), Some(body.as_bytes().to_vec())).await;
    assert_error("apply", &r, 400, "invalid_request_error", "invalid_field");
    assert_eq!(r.body["error"]["param"], "document 2: members", "{:?}", r.body);
    // A refusal that is not about a field keeps its code, its message naming the document.
    let body = "type: team\nname: ok\n---\ntype: role\nname: admin\ndisplay_name: M\ndescription: d\npermissions: [user:list]\n";
    let r = s.raw(Method::PUT, "/api/v1/apply?dry_run=true", Some(&s.admin), Some(body.as_bytes().to_vec())).await;
    assert_error("apply", &r, 403, "permission_error", "builtin_role");
    assert!(r.message().starts_with("document 2: the built-in role admin"), "{}", r.message());
    // So does one question of a batch of checks.
    let r = s
        .post(
            "/api/v1/authz/checks",
            &s.admin,
            json!({"checks": [{"permission": "user:list", "resource": "tenant"}, {"permission": "nope", "resource": "tenant"}]}),
        )
        .await;
    assert_error("checks", &r, 400, "invalid_request_error", "invalid_field");
    assert_eq!(r.body["error"]["param"], "checks[1].permission", "{:?}", r.body);
}

#[tokio::test]
async fn each_reason_a_token_fails_has_its_own_code() {
    let s = TestServer::start().await;
    let bob = s.user("bob@example.com", "member").await;
    let me = |t: Option<String>| {
        let s = &s;
        async move { s.raw(Method::GET, "/api/v1/me", t.as_deref(), None).await }
    };
    const A: &str = "authentication_error";
    assert_error("missing", &me(None).await, 401, A, "missing_token");
    assert_error("malformed", &me(Some("garbage".into())).await, 401, A, "malformed_token");
    // A wrong secret and an unknown id: one answer, so ids cannot be probed.
    let mut wrong = bob.clone();
    let last = if wrong.ends_with('a') { 'b' } else { 'a' };
    wrong.pop();
    wrong.push(last);
    let wrong_secret = me(Some(wrong)).await;
    assert_error("wrong secret", &wrong_secret, 401, A, "invalid_token");
    let id = bob.split('_').nth(2).unwrap().to_owned();
    let unknown = me(Some(bob.replace(&id, &"0".repeat(id.len())))).await;
    assert_error("unknown id", &unknown, 401, A, "invalid_token");
    assert_eq!(wrong_secret.message(), unknown.message());

    // Revoked: a revoked token leaves the snapshot for good, so it is as unknown as a made-up one.
    let r = s.post("/api/v1/personal-access-tokens", &bob, json!({"name": "x"})).await;
    let (tok, tid) = (r.body["token"].as_str().unwrap().to_owned(), r.body["id"].as_str().unwrap().to_owned());
    assert_eq!(s.delete(&format!("/api/v1/personal-access-tokens/{tid}"), &bob).await.status, 204);
    assert_error("revoked", &me(Some(tok)).await, 401, A, "invalid_token");
    // Expired.
    let exp = rfc3339(s.now() + time::Duration::minutes(1));
    let r = s.post("/api/v1/personal-access-tokens", &bob, json!({"name": "short", "expires_at": exp})).await;
    let short = r.body["token"].as_str().unwrap().to_owned();
    s.advance(120);
    assert_error("expired", &me(Some(short)).await, 401, A, "token_expired");
    // A session that timed out (12 hours).
    let session = s.login("bob@example.com", "password-123").await.body["token"].as_str().unwrap().to_owned();
    assert_eq!(me(Some(session.clone())).await.status, 200);
    s.advance(12 * 3600 + 1);
    assert_error("session ended", &me(Some(session)).await, 401, A, "session_ended");
    // A deactivated owner: deactivation revokes their tokens, so these too are unknown from then on.
    let r = s
        .put(
            "/api/v1/users/bob@example.com",
            &s.admin,
            json!({"email": "bob@example.com", "role": "member", "active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_error("owner deactivated", &me(Some(bob)).await, 401, A, "invalid_token");
    // The API's sign-in keeps its contract.
    assert_error("bad login", &s.login("bob@example.com", "nope-nope-1").await, 401, A, "invalid_token");
}

#[tokio::test]
async fn too_many_sign_ins_answer_429_with_retry_after() {
    let s = TestServer::start().await;
    let mut last = None;
    for _ in 0..50 {
        let r = s.login("nobody@example.com", "wrong-password-1").await;
        if r.status == 429 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("the throttle never answered 429");
    assert_error("throttled", &r, 429, "rate_limit_error", "too_many_attempts");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    // The sign-in throttle publishes no quota.
    assert!(r.headers.get("x-ratelimit-limit").is_none());
}
