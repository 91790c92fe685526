//! `GET /api/v1/limits`: a caller's own counters (admins and gateway-controls readers: anyone's), exactly
//! what the gateway counted, with what remains and when it frees up.

use gatehouse_mock_upstream::{MockConfig, MockHandle};
use gatehouse_server::ServerConfig;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::common::TestServer;

/// `acct` on a mock upstream with `m` (7 output tokens, 2 prompt tokens for "hello there", $1 / $2 per
/// million) and `other`; usr, two and the virtual account `app` (of team ml, whose member usr is) may use
/// both. `hidden` is an account nobody but the admin may use.
async fn world(s: &TestServer) -> (MockHandle, String, String, String) {
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let usr = s.user("usr@example.com", "member").await;
    let two = s.user("two@example.com", "member").await;
    s.team("ml", &[], &["usr@example.com"]).await;
    let r = s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "app", "owner_team": "ml"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let app = s.post("/api/v1/virtual-accounts/app/tokens", &s.admin, json!({})).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, collaborators) in [
        (
            "acct",
            json!([{"subject": "user:usr@example.com", "role": "provider-account-user"},
                   {"subject": "user:two@example.com", "role": "provider-account-user"},
                   {"subject": "virtualaccount:app", "role": "provider-account-user"}]),
        ),
        ("hidden", json!([])),
    ] {
        let account = json!({
            "type": "openai-compatible", "name": name, "base_url": format!("{}/v1", mock.base_url()),
            "auth": {"api_key": "sk-test"},
            "models": [
                {"name": "m", "model_id": "mock-tokens-7", "types": ["chat"],
                 "pricing": {"input_per_million_tokens": 1.0, "output_per_million_tokens": 2.0}},
                {"name": "other", "model_id": "mock-tokens-7", "types": ["chat"]}
            ],
            "collaborators": collaborators
        });
        let r = s.post("/api/v1/provider-accounts", &s.admin, account).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    (mock, usr, two, app)
}

async fn control(s: &TestServer, body: Value) {
    let r = crate::common::apply::apply(s, &serde_json::to_string(&body).unwrap(), false).await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

async fn call(s: &TestServer, token: &str, model: &str, metadata: Option<Value>) {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 10});
    let mut req = reqwest::Client::new().post(format!("{}/v1/chat/completions", s.base)).bearer_auth(token).json(&body);
    if let Some(m) = metadata {
        req = req.header("x-gatehouse-metadata", m.to_string());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn limits(s: &TestServer, token: &str, query: &str) -> Value {
    let r = s.get(&format!("/api/v1/limits{query}"), token).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

fn at(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

/// The entries of `rule`, as `(applies_per, used, remaining)`.
fn counts(body: &Value, rule: &str) -> Vec<(Value, Value, Value)> {
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["rule"] == rule)
        .map(|e| (e["applies_per"].clone(), e["used"].clone(), e["remaining"].clone()))
        .collect()
}

#[tokio::test]
async fn own_counters_per_model_are_exact_and_say_when_they_free_up() {
    let s = TestServer::start().await;
    let (_mock, usr, two, _) = world(&s).await;
    control(&s, json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "per-user-model", "limit_to": 5, "unit": "requests_per_minute", "rate_limit_applies_per": ["user", "model"]}]}))
    .await;
    let t0 = s.now();
    call(&s, &usr, "acct/m", None).await;
    call(&s, &usr, "acct/m", None).await;
    s.advance(20);
    call(&s, &usr, "acct/m", None).await;
    call(&s, &usr, "acct/other", None).await;
    call(&s, &two, "acct/m", None).await;

    let body = limits(&s, &usr, "").await;
    assert_eq!(body["subject"], "user:usr@example.com");
    assert_eq!(body["counters"], "memory");
    assert_eq!(body["truncated"], false);
    // One counter per model usr may use (not hidden's), none of two's.
    assert_eq!(
        counts(&body, "per-user-model"),
        vec![
            (json!({"user": "usr@example.com", "model": "acct/m"}), json!(3), json!(2)),
            (json!({"user": "usr@example.com", "model": "acct/other"}), json!(1), json!(4)),
        ]
    );
    let e = &body["entries"][0];
    for (field, want) in [
        ("kind", json!("rate-limit")),
        ("config", json!("rl")),
        ("unit", json!("requests_per_minute")),
        ("measure", json!("requests")),
        ("period", json!("minute")),
        ("window", json!("sliding")),
        ("limit", json!(5)),
        ("mode", json!("enforce")),
        ("decides", json!(true)),
        ("exceeded", json!(false)),
    ] {
        assert_eq!(e[field], want, "{field}: {e}");
    }
    // The clock starts on a 5-second bucket: the first two calls leave the window 65 s after it.
    assert_eq!(t0.unix_timestamp() % 5, 0);
    assert_eq!(e["resets_at"], at(t0 + time::Duration::seconds(65)));
    assert_eq!(body["entries"][1]["resets_at"], at(t0 + time::Duration::seconds(85)));

    // Once they have left, the third call is what counts, until it leaves in turn.
    s.advance(46);
    let body = limits(&s, &usr, "").await;
    assert_eq!(counts(&body, "per-user-model")[0].1, json!(1));
    assert_eq!(body["entries"][0]["resets_at"], at(t0 + time::Duration::seconds(85)));
    s.advance(20);
    let body = limits(&s, &usr, "").await;
    assert_eq!(
        counts(&body, "per-user-model")[0],
        (json!({"user": "usr@example.com", "model": "acct/m"}), json!(0), json!(5))
    );
    assert_eq!(body["entries"][0]["resets_at"], Value::Null);
}

