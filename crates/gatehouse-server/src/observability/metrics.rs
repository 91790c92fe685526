//! What `/metrics` exposes, and the functions the rest of the server records with. Every label is bounded:
//! route templates (never raw paths), status codes, reason classes, and names from the published table
//! (provider accounts, guardrail configs, models), with `unknown` for anything else.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gatehouse_core::decision::{Decision, Verdict};

use super::registry::{Counter, Exposition, Family, Histogram};

/// Where an authorization decision was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionSource {
    /// A gateway call's `use` check on its model.
    Gateway,
    /// `POST /api/v1/authz/check` and `/authz/checks`.
    CheckApi,
    /// An MCP message's `use` check on its server.
    Mcp,
}

impl DecisionSource {
    fn as_str(self) -> &'static str {
        match self {
            DecisionSource::Gateway => "gateway",
            DecisionSource::CheckApi => "check_api",
            DecisionSource::Mcp => "mcp",
        }
    }
}

/// A gateway call refused by a control before or after its upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    RateLimit,
    Budget,
    Guardrail,
    /// The counters could not be reached and the gateway fails closed.
    LimitsUnavailable,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::RateLimit => "rate_limit",
            Refusal::Budget => "budget",
            Refusal::Guardrail => "guardrail",
            Refusal::LimitsUnavailable => "limits_unavailable",
        }
    }
}

/// The reason class of an engine verdict: what kind of rule allowed it, or why nothing did.
pub fn reason_class(v: &Verdict<'_>) -> &'static str {
    match v {
        Verdict::Admin => "admin",
        Verdict::Role { .. } => "role",
        Verdict::TeamManager { .. } => "team_manager",
        Verdict::Grant { .. } => "grant",
        Verdict::UnknownSubject => "unknown_subject",
        Verdict::Inactive => "inactive",
        Verdict::Expired => "expired",
        Verdict::NotApplicable { .. } => "not_applicable",
        Verdict::NotGranted { .. } => "not_granted",
    }
}

fn decision_class(d: &Decision) -> &'static str {
    use gatehouse_core::decision::{Allow, Deny};
    match d {
        Decision::Allowed(Allow::Admin) => "admin",
        Decision::Allowed(Allow::Role { .. }) => "role",
        Decision::Allowed(Allow::TeamManager { .. }) => "team_manager",
        Decision::Allowed(Allow::Grant { .. }) => "grant",
        Decision::Denied(Deny::UnknownSubject) => "unknown_subject",
        Decision::Denied(Deny::Inactive) => "inactive",
        Decision::Denied(Deny::Expired) => "expired",
        Decision::Denied(Deny::NotApplicable { .. }) => "not_applicable",
        Decision::Denied(Deny::NotGranted { .. }) => "not_granted",
    }
}

/// `2xx`, `4xx`, ...
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A status code as a label: one of the few a server answers, else its class (so a misbehaving upstream
/// cannot mint series).
fn status_label(status: u16) -> &'static str {
    const KNOWN: &[(u16, &str)] = &[
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (304, "304"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (409, "409"),
        (412, "412"),
        (413, "413"),
        (415, "415"),
        (429, "429"),
        (499, "499"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    KNOWN.iter().find(|(s, _)| *s == status).map_or_else(|| status_class(status), |(_, l)| l)
}

/// The process's metrics; one per app, reachable as `app.metrics`.
pub struct Metrics {
    started: Instant,
    http_requests: Family<Counter>,
    http_duration: Family<Histogram>,
    decisions: Family<Counter>,
    gateway_calls: Family<Counter>,
    upstream_duration: Family<Histogram>,
    upstream_errors: Family<Counter>,
    refusals: Family<Counter>,
    guardrail_verdicts: Family<Counter>,
    snapshot_version: AtomicI64,
    /// When the published view was last confirmed current against the store, in nanoseconds after
    /// `started`; `u64::MAX`: never.
    confirmed_at: AtomicU64,
    reload_duration: Histogram,
}

/// Reload buckets: a change applied in well under a millisecond up to a full reload of a large world.
const RELOAD_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            http_requests: Family::new(
                "gatehouse_http_requests_total",
                "HTTP requests answered, by method, route template and status code.",
                &["method", "route", "status"],
                Counter::default,
            ),
            http_duration: Family::new(
                "gatehouse_http_request_duration_seconds",
                "Time from a request's arrival to its response headers, by method, route template and status class.",
                &["method", "route", "class"],
                Histogram::latency,
            ),
            decisions: Family::new(
                "gatehouse_authz_decisions_total",
                "Authorization decisions of the engine, by where they were asked, outcome and reason class.",
                &["source", "decision", "reason"],
                Counter::default,
            ),
            gateway_calls: Family::new(
                "gatehouse_gateway_calls_total",
                "Gateway calls, by route, the model that served (unknown unless it is in the published table) and status.",
                &["route", "model", "status"],
                Counter::default,
            ),
            upstream_duration: Family::new(
                "gatehouse_upstream_duration_seconds",
                "Time to an upstream attempt's answer (a stream's first chunk for a routed call, its headers otherwise), by provider account and gateway route.",
                &["account", "route"],
                Histogram::latency,
            ),
            upstream_errors: Family::new(
                "gatehouse_upstream_errors_total",
                "Upstream attempts that failed, by provider account, gateway route and error (status class, timeout, unreachable).",
                &["account", "route", "error"],
                Counter::default,
            ),
            refusals: Family::new(
                "gatehouse_gateway_refusals_total",
                "Gateway calls refused by a control, by kind.",
                &["kind"],
                Counter::default,
            ),
            guardrail_verdicts: Family::new(
                "gatehouse_guardrail_verdicts_total",
                "Guardrail verdicts, by guardrails config, check type and outcome (blocked, redacted, audit, error).",
                &["config", "check", "outcome"],
                Counter::default,
            ),
            snapshot_version: AtomicI64::new(0),
            confirmed_at: AtomicU64::new(u64::MAX),
            reload_duration: Histogram::new(RELOAD_BUCKETS),
        }
    }
}

