//! Objects as manifests: parsing documents (YAML or JSON; one, a list, or many), the manifest form of
//! what exists (which export prints and apply compares against), and the order objects are applied in.

use gatehouse_core::field::FieldPath;
use gatehouse_core::resource::ResourceRecord;
use gatehouse_core::resource_type::{ManifestType, ResourceType};
use gatehouse_core::{Resource, Snapshot};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;

/// A document: its position (1-based, as users count), its `type`, and its other fields.
pub struct Doc {
    pub number: usize,
    pub manifest_type: ManifestType,
    pub fields: Value,
}

pub fn parse_documents(body: &str) -> Result<Vec<Doc>, ApiError> {
    // Before any value is built: aliases, depth and the number of objects (see `yaml_scan`).
    crate::yaml_scan::check(body).map_err(|e| ApiError::invalid(FieldPath::document(e.document()), e.to_string()))?;
    let mut values = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(body).enumerate() {
        let v = serde_yaml::Value::deserialize(doc)
            .map_err(|e| ApiError::invalid(FieldPath::document(i + 1), format!("not valid YAML or JSON: {e}")))?;
        match v {
            serde_yaml::Value::Null => {}
            serde_yaml::Value::Sequence(items) => values.extend(items),
            other => values.push(other),
        }
    }
    if values.is_empty() {
        return Err(ApiError::invalid("body", "no manifest documents"));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let number = i + 1;
            let at = |m: &str| ApiError::invalid(FieldPath::document(number), m.to_owned());
            let mut fields = serde_json::to_value(v).map_err(|e| at(&format!("cannot be read: {e}")))?;
            let obj = fields.as_object_mut().ok_or_else(|| at("must be a mapping with a `type`"))?;
            let t = match obj.remove("type") {
                Some(Value::String(t)) => t,
                Some(_) => return Err(ApiError::invalid(FieldPath::document(number).key("type"), "must be a string")),
                None => return Err(ApiError::invalid(FieldPath::document(number).key("type"), "is required")),
            };
            let manifest_type = t.parse::<ManifestType>().map_err(|_| {
                ApiError::invalid(
                    format!("document {number}: type"),
                    format!("unknown type {t:?}; expected one of {}", all_types().join(", ")),
                )
            })?;
            Ok(Doc { number, manifest_type, fields })
        })
        .collect()
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The manifest of an existing object, as export prints it (never with credentials, nor anything derived
/// from them).
pub fn manifest_of(s: &Snapshot, manifest_type: ManifestType, key: &str) -> Option<Value> {
    match manifest_type {
        ManifestType::Role => s.role(key).map(|r| {
            json!({"type": "role", "name": r.name, "display_name": r.display_name, "description": r.description,
                   "permissions": r.permissions.iter().map(|p| p.id()).collect::<Vec<_>>()})
        }),
        ManifestType::User => s.user(key).map(|u| {
            json!({"type": "user", "email": u.user.email, "display_name": u.user.display_name, "role": u.user.role,
                   "active": u.user.active})
        }),
        ManifestType::Team => s.team(key).map(|t| {
            json!({"type": "team", "name": t.name, "description": t.description,
                   "managers": t.managers, "members": t.members})
        }),
        ManifestType::VirtualAccount => s.virtual_account(key).map(|v| {
            let mut m = json!({"type": "virtual-account", "name": v.name, "owner_team": v.owner_team,
                               "description": v.description});
            if let Some(e) = v.expires_at {
                m["expires_at"] = Value::String(rfc3339(e));
            }
            m
        }),
        ManifestType::ProviderAccount(_)
        | ManifestType::McpServer
        | ManifestType::McpVirtual
        | ManifestType::Agent
        | ManifestType::GatewayControl(_) => {
            let kind = manifest_type.resource_type()?.kind();
            let rec = s.resources().get(&Resource::new(kind, key))?;
            Some(crate::resources::render(s, rec, true))
        }
    }
}

/// Which objects an export prints: a manifest type or a family of them, and a name (`email` for users).
#[derive(Default)]
pub struct Selection {
    manifest_type: Option<TypeFilter>,
    name: Option<String>,
}

/// One manifest type, or every manifest type of a resource type (`provider-account` for every
/// `provider-account/<kind>`, `mcp-server`, and `gateway-controls` for every `gateway-*-config`).
#[derive(Clone, Copy)]
enum TypeFilter {
    One(ManifestType),
    Family(ResourceType),
}

impl Selection {
    /// The resource types whose name is not itself a manifest type, so that a `type` may name the family.
    fn families() -> impl Iterator<Item = ResourceType> {
        ResourceType::ALL.iter().copied().filter(|t| t.kind().as_str().parse::<ManifestType>().is_err())
    }

    pub fn new(manifest_type: Option<String>, name: Option<String>) -> Result<Selection, ApiError> {
        let filter = match &manifest_type {
            None => None,
            Some(t) => match Self::families().find(|f| f.kind().as_str() == t.as_str()) {
                Some(f) => Some(TypeFilter::Family(f)),
                None => Some(TypeFilter::One(t.parse::<ManifestType>().map_err(|_| {
                    let mut known: Vec<&str> = Self::families().map(|f| f.kind().as_str()).collect();
                    known.extend(all_types());
                    ApiError::invalid("type", format!("unknown type {t:?}; expected one of {}", known.join(", ")))
                })?)),
            },
        };
        Ok(Selection { manifest_type: filter, name })
    }

    /// Whether a name was asked for (so that finding nothing is a 404 rather than an empty export).
    pub fn names_one(&self) -> bool {
        self.name.is_some()
    }

    fn wants(&self, manifest_type: ManifestType, key: &str) -> bool {
        let type_ok = match self.manifest_type {
            None => true,
            Some(TypeFilter::One(t)) => manifest_type == t,
            Some(TypeFilter::Family(f)) => manifest_type.resource_type() == Some(f),
        };
        type_ok && self.name.as_deref().is_none_or(|n| n == key)
    }
}

fn all_types() -> Vec<&'static str> {
    ManifestType::ALL.iter().map(|t| t.as_str()).collect()
}

