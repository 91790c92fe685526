//! Provider accounts, MCP servers, agents and gateway controls as the store keeps them and the snapshot
//! holds them: the spec without credentials, and the credentials sealed by the server (opaque here).
//! Collaborators are not part of the stored spec: the grants are their single source of truth.

use std::fmt;
use std::sync::Arc;

use serde::{Deserializer, Serialize, Serializer};

use crate::ids::ResourceName;
use crate::model::{Resource, ResourceKind};
use crate::resource_type::{ManifestType, ResourceType, UnknownManifestType};
use crate::spec::{
    AgentSpec, Collaborator, FieldError, GatewayControlSpec, Lookup, McpServerSpec, McpVirtualSpec, ModelRef,
    ProviderAccountSpec,
};

#[derive(Clone, Debug, PartialEq)]
pub enum ResourceSpec {
    ProviderAccount(ProviderAccountSpec),
    McpServer(McpServerSpec),
    /// `mcp-server/virtual`: of the same resource type as remote servers (one namespace, one set of roles).
    McpVirtual(McpVirtualSpec),
    Agent(AgentSpec),
    GatewayControl(GatewayControlSpec),
}

impl ResourceSpec {
    /// Reads a spec without credentials (a stored one, or an agent or gateway control manifest).
    pub fn deserialize_for<'de, D: Deserializer<'de>>(manifest_type: &str, d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let t: ManifestType = manifest_type.parse().map_err(D::Error::custom)?;
        Self::deserialize_as(t, d)
    }

    /// `deserialize_for` with the type already parsed.
    pub fn deserialize_as<'de, D: Deserializer<'de>>(t: ManifestType, d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match t {
            ManifestType::ProviderAccount(k) => {
                ProviderAccountSpec::deserialize_for(k, d).map(ResourceSpec::ProviderAccount)
            }
            ManifestType::GatewayControl(k) => {
                GatewayControlSpec::deserialize_for(k, d).map(ResourceSpec::GatewayControl)
            }
            ManifestType::McpServer => serde::Deserialize::deserialize(d).map(ResourceSpec::McpServer),
            ManifestType::McpVirtual => serde::Deserialize::deserialize(d).map(ResourceSpec::McpVirtual),
            ManifestType::Agent => serde::Deserialize::deserialize(d).map(ResourceSpec::Agent),
            ManifestType::Role | ManifestType::User | ManifestType::Team | ManifestType::VirtualAccount => {
                Err(D::Error::custom(UnknownManifestType(t.as_str().to_owned())))
            }
        }
    }

