//! Gatehouse's HTTP server: authentication middleware (deny by default), the admin API, the service
//! write path and the OpenAPI document.

pub mod apply;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod bounds;
pub mod client;
pub mod console;
pub mod convert;
pub mod crypto;
pub mod dto;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod guardrails;
pub mod identity;
pub mod json_errors;
pub mod limits;
pub mod log_fields;
pub mod log_sizes;
pub mod manifest;
pub mod mcp;
pub mod net;
pub mod observability;
pub mod openapi;
pub mod passwords;
pub mod request_id;
pub mod request_log;
pub mod resources;
pub mod routes;
pub mod service;
pub mod setup;
pub mod signin_throttle;
pub mod spend_ledger;
pub mod state;
pub mod token_use;
pub mod versioning;
pub mod yaml_scan;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Json, Router};

pub use state::{App, AppState, Entropy, OsEntropy, ServerConfig, SystemClock};

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::document())
}

async fn not_found() -> error::ApiError {
    error::ApiError::NotFound(error::NotFound::Route)
}

/// The whole HTTP surface. Every route passes the auth middleware; `auth::OPEN_ROUTES` lists the
/// exceptions.
pub fn router(app: App) -> Router {
    use routes::*;
    let api = Router::new()
        .route("/apply", axum::routing::put(crate::apply::apply))
        .route("/export", get(crate::apply::export))
        .merge(resources::router())
        .route("/provider-accounts/{name}/access", get(explain::provider_account_access))
        .route("/mcp-servers/{name}/tools", get(routes::mcp_tools::list))
        .route("/test-connection/provider-accounts", post(forms::test_provider_account))
        .route("/test-connection/mcp-servers", post(forms::test_mcp_server))
        .route("/manifests/parse", post(forms::parse_manifests))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route(
            "/auth/session",
            post(crate::console::session::create)
                .get(crate::console::session::show)
                .delete(crate::console::session::end),
        )
        .route("/me", get(meta::me))
        .route("/audit-events", get(audit_events::list))
        .route("/request-logs", get(request_logs::list))
        .route("/request-logs.csv", get(request_logs::csv))
        .route("/usage", get(request_logs::usage))
        .route("/usage/series", get(usage_series::series))
        .route("/limits", get(limits::limits))
        .route("/permissions", get(meta::permissions))
        .route("/authz/check", post(meta::check))
        .route("/authz/checks", post(meta::checks))
        .route("/authz/subjects/{subject}/access", get(explain::subject_access))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{email}", get(users::get).put(users::replace).patch(users::patch).delete(users::delete))
        .route("/users/{email}/password", post(users::set_password))
        .route("/teams", get(teams::list).post(teams::create))
        .route("/teams/{name}", get(teams::get).put(teams::replace).patch(teams::patch).delete(teams::delete))
        .route("/roles", get(roles::list).post(roles::create))
        .route("/roles/{name}", get(roles::get).put(roles::replace).patch(roles::patch).delete(roles::delete))
        .route("/virtual-accounts", get(virtual_accounts::list).post(virtual_accounts::create))
        .route(
            "/virtual-accounts/{name}",
            get(virtual_accounts::get)
                .put(virtual_accounts::replace)
                .patch(virtual_accounts::patch)
                .delete(virtual_accounts::delete),
        )
        .route("/virtual-accounts/{name}/tokens", get(tokens::list_va_tokens).post(tokens::create_va_token))
        .route("/virtual-accounts/{name}/tokens/{id}", axum::routing::delete(tokens::revoke_va_token))
        .route("/virtual-accounts/{name}/rotate", post(tokens::rotate))
        .route("/personal-access-tokens", get(tokens::list_pats).post(tokens::create_pat))
        .route("/personal-access-tokens/{id}", axum::routing::delete(tokens::revoke_pat))
        .route("/setup", get(setup::status).post(setup::complete));
    Router::new()
        .route("/healthz", get(crate::observability::healthz))
        .route("/readyz", get(crate::observability::readyz))
        .route("/metrics", get(crate::observability::scrape))
        .route("/openapi.json", get(openapi_json))
        .nest("/api/v1", api)
        .merge(gateway::routes())
        .merge(mcp::routes())
        .merge(console::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), crate::auth::require_auth))
        .layer(DefaultBodyLimit::max(app.config.body_limit))
        .layer(middleware::from_fn(crate::request_id::assign))
        .layer(middleware::from_fn_with_state(app.clone(), crate::observability::observe))
        .with_state(app)
}

/// Serves until the shutdown future resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = state::spawn_background(&app);
    let result = net::serve_connections(listener, app.clone(), router(app.clone()), shutdown).await;
    background.abort();
    // Every request has finished: store what the request log still holds before the process exits.
    app.drain_request_log(std::time::Duration::from_secs(10)).await;
    if app.trace_export.is_some() {
        // Flushing blocks on the exporter's thread: not on a runtime thread.
        let flushing = app.clone();
        let _ = tokio::task::spawn_blocking(move || flushing.trace_export.as_ref().map(|e| e.shutdown())).await;
    }
    result
}
