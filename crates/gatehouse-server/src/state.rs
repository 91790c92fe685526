//! Shared state: the published view, the store, and the single writer path.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use arc_swap::ArcSwap;
use gatehouse_core::clock::Clock;
use gatehouse_core::token::TokenEntropy;
use gatehouse_core::{Change, Op, Snapshot, Subject, TokenId};
use gatehouse_store::{AuditRecord, RequestLog, Store, StoreError};
use time::OffsetDateTime;

use crate::crypto::SecretKey;
use crate::error::ApiError;
use crate::gateway::table::GatewayTable;
use crate::request_log::RequestLogger;
use crate::spend_ledger::SpendLedger;
use crate::token_use::TokenUse;

mod propagation;
pub use propagation::{Reload, ReloadKind, StoreFailure, StoreHealth};

/// What one request sees, from authentication to answer: a snapshot of the access graph and what was
/// compiled from it, of one version, published together and swapped atomically.
pub struct Published {
    /// The store version the snapshot reflects.
    pub version: i64,
    pub snapshot: Arc<Snapshot>,
    pub gateway: GatewayTable,
    /// The rate-limiting and budget rules, compiled.
    pub limits: gatehouse_core::limits::LimitsTable,
    /// The guardrails rules, compiled (patterns and keyword sets included).
    pub guardrails: crate::guardrails::GuardrailsTable,
    /// The MCP servers, compiled the same way.
    pub mcp: crate::mcp::table::McpTable,
    /// Load-balancing rules and virtual models.
    pub routes: crate::gateway::route::RouteTable,
}

/// Where random bytes come from; passed in so tests can be deterministic.
pub trait Entropy: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);
}

pub fn token_entropy(source: &dyn Entropy) -> TokenEntropy {
    let mut e = TokenEntropy { id: [0; 8], secret: [0; 32] };
    source.fill(&mut e.id);
    source.fill(&mut e.secret);
    e
}

pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        use rand::RngCore;
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Settings the server needs at run time.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub session_ttl: time::Duration,
    pub body_limit: usize,
    /// How often to look for changes written by another process (a `bootstrap`, another replica).
    pub poll_interval: StdDuration,
    /// Gateway: how long to wait for a TCP/TLS connection to an upstream provider.
    pub upstream_connect_timeout: StdDuration,
    /// Gateway: the longest a whole (non-streamed) upstream answer's body may take to arrive.
    pub upstream_timeout: StdDuration,
    /// Gateway: how long to wait for the upstream's response headers, and, in a stream, for each next
    /// chunk: a stream may last as long as it keeps coming.
    pub upstream_first_byte_timeout: StdDuration,
    /// Gateway request log: prompt and completion bodies are not stored unless the operator turns this on.
    pub log_bodies: bool,
    /// Gateway request log: entries waiting for the background writer; beyond this they are dropped (and
    /// counted) rather than slowing requests down.
    pub request_log_capacity: usize,
    /// Gateway request log: the most entries written in one transaction.
    pub request_log_batch: usize,
    /// Gateway request log: how long the writer gathers entries before writing a batch that is not full.
    pub request_log_flush_interval: StdDuration,
    /// Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed; nobody's by default.
    pub trusted_proxies: Vec<crate::client::IpNet>,
    /// How long a client has to send a request's headers, counted from when the server starts waiting for
    /// them (so an idle keep-alive connection is closed after this long too).
    pub header_read_timeout: StdDuration,
    /// A connection on which nothing at all is read or written for this long is closed (a stalled body).
    pub idle_timeout: StdDuration,
    /// Open connections at most, over every serving thread; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Password hashes (sign-ins, password changes) running at once, process-wide.
    pub hashing_concurrency: usize,
    /// How long a sign-in waits for a turn to hash before it gets a 503.
    pub hashing_wait: StdDuration,
    /// Failed sign-in limits.
    pub signin_throttle: crate::signin_throttle::ThrottlePolicy,
    /// How often expired login sessions are dropped from the store and the snapshot.
    pub session_purge_interval: StdDuration,
    /// Where rate-limit and budget counters live: Redis when set (shared by every replica), else this
    /// process. The URL may hold a password.
    pub redis_url: Option<gatehouse_core::Secret<String>>,
    /// What every Redis key of the counters starts with, so that deployments (or tests) sharing one Redis
    /// keep apart.
    pub redis_prefix: String,
    /// What the gateway does when the counters cannot be reached.
    pub limits_on_failure: crate::limits::OnFailure,
    /// Where budget alerts are posted, signed.
    pub alert_webhook: Option<crate::limits::alerts::Webhook>,
    /// Signs the requests of `webhook` guardrails (`x-gatehouse-signature`), when set.
    pub guardrail_webhook_secret: Option<gatehouse_core::Secret<String>>,
    /// What a scraper from outside the loopback sends as `Authorization: Bearer` to read `/metrics`; none:
    /// the loopback only.
    pub metrics_token: Option<gatehouse_core::Secret<String>>,
    /// Where spans are exported (OTLP/HTTP); none: no spans, and only an incoming `traceparent` is passed on.
    pub otlp_endpoint: Option<String>,
    /// How often batched spans are exported.
    pub otlp_export_interval: StdDuration,
    /// Gateway: the largest upstream body read whole (an answer, an error body) or one stream event may
    /// grow to before it is refused with a 502, so a runaway upstream cannot exhaust memory.
    pub max_upstream_body: usize,
}

