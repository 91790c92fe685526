//! OAuth 2.0 client credentials for upstream MCP servers (RFC 6749 §4.4): the gateway asks the server's
//! token endpoint for an access token with a form POST, keeps it until shortly before it expires (by the
//! app's clock), fetches one at a time however many requests need it, and gets a new one when the server
//! refuses the one it has (HTTP 401). Failures name the server and what the token endpoint did (its status
//! and its standard error code), never the client secret, the token or the endpoint's body.

use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;
use futures_util::StreamExt;
use gatehouse_core::spec::{ClientAuth, OAuth2ClientCredentials};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::upstream::{what_failed, Failure};
use crate::state::App;

/// The most of a token endpoint's answer read.
const MAX_ANSWER: usize = 64 * 1024;
/// How long a token that states no lifetime is kept (unless the server refuses it first).
const DEFAULT_LIFETIME: i64 = 3600;
/// A token is renewed this long before it expires at most (a fifth of its lifetime for short-lived ones).
const MARGIN: i64 = 60;

pub struct TokenSource {
    server: String,
    url: reqwest::Url,
    creds: OAuth2ClientCredentials,
    /// The server's other secrets, masked in its messages along with the current token.
    fixed_secrets: Vec<String>,
    current: Mutex<Option<Token>>,
    /// One fetch at a time: requests arriving meanwhile wait for its token.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Token {
    header: HeaderValue,
    fresh_until: OffsetDateTime,
    secrets: Arc<[String]>,
}

impl TokenSource {
    pub fn new(server: &str, creds: &OAuth2ClientCredentials) -> Result<TokenSource, String> {
        let url = reqwest::Url::parse(creds.token_url.as_str())
            .map_err(|_| format!("MCP server {server}: its token_url is not a URL"))?;
        Ok(TokenSource {
            server: server.to_owned(),
            url,
            creds: creds.clone(),
            fixed_secrets: vec![creds.client_secret.expose().clone()],
            current: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The `Authorization` value to send: the current token, or a new one when it is not fresh.
    pub async fn header(&self, app: &App) -> Result<HeaderValue, Failure> {
        if let Some(h) = self.fresh(app.now(), None) {
            return Ok(h);
        }
        let _turn = self.fetching.lock().await;
        // Whoever held the turn before may have fetched one.
        if let Some(h) = self.fresh(app.now(), None) {
            return Ok(h);
        }
        self.fetch(app).await
    }

    /// After the server refused `used` (401): a new token, unless another request already got one.
    pub async fn renew(&self, app: &App, used: Option<&HeaderValue>) -> Result<HeaderValue, Failure> {
        let _turn = self.fetching.lock().await;
        if let Some(h) = self.fresh(app.now(), used) {
            return Ok(h);
        }
        self.fetch(app).await
    }

    /// Every secret to mask in the server's messages: the client secret and the current token.
    pub fn secrets(&self) -> Arc<[String]> {
        match self.current.lock().ok().and_then(|c| c.as_ref().map(|t| t.secrets.clone())) {
            Some(s) => s,
            None => self.fixed_secrets.clone().into(),
        }
    }

    /// The current token's header if it is fresh at `now` and is not `other_than`.
    fn fresh(&self, now: OffsetDateTime, other_than: Option<&HeaderValue>) -> Option<HeaderValue> {
        let current = self.current.lock().ok()?;
        let t = current.as_ref()?;
        (now < t.fresh_until && Some(&t.header) != other_than).then(|| t.header.clone())
    }

    async fn fetch(&self, app: &App) -> Result<HeaderValue, Failure> {
        let started = app.now();
        let answer = match tokio::time::timeout(app.config.upstream_first_byte_timeout, self.exchange(app)).await {
            Err(_) => Err(self.fail("its token endpoint did not answer in time".into())),
            Ok(r) => r,
        };
        let (token, lifetime) = match answer {
            Ok(a) => a,
            Err(f) => {
                // A token the endpoint will no longer renew is not kept either.
                if let Ok(mut c) = self.current.lock() {
                    *c = None;
                }
                return Err(f);
            }
        };
        let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| self.fail("its access token cannot be sent in a header".into()))?;
        header.set_sensitive(true);
        let margin = MARGIN.min(lifetime / 5);
        let mut secrets = self.fixed_secrets.clone();
        if token.len() >= 6 {
            secrets.push(token);
        }
        let t = Token {
            header: header.clone(),
            fresh_until: started + Duration::seconds(lifetime - margin),
            secrets: secrets.into(),
        };
        if let Ok(mut c) = self.current.lock() {
            *c = Some(t);
        }
        Ok(header)
    }

    /// One token request: the token and its lifetime in seconds.
    async fn exchange(&self, app: &App) -> Result<(String, i64), Failure> {
        let c = &self.creds;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(s) = &c.scope {
            form.push(("scope", s));
        }
        if let Some(a) = &c.audience {
            form.push(("audience", a));
        }
        let mut rb = app.http.post(self.url.clone()).header("accept", "application/json");
        match c.client_auth {
            ClientAuth::Basic => {
                // RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encodes them (the header
                // reqwest makes of them is marked sensitive).
                rb = rb.basic_auth(form_encode(&c.client_id), Some(form_encode(c.client_secret.expose())));
            }
            ClientAuth::Body => {
                form.push(("client_id", &c.client_id));
                form.push(("client_secret", c.client_secret.expose()));
            }
        }
        let resp = rb.form(&form).send().await.map_err(|e| {
            self.fail(format!("its token endpoint could not be reached: {}", what_failed(&e.without_url())))
        })?;
        let status = resp.status();
        let body = read(resp).await.map_err(|d| self.fail(format!("its token endpoint's answer broke off: {d}")))?;
        let answer: Option<Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            let code = answer.as_ref().and_then(error_code).map(|c| format!(" ({c})")).unwrap_or_default();
            return Err(self.fail(format!("its token endpoint answered HTTP {}{code}", status.as_u16())));
        }
        let answer = answer.ok_or_else(|| self.fail("its token endpoint's answer is not JSON".into()))?;
        let token = answer.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty());
        let token = token.ok_or_else(|| self.fail("its token endpoint's answer has no access_token".into()))?;
        let kind = answer.get("token_type").and_then(Value::as_str).unwrap_or("");
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(self.fail("its token endpoint gave a token that is not a Bearer token".into()));
        }
        // Some servers send the number as a string.
        let lifetime = match answer.get("expires_in") {
            Some(Value::Number(n)) => n.as_f64().map(|f| f as i64),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        Ok((token.to_owned(), lifetime.filter(|l| *l > 0).unwrap_or(DEFAULT_LIFETIME)))
    }

    fn fail(&self, detail: String) -> Failure {
        Failure::Token { server: self.server.clone(), detail }
    }
}

async fn read(resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut chunks = resp.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| e.without_url().to_string())?;
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err("the answer is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// RFC 6749 §5.2's `error`, when it is one of its plain codes (never free text an endpoint chose, which
/// could hold anything).
fn error_code(answer: &Value) -> Option<&str> {
    let code = answer.get("error")?.as_str()?;
    let plain = !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    plain.then_some(code)
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_and_error_codes() {
        assert_eq!(form_encode("a b:c/d+é"), "a+b%3Ac%2Fd%2B%C3%A9");
        assert_eq!(error_code(&serde_json::json!({"error": "invalid_client"})), Some("invalid_client"));
        assert_eq!(error_code(&serde_json::json!({"error": "Bad secret s3cr3t"})), None);
        assert_eq!(error_code(&serde_json::json!({"nothing": 1})), None);
    }
}
