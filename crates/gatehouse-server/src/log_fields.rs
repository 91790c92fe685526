//! What a request log row may hold: every field bounded, whatever the client sent, and bodies (when the
//! operator stores them) bounded and redacted of credentials.

use gatehouse_store::RequestLog;
use serde_json::Value;

/// The most a stored prompt or completion keeps, in bytes, truncation marker included.
pub const MAX_BODY: usize = 64 * 1024;
/// What a body is cut to before redaction: a little more than is kept, so that redaction, which only
/// shortens, still leaves a whole `MAX_BODY`.
const MAX_RAW_BODY: usize = MAX_BODY + 4 * 1024;
/// `<provider account>/<model>`: a 64-character account name, a slash and a 128-character model name. A
/// longer `model` names nothing that can exist, so it is a 400 rather than the usual refusal.
pub const MAX_MODEL: usize = 64 + 1 + 128;
/// Subjects are `user:<email of at most 254>` or `virtualaccount:<name of at most 64>`.
const MAX_SUBJECT: usize = 270;
/// Token ids, virtual account names, routes and request ids are all far shorter by construction; this
/// bounds them whatever a future caller puts there.
const MAX_SHORT: usize = 128;
/// `<config>/<rule>`: a 64-character control name, a slash and a 64-character rule id.
const MAX_REFUSED_BY: usize = 64 + 1 + 64;

/// Far above any model's context, and low enough that sums over billions of rows stay within 64 bits.
const MAX_TOKENS: i64 = 1 << 32;

const MARKER: &str = "…[truncated]";
/// Longer than any credential the redaction recognises.
const MAX_CREDENTIAL: usize = 512;

/// `s` cut to at most `max` bytes on a character boundary, with a marker when anything was cut.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let keep = max.saturating_sub(MARKER.len());
    let mut end = keep.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARKER}", &s[..end])
}

fn bound_in_place(s: &mut String, max: usize) {
    if s.len() > max {
        *s = bounded(s, max);
    }
}

/// The client's `model` as the log keeps it.
pub fn loggable_model(model: &str) -> String {
    bounded(model, MAX_MODEL)
}

/// Every field of `e` within its bound; bodies redacted and bounded.
pub fn bound(mut e: RequestLog) -> RequestLog {
    bound_in_place(&mut e.subject, MAX_SUBJECT);
    bound_in_place(&mut e.token_id, MAX_SHORT);
    bound_in_place(&mut e.model, MAX_MODEL);
    bound_in_place(&mut e.route, MAX_SHORT);
    for f in [&mut e.virtual_account, &mut e.request_id].into_iter().flatten() {
        bound_in_place(f, MAX_SHORT);
    }
    // Counts come from upstreams, whose address a provider-account manager chooses: an absurd one would
    // make every sum over the log overflow (a failed usage report), so a row holds at most 2^32 of each.
    for n in [&mut e.input_tokens, &mut e.output_tokens].into_iter().flatten() {
        *n = (*n).clamp(0, MAX_TOKENS);
    }
    if let Some(r) = &mut e.refused_by {
        bound_in_place(r, MAX_REFUSED_BY);
    }
    e.guardrails.truncate(crate::guardrails::MAX_LOGGED);
    for v in &mut e.guardrails {
        for f in [&mut v.config, &mut v.rule, &mut v.check, &mut v.kind, &mut v.hook, &mut v.outcome] {
            bound_in_place(f, MAX_SHORT);
        }
    }
    // A NaN or infinite cost would make every sum over its group NaN or infinite: better unknown than that.
    e.cost_usd = e.cost_usd.filter(|c| c.is_finite()).map(|c| c.max(0.0));
    for body in [&mut e.prompt, &mut e.completion].into_iter().flatten() {
        *body = bounded(&redact_text(&raw_cut(body)), MAX_BODY);
    }
    e
}

/// A body cut to `MAX_RAW_BODY` before redaction. A cut can split a credential, which redaction would then
/// not recognise, so the cut goes back to before the last run of characters a credential is made of.
fn raw_cut(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= MAX_RAW_BODY {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = MAX_RAW_BODY;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let head = &s[..end];
    let trimmed =
        head.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '+' | '='));
    // Credentials are far shorter than this; a longer run is text, and the patterns would not have found a
    // credential at its end anyway (they need a word boundary before it).
    let safe = if head.len() - trimmed.len() <= MAX_CREDENTIAL { trimmed } else { head };
    std::borrow::Cow::Owned(format!("{safe}{MARKER}"))
}

/// A JSON body as the log may keep it: fields that carry credentials replaced, then serialized (text
/// redaction and bounds follow in `bound`).
pub fn body_of<T: serde::Serialize>(value: &T) -> Option<String> {
    let mut v = serde_json::to_value(value).ok()?;
    redact_json(&mut v);
    Some(v.to_string())
}

/// Whether a JSON key names a credential (`api_key`, `Authorization`, `x-api-key`, `secret_access_key`, ...).
fn credential_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    matches!(
        k.as_str(),
        "api_key"
            | "apikey"
            | "x_api_key"
            | "authorization"
            | "proxy_authorization"
            | "password"
            | "secret"
            | "client_secret"
            | "secret_access_key"
            | "access_key_id"
            | "session_token"
            | "access_token"
            | "refresh_token"
            | "id_token"
            | "token"
            | "private_key"
            | "credentials"
            | "cookie"
    )
}

