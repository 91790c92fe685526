//! Processes sharing a database, and state across restarts.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn bootstrap_against_a_running_servers_database_is_picked_up() {
    let cfg =
        gatehouse_server::ServerConfig { poll_interval: std::time::Duration::from_millis(100), ..Default::default() };
    let s = TestServer::start_with(cfg).await;
    // Another process demotes nobody but adds a user directly in the store, as `bootstrap` would.
    let store = gatehouse_store::open(&s.db_url).await.unwrap();
    let err = gatehouse_server::bootstrap::bootstrap_admin(
        store.as_ref(),
        "second@example.com",
        None,
        s.clock.as_ref(),
        &gatehouse_server::OsEntropy,
    )
    .await;
    assert!(err.unwrap_err().to_string().contains("already exists"));
    let user = gatehouse_core::User {
        email: gatehouse_core::Email::new("outside@example.com").unwrap(),
        display_name: "o".into(),
        role: gatehouse_core::RoleName::new("member").unwrap(),
        active: true,
    };
    store.commit(&[gatehouse_core::Change::PutUser(user)], &[]).await.unwrap();
    let mut seen = false;
    for _ in 0..50 {
        if s.get("/api/v1/users/outside@example.com", &s.admin).await.status == 200 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "the server never saw the other process's write");
}

#[tokio::test]
async fn state_survives_a_restart_on_every_backend() {
    for db in gatehouse_store::testing::all().await.unwrap() {
        let label = db.label;
        let s = TestServer::start_on(db, Default::default()).await;
        s.role("auditor", &["user:list", "team:read"]).await;
        let bob = s.user("bob@example.com", "auditor").await;
        s.team("ml", &["bob@example.com"], &[]).await;
        s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "checkout", "owner_team": "ml"})).await;
        let va = s.post("/api/v1/virtual-accounts/checkout/tokens", &s.admin, json!({})).await.body["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let rotated =
            s.post("/api/v1/virtual-accounts/checkout/rotate", &s.admin, json!({"grace_period_seconds": 60})).await;
        assert_eq!(rotated.status, 201, "{label}");
        let gone = s.post("/api/v1/personal-access-tokens", &bob, json!({"name": "gone"})).await.body;
        s.delete(&format!("/api/v1/personal-access-tokens/{}", gone["id"].as_str().unwrap()), &bob).await;
        s.get("/api/v1/me", &bob).await;
        s.app.flush_last_used().await.unwrap();

        // A second process on the same database sees exactly the same graph.
        let store = gatehouse_store::open(&s.db_url).await.unwrap();
        let again = gatehouse_server::AppState::new(
            store,
            s.clock.clone(),
            std::sync::Arc::new(gatehouse_server::OsEntropy),
            Default::default(),
            s.app.key.clone(),
        )
        .await
        .unwrap();
        let (a, b) = (s.app.snapshot().to_world(), again.snapshot().to_world());
        assert_eq!(a.roles, b.roles, "{label}");
        assert_eq!(a.users, b.users, "{label}");
        assert_eq!(a.teams, b.teams, "{label}");
        assert_eq!(a.virtual_accounts, b.virtual_accounts, "{label}");
        assert_eq!(a.tokens, b.tokens, "{label}");
        let now = s.now();
        assert!(again.snapshot().authenticate(&bob, now).is_ok(), "{label}");
        assert!(again.snapshot().authenticate(&va, now).is_ok(), "{label}: within the grace period");
        assert!(
            again.snapshot().authenticate(gone["token"].as_str().unwrap(), now).is_err(),
            "{label}: revoked stays revoked"
        );
        let bob_id = &bob[7..23];
        let used = again.last_used(&[gatehouse_core::TokenId::new(bob_id).unwrap()]).await.unwrap();
        assert_eq!(used.len(), 1, "{label}: last use was recorded");
    }
}
