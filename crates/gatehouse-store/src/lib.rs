//! Storage: one trait, implemented for SQLite (the embedded default) and Postgres, with versioned
//! migrations side by side. The store is the system of record; the engine reads only its snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::{Change, Email, Secret, TokenId, World};
use time::OffsetDateTime;

pub mod copy;
mod sql;
pub mod testing;

pub use sql::{SqlStore, MIGRATIONS};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("migration {version} failed: {message}")]
    Migration { version: i64, message: String },
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// A conditional commit found the state at another version than the one its changes were worked out
    /// from: another process (a replica, a `bootstrap`) committed first. Nothing was written.
    #[error("the state changed while this change was being checked (expected version {expected}, found {found})")]
    Stale { expected: i64, found: i64 },
}

/// One entry of the audit log, as the caller writes it: who did what to which object. `changes` is a JSON
/// document the caller has already redacted (no secrets, no hashes); the store keeps it as text and never
/// parses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// When it happened, as the caller's clock has it. Stored to the nanosecond.
    pub at: OffsetDateTime,
    /// A subject string such as `user:alice@example.com`, or `system`.
    pub actor: String,
    /// What was done: `user.create`, `role.update`, `token.issue`, `token.revoke`, `virtual-account.rotate`, ...
    pub action: String,
    /// The kind of object acted on: `user`, `role`, `team`, `virtual-account`, `token`, ...
    pub object_kind: String,
    pub object_name: String,
    /// A redacted JSON document describing the change.
    pub changes: String,
    /// The `x-request-id` of the request that caused it, if any.
    pub request_id: Option<String>,
}

/// An audit record as stored. `id` grows with every event and follows commit order: the events of one
/// commit get consecutive ids in the order they were given, and those of a later commit get higher ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub record: AuditRecord,
}

/// Which audit events to read. Conditions that are set must all hold. Events come newest first (highest id
/// first); to read the next page, pass the last id of this page as `before_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events by this actor (exact match).
    pub actor: Option<String>,
    /// Only events on objects of this kind.
    pub object_kind: Option<String>,
    /// Only events on objects of this name (usually together with `object_kind`).
    pub object_name: Option<String>,
    /// Only events at or after this time (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Only events before this time (exclusive).
    pub until: Option<OffsetDateTime>,
    /// Only events whose actor contains this text, ignoring ASCII case.
    pub actor_contains: Option<String>,
    /// Only events whose object, as `<kind>:<name>`, contains this text, ignoring ASCII case.
    pub object_contains: Option<String>,
    /// Only events whose action contains this text, ignoring ASCII case (`team.` for every team action).
    pub action_contains: Option<String>,
    /// Only events with an id below this one: the next page after an event with this id.
    pub before_id: Option<i64>,
    /// At most this many events; values above `AuditFilter::MAX_LIMIT` are treated as it, and 0 returns none.
    pub limit: u32,
}

impl AuditFilter {
    /// The most events one query returns.
    pub const MAX_LIMIT: u32 = 1000;
    /// The limit of `AuditFilter::default()`.
    pub const DEFAULT_LIMIT: u32 = 100;
}

impl Default for AuditFilter {
    /// No conditions, and a page of `DEFAULT_LIMIT` events.
    fn default() -> Self {
        AuditFilter {
            actor: None,
            object_kind: None,
            object_name: None,
            since: None,
            until: None,
            actor_contains: None,
            object_contains: None,
            action_contains: None,
            before_id: None,
            limit: AuditFilter::DEFAULT_LIMIT,
        }
    }
}

