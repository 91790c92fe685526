//! No privilege escalation: managers of roles, users and teams cannot hand out more than they hold.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn role_managers_cannot_grant_permissions_they_lack() {
    let s = TestServer::start().await;
    s.role("role-admin", &["role:manage", "role:list", "user:list"]).await;
    let ra = s.user("ra@example.com", "role-admin").await;
    let r = s
        .post(
            "/api/v1/roles",
            &ra,
            json!({"name": "sneaky", "display_name": "S", "description": "d", "permissions": ["user:manage"]}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "would_escalate");
    assert!(r.message().contains("user:manage"), "{}", r.message());
    // Not even into their own role, nor into member or team-manager.
    for role in ["role-admin", "member", "team-manager"] {
        let r = s
            .put(&format!("/api/v1/roles/{role}"), &ra, json!({"name": role, "display_name": "X", "description": "d", "permissions": ["role:manage", "settings:manage"]}))
            .await;
        assert_eq!(r.status, 403, "{role}: {:?}", r.body);
    }
    // Within what they hold, they may.
    let r = s
        .post(
            "/api/v1/roles",
            &ra,
            json!({"name": "viewer", "display_name": "V", "description": "d", "permissions": ["user:list"]}),
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn user_managers_cannot_make_admins_or_stronger_users_or_touch_admins() {
    let s = TestServer::start().await;
    // hr holds what member holds, so it may create members.
    s.role("hr", &["user:manage", "user:list", "team:read", "role:list"]).await;
    s.role("ops", &["user:list", "settings:manage"]).await;
    let hr = s.user("hr@example.com", "hr").await;
    s.user("ops@example.com", "ops").await;
    let r = s.post("/api/v1/users", &hr, json!({"email": "new@example.com", "role": "admin"})).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "admin_only");
    assert!(r.message().contains("only an admin can make an admin"));
    let r = s.post("/api/v1/users", &hr, json!({"email": "new@example.com", "role": "ops"})).await;
    assert_eq!(r.status, 403, "ops holds settings:manage, which hr lacks");
    assert_eq!(r.body["error"]["code"], "would_escalate");
    // hr may not promote themself either.
    let r = s.put("/api/v1/users/hr@example.com", &hr, json!({"email": "hr@example.com", "role": "admin"})).await;
    assert_eq!(r.status, 403);
    // Nor take over or disable an admin or a stronger user.
    for target in ["admin@example.com", "ops@example.com"] {
        let r = s.post(&format!("/api/v1/users/{target}/password"), &hr, json!({"password": "taken-over-1"})).await;
        assert_eq!(r.status, 403, "{target}");
        let r = s
            .put(&format!("/api/v1/users/{target}"), &hr, json!({"email": target, "role": "member", "active": false}))
            .await;
        assert_eq!(r.status, 403, "{target}");
        assert_eq!(s.delete(&format!("/api/v1/users/{target}"), &hr).await.status, 403, "{target}");
    }
    // Members are fine.
    let r = s.post("/api/v1/users", &hr, json!({"email": "new@example.com", "role": "member"})).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        s.post("/api/v1/users/new@example.com/password", &hr, json!({"password": "welcome-123"})).await.status,
        204
    );
    // A user may set their own password, but not someone else's.
    let new = s.login("new@example.com", "welcome-123").await.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        s.post(
            "/api/v1/users/new@example.com/password",
            &new,
            json!({"password": "mine-12345", "current_password": "welcome-123"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        s.post("/api/v1/users/hr@example.com/password", &new, json!({"password": "mine-12345"})).await.status,
        403
    );
    let short = s.post("/api/v1/users/new@example.com/password", &new, json!({"password": "short"})).await;
    assert_eq!(short.status, 400);
}

#[tokio::test]
async fn team_managers_cannot_hand_out_more_than_they_hold() {
    let s = TestServer::start().await;
    s.set_role_permissions("team-manager", &["team:read", "team:manage", "settings:manage"]).await;
    s.role("team-maker", &["team:create", "team:read"]).await;
    let tm = s.user("tm@example.com", "team-maker").await;
    s.user("x@example.com", "member").await;
    // Creating a team and naming a manager would hand out settings:manage through team-manager.
    let r = s.post("/api/v1/teams", &tm, json!({"name": "t1", "managers": ["tm@example.com"]})).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.message().contains("settings:manage"), "{}", r.message());
    let r = s.post("/api/v1/teams", &tm, json!({"name": "t1", "members": ["tm@example.com", "x@example.com"]})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // A manager (who holds team-manager's permissions through the team) may add managers.
    s.set_role_permissions("team-manager", &["team:read", "team:manage"]).await;
    s.team("t2", &["x@example.com"], &[]).await;
    let x = s.token_for("x@example.com").await;
    let r = s.put("/api/v1/teams/t2", &x, json!({"name": "t2", "managers": ["x@example.com", "tm@example.com"]})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_removed() {
    let s = TestServer::start().await;
    for body in [
        json!({"email": "admin@example.com", "role": "member"}),
        json!({"email": "admin@example.com", "role": "admin", "active": false}),
    ] {
        let r = s.put("/api/v1/users/admin@example.com", &s.admin, body).await;
        assert_eq!(r.status, 409, "{:?}", r.body);
        assert_eq!(r.body["error"]["code"], "last_admin");
        assert!(r.message().contains("last active admin"));
    }
    let r = s.delete("/api/v1/users/admin@example.com", &s.admin).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"]["code"], "last_admin");
    // With a second admin, the first may step down.
    s.post("/api/v1/users", &s.admin, json!({"email": "admin2@example.com", "role": "admin"})).await;
    let r = s
        .put("/api/v1/users/admin@example.com", &s.admin, json!({"email": "admin@example.com", "role": "member"}))
        .await;
    assert_eq!(r.status, 200);
}
