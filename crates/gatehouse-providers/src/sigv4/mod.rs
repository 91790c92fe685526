//! AWS Signature Version 4 for header-signed requests to non-S3 services such as Bedrock.
//!
//! The canonical URI follows the rules for every service but S3: the path is normalised (empty and `.`
//! segments dropped, `..` resolved) and each segment is URI-encoded once more on top of the encoding it
//! already has on the wire. So a Bedrock model id `a:b`, sent as `/model/a%3Ab/converse`, is signed as
//! `/model/a%253Ab/converse`. S3 encodes once and does not normalise, and is not supported here.

mod hmac;

use std::collections::BTreeMap;
use std::fmt;

use time::OffsetDateTime;

use self::hmac::{hmac_sha256, sha256_hex};
use crate::encoding::{percent_decode, uri_encode};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Set for temporary credentials (STS); sent and signed as `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The parts of an HTTP request that are signed.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The URL as it will be sent, already percent-encoded: `https://host[:port]/path?query`. The host
    /// is signed; the HTTP client must send the same one.
    pub url: &'a str,
    /// Headers to sign besides `host` and the `x-amz-*` ones this module sets (usually `content-type`).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOptions {
    /// Send and sign `x-amz-content-sha256`. Bedrock expects it; AWS's published test suite predates it.
    pub content_sha256_header: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self { content_sha256_header: true }
    }
}

/// Every intermediate of a signature, for tests and for debugging a `SignatureDoesNotMatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
    /// The headers to add to the request: `authorization`, `x-amz-date`, and as applicable
    /// `x-amz-content-sha256` and `x-amz-security-token`. `host` is not included: the client sets it.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("cannot sign a request to {0:?}: the URL has no host")]
    NoHost(String),
}

/// Signs `req` as Bedrock expects (with `x-amz-content-sha256`) and returns the headers to add.
pub fn sign(
    req: &Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: OffsetDateTime,
) -> Result<Vec<(String, String)>, SignError> {
    Ok(sign_with(req, credentials, region, service, time, SignOptions::default())?.headers)
}

pub fn sign_with(
    req: &Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: OffsetDateTime,
    options: SignOptions,
) -> Result<Signature, SignError> {
    let url = split_url(req.url);
    let utc = time.to_offset(time::UtcOffset::UTC);
    let date = format!("{:04}{:02}{:02}", utc.year(), u8::from(utc.month()), utc.day());
    let amz_date = format!("{date}T{:02}{:02}{:02}Z", utc.hour(), utc.minute(), utc.second());
    let payload_hash = sha256_hex(req.body);

    // Our own x-amz-* values replace any the caller passed, so what is signed is what is sent.
    let mut added = vec![("x-amz-date".to_string(), amz_date.clone())];
    if options.content_sha256_header {
        added.push(("x-amz-content-sha256".to_string(), payload_hash.clone()));
    }
    if let Some(token) = &credentials.session_token {
        added.push(("x-amz-security-token".to_string(), token.clone()));
    }
    let mut signed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in req.headers {
        let name = name.to_ascii_lowercase();
        if name == "authorization" || added.iter().any(|(n, _)| *n == name) {
            continue;
        }
        signed.entry(name).or_default().push(canonical_header_value(value));
    }
    if !signed.contains_key("host") {
        let host = url.host.ok_or_else(|| SignError::NoHost(req.url.to_string()))?;
        signed.insert("host".into(), vec![host]);
    }
    for (name, value) in &added {
        signed.insert(name.clone(), vec![value.clone()]);
    }

    let canonical_headers: String = signed.iter().map(|(n, v)| format!("{n}:{}\n", v.join(","))).collect();
    let signed_headers = signed.keys().map(String::as_str).collect::<Vec<_>>().join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(url.path),
        canonical_query(url.query),
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()));

    let k_date = hmac_sha256(format!("AWS4{}", credentials.secret_access_key).as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()));

    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    let mut headers = vec![("authorization".to_string(), authorization.clone())];
    headers.extend(added);
    Ok(Signature { canonical_request, string_to_sign, signature, authorization, headers })
}

struct UrlParts<'a> {
    host: Option<String>,
    path: &'a str,
    query: &'a str,
}

