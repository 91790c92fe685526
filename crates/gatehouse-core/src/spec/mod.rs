//! Typed specifications of the configuration resources: provider accounts, MCP servers, agents and gateway
//! controls, in the shapes of the manifests (docs/manifests.md).
//!
//! Each type is what follows a manifest's `type` field; the caller reads `type` and removes it before
//! deserializing (for provider accounts and gateway controls it picks the kind: see `deserialize_for`).
//! Deserialization checks shapes and names (unknown fields are rejected everywhere); `validate` checks what
//! serde cannot: cross-field rules, uniqueness, ranges and references to subjects and models.
//!
//! Secrets (`auth`) are never part of a spec: a manifest deserializes into a spec plus an optional auth, so
//! a spec can be serialized back for reads and export with no way of carrying a credential along, while the
//! auth part serializes on its own, values exposed, for the server to encrypt.
//!
//! Nothing at the top level goes through serde's flatten or internally tagged machinery, which buffers the
//! input and so loses the field path that errors must name. Only two small nested enums are tagged by `type`
//! (a guardrail, an MCP auth): an error inside one is reported at its path, with the field in the message.

mod agent;
mod gateway;
mod mcp;
mod mcp_virtual;
mod pricing;
mod provider;

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::value::{MapAccessDeserializer, StringDeserializer};
use serde::de::{DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{InvalidName, ResourceName};
use crate::model::{CollaboratorRole, Grant, Resource, ResourceKind, Subject};
use crate::resource::ResourceSpec;
use crate::secret::Secret;

pub use agent::{AgentSpec, FreeForm};
pub use gateway::{
    check_targets, check_ttft, metadata_key, AppliesPer, BudgetAlerts, BudgetConfig, BudgetMode, BudgetRule,
    BudgetUnit, GatewayControlKind, GatewayControlSpec, Guardrail, GuardrailAction, GuardrailRule, GuardrailStrategy,
    GuardrailsConfig, LoadBalanceTarget, LoadBalancingConfig, LoadBalancingRule, McpToolRef, ParamKind, PiiEntity,
    RateLimitRule, RateLimitUnit, RateLimitingConfig, RetryConfig, RoutingStrategy, When,
    DEFAULT_FALLBACK_STATUS_CODES, OVERRIDABLE_PARAMS,
};
pub use mcp::{
    check_tool_names, ClientAuth, McpAuth, McpServerManifest, McpServerSpec, McpTransport, OAuth2ClientCredentials,
    MAX_TOOL_NAME,
};
pub use mcp_virtual::{McpVirtualSpec, VirtualTool};
pub use pricing::ModelPricing;
pub use provider::{
    ApiKeyAuth, AwsBedrockAccount, AwsBedrockAuth, AzureOpenAiAccount, ModelSpec, ModelType, OpenAiCompatibleAccount,
    OpenAiCompatibleAuth, ProviderAccountManifest, ProviderAccountSpec, ProviderAuth, ProviderKind, RoutingConfig,
    StandardAccount, VirtualModelAccount, VirtualStrategy,
};

/// A spec failed validation: the field (a path like `models[2].authorized_subjects[0]`) and why.
pub use crate::field::FieldError;

/// What validation needs to know about the rest of the tenant. The caller implements it over its snapshot
/// (and, during an apply, over the objects the same apply creates).
pub trait Lookup {
    fn subject_exists(&self, s: &Subject) -> bool;
    /// Whether `<account>/<model>` is a configured model.
    fn model_exists(&self, account: &str, model: &str) -> bool;
    /// The MCP server (remote or virtual) `name`, if it exists: which of its tools a rule may name.
    fn mcp_server(&self, name: &str) -> Option<McpTools>;
    /// Whether `<account>/<model>` is a virtual model (which routes, and cannot be routed to).
    fn model_is_virtual(&self, _account: &str, _model: &str) -> bool {
        false
    }
}

/// The tools of an MCP server that a gateway control may name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum McpTools {
    /// A remote server without a `tools` list: any tool its upstream has, which only it knows.
    Any,
    /// A remote server's enabled tools, or a virtual server's tools under the names it exposes.
    Only(Vec<String>),
}

