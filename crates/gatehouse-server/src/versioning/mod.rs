//! Versions of the admin API's objects, so that no update is lost (issue #15).
//!
//! An object's version is its `ETag`: a hash of its representation (what `GET` shows, in a canonical form)
//! and of the stored parts a read never shows (sealed credentials). There is no version column: the ETag is
//! a pure function of the object's state in a snapshot, so every replica computes the same one for the
//! same state, and a client that read the object elsewhere can be checked against any replica.
//!
//! Why no update is lost: `If-Match` is compared inside `AppState::write_with`'s precondition, against the
//! very snapshot the write is authorized and planned against, and the commit lands only if the store is
//! still at that snapshot's version (`Store::commit_at`). If anything was committed in between, by this
//! replica or another, the commit is refused and the whole request is worked out again on the newer state,
//! where the object's ETag is computed afresh: a client whose version is no longer current gets a 412, and
//! two writers holding the same ETag can never both land unless the first left the object as it was.

pub mod merge_patch;
pub mod write;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// What kind of object a version is about: its noun (for messages) and its read-only fields, which reads
/// show and writes accept and ignore, so that a `GET` body can be sent back as it is.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    pub noun: &'static str,
    pub read_only: &'static [&'static str],
}

pub const USER: Kind = Kind { noun: "user", read_only: &["etag", "teams", "manages"] };
pub const TEAM: Kind = Kind { noun: "team", read_only: &["etag"] };
pub const ROLE: Kind = Kind { noun: "role", read_only: &["etag", "builtin", "editable", "deletable"] };
pub const VIRTUAL_ACCOUNT: Kind = Kind { noun: "virtual account", read_only: &["etag"] };

/// Provider accounts, MCP servers, agents and gateway controls.
pub fn resource_kind(noun: &'static str) -> Kind {
    Kind { noun, read_only: &["etag", "auth_configured", "warnings"] }
}

/// A strong entity tag, kept with its quotes (`"3f9a…"`), as the `ETag` header and the `etag` field carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ETag(String);

impl ETag {
    /// The tag of `representation` (without its `etag` field) and of `hidden`, the stored parts a read does
    /// not show. 128 bits of SHA-256 over a canonical encoding: keys sorted, no whitespace.
    pub fn of(representation: &Value, hidden: &[&[u8]]) -> ETag {
        let mut canonical = Vec::new();
        write_canonical(representation, &mut canonical);
        let mut h = Sha256::new();
        h.update((canonical.len() as u64).to_be_bytes());
        h.update(&canonical);
        for part in hidden {
            // Length-prefixed, so that no two different sequences of parts hash alike.
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        let digest = h.finalize();
        ETag(format!("\"{}\"", hex::encode(&digest[..16])))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `ETag` header carrying this tag.
    pub fn header(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&self.0) {
            h.insert(header::ETAG, v);
        }
        h
    }
}

impl std::fmt::Display for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&Value::String(k.clone()), out);
                out.push(b':');
                if let Some(v) = m.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            // Scalars have one serde_json encoding.
            out.extend_from_slice(v.to_string().as_bytes());
        }
    }
}

/// An object as it is in one snapshot: its representation (without `etag`) and its tag.
#[derive(Clone, Debug)]
pub struct Current {
    pub representation: Value,
    pub etag: ETag,
}

impl Current {
    /// From a representation that may carry an `etag` field (ignored).
    pub fn of(mut representation: Value, hidden: &[&[u8]]) -> Current {
        if let Some(o) = representation.as_object_mut() {
            o.remove("etag");
        }
        let etag = ETag::of(&representation, hidden);
        Current { representation, etag }
    }

    /// From a typed answer with an `etag` field, which is left out of the hash.
    pub fn of_typed(out: &impl Serialize) -> Current {
        Current::of(serde_json::to_value(out).unwrap_or(Value::Null), &[])
    }

    /// The representation with its `etag` field, as reads show it.
    pub fn stamped(&self) -> Value {
        let mut v = self.representation.clone();
        if let Some(o) = v.as_object_mut() {
            o.insert("etag".into(), Value::String(self.etag.0.clone()));
        }
        v
    }
}