/// Splits an absolute URL or an origin-form target (`/path?query`). Default ports are dropped from the
/// host, because HTTP clients leave them out of the `Host` header they send.
fn split_url(url: &str) -> UrlParts<'_> {
    let url = url.split('#').next().unwrap_or(url);
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, url),
    };
    let (host, target) = match scheme {
        Some(_) => match rest.find(['/', '?']) {
            Some(i) => (Some(&rest[..i]), &rest[i..]),
            None => (Some(rest), ""),
        },
        None => (None, rest),
    };
    let host = host.filter(|h| !h.is_empty()).map(|h| {
        let h = h.rsplit('@').next().unwrap_or(h).to_ascii_lowercase();
        let default_port = match scheme.as_deref() {
            Some("https") => ":443",
            Some("http") => ":80",
            _ => "",
        };
        match h.strip_suffix(default_port) {
            Some(bare) if !default_port.is_empty() => bare.to_string(),
            _ => h,
        }
    });
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    UrlParts { host, path, query }
}

fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.iter().map(|s| uri_encode(s, false)).collect::<Vec<_>>().join("/"));
    // RFC 3986's dot-segment removal leaves a directory: `/a/b/.` and `/a/b/c/..` are both `/a/b/`.
    let directory = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if directory && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Parameters decoded and re-encoded strictly, then sorted by name and value: how the server sees them,
/// whatever escaping the client chose.
fn canonical_query(query: &str) -> String {
    let encode = |s: &str| uri_encode(&String::from_utf8_lossy(&percent_decode(s)), false);
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(k), encode(v))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// Trimmed, with runs of spaces inside collapsed to one.
fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a verified request was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub time: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing or malformed {0}")]
    Malformed(&'static str),
    #[error("the credential scope is for {0}, not this region and service")]
    WrongScope(String),
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a received request's signature, for a mock upstream or a test. `req.headers` are all the
/// headers received (including `authorization` and `host`); the access key id is read from the
/// `Credential` and `secret_access_key` is its secret. Freshness of `x-amz-date` is left to the caller,
/// which has a clock.
pub fn verify(
    req: &Request<'_>,
    secret_access_key: &str,
    region: &str,
    service: &str,
) -> Result<Verified, VerifyError> {
    let header = |name: &str| req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim());
    let authorization = header("authorization").ok_or(VerifyError::Malformed("authorization"))?;
    let fields = authorization.strip_prefix(ALGORITHM).ok_or(VerifyError::Malformed("authorization"))?;
    let field = |name: &str| {
        fields
            .split(',')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(name))
            .ok_or(VerifyError::Malformed("authorization"))
    };
    let credential = field("Credential=")?;
    let signed_headers: Vec<&str> = field("SignedHeaders=")?.split(';').collect();
    let (access_key_id, scope) = credential.split_once('/').ok_or(VerifyError::Malformed("authorization"))?;

    let amz_date = header("x-amz-date").ok_or(VerifyError::Malformed("x-amz-date"))?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let time = time::PrimitiveDateTime::parse(amz_date, format)
        .map_err(|_| VerifyError::Malformed("x-amz-date"))?
        .assume_utc();
    let expected_scope = format!("{}/{region}/{service}/aws4_request", &amz_date[..8]);
    if scope != expected_scope {
        return Err(VerifyError::WrongScope(scope.to_string()));
    }

    let headers: Vec<(String, String)> =
        req.headers.iter().filter(|(n, _)| signed_headers.iter().any(|s| n.eq_ignore_ascii_case(s))).cloned().collect();
    let credentials = Credentials {
        access_key_id: access_key_id.to_string(),
        secret_access_key: secret_access_key.to_string(),
        session_token: signed_headers
            .contains(&"x-amz-security-token")
            .then(|| header("x-amz-security-token").map(str::to_owned))
            .flatten(),
    };
    let options = SignOptions { content_sha256_header: signed_headers.contains(&"x-amz-content-sha256") };
    let ours = sign_with(&Request { headers: &headers, ..*req }, &credentials, region, service, time, options)
        .map_err(|_| VerifyError::Malformed("host"))?;
    // Constant time, so a caller probing the mock cannot learn the signature byte by byte.
    let same = ours.authorization.len() == authorization.len()
        && ours.authorization.bytes().zip(authorization.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same {
        Ok(Verified { access_key_id: access_key_id.to_string(), time })
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests;