pub const DEFAULT_MAX_UPSTREAM_BODY: usize = 32 * 1024 * 1024;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            session_ttl: time::Duration::hours(12),
            body_limit: 1024 * 1024,
            poll_interval: StdDuration::from_secs(1),
            upstream_connect_timeout: StdDuration::from_secs(10),
            upstream_timeout: StdDuration::from_secs(300),
            upstream_first_byte_timeout: StdDuration::from_secs(120),
            log_bodies: false,
            request_log_capacity: 65_536,
            request_log_batch: 500,
            request_log_flush_interval: StdDuration::from_millis(200),
            trusted_proxies: Vec::new(),
            header_read_timeout: StdDuration::from_secs(10),
            idle_timeout: StdDuration::from_secs(180),
            max_connections: 1000,
            hashing_concurrency: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            hashing_wait: StdDuration::from_secs(5),
            signin_throttle: Default::default(),
            session_purge_interval: StdDuration::from_secs(300),
            redis_url: None,
            redis_prefix: crate::limits::redis::DEFAULT_PREFIX.to_owned(),
            limits_on_failure: crate::limits::OnFailure::Closed,
            alert_webhook: None,
            guardrail_webhook_secret: None,
            metrics_token: None,
            otlp_endpoint: None,
            otlp_export_interval: StdDuration::from_secs(5),
            max_upstream_body: DEFAULT_MAX_UPSTREAM_BODY,
        }
    }
}

pub struct AppState {
    published: ArcSwap<Published>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    pub config: ServerConfig,
    /// Encrypts and decrypts stored credentials.
    pub key: Arc<SecretKey>,
    /// The gateway's HTTP client for upstream providers: one pool of connections shared by every request.
    pub http: reqwest::Client,
    /// Held by writers only, with the store version the published snapshot reflects.
    writer: tokio::sync::Mutex<i64>,
    /// Token uses not yet flushed to the store; readers of the hot path never touch the writer's lock.
    token_use: TokenUse,
    /// The gateway's request log, on its way to the store (see `log_request`).
    request_log: RequestLogger,
    /// Budget spend on its way to the store: the gateway records each settled request's spend here, and it
    /// is flushed as often as the request log (started and drained with it).
    pub spend_ledger: SpendLedger,
    /// Password hashing, bounded (see `passwords`).
    pub hasher: crate::passwords::Hasher,
    /// Failed sign-ins, per account and per address.
    pub signin: crate::signin_throttle::SigninThrottle,
    /// Connection slots, shared by every serving thread.
    pub connections: Arc<tokio::sync::Semaphore>,
    /// Rate limits and budgets: where their counters are, and what to do without them.
    pub limiter: crate::limits::Limiter,
    /// Budget alert thresholds this process has fired.
    pub alerts: crate::limits::alerts::Fired,
    /// The MCP gateway's sessions (in memory: a restart ends them, and clients start new ones).
    pub mcp_sessions: crate::mcp::session::Sessions,
    /// Routing's memory of each target: failures in a row, cool-downs, recent latency.
    pub routing: crate::gateway::health::Health,
    /// Prometheus metrics (`/metrics`), recorded with atomics from every thread.
    pub metrics: Arc<crate::observability::Metrics>,
    /// OTLP span export, when an endpoint is configured.
    pub trace_export: Option<crate::observability::trace::Export>,
    /// The database's health as last seen, and the last reload (see `propagation`).
    tracker: propagation::Tracker,
    /// First-run setup's one-time code, while no admin exists (see `setup`).
    pub setup: crate::setup::SetupCode,
}

