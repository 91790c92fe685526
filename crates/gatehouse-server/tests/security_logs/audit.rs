//! No secret, nor a hash or a prefix of one, in the audit log: credentials, token secrets, passwords.

use serde_json::json;
use sha2::Digest;

use crate::common::TestServer;

/// Every 12-hex-digit window of the SHA-256 of `secret`: a fingerprint of it in any of the forms a log might
/// carry (a prefix, or a slice of the digest).
fn fingerprints(secret: &str) -> Vec<String> {
    let d = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    (0..=d.len() - 12).map(|i| d[i..i + 12].to_owned()).collect()
}

#[tokio::test]
async fn the_audit_log_holds_no_secret_nor_any_fingerprint_of_one() {
    let s = TestServer::start().await;
    let account = |key: &str| {
        json!({"type": "openai", "name": "oa", "auth": {"api_key": key},
               "models": [{"name": "gpt", "model_id": "gpt-4o", "types": ["chat"]}]})
    };
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, account("sk-first-key")).await.status, 201);
    assert_eq!(s.put("/api/v1/provider-accounts/oa", &s.admin, account("sk-second-key")).await.status, 200);
    let mut unchanged = account("x");
    unchanged.as_object_mut().unwrap().remove("auth");
    unchanged["models"][0]["model_id"] = json!("gpt-4o-2024");
    let r = s.put("/api/v1/provider-accounts/oa", &s.admin, unchanged).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mcp = json!({"name": "tools", "url": "https://mcp.example.com/sse",
                     "auth": {"type": "bearer", "token": "mcp-secret-token"}});
    assert_eq!(s.post("/api/v1/mcp-servers", &s.admin, mcp).await.status, 201);
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &[], &[]).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "app", "owner_team": "ml"})).await;
    let va = s.post("/api/v1/virtual-accounts/app/tokens", &s.admin, json!({})).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = s.post("/api/v1/virtual-accounts/app/rotate", &s.admin, json!({"grace_period_seconds": 5})).await;
    let rotated = rotated.body["token"].as_str().unwrap().to_owned();

    let events = s.get("/api/v1/audit-events?limit=1000", &s.admin).await.body;
    let text = events.to_string();
    let mut secrets: Vec<String> = vec![
        "sk-first-key".into(),
        "sk-second-key".into(),
        "mcp-secret-token".into(),
        "password-123".into(),
        bob.clone(),
        va.clone(),
        rotated.clone(),
    ];
    // A token's secret part alone, too (`gh_va_<id>_<secret>`).
    for t in [&bob, &va, &rotated] {
        secrets.push(t.rsplit('_').next().unwrap().to_owned());
    }
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "{secret} is in the audit log");
        for f in fingerprints(secret) {
            assert!(!text.contains(&f), "a fingerprint of {secret} ({f}) is in the audit log");
        }
    }
    // What the log says of credentials: whether they are set and that they changed, nothing about them.
    let auth_values: Vec<&serde_json::Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object"] == "provider-account:oa" || e["object"] == "mcp-server:tools")
        .filter_map(|e| e["changes"].get("auth"))
        .collect();
    assert!(!auth_values.is_empty(), "{events}");
    for v in auth_values {
        let ok = match v {
            serde_json::Value::String(s) => ["set", "none", "changed"].contains(&s.as_str()),
            serde_json::Value::Object(o) => {
                o.values().all(|x| ["set", "none", "changed"].contains(&x.as_str().unwrap_or("?")))
            }
            _ => false,
        };
        assert!(ok, "auth recorded as {v}");
    }
    // The key's replacement is still visible as a change.
    let update =
        events["events"].as_array().unwrap().iter().rev().find(|e| e["action"] == "provider-account.update").unwrap();
    assert_eq!(update["changes"]["auth"], json!({"from": "set", "to": "changed"}), "{update}");
}
