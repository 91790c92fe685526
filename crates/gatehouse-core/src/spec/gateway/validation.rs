//! Checking a gateway control against the rules and the world: fields, models, subjects, limits.

use super::*;
use crate::field::{FieldErrors, FieldPath};

impl When {
    /// Paths are relative to the `when`.
    pub(super) fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        check_subjects("subjects", &self.subjects, world)?;
        check_models("models", &self.models, world)?;
        check_mcp_servers("mcp_servers", &self.mcp_servers, world)?;
        for (k, v) in &self.metadata {
            check_metadata_key(&format!("metadata.{k}"), k)?;
            if v.chars().count() > 256 {
                return Err(FieldError::new(format!("metadata.{k}"), "must be at most 256 characters"));
            }
        }
        Ok(())
    }
}

/// Existing models, none twice.
pub(super) fn check_models(field: &str, list: &[ModelRef], world: &dyn Lookup) -> Result<(), FieldError> {
    for (i, m) in list.iter().enumerate() {
        check_model(&format!("{field}[{i}]"), m, world)?;
    }
    no_duplicates(list.iter().enumerate().map(|(i, m)| (format!("{field}[{i}]"), m)))
}

pub(super) fn check_model(field: &str, m: &ModelRef, world: &dyn Lookup) -> Result<(), FieldError> {
    if world.model_exists(m.account.as_str(), m.model.as_str()) {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("model {m} does not exist")))
    }
}

/// Existing MCP servers (remote or virtual), and tools they let through (a virtual server's by the names it
/// exposes), none twice.
pub(super) fn check_mcp_servers(field: &str, list: &[McpToolRef], world: &dyn Lookup) -> Result<(), FieldError> {
    for (i, r) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Some(tools) = world.mcp_server(r.server.as_str()) else {
            return Err(FieldError::new(at, format!("MCP server {} does not exist", r.server)));
        };
        if let Some(t) = &r.tool {
            if !tools.has(t) {
                return Err(FieldError::new(
                    at,
                    format!("MCP server {} has no tool {t} that callers can call", r.server),
                ));
            }
        }
    }
    no_duplicates(list.iter().enumerate().map(|(i, r)| (format!("{field}[{i}]"), r)))
}

/// Metadata keys as clients send them (`X-Gatehouse-Metadata`-style JSON objects): a short identifier.
pub fn metadata_key(k: &str) -> Result<(), &'static str> {
    if k.is_empty() || k.len() > 64 {
        return Err("a metadata key must be 1 to 64 characters");
    }
    if !k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err("a metadata key may hold only letters, digits, underscores, hyphens and dots");
    }
    Ok(())
}

pub(super) fn check_metadata_key(field: &str, k: &str) -> Result<(), FieldError> {
    metadata_key(k).map_err(|m| FieldError::new(field, m))
}

pub(super) fn check_applies_per(field: &str, list: &[AppliesPer]) -> Result<(), FieldError> {
    // Each value multiplies the counters; two (say, user and model) is what the product allows.
    if list.len() > 2 {
        return Err(FieldError::new(field, format!("lists {} values; at most two are allowed", list.len())));
    }
    for (i, a) in list.iter().enumerate() {
        if let AppliesPer::Metadata(k) = a {
            check_metadata_key(&format!("{field}[{i}]"), k)?;
        }
    }
    no_duplicates(list.iter().enumerate().map(|(i, a)| (format!("{field}[{i}]"), a)))
}

/// Keyword lists are compiled into one automaton per guardrail, and a streamed answer holds back as many
/// characters as the longest keyword: both stay small.
const MAX_KEYWORDS: usize = 1000;
const MAX_KEYWORD_CHARS: usize = 256;

