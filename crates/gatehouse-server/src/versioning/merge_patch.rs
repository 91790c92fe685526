//! `PATCH` bodies: JSON merge patches (RFC 7396), applied to an object's current representation.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The media types a `PATCH` accepts.
pub const MEDIA_TYPES: &str = "application/merge-patch+json (RFC 7396) or application/json";

/// A merge patch from the request body. Any other content type is a 415.
pub struct MergePatch(pub Value);

impl<S: Send + Sync> FromRequest<S> for MergePatch {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != "application/merge-patch+json" && essence != "application/json" {
            let sent = if content_type.is_empty() { "no Content-Type".to_owned() } else { format!("{content_type:?}") };
            return Err(ApiError::UnsupportedMediaType(format!("PATCH takes {MEDIA_TYPES}, not {sent}")));
        }
        let crate::extract::Body(v) = crate::extract::Body::<Value>::from_request(req, state).await?;
        Ok(MergePatch(v))
    }
}

/// Applies `patch` to `target` as RFC 7396 says: an object merges key by key (`null` removes a key), any
/// other value replaces the target whole.
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                apply(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// `target` with `patch` applied.
pub fn merged(mut target: Value, patch: &Value) -> Value {
    apply(&mut target, patch);
    target
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The examples of RFC 7396, appendix A.
    #[test]
    fn the_rfc_examples_hold() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":"b","b":"c"}), json!({"a":null}), json!({"b":"c"})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (json!({"a":{"b":"c"}}), json!({"a":{"b":"d","c":null}}), json!({"a":{"b":"d"}})),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (json!({}), json!({"a":{"bb":{"ccc":null}}}), json!({"a":{"bb":{}}})),
        ];
        for (target, patch, want) in cases {
            assert_eq!(merged(target.clone(), &patch), want, "{target} + {patch}");
        }
    }
}
