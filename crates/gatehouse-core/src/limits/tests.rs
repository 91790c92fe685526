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
    RequestFacts { subject: s, teams, call: Called::Model(model), metadata: md }
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

#[test]
fn a_table_says_what_its_rules_match_on() {
    let t = table(vec![rates(), budgets()]);
    assert_eq!(t.metadata_keys(), ["env", "project"]);
    let rules: Vec<&Arc<LimitRule>> = t.rules().collect();
    let ml_team = rules.iter().find(|r| r.rule == "ml-team").unwrap();
    assert!(ml_team.names_subjects() && ml_team.names_team("ml") && !ml_team.names_team("ops"));
    assert_eq!(ml_team.models(), ["openai/gpt-4o"]);
    assert!(ml_team.names_model("openai/gpt-4o") && !ml_team.names_model("openai/other"));
    assert_eq!(ml_team.unit(), "requests_per_minute");
    let by_project = rules.iter().find(|r| r.rule == "by-project").unwrap();
    assert!(!by_project.names_subjects());
    assert_eq!(by_project.metadata(), [("env".to_owned(), "prod".to_owned())]);
    assert!(by_project.models().is_empty());
    assert!(table(vec![budgets()]).metadata_keys().is_empty());
}

fn tool_facts<'a>(
    s: &'a Subject,
    teams: &'a [String],
    server: &'a str,
    tool: &'a str,
    behind: Option<(&'a str, &'a str)>,
    md: &'a BTreeMap<String, String>,
) -> RequestFacts<'a> {
    RequestFacts { subject: s, teams, call: Called::Tool { server, tool, behind }, metadata: md }
}

fn tool_rates() -> ResourceRecord {
    control(
        GatewayControlKind::RateLimiting,
        json!({"name": "tools", "rules": [
            {"id": "search", "when": {"mcp_servers": ["github/search"]}, "limit_to": 2, "unit": "requests_per_minute",
             "rate_limit_applies_per": ["model"]},
            {"id": "github", "when": {"mcp_servers": ["github"], "subjects": ["team:ml"]}, "limit_to": 10,
             "unit": "requests_per_hour", "rate_limit_applies_per": ["user", "model"]},
            {"id": "prod-jira", "when": {"mcp_servers": ["jira"], "metadata": {"env": "prod"}}, "limit_to": 3,
             "unit": "requests_per_day"}
        ]}),
    )
}

#[test]
fn tool_calls_are_counted_only_by_rules_naming_their_server_or_tool() {
    // `rates()` has a default rule matching every model call; it must not count tool calls.
    let t = table(vec![rates(), tool_rates()]);
    let alice = user("alice@x.io");
    let ml = vec!["ml".to_owned()];
    let none = BTreeMap::new();
    let names = |c: Vec<Charge>| c.iter().map(|c| c.rule.name()).collect::<Vec<_>>();

    let c = t.charges(&tool_facts(&alice, &ml, "github", "search", None, &none));
    assert_eq!(names(c.clone()), ["tools/search"]);
    assert_eq!(c[0].counter, "rate-limit|tools|search|requests_per_minute|model=github/search");
    assert_eq!(c[0].rule.measure, Measure::Requests);
    // Another tool of the server: the server-wide rule, for the team only, per user and `<server>/<tool>`.
    let c = t.charges(&tool_facts(&alice, &ml, "github", "get_issue", None, &none));
    assert_eq!(c[0].counter, "rate-limit|tools|github|requests_per_hour|user=alice@x.io|model=github/get_issue");
    assert!(t.charges(&tool_facts(&alice, &[], "github", "get_issue", None, &none)).is_empty());
    // Another server: nothing, not even the model rules' default.
    assert!(t.charges(&tool_facts(&alice, &ml, "slack", "post", None, &none)).is_empty());
    // Metadata matches as for model calls.
    assert!(t.charges(&tool_facts(&alice, &[], "jira", "create", None, &none)).is_empty());
    let prod = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
    assert_eq!(names(t.charges(&tool_facts(&alice, &[], "jira", "create", None, &prod))), ["tools/prod-jira"]);
    // Model calls never meet a rule that names MCP servers.
    let c = t.charges(&facts(&alice, &ml, "openai/gpt-4o", &none));
    assert_eq!(names(c), ["rl/ml-team"]);
    let c = t.charges(&facts(&alice, &[], "github/search", &none));
    assert_eq!(names(c), ["rl/default"]);
}

#[test]
fn a_virtual_servers_tool_counts_under_its_own_name_and_the_remote_tool_behind_it() {
    let t = table(vec![tool_rates()]);
    let alice = user("alice@x.io");
    let none = BTreeMap::new();
    // `triage/find` is github's `search` underneath: the rule on github/search counts it, per the name it
    // matched, so calls both ways share one counter.
    let c = t.charges(&tool_facts(&alice, &[], "triage", "find", Some(("github", "search")), &none));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].counter, "rate-limit|tools|search|requests_per_minute|model=github/search");
    let v = table(vec![control(
        GatewayControlKind::RateLimiting,
        json!({"name": "v", "rules": [{"id": "triage", "when": {"mcp_servers": ["triage/find"]}, "limit_to": 1,
            "unit": "requests_per_minute", "rate_limit_applies_per": ["model"]}]}),
    )]);
    let c = v.charges(&tool_facts(&alice, &[], "triage", "find", Some(("github", "search")), &none));
    assert_eq!(c[0].counter, "rate-limit|v|triage|requests_per_minute|model=triage/find");
    // The remote server called directly is not the virtual server.
    assert!(v.charges(&tool_facts(&alice, &[], "github", "search", None, &none)).is_empty());
}