/// One request through the model gateway, as the server's background writer stores it. Not part of the
/// access graph: the log is written in batches, off the request path, and never bumps the state version.
/// `PartialEq` only: `cost_usd` is a float.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestLog {
    /// When the request arrived. Stored to the nanosecond.
    pub at: OffsetDateTime,
    /// The caller: `user:alice@example.com` or `virtualaccount:checkout`.
    pub subject: String,
    /// The caller's identity (`IdentityId`, 32 hex digits): what reads are limited by, since a name may be
    /// deleted and taken again. `None` for rows whose caller had none (then only unrestricted reads see them).
    pub subject_id: Option<String>,
    /// The id of the token the request came with.
    pub token_id: String,
    /// The virtual account the request was made as, if any.
    pub virtual_account: Option<String>,
    /// `<provider account>/<model>`.
    pub model: String,
    /// `chat`, `completions`, `embeddings` or `messages`.
    pub route: String,
    /// The HTTP status the caller got.
    pub status: u16,
    /// From arrival to the last byte sent, in microseconds.
    pub latency_us: i64,
    /// The upstream provider's part of it, when the request reached one.
    pub upstream_latency_us: Option<i64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// The `x-request-id` of the request.
    pub request_id: Option<String>,
    /// The prompt and the completion, only when the operator turned body logging on.
    pub prompt: Option<String>,
    pub completion: Option<String>,
    /// What the request cost in US dollars, at the price in force when it ran, so that a later price change
    /// leaves it alone. `None` when the model had no pricing, and for rows logged before costs were stored.
    pub cost_usd: Option<f64>,
    /// The gateway control that refused the request, as `<config>/<rule>`; `None` when none did.
    pub refused_by: Option<String>,
    /// The request's size in bytes: a model call's body, an MCP tool call's JSON-RPC message. `None` when
    /// not known, and for rows logged before sizes were stored.
    pub request_bytes: Option<u64>,
    /// The answer's size in bytes: the body sent (a stream's events as they went out), an MCP tool call's
    /// answer message. `None` when nothing was answered or for rows logged before sizes were stored.
    pub response_bytes: Option<u64>,
    /// What each guardrail check that acted did to the call, in the order it happened (empty when none
    /// did). Never the text it found.
    pub guardrails: Vec<GuardrailVerdict>,
}

/// What one guardrail check did to one call, as the request log keeps it: where the check is, on which
/// hook, what came of it and how many findings (a webhook's answer counts one). Repeats of the same
/// check and outcome (a stream's pieces) add to one entry's count.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GuardrailVerdict {
    /// The guardrails config and the rule in it.
    pub config: String,
    pub rule: String,
    /// Where the check is in its rule (`input_guardrails[1]`) and its manifest `type` (`pii`).
    pub check: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `input` or `output`.
    pub hook: String,
    /// `blocked`, `redacted` (text changed), `flagged` (an `audit` check found something), `error_ignored`
    /// (the check failed and its strategy let the call through) or `error_blocked` (it failed and blocked).
    pub outcome: String,
    pub count: u64,
}

/// Which request logs to read (or sum up). Conditions that are set must all hold. Rows come newest first
/// (highest id first); to read the next page, pass the last id of this page as `before_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLogFilter {
    /// Only requests by these subjects, by name; `None` means every subject, and an empty list matches
    /// nothing. A name may have had several holders: to limit a caller to what they may read, use
    /// `identities`.
    pub subjects: Option<Vec<String>>,
    /// Only requests whose `subject_id` is one of these; `None` means any (rows without one included), and
    /// an empty list matches nothing. This is how the server limits a caller to what they may read.
    pub identities: Option<Vec<String>>,
    /// Only requests for this model (`<provider account>/<model>`, exact match).
    pub model: Option<String>,
    /// Only requests at or after this time (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Only requests before this time (exclusive).
    pub until: Option<OffsetDateTime>,
    /// Only rows with this `x-request-id`: a call's own row and its upstream attempts share it.
    pub request_id: Option<String>,
    /// Only rows with an id below this one: the next page after a row with this id.
    pub before_id: Option<i64>,
    /// At most this many rows; values above `RequestLogFilter::MAX_LIMIT` are treated as it, and 0 returns
    /// none. Ignored by `usage_summary`, which returns every group.
    pub limit: u32,
}