    pub fn manifest_type(&self) -> &'static str {
        self.manifest().as_str()
    }

    pub fn manifest(&self) -> ManifestType {
        match self {
            ResourceSpec::ProviderAccount(p) => ManifestType::ProviderAccount(p.kind()),
            ResourceSpec::McpServer(_) => ManifestType::McpServer,
            ResourceSpec::McpVirtual(_) => ManifestType::McpVirtual,
            ResourceSpec::Agent(_) => ManifestType::Agent,
            ResourceSpec::GatewayControl(g) => ManifestType::GatewayControl(g.kind()),
        }
    }

    pub fn name(&self) -> &ResourceName {
        match self {
            ResourceSpec::ProviderAccount(p) => p.name(),
            ResourceSpec::McpServer(m) => &m.name,
            ResourceSpec::McpVirtual(m) => &m.name,
            ResourceSpec::Agent(a) => &a.name,
            ResourceSpec::GatewayControl(g) => g.name(),
        }
    }

    pub fn resource_type(&self) -> ResourceType {
        match self {
            ResourceSpec::ProviderAccount(_) => ResourceType::ProviderAccount,
            ResourceSpec::McpServer(_) | ResourceSpec::McpVirtual(_) => ResourceType::McpServer,
            ResourceSpec::Agent(_) => ResourceType::Agent,
            ResourceSpec::GatewayControl(_) => ResourceType::GatewayControls,
        }
    }

    pub fn kind(&self) -> ResourceKind {
        self.resource_type().kind()
    }

    pub fn resource(&self) -> Resource {
        Resource::new(self.kind(), self.name().as_str())
    }

    pub fn collaborators(&self) -> &[Collaborator] {
        match self {
            ResourceSpec::ProviderAccount(p) => p.collaborators(),
            ResourceSpec::McpServer(m) => m.collaborators(),
            ResourceSpec::McpVirtual(m) => m.collaborators(),
            ResourceSpec::Agent(a) => a.collaborators(),
            ResourceSpec::GatewayControl(_) => &[],
        }
    }

    /// Removes the collaborators, which are stored as grants, and returns them.
    pub fn take_collaborators(&mut self) -> Vec<Collaborator> {
        let list = match self {
            ResourceSpec::ProviderAccount(p) => match p {
                ProviderAccountSpec::OpenAi(a) | ProviderAccountSpec::Anthropic(a) => &mut a.collaborators,
                ProviderAccountSpec::AwsBedrock(a) => &mut a.collaborators,
                ProviderAccountSpec::AzureOpenAi(a) => &mut a.collaborators,
                ProviderAccountSpec::OpenAiCompatible(a) => &mut a.collaborators,
                ProviderAccountSpec::VirtualModel(a) => &mut a.collaborators,
            },
            ResourceSpec::McpServer(m) => &mut m.collaborators,
            ResourceSpec::McpVirtual(m) => &mut m.collaborators,
            ResourceSpec::Agent(a) => &mut a.collaborators,
            ResourceSpec::GatewayControl(_) => return Vec::new(),
        };
        std::mem::take(list)
    }

    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        match self {
            ResourceSpec::ProviderAccount(p) => p.validate(world),
            ResourceSpec::McpServer(m) => m.validate(world),
            ResourceSpec::McpVirtual(m) => m.validate(world),
            ResourceSpec::Agent(a) => a.validate(world),
            ResourceSpec::GatewayControl(g) => g.validate(world),
        }
    }

    /// Every field at fault where the kind checks them all (gateway controls, rule by rule); else the first.
    pub fn validate_all(&self, world: &dyn Lookup) -> Result<(), crate::field::FieldErrors> {
        match self {
            ResourceSpec::GatewayControl(g) => g.validate_all(world),
            ResourceSpec::ProviderAccount(_)
            | ResourceSpec::McpServer(_)
            | ResourceSpec::McpVirtual(_)
            | ResourceSpec::Agent(_) => self.validate(world).map_err(Into::into),
        }
    }

    /// Where the object sends its stored credentials: each field that picks the host (or service) they go
    /// to, by name, with its value; `None` for objects that hold no credentials. Stored credentials may only
    /// stay with an object whose destination is unchanged (see `ops::authorize`), so a new kind of object
    /// that keeps a credential next to an address must list the address here.
    pub fn destination(&self) -> Option<Vec<(&'static str, Option<&str>)>> {
        match self {
            ResourceSpec::ProviderAccount(p) => Some(p.destination()),
            ResourceSpec::McpServer(m) => Some(vec![("url", Some(m.url.as_str()))]),
            ResourceSpec::McpVirtual(_) | ResourceSpec::Agent(_) | ResourceSpec::GatewayControl(_) => None,
        }
    }

    /// The first destination field that differs between `self` (the stored object) and `new`.
    pub fn moved_destination(&self, new: &ResourceSpec) -> Option<&'static str> {
        let (Some(old), Some(new)) = (self.destination(), new.destination()) else {
            return None;
        };
        if old.len() != new.len() {
            return old.first().map(|(field, _)| *field);
        }
        old.iter().zip(&new).find(|(o, n)| o != n).map(|((field, _), _)| *field)
    }

    /// The models a gateway control refers to, which must not disappear under it.
    pub fn model_refs(&self) -> Vec<&ModelRef> {
        match self {
            ResourceSpec::GatewayControl(g) => g.model_refs(),
            ResourceSpec::ProviderAccount(p) => p.model_refs(),
            ResourceSpec::McpServer(_) | ResourceSpec::McpVirtual(_) | ResourceSpec::Agent(_) => Vec::new(),
        }
    }
}

impl Serialize for ResourceSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ResourceSpec::ProviderAccount(p) => p.serialize(s),
            ResourceSpec::McpServer(m) => m.serialize(s),
            ResourceSpec::McpVirtual(m) => m.serialize(s),
            ResourceSpec::Agent(a) => a.serialize(s),
            ResourceSpec::GatewayControl(g) => g.serialize(s),
        }
    }
}

/// Credentials sealed by the server's key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Arc<[u8]>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed(****)")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResourceRecord {
    /// Without collaborators (see the module comment).
    pub spec: ResourceSpec,
    pub sealed_auth: Option<Sealed>,
}

impl ResourceRecord {
    pub fn resource(&self) -> Resource {
        self.spec.resource()
    }
}

/// What the snapshot knows of resources: the records, and for the engine each model's narrowing list.
#[derive(Clone, Default)]
pub struct ResourceIndex {
    records: std::collections::HashMap<Resource, Arc<ResourceRecord>, foldhash::fast::RandomState>,
    /// `<account>/<model>` to its `authorized_subjects` (None: not narrowed).
    models: std::collections::HashMap<Arc<str>, Option<Arc<[crate::model::Subject]>>, foldhash::fast::RandomState>,
}

impl ResourceIndex {
    pub fn put(&mut self, rec: &ResourceRecord) {
        let r = rec.resource();
        self.remove(&r);
        if let ResourceSpec::ProviderAccount(p) = &rec.spec {
            for (m, subjects) in p.model_access() {
                let key: Arc<str> = Arc::from(format!("{}/{}", r.name, m));
                self.models.insert(key, subjects.map(Arc::from));
            }
        }
        self.records.insert(r, Arc::new(rec.clone()));
    }

