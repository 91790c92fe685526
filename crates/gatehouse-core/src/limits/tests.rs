use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::resource::ResourceRecord;
use crate::spec::GatewayControlKind;
use crate::{Email, VaName, World};

fn control(kind: GatewayControlKind, v: serde_json::Value) -> ResourceRecord {
    let spec = GatewayControlSpec::deserialize_for(kind, v).unwrap();
    ResourceRecord { spec: ResourceSpec::GatewayControl(spec), sealed_auth: None }
}

fn table(records: Vec<ResourceRecord>) -> LimitsTable {
    LimitsTable::compile(&Snapshot::from_world(World { resources: records, ..World::default() }))
}

fn user(e: &str) -> Subject {
    Subject::User(Email::new(e).unwrap())
}

fn facts<'a>(
    s: &'a Subject,
    teams: &'a [String],
    model: &'a str,
    md: &'a BTreeMap<String, String>,
) -> RequestFacts<'a> {
    RequestFacts { subject: s, teams, model, metadata: md }
}

fn rates() -> ResourceRecord {
    control(
        GatewayControlKind::RateLimiting,
        json!({"name": "rl", "rules": [
            {"id": "ml-team", "when": {"subjects": ["team:ml"], "models": ["openai/gpt-4o"]}, "limit_to": 5,
             "unit": "requests_per_minute", "rate_limit_applies_per": ["user"]},
            {"id": "by-project", "when": {"metadata": {"env": "prod"}}, "limit_to": 7,
             "unit": "tokens_per_hour", "rate_limit_applies_per": ["metadata.project", "model"]},
            {"id": "default", "limit_to": 100, "unit": "requests_per_day"}
        ]}),
    )
}

fn budgets() -> ResourceRecord {
    control(
        GatewayControlKind::Budget,
        json!({"name": "money", "rules": [
            {"id": "alice", "when": {"subjects": ["user:alice@x.io"]}, "limit_to": 1.5, "unit": "cost_per_day",
             "mode": "audit"},
            {"id": "everyone", "limit_to": 10, "unit": "cost_per_month", "budget_applies_per": ["virtualaccount"],
             "alerts": {"thresholds": [50, 90]}}
        ]}),
    )
}

#[test]
fn a_rate_limit_config_applies_its_first_matching_rule_only() {
    let t = table(vec![rates()]);
    let alice = user("alice@x.io");
    let ml = vec!["ml".to_owned()];
    let none = BTreeMap::new();
    let c = t.charges(&facts(&alice, &ml, "openai/gpt-4o", &none));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].rule.name(), "rl/ml-team");
    assert_eq!(c[0].rule.period, Period::Sliding(60));
    assert!(c[0].decides);
    assert_eq!(c[0].counter, "rate-limit|rl|ml-team|requests_per_minute|user=alice@x.io");
    // Outside the team, or another model: the default.
    assert_eq!(t.charges(&facts(&alice, &[], "openai/gpt-4o", &none))[0].rule.rule, "default");
    assert_eq!(t.charges(&facts(&alice, &ml, "openai/other", &none))[0].rule.rule, "default");
    let prod = BTreeMap::from([("env".to_owned(), "prod".to_owned()), ("project".to_owned(), "a|b=c".to_owned())]);
    let c = t.charges(&facts(&alice, &[], "openai/gpt-4o", &prod));
    assert_eq!(c[0].rule.rule, "by-project");
    assert_eq!(c[0].rule.measure, Measure::Tokens);
    assert_eq!(c[0].counter, "rate-limit|rl|by-project|tokens_per_hour|metadata.project=a%7Cb%3Dc|model=openai/gpt-4o");
    assert_eq!(c[0].rule.applied(), "rate-limit:rl/by-project");
    let escaped = t.charges(&facts(
        &alice,
        &[],
        "openai/gpt-4o",
        &BTreeMap::from([("env".to_owned(), "prod".to_owned()), ("project".to_owned(), "100%".to_owned())]),
    ));
    assert_eq!(
        escaped[0].counter,
        "rate-limit|rl|by-project|tokens_per_hour|metadata.project=100%25|model=openai/gpt-4o"
    );
    // A rule names a team: requests must say their caller's teams. Budgets here name none.
    assert!(t.names_teams());
    assert!(!table(vec![budgets()]).names_teams());
    assert_eq!(table(vec![budgets()]).rules().next().unwrap().applied(), "budget:money/alice");
}