impl RequestLogFilter {
    /// The most rows one query returns.
    pub const MAX_LIMIT: u32 = 1000;
    /// The limit of `RequestLogFilter::default()`.
    pub const DEFAULT_LIMIT: u32 = 100;
}

impl Default for RequestLogFilter {
    /// No conditions, and a page of `DEFAULT_LIMIT` rows.
    fn default() -> Self {
        RequestLogFilter {
            subjects: None,
            identities: None,
            model: None,
            since: None,
            until: None,
            request_id: None,
            before_id: None,
            limit: RequestLogFilter::DEFAULT_LIMIT,
        }
    }
}

/// The requests of one subject to one model, summed up. `PartialEq` only: `cost_usd` is a float.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageRow {
    pub subject: String,
    pub model: String,
    pub requests: i64,
    /// Requests answered with a status of 400 or more.
    pub errors: i64,
    /// Sums over the requests that reported token counts (missing counts add nothing).
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// The sum of the requests' latencies; kept as a sum so that rows stay exact and can be added up.
    pub total_latency_us: i64,
    /// The sum of the stored costs (US dollars, each at the price in force when its request ran); `None`
    /// when no request of the group has one.
    pub cost_usd: Option<f64>,
    /// The token sums of the requests without a stored cost (those logged before costs were stored, and
    /// those of models without pricing), which a report may price at the model's current pricing.
    pub uncosted_input_tokens: i64,
    pub uncosted_output_tokens: i64,
}

impl UsageRow {
    /// The mean latency of the requests, in microseconds.
    pub fn avg_latency_us(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        self.total_latency_us as f64 / self.requests as f64
    }
}

/// The width of a usage series' buckets. Buckets start at whole hours or days of UTC, counted from the
/// Unix epoch (which has no leap seconds, so every day is 86,400 of its seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageBucket {
    Hour,
    Day,
}

impl UsageBucket {
    pub const fn seconds(self) -> i64 {
        match self {
            UsageBucket::Hour => 3_600,
            UsageBucket::Day => 86_400,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            UsageBucket::Hour => "hour",
            UsageBucket::Day => "day",
        }
    }
}

/// What a usage series sums per bucket besides the model: the model alone, or the subject and the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageGroup {
    Model,
    Subject,
}

impl UsageGroup {
    pub const fn as_str(self) -> &'static str {
        match self {
            UsageGroup::Model => "model",
            UsageGroup::Subject => "subject",
        }
    }
}

/// The requests of one bucket, one group key and one model, summed up. Rows stay per model even when
/// grouped by subject, because prices are per model: a caller adds up the costs, not the tokens.
/// `PartialEq` only: `cost_usd` is a float.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageSeriesRow {
    /// The first instant of the bucket (UTC).
    pub start: OffsetDateTime,
    /// The model or the subject, as grouped.
    pub key: String,
    pub model: String,
    pub requests: i64,
    /// Requests answered with a status of 400 or more.
    pub errors: i64,
    /// Sums over the requests that reported token counts (missing counts add nothing).
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// As in `UsageRow`: the sum of the stored costs, and the token sums of the requests without one.
    pub cost_usd: Option<f64>,
    pub uncosted_input_tokens: i64,
    pub uncosted_output_tokens: i64,
}

/// Budget spend: `amount` added to a budget counter in the calendar period starting at `period_start` (Unix
/// seconds). The store does not interpret amounts (nano-dollars or tokens, by the counter); it only adds
/// them up. As read back, `amount` is the period's total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendDelta {
    pub counter: String,
    pub period_start: i64,
    pub amount: i64,
}

/// What a store holds at one moment, and the version it had then.
pub struct Loaded {
    pub world: World,
    pub version: i64,
    /// Users' and virtual accounts' identities, which the snapshot gets by `Change::AssignIdentity`.
    pub identities: Vec<(gatehouse_core::Subject, gatehouse_core::IdentityId)>,
}

