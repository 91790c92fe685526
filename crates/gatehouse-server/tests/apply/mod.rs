//! Declarative apply and export of manifests.

use reqwest::Method;
use serde_json::json;

use crate::common::apply::apply;
use crate::common::TestServer;

const MANIFEST: &str = r#"
type: user
email: alice@example.com
role: member
active: true
---
type: team
name: ml-platform
managers: [alice@example.com]
members: [bob@example.com]
---
type: user
email: bob@example.com
---
type: role
name: gateway-viewer
display_name: Gateway Viewer
description: Can see gateway controls
permissions: [gateway-controls:list]
---
type: virtual-account
name: checkout-service
owner_team: ml-platform
expires_at: 2027-06-30T00:00:00Z
"#;

#[tokio::test]
async fn apply_is_atomic_idempotent_and_has_a_dry_run() {
    let s = TestServer::start().await;
    let dry = apply(&s, MANIFEST, true).await;
    assert_eq!(dry.status, 200, "{:?}", dry.body);
    assert!(dry.body["results"].as_array().unwrap().iter().all(|r| r["action"] == "created"));
    assert_eq!(s.get("/api/v1/users/alice@example.com", &s.admin).await.status, 404, "dry run changed nothing");

    let r = apply(&s, MANIFEST, false).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let kinds: Vec<&str> = r.body["results"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["role", "user", "user", "team", "virtual-account"]);
    assert_eq!(
        s.get("/api/v1/teams/ml-platform", &s.admin).await.body["members"],
        json!(["alice@example.com", "bob@example.com"])
    );

    let again = apply(&s, MANIFEST, false).await;
    assert!(again.body["results"].as_array().unwrap().iter().all(|r| r["action"] == "unchanged"), "{:?}", again.body);

    let changed = MANIFEST.replace("role: member\nactive: true", "role: gateway-viewer\nactive: true");
    let dry = apply(&s, &changed, true).await;
    let alice =
        dry.body["results"].as_array().unwrap().iter().find(|r| r["name"] == "alice@example.com").unwrap().clone();
    assert_eq!(alice["action"], "updated");
    assert_eq!(alice["changes"], json!(["role: \"member\" -> \"gateway-viewer\""]));
    assert_eq!(s.get("/api/v1/users/alice@example.com", &s.admin).await.body["role"], "member");

    // JSON lists work too.
    let json_body = json!([{"type": "team", "name": "json-team", "members": []}]).to_string();
    assert_eq!(apply(&s, &json_body, false).await.status, 200);
}

#[tokio::test]
async fn bad_manifests_are_rejected_whole_with_the_document_named() {
    let s = TestServer::start().await;
    let cases = [
        ("type: widget\nname: x\n", "document 2"),
        ("type: team\nname: t\ncolour: red\n", "colour"),
        ("type: team\nname: t\nmembers: [ghost@example.com]\n", "ghost@example.com"),
        ("type: user\nemail: a@example.com\nrole: no-such-role\n", "no-such-role"),
        ("type: role\nname: r\ndisplay_name: R\ndescription: d\npermissions: [user:fly]\n", "user:fly"),
        ("type: team\nname: t\n---\ntype: team\nname: t\n", "appears twice"),
        ("type: team\nname: [unclosed\n", "document 2"),
    ];
    for (body, needle) in cases {
        let full = format!("type: team\nname: good-team\n---\n{body}");
        let r = apply(&s, &full, false).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert!(r.message().contains(needle), "{body}: {}", r.message());
        assert_eq!(s.get("/api/v1/teams/good-team", &s.admin).await.status, 404, "nothing applied for {body}");
    }
    // Each object is checked with the caller's permissions.
    let bob = s.user("bob@example.com", "member").await;
    let r = s.raw(Method::PUT, "/api/v1/apply", Some(&bob), Some(b"type: team\nname: t\n".to_vec())).await;
    assert_eq!(r.status, 403);
    assert!(r.message().starts_with("document 1"), "{}", r.message());
}