/// Every object the caller may read, as manifests in apply order.
pub fn export(s: &Snapshot, caller: &gatehouse_core::Subject, now: time::OffsetDateTime) -> Vec<Value> {
    export_selected(s, caller, now, &Selection::default())
}

/// The objects of `sel` the caller may read, as manifests in apply order. The selection is applied before
/// anything is rendered: one object out of a large tenant costs a scan, not a full export.
pub fn export_selected(
    s: &Snapshot,
    caller: &gatehouse_core::Subject,
    now: time::OffsetDateTime,
    sel: &Selection,
) -> Vec<Value> {
    use gatehouse_core::Permission as P;
    let can = |p: P, r: &Resource| crate::routes::can(s, caller, p, r, now);
    let mut out = Vec::new();
    let mut roles: Vec<_> = s
        .roles()
        .filter(|r| {
            sel.wants(ManifestType::Role, r.name.as_str())
                && !r.is_admin()
                && can(P::RoleList, &Resource::role(&r.name))
        })
        .map(|r| (r.builtin.is_none(), r.name.to_string()))
        .collect();
    roles.sort();
    out.extend(roles.iter().filter_map(|(_, n)| manifest_of(s, ManifestType::Role, n)));
    let mut users: Vec<String> = s
        .users()
        .filter(|u| sel.wants(ManifestType::User, u.user.email.as_str()))
        .filter(|u| {
            caller == &gatehouse_core::Subject::User(u.user.email.clone())
                || can(P::UserList, &Resource::user(&u.user.email))
        })
        .map(|u| u.user.email.to_string())
        .collect();
    users.sort();
    out.extend(users.iter().filter_map(|e| manifest_of(s, ManifestType::User, e)));
    let mut teams: Vec<String> = s
        .teams()
        .filter(|t| sel.wants(ManifestType::Team, t.name.as_str()) && can(P::TeamRead, &Resource::team(&t.name)))
        .map(|t| t.name.to_string())
        .collect();
    teams.sort();
    out.extend(teams.iter().filter_map(|t| manifest_of(s, ManifestType::Team, t)));
    let mut vas: Vec<String> = s
        .virtual_accounts()
        .filter(|v| sel.wants(ManifestType::VirtualAccount, v.name.as_str()))
        .filter(|v| can(P::VirtualAccountRead, &Resource::virtual_account(&v.name)))
        .map(|v| v.name.to_string())
        .collect();
    vas.sort();
    out.extend(vas.iter().filter_map(|v| manifest_of(s, ManifestType::VirtualAccount, v)));
    for t in ResourceType::ALL {
        let mut recs: Vec<_> = s
            .resources()
            .of_kind(t.kind())
            .filter(|r| sel.wants(r.spec.manifest(), r.spec.name().as_str()) && can(t.read_permission(), &r.resource()))
            .collect();
        // Remote MCP servers before the virtual ones composed of them.
        let key = |r: &ResourceRecord| (r.spec.manifest() == ManifestType::McpVirtual, r.spec.name().clone());
        recs.sort_by_key(|r| key(r));
        out.extend(recs.into_iter().map(|r| crate::resources::render(s, r, true)));
    }
    out
}

/// Multi-document YAML.
pub fn to_yaml(docs: &[Value]) -> Result<String, ApiError> {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(d).map_err(|e| ApiError::Internal(e.to_string()))?);
    }
    Ok(out)
}
