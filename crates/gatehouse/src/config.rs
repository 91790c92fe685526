//! Settings: each a flag and an environment variable (flags win), with an optional TOML file under both.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://gatehouse.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

// No Debug: it would print the token and the secret key.
#[derive(clap::Args, Default, Clone)]
pub struct Settings {
    /// `sqlite://PATH` (created if missing) or `postgres://...`
    #[arg(long, env = "GATEHOUSE_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Address of the HTTP server.
    #[arg(long, env = "GATEHOUSE_LISTEN", global = true)]
    pub listen: Option<String>,
    /// Where client commands (`apply`) send requests.
    #[arg(long, env = "GATEHOUSE_URL", global = true)]
    pub url: Option<String>,
    /// Token client commands send.
    #[arg(long, env = "GATEHOUSE_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Key that encrypts provider credentials at rest: 64 hex digits, or a passphrase of at least 32
    /// characters. Without it, a SQLite database gets a generated key file beside it; Postgres requires it.
    #[arg(long, env = "GATEHOUSE_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Store prompt and completion bodies in the gateway's request log. Off by default: bodies are not
    /// stored unless the operator turns this on. `--log-bodies` alone means true.
    #[arg(long, env = "GATEHOUSE_LOG_BODIES", global = true, num_args = 0..=1, default_missing_value = "true")]
    pub log_bodies: Option<bool>,
    /// How long a login session (the console's, or `POST /api/v1/auth/login`'s) lasts: `12h`, `30m`,
    /// `45s`, `7d` or plain seconds; 1 second to 30 days. Default 12h.
    #[arg(long, env = "GATEHOUSE_SESSION_TTL", global = true)]
    pub session_ttl: Option<String>,
    /// A TOML file with any of these settings (`database_url = "..."`); flags and environment win over it.
    #[arg(long, env = "GATEHOUSE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    listen: Option<String>,
    url: Option<String>,
    token: Option<String>,
    secret_key: Option<String>,
    log_bodies: Option<bool>,
    session_ttl: Option<String>,
}

/// Settings with every value decided.
#[derive(Clone)]
pub struct Resolved {
    pub database_url: String,
    pub listen: String,
    pub url: String,
    pub token: Option<String>,
    pub secret_key: Option<gatehouse_core::Secret<String>>,
    pub log_bodies: bool,
    pub session_ttl: time::Duration,
}

pub const DEFAULT_SESSION_TTL: time::Duration = time::Duration::hours(12);
const MAX_SESSION_TTL: time::Duration = time::Duration::days(30);

/// `12h`, `30m`, `45s`, `7d`, or a number of seconds.
fn parse_session_ttl(text: &str) -> anyhow::Result<time::Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 =
        digits.parse().with_context(|| format!("session_ttl {text:?}: expected a number and a unit, like 12h"))?;
    let d = match unit {
        "" | "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        other => anyhow::bail!("session_ttl {text:?}: unknown unit {other:?}; use s, m, h or d"),
    };
    if d < time::Duration::SECOND || d > MAX_SESSION_TTL {
        anyhow::bail!("session_ttl {text:?}: must be between 1 second and 30 days");
    }
    Ok(d)
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

impl Settings {
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        let file = match &self.config {
            Some(p) => read_file(p)?,
            None => FileSettings::default(),
        };
        Ok(Resolved {
            database_url: self
                .database_url
                .clone()
                .or(file.database_url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            listen: self.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into()),
            url: self.url.clone().or(file.url).unwrap_or_else(|| DEFAULT_URL.into()),
            token: self.token.clone().or(file.token),
            secret_key: self.secret_key.clone().or(file.secret_key).map(gatehouse_core::Secret::new),
            log_bodies: self.log_bodies.or(file.log_bodies).unwrap_or(false),
            session_ttl: match self.session_ttl.clone().or(file.session_ttl) {
                Some(t) => parse_session_ttl(&t)?,
                None => DEFAULT_SESSION_TTL,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, "database_url = \"sqlite://from-file.db\"\nlisten = \"127.0.0.1:9999\"\n").unwrap();
        let s = Settings { listen: Some("127.0.0.1:1".into()), config: Some(path.clone()), ..Default::default() };
        let r = s.resolve().unwrap();
        assert_eq!(r.database_url, "sqlite://from-file.db");
        assert_eq!(r.listen, "127.0.0.1:1");
        assert_eq!(r.url, DEFAULT_URL);
        assert!(!r.log_bodies, "bodies are not stored unless turned on");
        assert_eq!(r.session_ttl, DEFAULT_SESSION_TTL);
        std::fs::write(&path, "databse_url = \"x\"\n").unwrap();
        let Err(e) = s.resolve() else { panic!("a misspelt key must be refused") };
        let err = format!("{e:#}");
        assert!(err.contains("databse_url"), "{err}");
    }

    #[test]
    fn session_lifetimes_take_a_unit_and_stay_within_bounds() {
        assert_eq!(parse_session_ttl("12h").unwrap(), time::Duration::hours(12));
        assert_eq!(parse_session_ttl("30m").unwrap(), time::Duration::minutes(30));
        assert_eq!(parse_session_ttl("7d").unwrap(), time::Duration::days(7));
        assert_eq!(parse_session_ttl("90").unwrap(), time::Duration::seconds(90));
        assert_eq!(parse_session_ttl(" 2s ").unwrap(), time::Duration::seconds(2));
        for bad in ["", "h", "0s", "31d", "12w", "-5m", "1.5h"] {
            let Err(e) = parse_session_ttl(bad) else { panic!("{bad:?} was accepted") };
            assert!(format!("{e}").contains("session_ttl"), "{e}");
        }
    }
}
