//! Resources and their collaborators: provider accounts, MCP servers, agents, gateway controls.

use serde_json::json;

use crate::common::apply::apply;
use crate::common::resources::openai_account;
use crate::common::TestServer;

#[tokio::test]
async fn seed_provider_account_user_and_manager() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let mgr = s.user("mgr@example.com", "member").await;
    let usr = s.user("usr@example.com", "member").await;
    let other = s.user("other@example.com", "member").await;
    let acct = openai_account(
        "openai-main",
        json!([
            {"subject": "user:mgr@example.com", "role": "provider-account-manager"},
            {"subject": "user:usr@example.com", "role": "provider-account-user"}
        ]),
    );
    let r = s.post("/api/v1/provider-accounts", &s.admin, acct.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(!r.body.to_string().contains("sk-very-secret-key"), "credentials in a response");
    assert_eq!(r.body["type"], "openai");

    // User: uses every model, reads the account, changes nothing.
    assert!(s.check("user:usr@example.com", "use", "model:openai-main/gpt-4o").await);
    assert!(s.check("user:usr@example.com", "use", "model:openai-main/embed").await);
    assert_eq!(s.get("/api/v1/provider-accounts/openai-main", &usr).await.status, 200);
    let mut edited = acct.clone();
    edited["base_url"] = json!("http://127.0.0.1:10/v1");
    assert_eq!(s.put("/api/v1/provider-accounts/openai-main", &usr, edited.clone()).await.status, 403);
    // Others: neither use nor see it, and listing hides it.
    assert!(!s.check("user:other@example.com", "use", "model:openai-main/gpt-4o").await);
    assert_eq!(s.get("/api/v1/provider-accounts/openai-main", &other).await.status, 403);
    assert_eq!(s.get("/api/v1/provider-accounts", &other).await.body, json!([]));

    // Manager: changes settings, adds a model (which the user can use at once), manages access. (Not the
    // base_url: a new destination needs the credentials again.)
    edited.as_object_mut().unwrap().remove("auth");
    edited["base_url"] = acct["base_url"].clone();
    edited["models"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "gpt-4o-mini", "model_id": "gpt-4o-mini", "types": ["chat"]}));
    let r = s.put("/api/v1/provider-accounts/openai-main", &mgr, edited.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(s.check("user:usr@example.com", "use", "model:openai-main/gpt-4o-mini").await);
    edited["collaborators"]
        .as_array_mut()
        .unwrap()
        .push(json!({"subject": "user:other@example.com", "role": "provider-account-user"}));
    assert_eq!(s.put("/api/v1/provider-accounts/openai-main", &mgr, edited.clone()).await.status, 200);
    assert!(s.check("user:other@example.com", "use", "model:openai-main/gpt-4o").await);
    // The manager may not delete the account (that is provider-account:delete).
    assert_eq!(s.delete("/api/v1/provider-accounts/openai-main", &mgr).await.status, 403);
    // A user may not promote themself.
    let mut promote = edited.clone();
    promote["collaborators"][1]["role"] = json!("provider-account-manager");
    assert_eq!(s.put("/api/v1/provider-accounts/openai-main", &usr, promote).await.status, 403);
    // Admins use every model without a grant; the credentials never come back.
    assert!(s.check("user:admin@example.com", "use", "model:openai-main/gpt-4o").await);
    let got = s.get("/api/v1/provider-accounts/openai-main", &s.admin).await;
    assert!(!got.body.to_string().contains("sk-very-secret-key"));
    let _ = other;
}

