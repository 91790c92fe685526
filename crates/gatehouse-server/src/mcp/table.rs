//! The MCP gateway's compiled table: every MCP server of a published version, remote servers with their
//! URL parsed and their credentials opened as the headers that go upstream, virtual servers with each
//! exposed tool pointing at the remote server and tool behind it. Compiled when a snapshot is published,
//! off the request path, and published with it (`state::Published`), like the model gateway's table.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use gatehouse_core::resource::{ResourceRecord, ResourceSpec};
use gatehouse_core::spec::{McpAuth, McpServerSpec, McpTransport, McpVirtualSpec};
use gatehouse_core::ResourceKind;
use gatehouse_core::Snapshot;

use super::oauth::TokenSource;
use crate::crypto::SecretKey;

/// A remote server as the gateway calls it.
pub struct Remote {
    record: Arc<ResourceRecord>,
    pub spec: McpServerSpec,
    pub url: reqwest::Url,
    /// The headers that authenticate the gateway upstream, or why they could not be opened (a message that
    /// names the server, never a value).
    headers: Result<Vec<(HeaderName, HeaderValue)>, String>,
    /// Every credential value, so that an upstream echoing one back does not hand it to a caller.
    secrets: Arc<[String]>,
    /// Where its access tokens come from, for OAuth2 client credentials.
    oauth: Option<TokenSource>,
}

impl Remote {
    pub fn name(&self) -> &str {
        self.spec.name.as_str()
    }

    pub fn transport(&self) -> McpTransport {
        self.spec.transport
    }

    pub fn headers(&self) -> Result<&[(HeaderName, HeaderValue)], String> {
        self.headers.as_deref().map_err(Clone::clone)
    }

    /// Every credential value, the current access token included.
    pub fn secrets(&self) -> Arc<[String]> {
        match &self.oauth {
            Some(o) => o.secrets(),
            None => self.secrets.clone(),
        }
    }

    pub fn oauth(&self) -> Option<&TokenSource> {
        self.oauth.as_ref()
    }
}

/// One tool of a virtual server: the name callers see, and where it really is.
#[derive(Clone, Debug)]
pub struct Exposed {
    pub name: String,
    pub server: String,
    pub tool: String,
}

/// A virtual server: tools of remote servers under names of its own.
pub struct Virtual {
    record: Arc<ResourceRecord>,
    pub spec: McpVirtualSpec,
    pub tools: Vec<Exposed>,
}

impl Virtual {
    pub fn tool(&self, name: &str) -> Option<&Exposed> {
        self.tools.iter().find(|t| t.name == name)
    }
}

#[derive(Clone)]
pub enum Server {
    Remote(Arc<Remote>),
    Virtual(Arc<Virtual>),
}

#[derive(Default)]
pub struct McpTable {
    servers: HashMap<String, Server>,
}

impl McpTable {
    pub fn compile(snapshot: &Snapshot, key: &SecretKey, previous: Option<&McpTable>) -> McpTable {
        let mut table = McpTable::default();
        for record in snapshot.resources().of_kind(ResourceKind::McpServer) {
            let name = record.spec.name().to_string();
            let old = previous.and_then(|p| p.servers.get(&name));
            let server = match &record.spec {
                ResourceSpec::McpServer(spec) => match old {
                    Some(Server::Remote(r)) if Arc::ptr_eq(&r.record, record) => Server::Remote(r.clone()),
                    _ => match compile_remote(record, spec, key) {
                        Some(r) => Server::Remote(Arc::new(r)),
                        None => continue,
                    },
                },
                ResourceSpec::McpVirtual(spec) => match old {
                    Some(Server::Virtual(v)) if Arc::ptr_eq(&v.record, record) => Server::Virtual(v.clone()),
                    _ => Server::Virtual(Arc::new(compile_virtual(record, spec))),
                },
                ResourceSpec::ProviderAccount(_) | ResourceSpec::Agent(_) | ResourceSpec::GatewayControl(_) => continue,
            };
            table.servers.insert(name, server);
        }
        table
    }

    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.get(name)
    }

    pub fn remote(&self, name: &str) -> Option<&Arc<Remote>> {
        match self.servers.get(name)? {
            Server::Remote(r) => Some(r),
            Server::Virtual(_) => None,
        }
    }
}

