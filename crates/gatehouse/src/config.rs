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
    /// Proxies whose `X-Forwarded-For` (the client's address, for the sign-in throttle) and
    /// `X-Forwarded-Proto` (the session cookie's `Secure`) are believed: IP addresses or CIDR networks,
    /// comma-separated. Default none: those headers are ignored.
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// How long a client has to send a request's headers (an idle keep-alive connection is closed after this
    /// long too): `10s`, `1m`...; 1 second to 1 hour. Default 10s.
    #[arg(long, env = "GATEHOUSE_HEADER_READ_TIMEOUT", global = true)]
    pub header_read_timeout: Option<String>,
    /// A connection on which nothing is read or written for this long is closed; 1 second to 1 day. Default
    /// 3m (longer than the upstream's first-byte timeout, so a slow stream is not cut).
    #[arg(long, env = "GATEHOUSE_IDLE_TIMEOUT", global = true)]
    pub idle_timeout: Option<String>,
    /// Open client connections at most; more wait until one closes. Default 1000.
    #[arg(long, env = "GATEHOUSE_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// The largest upstream answer body (a whole non-streamed answer, an error body, or one event of a
    /// stream) the gateway reads, in bytes; larger ones are a 502. Default 32 MiB.
    #[arg(long, env = "GATEHOUSE_MAX_UPSTREAM_BODY", global = true)]
    pub max_upstream_body: Option<usize>,
    /// `redis://...` (or `rediss://`): rate-limit and budget counters kept in Redis, shared by every replica
    /// so that N replicas together admit N. Default: counters in this process.
    #[arg(long, env = "GATEHOUSE_REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<String>,
    /// What the counters' Redis keys start with (default `gatehouse:limits:`): deployments sharing one Redis
    /// each take their own. Replicas of one deployment must share it.
    #[arg(long, env = "GATEHOUSE_REDIS_PREFIX", global = true)]
    pub redis_prefix: Option<String>,
    /// When the limit counters (Redis) cannot be reached: `closed` (default) refuses requests under rate
    /// limits or budgets with 503 `limits_unavailable`; `open` admits them uncounted and logs it.
    #[arg(long, env = "GATEHOUSE_LIMITS_ON_STORE_FAILURE", global = true)]
    pub limits_on_store_failure: Option<String>,
    /// An `https://` (or `http://`) URL that budget alerts are POSTed to, signed with the secret below.
    #[arg(long, env = "GATEHOUSE_ALERT_WEBHOOK_URL", global = true)]
    pub alert_webhook_url: Option<String>,
    /// The shared secret of the alert webhook's `x-gatehouse-signature` (HMAC-SHA256); required with the URL.
    #[arg(long, env = "GATEHOUSE_ALERT_WEBHOOK_SECRET", global = true, hide_env_values = true)]
    pub alert_webhook_secret: Option<String>,
    /// Signs the requests of `webhook` guardrails with `x-gatehouse-signature` (HMAC-SHA256, as alerts are
    /// signed); at least 16 characters. Without it they are sent unsigned.
    #[arg(long, env = "GATEHOUSE_GUARDRAIL_WEBHOOK_SECRET", global = true, hide_env_values = true)]
    pub guardrail_webhook_secret: Option<String>,
    /// What a scraper outside the loopback sends as `Authorization: Bearer` to read `/metrics` (at least 16
    /// characters). Default: `/metrics` answers the loopback only.
    #[arg(long, env = "GATEHOUSE_METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// An OTLP/HTTP endpoint (`http://collector:4318`) that a span per gateway call is exported to.
    /// Default: no spans; an incoming `traceparent` is still passed to upstreams.
    #[arg(long, env = "GATEHOUSE_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
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
    trusted_proxies: Option<ProxyList>,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<usize>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    limits_on_store_failure: Option<String>,
    alert_webhook_url: Option<String>,
    alert_webhook_secret: Option<String>,
    guardrail_webhook_secret: Option<String>,
    metrics_token: Option<String>,
    otlp_endpoint: Option<String>,
}

/// In the file, a list or one comma-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
enum ProxyList {
    One(String),
    Many(Vec<String>),
}

impl ProxyList {
    fn joined(self) -> String {
        match self {
            ProxyList::One(s) => s,
            ProxyList::Many(v) => v.join(","),
        }
    }
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
    pub trusted_proxies: Vec<gatehouse_server::client::IpNet>,
    pub header_read_timeout: std::time::Duration,
    pub idle_timeout: std::time::Duration,
    pub max_connections: usize,
    pub max_upstream_body: usize,
    pub redis_url: Option<gatehouse_core::Secret<String>>,
    pub redis_prefix: String,
    pub limits_on_failure: gatehouse_server::limits::OnFailure,
    pub alert_webhook: Option<gatehouse_server::limits::alerts::Webhook>,
    pub guardrail_webhook_secret: Option<gatehouse_core::Secret<String>>,
    pub metrics_token: Option<gatehouse_core::Secret<String>>,
    pub otlp_endpoint: Option<String>,
}