impl McpTools {
    pub fn of(spec: &ResourceSpec) -> Option<McpTools> {
        match spec {
            ResourceSpec::McpServer(m) => Some(match &m.tools {
                Some(list) => McpTools::Only(list.clone()),
                None => McpTools::Any,
            }),
            ResourceSpec::McpVirtual(v) => {
                Some(McpTools::Only(v.tools.iter().map(VirtualTool::exposed_name).collect()))
            }
            ResourceSpec::ProviderAccount(_) | ResourceSpec::Agent(_) | ResourceSpec::GatewayControl(_) => None,
        }
    }

    pub fn has(&self, tool: &str) -> bool {
        match self {
            McpTools::Any => true,
            McpTools::Only(list) => list.iter().any(|t| t == tool),
        }
    }
}

/// A per-resource grant as a manifest writes it: `{subject: team:ml-platform, role: provider-account-user}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collaborator {
    pub subject: Subject,
    pub role: CollaboratorRole,
}

impl Collaborator {
    pub fn grant(&self, resource: &Resource) -> Grant {
        Grant { resource: resource.clone(), subject: self.subject.clone(), role: self.role }
    }
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn new(value: &str) -> Result<Self, InvalidName> {
                match $check(value) {
                    Ok(()) => Ok($name(Arc::from(value))),
                    Err(rule) => Err(InvalidName { what: $what, value: value.to_owned(), rule }),
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<Self, InvalidName> {
                $name::new(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_newtype!(
    /// A model's name within its provider account, e.g. `gpt-4o`, `claude-3-5-sonnet-20241022`, `llama3.1:8b`.
    ModelName, "model name", model_name
);
text_newtype!(
    /// The id of a gateway-control rule, unique within its control: letters, digits and hyphens.
    RuleId, "rule id", slug
);
text_newtype!(
    /// An absolute `http` or `https` URL with a host and no credentials.
    HttpUrl, "URL", http_url
);

fn model_name(v: &str) -> Result<(), &'static str> {
    if v.is_empty() || v.len() > 128 {
        return Err("must be 1 to 128 characters");
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':')) {
        return Err("only letters, digits, hyphens, dots, underscores and colons are allowed");
    }
    // A leading dot or hyphen reads like a path or a flag when the name is embedded in `<account>/<model>`.
    if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or digit");
    }
    Ok(())
}

fn slug(v: &str) -> Result<(), &'static str> {
    if v.is_empty() || v.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("only letters, digits and hyphens are allowed");
    }
    if v.starts_with('-') || v.ends_with('-') {
        return Err("must not start or end with a hyphen");
    }
    Ok(())
}

/// Deliberately narrower than RFC 3986: what a gateway can call without surprises, checked without a URL
/// crate. Credentials in the URL are refused because URLs are returned by reads and export; they go in `auth`.
fn http_url(v: &str) -> Result<(), &'static str> {
    if v.len() > 2048 {
        return Err("must be at most 2048 characters");
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let after_scheme = ["http://", "https://"]
        .into_iter()
        .find_map(|p| v.get(..p.len()).filter(|s| s.eq_ignore_ascii_case(p)).map(|_| &v[p.len()..]));
    let Some(rest) = after_scheme else {
        return Err("must start with http:// or https://");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not contain credentials; put them in auth");
    }
    let port = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or("has an unclosed [ in its host")?;
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err("has an invalid IPv6 host");
        }
        match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("has an invalid port")?),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err("must have a host");
        }
        if !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
            return Err("has an invalid host");
        }
        port
    };
    if let Some(p) = port {
        if !p.chars().all(|c| c.is_ascii_digit()) || !matches!(p.parse::<u16>(), Ok(1..)) {
            return Err("has an invalid port");
        }
    }
    Ok(())
}