/// A typed answer that carries its own version in an `etag` field.
pub trait Versioned: Serialize {
    fn etag_field(&mut self) -> &mut String;
}

/// `out` with its `etag` field filled in, and the tag (for the `ETag` header).
pub fn stamp<T: Versioned>(mut out: T) -> (T, ETag) {
    let etag = Current::of_typed(&out).etag;
    *out.etag_field() = etag.to_string();
    (out, etag)
}

/// A provider account, MCP server, agent or gateway control as it is in `s`: its representation, and its
/// credentials' sealing (never what they hold), so that replacing them changes the version too.
pub fn resource(s: &gatehouse_core::Snapshot, rec: &gatehouse_core::resource::ResourceRecord) -> Current {
    let hidden: Vec<&[u8]> = rec.sealed_auth.iter().map(|a| crate::crypto::sealing_id(&a.0)).collect();
    Current::of(crate::resources::render(s, rec, false), &hidden)
}

/// Removes the read-only top-level fields a read shows: a body read back is accepted as it is. Only these
/// named fields; any other unknown field is still refused by the collection's parser.
pub fn strip_read_only(mut body: Value, read_only: &[&str]) -> Value {
    if let Some(o) = body.as_object_mut() {
        for f in read_only {
            o.remove(*f);
        }
    }
    body
}

/// A body as a collection's typed request (read-only fields already removed): a wrong type, a missing or an
/// unknown field each give a 400 that names the field, as a JSON body always did.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    crate::extract::tracked(body, |d| T::deserialize(d))
}

/// The `If-Match` header of a `PUT`, `PATCH` or `DELETE`, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchHeader {
    /// Write only if the object is still at this version: an `ETag` a read gave (strong comparison), or
    /// `*` for "if it exists". When it does not hold: 412 `precondition_failed`, naming the object's
    /// current `ETag` and the fields that differ. Without it, the write is unconditional.
    #[param(rename = "If-Match")]
    #[allow(dead_code)]
    if_match: Option<String>,
}

/// The `If-Match` request header: absent, `*`, or a list of entity tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfMatch {
    Absent,
    Any,
    Tags(Vec<String>),
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        IfMatch::parse(&parts.headers)
    }
}

impl IfMatch {
    pub fn parse(headers: &HeaderMap) -> Result<IfMatch, ApiError> {
        let mut tags = Vec::new();
        let mut any = false;
        let mut seen = false;
        for v in headers.get_all(header::IF_MATCH) {
            seen = true;
            let s = v.to_str().map_err(|_| bad_header("is not visible ASCII"))?;
            for item in split_tags(s)? {
                if item == "*" {
                    any = true;
                } else {
                    tags.push(item);
                }
            }
        }
        match (seen, any) {
            (false, _) => Ok(IfMatch::Absent),
            (true, true) if tags.is_empty() => Ok(IfMatch::Any),
            (true, true) => Err(bad_header("* cannot be combined with entity tags")),
            (true, false) if tags.is_empty() => Err(bad_header("is empty")),
            (true, false) => Ok(IfMatch::Tags(tags)),
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, IfMatch::Absent)
    }

    /// Strong comparison (RFC 9110, 13.1.1): a weak tag never matches.
    fn matches(&self, etag: &ETag) -> bool {
        match self {
            IfMatch::Absent | IfMatch::Any => true,
            IfMatch::Tags(tags) => tags.iter().any(|t| t == etag.as_str()),
        }
    }

    fn describe(&self) -> String {
        match self {
            IfMatch::Absent => String::new(),
            IfMatch::Any => "*".to_owned(),
            IfMatch::Tags(t) => t.join(", "),
        }
    }

