use serde_json::{json, Value};

use super::super::test_world::{fails_at, world};
use super::*;

fn parse(kind: GatewayControlKind, v: Value) -> Result<GatewayControlSpec, serde_json::Error> {
    GatewayControlSpec::deserialize_for(kind, v)
}

/// docs/manifests.md's example, without `type`.
fn rate_limits() -> Value {
    json!({
        "name": "default-limits",
        "rules": [{
            "id": "per-user",
            "when": {"subjects": ["team:ml-platform"], "models": ["openai-main/gpt-4o"]},
            "limit_to": 100,
            "unit": "requests_per_minute",
            "rate_limit_applies_per": ["user"]
        }]
    })
}

fn budgets() -> Value {
    json!({
        "name": "monthly-budgets",
        "description": "Spend caps",
        "rules": [
            {"id": "team-cap", "when": {"subjects": ["team:ml-platform"]}, "limit_to": 250.5,
             "unit": "cost_per_month", "budget_applies_per": ["user", "metadata.project"],
             "alerts": {"thresholds": [50, 80, 100]}},
            {"id": "token-audit", "limit_to": 1000000, "unit": "tokens_per_day", "mode": "audit"}
        ]
    })
}

fn guardrails() -> Value {
    json!({
        "name": "safety",
        "rules": [{
            "id": "prod",
            "when": {"metadata": {"env": "prod"}},
            "input_guardrails": [
                {"type": "block-keywords", "keywords": ["password", "api key"]},
                {"type": "block-regex", "pattern": "(?i)sk-[a-z0-9]{20,}"},
                {"type": "max-input-chars", "limit": 20000}
            ],
            "output_guardrails": [{"type": "redact-pii", "entities": ["email", "credit_card"]}]
        }, {
            "id": "everyone",
            "input_guardrails": [
                {"type": "pii", "entities": ["iban", "ssn"], "action": "redact"},
                {"type": "secrets", "strategy": "audit"},
                {"type": "webhook", "url": "https://guard.example.com/check", "timeout_ms": 500,
                 "strategy": "enforce_but_ignore_on_error"}
            ],
            "output_guardrails": [{"type": "secrets", "action": "redact"}, {"type": "pii"}]
        }]
    })
}

fn load_balancing() -> Value {
    json!({
        "name": "gpt-4o-routing",
        "rules": [
            {"id": "split", "when": {"models": ["openai-main/gpt-4o"]}, "type": "weight-based-routing",
             "load_balance_targets": [
                 {"target": "openai-main/gpt-4o", "weight": 70,
                  "retry_config": {"attempts": 2, "delay_ms": 100, "on_status_codes": [429, 503]}},
                 {"target": "openai-main/gpt-4o-mini", "weight": 30, "fallback_status_codes": [429, 500]}
             ]},
            {"id": "failover", "when": {"models": ["anthropic-main/claude-3-5-sonnet"]},
             "type": "priority-based-routing",
             "load_balance_targets": [
                 {"target": "anthropic-main/claude-3-5-sonnet", "priority": 0},
                 {"target": "openai-main/gpt-4o", "priority": 1, "retry_config": {}}
             ]},
            {"id": "fastest", "type": "latency-based-routing",
             "load_balance_targets": [{"target": "openai-main/gpt-4o"}, {"target": "openai-main/gpt-4o-mini"}]}
        ]
    })
}

fn examples() -> [(GatewayControlKind, Value); 4] {
    [
        (GatewayControlKind::RateLimiting, rate_limits()),
        (GatewayControlKind::Budget, budgets()),
        (GatewayControlKind::Guardrails, guardrails()),
        (GatewayControlKind::LoadBalancing, load_balancing()),
    ]
}

#[test]
fn kinds() {
    for k in GatewayControlKind::ALL {
        assert_eq!(GatewayControlKind::from_manifest_type(k.manifest_type()), Some(k));
        assert_eq!(k.to_string(), k.manifest_type());
    }
    assert!(GatewayControlKind::from_manifest_type("gateway-controls").is_none());
}