/// A model as requests and rules name it: `<provider-account>/<model>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelRef {
    pub account: ResourceName,
    pub model: ModelName,
}

impl ModelRef {
    /// The resource that access checks use: `model:<account>/<model>`.
    pub fn resource(&self) -> Resource {
        Resource::new(ResourceKind::Model, &self.to_string())
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.model)
    }
}

impl fmt::Debug for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl FromStr for ModelRef {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, InvalidName> {
        let invalid = |rule| InvalidName { what: "model", value: s.to_owned(), rule };
        let (account, model) = s.split_once('/').ok_or_else(|| invalid("must be <provider-account>/<model>"))?;
        let account = ResourceName::new(account).map_err(|e| invalid(e.rule))?;
        let model = ModelName::new(model).map_err(|e| invalid(e.rule))?;
        Ok(ModelRef { account, model })
    }
}

impl Serialize for ModelRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModelRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

// Secret<T> deliberately has no Serialize, so nothing serializes a credential by accident. The auth types
// opt in field by field with these, and only they do.

fn expose_secret<S: Serializer>(v: &Secret<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.expose())
}

fn expose_secret_opt<S: Serializer>(v: &Option<Secret<String>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(v.expose()),
        None => s.serialize_none(),
    }
}

fn expose_secret_map<S: Serializer>(v: &BTreeMap<String, Secret<String>>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(k, v)| (k, v.expose())))
}

/// Reads one flat manifest object into the spec `T` and its `auth` part `A`, as `#[serde(flatten)]` would,
/// but streaming: `T` keeps `deny_unknown_fields`, and every error keeps its exact path (`auth.api_key`,
/// `models[0].types[1]`) under serde_path_to_error, which buffering would lose. A null `auth` is no auth.
fn split_auth<'de, D, T, A>(d: D) -> Result<(T, Option<A>), D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
    A: Deserialize<'de>,
{
    d.deserialize_map(SplitVisitor::<T, A>(PhantomData))
}

struct SplitVisitor<T, A>(PhantomData<(T, A)>);

impl<'de, T: Deserialize<'de>, A: Deserialize<'de>> Visitor<'de> for SplitVisitor<T, A> {
    type Value = (T, Option<A>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        let mut split = AuthSplitter { inner: map, auth: None, seen_auth: false };
        let spec = T::deserialize(MapAccessDeserializer::new(&mut split))?;
        Ok((spec, split.auth))
    }
}

/// Hands `T` every entry but `auth`, which it keeps for itself.
struct AuthSplitter<M, A> {
    inner: M,
    auth: Option<A>,
    seen_auth: bool,
}

impl<'de, M: MapAccess<'de>, A: Deserialize<'de>> MapAccess<'de> for AuthSplitter<M, A> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, M::Error> {
        let mut seed = Some(seed);
        loop {
            // The key goes through the inner map's own key seed so that a path tracker there records it,
            // and an unknown field fails while that key is current.
            match self.inner.next_key_seed(KeySeed { seed: &mut seed })? {
                None => return Ok(None),
                Some(SplitKey::Other(v)) => return Ok(Some(v)),
                Some(SplitKey::Auth) => {
                    if self.seen_auth {
                        return Err(serde::de::Error::duplicate_field("auth"));
                    }
                    self.seen_auth = true;
                    self.auth = self.inner.next_value::<Option<A>>()?;
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, M::Error> {
        self.inner.next_value_seed(seed)
    }
}

enum SplitKey<V> {
    Auth,
    Other(V),
}

struct KeySeed<'a, K> {
    seed: &'a mut Option<K>,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = SplitKey<K::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let key = String::deserialize(d)?;
        if key == "auth" {
            return Ok(SplitKey::Auth);
        }
        let seed = self.seed.take().ok_or_else(|| serde::de::Error::custom("map key read twice"))?;
        let key: StringDeserializer<D::Error> = key.into_deserializer();
        seed.deserialize(key).map(SplitKey::Other)
    }
}

// Validation helpers shared by the specs. Each returns the first problem, at its own path.

fn check_subject(field: &str, s: &Subject, world: &dyn Lookup) -> Result<(), FieldError> {
    if world.subject_exists(s) {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("{s} does not exist")))
    }
}

