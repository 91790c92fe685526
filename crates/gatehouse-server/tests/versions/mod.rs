//! Issue #15, no lost update: every collection item carries a version (`ETag`), writes honour `If-Match`
//! (412 when stale), a read can be written back as it is, and `PATCH` takes a JSON merge patch.

mod race;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::resources::openai_account;
use crate::common::{Resp, TestServer};

/// A request with the headers these tests need (`If-Match`, a content type of their choosing).
pub async fn send(
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    if_match: Option<&str>,
    body: Option<(&str, Value)>,
) -> Resp {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}")).bearer_auth(token);
    if let Some(m) = if_match {
        req = req.header("if-match", m);
    }
    if let Some((content_type, b)) = body {
        req = req.header("content-type", content_type).body(serde_json::to_vec(&b).unwrap());
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Resp { status, body, headers }
}

pub fn etag(r: &Resp) -> String {
    r.headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no ETag in {:?}", r.headers))
        .to_owned()
}

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";

struct Case {
    coll: &'static str,
    key: &'static str,
    create: Value,
    /// A merge patch that changes `field`.
    edit: Value,
    field: &'static str,
    /// A merge patch whose result a `PUT` refuses.
    invalid: Value,
}

fn merged(mut target: Value, patch: &Value) -> Value {
    gatehouse_server::versioning::merge_patch::apply(&mut target, patch);
    target
}

fn cases() -> Vec<Case> {
    let rule = |limit: u64| json!([{"id": "r", "when": {"subjects": [], "models": [], "metadata": {}}, "limit_to": limit, "unit": "requests_per_minute", "rate_limit_applies_per": ["user"]}]);
    vec![
        Case {
            coll: "users",
            key: "u1@example.com",
            create: json!({"email": "u1@example.com", "role": "member"}),
            edit: json!({"display_name": "Someone Else"}),
            field: "display_name",
            invalid: json!({"role": "no-such-role"}),
        },
        Case {
            coll: "teams",
            key: "t2",
            create: json!({"name": "t2", "description": "first", "members": ["admin@example.com"]}),
            edit: json!({"description": "second"}),
            field: "description",
            invalid: json!({"members": ["not an email"]}),
        },
        Case {
            coll: "roles",
            key: "r1",
            create: json!({"name": "r1", "display_name": "R1", "description": "first", "permissions": ["team:read"]}),
            edit: json!({"description": "second"}),
            field: "description",
            invalid: json!({"permissions": ["nope:nothing"]}),
        },
        Case {
            coll: "virtual-accounts",
            key: "va1",
            create: json!({"name": "va1", "owner_team": "t1"}),
            edit: json!({"description": "second"}),
            field: "description",
            invalid: json!({"owner_team": "Not A Name!"}),
        },
        Case {
            coll: "provider-accounts",
            key: "pa1",
            create: openai_account("pa1", json!([{"subject": "team:t1", "role": "provider-account-user"}])),
            edit: json!({"models": [{"name": "gpt-4o", "model_id": "gpt-4o-2024-08-06", "types": ["chat"]}]}),
            field: "models",
            invalid: json!({"models": [{"name": "gpt-4o", "model_id": "gpt-4o", "types": ["nope"]}]}),
        },
        Case {
            coll: "mcp-servers",
            key: "m1",
            create: json!({"name": "m1", "url": "https://mcp.example.com/a", "auth": {"type": "bearer", "token": "ghp_SECRET"}}),
            edit: json!({"collaborators": [{"subject": "team:t1", "role": "mcp-server-user"}]}),
            field: "collaborators",
            invalid: json!({"collaborators": [{"subject": "team:t1", "role": "no-such-role"}]}),
        },
        Case {
            coll: "agents",
            key: "ag1",
            create: json!({"name": "ag1", "description": "first", "definition": {"steps": [1, 2]}}),
            edit: json!({"description": "second"}),
            field: "description",
            invalid: json!({"description": 5}),
        },
        Case {
            coll: "gateway-controls",
            key: "lim1",
            create: json!({"type": "gateway-rate-limiting-config", "name": "lim1", "rules": rule(100)}),
            edit: json!({"rules": rule(200)}),
            field: "rules",
            invalid: json!({"rules": [{"id": "r", "when": {}, "limit_to": 0, "unit": "requests_per_minute"}]}),
        },
    ]
}

