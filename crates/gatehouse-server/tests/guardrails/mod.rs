//! Guardrails on the gateway against the mock upstream: PII and secrets blocked and redacted on input (the
//! upstream's recorded requests prove what it saw) and on output (whole and streamed, values split across
//! chunks), keywords, patterns and sizes, the union of matching rules, audit mode, and bad configs.

mod output;
mod signing;
mod tools;
mod verdicts;
mod webhook;

use gatehouse_mock_upstream::{MockConfig, MockHandle};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use crate::common::TestServer;

/// An OpenAI-compatible account (`oa`: `gpt` for chat and completions, `emb` for embeddings, `split` whose
/// streams come three characters per event) and an Anthropic one (`an/sonnet`, four characters per event),
/// all on one mock; `usr` may use them.
async fn world(s: &TestServer) -> (MockHandle, String) {
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let usr = s.user("usr@example.com", "member").await;
    let grant = json!([{"subject": "user:usr@example.com", "role": "provider-account-user"}]);
    let accounts = [
        json!({
            "type": "openai-compatible", "name": "oa", "base_url": format!("{}/v1", mock.base_url()),
            "auth": {"api_key": "sk-test"},
            "models": [
                {"name": "gpt", "model_id": "mock-gpt", "types": ["chat", "completion"]},
                {"name": "emb", "model_id": "mock-emb", "types": ["embedding"]},
                {"name": "split", "model_id": "mock-split-3", "types": ["chat", "completion"]}
            ],
            "collaborators": grant
        }),
        json!({
            "type": "anthropic", "name": "an", "base_url": mock.base_url(), "auth": {"api_key": "sk-ant-test"},
            "models": [{"name": "sonnet", "model_id": "claude-3-5-sonnet-split-4", "types": ["chat"]}],
            "collaborators": grant
        }),
    ];
    for a in accounts {
        let r = s.post("/api/v1/provider-accounts", &s.admin, a).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    (mock, usr)
}

async fn control(s: &TestServer, body: Value) {
    let r = crate::common::apply::apply(s, &serde_json::to_string(&body).unwrap(), false).await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

fn guardrails(name: &str, rules: Value) -> Value {
    json!({"type": "gateway-guardrails-config", "name": name, "rules": rules})
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn applied(&self) -> String {
        self.headers.get("x-gatehouse-applied-controls").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }

    /// The error of a refusal: asserts the OpenAI shape and `guardrail_blocked`.
    fn blocked(&self) -> String {
        assert_eq!(self.status, 400, "{}", self.body);
        let v = self.json();
        assert_eq!(v["error"]["code"], "guardrail_blocked", "{v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        v["error"]["message"].as_str().unwrap().to_owned()
    }
}

async fn post(s: &TestServer, token: &str, path: &str, body: Value, metadata: Option<&str>) -> Answer {
    let mut req = reqwest::Client::new().post(format!("{}{path}", s.base)).bearer_auth(token).json(&body);
    if let Some(m) = metadata {
        req = req.header("x-gatehouse-metadata", m);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    Answer { status, headers, body: r.text().await.unwrap() }
}

fn chat(model: &str, content: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]})
}

/// `(value, the label of its redaction marker, the check that finds it)`: one of every PII entity and kind
/// of secret.
fn values() -> Vec<(String, &'static str, &'static str)> {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----";
    vec![
        ("jane.doe@example.com".into(), "email", "pii"),
        ("(555) 123-4567".into(), "phone", "pii"),
        ("4111 1111 1111 1111".into(), "credit_card", "pii"),
        ("078-05-1120".into(), "ssn", "pii"),
        ("DE89 3704 0044 0532 0130 00".into(), "iban", "pii"),
        ("AKIAIOSFODNN7EXAMPLE".into(), "secret", "secrets"),
        (format!("sk-proj-{}", "Ab3dE5fG7h".repeat(4)), "secret", "secrets"),
        (format!("sk-ant-api03-{}", "Xy9_z-Q1w".repeat(5)), "secret", "secrets"),
        (format!("ghp_{}", "aB3".repeat(12)), "secret", "secrets"),
        (format!("AIzaSy{}", "D-1_z".repeat(6) + "abc"), "secret", "secrets"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U".into(),
            "secret",
            "secrets",
        ),
        (format!("gh_va_0123456789abcdef_{}", "9f".repeat(32)), "secret", "secrets"),
        (pem.into(), "secret", "secrets"),
    ]
}

/// The text of every recorded upstream request body, as sent.
fn upstream_bodies(mock: &MockHandle) -> String {
    mock.requests().iter().map(|r| String::from_utf8_lossy(&r.raw_body).into_owned()).collect::<Vec<_>>().join("\n")
}

/// `value` as it appears inside a JSON string.
fn in_json(value: &str) -> String {
    let s = serde_json::to_string(value).unwrap();
    s[1..s.len() - 1].to_owned()
}

async fn log_rows(s: &TestServer, n: usize) -> Vec<Value> {
    let mut rows = Vec::new();
    for _ in 0..200 {
        rows = s.get("/api/v1/request-logs?limit=1000", &s.admin).await.body["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if rows.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    rows
}

#[tokio::test]
async fn each_pii_and_secret_class_is_blocked_before_the_upstream_and_never_echoed() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    control(
        &s,
        guardrails("safety", json!([{"id": "block", "input_guardrails": [{"type": "pii"}, {"type": "secrets"}]}])),
    )
    .await;
    for (value, label, check) in values() {
        let a = post(&s, &usr, "/v1/chat/completions", chat("oa/gpt", &format!("here is {value} thanks"), false), None)
            .await;
        let msg = a.blocked();
        assert!(msg.starts_with(&format!("guardrail safety/block blocked the input: the {check} check")), "{msg}");
        let detail = if label == "secret" { "found " } else { label };
        assert!(msg.contains(detail), "{msg}");
        assert!(!a.body.contains(&in_json(&value)) && !a.body.contains("4111"), "{value} echoed: {}", a.body);
        assert_eq!(a.applied(), "guardrail:safety/block;blocked");
    }
    assert_eq!(mock.request_count(), 0, "a blocked input costs no upstream call");
    // Every route's input, the same way.
    let card = "4111111111111111";
    let bodies = [
        ("/v1/completions", json!({"model": "oa/gpt", "prompt": ["fine", format!("pay {card}")]})),
        ("/v1/embeddings", json!({"model": "oa/emb", "input": format!("pay {card}")})),
        (
            "/v1/messages",
            json!({"model": "an/sonnet", "max_tokens": 20, "system": format!("card {card}"),
                   "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "an/sonnet", "max_tokens": 20,
                   "messages": [{"role": "user", "content": [{"type": "text", "text": format!("card {card}")}]}]}),
        ),
    ];
    for (path, body) in bodies {
        let msg = post(&s, &usr, path, body, None).await.blocked();
        assert!(msg.contains("found credit_card"), "{path}: {msg}");
    }
    assert_eq!(mock.request_count(), 0);
    // The request log names the rule that refused.
    let rows = log_rows(&s, values().len() + 4).await;
    assert!(rows.iter().all(|r| r["status"] == 400 && r["refused_by"] == "safety/block"), "{rows:#?}");
}

#[tokio::test]
async fn each_pii_and_secret_class_is_redacted_before_the_upstream_on_every_route() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    control(
        &s,
        guardrails(
            "safety",
            json!([{"id": "redact", "input_guardrails": [
                {"type": "pii", "action": "redact"}, {"type": "secrets", "action": "redact"}]}]),
        ),
    )
    .await;
    for (value, label, _) in values() {
        mock.clear();
        let a = post(&s, &usr, "/v1/chat/completions", chat("oa/gpt", &format!("here is {value} thanks"), false), None)
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.applied(), "guardrail:safety/redact;redacted");
        let sent = mock.last_request().unwrap();
        assert_eq!(sent.body["messages"][0]["content"], format!("here is [REDACTED:{label}] thanks"));
        assert!(!upstream_bodies(&mock).contains(&in_json(&value)), "{value} reached the upstream");
        // The mock echoes what it got: the answer shows the redaction too.
        assert!(a.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains(&format!("[REDACTED:{label}]")));
    }
    mock.clear();
    let key = "AKIAIOSFODNN7EXAMPLE";
    let mail = "ops@example.org";
    let bodies = [
        ("/v1/completions", json!({"model": "oa/gpt", "prompt": format!("key {key}")})),
        ("/v1/embeddings", json!({"model": "oa/emb", "input": [format!("key {key}"), format!("mail {mail}")]})),
        (
            "/v1/messages",
            json!({"model": "an/sonnet", "max_tokens": 20, "system": [{"type": "text", "text": format!("mail {mail}")}],
                   "messages": [{"role": "user", "content": format!("key {key}")},
                                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}]},
                                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": format!("mail {mail}")}]}]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "oa/gpt", "messages": [
                {"role": "system", "content": format!("mail {mail}")},
                {"role": "user", "content": [{"type": "text", "text": format!("key {key}")}]}]}),
        ),
    ];
    for (path, body) in bodies {
        let a = post(&s, &usr, path, body, None).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
    }
    assert_eq!(mock.request_count(), 4 + values().len() as u64);
    let sent = upstream_bodies(&mock);
    assert!(!sent.contains(key) && !sent.contains(mail), "{sent}");
    assert_eq!(sent.matches("[REDACTED:secret]").count(), 4, "{sent}");
    assert_eq!(sent.matches("[REDACTED:email]").count(), 4, "{sent}");
}

