//! The audit log by part of the actor, of the object and of the action, ignoring case.

use serde_json::{json, Value};

use crate::common::TestServer;

fn events(body: &Value) -> Vec<(String, String, String)> {
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let f = |k: &str| e[k].as_str().unwrap().to_owned();
            (f("actor"), f("action"), f("object"))
        })
        .collect()
}

#[tokio::test]
async fn audit_filters_take_part_of_a_name_or_an_action_ignoring_case() {
    let s = TestServer::start().await;
    let dana = s.user("dana@example.com", "admin").await;
    s.team("ml-platform", &[], &[]).await;
    let r = s.post("/api/v1/teams", &dana, json!({"name": "web", "managers": [], "members": []})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(s.delete("/api/v1/teams/web", &dana).await.status, 204);

    let get = |q: &str| {
        let s = &s;
        let q = q.to_owned();
        async move {
            let r = s.get(&format!("/api/v1/audit-events?limit=1000&{q}"), &s.admin).await;
            assert_eq!(r.status, 200, "{q}: {:?}", r.body);
            events(&r.body)
        }
    };
    let by_dana = get("actor_contains=DANA").await;
    assert!(!by_dana.is_empty() && by_dana.iter().all(|(actor, _, _)| actor == "user:dana@example.com"), "{by_dana:?}");
    assert_eq!(
        get("actor_contains=DANA&action=team.").await,
        [
            ("user:dana@example.com".into(), "team.delete".into(), "team:web".into()),
            ("user:dana@example.com".into(), "team.create".into(), "team:web".into()),
        ]
    );
    let platform = get("object_contains=Platform").await;
    assert_eq!(platform, [("user:admin@example.com".into(), "team.create".into(), "team:ml-platform".into())]);
    // The object is matched as `<kind>:<name>`.
    assert_eq!(get("object_contains=team:ml").await.len(), 1);
    assert_eq!(get("action=team.create").await.len(), 2);
    assert_eq!(get("action=DELETE").await, [("user:dana@example.com".into(), "team.delete".into(), "team:web".into())]);
    assert_eq!(get("action=team.&actor_contains=admin@").await.len(), 1);
    // `_` and `%` are themselves, not wildcards.
    assert!(get("object_contains=ml_platform").await.is_empty());
    assert!(get("action=%25").await.is_empty());
    // The exact filters still work beside them.
    assert_eq!(get("actor=user:dana@example.com&object_contains=web").await.len(), 2);

    for (q, param) in [("actor_contains=", "actor_contains"), ("action=%20", "action")] {
        let r = s.get(&format!("/api/v1/audit-events?{q}"), &s.admin).await;
        assert_eq!(r.status, 400, "{q}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], param, "{q}");
    }
    let long = "x".repeat(300);
    let r = s.get(&format!("/api/v1/audit-events?object_contains={long}"), &s.admin).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("object_contains")));

    // Still for admins only.
    let member = s.user("eve@example.com", "member").await;
    assert_eq!(s.get("/api/v1/audit-events?actor_contains=dana", &member).await.status, 403);
    let doc = s.get("/openapi.json", &s.admin).await.body;
    let names: Vec<&str> = doc["paths"]["/api/v1/audit-events"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for want in ["actor_contains", "object_contains", "action"] {
        assert!(names.contains(&want), "{names:?}");
    }
}