async fn exercise(s: &TestServer, c: &Case) {
    let a = s.admin.as_str();
    let (list, item) = (format!("/api/v1/{}", c.coll), format!("/api/v1/{}/{}", c.coll, c.key));
    let ctx = c.coll;
    let created = s.post(&list, a, c.create.clone()).await;
    assert_eq!(created.status, 201, "{ctx}: {:?}", created.body);
    assert_eq!(created.body["etag"], etag(&created), "{ctx}: a creation answers with its version");

    // GET: a strong, quoted ETag, the same as the body's and the list's.
    let got = s.get(&item, a).await;
    assert_eq!(got.status, 200, "{ctx}: {:?}", got.body);
    let e1 = etag(&got);
    assert!(e1.starts_with('"') && e1.ends_with('"') && e1.len() > 2, "{ctx}: {e1} is a strong tag");
    assert_eq!(got.body["etag"], e1, "{ctx}");
    assert_eq!(e1, etag(&created), "{ctx}: reading does not change the version");
    let listed = s.get(&list, a).await;
    let in_list = listed.body.as_array().unwrap().iter().find(|o| o["etag"] == e1);
    assert!(in_list.is_some(), "{ctx}: the list carries each item's version: {:?}", listed.body);

    // A read written back as it is, read-only fields and all: accepted, and nothing changes.
    let back = send(&s.base, Method::PUT, &item, a, None, Some((JSON, got.body.clone()))).await;
    assert_eq!(back.status, 200, "{ctx}: a GET body PUT back: {:?}", back.body);
    assert_eq!(etag(&back), e1, "{ctx}: an unchanged object keeps its version");
    let back = send(&s.base, Method::PUT, &item, a, Some(&e1), Some((JSON, got.body.clone()))).await;
    assert_eq!(back.status, 200, "{ctx}: the same with its If-Match: {:?}", back.body);
    // Only the known read-only fields: any other unknown field is still refused, by name.
    let mut unknown = got.body.clone();
    unknown["bogus"] = json!(1);
    let r = s.put(&item, a, unknown).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("bogus")), "{ctx}: {:?}", r.body);

    // PATCH with the current version: merged, and a new version.
    let p = send(&s.base, Method::PATCH, &item, a, Some(&e1), Some((MERGE, c.edit.clone()))).await;
    assert_eq!(p.status, 200, "{ctx}: {:?}", p.body);
    let e2 = etag(&p);
    assert_ne!(e2, e1, "{ctx}: a change makes a new version");
    assert_eq!(p.body[c.field], c.edit[c.field], "{ctx}: the patch was applied");
    for (k, v) in got.body.as_object().unwrap() {
        if k != c.field && k != "etag" {
            assert_eq!(&p.body[k], v, "{ctx}: {k} is left as it was by a patch that does not name it");
        }
    }
    assert_eq!(etag(&s.get(&item, a).await), e2, "{ctx}");

    // The old version is stale: a PUT, PATCH or DELETE with it is refused, naming what changed.
    let stale = send(&s.base, Method::PUT, &item, a, Some(&e1), Some((JSON, got.body.clone()))).await;
    assert_eq!(stale.status, 412, "{ctx}: {:?}", stale.body);
    assert_eq!(stale.body["error"]["code"], "precondition_failed", "{ctx}");
    let msg = stale.message();
    assert!(msg.contains(&e2) && msg.contains(c.field) && msg.contains(c.key), "{ctx}: {msg}");
    assert_eq!(etag(&stale), e2, "{ctx}: the 412 carries the current version");
    let stale = send(&s.base, Method::PATCH, &item, a, Some(&e1), Some((MERGE, c.edit.clone()))).await;
    assert_eq!(stale.status, 412, "{ctx}: {:?}", stale.body);
    let stale = send(&s.base, Method::DELETE, &item, a, Some(&e1), None).await;
    assert_eq!(stale.status, 412, "{ctx}: {:?}", stale.body);
    let now = s.get(&item, a).await;
    assert_eq!((now.status.as_u16(), etag(&now)), (200, e2.clone()), "{ctx}: refused writes changed nothing");

    // A patch is checked exactly as a PUT of its result: the same error.
    let current = s.get(&item, a).await.body;
    let as_put = send(&s.base, Method::PUT, &item, a, None, Some((JSON, merged(current, &c.invalid)))).await;
    let as_patch = send(&s.base, Method::PATCH, &item, a, Some(&e2), Some((MERGE, c.invalid.clone()))).await;
    assert_eq!(as_put.status, 400, "{ctx}: {:?}", as_put.body);
    assert_eq!(as_patch.body, as_put.body, "{ctx}: PATCH and PUT refuse alike");
    assert_eq!(as_patch.status, 400, "{ctx}");

    // Content types: application/json is a merge patch too; anything else is a 415.
    let p = send(&s.base, Method::PATCH, &item, a, None, Some((JSON, json!({})))).await;
    assert_eq!((p.status.as_u16(), etag(&p)), (200, e2.clone()), "{ctx}: an empty patch changes nothing: {:?}", p.body);
    let p = send(&s.base, Method::PATCH, &item, a, None, Some(("text/plain", c.edit.clone()))).await;
    assert_eq!(p.status, 415, "{ctx}: {:?}", p.body);
    assert_eq!(p.body["error"]["code"], "unsupported_media_type", "{ctx}");

    // If-Match: * asks only that it exists.
    let star = send(&s.base, Method::PUT, &item, a, Some("*"), Some((JSON, now.body.clone()))).await;
    assert_eq!(star.status, 200, "{ctx}: {:?}", star.body);
    let gone = send(&s.base, Method::DELETE, &item, a, Some(&e2), None).await;
    assert_eq!(gone.status, 204, "{ctx}: {:?}", gone.body);

    // Gone: every conditional write is a 412; without If-Match, as before.
    for (m, body) in [
        (Method::PUT, Some((JSON, now.body.clone()))),
        (Method::PATCH, Some((MERGE, c.edit.clone()))),
        (Method::DELETE, None),
    ] {
        for cond in ["*", e2.as_str()] {
            let r = send(&s.base, m.clone(), &item, a, Some(cond), body.clone()).await;
            assert_eq!(r.status, 412, "{ctx}: {m} If-Match {cond} on a missing object: {:?}", r.body);
            assert_eq!(r.body["error"]["code"], "precondition_failed", "{ctx}");
            assert!(r.message().contains("does not exist"), "{ctx}: {}", r.message());
        }
    }
    let r = s.put(&item, a, now.body.clone()).await;
    assert_eq!(r.status, 404, "{ctx}: {:?}", r.body);
}