impl Guardrail {
    /// Paths are relative to the guardrail.
    pub(super) fn validate(&self, input: bool) -> Result<(), FieldError> {
        match self {
            Guardrail::BlockKeywords { keywords, .. } => {
                if keywords.is_empty() {
                    return Err(FieldError::new("keywords", "must list at least one keyword"));
                }
                if keywords.len() > MAX_KEYWORDS {
                    return Err(FieldError::new("keywords", format!("must list at most {MAX_KEYWORDS} keywords")));
                }
                for (i, k) in keywords.iter().enumerate() {
                    if k.trim().is_empty() {
                        return Err(FieldError::new(format!("keywords[{i}]"), "must not be empty"));
                    }
                    if k.chars().count() > MAX_KEYWORD_CHARS {
                        return Err(FieldError::new(
                            format!("keywords[{i}]"),
                            format!("must be at most {MAX_KEYWORD_CHARS} characters"),
                        ));
                    }
                }
                no_duplicates(keywords.iter().enumerate().map(|(i, k)| (format!("keywords[{i}]"), k)))
            }
            Guardrail::BlockRegex { pattern, .. } => {
                if pattern.is_empty() {
                    return Err(FieldError::new("pattern", "must not be empty"));
                }
                // Bounds what the server's regex compiler is handed.
                if pattern.len() > 4096 {
                    return Err(FieldError::new("pattern", "must be at most 4096 bytes"));
                }
                Ok(())
            }
            Guardrail::MaxInputChars { limit, .. } => {
                if !input {
                    return Err(FieldError::new("type", "max-input-chars applies to input_guardrails only"));
                }
                if *limit == 0 {
                    return Err(FieldError::new("limit", "must be greater than 0"));
                }
                Ok(())
            }
            Guardrail::RedactPii { entities, .. } | Guardrail::Pii { entities, .. } => {
                if entities.is_empty() {
                    return Err(FieldError::new(
                        "entities",
                        "must list at least one of email, phone, credit_card, ssn, iban",
                    ));
                }
                no_duplicates(entities.iter().enumerate().map(|(i, e)| (format!("entities[{i}]"), e)))
            }
            Guardrail::Secrets { .. } => Ok(()),
            Guardrail::Webhook { url, timeout_ms, .. } => {
                super::super::http_url(url).map_err(|m| FieldError::new("url", m))?;
                if !(1..=Guardrail::MAX_TIMEOUT_MS).contains(timeout_ms) {
                    return Err(FieldError::new(
                        "timeout_ms",
                        format!("must be 1 to {} milliseconds", Guardrail::MAX_TIMEOUT_MS),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Retries wait at most this long: longer outlasts any client's timeout.
pub(super) const MAX_RETRY_DELAY_MS: u64 = 60_000;

pub(super) const MAX_RETRY_ATTEMPTS: u32 = 10;

pub(super) fn check_status_codes(field: &str, codes: &[u16]) -> Result<(), FieldError> {
    for (i, c) in codes.iter().enumerate() {
        if !(100..=599).contains(c) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!("{c} is not an HTTP status code (100 to 599)"),
            ));
        }
    }
    no_duplicates(codes.iter().enumerate().map(|(i, c)| (format!("{field}[{i}]"), c)))
}

/// The longest time-to-first-token timeout: past it the gateway's own first-byte timeout decides.
pub(super) const MAX_TTFT_TIMEOUT_MS: u64 = 600_000;

pub fn check_ttft(field: &str, ms: Option<u64>) -> Result<(), FieldError> {
    match ms {
        Some(ms) if ms == 0 || ms > MAX_TTFT_TIMEOUT_MS => {
            Err(FieldError::new(field, format!("must be 1 to {MAX_TTFT_TIMEOUT_MS} milliseconds")))
        }
        Some(_) | None => Ok(()),
    }
}

/// Only the parameters of `OVERRIDABLE_PARAMS`, each of its kind: anything else could change what the
/// request is (its model, its messages, whether it streams).
pub(super) fn check_override_params(
    field: &str,
    params: &BTreeMap<String, serde_json::Value>,
) -> Result<(), FieldError> {
    for (k, v) in params {
        let at = format!("{field}.{k}");
        let Some((_, kind)) = OVERRIDABLE_PARAMS.iter().find(|(name, _)| name == k) else {
            let names: Vec<&str> = OVERRIDABLE_PARAMS.iter().map(|(n, _)| *n).collect();
            return Err(FieldError::new(at, format!("cannot be overridden (allowed: {})", names.join(", "))));
        };
        let ok = match kind {
            ParamKind::Number => v.is_number(),
            ParamKind::Count => v.as_u64().is_some_and(|n| n >= 1 && n <= u64::from(u32::MAX)),
            ParamKind::Stop => {
                v.is_string() || v.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|s| s.is_string()))
            }
        };
        if !ok {
            let what = match kind {
                ParamKind::Number => "a number",
                ParamKind::Count => "a whole number from 1",
                ParamKind::Stop => "a string or a list of strings",
            };
            return Err(FieldError::new(at, format!("must be {what}")));
        }
    }
    Ok(())
}

impl LoadBalancingRule {
    /// Paths are relative to the rule.
    pub(super) fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        check_ttft("ttft_timeout_ms", self.ttft_timeout_ms)?;
        check_targets("load_balance_targets", self.strategy, &self.load_balance_targets, world, STRATEGY_NAMES)
    }
}

/// The targets of a load-balancing rule or a virtual model (`field` names the list): existing real models,
/// none twice, each with the settings its strategy uses; weights adding up to 100.
/// How the manifests name the weight and the priority strategies, for messages.
pub const STRATEGY_NAMES: [&str; 2] = ["weight-based-routing", "priority-based-routing"];

pub fn check_targets(
    field: &str,
    strategy: RoutingStrategy,
    targets: &[LoadBalanceTarget],
    world: &dyn Lookup,
    [weight_name, priority_name]: [&str; 2],
) -> Result<(), FieldError> {
    if targets.is_empty() {
        return Err(FieldError::new(field, "must list at least one target"));
    }
    let weighted = strategy == RoutingStrategy::WeightBasedRouting;
    let prioritized = strategy == RoutingStrategy::PriorityBasedRouting;
    let mut total: u64 = 0;
    for (i, t) in targets.iter().enumerate() {
        let at = |f: &str| format!("{field}[{i}].{f}");
        check_model(&at("target"), &t.target, world)?;
        // A virtual model routes; routing to one could loop, and would hide where requests end up.
        if world.model_is_virtual(t.target.account.as_str(), t.target.model.as_str()) {
            return Err(FieldError::new(
                at("target"),
                format!("{} is a virtual model; targets must be real models", t.target),
            ));
        }
        // A weight or priority that the strategy ignores would look as if it did something.
        match (weighted, t.weight) {
            (true, None) => return Err(FieldError::new(at("weight"), format!("is required for {weight_name}"))),
            (true, Some(w)) if w > 100 => return Err(FieldError::new(at("weight"), "must be 0 to 100")),
            (true, Some(w)) => total += u64::from(w),
            (false, Some(_)) => {
                return Err(FieldError::new(at("weight"), format!("is used only by {weight_name}")));
            }
            (false, None) => {}
        }
        if !prioritized && t.priority.is_some() {
            return Err(FieldError::new(at("priority"), format!("is used only by {priority_name}")));
        }
        if let Some(r) = &t.retry_config {
            if r.attempts > MAX_RETRY_ATTEMPTS {
                return Err(FieldError::new(at("retry_config.attempts"), "must be 0 to 10"));
            }
            if r.delay_ms > MAX_RETRY_DELAY_MS {
                return Err(FieldError::new(at("retry_config.delay_ms"), "must be at most 60000"));
            }
            check_status_codes(&at("retry_config.on_status_codes"), &r.on_status_codes)?;
        }
        if let Some(codes) = &t.fallback_status_codes {
            check_status_codes(&at("fallback_status_codes"), codes)?;
        }
        if let Some(params) = &t.override_params {
            check_override_params(&at("override_params"), params)?;
        }
        check_ttft(&at("ttft_timeout_ms"), t.ttft_timeout_ms)?;
    }
    no_duplicates(targets.iter().enumerate().map(|(i, t)| (format!("{field}[{i}].target"), &t.target)))?;
    if weighted && total != 100 {
        return Err(FieldError::new(field, format!("weights add up to {total}, not 100")));
    }
    Ok(())
}

impl GatewayControlSpec {
    /// The first field at fault (see `validate_all`).
    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        self.validate_all(world).map_err(FieldErrors::into_first)
    }

