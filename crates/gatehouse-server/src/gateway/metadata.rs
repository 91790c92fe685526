//! `x-gatehouse-metadata`: a JSON object of strings a client attaches to a request, which gateway control
//! rules match (`when.metadata`) and count per (`metadata.<key>`).

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use crate::error::ApiError;

pub const HEADER: &str = "x-gatehouse-metadata";

/// At most this many pairs: each may become a counter.
pub const MAX_PAIRS: usize = 16;
/// Values as long as a rule's `when.metadata` values may be.
pub const MAX_VALUE_CHARS: usize = 256;

/// The header's pairs; no header is no metadata. Anything else than a flat object of short identifier
/// keys and bounded string values is a 400 that says what is wrong, never a silent partial match.
pub fn parse(headers: &HeaderMap) -> Result<BTreeMap<String, String>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(raw) = values.next() else { return Ok(BTreeMap::new()) };
    if values.next().is_some() {
        return Err(ApiError::InvalidMetadata("the header is given more than once".into()));
    }
    let text = raw.to_str().map_err(|_| ApiError::InvalidMetadata("the header is not visible ASCII".into()))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ApiError::InvalidMetadata(format!("not JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(ApiError::InvalidMetadata("must be a JSON object of strings".into()));
    };
    if map.len() > MAX_PAIRS {
        return Err(ApiError::InvalidMetadata(format!("has {} keys; at most {MAX_PAIRS} are allowed", map.len())));
    }
    let mut out = BTreeMap::new();
    for (k, v) in map {
        gatehouse_core::spec::metadata_key(&k).map_err(|m| ApiError::InvalidMetadata(format!("key {k:?}: {m}")))?;
        let serde_json::Value::String(v) = v else {
            return Err(ApiError::InvalidMetadata(format!("the value of {k:?} must be a string")));
        };
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(ApiError::InvalidMetadata(format!(
                "the value of {k:?} is longer than {MAX_VALUE_CHARS} characters"
            )));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// The request's metadata as an extractor that never rejects: a malformed header is answered by the call,
/// so that it is logged like any other refusal.
pub struct Meta(pub Result<BTreeMap<String, String>, ApiError>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(parse(&parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, v.parse().unwrap());
        h
    }

    #[test]
    fn a_flat_object_of_strings() {
        let m = parse(&with(r#"{"project":"checkout","env":"prod"}"#)).unwrap();
        assert_eq!(m.get("project").map(String::as_str), Some("checkout"));
        assert!(parse(&HeaderMap::new()).unwrap().is_empty());
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        for (bad, says) in [
            ("nope", "not JSON"),
            ("[1]", "JSON object"),
            (r#"{"a":1}"#, "must be a string"),
            (r#"{"a b":"x"}"#, "key \"a b\""),
            (&format!(r#"{{"a":"{}"}}"#, "x".repeat(257)), "longer than 256"),
        ] {
            let e = parse(&with(bad)).unwrap_err();
            assert_eq!(e.code(), "invalid_metadata");
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
    }
}