#[tokio::test]
async fn keywords_patterns_and_input_size() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    control(
        &s,
        guardrails(
            "words",
            json!([
                {"id": "kw", "input_guardrails": [
                    {"type": "block-keywords", "keywords": ["Project Falcon", "zzz"]},
                    {"type": "block-keywords", "keywords": ["Internal"], "case_sensitive": true},
                    {"type": "block-keywords", "keywords": ["codename"], "action": "redact"},
                    {"type": "block-regex", "pattern": "(?i)ticket-[0-9]{4}"},
                    {"type": "block-regex", "pattern": "emp-[0-9]+", "action": "redact"},
                    {"type": "max-input-chars", "limit": 100}]}
            ]),
        ),
    )
    .await;
    let ask = |text: &str| post(&s, &usr, "/v1/chat/completions", chat("oa/gpt", text, false), None);
    let msg = ask("tell me about PROJECT falcon").await.blocked();
    assert_eq!(
        msg,
        "guardrail words/kw blocked the input: the block-keywords check (input_guardrails[0]) found a blocked keyword"
    );
    let msg = ask("an Internal memo").await.blocked();
    assert!(msg.contains("(input_guardrails[1]) found a blocked keyword"), "{msg}");
    assert_eq!(ask("an internal memo").await.status, 200, "case-sensitive keywords match only as written");
    let msg = ask("see TICKET-1234").await.blocked();
    assert!(msg.contains("the block-regex check (input_guardrails[3]) found a match of its pattern"), "{msg}");
    let msg = ask(&"x".repeat(101)).await.blocked();
    assert!(
        msg.ends_with("the max-input-chars check (input_guardrails[5]) counted 101 characters, over the limit of 100")
    );
    // Characters, not bytes.
    assert_eq!(ask(&"é".repeat(100)).await.status, 200);
    mock.clear();
    let a = ask("the codename is emp-42 and Emp-7").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        mock.last_request().unwrap().body["messages"][0]["content"],
        "the [REDACTED:keyword] is [REDACTED:pattern] and Emp-7"
    );
    assert_eq!(a.applied(), "guardrail:words/kw;redacted");
}

