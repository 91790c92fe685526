//! Issue #9, the write path: stored credentials never follow a new destination, a dry run is no oracle for
//! credentials or for what exists, per-model narrowing holds against every way around it, and expiry ends a
//! virtual account's tokens for good.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Resp, TestServer};

async fn apply(s: &TestServer, token: &str, body: &str, dry_run: bool) -> Resp {
    s.raw(Method::PUT, &format!("/api/v1/apply?dry_run={dry_run}"), Some(token), Some(body.as_bytes().to_vec())).await
}

fn assert_needs_auth(r: &Resp, field: &str) {
    assert_eq!(r.status, 400, "{:?}", r.body);
    let param = r.body["error"]["param"].as_str().unwrap_or("");
    assert!(param == "auth" || param.ends_with(": auth"), "{:?}", r.body);
    assert!(r.message().contains(&format!("is required when {field} changes")), "{:?}", r.body);
}

fn account(kind: &str, extra: Value) -> Value {
    let mut a = json!({
        "type": kind,
        "name": "acct",
        "auth": {"api_key": "sk-stored-key"},
        "models": [{"name": "m", "model_id": "gpt-4o", "types": ["chat"]}],
        "collaborators": [{"subject": "user:mgr@example.com", "role": "provider-account-manager"}]
    });
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

// ---------- 1. credentials and destinations ----------

#[tokio::test]
async fn a_new_destination_needs_the_credentials_again() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let mgr = s.user("mgr@example.com", "member").await;
    let cases = [
        ("openai", json!({"base_url": "https://api.openai.com/v1"}), "base_url", json!("https://evil.example/v1")),
        (
            "azure-openai",
            json!({"endpoint": "https://r.openai.azure.com", "api_version": "2024-10-21"}),
            "endpoint",
            json!("https://evil.example"),
        ),
        ("aws-bedrock", json!({"region": "us-east-1"}), "region", json!("eu-west-1")),
    ];
    for (kind, extra, field, moved) in cases {
        let acct = if kind == "aws-bedrock" {
            let mut a = account(kind, extra);
            a["auth"] = json!({"access_key_id": "AKIA-stored", "secret_access_key": "stored-secret"});
            a
        } else {
            account(kind, extra)
        };
        let r = s.post("/api/v1/provider-accounts", &s.admin, acct.clone()).await;
        assert_eq!(r.status, 201, "{kind}: {:?}", r.body);

        let mut edit = acct.clone();
        edit.as_object_mut().unwrap().remove("auth");
        edit[field] = moved;
        // The account's manager, an admin, and apply (dry run too): refused without the credentials.
        for token in [&mgr, &s.admin] {
            assert_needs_auth(&s.put("/api/v1/provider-accounts/acct", token, edit.clone()).await, field);
        }
        let mut doc = edit.clone();
        doc["type"] = json!(format!("provider-account/{kind}"));
        let yaml = serde_json::to_string(&doc).unwrap();
        for dry in [true, false] {
            assert_needs_auth(&apply(&s, &mgr, &yaml, dry).await, field);
        }
        // Nothing moved.
        let got = s.get("/api/v1/provider-accounts/acct", &s.admin).await.body;
        assert_eq!(got[field], acct[field], "{kind}");
        // Other edits keep the stored credentials, and a move with them is fine.
        let mut other = acct.clone();
        other.as_object_mut().unwrap().remove("auth");
        other["models"][0]["model_id"] = json!("gpt-4o-mini");
        assert_eq!(s.put("/api/v1/provider-accounts/acct", &mgr, other).await.status, 200, "{kind}");
        edit["auth"] = acct["auth"].clone();
        let r = s.put("/api/v1/provider-accounts/acct", &mgr, edit).await;
        assert_eq!(r.status, 200, "{kind}: {:?}", r.body);
        assert_eq!(s.delete("/api/v1/provider-accounts/acct", &s.admin).await.status, 204);
    }

    // Changing the provider type (each has its own default host) is a new destination too.
    let acct = account("openai", json!({}));
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct.clone()).await.status, 201);
    let mut edit = acct.clone();
    edit.as_object_mut().unwrap().remove("auth");
    edit["type"] = json!("anthropic");
    assert_needs_auth(&s.put("/api/v1/provider-accounts/acct", &mgr, edit).await, "the provider type");
    // Setting a base_url where there was none (the default host) too.
    let mut edit = acct.clone();
    edit.as_object_mut().unwrap().remove("auth");
    edit["base_url"] = json!("https://evil.example/v1");
    assert_needs_auth(&s.put("/api/v1/provider-accounts/acct", &mgr, edit).await, "base_url");
}