pub type App = Arc<AppState>;

/// How many times a write is worked out again when another process commits first.
const WRITE_ATTEMPTS: usize = 5;

impl AppState {
    /// Loads the store into a snapshot, adding the built-in roles a fresh database lacks.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        config: ServerConfig,
        key: Arc<SecretKey>,
    ) -> Result<App, ApiError> {
        let version = crate::bootstrap::ensure_builtin_roles(store.as_ref()).await?;
        let loaded = store.load().await?;
        let loaded_version = loaded.version;
        let http = crate::gateway::upstream::client(&config)
            .map_err(|e| ApiError::Internal(format!("cannot build the upstream HTTP client: {e}")))?;
        let request_log = RequestLogger::new(config.request_log_capacity, config.request_log_batch);
        tokio::task::spawn_blocking(crate::passwords::prepare);
        let limiter = crate::limits::limiter(&config, &store, clock.now()).await?;
        let metrics = Arc::new(crate::observability::Metrics::default());
        metrics.snapshot_current(loaded_version);
        let trace_export = match &config.otlp_endpoint {
            Some(endpoint) => {
                let interval = config.otlp_export_interval;
                let endpoint = endpoint.clone();
                // Its HTTP client is a blocking one, which must not be made on a runtime thread.
                let export =
                    tokio::task::spawn_blocking(move || crate::observability::trace::Export::new(&endpoint, interval))
                        .await
                        .map_err(|e| ApiError::Internal(format!("cannot set up OTLP export: {e}")))?;
                Some(export.map_err(ApiError::Internal)?)
            }
            None => None,
        };
        let app = AppState {
            metrics,
            trace_export,
            limiter,
            alerts: Default::default(),
            hasher: crate::passwords::Hasher::new(config.hashing_concurrency, config.hashing_wait),
            signin: crate::signin_throttle::SigninThrottle::new(config.signin_throttle.clone()),
            connections: Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1))),
            mcp_sessions: Default::default(),
            routing: Default::default(),
            http,
            published: ArcSwap::from_pointee(compile(loaded_version, crate::identity::snapshot(loaded), &key, None)),
            store,
            clock,
            entropy,
            config,
            key,
            writer: tokio::sync::Mutex::new(version.max(loaded_version)),
            token_use: TokenUse::default(),
            request_log,
            spend_ledger: SpendLedger::default(),
            setup: Default::default(),
            tracker: Default::default(),
        };
        Ok(Arc::new(app))
    }

    /// The access graph as currently published. A request uses the one view it loaded (`published`).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.published.load().snapshot.clone()
    }

    /// The current view; a request loads it once (the auth middleware does) and keeps it to its answer.
    pub fn published(&self) -> Arc<Published> {
        self.published.load_full()
    }

    /// Compiles what depends on `snapshot` (off the request path) and publishes both at once.
    fn publish(&self, version: i64, snapshot: Snapshot) -> Arc<Snapshot> {
        let previous = self.published.load();
        let next = Arc::new(compile(version, snapshot, &self.key, Some(&previous)));
        let snapshot = next.snapshot.clone();
        self.published.store(next);
        snapshot
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn token_entropy(&self) -> TokenEntropy {
        token_entropy(self.entropy.as_ref())
    }

    /// The one write path: authorize and plan against the current snapshot, check the precondition,
    /// commit in one transaction, then publish. Returns the published snapshot.
    pub async fn write(
        &self,
        caller: &Subject,
        ops: Vec<Op>,
        precondition: impl FnMut(&Snapshot) -> Result<(), ApiError>,
    ) -> Result<Arc<Snapshot>, ApiError> {
        self.write_with(caller, |_, _| Ok(ops.clone()), precondition).await
    }

    /// `write` where the operations are worked out from the snapshot they will be applied to, under the
    /// writer's lock, so nothing this process does can change between planning and committing. Another
    /// process can: the commit then lands only if the store is still at the version the operations were
    /// authorized against, and otherwise the whole request is worked out again on the newer state (a few
    /// times, then 409), so that no rule is checked against a state that is no longer current.
    pub async fn write_with(
        &self,
        caller: &Subject,
        mut build: impl FnMut(&Snapshot, OffsetDateTime) -> Result<Vec<Op>, ApiError>,
        mut precondition: impl FnMut(&Snapshot) -> Result<(), ApiError>,
    ) -> Result<Arc<Snapshot>, ApiError> {
        let mut version = self.writer.lock().await;
        for _ in 0..WRITE_ATTEMPTS {
            self.catch_up(&mut version).await?;
            let current = self.snapshot();
            let now = self.now();
            let ops = build(&current, now)?;
            let audit = crate::audit::records(&current, caller, &ops, now);
            let (mut next, mut changes) = gatehouse_core::execute(&current, caller, ops, now)?;
            precondition(&current)?;
            // Identities for what the write creates: drawn here, as `execute` is pure.
            for c in crate::identity::for_created(&current, &changes, self.entropy.as_ref()) {
                next.apply(&c);
                changes.push(c);
            }
            if let Some(published) = self.commit(&mut version, next, &changes, audit).await? {
                return Ok(published);
            }
            // Replicas racing each other would otherwise retry in lockstep: a few random milliseconds.
            let mut jitter = [0u8; 1];
            self.entropy.fill(&mut jitter);
            tokio::time::sleep(StdDuration::from_millis(u64::from(jitter[0] % 16))).await;
        }
        Err(ApiError::Contention)
    }

    /// What a dry run reports: plans (which authorizes) against the current snapshot, commits nothing.
    pub fn preview_with(
        &self,
        build: impl FnOnce(&Snapshot, OffsetDateTime) -> Result<Vec<Op>, ApiError>,
    ) -> Result<(), ApiError> {
        build(&self.snapshot(), self.now()).map(|_| ())
    }

    /// Commits `changes` if the store is still at `version`, then publishes `next`. `Ok(None)`: another
    /// process committed first and nothing was written.
    async fn commit(
        &self,
        version: &mut i64,
        next: Snapshot,
        changes: &[Change],
        audit: Vec<AuditRecord>,
    ) -> Result<Option<Arc<Snapshot>>, ApiError> {
        if changes.is_empty() {
            return Ok(Some(self.snapshot()));
        }
        match self.observe(self.store.commit_at(*version, changes, &audit).await) {
            Ok(new_version) => {
                *version = new_version;
                self.metrics.snapshot_current(new_version);
                Ok(Some(self.publish(new_version, next)))
            }
            Err(StoreError::Stale { expected, found }) => {
                tracing::info!(expected, found, "another process wrote first; checking the request again");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn catch_up(&self, version: &mut i64) -> Result<(), ApiError> {
        if self.observe(self.store.version().await)? != *version {
            self.follow(version).await?;
        }
        self.metrics.snapshot_current(*version);
        Ok(())
    }

    /// Drops login sessions that have expired, from the store's live tokens and from the snapshot: an
    /// expired session can never work again, and left there every sign-in would grow memory for good. The
    /// rows stay in the store, revoked, like every revoked token (their ids are never reused). Not audited:
    /// nobody did anything. Returns how many were dropped.
    pub async fn purge_expired_sessions(&self) -> Result<usize, ApiError> {
        self.housekeeping(|current, now| {
            current
                .users()
                .flat_map(|u| current.tokens_of(&gatehouse_core::TokenOwner::User(u.user.email.clone())))
                .filter(|t| t.kind == gatehouse_core::TokenKind::Session && t.expires_at.is_some_and(|at| at <= now))
                .map(|t| Change::RevokeToken(t.id.clone()))
                .collect()
        })
        .await
    }

    /// The server's own changes, which no caller makes and nobody authorizes (dropping what expired,
    /// sealing credentials again): worked out from the current snapshot under the writer's lock, committed
    /// without audit records, published. Returns how many changes were made.
    pub async fn housekeeping(
        &self,
        build: impl FnOnce(&Snapshot, OffsetDateTime) -> Vec<Change>,
    ) -> Result<usize, ApiError> {
        let mut version = self.writer.lock().await;
        self.catch_up(&mut version).await?;
        let current = self.snapshot();
        let changes = build(&current, self.now());
        if changes.is_empty() {
            return Ok(0);
        }
        let mut next = (*current).clone();
        for c in &changes {
            next.apply(c);
        }
        self.commit(&mut version, next, &changes, Vec::new()).await?;
        Ok(changes.len())
    }

    /// Picks up changes other processes committed. Called periodically.
    pub async fn refresh(&self) -> Result<(), ApiError> {
        // Asked before taking the writer's lock, which a write would otherwise wait behind while the
        // database does not answer.
        if self.observe(self.store.version().await)? == self.published().version {
            return Ok(());
        }
        let mut version = self.writer.lock().await;
        self.catch_up(&mut version).await
    }

    pub fn record_use(&self, id: &TokenId, at: OffsetDateTime) {
        self.token_use.record(id, at);
    }

    /// Last-use times: unflushed ones first, then the store's.
    pub async fn last_used(&self, ids: &[TokenId]) -> Result<HashMap<TokenId, OffsetDateTime>, ApiError> {
        let mut out = self.store.last_used(ids).await?;
        for (id, t) in self.token_use.pending(ids) {
            let e = out.entry(id).or_insert(t);
            *e = (*e).max(t);
        }
        Ok(out)
    }

    /// The identity a request log entry is attributed to: the caller's at the time of the request.
    fn stamp_identity(&self, mut entry: RequestLog) -> RequestLog {
        if entry.subject_id.is_none() {
            if let Ok(subject) = entry.subject.parse::<Subject>() {
                entry.subject_id = self.snapshot().identity(&subject).map(|id| id.to_string());
            }
        }
        entry
    }

    /// Queues a gateway request for the request log without waiting: the entry is written by a background
    /// task, and dropped (counted in `request_logs_dropped`) if that task has fallen too far behind. Bodies
    /// are removed here unless `log_bodies` is set; every field is bounded and bodies are redacted of
    /// credentials (`log_fields::bound`), whoever built the entry.
    pub fn log_request(&self, entry: RequestLog) {
        self.request_log.push(crate::log_fields::bound(self.apply_body_policy(self.stamp_identity(entry))));
    }

    /// The entry as the request log may keep it: without prompt and completion unless `log_bodies` is set.
    pub fn apply_body_policy(&self, entry: RequestLog) -> RequestLog {
        crate::request_log::apply_body_policy(self.config.log_bodies, entry)
    }

    /// Request log entries dropped because the writer had fallen behind.
    pub fn request_logs_dropped(&self) -> u64 {
        self.request_log.dropped()
    }

    /// Request log entries waiting for the writer.
    pub fn request_log_queued(&self) -> usize {
        self.request_log.queued()
    }

    /// Request log entries written to the store.
    pub fn request_logs_written(&self) -> u64 {
        self.request_log.written()
    }

    /// Request log entries the writer gave up on after retrying.
    pub fn request_logs_lost(&self) -> u64 {
        self.request_log.lost()
    }

    /// Starts the request log's writer task and the spend ledger's flushes, at the same interval (once;
    /// later calls do nothing).
    pub fn start_request_log_writer(&self) {
        self.request_log.start(self.store.clone(), self.config.request_log_flush_interval);
        self.spend_ledger.start(self.store.clone(), self.config.request_log_flush_interval);
    }

    /// For graceful shutdown: stores what the request log and the spend ledger hold, waiting at most
    /// `timeout` for each.
    pub async fn drain_request_log(&self, timeout: StdDuration) {
        self.request_log.shutdown(timeout).await;
        self.spend_ledger.shutdown(timeout).await;
    }

    pub async fn flush_last_used(&self) -> Result<(), ApiError> {
        let batch = self.token_use.drain();
        if !batch.is_empty() {
            if let Err(e) = self.observe(self.store.touch_tokens(&batch).await) {
                // Kept for the next flush: the database may be back by then.
                for (id, at) in &batch {
                    self.token_use.record(id, *at);
                }
                return Err(e.into());
            }
        }
        Ok(())
    }
}

fn compile(version: i64, snapshot: Snapshot, key: &SecretKey, previous: Option<&Published>) -> Published {
    let gateway = GatewayTable::compile(&snapshot, key, previous.map(|p| &p.gateway));
    let mcp = crate::mcp::table::McpTable::compile(&snapshot, key, previous.map(|p| &p.mcp));
    let limits = gatehouse_core::limits::LimitsTable::compile(&snapshot);
    let routes = crate::gateway::route::RouteTable::compile(&snapshot);
    let guardrails = crate::guardrails::GuardrailsTable::compile(&snapshot);
    Published { version, snapshot: Arc::new(snapshot), gateway, mcp, limits, routes, guardrails }
}

/// Background work: flush token use times and pick up external changes, until the app is dropped; and the
/// request log's writer and the spend ledger's flushes, which run until `drain_request_log` or until the
/// app is dropped.
pub fn spawn_background(app: &App) -> tokio::task::JoinHandle<()> {
    // Its own task, not a step of the loop below: batches are written as they fill, not once per poll.
    app.start_request_log_writer();
    let weak = Arc::downgrade(app);
    let every = app.config.poll_interval;
    let purge_every = app.config.session_purge_interval;
    // Commit notifications (Postgres): a change is picked up as soon as it is committed, the poll below
    // staying as the safety net for a notification lost with a connection.
    let (wake_tx, mut wake) = tokio::sync::watch::channel(0i64);
    let mut listening = app.store.listen(wake_tx);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut last_purge = tokio::time::Instant::now();
        let mut notified = 0i64;
        loop {
            let woken = tokio::select! {
                _ = tick.tick() => false,
                changed = wake.changed(), if listening => {
                    listening = changed.is_ok();
                    true
                }
            };
            let Some(app) = weak.upgrade() else { break };
            if woken {
                let latest = *wake.borrow_and_update();
                // A notification of a version already published (this process's own commits) needs no
                // query; the same value again means the listener reconnected, and anything may have been
                // missed.
                let fresh = latest != notified;
                notified = latest;
                if fresh && latest <= app.published().version {
                    continue;
                }
                if let Err(e) = app.refresh().await {
                    quiet_if_unavailable(&e, "could not check the store for changes");
                }
                continue;
            }
            if last_purge.elapsed() >= purge_every {
                last_purge = tokio::time::Instant::now();
                match app.purge_expired_sessions().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(sessions = n, "dropped expired login sessions"),
                    Err(e) => tracing::warn!(error = %e, "could not drop expired login sessions"),
                }
            }
            app.limiter.sweep(app.now());
            if let Err(e) = app.flush_last_used().await {
                quiet_if_unavailable(&e, "could not record token use");
            }
            if let Err(e) = app.refresh().await {
                quiet_if_unavailable(&e, "could not check the store for changes");
            }
        }
    })
}

/// An unreachable database is logged once when it goes (see `observe`), not on every poll.
fn quiet_if_unavailable(e: &ApiError, what: &str) {
    match e {
        ApiError::StoreUnavailable(_) => tracing::debug!(error = %e, "{what}"),
        _ => tracing::warn!(error = %e, "{what}"),
    }
}