/// Reports the first item equal to an earlier one, at its own path.
fn no_duplicates<'a, T: Ord + fmt::Display + 'a>(
    items: impl IntoIterator<Item = (String, &'a T)>,
) -> Result<(), FieldError> {
    let mut seen = std::collections::BTreeSet::new();
    for (field, item) in items {
        if !seen.insert(item) {
            return Err(FieldError::new(field, format!("{item} appears twice")));
        }
    }
    Ok(())
}

/// A list of subjects: each exists, none twice.
fn check_subjects(field: &str, list: &[Subject], world: &dyn Lookup) -> Result<(), FieldError> {
    for (i, s) in list.iter().enumerate() {
        check_subject(&format!("{field}[{i}]"), s, world)?;
    }
    no_duplicates(list.iter().enumerate().map(|(i, s)| (format!("{field}[{i}]"), s)))
}

/// Collaborators of a resource of `kind`: roles of that kind only, subjects that exist, each subject once
/// (two roles for one subject would make "which one applies" a question the manifest should not raise).
fn check_collaborators(list: &[Collaborator], kind: ResourceKind, world: &dyn Lookup) -> Result<(), FieldError> {
    for (i, c) in list.iter().enumerate() {
        if c.role.resource_kind() != kind {
            let allowed: Vec<&str> =
                CollaboratorRole::ALL.iter().filter(|r| r.resource_kind() == kind).map(|r| r.as_str()).collect();
            return Err(FieldError::new(
                format!("collaborators[{i}].role"),
                format!("{} is not a role on a {}; use {}", c.role, kind.as_str(), allowed.join(" or ")),
            ));
        }
        check_subject(&format!("collaborators[{i}].subject"), &c.subject, world)?;
    }
    no_duplicates(list.iter().enumerate().map(|(i, c)| (format!("collaborators[{i}].subject"), &c.subject)))
}

fn grants_on<'a>(list: &'a [Collaborator], resource: Resource) -> impl Iterator<Item = Grant> + 'a {
    list.iter().map(move |c| c.grant(&resource))
}

/// A free-text description: any characters, bounded so a manifest cannot smuggle megabytes into every read.
fn check_description(field: &str, v: &str) -> Result<(), FieldError> {
    if v.chars().count() > 2000 {
        return Err(FieldError::new(field, "must be at most 2000 characters"));
    }
    Ok(())
}

/// A credential or header value that goes into an HTTP header: non-empty, and no whitespace or control
/// characters, which would either break the header or (CR, LF) inject another one.
fn check_header_secret(field: &str, v: &Secret<String>) -> Result<(), FieldError> {
    let v = v.expose();
    if v.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(field, "must not contain spaces or control characters"));
    }
    if v.len() > 8192 {
        return Err(FieldError::new(field, "must be at most 8192 bytes"));
    }
    Ok(())
}

/// A tenant for the tests: the subjects and models of docs/manifests.md's examples.
#[cfg(test)]
pub(crate) mod test_world {
    use std::collections::BTreeSet;

    use super::{FieldError, Lookup};
    use crate::model::Subject;

    pub struct World {
        subjects: BTreeSet<String>,
        models: BTreeSet<String>,
    }

    /// MCP servers: `github` (every tool), `jira` (only `create_ticket`), and the virtual `triage` exposing
    /// `github__search_issues` and `issue`.
    fn mcp(name: &str) -> Option<super::McpTools> {
        use super::McpTools;
        match name {
            "github" => Some(McpTools::Any),
            "jira" => Some(McpTools::Only(vec!["create_ticket".into()])),
            "triage" => Some(McpTools::Only(vec!["github__search_issues".into(), "issue".into()])),
            _ => None,
        }
    }