#[tokio::test]
async fn every_collection_item_is_versioned_and_written_only_at_the_version_read() {
    let s = TestServer::start().await;
    s.team("t1", &[], &[]).await;
    for c in cases() {
        exercise(&s, &c).await;
    }
}

#[tokio::test]
async fn built_in_roles_read_back_as_they_are() {
    let s = TestServer::start().await;
    for name in ["member", "team-manager"] {
        let got = s.get(&format!("/api/v1/roles/{name}"), &s.admin).await;
        assert_eq!(got.body["builtin"], true);
        let back = send(
            &s.base,
            Method::PUT,
            &format!("/api/v1/roles/{name}"),
            &s.admin,
            Some(&etag(&got)),
            Some((JSON, got.body.clone())),
        )
        .await;
        assert_eq!(back.status, 200, "{name}: {:?}", back.body);
        assert_eq!(etag(&back), etag(&got));
    }
}

#[tokio::test]
async fn if_match_must_be_well_formed_and_weak_tags_never_match() {
    let s = TestServer::start().await;
    s.team("t1", &[], &[]).await;
    let got = s.get("/api/v1/teams/t1", &s.admin).await;
    let e = etag(&got);
    let r =
        send(&s.base, Method::PUT, "/api/v1/teams/t1", &s.admin, Some("not-quoted"), Some((JSON, got.body.clone())))
            .await;
    assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("If-Match")), "{:?}", r.body);
    let weak = format!("W/{e}");
    let r = send(&s.base, Method::PUT, "/api/v1/teams/t1", &s.admin, Some(&weak), Some((JSON, got.body.clone()))).await;
    assert_eq!(r.status, 412, "a weak tag never matches: {:?}", r.body);
    let list = format!("\"nope\", {e}");
    let r = send(&s.base, Method::PUT, "/api/v1/teams/t1", &s.admin, Some(&list), Some((JSON, got.body.clone()))).await;
    assert_eq!(r.status, 200, "one tag of a list matching is enough: {:?}", r.body);
}