pub const DEFAULT_HEADER_READ_TIMEOUT: time::Duration = time::Duration::seconds(10);
pub const DEFAULT_IDLE_TIMEOUT: time::Duration = time::Duration::minutes(3);
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;

pub const DEFAULT_SESSION_TTL: time::Duration = time::Duration::hours(12);
const MAX_SESSION_TTL: time::Duration = time::Duration::days(30);

/// `12h`, `30m`, `45s`, `7d`, or a number of seconds.
fn parse_session_ttl(text: &str) -> anyhow::Result<time::Duration> {
    parse_duration("session_ttl", text, MAX_SESSION_TTL, "30 days")
}

/// A duration setting, at least a second and at most `max` (`max_text` says it in words).
fn parse_duration(name: &str, text: &str, max: time::Duration, max_text: &str) -> anyhow::Result<time::Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits.parse().with_context(|| format!("{name} {text:?}: expected a number and a unit, like 12h"))?;
    let d = match unit {
        "" | "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        other => anyhow::bail!("{name} {text:?}: unknown unit {other:?}; use s, m, h or d"),
    };
    if d < time::Duration::SECOND || d > max {
        anyhow::bail!("{name} {text:?}: must be between 1 second and {max_text}");
    }
    Ok(d)
}

fn std_duration(d: time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(u64::try_from(d.whole_seconds()).unwrap_or(1))
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
            trusted_proxies: match self.trusted_proxies.clone().or(file.trusted_proxies.map(ProxyList::joined)) {
                Some(list) => {
                    gatehouse_server::client::parse_list(&list).map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?
                }
                None => Vec::new(),
            },
            header_read_timeout: std_duration(match self.header_read_timeout.clone().or(file.header_read_timeout) {
                Some(t) => parse_duration("header_read_timeout", &t, time::Duration::HOUR, "1 hour")?,
                None => DEFAULT_HEADER_READ_TIMEOUT,
            }),
            idle_timeout: std_duration(match self.idle_timeout.clone().or(file.idle_timeout) {
                Some(t) => parse_duration("idle_timeout", &t, time::Duration::DAY, "1 day")?,
                None => DEFAULT_IDLE_TIMEOUT,
            }),
            max_connections: match self.max_connections.or(file.max_connections) {
                Some(0) => anyhow::bail!("max_connections: must be at least 1"),
                Some(n) => n,
                None => DEFAULT_MAX_CONNECTIONS,
            },
            max_upstream_body: match self.max_upstream_body {
                Some(n) if n < 1024 => anyhow::bail!("max_upstream_body: must be at least 1024 bytes"),
                Some(n) => n,
                None => gatehouse_server::state::DEFAULT_MAX_UPSTREAM_BODY,
            },
            redis_url: match self.redis_url.clone().or(file.redis_url) {
                Some(u) if !(u.starts_with("redis://") || u.starts_with("rediss://")) => {
                    anyhow::bail!("redis_url: must start with redis:// or rediss://")
                }
                other => other.map(gatehouse_core::Secret::new),
            },
            redis_prefix: match self.redis_prefix.clone().or(file.redis_prefix) {
                Some(p) => parse_redis_prefix(p)?,
                None => gatehouse_server::limits::redis::DEFAULT_PREFIX.to_owned(),
            },
            limits_on_failure: match self.limits_on_store_failure.clone().or(file.limits_on_store_failure) {
                Some(v) => v.parse().map_err(|e: String| anyhow::anyhow!("limits_on_store_failure: {e}"))?,
                None => gatehouse_server::limits::OnFailure::Closed,
            },
            alert_webhook: webhook(
                self.alert_webhook_url.clone().or(file.alert_webhook_url),
                self.alert_webhook_secret.clone().or(file.alert_webhook_secret),
            )?,
            guardrail_webhook_secret: match self.guardrail_webhook_secret.clone().or(file.guardrail_webhook_secret) {
                Some(s) if s.len() < 16 => anyhow::bail!("guardrail_webhook_secret: must be at least 16 characters"),
                other => other.map(gatehouse_core::Secret::new),
            },
            metrics_token: match self.metrics_token.clone().or(file.metrics_token) {
                Some(t) if t.trim().len() < 16 || t.trim() != t => {
                    anyhow::bail!("metrics_token: must be at least 16 characters, without surrounding spaces")
                }
                other => other.map(gatehouse_core::Secret::new),
            },
            otlp_endpoint: match self.otlp_endpoint.clone().or(file.otlp_endpoint) {
                Some(u) => {
                    let url = reqwest::Url::parse(&u).with_context(|| format!("otlp_endpoint {u:?}: not a URL"))?;
                    if !matches!(url.scheme(), "http" | "https") {
                        anyhow::bail!("otlp_endpoint {u:?}: must be http:// or https:// (OTLP over HTTP)");
                    }
                    Some(u)
                }
                None => None,
            },
        })
    }
}

/// A key prefix: printable, without spaces (it appears in `redis-cli` and `SCAN MATCH` patterns), and short.
fn parse_redis_prefix(prefix: String) -> anyhow::Result<String> {
    if prefix.is_empty() || prefix.len() > 100 {
        anyhow::bail!("redis_prefix: must be 1 to 100 characters");
    }
    if !prefix.chars().all(|c| c.is_ascii_graphic()) {
        anyhow::bail!("redis_prefix {prefix:?}: only printable ASCII characters without spaces");
    }
    Ok(prefix)
}

