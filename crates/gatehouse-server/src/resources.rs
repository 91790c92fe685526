//! Provider accounts, MCP servers, agents and gateway controls: parsing bodies and manifests into specs and
//! sealed credentials, turning a desired state into operations (the resource, then its collaborator
//! grants), and rendering them back without credentials.

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse_core::resource::{ResourceRecord, ResourceSpec, Sealed};
use gatehouse_core::resource_type::{ManifestType, ResourceType};
use gatehouse_core::spec::{
    Collaborator, GatewayControlKind, McpAuth, McpServerManifest, ProviderAccountManifest, ProviderAuth, ProviderKind,
};
use gatehouse_core::{Grant, Op, Resource, Snapshot, Subject};
use serde_json::{Map, Value};

use crate::crypto::SecretKey;
use crate::error::ApiError;
use crate::extract::tracked;

/// One of the collections under `/api/v1/`: a resource type of the core's catalogue, which gives its kind,
/// read permission and noun.
pub type Collection = ResourceType;

/// Credentials as sent, before sealing.
#[derive(Clone)]
pub enum PlainAuth {
    Provider(ProviderAuth),
    Mcp(McpAuth),
}

/// A body or manifest, parsed: the spec with its collaborators, and credentials if it carried any.
#[derive(Clone)]
pub struct Parsed {
    pub spec: ResourceSpec,
    pub auth: Option<PlainAuth>,
}

/// Parses the fields of a manifest of `manifest_type` (without `type`); an apply places its errors in
/// their document.
pub fn parse_manifest(manifest_type: ManifestType, body: Value) -> Result<Parsed, ApiError> {
    match manifest_type {
        ManifestType::ProviderAccount(kind) => {
            let m = tracked(body, |d| ProviderAccountManifest::deserialize_for(kind, d))?;
            Ok(Parsed { spec: ResourceSpec::ProviderAccount(m.spec), auth: m.auth.map(PlainAuth::Provider) })
        }
        ManifestType::McpServer => {
            let m: McpServerManifest = tracked(body, |d| serde::Deserialize::deserialize(d))?;
            Ok(Parsed { spec: ResourceSpec::McpServer(m.spec), auth: m.auth.map(PlainAuth::Mcp) })
        }
        ManifestType::McpVirtual | ManifestType::Agent | ManifestType::GatewayControl(_) => {
            let spec = tracked(body, |d| ResourceSpec::deserialize_as(manifest_type, d))?;
            Ok(Parsed { spec, auth: None })
        }
        ManifestType::Role | ManifestType::User | ManifestType::Team | ManifestType::VirtualAccount => {
            Err(ApiError::invalid("type", format!("{manifest_type} is not a resource")))
        }
    }
}

/// The manifest type of a REST body: provider accounts and gateway controls say it in `type` (provider
/// accounts in its short form, `openai`); MCP servers and agents may.
pub fn body_type(coll: Collection, body: &mut Value) -> Result<ManifestType, ApiError> {
    let t = match body.as_object_mut().map(|o| o.remove("type")) {
        None => return Err(ApiError::invalid("body", "must be a JSON object")),
        Some(None) => None,
        Some(Some(Value::String(t))) => Some(t),
        Some(Some(_)) => return Err(ApiError::invalid("type", "must be a string")),
    };
    let bad = |t: &str, expected: &str| ApiError::invalid("type", format!("unknown type {t:?}; expected {expected}"));
    match coll {
        ResourceType::ProviderAccount => {
            let kinds = one_of(ProviderKind::ALL.iter().map(|k| k.as_str()));
            let t = t.ok_or_else(|| ApiError::invalid("type", format!("is required: {kinds}")))?;
            t.parse::<ProviderKind>().map(ManifestType::ProviderAccount).map_err(|_| bad(&t, &kinds))
        }
        ResourceType::McpServer => match t.as_deref() {
            None | Some("remote") => Ok(ManifestType::McpServer),
            Some("virtual") => Ok(ManifestType::McpVirtual),
            Some(t) if t == ManifestType::McpServer.as_str() => Ok(ManifestType::McpServer),
            Some(t) if t == ManifestType::McpVirtual.as_str() => Ok(ManifestType::McpVirtual),
            Some(t) => Err(bad(t, "remote or virtual")),
        },
        ResourceType::Agent => match t.as_deref() {
            None => Ok(ManifestType::Agent),
            Some(t) if t == ManifestType::Agent.as_str() => Ok(ManifestType::Agent),
            Some(t) => Err(bad(t, "agent")),
        },
        ResourceType::GatewayControls => {
            let t = t.ok_or_else(|| ApiError::invalid("type", "is required, e.g. gateway-rate-limiting-config"))?;
            GatewayControlKind::from_manifest_type(&t)
                .map(ManifestType::GatewayControl)
                .ok_or_else(|| bad(&t, &one_of(GatewayControlKind::ALL.iter().map(|k| k.manifest_type()))))
        }
    }
}

/// `a, b or c`.
fn one_of<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => String::new(),
    }
}

fn auth_json(a: &PlainAuth) -> Result<Vec<u8>, ApiError> {
    match a {
        PlainAuth::Provider(p) => serde_json::to_vec(p),
        PlainAuth::Mcp(m) => serde_json::to_vec(m),
    }
    .map_err(|e| ApiError::Internal(e.to_string()))
}