/// Replacing a provider account's credentials (which no read shows) is a change: a client holding the
/// earlier version cannot overwrite the new credentials unknowingly.
#[tokio::test]
async fn new_credentials_make_a_new_version() {
    let s = TestServer::start().await;
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, openai_account("pa", json!([]))).await.status, 201);
    let got = s.get("/api/v1/provider-accounts/pa", &s.admin).await;
    let mut rotated = got.body.clone();
    rotated["auth"] = json!({"api_key": "sk-another-key"});
    let r = s.put("/api/v1/provider-accounts/pa", &s.admin, rotated.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_ne!(etag(&r), etag(&got), "new credentials, new version");
    assert!(!r.message().contains("sk-another-key") && !r.body.to_string().contains("sk-another-key"));
    let stale =
        send(&s.base, Method::PUT, "/api/v1/provider-accounts/pa", &s.admin, Some(&etag(&got)), Some((JSON, rotated)))
            .await;
    assert_eq!(stale.status, 412, "{:?}", stale.body);
}

/// A 412 tells a caller who may not read the object nothing of its current state.
#[tokio::test]
async fn a_stale_write_reveals_the_current_version_only_to_a_reader() {
    let s = TestServer::start().await;
    s.role("team-writer", &["team:manage"]).await;
    let w = s.user("w@example.com", "team-writer").await;
    s.team("t1", &[], &[]).await;
    let got = s.get("/api/v1/teams/t1", &s.admin).await;
    assert_eq!(s.get("/api/v1/teams/t1", &w).await.status, 403, "the writer may not read teams");
    let r = s.put("/api/v1/teams/t1", &s.admin, json!({"name": "t1", "description": "changed"})).await;
    let current = etag(&r);
    let stale =
        send(&s.base, Method::PUT, "/api/v1/teams/t1", &w, Some(&etag(&got)), Some((JSON, got.body.clone()))).await;
    assert_eq!(stale.status, 412, "{:?}", stale.body);
    assert!(!stale.message().contains(&current) && !stale.message().contains("description"), "{}", stale.message());
    assert!(stale.headers.get("etag").is_none());
}

/// The OpenAPI document describes versions on every collection item: `ETag` on reads, `If-Match` and 412
/// on writes, and `PATCH` with a merge patch.
#[tokio::test]
async fn the_openapi_document_describes_versions_and_patch() {
    let s = TestServer::start().await;
    let doc = s.get("/openapi.json", &s.admin).await.body;
    for c in cases() {
        let key = if c.coll == "users" { "{email}" } else { "{name}" };
        let path = format!("/api/v1/{}/{key}", c.coll);
        let item = &doc["paths"][&path];
        assert!(item["get"]["responses"]["200"]["headers"]["ETag"].is_object(), "{path}: GET has no ETag: {item}");
        for m in ["put", "patch", "delete"] {
            let params = item[m]["parameters"].as_array().unwrap_or_else(|| panic!("{path} {m}: no parameters"));
            assert!(params.iter().any(|p| p["name"] == "If-Match" && p["in"] == "header"), "{path} {m}: no If-Match");
            assert!(item[m]["responses"]["412"].is_object(), "{path} {m}: no 412");
        }
        assert!(
            item["patch"]["requestBody"]["content"]["application/merge-patch+json"].is_object(),
            "{path}: PATCH takes a merge patch: {}",
            item["patch"]
        );
        assert!(item["patch"]["responses"]["415"].is_object(), "{path}");
    }
}
