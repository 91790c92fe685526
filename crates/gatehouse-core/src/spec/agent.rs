//! Agents: `agent` manifests, whose `definition` is free-form.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{check_collaborators, check_description, grants_on, Collaborator, FieldError, Lookup};
use crate::ids::ResourceName;
use crate::model::{Grant, Resource, ResourceKind};

/// A YAML/JSON value kept as written.
///
/// A tree rather than a string of JSON: in a YAML manifest the definition is written as YAML, and reads and
/// export must give back the same structure, not an escaped string. Any serde format round-trips it
/// (serde_json, serde_yaml) without the core depending on one. Map keys are strings, as in JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum FreeForm {
    Null,
    Bool(bool),
    /// Every integer that fits in an i64.
    Int(i64),
    /// Only integers above `i64::MAX`, so each number has one representation.
    UInt(u64),
    Float(f64),
    String(String),
    List(Vec<FreeForm>),
    Map(BTreeMap<String, FreeForm>),
}

impl FreeForm {
    pub fn as_map(&self) -> Option<&BTreeMap<String, FreeForm>> {
        match self {
            FreeForm::Map(m) => Some(m),
            _ => None,
        }
    }

    /// JSON has no NaN or infinity; YAML does (`.nan`), and would then fail to export as JSON.
    fn check_finite(&self, field: &str) -> Result<(), FieldError> {
        match self {
            FreeForm::Float(f) if !f.is_finite() => Err(FieldError::new(field, "must be a finite number")),
            FreeForm::List(l) => l.iter().enumerate().try_for_each(|(i, v)| v.check_finite(&format!("{field}[{i}]"))),
            FreeForm::Map(m) => m.iter().try_for_each(|(k, v)| v.check_finite(&format!("{field}.{k}"))),
            _ => Ok(()),
        }
    }
}

impl Serialize for FreeForm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FreeForm::Null => s.serialize_unit(),
            FreeForm::Bool(b) => s.serialize_bool(*b),
            FreeForm::Int(i) => s.serialize_i64(*i),
            FreeForm::UInt(u) => s.serialize_u64(*u),
            FreeForm::Float(f) => s.serialize_f64(*f),
            FreeForm::String(v) => s.serialize_str(v),
            FreeForm::List(l) => s.collect_seq(l),
            FreeForm::Map(m) => s.collect_map(m),
        }
    }
}

impl<'de> Deserialize<'de> for FreeForm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FreeFormVisitor)
    }
}

struct FreeFormVisitor;