#[test]
fn examples_parse_validate_and_round_trip() {
    let w = world();
    for (kind, v) in examples() {
        let c = parse(kind, v).unwrap_or_else(|e| panic!("{kind}: {e}"));
        c.validate(&w).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(c.kind(), kind);
        assert_eq!(c.manifest_type(), kind.manifest_type());
        assert!(c.collaborators().is_empty());
        assert_eq!(c.resource().to_string(), format!("gateway-controls:{}", c.name()));
        let out = serde_json::to_value(&c).unwrap();
        assert!(out.get("type").is_none());
        assert_eq!(parse(kind, out).unwrap(), c, "{kind}");
    }
}

#[test]
fn defaults() {
    let GatewayControlSpec::Budget(b) = parse(GatewayControlKind::Budget, budgets()).unwrap() else { panic!() };
    assert_eq!(b.rules[0].mode, BudgetMode::Enforce);
    assert_eq!(b.rules[1].mode, BudgetMode::Audit);
    assert!(b.rules[1].when.matches_everything() && b.rules[1].budget_applies_per.is_empty());
    assert_eq!(b.rules[0].budget_applies_per[1], AppliesPer::Metadata("project".into()));
    assert!(b.rules[1].unit.counts_tokens() && !b.rules[0].unit.counts_tokens());
    let GatewayControlSpec::LoadBalancing(l) = parse(GatewayControlKind::LoadBalancing, load_balancing()).unwrap()
    else {
        panic!()
    };
    let t = &l.rules[1].load_balance_targets[1];
    assert_eq!(
        t.retry_config,
        Some(RetryConfig { attempts: 2, delay_ms: 100, on_status_codes: vec![429, 500, 502, 503] })
    );
    assert_eq!((t.priority(), l.rules[2].load_balance_targets[0].priority()), (1, 0));
    let GatewayControlSpec::Guardrails(g) = parse(GatewayControlKind::Guardrails, guardrails()).unwrap() else {
        panic!()
    };
    assert_eq!(
        g.rules[0].input_guardrails[0],
        Guardrail::BlockKeywords {
            keywords: vec!["password".into(), "api key".into()],
            case_sensitive: false,
            action: GuardrailAction::Block,
            strategy: GuardrailStrategy::Enforce,
        }
    );
    // Defaults: block, enforce, every PII entity, a 2 s webhook.
    let everyone = &g.rules[1];
    assert_eq!(
        everyone.output_guardrails[1],
        Guardrail::Pii {
            entities: PiiEntity::ALL.to_vec(),
            action: GuardrailAction::Block,
            strategy: GuardrailStrategy::Enforce
        }
    );
    assert_eq!(everyone.input_guardrails[1].strategy(), GuardrailStrategy::Audit);
    assert_eq!(everyone.input_guardrails[2].type_name(), "webhook");
    assert_eq!(
        g.rules[0].output_guardrails[0],
        Guardrail::RedactPii {
            entities: vec![PiiEntity::Email, PiiEntity::CreditCard],
            strategy: GuardrailStrategy::Enforce
        }
    );
    let paths: Vec<String> = g.guardrails().map(|(p, _)| p).collect();
    assert_eq!(paths[3], "rules[0].output_guardrails[0]");
    assert_eq!(paths[6], "rules[1].input_guardrails[2]");
    let patterns: Vec<(String, &str)> = g.regex_patterns().collect();
    assert_eq!(patterns, [("rules[0].input_guardrails[1].pattern".to_owned(), "(?i)sk-[a-z0-9]{20,}")]);
    let c = parse(GatewayControlKind::RateLimiting, rate_limits()).unwrap();
    assert_eq!(c.description(), "");
    assert_eq!(c.rules()[0].0.as_str(), "per-user");
}

