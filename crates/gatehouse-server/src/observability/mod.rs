//! What an operator watches: liveness (`/healthz`), readiness (`/readyz`), Prometheus metrics (`/metrics`),
//! and W3C trace context passed to upstreams with optional OTLP export (`trace`).

pub mod metrics;
pub mod registry;
pub mod trace;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

pub use metrics::{DecisionSource, Metrics, Refusal};

use crate::state::App;

/// How long `/readyz` waits for the database to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// The label of a request that matched no route: raw paths never become labels.
const UNMATCHED: &str = "unmatched";

/// The outermost layer: times every request under its route template, and runs it in the trace context its
/// `traceparent` carries (or the one OTLP export starts).
pub async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let context = trace::Context::incoming(&app, req.headers());
    let resp = match context {
        Some(c) => trace::scope(c, next.run(req)).await,
        None => next.run(req).await,
    };
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    app.metrics.http_request(method.as_str(), route, resp.status().as_u16(), started.elapsed());
    resp
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the process answers.
    pub status: &'static str,
}

/// Alive: the process answers HTTP. Touches nothing else.
#[utoipa::path(get, path = "/healthz", tag = "meta", security(()), responses((status = 200, body = Health, description = "the server is up")))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Check {
    /// `ok` or `failing`.
    pub status: &'static str,
    /// Why it fails, in words that name no host or credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct SnapshotState {
    /// The store version of the published access graph.
    pub version: i64,
    /// Seconds since the published view was last confirmed current against the store.
    pub age_seconds: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct Checks {
    pub database: Check,
    pub snapshot: Check,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    pub snapshot: SnapshotState,
    pub checks: Checks,
}

/// Ready: the database answers within `READY_TIMEOUT` and a snapshot is loaded. 503, with the same body,
/// when not.
#[utoipa::path(get, path = "/readyz", tag = "meta", security(()),
    responses((status = 200, body = Readiness, description = "ready to serve"), (status = 503, body = Readiness, description = "not ready: a check fails")))]
pub async fn readyz(State(app): State<App>) -> Response {
    let database = match tokio::time::timeout(READY_TIMEOUT, app.store.version()).await {
        Ok(Ok(_)) => Check { status: "ok", error: None },
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "readiness: the database did not answer");
            Check { status: "failing", error: Some("the database cannot be reached") }
        }
        Err(_) => Check { status: "failing", error: Some("the database did not answer in time") },
    };
    let age = app.metrics.snapshot_age();
    let snapshot = match age {
        Some(_) => Check { status: "ok", error: None },
        None => Check { status: "failing", error: Some("no snapshot has been loaded") },
    };
    let ready = database.status == "ok" && snapshot.status == "ok";
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        snapshot: SnapshotState { version: app.published().version, age_seconds: age.map(|a| a.as_secs_f64()) },
        checks: Checks { database, snapshot },
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// `mcp::may_use`, counted as a decision: an MCP message's check on its server.
pub fn mcp_use(app: &App, view: &crate::state::Published, subject: &gatehouse_core::Subject, server: &str) -> bool {
    use gatehouse_core::{Action, Resource, ResourceKind};
    let r = Resource::new(ResourceKind::McpServer, server);
    let verdict = view.snapshot.verdict(subject, Action::Use, &r, app.now());
    app.metrics.decision(DecisionSource::Mcp, &verdict);
    verdict.is_allowed()
}

/// Whether a scrape may read the metrics: from the loopback (and not relayed by a proxy), or with the
/// configured token.
pub fn may_scrape(configured: Option<&str>, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    let relayed = headers.contains_key("x-forwarded-for") || headers.contains_key(header::FORWARDED);
    if peer.is_some_and(|p| p.ip().is_loopback()) && !relayed {
        return true;
    }
    let (Some(expected), Some(given)) = (configured, bearer(headers)) else { return false };
    token_matches(expected, given)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compared in constant time, as digests, so neither the content nor the length leaks through timing.
pub fn token_matches(expected: &str, given: &str) -> bool {
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(given.as_bytes());
    a.ct_eq(&b).into()
}

/// Prometheus text exposition. Open from the loopback; otherwise `Authorization: Bearer
/// <GATEHOUSE_METRICS_TOKEN>` (without that setting, loopback only).
#[utoipa::path(get, path = "/metrics", tag = "meta", security(()),
    responses((status = 200, content_type = "text/plain; version=0.0.4", description = "the metrics, in Prometheus' text format"),
              (status = 401, body = crate::error::ErrorBody, description = "not from the loopback and without the metrics token")))]
pub async fn scrape(State(app): State<App>, req: Request) -> Response {
    let token = app.config.metrics_token.as_ref().map(|t| t.expose().as_str());
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    if !may_scrape(token, peer, req.headers()) {
        return crate::error::ApiError::Unauthenticated(crate::error::Unauthenticated::MissingToken).into_response();
    }
    let mut out = registry::Exposition::default();
    app.metrics.expose(&mut out);
    out.gauge(
        "gatehouse_request_log_queue_depth",
        "Request log entries waiting for the background writer.",
        app.request_log_queued() as f64,
    );
    out.counter(
        "gatehouse_request_log_written_total",
        "Request log entries written to the store.",
        app.request_logs_written(),
    );
    out.counter(
        "gatehouse_request_log_dropped_total",
        "Request log entries dropped because the writer had fallen behind.",
        app.request_logs_dropped(),
    );
    out.counter(
        "gatehouse_request_log_lost_total",
        "Request log entries the writer gave up on after retrying.",
        app.request_logs_lost(),
    );
    if let Some(p) = app.store.pool_stats() {
        out.gauge("gatehouse_db_pool_connections", "Database connections open in the pool.", f64::from(p.size));
        out.gauge("gatehouse_db_pool_idle_connections", "Open database connections not in use.", p.idle as f64);
        out.gauge("gatehouse_db_pool_max_connections", "The pool's limit.", f64::from(p.max));
    }
    let mut resp = out.text.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    #[test]
    fn loopback_is_open_and_others_need_the_token() {
        let none = HeaderMap::new();
        assert!(may_scrape(None, peer("127.0.0.1"), &none));
        assert!(may_scrape(None, peer("::1"), &none));
        assert!(!may_scrape(None, peer("10.0.0.5"), &none));
        assert!(!may_scrape(Some("s3cret-metrics-token"), peer("10.0.0.5"), &none));
        let mut with = HeaderMap::new();
        with.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cret-metrics-token"));
        assert!(may_scrape(Some("s3cret-metrics-token"), peer("10.0.0.5"), &with));
        assert!(!may_scrape(Some("another-token"), peer("10.0.0.5"), &with));
        // No token configured: a bearer proves nothing.
        assert!(!may_scrape(None, peer("10.0.0.5"), &with));
    }

    #[test]
    fn a_relayed_loopback_request_needs_the_token() {
        let mut relayed = HeaderMap::new();
        relayed.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert!(!may_scrape(None, peer("127.0.0.1"), &relayed));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abcd"));
        assert!(!token_matches("abc", "ab"));
        assert!(!token_matches("abc", ""));
    }
}