    pub fn remove(&mut self, r: &Resource) {
        if let Some(old) = self.records.remove(r) {
            if let ResourceSpec::ProviderAccount(p) = &old.spec {
                for m in p.models() {
                    self.models.remove(format!("{}/{}", r.name, m.name).as_str());
                }
            }
        }
    }

    pub fn get(&self, r: &Resource) -> Option<&Arc<ResourceRecord>> {
        self.records.get(r)
    }

    pub fn of_kind(&self, kind: ResourceKind) -> impl Iterator<Item = &Arc<ResourceRecord>> {
        self.records.iter().filter(move |(r, _)| r.kind == kind).map(|(_, v)| v)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceRecord>> {
        self.records.values()
    }

    /// `Some(narrowing)` if `<account>/<model>` is configured.
    pub fn model(&self, account_and_model: &str) -> Option<Option<&[crate::model::Subject]>> {
        self.models.get(account_and_model).map(|o| o.as_deref())
    }

    /// Every narrowed model (`model:<account>/<model>`) with its `authorized_subjects`.
    pub fn narrowed_models(&self) -> impl Iterator<Item = (Resource, &[crate::model::Subject])> {
        self.models.iter().filter_map(|(m, list)| list.as_deref().map(|l| (Resource::new(ResourceKind::Model, m), l)))
    }

    /// Models (`<account>/<model>`) whose `authorized_subjects` name `subject`.
    pub fn models_naming(&self, subject: &crate::model::Subject) -> Vec<Resource> {
        let mut out: Vec<Resource> = self
            .models
            .iter()
            .filter(|(_, list)| list.as_ref().is_some_and(|l| l.contains(subject)))
            .map(|(m, _)| Resource::new(ResourceKind::Model, m))
            .collect();
        out.sort();
        out
    }

    /// What gateway controls name of the MCP server `server` (it, or tools of it), each with the control.
    pub fn controls_naming_mcp(&self, server: &str) -> Vec<(&ResourceName, &crate::spec::McpToolRef)> {
        let mut out = Vec::new();
        for rec in self.of_kind(ResourceKind::GatewayControls) {
            if let ResourceSpec::GatewayControl(g) = &rec.spec {
                out.extend(g.mcp_refs().into_iter().filter(|r| r.server.as_str() == server).map(|r| (g.name(), r)));
            }
        }
        out
    }

    /// Gateway controls that name a model of `account` (or, with `model`, that one model).
    pub fn controls_naming(&self, account: &str, model: Option<&str>) -> Vec<&ResourceName> {
        // Virtual models name the real models they route to, as controls do.
        self.of_kind(ResourceKind::GatewayControls)
            .chain(self.of_kind(ResourceKind::ProviderAccount))
            .filter(|rec| {
                rec.spec.model_refs().iter().any(|m| {
                    let s = m.to_string();
                    match (s.split_once('/'), model) {
                        (Some((a, mm)), Some(want)) => a == account && mm == want,
                        (Some((a, _)), None) => a == account,
                        _ => false,
                    }
                })
            })
            .map(|rec| rec.spec.name())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ProviderKind;
    use serde_json::json;

    fn account(kind: ProviderKind, fields: serde_json::Value) -> ResourceSpec {
        ResourceSpec::ProviderAccount(ProviderAccountSpec::deserialize_for(kind, fields).unwrap())
    }

    #[test]
    fn every_field_that_picks_the_host_is_a_destination() {
        let openai = |v: serde_json::Value| account(ProviderKind::OpenAi, v);
        let base = openai(json!({"name": "a", "models": [{"name": "m", "model_id": "x", "types": ["chat"]}]}));
        // Models and collaborators do not move the credentials.
        assert_eq!(base.moved_destination(&openai(json!({"name": "a"}))), None);
        assert_eq!(
            base.moved_destination(&openai(json!({"name": "a", "base_url": "https://e.example"}))),
            Some("base_url")
        );
        let anthropic = account(ProviderKind::Anthropic, json!({"name": "a"}));
        assert_eq!(base.moved_destination(&anthropic), Some("the provider type"));
        let bedrock = |r: &str| account(ProviderKind::AwsBedrock, json!({"name": "a", "region": r}));
        assert_eq!(bedrock("us-east-1").moved_destination(&bedrock("eu-west-1")), Some("region"));
        let azure = |e: &str, v: &str| {
            account(ProviderKind::AzureOpenAi, json!({"name": "a", "endpoint": e, "api_version": v}))
        };
        let here = azure("https://r.openai.azure.com", "2024-10-21");
        assert_eq!(here.moved_destination(&azure("https://e.example", "2024-10-21")), Some("endpoint"));
        assert_eq!(here.moved_destination(&azure("https://r.openai.azure.com", "2025-01-01-preview")), None);
        let mcp = |u: &str| ResourceSpec::McpServer(serde_json::from_value(json!({"name": "s", "url": u})).unwrap());
        assert_eq!(mcp("https://a.example/mcp").moved_destination(&mcp("https://b.example/mcp")), Some("url"));
        assert_eq!(mcp("https://a.example/mcp").moved_destination(&mcp("https://a.example/mcp")), None);
    }
}