#[test]
fn unknown_fields_and_bad_values_are_rejected() {
    let cases = [
        (GatewayControlKind::RateLimiting, "/rules/0/when/teams", json!([]), "unknown field `teams`"),
        (GatewayControlKind::RateLimiting, "/rules/0/burst", json!(5), "unknown field `burst`"),
        (GatewayControlKind::RateLimiting, "/owner", json!("x"), "unknown field `owner`"),
        (GatewayControlKind::RateLimiting, "/rules/0/unit", json!("requests_per_second"), "unknown variant"),
        (GatewayControlKind::RateLimiting, "/rules/0/limit_to", json!(-1), "invalid value: integer `-1`"),
        (GatewayControlKind::RateLimiting, "/rules/0/rate_limit_applies_per/0", json!("team"), "\"team\" is not"),
        (GatewayControlKind::RateLimiting, "/rules/0/rate_limit_applies_per/0", json!("metadata."), "a metadata key"),
        (GatewayControlKind::RateLimiting, "/rules/0/when/models/0", json!("gpt-4o"), "model \"gpt-4o\" is invalid"),
        (GatewayControlKind::RateLimiting, "/rules/0/id", json!("Per User"), "rule id \"Per User\" is invalid"),
        (GatewayControlKind::Budget, "/rules/0/mode", json!("warn"), "unknown variant `warn`"),
        (GatewayControlKind::Budget, "/rules/0/alerts/emails", json!([]), "unknown field `emails`"),
        (GatewayControlKind::Guardrails, "/rules/0/input_guardrails/0/type", json!("block-words"), "unknown variant"),
        (GatewayControlKind::Guardrails, "/rules/0/input_guardrails/2/chars", json!(1), "unknown field `chars`"),
        (GatewayControlKind::Guardrails, "/rules/0/output_guardrails/0/entities/0", json!("name"), "unknown variant"),
        (GatewayControlKind::LoadBalancing, "/rules/0/type", json!("round-robin"), "unknown variant"),
        (
            GatewayControlKind::LoadBalancing,
            "/rules/0/load_balance_targets/0/retry_config/backoff",
            json!(2),
            "unknown field `backoff`",
        ),
        (GatewayControlKind::LoadBalancing, "/rules/0/load_balance_targets/0/weight", json!(-5), "invalid value"),
    ];
    for (kind, pointer, value, expected) in cases {
        let mut v = examples().into_iter().find(|(k, _)| *k == kind).unwrap().1;
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = v.pointer_mut(parent).unwrap();
        match target {
            Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
            _ => target[key] = value,
        }
        let e = parse(kind, v).unwrap_err().to_string();
        assert!(e.contains(expected), "{pointer}: {e}");
    }
    let e = parse(GatewayControlKind::Budget, json!({"name": "b"})).unwrap_err();
    assert_eq!(e.to_string(), "missing field `rules`");
}

/// Validates the example of `kind` after `edit`.
fn check(kind: GatewayControlKind, edit: impl FnOnce(&mut Value)) -> Result<(), FieldError> {
    let mut v = examples().into_iter().find(|(k, _)| *k == kind).unwrap().1;
    edit(&mut v);
    parse(kind, v).unwrap().validate(&world())
}

fn rule0(kind: GatewayControlKind, key: &str, value: Value) -> Result<(), FieldError> {
    check(kind, |v| v["rules"][0][key] = value)
}

#[test]
fn rule_lists() {
    for kind in GatewayControlKind::ALL {
        assert_eq!(fails_at(check(kind, |v| v["rules"] = json!([])), "rules"), "must have at least one rule");
        let count = examples().into_iter().find(|(k, _)| *k == kind).unwrap().1["rules"].as_array().unwrap().len();
        let msg = fails_at(
            check(kind, |v| {
                let first = v["rules"][0].clone();
                v["rules"].as_array_mut().unwrap().push(first);
            }),
            &format!("rules[{count}].id"),
        );
        assert!(msg.ends_with("appears twice"), "{msg}");
        fails_at(check(kind, |v| v["description"] = json!("x".repeat(2001))), "description");
    }
}