#[tokio::test]
async fn a_large_manifest_round_trips_through_export() {
    let s = TestServer::start().await;
    let mut docs = vec![
        "type: role\nname: ml-engineer\ndisplay_name: ML Engineer\ndescription: Uses models\npermissions: [provider-account:use-integrations, team:read]\n".to_owned(),
        "type: role\nname: member\ndisplay_name: Member\ndescription: Default role\npermissions: [user:list, team:read, role:list, gateway-controls:list]\n".to_owned(),
    ];
    for i in 0..125 {
        docs.push(format!(
            "type: user\nemail: user{i}@example.com\nrole: {}\n",
            if i % 3 == 0 { "ml-engineer" } else { "member" }
        ));
    }
    for t in 0..20 {
        let members: Vec<String> = (0..6).map(|k| format!("user{}@example.com", (t * 6 + k) % 120)).collect();
        docs.push(format!(
            "type: team\nname: team-{t}\ndescription: Team {t}\nmanagers: [{}]\nmembers: [{}]\n",
            members[0],
            members.join(", ")
        ));
        docs.push(format!(
            "type: virtual-account\nname: app-{t}\nowner_team: team-{t}\nexpires_at: 2099-01-01T00:00:00Z\n"
        ));
    }
    for p in 0..15 {
        docs.push(format!(
            "type: provider-account/openai\nname: acct-{p}\nauth: {{api_key: sk-{p}}}\nmodels:\n  - {{name: m1, model_id: gpt-4o, types: [chat], pricing: {{input_per_million_tokens: 2.5, output_per_million_tokens: 10}}}}\n  - {{name: m2, model_id: gpt-4o-mini, types: [chat], authorized_subjects: [team:team-{p}]}}\ncollaborators:\n  - {{subject: team:team-{p}, role: provider-account-user}}\n  - {{subject: virtualaccount:app-{p}, role: provider-account-user}}\n  - {{subject: user:user{p}@example.com, role: provider-account-manager}}\n"
        ));
    }
    for m in 0..10 {
        docs.push(format!("type: mcp-server/remote\nname: mcp-{m}\nurl: https://mcp.example.com/{m}\ncollaborators: [{{subject: team:team-{m}, role: mcp-server-user}}]\n"));
        docs.push(format!("type: agent\nname: agent-{m}\ndescription: Agent {m}\ndefinition: {{model: acct-{m}/m1, temperature: 0.5}}\n"));
    }
    docs.push("type: gateway-rate-limiting-config\nname: limits\nrules:\n  - {id: per-user, when: {subjects: [team:team-1], models: [acct-1/m1]}, limit_to: 100, unit: requests_per_minute, rate_limit_applies_per: [user]}\n".into());
    docs.push("type: gateway-budget-config\nname: budgets\nrules:\n  - {id: monthly, when: {}, limit_to: 500, unit: cost_per_month}\n".into());
    assert!(docs.len() > 200);
    let manifest = docs.join("---\n");
    let r = apply(&s, &manifest, false).await;
    assert_eq!(r.status, 200, "{:?}", r.message());
    let first = s.get("/api/v1/export", &s.admin).await.body.as_str().unwrap().to_owned();
    assert!(!first.contains("sk-1"), "credentials in the export");
    assert!(first.contains("input_per_million_tokens: 2.5"), "pricing missing from the export");

    // A fresh database with the same admin, fed the export, exports the same thing.
    let t = TestServer::start().await;
    let r = apply(&t, &first, false).await;
    assert_eq!(r.status, 200, "{:?}", r.message());
    let second = t.get("/api/v1/export", &t.admin).await.body.as_str().unwrap().to_owned();
    assert_eq!(first, second);
    // And applying it again changes nothing.
    let again = apply(&t, &second, false).await;
    assert!(again.body["results"].as_array().unwrap().iter().all(|r| r["action"] == "unchanged"), "{:?}", again.body);
    // Re-applying the original to the first server changes nothing but the credentials it carries, which
    // are always stored anew (comparing them with the stored ones would tell a guesser when they match).
    let same = apply(&s, &manifest, false).await;
    for r in same.body["results"].as_array().unwrap() {
        if r["type"] == "provider-account/openai" {
            assert_eq!((&r["action"], &r["changes"]), (&json!("updated"), &json!(["auth: changed"])), "{r:?}");
        } else {
            assert_eq!(r["action"], "unchanged", "{r:?}");
        }
    }
}

