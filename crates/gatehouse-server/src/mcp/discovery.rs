//! How standard MCP clients learn to authenticate: a 401 from `/mcp/<server>` carries `WWW-Authenticate:
//! Bearer resource_metadata="<base>/.well-known/oauth-protected-resource/mcp/<server>"`, and that document
//! (RFC 9728) says what the resource is and that a bearer token goes in the `Authorization` header. The
//! document is public and the same for every name, so it tells nobody which servers exist.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, Request};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use crate::client::ForwardedHttps;
use crate::state::App;

pub const METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource/mcp/";
pub const METADATA_ROUTE: &str = "/.well-known/oauth-protected-resource/mcp/{server}";

/// The URL the client reached the gateway at: its `Host`, over https when a trusted proxy says so.
fn base_url(https: bool, headers: &HeaderMap) -> String {
    let scheme = if https { "https" } else { "http" };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

fn peer_of(req: &Request) -> Option<IpAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// The server named by a `/mcp/<server>` path.
pub fn server_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/mcp/")?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// Adds the `WWW-Authenticate` challenge to a 401 of `/mcp/<server>`.
pub fn challenge(app: &App, req: &Request, resp: &mut Response) {
    let Some(server) = server_of(req.uri().path()) else { return };
    let https = crate::client::forwarded_https(app, peer_of(req), req.headers());
    let url = format!("{}{METADATA_PREFIX}{server}", base_url(https, req.headers()));
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer resource_metadata=\"{url}\"")) {
        resp.headers_mut().insert("www-authenticate", v);
    }
}

/// `GET /.well-known/oauth-protected-resource/mcp/<server>` (RFC 9728).
pub async fn metadata(
    ForwardedHttps(https): ForwardedHttps,
    Path(server): Path<String>,
    headers: HeaderMap,
) -> Json<Value> {
    let base = base_url(https, &headers);
    Json(json!({
        "resource": format!("{base}/mcp/{server}"),
        "bearer_methods_supported": ["header"],
        "resource_name": format!("MCP server {server} through Gatehouse"),
        "resource_documentation": format!("{base}/"),
    }))
}