#[test]
fn counters_per_value_are_apart_and_a_missing_value_cannot_be_forged() {
    let t = table(vec![rates()]);
    let none = BTreeMap::new();
    let a = t.charges(&facts(&user("a@x.io"), &[], "m/1", &none));
    let b = t.charges(&facts(&user("b@x.io"), &[], "m/1", &none));
    // The default rule has no applies_per: one shared counter.
    assert_eq!(a[0].counter, b[0].counter);
    let missing = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
    let dash = BTreeMap::from([("env".to_owned(), "prod".to_owned()), ("project".to_owned(), "-".to_owned())]);
    let m = t.charges(&facts(&user("a@x.io"), &[], "m/1", &missing));
    let d = t.charges(&facts(&user("a@x.io"), &[], "m/1", &dash));
    assert_ne!(m[0].counter, d[0].counter);
    assert_eq!(m[0].per[0].1, None);
}

#[test]
fn budgets_count_against_every_matching_rule_and_the_first_decides() {
    let t = table(vec![rates(), budgets()]);
    let none = BTreeMap::new();
    let alice = user("alice@x.io");
    let c = t.charges(&facts(&alice, &[], "m/1", &none));
    let names: Vec<(String, bool)> = c.iter().map(|c| (c.rule.name(), c.decides)).collect();
    // alice's rule is first but in audit mode: it counts and never refuses; the month's rule counts too
    // without deciding, since it is not the first match.
    // Configs apply in name order.
    assert_eq!(
        names,
        vec![("money/alice".into(), false), ("money/everyone".into(), false), ("rl/default".into(), true)]
    );
    assert_eq!(c[0].rule.limit, 1_500_000_000);
    assert!(!c[0].rule.enforce);
    let va = Subject::VirtualAccount(VaName::new("ci-bot").unwrap());
    let c = t.charges(&facts(&va, &[], "m/1", &none));
    assert_eq!(c[0].rule.name(), "money/everyone");
    assert!(c[0].decides);
    assert_eq!(c[0].counter, "budget|money|everyone|cost_per_month|virtualaccount=ci-bot");
    assert_eq!(c[0].rule.alerts, vec![50, 90]);
}

#[test]
fn no_controls_no_charges() {
    let t = table(vec![]);
    assert!(t.is_empty());
    assert!(t.charges(&facts(&user("a@x.io"), &[], "m/1", &BTreeMap::new())).is_empty());
}

#[test]
fn amounts_by_measure() {
    assert_eq!(amount(Measure::Requests, 10, 10, None), 1);
    assert_eq!(amount(Measure::Tokens, 10, 15, None), 25);
    // 1000 input tokens at $2.50 per million and 500 output at $10: $0.0025 + $0.005.
    assert_eq!(amount(Measure::CostNanos, 1000, 500, Some((2.5, 10.0))), 7_500_000);
    assert_eq!(amount(Measure::CostNanos, 1000, 500, None), 0);
    assert_eq!(estimate_input_tokens(9), 3);
}

#[test]
fn a_key_says_its_period() {
    let t = table(vec![rates(), budgets()]);
    for rule in t.rules() {
        let key = counter_key(rule, &[(AppliesPer::User, Some("a|b".into()))]);
        assert_eq!(period_of_key(&key), Some(rule.period), "{key}");
    }
    assert_eq!(period_of_key("nonsense"), None);
}
