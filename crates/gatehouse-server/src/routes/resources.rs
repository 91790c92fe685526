//! CRUD for provider accounts, MCP servers, agents and gateway controls: one implementation (in
//! `service::resources`), four mounts.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller, Params};
use crate::resources::Collection;
use crate::service::lists::resources::ResourceListQuery;
use crate::service::lists::Listing;
use crate::service::resources as service;
use crate::state::App;
use crate::versioning::merge_patch::MergePatch;
use crate::versioning::{ETag, IfMatch, IfMatchHeader};

async fn list(
    app: App,
    p: gatehouse_core::token::Principal,
    coll: Collection,
    q: ResourceListQuery,
) -> Result<Json<Listing<Value>>, ApiError> {
    crate::service::lists::resources::list(&app.snapshot(), &p.subject, app.now(), coll, q).map(Json)
}

type Versioned = (HeaderMap, Json<Value>);

fn versioned((body, etag): (Value, ETag)) -> Versioned {
    (etag.header(), Json(body))
}

macro_rules! mount {
    ($module:ident, $coll:expr, $list_path:literal, $item_path:literal, $tag:literal) => {
        pub mod $module {
            use super::*;

            /// The collection and its items, under `/api/v1`.
            pub fn routes() -> axum::Router<App> {
                let coll: Collection = $coll;
                axum::Router::new()
                    .route(&format!("/{}", coll.collection()), axum::routing::get(list).post(create))
                    .route(
                        &format!("/{}/{{name}}", coll.collection()),
                        axum::routing::get(get).put(replace).patch(patch).delete(delete),
                    )
            }

            #[derive(utoipa::OpenApi)]
            #[openapi(paths(list, create, get, replace, patch, delete))]
            pub struct Doc;

            /// Those the caller may read (the collection's read permission, tenant-wide or by a grant), each
            /// with its version in `etag`. Searched by name; with `limit` or `cursor`, one page
            /// `{items, next_cursor}` (see docs/api.md, "Lists").
            #[utoipa::path(get, path = $list_path, tag = $tag, params(ResourceListQuery),
                responses((status = 200, body = Listing<Value>), (status = 400, body = ErrorBody)))]
            pub async fn list(State(app): State<App>, Caller(p): Caller, Params(q): Params<ResourceListQuery>) -> Result<Json<Listing<Value>>, ApiError> {
                super::list(app, p, $coll, q).await
            }

            /// Creates one; collaborators in the body become grants (the creator may name themself, e.g. as
            /// manager, even with only the create permission). Credentials are stored encrypted and never
            /// returned. Read-only fields of an object read back (`auth_configured`, `etag`, `warnings`) are
            /// accepted and ignored. The answer adds `warnings` (a list of `Warning`): `creator_cannot_read`
            /// when the caller cannot read what they just created.
            #[utoipa::path(post, path = $list_path, tag = $tag, request_body = Object,
                responses((status = 201, body = Object, description = "the object as stored, with `warnings: [Warning]`", headers(("ETag" = String, description = "the new object's version"))),
                          (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
            pub async fn create(State(app): State<App>, Caller(p): Caller, Body(b): Body<Value>) -> Result<(StatusCode, HeaderMap, Json<Value>), ApiError> {
                let (mut body, etag, warnings) = service::create(&app, &p.subject, $coll, b).await?;
                if let Some(o) = body.as_object_mut() {
                    o.insert("warnings".into(), serde_json::to_value(warnings).map_err(|e| ApiError::Internal(e.to_string()))?);
                }
                let (headers, body) = versioned((body, etag));
                Ok((StatusCode::CREATED, headers, body))
            }

            #[utoipa::path(get, path = $item_path, tag = $tag,
                responses((status = 200, body = Object, headers(("ETag" = String, description = "the object's version, for If-Match"))),
                          (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
            pub async fn get(State(app): State<App>, Caller(p): Caller, Path(name): Path<String>) -> Result<Versioned, ApiError> {
                service::get(&app, &p.subject, $coll, &name).map(versioned)
            }

            /// Replaces one. Without `auth`, the stored credentials are kept, unless the body changes where they
            /// would be sent (a provider account's type, `base_url`, `endpoint` or `region`; an MCP server's `url`).
            /// With `If-Match`, only if the object is still at that version (else 412); read-only fields of an
            /// object read back (`auth_configured`, `etag`) are accepted and ignored.
            #[utoipa::path(put, path = $item_path, tag = $tag, request_body = Object, params(IfMatchHeader),
                responses((status = 200, body = Object, headers(("ETag" = String, description = "the object's new version"))),
                          (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
                          (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
            pub async fn replace(State(app): State<App>, Caller(p): Caller, if_match: IfMatch, Path(name): Path<String>, Body(b): Body<Value>) -> Result<Versioned, ApiError> {
                service::replace(&app, &p.subject, $coll, &name, &if_match, b).await.map(versioned)
            }

            /// Changes some fields: a JSON merge patch (RFC 7396) applied to the object as a read shows it, then
            /// checked exactly like a `PUT` of the result.
            #[utoipa::path(patch, path = $item_path, tag = $tag, params(IfMatchHeader),
                request_body(content = Object, content_type = "application/merge-patch+json"),
                responses((status = 200, body = Object, headers(("ETag" = String, description = "the object's new version"))),
                          (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
                          (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 415, body = ErrorBody)))]
            pub async fn patch(State(app): State<App>, Caller(p): Caller, if_match: IfMatch, Path(name): Path<String>, MergePatch(m): MergePatch) -> Result<Versioned, ApiError> {
                service::patch(&app, &p.subject, $coll, &name, &if_match, m).await.map(versioned)
            }

            #[utoipa::path(delete, path = $item_path, tag = $tag, params(IfMatchHeader),
                responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
                          (status = 412, body = ErrorBody)))]
            pub async fn delete(State(app): State<App>, Caller(p): Caller, if_match: IfMatch, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
                service::delete(&app, &p.subject, $coll, &name, &if_match).await?;
                Ok(StatusCode::NO_CONTENT)
            }
        }
    };
}

/// Mounts each collection and generates `router()` and `openapi()` over all of them: a new resource type is
/// one line here (the paths are literals because the OpenAPI annotations need them; a test checks them
/// against the catalogue).
macro_rules! collections {
    ($( ($module:ident, $coll:expr, $list_path:literal, $item_path:literal, $tag:literal) ),* $(,)?) => {
        $( mount!($module, $coll, $list_path, $item_path, $tag); )*

        /// Every collection's routes, under `/api/v1`.
        pub fn router() -> axum::Router<App> {
            axum::Router::new()$(.merge($module::routes()))*
        }

        /// Every collection's part of the OpenAPI document.
        pub fn openapi() -> utoipa::openapi::OpenApi {
            let mut doc = utoipa::openapi::OpenApi::default();
            $( doc.merge(<$module::Doc as utoipa::OpenApi>::openapi()); )*
            doc
        }
    };
}

collections! {
    (provider_accounts, Collection::ProviderAccount, "/api/v1/provider-accounts", "/api/v1/provider-accounts/{name}", "provider-accounts"),
    (mcp_servers, Collection::McpServer, "/api/v1/mcp-servers", "/api/v1/mcp-servers/{name}", "mcp-servers"),
    (agents, Collection::Agent, "/api/v1/agents", "/api/v1/agents/{name}", "agents"),
    (gateway_controls, Collection::GatewayControls, "/api/v1/gateway-controls", "/api/v1/gateway-controls/{name}", "gateway-controls"),
}

#[cfg(test)]
mod tests {
    use gatehouse_core::resource_type::ResourceType;

    #[test]
    fn every_resource_type_is_mounted_and_documented() {
        let doc = super::openapi();
        for t in ResourceType::ALL {
            for path in [format!("/api/v1/{}", t.collection()), format!("/api/v1/{}/{{name}}", t.collection())] {
                assert!(doc.paths.paths.contains_key(&path), "{path} is not mounted");
            }
        }
        assert_eq!(doc.paths.paths.len(), 2 * ResourceType::ALL.len());
    }
}
