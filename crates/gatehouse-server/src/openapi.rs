//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse", description = "AI gateway access control: admin API. Every route needs `Authorization: Bearer <token>` unless marked otherwise; errors are `{\"error\":{\"message\",\"type\",\"code\"}}`."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    paths(
        crate::observability::healthz, crate::observability::readyz, crate::observability::scrape, routes::meta::me, routes::meta::permissions, routes::meta::check, routes::explain::subject_access,
        routes::auth::login, routes::auth::logout, routes::audit_events::list,
        crate::console::session::create, crate::console::session::show, crate::console::session::end,
        routes::request_logs::list, routes::request_logs::usage,
        routes::users::list, routes::users::create, routes::users::get, routes::users::replace, routes::users::delete, routes::users::set_password,
        routes::teams::list, routes::teams::create, routes::teams::get, routes::teams::replace, routes::teams::delete,
        routes::roles::list, routes::roles::create, routes::roles::get, routes::roles::replace, routes::roles::delete,
        routes::virtual_accounts::list, routes::virtual_accounts::create, routes::virtual_accounts::get, routes::virtual_accounts::replace, routes::virtual_accounts::delete,
        routes::tokens::create_pat, routes::tokens::list_pats, routes::tokens::revoke_pat,
        routes::tokens::create_va_token, routes::tokens::list_va_tokens, routes::tokens::revoke_va_token, routes::tokens::rotate,
        crate::gateway::chat_completions, crate::gateway::completions, crate::gateway::embeddings,
        crate::gateway::models, crate::gateway::messages,
        crate::apply::apply, crate::apply::export, routes::explain::provider_account_access,
        routes::mcp_tools::list,
        routes::meta::checks,
        routes::users::patch, routes::teams::patch, routes::roles::patch, routes::virtual_accounts::patch,
        routes::usage_series::series, routes::limits::limits,
    )
)]
pub struct ApiDoc;

/// The whole document: the annotated handlers, and each resource collection's part.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(routes::resources::openapi());
    doc
}