#[tokio::test]
async fn an_mcp_server_url_change_needs_the_credentials_again() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let mgr = s.user("mgr@example.com", "member").await;
    let server = json!({
        "name": "tools", "url": "https://mcp.example.com/mcp",
        "auth": {"type": "bearer", "token": "stored-token"},
        "collaborators": [{"subject": "user:mgr@example.com", "role": "mcp-server-manager"}]
    });
    assert_eq!(s.post("/api/v1/mcp-servers", &s.admin, server.clone()).await.status, 201);
    let mut moved = server.clone();
    moved.as_object_mut().unwrap().remove("auth");
    moved["url"] = json!("https://evil.example/mcp");
    assert_needs_auth(&s.put("/api/v1/mcp-servers/tools", &mgr, moved.clone()).await, "url");
    let mut doc = moved.clone();
    doc["type"] = json!("mcp-server/remote");
    assert_needs_auth(&apply(&s, &mgr, &serde_json::to_string(&doc).unwrap(), true).await, "url");
    moved["auth"] = json!({"type": "bearer", "token": "new-token"});
    assert_eq!(s.put("/api/v1/mcp-servers/tools", &mgr, moved).await.status, 200);

    // Without stored credentials there is nothing to carry along: a move is fine.
    let open = json!({"name": "open", "url": "https://mcp.example.com/open"});
    assert_eq!(s.post("/api/v1/mcp-servers", &s.admin, open).await.status, 201);
    let r =
        s.put("/api/v1/mcp-servers/open", &s.admin, json!({"name": "open", "url": "https://other.example/mcp"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

// ---------- 13. no credential guess oracle ----------

#[tokio::test]
async fn a_dry_run_does_not_tell_whether_a_guessed_credential_is_right() {
    let s = TestServer::start().await;
    let doc = |key: &str| {
        format!("type: provider-account/openai\nname: acct\nauth: {{api_key: {key}}}\nmodels: [{{name: m, model_id: gpt-4o, types: [chat]}}]\n")
    };
    assert_eq!(apply(&s, &s.admin, &doc("sk-right"), false).await.status, 200);
    let right = apply(&s, &s.admin, &doc("sk-right"), true).await;
    let wrong = apply(&s, &s.admin, &doc("sk-wrong"), true).await;
    assert_eq!(right.status, 200, "{:?}", right.body);
    assert_eq!(right.body, wrong.body, "a guess is distinguishable");
    assert_eq!(right.body["results"][0]["action"], "updated");
    assert_eq!(right.body["results"][0]["changes"], json!(["auth: changed"]));
    assert!(!right.body.to_string().contains("sk-"), "{:?}", right.body);
    // Without credentials (as exports are), a re-apply changes nothing.
    let bare = "type: provider-account/openai\nname: acct\nmodels: [{name: m, model_id: gpt-4o, types: [chat]}]\n";
    assert_eq!(apply(&s, &s.admin, bare, false).await.body["results"][0]["action"], "unchanged");
}

// ---------- 5. per-model narrowing ----------

/// `acct` with model `big` narrowed to team `research`, and `small` open; `mgr` manages the account (and
/// is not in `research`); `holder` may use the account and is in no team.
async fn narrowed(s: &TestServer) -> (String, String) {
    s.set_role_permissions("member", &[]).await;
    let mgr = s.user("mgr@example.com", "member").await;
    let holder = s.user("holder@example.com", "member").await;
    s.user("lead@example.com", "member").await;
    s.team("research", &["lead@example.com"], &["lead@example.com"]).await;
    let acct = json!({
        "type": "openai", "name": "acct", "auth": {"api_key": "sk-x"},
        "models": [
            {"name": "big", "model_id": "gpt-4o", "types": ["chat"], "authorized_subjects": ["team:research"]},
            {"name": "small", "model_id": "gpt-4o-mini", "types": ["chat"]}
        ],
        "collaborators": [
            {"subject": "user:mgr@example.com", "role": "provider-account-manager"},
            {"subject": "user:holder@example.com", "role": "provider-account-user"}
        ]
    });
    let r = s.post("/api/v1/provider-accounts", &s.admin, acct).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(!s.check("user:mgr@example.com", "use", "model:acct/big").await);
    (mgr, holder)
}

/// A read's body as a manifest document: without the read-only fields (which only the REST API ignores).
fn without_auth(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("auth_configured");
    v.as_object_mut().unwrap().remove("etag");
    v
}

/// A change to a body.
type Edit = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn a_narrowed_out_manager_cannot_widen_the_list() {
    let s = TestServer::start().await;
    let (mgr, _) = narrowed(&s).await;
    let base = without_auth(s.get("/api/v1/provider-accounts/acct", &mgr).await.body);
    let edits: Vec<(&str, Edit)> = vec![
        (
            "adds themself",
            Box::new(|a| a["models"][0]["authorized_subjects"] = json!(["team:research", "user:mgr@example.com"])),
        ),
        (
            "drops the list",
            Box::new(|a| a["models"][0].as_object_mut().unwrap().remove("authorized_subjects").map(|_| ()).unwrap()),
        ),
        ("replaces the list", Box::new(|a| a["models"][0]["authorized_subjects"] = json!(["user:holder@example.com"]))),
        (
            "re-declares the model under another name",
            Box::new(|a| {
                a["models"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "big2", "model_id": "gpt-4o", "types": ["chat"]}))
            }),
        ),
        ("points an open model at the narrowed one", Box::new(|a| a["models"][1]["model_id"] = json!("gpt-4o"))),
        // Two-step re-creations: first make the narrowed model go (or call something else), then declare
        // its upstream model again without the list.
        ("removes the narrowed model", Box::new(|a| drop(a["models"].as_array_mut().unwrap().remove(0)))),
        ("points the narrowed model elsewhere", Box::new(|a| a["models"][0]["model_id"] = json!("gpt-3.5-turbo"))),
    ];
    for (what, edit) in &edits {
        let mut a = base.clone();
        edit(&mut a);
        let r = s.put("/api/v1/provider-accounts/acct", &mgr, a.clone()).await;
        assert_eq!(r.status, 403, "{what}: {:?}", r.body);
        let mut doc = a.clone();
        doc["type"] = json!("provider-account/openai");
        let r = apply(&s, &mgr, &serde_json::to_string(&doc).unwrap(), true).await;
        assert_eq!(r.status, 403, "{what} (apply): {:?}", r.body);
    }
    assert!(!s.check("user:mgr@example.com", "use", "model:acct/big").await);
    assert!(!s.check("user:holder@example.com", "use", "model:acct/big").await);
    // Narrowing further, and edits elsewhere, stay open to the manager.
    let mut a = base.clone();
    a["models"][0]["authorized_subjects"] = json!([]);
    a["models"][1]["authorized_subjects"] = json!(["user:holder@example.com"]);
    let r = s.put("/api/v1/provider-accounts/acct", &mgr, a).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // An admin may widen it.
    let mut a = base.clone();
    a["models"][0]["authorized_subjects"] = json!(["user:mgr@example.com"]);
    assert_eq!(s.put("/api/v1/provider-accounts/acct", &s.admin, a).await.status, 200);
    assert!(s.check("user:mgr@example.com", "use", "model:acct/big").await);
}

#[tokio::test]
async fn joining_a_listed_team_needs_use_of_the_model() {
    let s = TestServer::start().await;
    let (_, _) = narrowed(&s).await;
    // The team's manager may not use the account, so not the model: they may not let the holder in.
    let lead = s.token_for("lead@example.com").await;
    assert!(!s.check("user:lead@example.com", "use", "model:acct/big").await);
    let team = |members: &[&str]| json!({"name": "research", "managers": ["lead@example.com"], "members": members});
    let r = s.put("/api/v1/teams/research", &lead, team(&["lead@example.com", "holder@example.com"])).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(!s.check("user:holder@example.com", "use", "model:acct/big").await);
    // Nor through apply.
    let doc =
        "type: team\nname: research\nmanagers: [lead@example.com]\nmembers: [lead@example.com, holder@example.com]\n";
    assert_eq!(apply(&s, &lead, doc, true).await.status, 403);

    // A holder of team:manage may not join it themself.
    s.role("team-admin", &["team:manage", "team:read"]).await;
    let r = s
        .put("/api/v1/users/holder@example.com", &s.admin, json!({"email": "holder@example.com", "role": "team-admin"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let holder = s.token_for("holder@example.com").await;
    let r = s.put("/api/v1/teams/research", &holder, team(&["lead@example.com", "holder@example.com"])).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(!s.check("user:holder@example.com", "use", "model:acct/big").await);

    // Members who gain nothing (no use of the account) may still be added.
    s.user("newbie@example.com", "member").await;
    let r = s.put("/api/v1/teams/research", &lead, team(&["lead@example.com", "newbie@example.com"])).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // And an admin may add the holder.
    let r = s.put("/api/v1/teams/research", &s.admin, team(&["lead@example.com", "holder@example.com"])).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(s.check("user:holder@example.com", "use", "model:acct/big").await);
}

#[tokio::test]
async fn a_deleted_subject_leaves_every_list() {
    let s = TestServer::start().await;
    let (_, _) = narrowed(&s).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "bot", "owner_team": "research"})).await;
    let mut acct = without_auth(s.get("/api/v1/provider-accounts/acct", &s.admin).await.body);
    acct["models"][0]["authorized_subjects"] =
        json!(["team:research", "user:holder@example.com", "virtualaccount:bot"]);
    acct["models"][1]["authorized_subjects"] = json!(["user:holder@example.com"]);
    assert_eq!(s.put("/api/v1/provider-accounts/acct", &s.admin, acct).await.status, 200);
    let grant = json!({"subject": "virtualaccount:bot", "role": "provider-account-user"});
    let mut acct = without_auth(s.get("/api/v1/provider-accounts/acct", &s.admin).await.body);
    acct["collaborators"].as_array_mut().unwrap().push(grant);
    assert_eq!(s.put("/api/v1/provider-accounts/acct", &s.admin, acct).await.status, 200);
    assert!(s.check("virtualaccount:bot", "use", "model:acct/big").await);

    assert_eq!(s.delete("/api/v1/virtual-accounts/bot", &s.admin).await.status, 204);
    assert_eq!(s.delete("/api/v1/teams/research", &s.admin).await.status, 204);
    assert_eq!(s.delete("/api/v1/users/holder@example.com", &s.admin).await.status, 204);
    let models = s.get("/api/v1/provider-accounts/acct", &s.admin).await.body["models"].clone();
    // Emptied lists stay narrowed to nobody.
    assert_eq!(models[0]["authorized_subjects"], json!([]), "{models:?}");
    assert_eq!(models[1]["authorized_subjects"], json!([]), "{models:?}");

    // Whoever re-creates the names inherits nothing.
    s.user("holder@example.com", "member").await;
    s.team("research", &[], &["holder@example.com"]).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "bot", "owner_team": "research"})).await;
    let mut acct = without_auth(s.get("/api/v1/provider-accounts/acct", &s.admin).await.body);
    acct["collaborators"] = json!([
        {"subject": "user:holder@example.com", "role": "provider-account-user"},
        {"subject": "virtualaccount:bot", "role": "provider-account-user"}
    ]);
    assert_eq!(s.put("/api/v1/provider-accounts/acct", &s.admin, acct).await.status, 200);
    for subject in ["user:holder@example.com", "team:research", "virtualaccount:bot"] {
        for model in ["model:acct/big", "model:acct/small"] {
            assert!(!s.check(subject, "use", model).await, "{subject} inherited {model}");
        }
    }
}