impl Metrics {
    /// One HTTP request answered. `route` is the matched route template.
    pub fn http_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.http_requests.with(&[method, route, status_label(status)]).inc();
        self.http_duration.with(&[method, route, status_class(status)]).observe(took);
    }

    pub fn decision(&self, source: DecisionSource, v: &Verdict<'_>) {
        let outcome = if v.is_allowed() { "allowed" } else { "denied" };
        self.decisions.with(&[source.as_str(), outcome, reason_class(v)]).inc();
    }

    pub fn decision_owned(&self, source: DecisionSource, d: &Decision) {
        let outcome = if d.is_allowed() { "allowed" } else { "denied" };
        self.decisions.with(&[source.as_str(), outcome, decision_class(d)]).inc();
    }

    /// A gateway call ended. `model`: the published `<account>/<model>` that served, if the call got that far.
    pub fn gateway_call(&self, route: &str, model: Option<&str>, status: u16) {
        self.gateway_calls.with(&[route, model.unwrap_or("unknown"), status_label(status)]).inc();
    }

    /// An upstream attempt ended: its time, and on failure which kind.
    pub fn upstream(&self, account: &str, route: &str, took: Duration, error: Option<&str>) {
        self.upstream_duration.with(&[account, route]).observe(took);
        if let Some(e) = error {
            self.upstream_errors.with(&[account, route, e]).inc();
        }
    }

    pub fn refusal(&self, kind: Refusal) {
        self.refusals.with(&[kind.as_str()]).inc();
    }

    /// A guardrail's verdict; `outcome` is `blocked`, `redacted`, `audit` or `error`.
    pub fn guardrail_verdict(&self, config: &str, check: &str, outcome: &str) {
        self.guardrail_verdicts.with(&[config, check, outcome]).inc();
    }

    /// The published view is current against the store at `version` (checked, reloaded or just written).
    pub fn snapshot_current(&self, version: i64) {
        self.snapshot_version.store(version, Ordering::Relaxed);
        let ns = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.confirmed_at.store(ns, Ordering::Relaxed);
    }

    /// One reload of the published view from the store took `took`.
    pub fn reload_observed(&self, took: Duration) {
        self.reload_duration.observe(took);
    }

    /// The store version of the published view, as last confirmed.
    pub fn snapshot_version(&self) -> i64 {
        self.snapshot_version.load(Ordering::Relaxed)
    }

    /// Time since the published view was last confirmed current; `None` before the first confirmation.
    pub fn snapshot_age(&self) -> Option<Duration> {
        let at = self.confirmed_at.load(Ordering::Relaxed);
        (at != u64::MAX).then(|| self.started.elapsed().saturating_sub(Duration::from_nanos(at)))
    }

    /// Reloads observed so far.
    pub fn reloads(&self) -> u64 {
        self.reload_duration.count()
    }

    /// The families kept here, written out.
    pub fn expose(&self, out: &mut Exposition) {
        out.counters(&self.http_requests);
        out.histograms(&self.http_duration);
        out.counters(&self.decisions);
        out.counters(&self.gateway_calls);
        out.histograms(&self.upstream_duration);
        out.counters(&self.upstream_errors);
        out.counters(&self.refusals);
        out.counters(&self.guardrail_verdicts);
        out.gauge(
            "gatehouse_snapshot_version",
            "The store version of the published access graph.",
            self.snapshot_version() as f64,
        );
        out.gauge(
            "gatehouse_snapshot_age_seconds",
            "Seconds since the published view was last confirmed current against the store (-1: never).",
            self.snapshot_age().map_or(-1.0, |a| a.as_secs_f64()),
        );
        out.histogram(
            "gatehouse_snapshot_reload_duration_seconds",
            "Time to reload the published view from the store after a change elsewhere.",
            &self.reload_duration,
        );
    }
}