#[tokio::test]
async fn rules_matched_by_model_or_metadata_are_listed_with_the_metadata_values_seen() {
    let s = TestServer::start().await;
    let (_mock, usr, _, app) = world(&s).await;
    control(&s, json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "per-project", "when": {"metadata": {"env": "prod"}}, "limit_to": 10, "unit": "requests_per_hour",
         "rate_limit_applies_per": ["metadata.project"]},
        {"id": "other-model", "when": {"models": ["acct/other"]}, "limit_to": 3, "unit": "requests_per_day"},
        {"id": "mine", "when": {"subjects": ["user:two@example.com"]}, "limit_to": 3, "unit": "requests_per_day"},
        {"id": "per-caller", "limit_to": 5, "unit": "requests_per_minute", "rate_limit_applies_per": ["user", "virtualaccount"]}]}))
    .await;
    call(&s, &usr, "acct/m", Some(json!({"env": "prod", "project": "a"}))).await;
    call(&s, &usr, "acct/m", Some(json!({"env": "prod", "project": "a"}))).await;
    call(&s, &usr, "acct/m", Some(json!({"env": "prod", "project": "b", "ignored": "x"}))).await;
    call(&s, &usr, "acct/m", None).await;
    call(&s, &app, "acct/other", None).await;
    call(&s, &app, "acct/m", None).await;

    let body = limits(&s, &usr, "").await;
    let rules: Vec<&str> = body["entries"].as_array().unwrap().iter().map(|e| e["rule"].as_str().unwrap()).collect();
    // Not `mine`: its subjects cannot match usr.
    assert_eq!(rules, ["per-project", "per-project", "per-project", "other-model", "per-caller"]);
    assert_eq!(
        counts(&body, "per-project"),
        vec![
            // Requests with env=prod and no project share one counter.
            (json!({"metadata.project": null}), json!(0), json!(10)),
            (json!({"metadata.project": "a"}), json!(2), json!(8)),
            (json!({"metadata.project": "b"}), json!(1), json!(9)),
        ]
    );
    // A counter shared by everyone's requests: the virtual account's call counts in it.
    assert_eq!(counts(&body, "other-model"), vec![(json!({}), json!(1), json!(2))]);
    assert_eq!(
        counts(&body, "per-caller"),
        vec![(json!({"user": "usr@example.com", "virtualaccount": null}), json!(1), json!(4))]
    );

    // A virtual account's own: its name, and no user.
    let body = limits(&s, &app, "").await;
    assert_eq!(body["subject"], "virtualaccount:app");
    assert_eq!(counts(&body, "per-caller"), vec![(json!({"user": null, "virtualaccount": "app"}), json!(1), json!(4))]);
    // It never sent metadata: only the counter requests without a project share.
    assert_eq!(counts(&body, "per-project"), vec![(json!({"metadata.project": null}), json!(0), json!(10))]);
}