// ---------- 8. no existence oracle through validation ----------

#[tokio::test]
async fn a_refused_caller_learns_nothing_about_what_exists() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let nobody = s.user("nobody@example.com", "member").await;
    s.user("real@example.com", "member").await;
    s.team("real-team", &[], &[]).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "real-va", "owner_team": "real-team"})).await;
    let acct = json!({"type": "openai", "name": "acct", "models": [{"name": "m", "model_id": "x", "types": ["chat"]}]});
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct).await.status, 201);

    // Each pair: the same request naming something that exists and something that does not.
    let pairs: Vec<(&str, &str, Value, Value)> = vec![
        (
            "POST",
            "/api/v1/provider-accounts",
            json!({"type": "openai", "name": "mine", "collaborators": [{"subject": "user:real@example.com", "role": "provider-account-user"}]}),
            json!({"type": "openai", "name": "mine", "collaborators": [{"subject": "user:ghost@example.com", "role": "provider-account-user"}]}),
        ),
        (
            "POST",
            "/api/v1/provider-accounts",
            json!({"type": "openai", "name": "mine", "models": [{"name": "m", "model_id": "x", "types": ["chat"], "authorized_subjects": ["team:real-team"]}]}),
            json!({"type": "openai", "name": "mine", "models": [{"name": "m", "model_id": "x", "types": ["chat"], "authorized_subjects": ["team:ghost-team"]}]}),
        ),
        (
            "POST",
            "/api/v1/mcp-servers",
            json!({"name": "mine", "url": "https://x.example/mcp", "collaborators": [{"subject": "virtualaccount:real-va", "role": "mcp-server-user"}]}),
            json!({"name": "mine", "url": "https://x.example/mcp", "collaborators": [{"subject": "virtualaccount:ghost-va", "role": "mcp-server-user"}]}),
        ),
        (
            "POST",
            "/api/v1/gateway-controls",
            json!({"type": "gateway-rate-limiting-config", "name": "mine", "rules": [{"id": "r", "when": {"models": ["acct/m"]}, "limit_to": 1, "unit": "requests_per_minute"}]}),
            json!({"type": "gateway-rate-limiting-config", "name": "mine", "rules": [{"id": "r", "when": {"models": ["acct/ghost"]}, "limit_to": 1, "unit": "requests_per_minute"}]}),
        ),
        (
            "POST",
            "/api/v1/teams",
            json!({"name": "mine", "members": ["real@example.com"]}),
            json!({"name": "mine", "members": ["ghost@example.com"]}),
        ),
        (
            "POST",
            "/api/v1/virtual-accounts",
            json!({"name": "mine", "owner_team": "real-team"}),
            json!({"name": "mine", "owner_team": "ghost-team"}),
        ),
        (
            "POST",
            "/api/v1/users",
            json!({"email": "new@example.com", "role": "member"}),
            json!({"email": "new@example.com", "role": "ghost-role"}),
        ),
    ];
    for (method, path, real, ghost) in pairs {
        let method: Method = method.parse().unwrap();
        let a = s.call(method.clone(), path, &nobody, Some(real.clone())).await;
        let b = s.call(method, path, &nobody, Some(ghost.clone())).await;
        assert_eq!(a.status, 403, "{path} {real}: {:?}", a.body);
        assert_eq!(b.status, 403, "{path} {ghost}: {:?}", b.body);
    }
    // The same through apply, dry run or not.
    for dry in [true, false] {
        for doc in [
            "type: provider-account/openai\nname: mine\ncollaborators: [{subject: user:ghost@example.com, role: provider-account-user}]\n",
            "type: gateway-budget-config\nname: mine\nrules: [{id: b, when: {models: [acct/ghost]}, limit_to: 1, unit: cost_per_month}]\n",
            "type: team\nname: mine\nmembers: [ghost@example.com]\n",
            "type: virtual-account\nname: mine\nowner_team: ghost-team\n",
        ] {
            let r = apply(&s, &nobody, doc, dry).await;
            assert_eq!(r.status, 403, "{doc}: {:?}", r.body);
        }
    }
}