#[test]
fn when_rules() {
    let rl = GatewayControlKind::RateLimiting;
    let when = |w: Value| rule0(rl, "when", w);
    assert!(when(json!({})).is_ok());
    let msg = fails_at(when(json!({"subjects": ["team:ml-platform", "team:sre"]})), "rules[0].when.subjects[1]");
    assert_eq!(msg, "team:sre does not exist");
    fails_at(when(json!({"subjects": ["team:ml-platform", "team:ml-platform"]})), "rules[0].when.subjects[1]");
    let msg = fails_at(when(json!({"models": ["openai-main/gpt-5"]})), "rules[0].when.models[0]");
    assert_eq!(msg, "model openai-main/gpt-5 does not exist");
    fails_at(when(json!({"models": ["openai-main/gpt-4o", "openai-main/gpt-4o"]})), "rules[0].when.models[1]");
    fails_at(when(json!({"metadata": {"bad key": "x"}})), "rules[0].when.metadata.bad key");
    fails_at(when(json!({"metadata": {"env": "x".repeat(257)}})), "rules[0].when.metadata.env");
    // The same checks hold for every kind.
    let msg = fails_at(
        check(GatewayControlKind::LoadBalancing, |v| v["rules"][2]["when"] = json!({"subjects": ["user:x@y.z"]})),
        "rules[2].when.subjects[0]",
    );
    assert_eq!(msg, "user:x@y.z does not exist");
}

#[test]
fn rate_limit_rules() {
    let rl = GatewayControlKind::RateLimiting;
    assert_eq!(fails_at(rule0(rl, "limit_to", json!(0)), "rules[0].limit_to"), "must be greater than 0");
    let msg =
        fails_at(rule0(rl, "rate_limit_applies_per", json!(["user", "user"])), "rules[0].rate_limit_applies_per[1]");
    assert_eq!(msg, "user appears twice");
    let msg = fails_at(
        rule0(rl, "rate_limit_applies_per", json!(["virtualaccount", "metadata.a", "metadata.b"])),
        "rules[0].rate_limit_applies_per",
    );
    assert_eq!(msg, "lists 3 values; at most two are allowed");
    assert!(rule0(rl, "rate_limit_applies_per", json!(["virtualaccount", "metadata.a"])).is_ok());
    // Built by hand, a metadata key can bypass parsing.
    let mut c = parse(rl, rate_limits()).unwrap();
    if let GatewayControlSpec::RateLimiting(cfg) = &mut c {
        cfg.rules[0].rate_limit_applies_per = vec![AppliesPer::Metadata("a b".into())];
    }
    fails_at(c.validate(&world()), "rules[0].rate_limit_applies_per[0]");
}

#[test]
fn budget_rules() {
    let b = GatewayControlKind::Budget;
    for bad in [json!(0), json!(-1.5)] {
        fails_at(rule0(b, "limit_to", bad), "rules[0].limit_to");
    }
    let mut c = parse(b, budgets()).unwrap();
    if let GatewayControlSpec::Budget(cfg) = &mut c {
        cfg.rules[0].limit_to = f64::INFINITY;
    }
    fails_at(c.validate(&world()), "rules[0].limit_to");
    let tokens = |limit: Value| check(b, |v| v["rules"][1]["limit_to"] = limit);
    assert_eq!(fails_at(tokens(json!(10.5)), "rules[1].limit_to"), "must be a whole number of tokens");
    assert!(tokens(json!(10.0)).is_ok());
    fails_at(rule0(b, "budget_applies_per", json!(["model", "model"])), "rules[0].budget_applies_per[1]");
    let alerts = |t: Value| rule0(b, "alerts", json!({"thresholds": t}));
    fails_at(alerts(json!([])), "rules[0].alerts.thresholds");
    fails_at(alerts(json!([0, 50])), "rules[0].alerts.thresholds[0]");
    fails_at(alerts(json!([50, 101])), "rules[0].alerts.thresholds[1]");
    let msg = fails_at(alerts(json!([50, 80, 80])), "rules[0].alerts.thresholds[2]");
    assert_eq!(msg, "thresholds must be strictly increasing");
    fails_at(alerts(json!([80, 50])), "rules[0].alerts.thresholds[1]");
    assert!(alerts(json!([1, 100])).is_ok());
}