/// What one committed version changed, as read back from the change log (`Store::changes_since`).
#[derive(Clone, Debug)]
pub struct LoggedChanges {
    pub version: i64,
    /// In the order they were committed (and applied to the writer's snapshot). `Change::SetPassword` is
    /// left out: it changes nothing a snapshot holds.
    pub changes: Vec<Change>,
}

impl StoreError {
    /// Whether the error means the database could not be reached (refused or lost connections, a pool
    /// that timed out waiting for one, a server shutting down or starting up), as opposed to a statement
    /// it refused: the request may succeed once the database is back.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => sql::unavailable(e),
            StoreError::UnsupportedUrl(_)
            | StoreError::Migration { .. }
            | StoreError::Corrupt(_)
            | StoreError::Stale { .. } => false,
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Everything the snapshot needs, read in one transaction. Revoked tokens are left out.
    async fn load(&self) -> Result<Loaded, StoreError>;

    /// Writes the changes and the audit records describing them in one transaction, and returns the new
    /// state version once committed. On error nothing of the batch remains, events included: an event
    /// exists if and only if the changes it came with were committed. The records get consecutive ids in
    /// the order given.
    async fn commit(&self, changes: &[Change], audit: &[AuditRecord]) -> Result<i64, StoreError>;

    /// `commit`, only if the state is still at version `expected`: changes authorized against one state must
    /// not land on another. Otherwise nothing is written and the answer is `StoreError::Stale`. Concurrent
    /// conditional commits from any number of processes are serialised: at most one of those expecting the
    /// same version succeeds.
    async fn commit_at(&self, expected: i64, changes: &[Change], audit: &[AuditRecord]) -> Result<i64, StoreError>;

    /// The state version: bumped by every commit, from this process or any other (a `bootstrap`, a replica).
    async fn version(&self) -> Result<i64, StoreError>;

    /// What every version after `since` changed, oldest first, up to the current version; `None` when the
    /// change log no longer reaches back to `since` (pruned, or older than the log), and the caller must
    /// `load` instead. Applying them in order to the snapshot of version `since` gives the snapshot `load`
    /// would give.
    async fn changes_since(&self, since: i64) -> Result<Option<Vec<LoggedChanges>>, StoreError>;

    /// Wakes `wake` when another process may have committed: on Postgres every commit sends a notification
    /// (`NOTIFY gatehouse_changes, '<version>'`), listened to here on a connection of its own, reconnecting by
    /// itself, with `wake` also sent after each reconnection (notifications sent meanwhile are lost).
    /// Returns false, doing nothing, where there is no such signal (SQLite): callers poll `version`, as they
    /// should anyway, as a safety net.
    fn listen(&self, wake: tokio::sync::watch::Sender<i64>) -> bool;

    /// The deployment's salt for deriving the secret key from a passphrase: the stored one, or else `fresh`,
    /// stored now. Every process on the database gets the same answer, however many start at once.
    async fn key_salt(&self, fresh: &str) -> Result<String, StoreError>;

    /// A user's argon2id PHC string, if they have a local password.
    async fn password_hash(&self, email: &Email) -> Result<Option<Secret<String>>, StoreError>;

    /// Records when tokens were last used; later times win. Not a state change: no version bump.
    async fn touch_tokens(&self, used: &[(TokenId, OffsetDateTime)]) -> Result<(), StoreError>;

    /// When the given tokens were last used, for those that have been.
    async fn last_used(&self, ids: &[TokenId]) -> Result<HashMap<TokenId, OffsetDateTime>, StoreError>;

    /// The audit events matching `filter`, newest (highest id) first, at most `filter.limit` of them
    /// (capped at `AuditFilter::MAX_LIMIT`). The order is that of commits, not of the events' `at`.
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;

    /// Appends request logs in one transaction (one fsync for the batch). Not a state change: no version
    /// bump. All or nothing: on error none of the batch is stored.
    async fn append_request_logs(&self, logs: &[RequestLog]) -> Result<(), StoreError>;