    /// Every field at fault, each rule checked even after an earlier one failed: a form shows them all.
    pub fn validate_all(&self, world: &dyn Lookup) -> Result<(), FieldErrors> {
        let mut all = FieldErrors::new();
        all.check(check_description("description", self.description()));
        let rules = self.rules();
        if rules.is_empty() {
            all.push(FieldError::new("rules", "must have at least one rule"));
            return all.into_result();
        }
        let at_rule = |i: usize| FieldPath::default().key("rules").index(i);
        // Only rate limits and guardrails see tool calls: anywhere else, a rule naming MCP servers would do
        // nothing.
        let not_for_tools = match self {
            GatewayControlSpec::RateLimiting(_) | GatewayControlSpec::Guardrails(_) => None,
            GatewayControlSpec::Budget(_) => Some(
                "budgets count model tokens and cost, which tool calls do not have; limit tool calls with a \
                 gateway-rate-limiting-config",
            ),
            GatewayControlSpec::LoadBalancing(_) => Some("load balancing routes model calls only"),
        };
        if let Some(why) = not_for_tools {
            for (i, (_, when)) in rules.iter().enumerate() {
                if !when.mcp_servers.is_empty() {
                    all.push(FieldError::new("when.mcp_servers", why).within(at_rule(i)));
                }
            }
        }
        for (i, (_, when)) in rules.iter().enumerate() {
            all.check(when.validate(world).map_err(|e| e.within(at_rule(i).key("when"))));
        }
        let per_rule = |i: usize, r: Result<(), FieldError>| r.map_err(|e| e.within(at_rule(i)));
        match self {
            GatewayControlSpec::RateLimiting(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    all.check(per_rule(i, check_rate_limit(r)));
                }
            }
            GatewayControlSpec::Budget(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    all.check(per_rule(i, check_budget(r)));
                }
            }
            GatewayControlSpec::Guardrails(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    all.check(per_rule(i, check_guardrails(r)));
                }
            }
            GatewayControlSpec::LoadBalancing(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    all.check(per_rule(i, r.validate(world)));
                }
            }
        }
        all.check(no_duplicates(rules.iter().enumerate().map(|(i, (id, _))| (format!("rules[{i}].id"), *id))));
        all.into_result()
    }
}