#[test]
fn guardrail_rules() {
    let g = GatewayControlKind::Guardrails;
    let msg = fails_at(
        check(g, |v| {
            v["rules"][0]["input_guardrails"] = json!([]);
            v["rules"][0]["output_guardrails"] = json!([]);
        }),
        "rules[0].input_guardrails",
    );
    assert_eq!(msg, "a rule needs at least one input or output guardrail");
    assert!(check(g, |v| v["rules"][0]["input_guardrails"] = json!([])).is_ok());
    let input = |x: Value| rule0(g, "input_guardrails", json!([x]));
    fails_at(input(json!({"type": "block-keywords", "keywords": []})), "rules[0].input_guardrails[0].keywords");
    fails_at(
        input(json!({"type": "block-keywords", "keywords": ["a", " "]})),
        "rules[0].input_guardrails[0].keywords[1]",
    );
    fails_at(
        input(json!({"type": "block-keywords", "keywords": ["a", "a"]})),
        "rules[0].input_guardrails[0].keywords[1]",
    );
    assert!(input(json!({"type": "block-keywords", "keywords": ["a"], "case_sensitive": true})).is_ok());
    fails_at(input(json!({"type": "block-regex", "pattern": ""})), "rules[0].input_guardrails[0].pattern");
    fails_at(
        input(json!({"type": "block-regex", "pattern": "a".repeat(4097)})),
        "rules[0].input_guardrails[0].pattern",
    );
    fails_at(input(json!({"type": "max-input-chars", "limit": 0})), "rules[0].input_guardrails[0].limit");
    fails_at(input(json!({"type": "redact-pii", "entities": []})), "rules[0].input_guardrails[0].entities");
    fails_at(
        input(json!({"type": "redact-pii", "entities": ["ssn", "ssn"]})),
        "rules[0].input_guardrails[0].entities[1]",
    );
    let msg = fails_at(
        rule0(g, "output_guardrails", json!([{"type": "max-input-chars", "limit": 10}])),
        "rules[0].output_guardrails[0].type",
    );
    assert_eq!(msg, "max-input-chars applies to input_guardrails only");
    assert!(rule0(g, "output_guardrails", json!([{"type": "block-keywords", "keywords": ["x"]}])).is_ok());
    fails_at(
        input(json!({"type": "block-keywords", "keywords": ["x".repeat(257)]})),
        "rules[0].input_guardrails[0].keywords[0]",
    );
    fails_at(input(json!({"type": "pii", "entities": []})), "rules[0].input_guardrails[0].entities");
    fails_at(input(json!({"type": "pii", "entities": ["iban", "iban"]})), "rules[0].input_guardrails[0].entities[1]");
    let webhook = |url: &str, timeout: Value| input(json!({"type": "webhook", "url": url, "timeout_ms": timeout}));
    assert!(webhook("http://127.0.0.1:9000/guard", json!(30000)).is_ok());
    for url in ["ftp://guard.example.com", "guard.example.com/x", "https://user:pw@guard.example.com"] {
        fails_at(webhook(url, json!(100)), "rules[0].input_guardrails[0].url");
    }
    for t in [json!(0), json!(30001)] {
        let msg = fails_at(webhook("https://guard.example.com", t), "rules[0].input_guardrails[0].timeout_ms");
        assert_eq!(msg, "must be 1 to 30000 milliseconds");
    }
}

#[test]
fn guardrail_fields_that_do_not_parse() {
    let g = GatewayControlKind::Guardrails;
    let bad = [
        (json!({"type": "pii", "entities": ["passport"]}), "unknown variant `passport`"),
        (json!({"type": "pii", "action": "mask"}), "unknown variant `mask`"),
        (json!({"type": "secrets", "strategy": "warn"}), "unknown variant `warn`"),
        (json!({"type": "secrets", "kinds": ["aws"]}), "unknown field `kinds`"),
        (json!({"type": "webhook"}), "missing field `url`"),
        (json!({"type": "webhook", "url": "https://x.example", "timeout_ms": -1}), "invalid value"),
    ];
    for (guardrail, expected) in bad {
        let mut v = guardrails();
        v["rules"][0]["input_guardrails"] = json!([guardrail]);
        let e = parse(g, v).unwrap_err().to_string();
        assert!(e.contains(expected), "{guardrail}: {e}");
    }
}

