//! `gatehouse`: serve, bootstrap the first admin, apply manifests.

mod config;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use gatehouse_server::bootstrap::{bootstrap_admin, BootstrapError};
use gatehouse_server::crypto::SecretKey;
use gatehouse_server::{AppState, OsEntropy, ServerConfig, SystemClock};

// Requests allocate and free many small buffers; glibc's allocator was about 5% of the gateway's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "An AI gateway whose heart is access control")]
struct Cli {
    #[command(flatten)]
    settings: config::Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (admin API and gateway).
    Serve,
    /// Write the first tenant admin into the database and print a personal access token for them.
    Bootstrap {
        #[arg(long)]
        email: String,
        /// A local password for signing in (at least 8 characters).
        #[arg(long, env = "GATEHOUSE_BOOTSTRAP_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Send a manifest file to a running server and print what changed.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the running server's configuration as multi-document YAML manifests (credentials left out).
    Export,
    /// Apply the schema to the configured database (`--database-url`) and exit, printing its version.
    Migrate,
    /// Copy a whole deployment (every table) from one database into another, empty one, migrated first.
    Copy {
        /// The database to copy from, at this binary's schema version: `sqlite://PATH` or `postgres://...`.
        #[arg(long)]
        from: String,
        /// The database to copy into; it must be empty (it may have been migrated).
        #[arg(long)]
        to: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `migrate` and `copy` print what they did; the driver's notices ("already exists, skipping") and
    // slow-statement warnings about a copy's long reads would only bury it.
    let default_filter = match cli.command {
        Command::Migrate | Command::Copy { .. } => "info,sqlx=error",
        Command::Serve | Command::Bootstrap { .. } | Command::Apply { .. } | Command::Export => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // One thread: `serve` runs the requests on runtimes of its own, one per core, and keeps this one for
    // background work; the other commands do one thing at a time.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings.resolve()?;
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Bootstrap { email, password } => {
            let store = gatehouse_store::open(&settings.database_url)
                .await
                .with_context(|| format!("cannot open the database {}", settings.database_url))?;
            match bootstrap_admin(store.as_ref(), &email, password, &SystemClock, &OsEntropy).await {
                Ok(token) => {
                    println!("{}", token.expose());
                    Ok(())
                }
                Err(e @ BootstrapError::AdminExists(_)) => bail!("{e}"),
                Err(e) => Err(e.into()),
            }
        }
        Command::Apply { file, dry_run } => apply(settings, file, dry_run).await,
        Command::Export => export(settings).await,
        Command::Migrate => migrate(&settings.database_url).await,
        Command::Copy { from, to } => copy(&from, &to).await,
    }
}

async fn serve(settings: config::Resolved) -> anyhow::Result<()> {
    let store = gatehouse_store::open(&settings.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", settings.database_url))?;
    // A passphrase is stretched with the deployment's salt, made by the first server to need it.
    let salt = match settings.secret_key.as_ref().filter(|s| SecretKey::is_passphrase(s)) {
        Some(_) => store
            .key_salt(&gatehouse_server::crypto::fresh_salt())
            .await
            .context("cannot read or store the salt for GATEHOUSE_SECRET_KEY")?,
        None => String::new(),
    };
    let (key, created) = SecretKey::resolve(settings.secret_key.as_ref(), &settings.database_url, salt.as_bytes())?;
    if let Some(path) = created {
        tracing::warn!(
            key_file = %path.display(),
            "no GATEHOUSE_SECRET_KEY: generated a key for provider credentials in this file; back it up with the database, or set GATEHOUSE_SECRET_KEY"
        );
    }
    let config = ServerConfig {
        log_bodies: settings.log_bodies,
        session_ttl: settings.session_ttl,
        trusted_proxies: settings.trusted_proxies.clone(),
        header_read_timeout: settings.header_read_timeout,
        idle_timeout: settings.idle_timeout,
        max_connections: settings.max_connections,
        redis_url: settings.redis_url.clone(),
        redis_prefix: settings.redis_prefix.clone(),
        limits_on_failure: settings.limits_on_failure,
        alert_webhook: settings.alert_webhook.clone(),
        guardrail_webhook_secret: settings.guardrail_webhook_secret.clone(),
        metrics_token: settings.metrics_token.clone(),
        otlp_endpoint: settings.otlp_endpoint.clone(),
        max_upstream_body: settings.max_upstream_body,
        ..ServerConfig::default()
    };
    let app = AppState::new(store, Arc::new(SystemClock), Arc::new(OsEntropy), config, Arc::new(key))
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the access graph: {e}"))?;
    gatehouse_server::crypto::check_key(&app.snapshot(), &app.key)
        .context("GATEHOUSE_SECRET_KEY (or the key file) does not match the stored credentials")?;
    // Credentials sealed under the passphrase's old derivation (plain SHA-256) are sealed again now.
    match gatehouse_server::crypto::reseal_legacy(&app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(credentials = n, "sealed stored credentials again with the salted key derivation"),
        Err(e) => anyhow::bail!("cannot seal stored credentials again: {e}"),
    }
    let addr = serve::resolve(&settings.listen).await?;
    let listeners =
        serve::bind(addr, serve::shard_count()).with_context(|| format!("cannot listen on {}", settings.listen))?;
    tracing::info!(listen = %settings.listen, database = %redact_url(&settings.database_url), "gatehouse is serving");
    if let Some(code) = gatehouse_server::setup::issue(&app) {
        tracing::warn!(
            "there is no admin yet: run `gatehouse bootstrap --email you@example.com` against this database, or use the one-time setup code printed below on the console's sign-in page"
        );
        // On stderr, not through the log's subscriber: it must show whatever RUST_LOG says, and it must not
        // travel with the structured log to a collector. It works only in this process, and only once.
        eprintln!("gatehouse first-run setup code: {}", code.expose());
    }
    serve::serve(listeners, app, shutdown_signal()).await
}

/// Ctrl-C, or SIGTERM: what a service manager or an orchestrator sends to stop the server. Either way the
/// server finishes its requests and stores the request log before exiting.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server gracefully");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing requests and storing the request log");
}

/// Hides a password in a database URL before it is logged.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn migrate(url: &str) -> anyhow::Result<()> {
    let m = gatehouse_store::copy::migrate(url).await?;
    match m.before == m.version {
        true => println!("schema version {} (up to date)", m.version),
        false => println!("schema version {} (migrated from {})", m.version, m.before),
    }
    Ok(())
}

async fn copy(from: &str, to: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let report = gatehouse_store::copy::copy(from, to).await?;
    for (table, rows) in &report.tables {
        println!("{table}: {rows} rows");
    }
    for (table, column, pos) in &report.counters {
        println!("{table}.{column}: next id after {pos}");
    }
    let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
    println!(
        "copied {rows} rows in {} tables at schema version {} to {} in {:.1?}",
        report.tables.len(),
        report.schema_version,
        redact_url(to),
        started.elapsed()
    );
    Ok(())
}

fn client_token(settings: &config::Resolved) -> anyhow::Result<String> {
    settings.token.clone().context("no token: set GATEHOUSE_TOKEN or pass --token")
}

/// The server's error message, for a failed call.
async fn failure(resp: reqwest::Response) -> anyhow::Error {
    let status = resp.status();
    let json: serde_json::Value = resp.json().await.unwrap_or_default();
    let msg = json["error"]["message"].as_str().unwrap_or("unknown error").to_owned();
    anyhow::anyhow!("{msg} ({status})")
}

async fn export(settings: config::Resolved) -> anyhow::Result<()> {
    let token = client_token(&settings)?;
    let url = format!("{}/api/v1/export", settings.url.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", settings.url))?;
    if !resp.status().is_success() {
        return Err(failure(resp).await);
    }
    print!("{}", resp.text().await.context("cannot read the server's answer")?);
    Ok(())
}

async fn apply(settings: config::Resolved, file: PathBuf, dry_run: bool) -> anyhow::Result<()> {
    let body = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let token = client_token(&settings)?;
    let url = format!("{}/api/v1/apply?dry_run={dry_run}", settings.url.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .put(&url)
        .bearer_auth(token)
        .header("content-type", "application/yaml")
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", settings.url))?;
    if !resp.status().is_success() {
        return Err(failure(resp).await);
    }
    let json: serde_json::Value = resp.json().await.context("the server's answer is not JSON")?;
    let prefix = if dry_run { "(dry run) " } else { "" };
    for r in json["results"].as_array().into_iter().flatten() {
        let (kind, name, action) =
            (r["type"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or(""), r["action"].as_str().unwrap_or(""));
        let verb = match (dry_run, action) {
            (true, "created") => "would be created",
            (true, "updated") => "would be updated",
            (_, a) => a,
        };
        println!("{prefix}{kind} {name} {verb}");
        for c in r["changes"].as_array().into_iter().flatten() {
            println!("    {}", c.as_str().unwrap_or(""));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:****@h/db");
        assert_eq!(super::redact_url("sqlite://gatehouse.db"), "sqlite://gatehouse.db");
    }
}