#[tokio::test]
async fn seed_team_and_virtual_account_grants_and_pats_inherit() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &[], &["alice@example.com"]).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "checkout", "owner_team": "ml"})).await;
    let acct = openai_account(
        "openai-main",
        json!([
            {"subject": "team:ml", "role": "provider-account-user"},
            {"subject": "virtualaccount:checkout", "role": "provider-account-user"}
        ]),
    );
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct).await.status, 201);
    // Everyone in the team, and the virtual account, get every model.
    assert!(s.check("user:alice@example.com", "use", "model:openai-main/gpt-4o").await);
    assert!(s.check("virtualaccount:checkout", "use", "model:openai-main/embed").await);
    assert!(!s.check("user:bob@example.com", "use", "model:openai-main/gpt-4o").await);
    // Adding bob to the team gives him (and every PAT of his, live) the account.
    s.put("/api/v1/teams/ml", &s.admin, json!({"name": "ml", "members": ["alice@example.com", "bob@example.com"]}))
        .await;
    let r = s
        .post(
            "/api/v1/authz/check",
            &bob,
            json!({"subject": "user:bob@example.com", "permission": "use", "resource": "model:openai-main/gpt-4o"}),
        )
        .await;
    assert_eq!(r.body["allowed"], true, "{:?}", r.body);
    assert!(r.body["reason"]
        .as_str()
        .unwrap()
        .contains("team:ml is provider-account-user on provider-account:openai-main"));
    // A model that does not exist: denied, with the same answer as one that is not allowed.
    assert!(!s.check("user:bob@example.com", "use", "model:openai-main/nope").await);
}

#[tokio::test]
async fn authorized_subjects_narrow_one_model() {
    let s = TestServer::start().await;
    s.user("alice@example.com", "member").await;
    s.user("bob@example.com", "member").await;
    s.team("ml", &[], &["alice@example.com", "bob@example.com"]).await;
    let mut acct = openai_account("openai-main", json!([{"subject": "team:ml", "role": "provider-account-user"}]));
    acct["models"][0]["authorized_subjects"] = json!(["user:alice@example.com"]);
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct).await.status, 201);
    assert!(s.check("user:alice@example.com", "use", "model:openai-main/gpt-4o").await);
    assert!(!s.check("user:bob@example.com", "use", "model:openai-main/gpt-4o").await);
    assert!(s.check("user:bob@example.com", "use", "model:openai-main/embed").await, "other models are not narrowed");
    assert!(s.check("user:admin@example.com", "use", "model:openai-main/gpt-4o").await);
}

#[tokio::test]
async fn use_integrations_lets_a_role_use_every_model() {
    let s = TestServer::start().await;
    s.role("ml-engineer", &["provider-account:use-integrations"]).await;
    s.user("eng@example.com", "ml-engineer").await;
    assert_eq!(
        s.post("/api/v1/provider-accounts", &s.admin, openai_account("openai-main", json!([]))).await.status,
        201
    );
    assert!(s.check("user:eng@example.com", "use", "model:openai-main/gpt-4o").await);
    assert!(!s.check("user:eng@example.com", "provider-account:manage", "provider-account:openai-main").await);
}

#[tokio::test]
async fn every_provider_type_is_accepted_and_credentials_stay_hidden() {
    let s = TestServer::start().await;
    let accounts = [
        json!({"type": "anthropic", "name": "claude", "auth": {"api_key": "sk-ant-SECRET1"}, "models": [{"name": "sonnet", "model_id": "claude-3-5-sonnet-20241022", "types": ["chat"]}]}),
        json!({"type": "aws-bedrock", "name": "bedrock", "region": "us-east-1", "auth": {"access_key_id": "AKIDSECRET2", "secret_access_key": "SECRET3", "session_token": "SECRET4"}, "models": [{"name": "titan", "model_id": "amazon.titan-text-express-v1", "types": ["chat"]}]}),
        json!({"type": "azure-openai", "name": "azure", "endpoint": "https://x.openai.azure.com", "api_version": "2024-10-21", "auth": {"api_key": "SECRET5"}, "models": [{"name": "gpt-4o", "model_id": "gpt-4o", "types": ["chat"]}], "deployments": {"gpt-4o": "my-gpt4o"}}),
        json!({"type": "openai-compatible", "name": "vllm", "base_url": "http://127.0.0.1:8000/v1", "models": [{"name": "llama3.1:8b", "model_id": "meta-llama/Llama-3.1-8B-Instruct", "types": ["chat", "completion"]}]}),
    ];
    for a in &accounts {
        let r = s.post("/api/v1/provider-accounts", &s.admin, a.clone()).await;
        assert_eq!(r.status, 201, "{a}: {:?}", r.body);
    }
    let list = s.get("/api/v1/provider-accounts", &s.admin).await.body.to_string();
    let export = s.get("/api/v1/export", &s.admin).await;
    let audit = s.get("/api/v1/audit-events?limit=1000", &s.admin).await.body.to_string();
    for secret in ["SECRET1", "SECRET2", "SECRET3", "SECRET4", "SECRET5"] {
        assert!(!list.contains(secret), "{secret} in a list");
        assert!(!export.body.to_string().contains(secret), "{secret} in the export");
        assert!(!audit.contains(secret), "{secret} in the audit log");
    }
    // The stored form is encrypted.
    let bad = json!({"type": "aws-bedrock", "name": "b2", "auth": {"access_key_id": "a", "secret_access_key": "b"}, "models": []});
    let r = s.post("/api/v1/provider-accounts", &s.admin, bad).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "region");
}

