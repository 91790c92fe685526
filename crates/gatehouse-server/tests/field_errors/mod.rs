//! Invalid requests list every field at fault (`errors`), the first also in `param` and `message`.

use serde_json::{json, Value};

use crate::common::{Resp, TestServer};

/// The `param` of every listed field error, in order.
fn params(r: &Resp) -> Vec<String> {
    r.body["error"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors list: {:?}", r.body))
        .iter()
        .map(|e| e["param"].as_str().unwrap().to_owned())
        .collect()
}

/// A 400 `invalid_field` whose `param` is the first listed field and whose list is `want`.
fn all_listed(r: &Resp, want: &[&str]) {
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "invalid_field", "{:?}", r.body);
    assert_eq!(params(r), want, "{:?}", r.body);
    assert_eq!(r.body["error"]["param"], want[0], "{:?}", r.body);
    let first = &r.body["error"]["errors"][0];
    assert!(!first["message"].as_str().unwrap().is_empty());
    assert_eq!(r.message(), format!("{}: {}", want[0], first["message"].as_str().unwrap()));
}

#[tokio::test]
async fn users_teams_roles_and_virtual_accounts_list_every_bad_field() {
    let s = TestServer::start().await;
    let r = s.post("/api/v1/users", &s.admin, json!({"email": "not an email", "role": "Bad Role!"})).await;
    all_listed(&r, &["email", "role"]);

    let r = s
        .post("/api/v1/teams", &s.admin, json!({"name": "Bad Name", "members": ["nope"], "managers": ["also nope"]}))
        .await;
    all_listed(&r, &["name", "managers", "members"]);

    let r = s
        .post(
            "/api/v1/roles",
            &s.admin,
            json!({"name": "x y", "display_name": " ", "description": "", "permissions": ["user:list", "no:such", "x"]}),
        )
        .await;
    all_listed(&r, &["name", "display_name", "description", "permissions[1]", "permissions[2]"]);

    let r = s
        .post(
            "/api/v1/virtual-accounts",
            &s.admin,
            json!({"name": "Bad VA", "owner_team": "also bad", "expires_at": "1800-01-01T00:00:00Z"}),
        )
        .await;
    all_listed(&r, &["name", "owner_team", "expires_at"]);
    // Nothing was created by any of them.
    assert_eq!(s.get("/api/v1/teams", &s.admin).await.body, json!([]));
}

#[tokio::test]
async fn one_bad_field_is_a_list_of_one_and_a_good_request_passes() {
    let s = TestServer::start().await;
    let r = s.post("/api/v1/users", &s.admin, json!({"email": "bad", "role": "member"})).await;
    all_listed(&r, &["email"]);
    let r = s.post("/api/v1/users", &s.admin, json!({"email": "ok@example.com", "role": "member"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // An error that is not about a field carries no list.
    let r = s.post("/api/v1/users", &s.admin, json!({"email": "ok@example.com", "role": "member"})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"]["errors"], Value::Null);
}

#[tokio::test]
async fn token_rotation_lists_every_bad_field() {
    let s = TestServer::start().await;
    s.team("ml", &[], &[]).await;
    let r = s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "app", "owner_team": "ml"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = s
        .post(
            "/api/v1/virtual-accounts/app/rotate",
            &s.admin,
            json!({"name": "a\u{7}b", "grace_period_seconds": -5, "expires_at": "2300-01-01T00:00:00Z"}),
        )
        .await;
    all_listed(&r, &["name", "grace_period_seconds", "expires_at"]);
    let r = s
        .post(
            "/api/v1/personal-access-tokens",
            &s.admin,
            json!({"name": "x\u{1}", "expires_at": "1800-01-01T00:00:00Z"}),
        )
        .await;
    all_listed(&r, &["name", "expires_at"]);
    // Nothing was issued.
    assert_eq!(s.get("/api/v1/virtual-accounts/app/tokens", &s.admin).await.body, json!([]));
}

#[tokio::test]
async fn gateway_controls_list_every_bad_rule_and_apply_places_them_in_their_document() {
    let s = TestServer::start().await;
    let control = json!({
        "type": "gateway-rate-limiting-config",
        "name": "limits",
        "rules": [
            {"id": "a", "limit_to": 0, "unit": "requests_per_minute"},
            {"id": "b", "limit_to": 5, "unit": "requests_per_minute", "rate_limit_applies_per": ["user", "model", "virtualaccount"]},
            {"id": "a", "limit_to": 5, "unit": "requests_per_minute", "when": {"models": ["nowhere/none"]}},
        ],
    });
    let r = s.put("/api/v1/gateway-controls/limits", &s.admin, control.clone()).await;
    all_listed(&r, &["rules[2].when.models[0]", "rules[0].limit_to", "rules[1].rate_limit_applies_per", "rules[2].id"]);
    assert_eq!(s.get("/api/v1/gateway-controls/limits", &s.admin).await.status, 404);

    // In a multi-document apply, each is placed in its document.
    let role = json!({"type": "role", "name": "x y", "display_name": "", "description": "d", "permissions": []});
    let body = format!("{}\n---\n{}", serde_json::to_string(&role).unwrap(), serde_json::to_string(&control).unwrap());
    let r = crate::common::apply::apply(&s, &body, true).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let got = params(&r);
    assert_eq!(got[0], r.body["error"]["param"].as_str().unwrap());
    assert!(got.contains(&"document 1: display_name".to_owned()), "{got:?}");
    assert!(got.iter().all(|p| p.starts_with("document ")), "{got:?}");
}

#[tokio::test]
async fn the_openapi_document_describes_the_list() {
    let s = TestServer::start().await;
    let doc = s.get("/openapi.json", &s.admin).await.body;
    let schemas = &doc["components"]["schemas"];
    let errors = &schemas["ErrorDetail"]["properties"]["errors"];
    assert!(errors.to_string().contains("FieldErrorOut"), "{errors}");
    let item = &schemas["FieldErrorOut"];
    assert_eq!(item["required"], json!(["param", "message"]), "{item}");
}

#[tokio::test]
async fn the_catalogue_marks_the_permissions_of_kinds_not_built_yet() {
    let s = TestServer::start().await;
    let list = s.get("/api/v1/permissions", &s.admin).await.body;
    let exists = |id: &str| list.as_array().unwrap().iter().find(|p| p["id"] == id).unwrap()["resource_exists"].clone();
    assert_eq!(exists("team:manage"), json!(true));
    assert_eq!(exists("gateway-controls:list"), json!(true));
    assert_eq!(exists("cluster:create"), json!(false));
    assert_eq!(exists("secret-group:read-data"), json!(false));
}