pub(super) fn check_rate_limit(r: &RateLimitRule) -> Result<(), FieldError> {
    if r.limit_to == 0 {
        return Err(FieldError::new("limit_to", "must be greater than 0"));
    }
    if !r.when.mcp_servers.is_empty() {
        // A rule counts either model calls or tool calls: `models` would never match a tool call.
        if !r.when.models.is_empty() {
            return Err(FieldError::new(
                "when.models",
                "a rule with mcp_servers counts tool calls only; put model limits in a rule of their own",
            ));
        }
        match r.unit {
            RateLimitUnit::RequestsPerMinute | RateLimitUnit::RequestsPerHour | RateLimitUnit::RequestsPerDay => {}
            RateLimitUnit::TokensPerMinute | RateLimitUnit::TokensPerHour | RateLimitUnit::TokensPerDay => {
                return Err(FieldError::new(
                    "unit",
                    "a rule with mcp_servers counts tool calls, which have no tokens: use requests_per_minute, \
                     requests_per_hour or requests_per_day",
                ));
            }
        }
    }
    check_applies_per("rate_limit_applies_per", &r.rate_limit_applies_per)
}

pub(super) fn check_budget(r: &BudgetRule) -> Result<(), FieldError> {
    if !(r.limit_to.is_finite() && r.limit_to > 0.0) {
        return Err(FieldError::new("limit_to", "must be a number greater than 0"));
    }
    if r.unit.counts_tokens() && r.limit_to.fract() != 0.0 {
        return Err(FieldError::new("limit_to", "must be a whole number of tokens"));
    }
    check_applies_per("budget_applies_per", &r.budget_applies_per)?;
    if let Some(a) = &r.alerts {
        if a.thresholds.is_empty() {
            return Err(FieldError::new("alerts.thresholds", "must list at least one percentage"));
        }
        for (i, t) in a.thresholds.iter().enumerate() {
            let field = format!("alerts.thresholds[{i}]");
            if !(1..=100).contains(t) {
                return Err(FieldError::new(field, "must be a percentage from 1 to 100"));
            }
            if i > 0 && a.thresholds[i - 1] >= *t {
                return Err(FieldError::new(field, "thresholds must be strictly increasing"));
            }
        }
    }
    Ok(())
}

pub(super) fn check_guardrails(r: &GuardrailRule) -> Result<(), FieldError> {
    if !r.when.mcp_servers.is_empty() && !r.when.models.is_empty() {
        // A rule checks either model calls or tool calls: `models` would never match a tool call.
        return Err(FieldError::new(
            "when.models",
            "a rule with mcp_servers checks tool calls only; put model guardrails in a rule of their own",
        ));
    }
    if r.input_guardrails.is_empty() && r.output_guardrails.is_empty() {
        return Err(FieldError::new("input_guardrails", "a rule needs at least one input or output guardrail"));
    }
    for (i, g) in r.input_guardrails.iter().enumerate() {
        g.validate(true).map_err(|e| e.within(FieldPath::default().key("input_guardrails").index(i)))?;
    }
    for (i, g) in r.output_guardrails.iter().enumerate() {
        g.validate(false).map_err(|e| e.within(FieldPath::default().key("output_guardrails").index(i)))?;
    }
    Ok(())
}