    /// The precondition of a write on an object that is `current` in the snapshot the write is checked
    /// against (`None`: it does not exist). `request` is what the write would make of it (PUT and PATCH),
    /// to name the fields that differ; `reveal` is whether the caller may read the object, without which
    /// the answer says nothing of its current state.
    pub fn check(
        &self,
        kind: Kind,
        name: &str,
        current: Option<&Current>,
        request: Option<&Value>,
        reveal: bool,
    ) -> Result<(), ApiError> {
        if self.is_absent() {
            return Ok(());
        }
        let Some(current) = current else {
            return Err(self.stale(kind, name, None));
        };
        if self.matches(&current.etag) {
            return Ok(());
        }
        let changed = match (reveal, request) {
            (true, Some(r)) => differing_fields(&strip_read_only(current.representation.clone(), kind.read_only), r),
            (true, None) | (false, _) => Vec::new(),
        };
        let seen = reveal.then(|| (current.etag.clone(), changed));
        Err(self.stale(kind, name, Some(seen)))
    }

    /// A PUT or PATCH: as `check`, and without `If-Match` an object that does not exist is a 404.
    pub fn check_existing(
        &self,
        kind: Kind,
        name: &str,
        current: Option<&Current>,
        request: Option<&Value>,
        reveal: bool,
    ) -> Result<(), ApiError> {
        if current.is_none() {
            return Err(self.missing(kind, name));
        }
        self.check(kind, name, current, request, reveal)
    }

    /// The answer for an object that does not exist: 404, or 412 when the request had `If-Match`.
    pub fn missing(&self, kind: Kind, name: &str) -> ApiError {
        if self.is_absent() {
            ApiError::not_found(kind.noun, name)
        } else {
            self.stale(kind, name, None)
        }
    }

    /// A write that the core refused because its object does not exist: with `If-Match`, a 412 (the
    /// refusal comes after the caller's rights were checked, so it tells nothing a 404 would not).
    pub fn on_missing(&self, kind: Kind, name: &str, e: ApiError) -> ApiError {
        match (&e, self.is_absent()) {
            (ApiError::Refused(gatehouse_core::ops::Refusal::NotFound(_)), false) => self.stale(kind, name, None),
            _ => e,
        }
    }

    fn stale(&self, kind: Kind, name: &str, current: Option<Option<(ETag, Vec<String>)>>) -> ApiError {
        let (exists, seen) = match current {
            None => (false, None),
            Some(seen) => (true, seen),
        };
        ApiError::PreconditionFailed(Box::new(Stale {
            kind: kind.noun,
            name: name.to_owned(),
            if_match: self.describe(),
            exists,
            current: seen.as_ref().map(|(e, _)| e.clone()),
            changed: seen.map(|(_, c)| c).unwrap_or_default(),
        }))
    }
}

fn bad_header(why: &str) -> ApiError {
    ApiError::invalid("If-Match", format!("{why}: send * or one or more quoted entity tags, as ETag gave them"))
}

/// The entity tags of a header value: `"x"`, `W/"x"` (kept with its prefix: it never matches), or `*`.
fn split_tags(s: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (weak, body) = match rest.strip_prefix("W/") {
            Some(b) => ("W/", b),
            None => ("", rest),
        };
        if weak.is_empty() && body.starts_with('*') {
            out.push("*".to_owned());
            rest = &body[1..];
        } else {
            let inner = body.strip_prefix('"').ok_or_else(|| bad_header("entity tags are quoted"))?;
            let end = inner.find('"').ok_or_else(|| bad_header("an entity tag is not closed"))?;
            out.push(format!("{weak}\"{}\"", &inner[..end]));
            rest = &inner[end + 1..];
        }
        rest = rest.trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return Err(bad_header("entity tags are separated by commas")),
        }
    }
    Ok(out)
}

/// Top-level fields whose value in `current` differs from `request`'s, sorted; a field the request leaves
/// out counts when the object has a value for it that is not empty.
fn differing_fields(current: &Value, request: &Value) -> Vec<String> {
    let (Some(c), Some(r)) = (current.as_object(), request.as_object()) else { return Vec::new() };
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    };
    let mut keys: Vec<&String> = c.keys().chain(r.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| k.as_str() != "etag")
        .filter(|k| match (c.get(*k), r.get(*k)) {
            (Some(a), Some(b)) => a != b,
            (Some(a), None) => !empty(a),
            (None, Some(b)) => !empty(b),
            (None, None) => false,
        })
        .map(|k| k.to_string())
        .collect()
}