#[test]
fn load_balancing_rules() {
    let lb = GatewayControlKind::LoadBalancing;
    let target = |rule: usize, i: usize, key: &str, value: Value| {
        check(lb, |v| v["rules"][rule]["load_balance_targets"][i][key] = value)
    };
    let msg = fails_at(target(0, 1, "weight", json!(20)), "rules[0].load_balance_targets");
    assert_eq!(msg, "weights add up to 90, not 100");
    fails_at(target(0, 1, "weight", json!(101)), "rules[0].load_balance_targets[1].weight");
    assert!(check(lb, |v| {
        v["rules"][0]["load_balance_targets"][0]["weight"] = json!(100);
        v["rules"][0]["load_balance_targets"][1]["weight"] = json!(0);
    })
    .is_ok());
    let msg = fails_at(
        check(lb, |v| {
            v["rules"][0]["load_balance_targets"][1].as_object_mut().unwrap().remove("weight");
        }),
        "rules[0].load_balance_targets[1].weight",
    );
    assert_eq!(msg, "is required for weight-based-routing");
    let msg = fails_at(target(2, 0, "weight", json!(50)), "rules[2].load_balance_targets[0].weight");
    assert_eq!(msg, "is used only by weight-based-routing");
    let msg = fails_at(target(0, 0, "priority", json!(1)), "rules[0].load_balance_targets[0].priority");
    assert_eq!(msg, "is used only by priority-based-routing");
    let msg = fails_at(target(1, 1, "target", json!("openai-main/gpt-5")), "rules[1].load_balance_targets[1].target");
    assert_eq!(msg, "model openai-main/gpt-5 does not exist");
    let msg = fails_at(
        target(1, 1, "target", json!("anthropic-main/claude-3-5-sonnet")),
        "rules[1].load_balance_targets[1].target",
    );
    assert_eq!(msg, "anthropic-main/claude-3-5-sonnet appears twice");
    fails_at(check(lb, |v| v["rules"][2]["load_balance_targets"] = json!([])), "rules[2].load_balance_targets");
    let retry = |r: Value| target(1, 0, "retry_config", r);
    assert!(retry(json!({"attempts": 10, "delay_ms": 60000, "on_status_codes": []})).is_ok());
    fails_at(retry(json!({"attempts": 11})), "rules[1].load_balance_targets[0].retry_config.attempts");
    fails_at(retry(json!({"delay_ms": 60001})), "rules[1].load_balance_targets[0].retry_config.delay_ms");
    let msg = fails_at(
        retry(json!({"on_status_codes": [429, 600]})),
        "rules[1].load_balance_targets[0].retry_config.on_status_codes[1]",
    );
    assert_eq!(msg, "600 is not an HTTP status code (100 to 599)");
    fails_at(
        retry(json!({"on_status_codes": [429, 429]})),
        "rules[1].load_balance_targets[0].retry_config.on_status_codes[1]",
    );
    fails_at(
        target(1, 0, "fallback_status_codes", json!([99])),
        "rules[1].load_balance_targets[0].fallback_status_codes[0]",
    );
    // Overrides: only sampling and length parameters, each of its kind.
    let params = |p: Value| target(1, 0, "override_params", p);
    assert!(params(json!({"temperature": 0.2, "max_tokens": 64, "stop": ["\n"], "seed": 7})).is_ok());
    let msg = fails_at(params(json!({"stream": true})), "rules[1].load_balance_targets[0].override_params.stream");
    assert!(msg.starts_with("cannot be overridden"), "{msg}");
    fails_at(params(json!({"max_tokens": 0})), "rules[1].load_balance_targets[0].override_params.max_tokens");
    fails_at(params(json!({"temperature": "hot"})), "rules[1].load_balance_targets[0].override_params.temperature");
    fails_at(params(json!({"stop": [1]})), "rules[1].load_balance_targets[0].override_params.stop");
    // Time-to-first-token timeouts, on a target or a rule.
    assert!(target(1, 0, "ttft_timeout_ms", json!(600_000)).is_ok());
    fails_at(target(1, 0, "ttft_timeout_ms", json!(0)), "rules[1].load_balance_targets[0].ttft_timeout_ms");
    fails_at(check(lb, |v| v["rules"][1]["ttft_timeout_ms"] = json!(600_001)), "rules[1].ttft_timeout_ms");
    assert!(target(1, 0, "fallback_candidate", json!(false)).is_ok());
}

