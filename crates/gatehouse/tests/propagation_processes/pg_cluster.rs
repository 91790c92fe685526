//! A Postgres cluster of the test's own (`initdb` and `pg_ctl` in a temporary directory, on a free port),
//! which it may stop and start: never the machine's shared server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;

pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    /// `initdb` refuses to run as root: then every tool runs as the `postgres` account.
    as_postgres: bool,
}

/// The newest `initdb` under /usr/lib/postgresql, or on the PATH.
fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().or_else(|| {
        let out = Command::new("sh").args(["-c", "command -v initdb"]).output().ok()?;
        let path = String::from_utf8(out.stdout).ok()?;
        Path::new(path.trim()).parent().map(Path::to_path_buf)
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Cluster {
    /// A new, started cluster; `None` (with a skip line) where Postgres' tools are not installed.
    pub fn start(test: &str) -> Option<Cluster> {
        let Some(bin) = find_bin() else {
            println!("skipping {test}: initdb is not installed (looked under /usr/lib/postgresql/*/bin and PATH)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let path = dir.path().to_str().unwrap();
            assert!(Command::new("chown").args(["-R", "postgres", path]).status().unwrap().success());
            assert!(Command::new("chmod").args(["755", path]).status().unwrap().success());
        }
        let cluster = Cluster { bin, dir, port: common::free_port(), as_postgres };
        let data = cluster.data();
        let out = cluster.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        cluster.resume();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).output().unwrap()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn resume(&self) {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let log = self.dir.path().join("postgres.log").display().to_string();
        let out = self.run("pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "-t", "60", "start"]);
        assert!(out.status.success(), "pg_ctl start failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops the server (`fast`: open connections are cut, as when a database host goes away).
    pub fn stop(&self) {
        let out = self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "-t", "60", "stop"]);
        assert!(out.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }
}