/// The `type` of each document of a multi-document YAML export.
fn exported_types(yaml: &str) -> Vec<String> {
    gatehouse_server::manifest::parse_documents(yaml)
        .map(|docs| docs.into_iter().map(|d| d.manifest_type.as_str().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn export_narrows_to_one_kind_or_one_object() {
    let s = TestServer::start().await;
    let manifest = r#"
type: role
name: ml-engineer
display_name: ML Engineer
description: Uses models
permissions: [team:read]
---
type: user
email: bob@example.com
role: member
---
type: team
name: ml
managers: [bob@example.com]
---
type: virtual-account
name: ml-app
owner_team: ml
---
type: provider-account/openai
name: openai-main
auth: {api_key: sk-secret-1}
models: [{name: gpt-4o, model_id: gpt-4o, types: [chat]}]
---
type: provider-account/anthropic
name: claude-main
auth: {api_key: sk-secret-2}
models: [{name: sonnet, model_id: claude-sonnet, types: [chat]}]
---
type: mcp-server/remote
name: github
url: https://mcp.example.com/github
---
type: agent
name: helper
definition: {model: openai-main/gpt-4o}
---
type: gateway-rate-limiting-config
name: limits
rules:
  - {id: per-user, when: {}, limit_to: 100, unit: requests_per_minute, rate_limit_applies_per: [user]}
---
type: gateway-budget-config
name: budgets
rules:
  - {id: monthly, when: {}, limit_to: 500, unit: cost_per_month}
"#;
    let r = apply(&s, manifest, false).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let full = s.get("/api/v1/export", &s.admin).await.body.as_str().unwrap().to_owned();
    let full_docs: Vec<&str> = full.split("---\n").filter(|d| !d.is_empty()).collect();
    let server = &s;
    let export = |query: &'static str| async move {
        let r = server.get(&format!("/api/v1/export?{query}"), &server.admin).await;
        assert_eq!(r.status, 200, "{query}: {:?}", r.body);
        r.body.as_str().unwrap_or("").to_owned()
    };

    for (query, types) in [
        ("type=provider-account", vec!["provider-account/anthropic", "provider-account/openai"]),
        ("type=provider-account/openai", vec!["provider-account/openai"]),
        ("type=mcp-server", vec!["mcp-server/remote"]),
        ("type=agent", vec!["agent"]),
        ("type=gateway-controls", vec!["gateway-budget-config", "gateway-rate-limiting-config"]),
        ("type=gateway-budget-config", vec!["gateway-budget-config"]),
        ("type=virtual-account", vec!["virtual-account"]),
        ("type=team", vec!["team"]),
        ("type=provider-account/azure-openai", vec![]),
    ] {
        let text = export(query).await;
        assert_eq!(exported_types(&text), types, "{query}");
        // Each document is exactly the one the full export prints.
        for doc in text.split("---\n").filter(|d| !d.is_empty()) {
            assert!(full_docs.contains(&doc), "{query}: {doc}");
        }
    }
    assert!(!export("type=provider-account").await.contains("sk-secret"), "credentials in the export");
    let roles = export("type=role").await;
    assert!(exported_types(&roles).iter().all(|t| t == "role") && roles.contains("name: ml-engineer"));

    // One object: its document alone, which applies back unchanged.
    let bob = export("type=user&name=bob@example.com").await;
    assert_eq!(exported_types(&bob), ["user"]);
    assert!(bob.contains("email: bob@example.com") && full_docs.contains(&&bob[4..]), "{bob}");
    let again = apply(&s, &bob, false).await;
    assert_eq!(again.body["results"][0]["action"], "unchanged", "{:?}", again.body);
    let one = export("name=openai-main").await;
    assert_eq!(exported_types(&one), ["provider-account/openai"]);
    assert_eq!(exported_types(&export("type=gateway-controls&name=limits").await), ["gateway-rate-limiting-config"]);

    // Unknown types are refused by name; a name that matches nothing readable is a 404, the same whether
    // the object is missing or hidden from the caller.
    for bad in ["widget", "provider", "provider-account/", "gateway"] {
        let r = s.get(&format!("/api/v1/export?type={bad}"), &s.admin).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], "type");
    }
    let ghost = s.get("/api/v1/export?name=ghost", &s.admin).await;
    assert_eq!(ghost.status, 404, "{:?}", ghost.body);
    assert_eq!(s.get("/api/v1/export?type=team&name=ml-app", &s.admin).await.status, 404);
    s.set_role_permissions("member", &[]).await;
    let bob_token = s.token_for("bob@example.com").await;
    let hidden = s.get("/api/v1/export?name=openai-main", &bob_token).await;
    assert_eq!(hidden.status, 404, "{:?}", hidden.body);
    assert_eq!(hidden.message(), ghost.message());
    let own = s.get("/api/v1/export?name=bob@example.com", &bob_token).await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    assert_eq!(exported_types(own.body.as_str().unwrap()), ["user"]);
    assert_eq!(s.get("/api/v1/export?colour=red", &s.admin).await.status, 400);
    let doc = s.get("/openapi.json", &s.admin).await.body;
    let params: Vec<&str> = doc["paths"]["/api/v1/export"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["type", "name"]);
}

#[tokio::test]
async fn bad_resource_manifests_are_rejected_whole() {
    let s = TestServer::start().await;
    s.team("ml", &[], &[]).await;
    let cases = [
        ("type: provider-account/openai\nname: a\nmodels: [{name: m, model_id: x, types: [chat]}]\ncollaborators: [{subject: team:ghosts, role: provider-account-user}]\n", "team:ghosts"),
        ("type: provider-account/openai\nname: a\nmodels: [{name: m, model_id: x, types: [chat]}]\ncollaborators: [{subject: team:ml, role: mcp-server-user}]\n", "collaborators[0]"),
        ("type: provider-account/openai\nname: a\nmodels: [{name: m, model_id: x, types: [chat], colour: red}]\n", "colour"),
        ("type: provider-account/gemini\nname: a\n", "provider-account/gemini"),
        ("type: gateway-rate-limiting-config\nname: l\nrules: [{id: r, when: {models: [nope/m]}, limit_to: 1, unit: requests_per_minute}]\n", "nope/m"),
        ("type: mcp-server/remote\nname: m\nurl: ftp://x\n", "url"),
    ];
    for (body, needle) in cases {
        let full = format!("type: team\nname: good-team\n---\n{body}");
        let r = apply(&s, &full, false).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert!(
            r.message().contains(needle) || r.body["error"]["param"].as_str().unwrap_or("").contains(needle),
            "{body}: {:?}",
            r.body
        );
        assert!(r.message().contains("document 2"), "{body}: {}", r.message());
        assert_eq!(s.get("/api/v1/teams/good-team", &s.admin).await.status, 404, "nothing applied for {body}");
    }
}
