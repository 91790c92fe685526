//! Throwaway databases for tests of this crate and the crates above it: SQLite always, Postgres when
//! `GATEHOUSE_TEST_POSTGRES_URL` names a server. Each is removed when dropped, whether the test passed or not.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

/// The environment variable naming a Postgres server the tests may create databases on.
pub const POSTGRES_ENV: &str = "GATEHOUSE_TEST_POSTGRES_URL";

pub struct TestDatabase {
    pub label: &'static str,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Database { admin_url: String, name: String },
}

fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{nanos}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fresh SQLite file in the temporary directory.
pub fn sqlite() -> TestDatabase {
    let path = std::env::temp_dir().join(format!("{}.db", unique("gatehouse_test")));
    TestDatabase { label: "sqlite", url: format!("sqlite://{}", path.display()), cleanup: Cleanup::File(path) }
}

/// A fresh database on the Postgres server of `admin_url`.
pub async fn postgres(admin_url: &str) -> Result<TestDatabase, sqlx::Error> {
    let name = unique("gh_test");
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    admin.close().await?;
    let url = with_database(admin_url, &name);
    Ok(TestDatabase { label: "postgres", url, cleanup: Cleanup::Database { admin_url: admin_url.to_owned(), name } })
}

/// SQLite, and Postgres when the environment names a server (otherwise a skip line is printed).
pub async fn all() -> Result<Vec<TestDatabase>, sqlx::Error> {
    let mut out = vec![sqlite()];
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => out.push(postgres(&url).await?),
        _ => println!("skipping postgres: {POSTGRES_ENV} is not set"),
    }
    Ok(out)
}

/// The same server URL with another database in its path.
pub fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}/{db}{query}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Database { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop may run inside the test's runtime, which cannot block on a future: use a thread.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
                    rt.block_on(async {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                            let _ = sqlx::raw_sql(&sql).execute(&mut conn).await;
                            let _ = conn.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}