    /// The request logs matching `filter` with their ids, newest (highest id) first, at most `filter.limit`
    /// of them (capped at `RequestLogFilter::MAX_LIMIT`).
    async fn request_logs(&self, filter: &RequestLogFilter) -> Result<Vec<(i64, RequestLog)>, StoreError>;

    /// The requests matching `filter` (its `limit` aside) summed per (subject, model), ordered by subject
    /// then model.
    async fn usage_summary(&self, filter: &RequestLogFilter) -> Result<Vec<UsageRow>, StoreError>;

    /// The requests matching `filter` (its `limit` aside) summed per (bucket, key, model),
    /// ordered by bucket start, then key, then model. Buckets without requests have no rows.
    async fn usage_series(
        &self,
        filter: &RequestLogFilter,
        bucket: UsageBucket,
        group: UsageGroup,
    ) -> Result<Vec<UsageSeriesRow>, StoreError>;

    /// Adds each delta to its (counter, period) total, creating the row when missing, all in one
    /// transaction: on error none of them is added. Any number of processes may add at once; every delta
    /// counts exactly once. Deltas for the same row may repeat within a call (they are summed first).
    async fn add_spend(&self, deltas: &[SpendDelta]) -> Result<(), StoreError>;

    /// Every stored total whose period starts at or after `since` (Unix seconds), ordered by counter then
    /// period: what a starting process rebuilds its counters from.
    async fn spend_since(&self, since: i64) -> Result<Vec<SpendDelta>, StoreError>;

    /// The stored total of one counter in one period; 0 when nothing was ever added.
    async fn spend_of(&self, counter: &str, period_start: i64) -> Result<i64, StoreError>;

    /// Claims the alert for `threshold` (a percentage) of `counter` in the period starting at
    /// `period_start`: true for the first caller ever, from any process, and false for every other, so that
    /// an alert fires once per period however many replicas see the threshold crossed. `at` is recorded as
    /// when it fired; `audit` is written in the same transaction when (and only when) the claim succeeds.
    async fn claim_alert(
        &self,
        counter: &str,
        period_start: i64,
        threshold: u32,
        at: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError>;

    /// Writes an MCP session: created, or replaced whole (its protocol, upstream sessions, last use) if its
    /// `id_hash` is stored. The server and owner of a stored session are never changed.
    async fn put_mcp_session(&self, session: &McpSessionRecord) -> Result<(), StoreError>;

    /// The MCP session whose id hashes to `id_hash`, if stored.
    async fn mcp_session(&self, id_hash: &str) -> Result<Option<McpSessionRecord>, StoreError>;

    /// Records a later use of a session (an earlier time than the stored one changes nothing).
    async fn touch_mcp_session(&self, id_hash: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Deletes an MCP session; true if it was stored.
    async fn delete_mcp_session(&self, id_hash: &str) -> Result<bool, StoreError>;

    /// Deletes the MCP sessions last used before `before`; returns how many.
    async fn expire_mcp_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError>;

    /// The connection pool's state, for metrics; `None` for a store without one.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }
}

/// An MCP session of the gateway, as every replica sees it. `id_hash` is the SHA-256 (hex) of the session
/// id: the id itself, a secret the client holds, is never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpSessionRecord {
    pub id_hash: String,
    pub server: String,
    pub owner_subject: String,
    pub owner_identity: Option<String>,
    pub protocol: Option<String>,
    /// Upstream server name to the session id it gave (`None`: it keeps no sessions).
    pub upstreams: BTreeMap<String, Option<String>>,
    pub created_at: OffsetDateTime,
    pub last_used: OffsetDateTime,
}

/// A connection pool at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (in use or idle).
    pub size: u32,
    /// Open connections not in use.
    pub idle: usize,
    /// The most the pool opens.
    pub max: u32,
}

/// Opens (creating a SQLite file if missing) and migrates the database at `url`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqlStore::connect(url).await?))
}