#[tokio::test]
async fn model_pricing_is_validated_and_round_trips() {
    let s = TestServer::start().await;
    let price = json!({"input_per_million_tokens": 2.5, "output_per_million_tokens": 10});
    let body = json!({"type": "openai", "name": "oa", "models": [
        {"name": "gpt-4o", "model_id": "gpt-4o", "types": ["chat"], "pricing": price},
        {"name": "free", "model_id": "free", "types": ["chat"]},
    ]});
    let r = s.post("/api/v1/provider-accounts", &s.admin, body.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let got = s.get("/api/v1/provider-accounts/oa", &s.admin).await.body;
    assert_eq!(
        got["models"][0]["pricing"],
        json!({"input_per_million_tokens": 2.5, "output_per_million_tokens": 10.0})
    );
    assert!(got["models"][1].get("pricing").is_none(), "absent pricing is left out: {got}");

    // Every way in names the field.
    for (pricing, field) in [
        (
            json!({"input_per_million_tokens": -1, "output_per_million_tokens": 1}),
            "models[0].pricing.input_per_million_tokens",
        ),
        (
            json!({"input_per_million_tokens": 1, "output_per_million_tokens": -0.01}),
            "models[0].pricing.output_per_million_tokens",
        ),
        (json!({"input_per_million_tokens": 1}), "models[0].pricing.output_per_million_tokens"),
        (
            json!({"input_per_million_tokens": "cheap", "output_per_million_tokens": 1}),
            "models[0].pricing.input_per_million_tokens",
        ),
        (
            json!({"input_per_million_tokens": 1, "output_per_million_tokens": 1, "currency": "EUR"}),
            "models[0].pricing.currency",
        ),
    ] {
        let mut bad = body.clone();
        bad["models"][0]["pricing"] = pricing;
        let r = s.put("/api/v1/provider-accounts/oa", &s.admin, bad).await;
        assert_eq!(r.status, 400, "{field}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], field);
    }
    let r = apply(
        &s,
        "type: provider-account/openai\nname: oa\nmodels:\n  - {name: gpt-4o, model_id: gpt-4o, types: [chat], pricing: {input_per_million_tokens: .inf, output_per_million_tokens: 1}}\n",
        false,
    )
    .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["error"]["param"], "document 1: models[0].pricing.input_per_million_tokens");

    // Export prints it, apply takes the export back unchanged, and a new price is an update.
    let exported =
        s.get("/api/v1/export?type=provider-account&name=oa", &s.admin).await.body.as_str().unwrap().to_owned();
    assert!(
        exported.contains("input_per_million_tokens: 2.5") && exported.contains("output_per_million_tokens: 10.0"),
        "{exported}"
    );
    let r = apply(&s, &exported, false).await;
    assert_eq!(r.body["results"][0]["action"], "unchanged", "{:?}", r.body);
    let r = apply(&s, &exported.replace("2.5", "3.0"), false).await;
    assert_eq!(r.body["results"][0]["action"], "updated", "{:?}", r.body);
    assert_eq!(
        s.get("/api/v1/provider-accounts/oa", &s.admin).await.body["models"][0]["pricing"]["input_per_million_tokens"],
        3.0
    );
}

#[tokio::test]
async fn seed_faq_mcp_server_create_only() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    s.role("mcp-creator", &["mcp-server:create"]).await;
    let c = s.user("creator@example.com", "mcp-creator").await;
    let existing = json!({"name": "github", "url": "https://mcp.example.com/github", "auth": {"type": "bearer", "token": "ghp_SECRET"}});
    assert_eq!(s.post("/api/v1/mcp-servers", &s.admin, existing.clone()).await.status, 201);
    // Cannot see or change any other.
    assert_eq!(s.get("/api/v1/mcp-servers/github", &c).await.status, 403);
    assert_eq!(s.get("/api/v1/mcp-servers", &c).await.body, json!([]));
    assert_eq!(s.put("/api/v1/mcp-servers/github", &c, existing).await.status, 403);
    assert_eq!(s.delete("/api/v1/mcp-servers/github", &c).await.status, 403);
    // Creates one without naming themself: cannot see it afterwards.
    let r = s.post("/api/v1/mcp-servers", &c, json!({"name": "mine-1", "url": "https://mcp.example.com/a"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(s.get("/api/v1/mcp-servers/mine-1", &c).await.status, 403);
    // Names themself manager while creating: may update and use it.
    let mine = json!({"name": "mine-2", "url": "https://mcp.example.com/b", "collaborators": [{"subject": "user:creator@example.com", "role": "mcp-server-manager"}]});
    assert_eq!(s.post("/api/v1/mcp-servers", &c, mine.clone()).await.status, 201);
    assert_eq!(s.get("/api/v1/mcp-servers/mine-2", &c).await.status, 200);
    let mut upd = mine.clone();
    upd["url"] = json!("https://mcp.example.com/c");
    assert_eq!(s.put("/api/v1/mcp-servers/mine-2", &c, upd).await.status, 200);
    assert!(s.check("user:creator@example.com", "mcp-server:use", "mcp-server:mine-2").await);
    // Creating "over" an existing server is a change to it, which they may not make.
    let over = json!({"name": "github", "url": "https://x.example.com", "collaborators": [{"subject": "user:creator@example.com", "role": "mcp-server-manager"}]});
    assert_eq!(s.post("/api/v1/mcp-servers", &c, over).await.status, 403);
    assert_eq!(s.get("/api/v1/mcp-servers/github", &s.admin).await.body["url"], "https://mcp.example.com/github");
}

#[tokio::test]
async fn agents_have_collaborators() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let v = s.user("viewer@example.com", "member").await;
    let agent = json!({"name": "triage", "description": "Routes tickets", "definition": {"model": "openai-main/gpt-4o", "steps": [1, 2]}, "collaborators": [{"subject": "user:viewer@example.com", "role": "agent-viewer"}]});
    assert_eq!(s.post("/api/v1/agents", &s.admin, agent.clone()).await.status, 201);
    let got = s.get("/api/v1/agents/triage", &v).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["definition"]["steps"], json!([1, 2]));
    assert_eq!(s.put("/api/v1/agents/triage", &v, agent).await.status, 403);
}

#[tokio::test]
async fn seed_faq_gateway_controls_list_and_manage() {
    let s = TestServer::start().await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml-platform", &[], &[]).await;
    assert_eq!(
        s.post("/api/v1/provider-accounts", &s.admin, openai_account("openai-main", json!([]))).await.status,
        201
    );
    let limits = json!({"type": "gateway-rate-limiting-config", "name": "default-limits", "rules": [{"id": "per-user", "when": {"subjects": ["team:ml-platform"], "models": ["openai-main/gpt-4o"]}, "limit_to": 100, "unit": "requests_per_minute", "rate_limit_applies_per": ["user"]}]});
    assert_eq!(s.post("/api/v1/gateway-controls", &bob, limits.clone()).await.status, 403);
    let r = s.post("/api/v1/gateway-controls", &s.admin, limits.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(s.get("/api/v1/gateway-controls", &bob).await.body, json!([]));
    assert_eq!(s.get("/api/v1/gateway-controls/default-limits", &bob).await.status, 403);
    // "Edit default Member role ... add List Gateway Controls": every user sees them, none may change them.
    let cur = s.get("/api/v1/roles/member", &s.admin).await.body;
    let mut perms: Vec<String> = serde_json::from_value(cur["permissions"].clone()).unwrap();
    perms.push("gateway-controls:list".into());
    s.set_role_permissions("member", &perms.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(s.get("/api/v1/gateway-controls", &bob).await.body.as_array().unwrap().len(), 1);
    assert_eq!(s.get("/api/v1/gateway-controls/default-limits", &bob).await.body["rules"][0]["limit_to"], 100);
    assert_eq!(s.put("/api/v1/gateway-controls/default-limits", &bob, limits.clone()).await.status, 403);
    // Validation names the field; references must exist; regular expressions must compile.
    let bad_regex = json!({"type": "gateway-guardrails-config", "name": "re", "rules": [{"id": "r", "when": {}, "input_guardrails": [{"type": "block-regex", "pattern": "(unclosed"}]}]});
    let r = s.post("/api/v1/gateway-controls", &s.admin, bad_regex).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "rules[0].input_guardrails[0].pattern");
    let mut bad = limits.clone();
    bad["rules"][0]["limit_to"] = json!(0);
    let r = s.put("/api/v1/gateway-controls/default-limits", &s.admin, bad).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "rules[0].limit_to");
    let mut bad = limits.clone();
    bad["rules"][0]["when"]["models"] = json!(["openai-main/nope"]);
    let r = s.put("/api/v1/gateway-controls/default-limits", &s.admin, bad).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    for kind in [
        json!({"type": "gateway-budget-config", "name": "budget", "rules": [{"id": "monthly", "when": {}, "limit_to": 250.5, "unit": "cost_per_month", "mode": "audit", "alerts": {"thresholds": [50, 90]}}]}),
        json!({"type": "gateway-guardrails-config", "name": "guards", "rules": [{"id": "no-secrets", "when": {}, "input_guardrails": [{"type": "block-keywords", "keywords": ["password"]}], "output_guardrails": []}]}),
        json!({"type": "gateway-load-balancing-config", "name": "lb", "rules": [{"id": "split", "when": {"models": ["openai-main/gpt-4o"]}, "type": "weight-based-routing", "load_balance_targets": [{"target": "openai-main/gpt-4o", "weight": 70}, {"target": "openai-main/embed", "weight": 30}]}]}),
    ] {
        let r = s.post("/api/v1/gateway-controls", &s.admin, kind.clone()).await;
        assert_eq!(r.status, 201, "{kind}: {:?}", r.body);
    }
    // Deleting a model still referenced by a control is refused, naming the control.
    let mut acct = openai_account("openai-main", json!([]));
    acct.as_object_mut().unwrap().remove("auth");
    acct["models"] = json!([{"name": "embed", "model_id": "e", "types": ["embedding"]}]);
    let r = s.put("/api/v1/provider-accounts/openai-main", &s.admin, acct).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
}

#[tokio::test]
async fn a_server_refuses_a_key_that_cannot_open_the_stored_credentials() {
    let s = TestServer::start().await;
    assert!(gatehouse_server::crypto::check_key(&s.app.snapshot(), &s.app.key).is_ok(), "nothing stored yet");
    assert_eq!(
        s.post("/api/v1/provider-accounts", &s.admin, openai_account("openai-main", json!([]))).await.status,
        201
    );
    assert!(gatehouse_server::crypto::check_key(&s.app.snapshot(), &s.app.key).is_ok());
    let other = gatehouse_server::crypto::SecretKey::from_bytes([8; 32]);
    let err = gatehouse_server::crypto::check_key(&s.app.snapshot(), &other).unwrap_err();
    assert!(err.to_string().contains("cannot be decrypted"), "{err}");
}