#[tokio::test]
async fn every_matching_rule_applies_and_only_those() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    control(
        &s,
        guardrails(
            "a-first",
            json!([
                {"id": "emails", "when": {"models": ["oa/gpt"]}, "input_guardrails": [{"type": "pii", "entities": ["email"], "action": "redact"}]},
                {"id": "other-model", "when": {"models": ["oa/split"]}, "input_guardrails": [{"type": "block-keywords", "keywords": ["hello"]}]}
            ]),
        ),
    )
    .await;
    control(
        &s,
        guardrails(
            "b-second",
            json!([
                {"id": "keys", "when": {"subjects": ["user:usr@example.com"]}, "input_guardrails": [{"type": "secrets", "action": "redact"}]},
                {"id": "prod", "when": {"metadata": {"env": "prod"}}, "input_guardrails": [{"type": "block-keywords", "keywords": ["deploy"]}]}
            ]),
        ),
    )
    .await;
    let text = "hello, deploy AKIAIOSFODNN7EXAMPLE for me@example.com";
    let a = post(&s, &usr, "/v1/chat/completions", chat("oa/gpt", text, false), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.applied(), "guardrail:a-first/emails;redacted, guardrail:b-second/keys;redacted");
    assert_eq!(
        mock.last_request().unwrap().body["messages"][0]["content"],
        "hello, deploy [REDACTED:secret] for [REDACTED:email]"
    );
    let msg = post(&s, &usr, "/v1/chat/completions", chat("oa/gpt", text, false), Some(r#"{"env":"prod"}"#)).await;
    assert!(msg.blocked().starts_with("guardrail b-second/prod blocked the input"));
    assert_eq!(
        msg.applied(),
        "guardrail:a-first/emails;redacted, guardrail:b-second/keys;redacted, guardrail:b-second/prod;blocked"
    );
    // With rate limits too: one header, the limits' entries first.
    control(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [{"id": "all", "limit_to": 100, "unit": "requests_per_minute"}]}),
    )
    .await;
    let a = post(&s, &usr, "/v1/chat/completions", chat("oa/gpt", "hi", false), None).await;
    assert_eq!(a.applied(), "rate-limit:rl/all, guardrail:a-first/emails, guardrail:b-second/keys");
    assert_eq!(a.headers.get_all("x-gatehouse-applied-controls").iter().count(), 1);
}