/// A write's `If-Match` did not hold (412).
#[derive(Debug)]
pub struct Stale {
    pub kind: &'static str,
    pub name: String,
    pub if_match: String,
    pub exists: bool,
    /// The object's current tag, when the caller may read it.
    pub current: Option<ETag>,
    /// The top-level fields where the object now differs from the request, when the caller may read it.
    pub changed: Vec<String>,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, name, sent) = (self.kind, &self.name, &self.if_match);
        if !self.exists {
            return write!(f, "{kind} {name} does not exist, and If-Match ({sent}) needs it to");
        }
        write!(f, "{kind} {name} has changed since the version you sent in If-Match ({sent})")?;
        if let Some(current) = &self.current {
            write!(f, "; its current ETag is {current}")?;
        }
        if !self.changed.is_empty() {
            write!(f, "; fields where it now differs from your request: {}", self.changed.join(", "))?;
        }
        f.write_str(": someone else changed it since you read it; read it again and redo your change")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_tag_does_not_depend_on_key_order_or_the_etag_field() {
        let a = Current::of(json!({"a": 1, "b": [1, {"y": 2, "x": 1}]}), &[]);
        let b = Current::of(json!({"b": [1, {"x": 1, "y": 2}], "a": 1, "etag": "\"old\""}), &[]);
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, Current::of(json!({"a": 2, "b": [1, {"x": 1, "y": 2}]}), &[]).etag);
        assert_ne!(a.etag, Current::of(json!({"a": 1, "b": [1, {"x": 1, "y": 2}]}), &[b"sealed"]).etag);
        assert!(a.etag.as_str().starts_with('"') && a.etag.as_str().ends_with('"'));
        assert_eq!(a.etag.as_str().len(), 34);
    }

    #[test]
    fn if_match_is_parsed_as_rfc_9110_writes_it() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
            IfMatch::parse(&m)
        };
        assert_eq!(IfMatch::parse(&HeaderMap::new()).unwrap(), IfMatch::Absent);
        assert_eq!(h("*").unwrap(), IfMatch::Any);
        assert_eq!(
            h(r#""a", W/"b" ,"c""#).unwrap(),
            IfMatch::Tags(vec![r#""a""#.into(), r#"W/"b""#.into(), r#""c""#.into()])
        );
        assert!(h("abc").is_err());
        assert!(h(r#""a"#).is_err());
        assert!(h(r#""a" "b""#).is_err());
        assert!(h(r#"*, "a""#).is_err());
        let cur = Current::of(json!({"a": 1}), &[]);
        // A weak tag never matches, even with the same opaque part.
        let weak = IfMatch::Tags(vec![format!("W/{}", cur.etag)]);
        assert!(weak.check(USER, "x", Some(&cur), None, true).is_err());
        assert!(IfMatch::Tags(vec![cur.etag.to_string()]).check(USER, "x", Some(&cur), None, true).is_ok());
        assert!(IfMatch::Any.check(USER, "x", None, None, true).is_err());
        assert!(IfMatch::Absent.check(USER, "x", None, None, true).is_ok());
    }

    #[test]
    fn a_stale_write_names_the_current_tag_and_the_fields_that_differ_only_to_a_reader() {
        let cur = Current::of(json!({"name": "x", "role": "admin", "description": ""}), &[]);
        let req = json!({"name": "x", "role": "member"});
        let e = IfMatch::Tags(vec!["\"old\"".into()]).check(USER, "x", Some(&cur), Some(&req), true).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(cur.etag.as_str()) && msg.contains("differs from your request: role"), "{msg}");
        assert_eq!(e.code(), "precondition_failed");
        let hidden = IfMatch::Tags(vec!["\"old\"".into()]).check(USER, "x", Some(&cur), Some(&req), false).unwrap_err();
        assert!(!hidden.to_string().contains(cur.etag.as_str()) && !hidden.to_string().contains("role"));
    }
}