#[tokio::test]
async fn admins_and_gateway_control_readers_see_anyone_members_only_themselves() {
    let s = TestServer::start().await;
    let (_mock, usr, two, _) = world(&s).await;
    control(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "team-ml", "when": {"subjects": ["team:ml"]}, "limit_to": 4, "unit": "requests_per_hour"},
        {"id": "per-user", "limit_to": 5, "unit": "requests_per_minute", "rate_limit_applies_per": ["user"]}]}),
    )
    .await;
    call(&s, &usr, "acct/m", None).await;
    call(&s, &two, "acct/m", None).await;
    call(&s, &two, "acct/other", None).await;

    let own = limits(&s, &two, "").await;
    let theirs = limits(&s, &s.admin, "?subject=user:two@example.com").await;
    assert_eq!(theirs, own);
    assert_eq!(counts(&own, "per-user"), vec![(json!({"user": "two@example.com"}), json!(2), json!(3))]);
    // usr is in team ml: the team's shared counter decides for usr, so usr's per-user rule is never reached.
    let body = limits(&s, &s.admin, "?subject=user:usr@example.com").await;
    assert_eq!(counts(&body, "team-ml"), vec![(json!({}), json!(1), json!(3))]);
    assert!(counts(&body, "per-user").is_empty());
    // A team: the rules about it and about everyone, over its members' requests.
    let team = limits(&s, &s.admin, "?subject=team:ml").await;
    assert_eq!(team["subject"], "team:ml");
    assert_eq!(counts(&team, "team-ml"), vec![(json!({}), json!(1), json!(3))]);

    // A member may not look at anyone else, whether or not they exist.
    for other in ["user:usr@example.com", "team:ml", "user:nobody@example.com"] {
        let r = s.get(&format!("/api/v1/limits?subject={other}"), &two).await;
        assert_eq!(r.status, 403, "{other}: {:?}", r.body);
        assert_eq!(r.body["error"]["code"], "forbidden");
        assert!(r.message().contains("gateway-controls:list"), "{}", r.message());
    }
    // Asking about oneself by name is allowed.
    assert_eq!(limits(&s, &two, "?subject=user:two@example.com").await, own);

    // The permission that reads gateway controls reads their counters too.
    s.role("gateway-viewer", &["gateway-controls:list"]).await;
    let viewer = s.user("viewer@example.com", "gateway-viewer").await;
    assert_eq!(limits(&s, &viewer, "?subject=user:two@example.com").await, own);

    for (query, status, code, param) in [
        ("?subject=user:nobody@example.com", 404, "not_found", Value::Null),
        ("?subject=virtualaccount:nope", 404, "not_found", Value::Null),
        ("?subject=robot:x", 400, "invalid_field", json!("subject")),
        ("?who=me", 400, "invalid_field", json!("query")),
    ] {
        let r = s.get(&format!("/api/v1/limits{query}"), &s.admin).await;
        assert_eq!((r.status.as_u16(), &r.body["error"]["code"]), (status, &json!(code)), "{query}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], param, "{query}");
    }
}

#[tokio::test]
async fn budgets_in_dollars_and_tokens_audit_mode_and_the_period_end() {
    let s = TestServer::start().await;
    let (_mock, usr, _, _) = world(&s).await;
    control(&s, json!({"type": "gateway-budget-config", "name": "money", "rules": [
        {"id": "watch", "when": {"subjects": ["user:usr@example.com"]}, "limit_to": 0.00002, "unit": "cost_per_day", "mode": "audit"},
        {"id": "cap", "limit_to": 0.001, "unit": "cost_per_month", "budget_applies_per": ["user"]},
        {"id": "tokens", "limit_to": 1000, "unit": "tokens_per_week"}]}))
    .await;
    // Each call: 2 prompt tokens at $1 and 7 completion tokens at $2 per million, $0.000016.
    call(&s, &usr, "acct/m", None).await;
    call(&s, &usr, "acct/m", None).await;
    let body = limits(&s, &usr, "").await;
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{body}");
    let (watch, cap, tokens) = (&entries[0], &entries[1], &entries[2]);

    assert_eq!(
        (watch["rule"].as_str(), watch["mode"].as_str(), watch["decides"].as_bool()),
        (Some("watch"), Some("audit"), Some(false))
    );
    assert_eq!(watch["measure"], "usd");
    assert_eq!(watch["limit"].as_f64(), Some(0.00002));
    assert!((watch["used"].as_f64().unwrap() - 0.000032).abs() < 1e-12, "{watch}");
    assert_eq!(watch["remaining"].as_f64(), Some(0.0));
    assert_eq!(watch["exceeded"], true);
    assert_eq!((watch["period"].as_str(), watch["window"].as_str()), (Some("UTC day"), Some("calendar")));

    // The audit rule decides for usr, so the cap only counts for them.
    assert_eq!(cap["applies_per"], json!({"user": "usr@example.com"}));
    assert_eq!((cap["mode"].as_str(), cap["decides"].as_bool()), (Some("enforce"), Some(false)));
    assert!((cap["remaining"].as_f64().unwrap() - (0.001 - 0.000032)).abs() < 1e-12, "{cap}");

    // Tokens are whole numbers: 9 per call.
    assert_eq!(
        (tokens["measure"].as_str(), tokens["used"].as_u64(), tokens["remaining"].as_u64()),
        (Some("tokens"), Some(18), Some(982))
    );

    // Calendar periods reset at their UTC end: the day's midnight, the 1st of next month, next Monday.
    let now = s.now();
    let midnight = now.date().next_day().unwrap().midnight().assume_utc();
    assert_eq!(watch["resets_at"], at(midnight));
    let month = time::Date::from_calendar_date(now.year(), now.month().next(), 1).unwrap();
    let month = if now.month() == time::Month::December { month.replace_year(now.year() + 1).unwrap() } else { month };
    assert_eq!(cap["resets_at"], at(month.midnight().assume_utc()));
    let monday = now.date().next_occurrence(time::Weekday::Monday).midnight().assume_utc();
    assert_eq!(tokens["resets_at"], at(monday));

    // The next day, the day's budget starts afresh and the month's keeps its spend.
    s.advance(86_400);
    let body = limits(&s, &usr, "").await;
    assert_eq!(body["entries"][0]["used"].as_f64(), Some(0.0));
    assert!((body["entries"][1]["used"].as_f64().unwrap() - 0.000032).abs() < 1e-12);
}