#[test]
fn mcp_server_rules() {
    let rl = GatewayControlKind::RateLimiting;
    let when = |w: Value| rule0(rl, "when", w);
    // Servers and tools that callers reach: a remote server's enabled tools, a virtual server's exposed names.
    assert!(when(json!({"mcp_servers": ["github", "jira/create_ticket", "triage/issue", "github/anything"]})).is_ok());
    let msg = fails_at(when(json!({"mcp_servers": ["gitlab"]})), "rules[0].when.mcp_servers[0]");
    assert_eq!(msg, "MCP server gitlab does not exist");
    let msg = fails_at(when(json!({"mcp_servers": ["github", "jira/delete_project"]})), "rules[0].when.mcp_servers[1]");
    assert_eq!(msg, "MCP server jira has no tool delete_project that callers can call");
    // The virtual server's names, not the remote tools behind them.
    fails_at(when(json!({"mcp_servers": ["triage/search_issues"]})), "rules[0].when.mcp_servers[0]");
    let msg = fails_at(when(json!({"mcp_servers": ["github", "github"]})), "rules[0].when.mcp_servers[1]");
    assert!(msg.ends_with("appears twice"), "{msg}");
    for bad in ["", "a/b/c", "a b", "github/", "/x"] {
        assert!(parse(
            rl,
            json!({"name": "x", "rules": [{"id": "r", "when": {"mcp_servers": [bad]},
            "limit_to": 1, "unit": "requests_per_minute"}]})
        )
        .is_err());
    }
    // A rule with mcp_servers counts tool calls: requests only, no models.
    let tools = json!({"subjects": ["team:ml-platform"], "mcp_servers": ["github"]});
    let msg = fails_at(
        check(rl, |v| {
            v["rules"][0]["when"] = tools.clone();
            v["rules"][0]["unit"] = json!("tokens_per_minute");
        }),
        "rules[0].unit",
    );
    assert!(msg.contains("requests_per_minute"), "{msg}");
    let msg = fails_at(check(rl, |v| v["rules"][0]["when"]["mcp_servers"] = json!(["github"])), "rules[0].when.models");
    assert!(msg.contains("tool calls only"), "{msg}");
    assert!(check(rl, |v| v["rules"][0]["when"] = tools.clone()).is_ok());
    // Only rate limits take it: budgets and the rest refuse it, before asking whether the server exists.
    for (kind, i) in [(GatewayControlKind::Budget, 1), (GatewayControlKind::LoadBalancing, 0)] {
        let msg = fails_at(
            check(kind, |v| v["rules"][i]["when"]["mcp_servers"] = json!(["no-such-server"])),
            &format!("rules[{i}].when.mcp_servers"),
        );
        assert!(!msg.contains("does not exist"), "{msg}");
        if kind == GatewayControlKind::Budget {
            assert!(msg.contains("gateway-rate-limiting-config"), "{msg}");
        }
    }
    // Guardrails check tool calls too, but a rule checks models or tools, not both.
    let gr = GatewayControlKind::Guardrails;
    assert!(check(gr, |v| v["rules"][0]["when"] = json!({"mcp_servers": ["github/search_issues"]})).is_ok());
    let msg = fails_at(
        check(gr, |v| v["rules"][0]["when"] = json!({"mcp_servers": ["no-such-server"]})),
        "rules[0].when.mcp_servers[0]",
    );
    assert!(msg.contains("does not exist"), "{msg}");
    let msg = fails_at(
        check(gr, |v| v["rules"][0]["when"] = json!({"models": ["openai-main/gpt-4o"], "mcp_servers": ["github"]})),
        "rules[0].when.models",
    );
    assert!(msg.contains("tool calls only"), "{msg}");
    // Written back only when present, so controls without it read as they did.
    let c = parse(rl, rate_limits()).unwrap();
    assert!(serde_json::to_value(&c).unwrap()["rules"][0]["when"].get("mcp_servers").is_none());
    let mut v = rate_limits();
    v["rules"][0]["when"] = tools;
    let c = parse(rl, v).unwrap();
    assert_eq!(serde_json::to_value(&c).unwrap()["rules"][0]["when"]["mcp_servers"], json!(["github"]));
}