    pub fn world() -> World {
        let subjects =
            ["team:ml-platform", "virtualaccount:checkout-service", "user:alice@example.com", "user:bob@example.com"];
        let models = ["openai-main/gpt-4o", "openai-main/gpt-4o-mini", "anthropic-main/claude-3-5-sonnet"];
        World {
            subjects: subjects.into_iter().map(str::to_owned).collect(),
            models: models.into_iter().map(str::to_owned).collect(),
        }
    }

    impl Lookup for World {
        fn subject_exists(&self, s: &Subject) -> bool {
            self.subjects.contains(&s.to_string())
        }
        fn model_exists(&self, account: &str, model: &str) -> bool {
            self.models.contains(&format!("{account}/{model}"))
        }
        fn mcp_server(&self, name: &str) -> Option<super::McpTools> {
            mcp(name)
        }
    }

    /// The message of an error that must be at `field`.
    #[track_caller]
    pub fn fails_at<T: std::fmt::Debug>(r: Result<T, FieldError>, field: &str) -> String {
        match r {
            Err(e) => {
                assert_eq!(e.path.to_string(), field, "wrong field in {e}");
                e.message
            }
            Ok(v) => panic!("expected an error at {field}, got {v:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::test_world::{fails_at, world};
    use super::*;

    #[test]
    fn errors_print_and_nest() {
        let e = FieldError::new("weight", "must be 0 to 100").within("load_balance_targets[1]").within("rules[0]");
        assert_eq!(e.to_string(), "rules[0].load_balance_targets[1].weight: must be 0 to 100");
        assert_eq!(FieldError::new("[2]", "x").within("keywords").path.to_string(), "keywords[2]");
    }

    #[test]
    fn model_names() {
        for ok in ["gpt-4o", "claude-3-5-sonnet-20241022", "llama3.1:8b", "o1", "text-embedding-3-small", "a_b"] {
            assert_eq!(ModelName::new(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "é", &"a".repeat(129)] {
            assert_eq!(ModelName::new(bad).unwrap_err().what, "model name", "{bad}");
        }
        assert!(ModelName::new(&"a".repeat(128)).is_ok());
        assert!(serde_json::from_value::<ModelName>(json!("a/b")).is_err());
    }

    #[test]
    fn rule_ids() {
        assert!(RuleId::new("per-user").is_ok());
        for bad in ["", "-a", "a-", "a_b", "a.b", &"a".repeat(65)] {
            assert!(RuleId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        for ok in [
            "http://127.0.0.1:9000/v1",
            "https://api.openai.com/v1",
            "https://my-resource.openai.azure.com",
            "https://my-resource.openai.azure.com/",
            "http://[::1]:8080/v1",
            "http://localhost:11434/v1?x=1",
            "HTTPS://Example.com",
        ] {
            assert!(HttpUrl::new(ok).is_ok(), "{ok}");
        }
        for (bad, rule) in [
            ("ftp://x", "must start with http:// or https://"),
            ("api.openai.com", "must start with http:// or https://"),
            ("http://", "must have a host"),
            ("http:///v1", "must have a host"),
            ("http://:80", "must have a host"),
            ("https://user:pw@host/v1", "must not contain credentials; put them in auth"),
            ("http://host:0", "has an invalid port"),
            ("http://host:65536", "has an invalid port"),
            ("http://host:", "has an invalid port"),
            ("http://host:+80", "has an invalid port"),
            ("http://host:8:8", "has an invalid port"),
            ("http://ho$t", "has an invalid host"),
            ("http://a b", "must not contain spaces or control characters"),
            ("http://a\n", "must not contain spaces or control characters"),
            ("http://[::1", "has an unclosed [ in its host"),
            ("http://[]:80", "has an invalid IPv6 host"),
            ("http://[::1]80", "has an invalid port"),
        ] {
            assert_eq!(HttpUrl::new(bad).unwrap_err().rule, rule, "{bad}");
        }
    }

    #[test]
    fn model_refs() {
        let r: ModelRef = "openai-main/llama3.1:8b".parse().unwrap();
        assert_eq!(r.account.as_str(), "openai-main");
        assert_eq!(r.model.as_str(), "llama3.1:8b");
        assert_eq!(r.resource().to_string(), "model:openai-main/llama3.1:8b");
        assert_eq!(serde_json::to_value(&r).unwrap(), json!("openai-main/llama3.1:8b"));
        for bad in ["gpt-4o", "/gpt-4o", "openai-main/", "open_ai/gpt-4o", "a/b/c"] {
            assert!(bad.parse::<ModelRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn collaborator_rules() {
        let w = world();
        let c =
            |s: &str, r: &str| -> Collaborator { serde_json::from_value(json!({"subject": s, "role": r})).unwrap() };
        let kind = ResourceKind::McpServer;
        let ok = [c("team:ml-platform", "mcp-server-user"), c("user:alice@example.com", "mcp-server-manager")];
        assert!(check_collaborators(&ok, kind, &w).is_ok());
        let msg = fails_at(
            check_collaborators(&[ok[0].clone(), c("user:bob@example.com", "agent-viewer")], kind, &w),
            "collaborators[1].role",
        );
        assert_eq!(msg, "agent-viewer is not a role on a mcp-server; use mcp-server-manager or mcp-server-user");
        let msg =
            fails_at(check_collaborators(&[c("team:nobody", "mcp-server-user")], kind, &w), "collaborators[0].subject");
        assert_eq!(msg, "team:nobody does not exist");
        let twice = [ok[0].clone(), ok[1].clone(), c("team:ml-platform", "mcp-server-manager")];
        let msg = fails_at(check_collaborators(&twice, kind, &w), "collaborators[2].subject");
        assert_eq!(msg, "team:ml-platform appears twice");
        assert!(serde_json::from_value::<Collaborator>(json!({"subject": "team:x", "role": "owner"})).is_err());
        assert!(serde_json::from_value::<Collaborator>(
            json!({"subject": "team:x", "role": "mcp-server-user", "extra": 1})
        )
        .is_err());
        let g = ok[0].grant(&Resource::new(ResourceKind::McpServer, "github"));
        assert_eq!((g.resource.to_string(), g.role), ("mcp-server:github".to_owned(), CollaboratorRole::McpServerUser));
    }

    #[test]
    fn auth_is_split_from_the_spec() {
        let read = |v: serde_json::Value| split_auth::<_, Collaborator, ApiKeyAuth>(v);
        let (c, a) = read(json!({"auth": {"api_key": "k"}, "subject": "team:x", "role": "mcp-server-user"})).unwrap();
        assert_eq!(c.subject.to_string(), "team:x");
        assert_eq!(a.unwrap().api_key.expose(), "k");
        let (_, a) = read(json!({"subject": "team:x", "role": "mcp-server-user", "auth": null})).unwrap();
        assert!(a.is_none());
        let e = read(json!({"subject": "team:x", "role": "mcp-server-user", "other": 1})).unwrap_err();
        assert!(e.to_string().starts_with("unknown field `other`"), "{e}");
        let e = read(json!({"subject": "team:x", "auth": {"api_key": "k"}})).unwrap_err();
        assert_eq!(e.to_string(), "missing field `role`");
        assert!(read(json!(["subject"])).is_err());
        // serde_json::Value cannot hold a key twice, so the duplicate goes through the text parser.
        let text = r#"{"subject": "team:x", "role": "mcp-server-user", "auth": {"api_key": "k"}, "auth": null}"#;
        let e = split_auth::<_, Collaborator, ApiKeyAuth>(&mut serde_json::Deserializer::from_str(text)).unwrap_err();
        assert!(e.to_string().starts_with("duplicate field `auth`"), "{e}");
    }
}
