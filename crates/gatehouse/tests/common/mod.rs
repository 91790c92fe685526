//! The `gatehouse` binary as an operator runs it: `bootstrap`, then `serve` processes on free ports with
//! their logs in files, stopped by signals; and a `redis-server` of the test's own.
#![allow(dead_code)]

pub mod redis_server;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Every server of these tests uses this passphrase (Postgres requires one; with SQLite it spares a key file).
pub const SECRET_KEY: &str = "a passphrase of at least thirty-two characters";

/// How long a process may take to start or stop on a slow, shared machine.
pub const PROCESS_DEADLINE: Duration = Duration::from_secs(30);

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A name no other test run uses: for config names, Redis key prefixes, log files.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Polls `check` every 50 ms until it returns `Some`, failing with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `gatehouse bootstrap` on `database_url`: the first admin's personal access token.
pub fn bootstrap(database_url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["bootstrap", "--email", "admin@example.com"])
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env("GATEHOUSE_SECRET_KEY", SECRET_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "bootstrap failed: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("gh_pat_"), "{token}");
    token
}

/// A running `gatehouse serve`; killed when dropped, so a failing test leaves no process behind.
pub struct Gatehouse {
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl Gatehouse {
    /// Starts `gatehouse serve` on `database_url` and a free port, with `env` on top of the defaults, its log
    /// in `dir`; returns once `/healthz` answers.
    pub async fn start(dir: &Path, database_url: &str, env: &[(&str, &str)]) -> Gatehouse {
        let port = free_port();
        let log = dir.join(format!("{}.log", unique("gatehouse")));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
            .env("GATEHOUSE_DATABASE_URL", database_url)
            .env("GATEHOUSE_SECRET_KEY", SECRET_KEY)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut server = Gatehouse { child: cmd.spawn().unwrap(), base: format!("http://127.0.0.1:{port}"), log };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + PROCESS_DEADLINE;
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", server.base)).send().await {
                if r.status() == 200 {
                    return server;
                }
            }
            if let Some(exit) = server.child.try_wait().unwrap() {
                panic!("gatehouse serve exited at start-up ({exit}):\n{}", server.log());
            }
            assert!(Instant::now() < deadline, "gatehouse serve did not start:\n{}", server.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as a service manager stops it; waits for the process to end and returns how it ended.
    pub async fn terminate(mut self) -> (ExitStatus, String) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + PROCESS_DEADLINE;
        let exit = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "gatehouse serve did not stop on SIGTERM:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        (exit, self.log())
    }

    /// SIGKILL: a crash, with no chance to store anything more.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log()
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An answer: status, JSON body (or `Null`), headers, and how long it took.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
    pub took: Duration,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// Sends `req`, reading the whole answer; failing to reach the server fails the test.
pub async fn send(req: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let r = req.timeout(Duration::from_secs(30)).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, body, headers, took: started.elapsed() }
}

/// Admin calls to a server's API.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Api {
        Api { http: reqwest::Client::new(), base: base.to_owned(), token: token.to_owned() }
    }

    pub async fn get(&self, path: &str) -> Answer {
        send(self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        send(self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body)).await
    }

    /// `PUT /api/v1/apply` of one manifest.
    pub async fn apply(&self, manifest: &Value) -> Answer {
        send(self.http.put(format!("{}/api/v1/apply", self.base)).bearer_auth(&self.token).json(manifest)).await
    }

    /// A chat completion through the gateway asking for at most `max_tokens`.
    pub async fn chat(&self, model: &str, max_tokens: u64) -> Answer {
        send(self.chat_request(model, max_tokens)).await
    }

    pub fn chat_request(&self, model: &str, max_tokens: u64) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(&self.token)
            .json(&chat_body(model, max_tokens))
    }

    /// Creates an OpenAI-compatible provider account `name` on the mock upstream at `mock_base` with one
    /// model, `m`, calling `model_id` at the given prices (US dollars per million input and output tokens).
    pub async fn provider_account(&self, name: &str, mock_base: &str, model_id: &str, prices: (f64, f64)) {
        let account = serde_json::json!({
            "type": "openai-compatible", "name": name, "base_url": format!("{mock_base}/v1"),
            "auth": {"api_key": "sk-test"},
            "models": [{"name": "m", "model_id": model_id, "types": ["chat"],
                        "pricing": {"input_per_million_tokens": prices.0, "output_per_million_tokens": prices.1}}]
        });
        let r = self.post("/api/v1/provider-accounts", &account).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
}

pub fn chat_body(model: &str, max_tokens: u64) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": max_tokens})
}