fn redact_json(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if credential_key(k) && !x.is_null() {
                    *x = Value::String(REDACTED.into());
                } else {
                    redact_json(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_json),
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {}
    }
}

const REDACTED: &str = "[redacted]";

/// Anything in free text that looks like a credential, by the detectors the guardrails use
/// (`gatehouse_core::guard::find_secrets`): Gatehouse tokens, provider and cloud keys (`sk-...`, AWS access
/// key ids, GitHub and Google keys), JWTs, private key blocks and bearer credentials.
pub fn redact_text(s: &str) -> String {
    let mut found = Vec::new();
    gatehouse_core::guard::find_secrets(s, &mut found);
    gatehouse_core::guard::redact(s, &found, |_| REDACTED.to_owned())
}

/// A stream's completion as it goes out, kept up to `MAX_RAW_BODY` (the rest is cut in `bound`).
#[derive(Default)]
pub struct BodyBuffer {
    text: String,
    cut: bool,
}

impl BodyBuffer {
    pub fn push(&mut self, s: &str) {
        if self.cut {
            return;
        }
        let room = MAX_RAW_BODY + 1 - self.text.len().min(MAX_RAW_BODY + 1);
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.text.push_str(&s[..end]);
            // One byte over the raw limit, so `bound` knows to cut (and to cut safely).
            self.cut = true;
        }
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cuts_on_a_character_boundary_with_a_marker() {
        assert_eq!(bounded("short", 10), "short");
        let long = "é".repeat(100);
        let b = bounded(&long, 51);
        assert!(b.len() <= 51 && b.ends_with(MARKER), "{b}");
    }

    #[test]
    fn credentials_are_redacted_from_json_and_text() {
        let v = serde_json::json!({"model": "a/b", "api_key": "k1", "extra": {"Authorization": "Bearer x"},
                                   "max_tokens": 5, "messages": [{"content": "my key is sk-abcdefgh1234567890xyz and gh_pat_0123456789abcdef_ffff"}]});
        let text = redact_text(&body_of(&v).unwrap_or_default());
        for secret in ["k1", "Bearer x", "sk-abcdefgh1234567890xyz", "gh_pat_", "ffff"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("\"max_tokens\":5"), "{text}");
    }

    fn entry(prompt: String) -> RequestLog {
        RequestLog {
            at: time::OffsetDateTime::UNIX_EPOCH,
            subject: "user:a@example.com".into(),
            subject_id: None,
            token_id: "0123456789abcdef".into(),
            virtual_account: None,
            model: "m".repeat(1 << 20),
            route: "chat".into(),
            status: 403,
            latency_us: 0,
            upstream_latency_us: None,
            input_tokens: Some(i64::MAX),
            output_tokens: Some(-5),
            request_id: Some("r".repeat(1000)),
            prompt: Some(prompt),
            completion: None,
            cost_usd: None,
            refused_by: Some("c".repeat(1000)),
            request_bytes: None,
            response_bytes: None,
            guardrails: Vec::new(),
        }
    }

    #[test]
    fn every_field_is_bounded() {
        let e = bound(entry("y".repeat(300_000)));
        assert!(e.model.len() <= MAX_MODEL && e.request_id.unwrap_or_default().len() <= MAX_SHORT);
        assert_eq!((e.input_tokens, e.output_tokens), (Some(MAX_TOKENS), Some(0)));
        assert!(e.refused_by.is_some_and(|r| r.len() <= MAX_REFUSED_BY));
        assert_eq!(bound(RequestLog { cost_usd: Some(f64::NAN), ..entry(String::new()) }).cost_usd, None);
        assert_eq!(bound(RequestLog { cost_usd: Some(f64::INFINITY), ..entry(String::new()) }).cost_usd, None);
        assert_eq!(bound(RequestLog { cost_usd: Some(-1.0), ..entry(String::new()) }).cost_usd, Some(0.0));
        assert_eq!(bound(RequestLog { cost_usd: Some(0.25), ..entry(String::new()) }).cost_usd, Some(0.25));
        let prompt = e.prompt.unwrap_or_default();
        assert!(prompt.len() <= MAX_BODY && prompt.starts_with("yyy") && prompt.ends_with(MARKER), "{}", prompt.len());
    }

    #[test]
    fn a_cut_never_leaves_part_of_a_credential() {
        // Redaction shortens, so the text near the raw cut is kept; the cut falls three letters into a key,
        // too few for the pattern to know it.
        let unit = "sk-xxxxxxxxxxxxxxxxxxxxxxxx1 ";
        let mut body = unit.repeat((MAX_RAW_BODY - 6) / unit.len());
        body.push_str(&" ".repeat(MAX_RAW_BODY - 6 - body.len()));
        body.push_str("sk-abcdefghijkl");
        let prompt = bound(entry(body)).prompt.unwrap_or_default();
        assert!(prompt.len() < MAX_BODY && prompt.ends_with(MARKER), "{}", prompt.len());
        assert!(!prompt.contains("sk-a") && !prompt.contains("xxxx"), "{}", &prompt[prompt.len() - 100..]);
    }
}
