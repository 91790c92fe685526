//! Routing: which real models a request may be sent to, in which order. A load-balancing rule whose
//! `when.models` names the requested model (and whose other conditions hold) spreads it over the rule's
//! targets; a request no rule matches goes to the model it named, once, as before. The table is compiled
//! with each published view; the choice among targets is made per request (`plan`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use gatehouse_core::resource::ResourceSpec;
use gatehouse_core::spec::{
    GatewayControlSpec, LoadBalanceTarget, ProviderAccountSpec, RetryConfig, RoutingStrategy, When,
};
use gatehouse_core::{ResourceKind, Snapshot, Subject};
use time::OffsetDateTime;

use super::health::Health;

/// Latency-based routing: targets within this factor of the fastest count as equally fast.
pub const LATENCY_TOLERANCE: f64 = 1.2;

/// One target of a routed request, with how it is tried.
#[derive(Clone, Debug)]
pub struct Step {
    /// `<account>/<model>` of the real model.
    pub served: String,
    pub retry: RetryConfig,
    pub fallback_status_codes: Vec<u16>,
    pub override_params: BTreeMap<String, serde_json::Value>,
    /// Time to the first byte (a whole answer: to its end) before falling back.
    pub ttft_timeout: Option<Duration>,
}

/// The targets of a rule (or of a virtual model) and how to choose among them.
#[derive(Clone, Debug)]
pub struct Routing {
    /// `<config>/<rule>` or `<group>/<virtual model>`: what the applied-controls header names.
    pub source: String,
    pub strategy: RoutingStrategy,
    pub targets: Vec<LoadBalanceTarget>,
    pub ttft_timeout_ms: Option<u64>,
    /// Weight-based only: the same caller goes to the same target while the weights stand.
    pub sticky: bool,
}

struct Rule {
    when: When,
    routing: Routing,
}

/// Every load-balancing rule of a view, configs in name order, rules in their order; and every virtual
/// model's routing, by `<group>/<name>`.
#[derive(Default)]
pub struct RouteTable {
    rules: Vec<Rule>,
    virtual_models: HashMap<String, Routing>,
}

/// What a rule's `when` is matched against.
pub struct Facts<'a> {
    pub subject: &'a Subject,
    pub teams: &'a [String],
    pub model: &'a str,
    pub metadata: &'a BTreeMap<String, String>,
}

impl RouteTable {
    pub fn compile(snapshot: &Snapshot) -> RouteTable {
        let mut rules = Vec::new();
        for record in snapshot.resources().of_kind(ResourceKind::GatewayControls) {
            let ResourceSpec::GatewayControl(GatewayControlSpec::LoadBalancing(c)) = &record.spec else { continue };
            for r in &c.rules {
                rules.push(Rule {
                    when: r.when.clone(),
                    routing: Routing {
                        source: format!("{}/{}", c.name, r.id),
                        strategy: r.strategy,
                        targets: r.load_balance_targets.clone(),
                        ttft_timeout_ms: r.ttft_timeout_ms,
                        sticky: false,
                    },
                });
            }
        }
        let mut virtual_models = HashMap::new();
        for record in snapshot.resources().of_kind(ResourceKind::ProviderAccount) {
            let ResourceSpec::ProviderAccount(ProviderAccountSpec::VirtualModel(v)) = &record.spec else { continue };
            for m in &v.models {
                let Some(r) = &m.routing_config else { continue };
                let name = format!("{}/{}", v.name, m.name);
                let routing = Routing {
                    source: name.clone(),
                    strategy: r.strategy.routing(),
                    targets: r.targets.clone(),
                    ttft_timeout_ms: r.ttft_timeout_ms,
                    sticky: r.sticky == Some(true),
                };
                virtual_models.insert(name, routing);
            }
        }
        RouteTable { rules, virtual_models }
    }

    /// The routing of the virtual model `<group>/<name>`.
    pub fn virtual_model(&self, name: &str) -> Option<&Routing> {
        self.virtual_models.get(name)
    }

    /// The first rule that names the model and whose other conditions hold. A rule without models routes
    /// nothing: spreading every request over a few targets is never what such a rule means.
    pub fn matching(&self, f: &Facts<'_>) -> Option<&Routing> {
        self.rules.iter().find(|r| matches(&r.when, f)).map(|r| &r.routing)
    }
}

fn matches(w: &When, f: &Facts<'_>) -> bool {
    let model = w.models.iter().any(|m| m.to_string() == f.model);
    let subject = w.subjects.is_empty()
        || w.subjects.iter().any(|s| match (s, f.subject) {
            (Subject::Team(t), Subject::User(_)) => f.teams.iter().any(|m| m.as_str() == t.as_str()),
            (s, caller) => s == caller,
        });
    let metadata = w.metadata.iter().all(|(k, v)| f.metadata.get(k) == Some(v));
    model && subject && metadata
}

/// The order in which a routed request tries the targets: the chosen one first, then those that may be
/// fallen back to. Targets cooling down are left out, unless every target is.
pub fn plan(routing: &Routing, health: &Health, now: OffsetDateTime, caller: &str) -> Vec<Step> {
    let all = &routing.targets;
    let names: Vec<String> = all.iter().map(|t| t.target.to_string()).collect();
    let warm: Vec<usize> = (0..all.len()).filter(|&i| !health.cooling(&names[i], now)).collect();
    let candidates = if warm.is_empty() { (0..all.len()).collect() } else { warm };
    let draw = if routing.sticky { sticky_draw(caller, &routing.source) } else { rand::random::<f64>() };
    let latencies: Vec<Option<f64>> = names.iter().map(|n| health.latency(n)).collect();
    let ordered = order(routing.strategy, all, &candidates, &latencies, draw);
    ordered
        .into_iter()
        .enumerate()
        .filter(|(pos, i)| *pos == 0 || all[*i].fallback_candidate())
        .map(|(_, i)| {
            let t = &all[i];
            Step {
                served: names[i].clone(),
                retry: t.retry_config.clone().unwrap_or_default(),
                fallback_status_codes: t.fallback_status_codes(),
                override_params: t.override_params.clone().unwrap_or_default(),
                ttft_timeout: t.ttft_timeout_ms.or(routing.ttft_timeout_ms).map(Duration::from_millis),
            }
        })
        .collect()
}

