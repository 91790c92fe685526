//! Test kit: the real server on a free port, a fresh database, a clock the test moves.
#![allow(dead_code)]

pub mod apply;
pub mod gateway;
pub mod resources;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use gatehouse_core::clock::{Clock, ManualClock};
use gatehouse_server::bootstrap::bootstrap_admin;
use gatehouse_server::{AppState, OsEntropy, ServerConfig};
use gatehouse_store::testing::{self, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::OffsetDateTime;

pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub clock: Arc<ManualClock>,
    pub db_url: String,
    pub app: gatehouse_server::App,
    http: reqwest::Client,
    _db: TestDatabase,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// The error message of an error body.
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> TestServer {
        Self::start_on(testing::sqlite(), config).await
    }

    /// The server on a given database, with a bootstrapped admin.
    pub async fn start_on(db: TestDatabase, config: ServerConfig) -> TestServer {
        let db_url = db.url.clone();
        let store = gatehouse_store::open(&db_url).await.unwrap();
        let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()));
        let admin = bootstrap_admin(
            store.as_ref(),
            "admin@example.com",
            Some("correct-horse".into()),
            clock.as_ref(),
            &OsEntropy,
        )
        .await
        .unwrap()
        .into_inner();
        let key = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([7; 32]));
        let app = AppState::new(store, clock.clone(), Arc::new(OsEntropy), config, key).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let served = app.clone();
        let task = tokio::spawn(async move {
            gatehouse_server::serve(listener, served, std::future::pending()).await.unwrap();
        });
        TestServer { base, admin, clock, db_url, app, http: reqwest::Client::new(), _db: db, task }
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(time::Duration::seconds(secs));
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub async fn raw(&self, method: Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Resp { status, body, headers }
    }

    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.raw(method, path, Some(token), body.map(|b| serde_json::to_vec(&b).unwrap())).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, token, None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, token, Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Creates a user (as admin) and returns a PAT of theirs, made by logging in as them.
    pub async fn user(&self, email: &str, role: &str) -> String {
        let r = self.post("/api/v1/users", &self.admin, json!({"email": email, "role": role})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        self.token_for(email).await
    }

    /// A PAT for an existing user: the admin sets a password, the user logs in and makes a PAT.
    pub async fn token_for(&self, email: &str) -> String {
        let r = self
            .post(&format!("/api/v1/users/{email}/password"), &self.admin, json!({"password": "password-123"}))
            .await;
        assert_eq!(r.status, 204, "{:?}", r.body);
        let session = self.login(email, "password-123").await;
        assert_eq!(session.status, 200, "{:?}", session.body);
        let session = session.body["token"].as_str().unwrap().to_owned();
        let pat = self.post("/api/v1/personal-access-tokens", &session, json!({"name": "test"})).await;
        assert_eq!(pat.status, 201, "{:?}", pat.body);
        pat.body["token"].as_str().unwrap().to_owned()
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::to_vec(&json!({"email": email, "password": password})).unwrap()),
        )
        .await
    }

    pub async fn role(&self, name: &str, perms: &[&str]) {
        let r = self
            .post(
                "/api/v1/roles",
                &self.admin,
                json!({"name": name, "display_name": name, "description": "test role", "permissions": perms}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }

    /// Replaces a built-in role's permissions (as admin).
    pub async fn set_role_permissions(&self, name: &str, perms: &[&str]) {
        let cur = self.get(&format!("/api/v1/roles/{name}"), &self.admin).await.body;
        let r = self
            .put(
                &format!("/api/v1/roles/{name}"),
                &self.admin,
                json!({"name": name, "display_name": cur["display_name"], "description": cur["description"], "permissions": perms}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }

    pub async fn team(&self, name: &str, managers: &[&str], members: &[&str]) {
        let r = self
            .post("/api/v1/teams", &self.admin, json!({"name": name, "managers": managers, "members": members}))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }

    pub async fn check(&self, subject: &str, permission: &str, resource: &str) -> bool {
        let r = self
            .post(
                "/api/v1/authz/check",
                &self.admin,
                json!({"subject": subject, "permission": permission, "resource": resource}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["allowed"].as_bool().unwrap()
    }

    /// Waits (bounded) until the server's background refresh has run at least once more.
    pub async fn settle(&self) {
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}