fn compile_remote(record: &Arc<ResourceRecord>, spec: &McpServerSpec, key: &SecretKey) -> Option<Remote> {
    let url = match reqwest::Url::parse(spec.url.as_str()) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(server = %spec.name, error = %e, "an MCP server's URL does not parse; it is not served");
            return None;
        }
    };
    let (headers, secrets, oauth) = match open(record, key) {
        Ok(Some(auth)) => {
            let secrets = secret_values(&auth);
            match &auth {
                McpAuth::Oauth2ClientCredentials(c) => match TokenSource::new(spec.name.as_str(), c) {
                    Ok(source) => (Ok(Vec::new()), secrets, Some(source)),
                    Err(e) => (Err(e), secrets, None),
                },
                McpAuth::Bearer { .. } | McpAuth::Headers { .. } => {
                    (auth_headers(&auth).map_err(|e| format!("MCP server {}: {e}", spec.name)), secrets, None)
                }
            }
        }
        Ok(None) => (Ok(Vec::new()), Vec::new(), None),
        Err(e) => (Err(e), Vec::new(), None),
    };
    Some(Remote { record: record.clone(), spec: spec.clone(), url, headers, secrets: secrets.into(), oauth })
}

fn open(record: &ResourceRecord, key: &SecretKey) -> Result<Option<McpAuth>, String> {
    let Some(sealed) = &record.sealed_auth else { return Ok(None) };
    let resource = record.resource().to_string();
    let plain = key.open(&resource, &sealed.0).map_err(|e| format!("{resource}: {e}"))?;
    // The error names a field at most, never a value.
    serde_json::from_slice(plain.expose())
        .map(Some)
        .map_err(|e| format!("{resource}: stored credentials are unreadable: {e}"))
}

/// The fixed headers of `auth` (none for OAuth2, whose token is fetched per request).
fn auth_headers(auth: &McpAuth) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let sensitive = |v: &str| {
        let mut v = HeaderValue::from_str(v).map_err(|_| "a stored header value is not valid".to_owned())?;
        v.set_sensitive(true);
        Ok::<_, String>(v)
    };
    match auth {
        McpAuth::Bearer { token } => {
            Ok(vec![(axum::http::header::AUTHORIZATION, sensitive(&format!("Bearer {}", token.expose()))?)])
        }
        McpAuth::Headers { headers } => headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a header"))?;
                Ok((name, sensitive(value.expose())?))
            })
            .collect(),
        McpAuth::Oauth2ClientCredentials(_) => Ok(Vec::new()),
    }
}

/// Values long enough that finding one in a message means it leaked (short ones would redact noise).
fn secret_values(auth: &McpAuth) -> Vec<String> {
    let values: Vec<String> = match auth {
        McpAuth::Bearer { token } => vec![token.expose().clone()],
        McpAuth::Headers { headers } => headers.values().map(|v| v.expose().clone()).collect(),
        McpAuth::Oauth2ClientCredentials(c) => vec![c.client_secret.expose().clone()],
    };
    values.into_iter().filter(|v| v.len() >= 6).collect()
}

fn compile_virtual(record: &Arc<ResourceRecord>, spec: &McpVirtualSpec) -> Virtual {
    let tools = spec
        .tools
        .iter()
        .map(|t| Exposed { name: t.exposed_name(), server: t.server.to_string(), tool: t.tool.clone() })
        .collect();
    Virtual { record: record.clone(), spec: spec.clone(), tools }
}

/// A remote server as the gateway would call it, from a record not (yet) in the published table (for a
/// connection test). `None` for a virtual server or a URL that does not parse.
pub fn remote_of(record: &Arc<ResourceRecord>, key: &SecretKey) -> Option<Remote> {
    match &record.spec {
        ResourceSpec::McpServer(spec) => compile_remote(record, spec, key),
        ResourceSpec::McpVirtual(_)
        | ResourceSpec::ProviderAccount(_)
        | ResourceSpec::Agent(_)
        | ResourceSpec::GatewayControl(_) => None,
    }
}