#[tokio::test]
async fn no_controls_no_entries_and_the_endpoint_is_documented() {
    let s = TestServer::start().await;
    let (_mock, usr, _, _) = world(&s).await;
    let body = limits(&s, &usr, "").await;
    assert_eq!(body["entries"], json!([]));
    let doc = s.get("/openapi.json", &s.admin).await.body;
    assert!(doc["paths"]["/api/v1/limits"]["get"].is_object());
    let entry = &doc["components"]["schemas"]["LimitEntry"]["properties"];
    for field in [
        "kind",
        "config",
        "rule",
        "unit",
        "period",
        "applies_per",
        "limit",
        "used",
        "remaining",
        "resets_at",
        "mode",
        "decides",
    ] {
        assert!(entry[field].is_object(), "LimitEntry.{field} undocumented");
    }
}

#[tokio::test]
async fn counters_kept_in_redis_are_read_the_same() {
    let Ok(url) = std::env::var("GATEHOUSE_TEST_REDIS_URL") else {
        println!("skipped: GATEHOUSE_TEST_REDIS_URL is not set");
        return;
    };
    let config = ServerConfig { redis_url: Some(gatehouse_core::Secret::new(url.clone())), ..ServerConfig::default() };
    let s = TestServer::start_with(config).await;
    let (_mock, usr, _, _) = world(&s).await;
    // The server keys counters under the default prefix: a config name of this test's own keeps them apart
    // from any other run's, and they are deleted at the end.
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000_000;
    let name = format!("rl-{}-{nanos}", std::process::id());
    let prefix = gatehouse_server::limits::redis::DEFAULT_PREFIX;
    let _cleanup = Wipe { url, pattern: format!("{prefix}rate-limit|{name}|*") };
    control(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": name, "rules": [
        {"id": "per-user", "limit_to": 5, "unit": "requests_per_minute", "rate_limit_applies_per": ["user"]}]}),
    )
    .await;
    let t0 = s.now();
    call(&s, &usr, "acct/m", None).await;
    s.advance(12);
    call(&s, &usr, "acct/other", None).await;
    let body = limits(&s, &usr, "").await;
    assert_eq!(body["counters"], "redis");
    assert_eq!(counts(&body, "per-user"), vec![(json!({"user": "usr@example.com"}), json!(2), json!(3))]);
    assert_eq!(body["entries"][0]["resets_at"], at(t0 + time::Duration::seconds(65)));
}

/// Deletes the test's counters from the shared Redis when dropped, a failing test's included.
struct Wipe {
    url: String,
    pattern: String,
}

impl Drop for Wipe {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection_with_timeout(std::time::Duration::from_secs(2)) else { return };
        let mut cursor = 0u64;
        loop {
            let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> =
                redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&self.pattern).arg("COUNT").arg(1000).query(&mut conn)
            else {
                return;
            };
            if !keys.is_empty() {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(&keys).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}