/// A body for an object of a given name.
type Named = fn(&str) -> Value;

#[tokio::test]
async fn a_refused_put_reads_the_same_whether_its_object_exists() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let nobody = s.user("nobody@example.com", "member").await;
    s.team("real", &[], &[]).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "real", "owner_team": "real"})).await;
    let acct = json!({"type": "openai", "name": "real"});
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct).await.status, 201);
    let mcp = json!({"name": "real", "url": "https://x.example/mcp"});
    assert_eq!(s.post("/api/v1/mcp-servers", &s.admin, mcp).await.status, 201);
    let bodies: Vec<(&str, Named)> = vec![
        ("/api/v1/teams", |n| json!({"name": n})),
        ("/api/v1/virtual-accounts", |n| json!({"name": n, "owner_team": "real"})),
        ("/api/v1/provider-accounts", |n| json!({"type": "openai", "name": n})),
        ("/api/v1/mcp-servers", |n| json!({"name": n, "url": "https://x.example/mcp"})),
    ];
    for (path, body) in bodies {
        for method in [Method::POST, Method::PUT] {
            let at = |n: &str| if method == Method::PUT { format!("{path}/{n}") } else { path.to_owned() };
            let real = s.call(method.clone(), &at("real"), &nobody, Some(body("real"))).await;
            let ghost = s.call(method.clone(), &at("ghost"), &nobody, Some(body("ghost"))).await;
            assert_eq!(real.status, 403, "{method} {path}: {:?}", real.body);
            assert_eq!(ghost.status, 403, "{method} {path}: {:?}", ghost.body);
            assert_eq!(real.message().replace("real", "X"), ghost.message().replace("ghost", "X"), "{method} {path}");
        }
    }
}

