//! Remote MCP servers: `mcp-server/remote` manifests, split into a non-secret spec and an `auth` part.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::{
    check_collaborators, check_description, check_header_secret, expose_secret, expose_secret_map, grants_on,
    split_auth, Collaborator, FieldError, HttpUrl, Lookup,
};
use crate::ids::ResourceName;
use crate::model::{Grant, Resource, ResourceKind};
use crate::secret::Secret;

/// How the gateway talks to the server. Streamable HTTP is the current MCP transport; SSE is the older one
/// that many servers still speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum McpTransport {
    #[default]
    StreamableHttp,
    Sse,
}

/// An MCP server without its credentials. Serializes as the manifest's fields without `type` and `auth`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerSpec {
    pub name: ResourceName,
    #[serde(default)]
    pub description: String,
    pub url: HttpUrl,
    #[serde(default)]
    pub transport: McpTransport,
    /// The tools the gateway lets through, by the server's own names; `None`: every tool the server lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// The resources the gateway lets through: URIs, URI templates as the server lists them
    /// (`users://{id}/profile`, which lets through the URIs they expand to), or prefixes ending in `*`
    /// (`file:///docs/*`); `None`: every resource the server has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// The prompts the gateway lets through, by the server's own names; `None`: every prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Vec<String>>,
    #[serde(default)]
    pub collaborators: Vec<Collaborator>,
}

/// What the gateway sends the MCP server. Debug prints `****` for every value; Serialize writes the values
/// (with `type`), for the server to encrypt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum McpAuth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        #[serde(serialize_with = "expose_secret")]
        token: Secret<String>,
    },
    /// Headers sent as they are, e.g. `{X-Api-Key: ...}`.
    Headers {
        #[serde(serialize_with = "expose_secret_map")]
        headers: BTreeMap<String, Secret<String>>,
    },
    /// OAuth 2.0 client credentials (RFC 6749 §4.4): the gateway gets an access token from `token_url`,
    /// keeps it until shortly before it expires, and sends it as `Authorization: Bearer <token>`.
    Oauth2ClientCredentials(OAuth2ClientCredentials),
}

/// The client-credentials grant's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2ClientCredentials {
    pub token_url: HttpUrl,
    pub client_id: String,
    #[serde(serialize_with = "expose_secret")]
    pub client_secret: Secret<String>,
    /// Space-separated scopes asked for; none: the token endpoint's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The API the token is for, for token endpoints that need it (`audience`, as Auth0 and others take it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// How the client authenticates to the token endpoint: HTTP Basic (the default, which every server
    /// must accept) or `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1).
    #[serde(default)]
    pub client_auth: ClientAuth,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    #[default]
    Basic,
    Body,
}

/// A whole `mcp-server/remote` manifest (without `type`). Not Serialize, for the same reason as
/// `ProviderAccountManifest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpServerManifest {
    pub spec: McpServerSpec,
    /// `None`: no `auth` in the manifest; on an update, keep the stored one.
    pub auth: Option<McpAuth>,
}

impl McpServerSpec {
    pub const MANIFEST_TYPE: &'static str = "mcp-server/remote";

    pub fn collaborators(&self) -> &[Collaborator] {
        &self.collaborators
    }

    /// `mcp-server:<name>`.
    pub fn resource(&self) -> Resource {
        Resource::new(ResourceKind::McpServer, self.name.as_str())
    }

    pub fn grants(&self) -> impl Iterator<Item = Grant> + '_ {
        grants_on(&self.collaborators, self.resource())
    }

    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        check_description("description", &self.description)?;
        if let Some(tools) = &self.tools {
            check_tool_names("tools", tools.iter().map(String::as_str))?;
        }
        if let Some(resources) = &self.resources {
            check_resources("resources", resources)?;
        }
        if let Some(prompts) = &self.prompts {
            check_prompt_names("prompts", prompts)?;
        }
        check_collaborators(&self.collaborators, ResourceKind::McpServer, world)
    }

    /// Whether the gateway lets `tool` of this server through.
    pub fn enables(&self, tool: &str) -> bool {
        self.tools.as_ref().is_none_or(|list| list.iter().any(|t| t == tool))
    }

    /// Whether the gateway lets the prompt `name` of this server through.
    pub fn enables_prompt(&self, name: &str) -> bool {
        self.prompts.as_ref().is_none_or(|list| list.iter().any(|p| p == name))
    }

    /// Whether the gateway lets the resource `uri` of this server through: listed, under a listed prefix,
    /// or an expansion of a listed template.
    pub fn enables_resource(&self, uri: &str) -> bool {
        self.resources.as_ref().is_none_or(|list| {
            list.iter().any(|e| match e.strip_suffix('*') {
                Some(prefix) => uri.starts_with(prefix),
                None if e.contains('{') => template_matches(e, uri),
                None => e == uri,
            })
        })
    }

    /// Whether a resource template the server lists is let through: listed as it is, or wholly under a
    /// listed prefix (its text before the first variable).
    pub fn enables_template(&self, template: &str) -> bool {
        self.resources.as_ref().is_none_or(|list| {
            let fixed = template.split('{').next().unwrap_or("");
            list.iter().any(|e| match e.strip_suffix('*') {
                Some(prefix) => fixed.starts_with(prefix),
                None => e == template,
            })
        })
    }
}

