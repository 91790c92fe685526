//! Client numbers never reach arithmetic unchecked, and client times outside what the databases store are a
//! 400 naming the field, not a 500.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn a_huge_grace_period_is_a_400_not_a_panic() {
    let s = TestServer::start().await;
    s.team("ml", &[], &[]).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "checkout", "owner_team": "ml"})).await;
    for bad in [json!(1i64 << 62), json!(i64::MAX), json!(i64::MIN), json!(-(1i64 << 62))] {
        let r =
            s.post("/api/v1/virtual-accounts/checkout/rotate", &s.admin, json!({"grace_period_seconds": bad})).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], "grace_period_seconds", "{bad}");
    }
    // The server is still there, and the account still rotates.
    let r = s.post("/api/v1/virtual-accounts/checkout/rotate", &s.admin, json!({"grace_period_seconds": 60})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test]
async fn expiries_outside_the_storable_range_are_a_400_naming_the_field() {
    let s = TestServer::start().await;
    s.team("ml", &[], &[]).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "checkout", "owner_team": "ml"})).await;
    for when in ["9999-12-31T00:00:00Z", "2262-06-01T00:00:00Z", "3000-01-01T00:00:00Z"] {
        let cases = [
            ("/api/v1/virtual-accounts", json!({"name": "later", "owner_team": "ml", "expires_at": when})),
            ("/api/v1/personal-access-tokens", json!({"name": "x", "expires_at": when})),
            ("/api/v1/virtual-accounts/checkout/tokens", json!({"expires_at": when})),
            ("/api/v1/virtual-accounts/checkout/rotate", json!({"grace_period_seconds": 0, "expires_at": when})),
        ];
        for (path, body) in cases {
            let r = s.post(path, &s.admin, body).await;
            assert_eq!(r.status, 400, "{path} {when}: {:?}", r.body);
            assert_eq!(r.body["error"]["param"], "expires_at", "{path} {when}");
        }
        let put = json!({"name": "checkout", "owner_team": "ml", "expires_at": when});
        let r = s.put("/api/v1/virtual-accounts/checkout", &s.admin, put).await;
        assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("expires_at")), "{:?}", r.body);
        let manifest = format!("type: virtual-account\nname: applied\nowner_team: ml\nexpires_at: {when}\n");
        let r = s.raw(reqwest::Method::PUT, "/api/v1/apply", Some(&s.admin), Some(manifest.into_bytes())).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert!(r.body["error"]["param"].as_str().unwrap_or("").ends_with("expires_at"), "{:?}", r.body);
    }
    // Nothing was created or changed.
    assert_eq!(s.get("/api/v1/virtual-accounts/later", &s.admin).await.status, 404);
    assert_eq!(s.get("/api/v1/virtual-accounts/checkout", &s.admin).await.body["expires_at"], json!(null));
}

#[tokio::test]
async fn query_times_outside_the_storable_range_are_a_400_naming_the_field() {
    let s = TestServer::start().await;
    for path in ["/api/v1/request-logs", "/api/v1/usage", "/api/v1/usage/series?bucket=day&", "/api/v1/audit-events"] {
        for (param, when) in [
            ("since", "1000-01-01T00:00:00Z"),
            ("since", "9999-01-01T00:00:00Z"),
            ("until", "9999-01-01T00:00:00Z"),
            ("until", "1600-01-01T00:00:00Z"),
        ] {
            let sep = if path.ends_with('&') { "" } else { "?" };
            let url = format!("{path}{sep}{param}={when}");
            let r = s.get(&url, &s.admin).await;
            assert_eq!(r.status, 400, "{url}: {:?}", r.body);
            assert_eq!(r.body["error"]["param"], param, "{url}");
        }
    }
}