/// What `parsed` means against the current state: the operations that make it so (none if it already is),
/// and whether it creates the resource.
pub struct Planned {
    pub resource: Resource,
    pub ops: Vec<Op>,
    pub created: bool,
}

/// Turns a desired resource into operations: the resource itself, then the collaborator grants that differ.
/// Credentials are sealed here; a manifest without `auth` keeps the stored ones (which `execute` refuses
/// when the destination changes). A submitted `auth` is always sealed afresh, never compared with the
/// stored one: a caller must not learn whether a guess matches.
pub fn plan(
    snap: &Snapshot,
    key: &SecretKey,
    mut parsed: Parsed,
    caller: &Subject,
    now: time::OffsetDateTime,
) -> Result<Planned, ApiError> {
    let resource = parsed.spec.resource();
    let context = resource.to_string();
    if let Some(a) = &parsed.auth {
        if let PlainAuth::Provider(p) = a {
            p.validate().map_err(|e| ApiError::Invalid(e.within("auth")))?;
        }
        if let PlainAuth::Mcp(m) = a {
            m.validate().map_err(|e| ApiError::Invalid(e.within("auth")))?;
        }
    }
    // Collaborators are checked here, before they become grants (the stored spec has none); against the
    // state, so only once the caller is known to be allowed the write: a refused caller learns nothing.
    gatehouse_core::ops::may_put_resource(snap, caller, &parsed.spec, now)?;
    if let Err(all) = parsed.spec.validate_all(&gatehouse_core::ops::SnapshotLookup(snap)) {
        ApiError::from_fields(all)?;
    }
    if let ResourceSpec::GatewayControl(gatehouse_core::spec::GatewayControlSpec::Guardrails(g)) = &parsed.spec {
        // Compiled now, as the gateway will, so that a pattern that could never run is refused where it is
        // written.
        crate::guardrails::validate(g)?;
    }
    let existing = snap.resources().get(&resource).cloned();
    let sealed_auth = match &parsed.auth {
        Some(a) => Some(Sealed(Arc::from(key.seal(&context, &auth_json(a)?)))),
        None => existing.as_ref().and_then(|o| o.sealed_auth.clone()),
    };
    let wanted: BTreeMap<Subject, gatehouse_core::CollaboratorRole> =
        parsed.spec.take_collaborators().into_iter().map(|c| (c.subject, c.role)).collect();
    let record = ResourceRecord { spec: parsed.spec, sealed_auth };
    // Always put the resource, even unchanged: that is what authorizes the request.
    let mut ops = vec![Op::PutResource(record)];
    let have: BTreeMap<Subject, gatehouse_core::CollaboratorRole> =
        snap.grants_on(&resource).map(|g| (g.subject, g.role)).collect();
    for (subject, role) in &have {
        if !wanted.contains_key(subject) {
            ops.push(Op::DeleteGrant(Grant { resource: resource.clone(), subject: subject.clone(), role: *role }));
        }
    }
    for (subject, role) in &wanted {
        if have.get(subject) != Some(role) {
            ops.push(Op::PutGrant(Grant { resource: resource.clone(), subject: subject.clone(), role: *role }));
        }
    }
    Ok(Planned { created: existing.is_none(), resource, ops })
}

/// A resource as reads and exports show it: its fields, `type`, its collaborators, never its credentials.
/// `manifest` chooses the manifest form of `type` (`provider-account/openai`) over the REST one (`openai`).
pub fn render(snap: &Snapshot, rec: &ResourceRecord, manifest: bool) -> Value {
    let mut obj = match serde_json::to_value(&rec.spec) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let t = if manifest {
        rec.spec.manifest_type()
    } else {
        match &rec.spec {
            ResourceSpec::ProviderAccount(p) => p.kind().as_str(),
            ResourceSpec::McpServer(_) => "remote",
            ResourceSpec::McpVirtual(_) => "virtual",
            ResourceSpec::Agent(_) | ResourceSpec::GatewayControl(_) => rec.spec.manifest_type(),
        }
    };
    let mut out = Map::new();
    out.insert("type".into(), Value::String(t.into()));
    out.append(&mut obj);
    let resource = rec.resource();
    if rec.spec.resource_type().has_collaborators() {
        let mut collaborators: Vec<Collaborator> =
            snap.grants_on(&resource).map(|g| Collaborator { subject: g.subject, role: g.role }).collect();
        collaborators.sort();
        out.insert("collaborators".into(), serde_json::to_value(collaborators).unwrap_or(Value::Null));
    }
    // Only an object that names where credentials go holds any.
    let is_virtual = matches!(&rec.spec, ResourceSpec::ProviderAccount(p) if p.kind() == ProviderKind::VirtualModel);
    if !manifest && rec.spec.destination().is_some() && !is_virtual {
        out.insert("auth_configured".into(), Value::Bool(rec.sealed_auth.is_some()));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_types_are_listed_as_before() {
        assert_eq!(
            one_of(ProviderKind::ALL.iter().map(|k| k.as_str())),
            "openai, anthropic, aws-bedrock, azure-openai, openai-compatible or virtual-model"
        );
        assert_eq!(
            one_of(GatewayControlKind::ALL.iter().map(|k| k.manifest_type())),
            "gateway-rate-limiting-config, gateway-budget-config, gateway-guardrails-config or gateway-load-balancing-config"
        );
        let mut body = serde_json::json!({"type": "nope"});
        let e = body_type(ResourceType::ProviderAccount, &mut body).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("unknown type \"nope\"; expected openai, anthropic"), "{e}");
    }
}