/// Whether `uri` is an expansion of the URI template `template` (RFC 6570): its text outside `{...}` must
/// match as it is; a simple variable (`{id}`) stands for one or more characters other than `/`, `?`, `#`
/// and `,`; any other expression (`{+path}`, `{/seg}`, `{?q}`...) for any characters.
pub fn template_matches(template: &str, uri: &str) -> bool {
    // Pieces: literal text, or a variable that may or may not span `/`.
    enum Piece<'a> {
        Text(&'a str),
        Var { any: bool },
    }
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else { return false };
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let expr = &rest[open + 1..close];
        let any = expr.starts_with(['+', '#', '/', '.', ';', '?', '&']) || expr.contains(',');
        pieces.push(Piece::Var { any });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    fn go(pieces: &[Piece<'_>], uri: &str) -> bool {
        match pieces.split_first() {
            None => uri.is_empty(),
            Some((Piece::Text(t), more)) => uri.strip_prefix(t).is_some_and(|u| go(more, u)),
            Some((Piece::Var { any }, more)) => {
                let stop = |c: char| !*any && "/?#,".contains(c);
                for (i, c) in uri.char_indices() {
                    if stop(c) {
                        break;
                    }
                    if go(more, &uri[i + c.len_utf8()..]) {
                        return true;
                    }
                }
                false
            }
        }
    }
    go(&pieces, uri)
}

/// The longest resource URI or template a manifest may hold.
pub const MAX_RESOURCE: usize = 2048;

/// Resource entries: URIs (a scheme, then no whitespace), templates with balanced `{...}`, or prefixes
/// with `*` only at their end; each listed once.
pub fn check_resources(field: &str, entries: &[String]) -> Result<(), FieldError> {
    let mut seen = std::collections::HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let bad = |why: &str| {
            Err(FieldError::new(at.clone(), format!("{e:?} is not a resource URI, template or prefix: {why}")))
        };
        let scheme = e.split_once(':').map(|(s, _)| s).unwrap_or("");
        if e.is_empty() || e.len() > MAX_RESOURCE {
            return bad(&format!("1 to {MAX_RESOURCE} characters"));
        }
        if e.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("it holds whitespace");
        }
        let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok {
            return bad("it needs a scheme (`file:`, `https:`, ...)");
        }
        if e.trim_end_matches('*').contains('*') || e.matches('*').count() > 1 {
            return bad("`*` may only end a prefix");
        }
        let mut depth = 0i32;
        for c in e.chars() {
            depth += match c {
                '{' => 1,
                '}' => -1,
                _ => 0,
            };
            if !(0..=1).contains(&depth) {
                return bad("unbalanced braces");
            }
        }
        if depth != 0 || (e.ends_with('*') && e.contains('{')) {
            return bad("unbalanced braces, or a template that is also a prefix");
        }
        if !seen.insert(e.as_str()) {
            return Err(FieldError::new(at, format!("{e} is listed twice")));
        }
    }
    Ok(())
}

/// Prompt names: 1 to 128 characters, no whitespace or control characters, each listed once.
pub fn check_prompt_names(field: &str, names: &[String]) -> Result<(), FieldError> {
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if name.is_empty() || name.len() > MAX_TOOL_NAME || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(FieldError::new(
                at,
                format!("{name:?} is not a prompt name: 1 to {MAX_TOOL_NAME} characters, without spaces"),
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(FieldError::new(at, format!("{name} is listed twice")));
        }
    }
    Ok(())
}

