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
    info(title = "Gatehouse", description = "AI gateway access control: admin API. Every route needs `Authorization: Bearer <token>` unless marked otherwise; errors are `{\"error\":{\"message\",\"type\",\"code\"}}`; an invalid request adds `param` (the first field at fault) and `errors` (every field at fault, each `{param, message}`)."),
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
        routes::request_logs::csv,
        routes::setup::status, routes::setup::complete,
    )
)]
pub struct ApiDoc;

/// The whole document: the annotated handlers, and each resource collection's part, with the error answers
/// every operation can give.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(routes::resources::openapi());
    doc.merge(<routes::forms::Doc as OpenApi>::openapi());
    add_common_errors(&mut doc);
    doc
}

/// The errors that do not depend on the operation: the one error mapping answers them on any route (a
/// malformed body or query, a missing or refused credential, an unknown item, a body too large or of another
/// type, the database unreachable), besides those of writes (a conflict, a stale `If-Match`) and of the
/// gateway (a limit). An operation that documents one of these statuses keeps its own description.
fn add_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    const ANY: &[(&str, &str)] = &[
        ("400", "the request is malformed or a field is invalid (the body names it)"),
        ("401", "no credential, or one that is unknown, expired or revoked"),
        ("403", "the caller may not do this"),
        ("404", "no such item, or none the caller may see"),
        ("405", "the path does not take this method"),
        ("413", "the body is larger than the server accepts"),
        ("415", "the body is not of a type this operation takes"),
        ("503", "the database cannot be reached, or the server is busy: try again shortly"),
    ];
    const WRITES: &[(&str, &str)] = &[
        ("409", "the change conflicts with the current state"),
        ("412", "`If-Match` names a version that is no longer current"),
    ];
    const GATEWAY: &[(&str, &str)] = &[
        ("429", "a rate limit or budget refused the call"),
        ("502", "the upstream failed"),
        ("504", "the upstream did not answer in time"),
    ];
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let gateway = path.starts_with("/v1/") || path.starts_with("/mcp/");
        let ops = [
            (false, item.get.as_mut()),
            (true, item.put.as_mut()),
            (true, item.post.as_mut()),
            (true, item.delete.as_mut()),
            (true, item.patch.as_mut()),
        ];
        for (write, op) in ops {
            let Some(op) = op else { continue };
            let extra = ANY.iter().chain(if write { WRITES } else { &[] }).chain(if gateway { GATEWAY } else { &[] });
            for (status, description) in extra {
                op.responses.responses.entry((*status).to_owned()).or_insert_with(|| error(description).into());
            }
        }
    }
}