fn webhook(
    url: Option<String>,
    secret: Option<String>,
) -> anyhow::Result<Option<gatehouse_server::limits::alerts::Webhook>> {
    match (url, secret) {
        (None, None) => Ok(None),
        (Some(_), None) => anyhow::bail!("alert_webhook_secret: required with alert_webhook_url, to sign alerts"),
        (None, Some(_)) => anyhow::bail!("alert_webhook_url: required with alert_webhook_secret"),
        (Some(u), Some(secret)) => {
            let url = reqwest::Url::parse(&u).with_context(|| format!("alert_webhook_url {u:?}: not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") {
                anyhow::bail!("alert_webhook_url {u:?}: must be http:// or https://");
            }
            if secret.len() < 16 {
                anyhow::bail!("alert_webhook_secret: must be at least 16 characters");
            }
            Ok(Some(gatehouse_server::limits::alerts::Webhook { url, secret: gatehouse_core::Secret::new(secret) }))
        }
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
        assert!(r.trusted_proxies.is_empty(), "no proxy is trusted unless configured");
        assert_eq!(r.header_read_timeout, std::time::Duration::from_secs(10));
        assert_eq!(r.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert!(r.redis_url.is_none(), "counters are in process unless Redis is configured");
        assert_eq!(r.redis_prefix, "gatehouse:limits:");
        assert_eq!(r.limits_on_failure, gatehouse_server::limits::OnFailure::Closed);
        std::fs::write(&path, "databse_url = \"x\"\n").unwrap();
        let Err(e) = s.resolve() else { panic!("a misspelt key must be refused") };
        let err = format!("{e:#}");
        assert!(err.contains("databse_url"), "{err}");
    }

    #[test]
    fn connection_limits_and_trusted_proxies_from_file_env_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(
            &path,
            "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nheader_read_timeout = \"5s\"\nidle_timeout = \"2m\"\nmax_connections = 50\n",
        )
        .unwrap();
        let s = Settings { config: Some(path.clone()), ..Default::default() };
        let r = s.resolve().unwrap();
        assert_eq!(r.trusted_proxies.len(), 2);
        assert!(r.trusted_proxies[0].contains("10.9.8.7".parse().unwrap()));
        assert_eq!(r.header_read_timeout, std::time::Duration::from_secs(5));
        assert_eq!(r.idle_timeout, std::time::Duration::from_secs(120));
        assert_eq!(r.max_connections, 50);
        let s = Settings { trusted_proxies: Some("192.0.2.1".into()), max_connections: Some(7), ..s };
        let r = s.resolve().unwrap();
        assert_eq!(r.trusted_proxies.len(), 1);
        assert_eq!(r.max_connections, 7);
        std::fs::write(&path, "redis_url = \"redis://10.0.0.1:6379\"\nredis_prefix = \"prod:limits:\"\nlimits_on_store_failure = \"open\"\n")
            .unwrap();
        let s = Settings { config: Some(path.clone()), ..Default::default() };
        let r = s.resolve().unwrap();
        assert_eq!(r.redis_url.as_ref().map(|u| u.expose().as_str()), Some("redis://10.0.0.1:6379"));
        assert_eq!(r.redis_prefix, "prod:limits:");
        assert_eq!(r.limits_on_failure, gatehouse_server::limits::OnFailure::Open);
        let r = Settings { redis_prefix: Some("staging:".into()), ..s }.resolve().unwrap();
        assert_eq!(r.redis_prefix, "staging:", "a flag or the environment wins over the file");
        for bad in [
            Settings { redis_url: Some("http://x".into()), ..Default::default() },
            Settings { redis_prefix: Some(String::new()), ..Default::default() },
            Settings { redis_prefix: Some("has space:".into()), ..Default::default() },
            Settings { redis_prefix: Some("x".repeat(101)), ..Default::default() },
            Settings { limits_on_store_failure: Some("maybe".into()), ..Default::default() },
            Settings { alert_webhook_url: Some("https://hooks.example.com/x".into()), ..Default::default() },
            Settings {
                alert_webhook_url: Some("ftp://x".into()),
                alert_webhook_secret: Some("0123456789abcdef".into()),
                ..Default::default()
            },
            Settings { trusted_proxies: Some("10.0.0.0/40".into()), ..Default::default() },
            Settings { header_read_timeout: Some("0s".into()), ..Default::default() },
            Settings { max_connections: Some(0), ..Default::default() },
            Settings { guardrail_webhook_secret: Some("too-short".into()), ..Default::default() },
        ] {
            assert!(bad.resolve().is_err());
        }
        let r = Settings { guardrail_webhook_secret: Some("0123456789abcdef".into()), ..Default::default() }
            .resolve()
            .unwrap();
        assert_eq!(r.guardrail_webhook_secret.as_ref().map(|s| s.expose().as_str()), Some("0123456789abcdef"));
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