/// The longest tool name a manifest may hold (MCP suggests at most 128 characters).
pub const MAX_TOOL_NAME: usize = 128;

/// Tool names as MCP recommends them (letters, digits, `_`, `-`, `.`, at most 128), each listed once.
pub fn check_tool_names<'a>(field: &str, names: impl Iterator<Item = &'a str>) -> Result<(), FieldError> {
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.enumerate() {
        let at = format!("{field}[{i}]");
        let ok = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
        if name.is_empty() || name.len() > MAX_TOOL_NAME || !name.chars().all(ok) {
            return Err(FieldError::new(
                at,
                format!("{name:?} is not a tool name: 1 to {MAX_TOOL_NAME} letters, digits, '_', '-' or '.'"),
            ));
        }
        if !seen.insert(name) {
            return Err(FieldError::new(at, format!("{name} is listed twice")));
        }
    }
    Ok(())
}

impl McpServerManifest {
    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        self.spec.validate(world)?;
        match &self.auth {
            Some(a) => a.validate().map_err(|e| e.within("auth")),
            None => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for McpServerManifest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (spec, auth) = split_auth(d)?;
        Ok(McpServerManifest { spec, auth })
    }
}

impl McpAuth {
    /// Field paths are relative to `auth`.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            McpAuth::Bearer { token } => check_header_secret("token", token),
            McpAuth::Headers { headers } => {
                if headers.is_empty() {
                    return Err(FieldError::new("headers", "must name at least one header"));
                }
                for (name, value) in headers {
                    let field = format!("headers.{name}");
                    // RFC 9110 token characters: anything else is not a header name.
                    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
                    if name.is_empty() || !name.chars().all(token) {
                        return Err(FieldError::new(field, "is not a valid HTTP header name"));
                    }
                    check_header_value(&field, value)?;
                }
                Ok(())
            }
            McpAuth::Oauth2ClientCredentials(c) => {
                check_plain("client_id", &c.client_id, true)?;
                check_header_value("client_secret", &c.client_secret)?;
                if let Some(scope) = &c.scope {
                    check_plain("scope", scope, false)?;
                }
                match &c.audience {
                    Some(audience) => check_plain("audience", audience, false),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A value sent in a form: not empty, no control characters, at most 1024 bytes; with `token`, no spaces
/// either.
fn check_plain(field: &str, v: &str, token: bool) -> Result<(), FieldError> {
    if v.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if v.chars().any(|c| c.is_control() || (token && c.is_whitespace())) {
        let what = if token { "spaces or control characters" } else { "control characters" };
        return Err(FieldError::new(field, format!("must not contain {what}")));
    }
    if v.len() > 1024 {
        return Err(FieldError::new(field, "must be at most 1024 bytes"));
    }
    Ok(())
}

/// Header values may hold spaces (`Basic abc`), but never CR or LF (header injection) or other controls.
fn check_header_value(field: &str, v: &Secret<String>) -> Result<(), FieldError> {
    let v = v.expose();
    if v.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    if v.len() > 8192 {
        return Err(FieldError::new(field, "must be at most 8192 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::test_world::{fails_at, world};
    use super::*;

    fn github() -> Value {
        json!({
            "name": "github",
            "description": "GitHub's MCP server",
            "url": "https://api.githubcopilot.com/mcp/",
            "auth": {"type": "bearer", "token": "ghp_test"},
            "collaborators": [
                {"subject": "team:ml-platform", "role": "mcp-server-user"},
                {"subject": "user:alice@example.com", "role": "mcp-server-manager"}
            ]
        })
    }

    fn parse(v: Value) -> Result<McpServerManifest, serde_json::Error> {
        serde_json::from_value(v)
    }

    fn with(patch: Value) -> McpServerManifest {
        let mut v = github();
        for (k, x) in patch.as_object().unwrap() {
            v[k] = x.clone();
        }
        parse(v).unwrap()
    }

    #[test]
    fn parses_and_serializes_back_without_auth() {
        let m = parse(github()).unwrap();
        m.validate(&world()).unwrap();
        assert_eq!(m.spec.transport, McpTransport::StreamableHttp);
        assert!(!format!("{m:?}").contains("ghp_test"));
        let out = serde_json::to_value(&m.spec).unwrap();
        let mut expected = github();
        expected.as_object_mut().unwrap().remove("auth");
        expected["transport"] = json!("streamable-http");
        assert_eq!(out, expected);
        assert_eq!(parse(out).unwrap(), McpServerManifest { spec: m.spec.clone(), auth: None });
        let sealed = serde_json::to_value(&m.auth).unwrap();
        assert_eq!(sealed, json!({"type": "bearer", "token": "ghp_test"}));
        assert_eq!(serde_json::from_value::<McpAuth>(sealed).unwrap(), m.auth.unwrap());
        let grants: Vec<String> = m.spec.grants().map(|g| format!("{} {} {}", g.resource, g.subject, g.role)).collect();
        assert_eq!(grants[0], "mcp-server:github team:ml-platform mcp-server-user");
        assert_eq!(m.spec.collaborators().len(), 2);
    }

    #[test]
    fn header_auth_and_sse() {
        let headers = json!({"X-Api-Key": "k", "Authorization": "Basic YWI6Yw=="});
        let m = with(json!({"transport": "sse", "auth": {"type": "headers", "headers": headers}}));
        m.validate(&world()).unwrap();
        assert_eq!(m.spec.transport, McpTransport::Sse);
        assert_eq!(
            serde_json::to_value(&m.auth).unwrap(),
            json!({"type": "headers", "headers": {"Authorization": "Basic YWI6Yw==", "X-Api-Key": "k"}})
        );
        let minimal = parse(json!({"name": "x", "url": "http://127.0.0.1:3000/mcp"})).unwrap();
        assert!(minimal.auth.is_none() && minimal.spec.description.is_empty());
    }

    #[test]
    fn oauth2_client_credentials() {
        let auth = json!({"type": "oauth2-client-credentials", "token_url": "https://auth.example.com/oauth/token",
                          "client_id": "gatehouse", "client_secret": "cs-very-secret", "scope": "tools:read tools:call"});
        let m = with(json!({"auth": auth}));
        m.validate(&world()).unwrap();
        let Some(McpAuth::Oauth2ClientCredentials(c)) = &m.auth else { panic!("{:?}", m.auth) };
        assert_eq!(c.client_auth, ClientAuth::Basic);
        assert_eq!(c.audience, None);
        assert!(!format!("{m:?}").contains("cs-very-secret"));
        // Sealed as given (with the default client authentication), and read back the same.
        let mut expected = auth.clone();
        expected["client_auth"] = json!("basic");
        let sealed = serde_json::to_value(&m.auth).unwrap();
        assert_eq!(sealed, expected);
        assert_eq!(serde_json::from_value::<McpAuth>(sealed).unwrap(), m.auth.clone().unwrap());
        let e = parse(json!({"name": "x", "url": "http://h/mcp", "auth": {"type": "oauth2-client-credentials",
            "token_url": "https://a/t", "client_id": "c", "client_secret": "s", "grant": "x"}}))
        .unwrap_err();
        assert!(e.to_string().starts_with("unknown field `grant`"), "{e}");
        let e = parse(json!({"name": "x", "url": "http://h/mcp", "auth": {"type": "oauth2-client-credentials",
            "token_url": "ftp://a/t", "client_id": "c", "client_secret": "s"}}))
        .unwrap_err();
        assert!(e.to_string().contains("must start with http:// or https://"), "{e}");
        let e = parse(json!({"name": "x", "url": "http://h/mcp", "auth": {"type": "oauth2-client-credentials",
            "token_url": "https://a/t", "client_id": "c"}}))
        .unwrap_err();
        assert!(e.to_string().starts_with("missing field `client_secret`"), "{e}");
        let w = world();
        let bad = |patch: Value| {
            let mut a = auth.clone();
            for (k, x) in patch.as_object().unwrap() {
                a[k] = x.clone();
            }
            with(json!({"auth": a})).validate(&w)
        };
        bad(json!({"client_auth": "body", "audience": "https://api.example.com"})).unwrap();
        fails_at(bad(json!({"client_id": ""})), "auth.client_id");
        fails_at(bad(json!({"client_id": "a b"})), "auth.client_id");
        fails_at(bad(json!({"client_secret": " "})), "auth.client_secret");
        fails_at(bad(json!({"client_secret": "a\r\nb"})), "auth.client_secret");
        fails_at(bad(json!({"scope": "a\nb"})), "auth.scope");
        fails_at(bad(json!({"audience": "x".repeat(1025)})), "auth.audience");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        for (patch, expected) in [
            (json!({"headers": {}}), "unknown field `headers`"),
            (json!({"transport": "websocket"}), "unknown variant `websocket`"),
            (json!({"auth": {"type": "bearer", "token": "t", "scheme": "x"}}), "unknown field `scheme`"),
            (json!({"auth": {"type": "oauth"}}), "unknown variant `oauth`"),
            (json!({"auth": {"token": "t"}}), "missing field `type`"),
            (json!({"url": "ws://x"}), "URL \"ws://x\" is invalid"),
        ] {
            let mut v = github();
            for (k, x) in patch.as_object().unwrap() {
                v[k] = x.clone();
            }
            let e = parse(v).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{e}");
        }
        let e = parse(json!({"name": "x"})).unwrap_err();
        assert_eq!(e.to_string(), "missing field `url`");
    }

    #[test]
    fn validation() {
        let w = world();
        let msg = fails_at(
            with(json!({"collaborators": [{"subject": "team:ml-platform", "role": "agent-manager"}]})).validate(&w),
            "collaborators[0].role",
        );
        assert!(msg.ends_with("use mcp-server-manager or mcp-server-user"), "{msg}");
        fails_at(
            with(json!({"collaborators": [{"subject": "virtualaccount:nope", "role": "mcp-server-user"}]}))
                .validate(&w),
            "collaborators[0].subject",
        );
        fails_at(with(json!({"description": "x".repeat(2001)})).validate(&w), "description");
        let auth = |a: Value| with(json!({"auth": a})).validate(&w);
        fails_at(auth(json!({"type": "bearer", "token": ""})), "auth.token");
        fails_at(auth(json!({"type": "bearer", "token": "a b"})), "auth.token");
        fails_at(auth(json!({"type": "headers", "headers": {}})), "auth.headers");
        fails_at(auth(json!({"type": "headers", "headers": {"X Key": "v"}})), "auth.headers.X Key");
        fails_at(auth(json!({"type": "headers", "headers": {"": "v"}})), "auth.headers.");
        let msg =
            fails_at(auth(json!({"type": "headers", "headers": {"X-Key": "v\r\nX-Admin: 1"}})), "auth.headers.X-Key");
        assert_eq!(msg, "must not contain control characters");
        fails_at(auth(json!({"type": "headers", "headers": {"X-Key": " "}})), "auth.headers.X-Key");
    }

    #[test]
    fn resources_and_prompts() {
        let w = world();
        let m = with(json!({"resources": ["file:///docs/readme.md", "file:///public/*", "users://{id}/profile",
                                          "search://{+query}"],
                            "prompts": ["review", "summarize.v2"]}));
        m.validate(&w).unwrap();
        let s = &m.spec;
        assert!(s.enables_resource("file:///docs/readme.md"));
        assert!(!s.enables_resource("file:///docs/secret.md"));
        assert!(s.enables_resource("file:///public/a/b.txt"));
        assert!(s.enables_resource("users://42/profile"));
        assert!(!s.enables_resource("users://42/x/profile"));
        assert!(!s.enables_resource("users:///profile"));
        assert!(s.enables_resource("search://a/b?c"));
        assert!(s.enables_template("users://{id}/profile"));
        assert!(s.enables_template("file:///public/{name}"));
        assert!(!s.enables_template("file:///{path}"));
        assert!(s.enables_prompt("review") && !s.enables_prompt("delete"));
        let all = with(json!({}));
        assert!(all.spec.enables_resource("x://y") && all.spec.enables_prompt("p") && all.spec.enables_template("t"));
        let none = with(json!({"resources": [], "prompts": []}));
        assert!(!none.spec.enables_resource("x://y") && !none.spec.enables_prompt("p"));
        for (bad, at, why) in [
            (json!({"resources": ["readme.md"]}), "resources[0]", "needs a scheme"),
            (json!({"resources": ["file:///a b"]}), "resources[0]", "whitespace"),
            (json!({"resources": ["file:///*/x"]}), "resources[0]", "may only end a prefix"),
            (json!({"resources": ["users://{id/x"]}), "resources[0]", "braces"),
            (json!({"resources": ["x://a", "x://a"]}), "resources[1]", "listed twice"),
            (json!({"prompts": ["a b"]}), "prompts[0]", "not a prompt name"),
            (json!({"prompts": ["p", "p"]}), "prompts[1]", "listed twice"),
        ] {
            let msg = fails_at(with(bad.clone()).validate(&w), at);
            assert!(msg.contains(why), "{bad}: {msg}");
        }
    }
}