#[tokio::test]
async fn audit_mode_records_but_never_blocks_or_changes() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    control(
        &s,
        guardrails(
            "watch",
            json!([{"id": "all", "input_guardrails": [
                {"type": "pii", "strategy": "audit"},
                {"type": "secrets", "action": "redact", "strategy": "audit"},
                {"type": "block-keywords", "keywords": ["secret"], "strategy": "audit"},
                {"type": "max-input-chars", "limit": 5, "strategy": "audit"}],
              "output_guardrails": [{"type": "secrets", "strategy": "audit"}]}]),
        ),
    )
    .await;
    let text = "a secret: AKIAIOSFODNN7EXAMPLE and 4111 1111 1111 1111";
    for stream in [false, true] {
        mock.clear();
        let a = post(&s, &usr, "/v1/chat/completions", chat("oa/split", text, stream), None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.applied(), "guardrail:watch/all;flagged");
        assert_eq!(mock.last_request().unwrap().body["messages"][0]["content"], text);
        assert!(a.body.contains("AKIAIOSFODNN7EXAMPLE") || stream, "{}", a.body);
        if stream {
            let (got, done) = crate::common::gateway::stream_text(&a.body);
            assert_eq!((got, done), (format!("mock reply to: {text}"), true));
        }
    }
}

#[tokio::test]
async fn bad_guardrails_are_refused_naming_the_field_and_nothing_is_stored() {
    let s = TestServer::start().await;
    let (_mock, _) = world(&s).await;
    let one = |g: Value| guardrails("bad", json!([{"id": "r", "input_guardrails": [g]}]));
    for (manifest, param) in [
        (one(json!({"type": "block-regex", "pattern": "(unclosed"})), "rules[0].input_guardrails[0].pattern"),
        (one(json!({"type": "block-regex", "pattern": "a{1000}{1000}"})), "rules[0].input_guardrails[0].pattern"),
        (one(json!({"type": "pii", "entities": ["passport"]})), "rules[0].input_guardrails[0]"),
        (one(json!({"type": "pii", "entities": []})), "rules[0].input_guardrails[0].entities"),
        (one(json!({"type": "pii", "action": "shred"})), "rules[0].input_guardrails[0]"),
        (one(json!({"type": "max-input-chars", "limit": 0})), "rules[0].input_guardrails[0].limit"),
        (one(json!({"type": "webhook", "url": "ftp://guard.example.com"})), "rules[0].input_guardrails[0].url"),
        (
            one(json!({"type": "webhook", "url": "https://g.example.com", "timeout_ms": 0})),
            "rules[0].input_guardrails[0].timeout_ms",
        ),
        (
            one(json!({"type": "webhook", "url": "https://g.example.com", "timeout_ms": 60000})),
            "rules[0].input_guardrails[0].timeout_ms",
        ),
        (one(json!({"type": "secrets", "strategy": "sometimes"})), "rules[0].input_guardrails[0]"),
        (
            guardrails("bad", json!([{"id": "r", "output_guardrails": [{"type": "max-input-chars", "limit": 3}]}])),
            "rules[0].output_guardrails[0].type",
        ),
    ] {
        let r = crate::common::apply::apply(&s, &serde_json::to_string(&manifest).unwrap(), false).await;
        assert_eq!(r.status, 400, "{manifest}: {:?}", r.body);
        let got = r.body["error"]["param"].as_str().unwrap_or_default().to_owned();
        assert!(got.ends_with(param), "{manifest}: param {got:?}, want {param}");
        assert_eq!(s.get("/api/v1/gateway-controls/bad", &s.admin).await.status, 404);
    }
    // A value serde refuses inside a guardrail is named at the guardrail, the field in the message.
    let r = crate::common::apply::apply(
        &s,
        &serde_json::to_string(&one(json!({"type": "pii", "entities": ["passport"]}))).unwrap(),
        false,
    )
    .await;
    assert!(r.message().contains("unknown variant `passport`"), "{:?}", r.body);
    // The first form of PII redaction keeps working, IBANs included.
    control(&s, one(json!({"type": "redact-pii", "entities": ["email", "iban"]}))).await;
    let stored = s.get("/api/v1/gateway-controls/bad", &s.admin).await;
    assert_eq!(
        stored.body["rules"][0]["input_guardrails"][0],
        json!({"type": "redact-pii", "entities": ["email", "iban"]})
    );
}