/// A number in [0, 1) fixed for one caller and one routing: the same caller draws the same target.
fn sticky_draw(caller: &str, source: &str) -> f64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{source}\n{caller}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// `candidates` (indexes into `targets`) in the order they are tried; `draw` in [0, 1) makes the choice.
pub fn order(
    strategy: RoutingStrategy,
    targets: &[LoadBalanceTarget],
    candidates: &[usize],
    latencies: &[Option<f64>],
    draw: f64,
) -> Vec<usize> {
    let mut rest: Vec<usize> = candidates.to_vec();
    let first = match strategy {
        RoutingStrategy::WeightBasedRouting => {
            let weight = |i: usize| u64::from(targets[i].weight.unwrap_or(0));
            let total: u64 = rest.iter().map(|&i| weight(i)).sum();
            // The cooling targets' share goes to the others in proportion; if only zero weights are left,
            // the first of them.
            let mut point = draw * total as f64;
            let mut chosen = rest.first().copied();
            for &i in &rest {
                let w = weight(i) as f64;
                if w > 0.0 && point < w {
                    chosen = Some(i);
                    break;
                }
                point -= w;
            }
            // Fallbacks: heaviest first.
            rest.sort_by_key(|&i| std::cmp::Reverse(weight(i)));
            chosen
        }
        RoutingStrategy::PriorityBasedRouting => {
            rest.sort_by_key(|&i| targets[i].priority());
            rest.first().copied()
        }
        RoutingStrategy::LatencyBasedRouting => {
            // Unknown latency counts as fastest: a target is measured only by being tried.
            let key = |i: usize| latencies[i].unwrap_or(0.0);
            rest.sort_by(|&a, &b| key(a).total_cmp(&key(b)));
            let fastest = rest.first().map(|&i| key(i)).unwrap_or(0.0);
            let equal: Vec<usize> = rest.iter().copied().filter(|&i| key(i) <= fastest * LATENCY_TOLERANCE).collect();
            let pick = ((draw * equal.len() as f64) as usize).min(equal.len().saturating_sub(1));
            equal.get(pick).copied()
        }
    };
    if let Some(f) = first {
        rest.retain(|&i| i != f);
        rest.insert(0, f);
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_core::spec::ModelRef;

    fn target(name: &str, weight: Option<u32>, priority: Option<u32>) -> LoadBalanceTarget {
        LoadBalanceTarget {
            target: name.parse::<ModelRef>().unwrap(),
            weight,
            priority,
            retry_config: None,
            fallback_status_codes: None,
            fallback_candidate: None,
            override_params: None,
            ttft_timeout_ms: None,
        }
    }

    #[test]
    fn weights_split_the_draw() {
        let ts = [target("a/x", Some(70), None), target("b/y", Some(30), None)];
        let all = [0, 1];
        let none = [None, None];
        assert_eq!(order(RoutingStrategy::WeightBasedRouting, &ts, &all, &none, 0.0), vec![0, 1]);
        assert_eq!(order(RoutingStrategy::WeightBasedRouting, &ts, &all, &none, 0.69), vec![0, 1]);
        assert_eq!(order(RoutingStrategy::WeightBasedRouting, &ts, &all, &none, 0.71), vec![1, 0]);
        // Target 0 cooling: everything goes to 1.
        assert_eq!(order(RoutingStrategy::WeightBasedRouting, &ts, &[1], &none, 0.1), vec![1]);
    }

    #[test]
    fn priority_lower_first() {
        let ts = [target("a/x", None, Some(2)), target("b/y", None, Some(1)), target("c/z", None, None)];
        let got = order(RoutingStrategy::PriorityBasedRouting, &ts, &[0, 1, 2], &[None, None, None], 0.5);
        assert_eq!(got, vec![2, 1, 0]);
    }

    #[test]
    fn latency_within_tolerance_is_equal() {
        let ts = [target("a/x", None, None), target("b/y", None, None), target("c/z", None, None)];
        let lat = [Some(11.0), Some(10.0), Some(30.0)];
        let got = order(RoutingStrategy::LatencyBasedRouting, &ts, &[0, 1, 2], &lat, 0.0);
        assert_eq!(got, vec![1, 0, 2]);
        let got = order(RoutingStrategy::LatencyBasedRouting, &ts, &[0, 1, 2], &lat, 0.99);
        assert_eq!(got, vec![0, 1, 2]);
        // Far slower is never chosen first.
        for d in [0.0, 0.3, 0.6, 0.9] {
            assert_ne!(order(RoutingStrategy::LatencyBasedRouting, &ts, &[0, 1, 2], &lat, d)[0], 2);
        }
    }

    #[test]
    fn sticky_draw_is_stable_per_caller() {
        assert_eq!(sticky_draw("user:a", "g/v"), sticky_draw("user:a", "g/v"));
        let d = sticky_draw("user:b", "g/v");
        assert!((0.0..1.0).contains(&d));
    }
}