impl<'de> Visitor<'de> for FreeFormVisitor {
    type Value = FreeForm;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML or JSON value")
    }

    fn visit_unit<E>(self) -> Result<FreeForm, E> {
        Ok(FreeForm::Null)
    }
    fn visit_none<E>(self) -> Result<FreeForm, E> {
        Ok(FreeForm::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<FreeForm, D::Error> {
        FreeForm::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<FreeForm, E> {
        Ok(FreeForm::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<FreeForm, E> {
        Ok(FreeForm::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<FreeForm, E> {
        Ok(i64::try_from(v).map(FreeForm::Int).unwrap_or(FreeForm::UInt(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<FreeForm, E> {
        Ok(FreeForm::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<FreeForm, E> {
        Ok(FreeForm::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<FreeForm, E> {
        Ok(FreeForm::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FreeForm, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(FreeForm::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FreeForm, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value()?;
            // serde_json would keep the last of two equal keys silently; a manifest with both is a mistake.
            if out.insert(k.clone(), v).is_some() {
                return Err(serde::de::Error::custom(format!("duplicate key {k:?}")));
            }
        }
        Ok(FreeForm::Map(out))
    }
}

/// An agent. Serializes as the manifest's fields without `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    pub name: ResourceName,
    #[serde(default)]
    pub description: String,
    /// An object: instructions, model, tools, ... as the agent runtime reads them.
    pub definition: FreeForm,
    #[serde(default)]
    pub collaborators: Vec<Collaborator>,
}

impl AgentSpec {
    pub const MANIFEST_TYPE: &'static str = "agent";

    pub fn collaborators(&self) -> &[Collaborator] {
        &self.collaborators
    }

    /// `agent:<name>`.
    pub fn resource(&self) -> Resource {
        Resource::new(ResourceKind::Agent, self.name.as_str())
    }

    pub fn grants(&self) -> impl Iterator<Item = Grant> + '_ {
        grants_on(&self.collaborators, self.resource())
    }

    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        check_description("description", &self.description)?;
        if self.definition.as_map().is_none() {
            return Err(FieldError::new("definition", "must be an object"));
        }
        self.definition.check_finite("definition")?;
        check_collaborators(&self.collaborators, ResourceKind::Agent, world)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::test_world::{fails_at, world};
    use super::*;

    fn support_bot() -> Value {
        json!({
            "name": "support-bot",
            "description": "Answers support tickets",
            "definition": {
                "model": "openai-main/gpt-4o",
                "instructions": "Be brief.",
                "temperature": 0.2,
                "max_tokens": 800,
                "big": 18446744073709551615u64,
                "negative": -3,
                "tools": [{"mcp_server": "github", "allow": ["search_issues"]}, null, true]
            },
            "collaborators": [
                {"subject": "team:ml-platform", "role": "agent-viewer"},
                {"subject": "user:alice@example.com", "role": "agent-manager"}
            ]
        })
    }

    fn parse(v: Value) -> Result<AgentSpec, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn parses_and_round_trips() {
        let a = parse(support_bot()).unwrap();
        a.validate(&world()).unwrap();
        let d = a.definition.as_map().unwrap();
        assert_eq!(d["max_tokens"], FreeForm::Int(800));
        assert_eq!(d["big"], FreeForm::UInt(u64::MAX));
        assert_eq!(d["negative"], FreeForm::Int(-3));
        assert_eq!(d["temperature"], FreeForm::Float(0.2));
        assert_eq!(serde_json::to_value(&a).unwrap(), support_bot());
        assert_eq!(parse(serde_json::to_value(&a).unwrap()).unwrap(), a);
        assert_eq!(a.resource().to_string(), "agent:support-bot");
        assert_eq!(a.grants().count(), 2);
        assert_eq!(a.collaborators()[1].role.as_str(), "agent-manager");
    }

    #[test]
    fn shape_errors() {
        let e = parse(json!({"name": "a"})).unwrap_err();
        assert_eq!(e.to_string(), "missing field `definition`");
        let mut v = support_bot();
        v["tools"] = json!([]);
        assert!(parse(v).unwrap_err().to_string().starts_with("unknown field `tools`"));
        let text = r#"{"name": "a", "definition": {"k": 1, "k": 2}}"#;
        let e = serde_json::from_str::<AgentSpec>(text).unwrap_err();
        assert!(e.to_string().starts_with("duplicate key \"k\""), "{e}");
    }

    #[test]
    fn validation() {
        let w = world();
        let with = |k: &str, x: Value| {
            let mut v = support_bot();
            v[k] = x;
            parse(v).unwrap().validate(&w)
        };
        for not_an_object in [json!("instructions"), json!([1]), json!(null), json!(3)] {
            assert_eq!(fails_at(with("definition", not_an_object), "definition"), "must be an object");
        }
        assert!(with("definition", json!({})).is_ok());
        let msg = fails_at(
            with("collaborators", json!([{"subject": "team:ml-platform", "role": "provider-account-user"}])),
            "collaborators[0].role",
        );
        assert!(msg.ends_with("use agent-manager or agent-viewer"), "{msg}");
        fails_at(
            with("collaborators", json!([{"subject": "team:x", "role": "agent-viewer"}])),
            "collaborators[0].subject",
        );
        fails_at(with("description", json!("é".repeat(2001))), "description");
        assert!(with("description", json!("é".repeat(2000))).is_ok());
        // YAML can write .nan; JSON cannot carry it back out.
        let mut a = parse(support_bot()).unwrap();
        let FreeForm::Map(d) = &mut a.definition else { unreachable!() };
        d.insert("tools".into(), FreeForm::List(vec![FreeForm::Map([("t".into(), FreeForm::Float(f64::NAN))].into())]));
        assert_eq!(fails_at(a.validate(&w), "definition.tools[0].t"), "must be a finite number");
    }
}
