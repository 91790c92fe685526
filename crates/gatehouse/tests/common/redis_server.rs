//! Redis for the tests: a `redis-server` of the test's own (which it may stop and start), and, on the shared
//! server of `GATEHOUSE_TEST_REDIS_URL`, only the keys under the test's own prefix.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SHARED_ENV: &str = "GATEHOUSE_TEST_REDIS_URL";

/// The shared Redis of the environment, or `None` with a skip line printed.
pub fn shared(test: &str) -> Option<String> {
    match std::env::var(SHARED_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipping {test}: {SHARED_ENV} is not set");
            None
        }
    }
}

/// A key prefix of this test's own on the shared Redis; whatever is under it is deleted when dropped, so
/// that a failing test leaves nothing behind either.
pub struct OwnPrefix {
    pub url: String,
    pub prefix: String,
}

impl OwnPrefix {
    pub fn new(url: &str) -> OwnPrefix {
        OwnPrefix { url: url.to_owned(), prefix: format!("{}:", super::unique("gatehouse-test")) }
    }
}

impl Drop for OwnPrefix {
    fn drop(&mut self) {
        // Synchronously: drop may run inside the test's runtime, or while it unwinds.
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection_with_timeout(std::time::Duration::from_secs(5)) else { return };
        let pattern = format!("{}*", self.prefix);
        let (mut cursor, mut found) = (0u64, Vec::<String>::new());
        loop {
            let scanned: redis::RedisResult<(u64, Vec<String>)> =
                redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query(&mut conn);
            let Ok((next, batch)) = scanned else { return };
            found.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        if !found.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&found).query(&mut conn);
        }
    }
}

/// The keys under `prefix`: `SCAN`, never `KEYS`, on a server others use.
pub async fn keys(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor: u64 = 0;
    let mut out = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        out.extend(batch);
        if next == 0 {
            return out;
        }
        cursor = next;
    }
}

/// Deletes the keys under `prefix` (and nothing else): what a Redis that lost its data looks like to the
/// deployment using that prefix. Returns how many there were.
pub async fn forget(url: &str, prefix: &str) -> usize {
    assert!(prefix.len() > 8, "a test deletes only its own, unique prefix");
    let found = keys(url, prefix).await;
    if !found.is_empty() {
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let () = redis::cmd("DEL").arg(&found).query_async(&mut conn).await.unwrap();
    }
    found.len()
}

/// A `redis-server` of this test's own on `port`, without persistence (a restart starts it empty); killed
/// when dropped.
pub struct OwnRedis {
    child: Child,
    pub port: u16,
}

impl OwnRedis {
    /// Starts one on `port`, or `None` (with a skip line) when `redis-server` is not installed.
    pub async fn start(port: u16) -> Option<OwnRedis> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                println!("skipping: cannot run redis-server: {e}");
                return None;
            }
        };
        let mut redis = OwnRedis { child, port };
        let deadline = Instant::now() + super::PROCESS_DEADLINE;
        while !redis.answers().await {
            if let Some(exit) = redis.child.try_wait().unwrap() {
                panic!("redis-server on port {port} exited at start-up: {exit}");
            }
            assert!(Instant::now() < deadline, "redis-server on port {port} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn answers(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else { return false };
        let ping = async {
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING").query_async::<String>(&mut conn).await.ok()
        };
        matches!(tokio::time::timeout(Duration::from_secs(2), ping).await, Ok(Some(p)) if p == "PONG")
    }

    /// SIGKILL, and waits until the process is gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