// ---------- 11. expiry ends a virtual account's tokens for good ----------

#[tokio::test]
async fn renewing_an_expired_virtual_account_does_not_revive_its_tokens() {
    let s = TestServer::start().await;
    s.team("ml", &[], &[]).await;
    let rfc = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    for renewal in [Value::Null, json!(rfc(s.now() + time::Duration::days(30)))] {
        let exp = rfc(s.now() + time::Duration::hours(1));
        let r = s
            .post("/api/v1/virtual-accounts", &s.admin, json!({"name": "tmp", "owner_team": "ml", "expires_at": exp}))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let tok = s.post("/api/v1/virtual-accounts/tmp/tokens", &s.admin, json!({})).await.body["token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(s.get("/api/v1/me", &tok).await.status, 200);
        s.advance(3601);
        assert_eq!(s.get("/api/v1/me", &tok).await.status, 401);
        let mut body = json!({"name": "tmp", "owner_team": "ml"});
        if !renewal.is_null() {
            body["expires_at"] = json!(rfc(s.now() + time::Duration::days(30)));
        }
        let r = s.put("/api/v1/virtual-accounts/tmp", &s.admin, body).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(s.get("/api/v1/me", &tok).await.status, 401, "renewal {renewal} revived a token");
        // The account itself works again, with new tokens.
        let fresh = s.post("/api/v1/virtual-accounts/tmp/tokens", &s.admin, json!({})).await;
        assert_eq!(fresh.status, 201, "{:?}", fresh.body);
        assert_eq!(s.get("/api/v1/me", fresh.body["token"].as_str().unwrap()).await.status, 200);
        assert_eq!(s.delete("/api/v1/virtual-accounts/tmp", &s.admin).await.status, 204);
    }
}
