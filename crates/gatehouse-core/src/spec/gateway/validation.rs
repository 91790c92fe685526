//! Checking a gateway control against the rules and the world: fields, models, subjects, limits.

use super::*;
use crate::field::FieldPath;

impl When {
    /// Paths are relative to the `when`.
    pub(super) fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        check_subjects("subjects", &self.subjects, world)?;
        check_models("models", &self.models, world)?;
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

impl LoadBalancingRule {
    /// Paths are relative to the rule.
    pub(super) fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        let targets = &self.load_balance_targets;
        if targets.is_empty() {
            return Err(FieldError::new("load_balance_targets", "must list at least one target"));
        }
        let weighted = self.strategy == RoutingStrategy::WeightBasedRouting;
        let prioritized = self.strategy == RoutingStrategy::PriorityBasedRouting;
        let mut total: u64 = 0;
        for (i, t) in targets.iter().enumerate() {
            let at = |f: &str| format!("load_balance_targets[{i}].{f}");
            check_model(&at("target"), &t.target, world)?;
            // A weight or priority that the strategy ignores would look as if it did something.
            match (weighted, t.weight) {
                (true, None) => return Err(FieldError::new(at("weight"), "is required for weight-based-routing")),
                (true, Some(w)) if w > 100 => return Err(FieldError::new(at("weight"), "must be 0 to 100")),
                (true, Some(w)) => total += u64::from(w),
                (false, Some(_)) => {
                    return Err(FieldError::new(at("weight"), "is used only by weight-based-routing"));
                }
                (false, None) => {}
            }
            if !prioritized && t.priority.is_some() {
                return Err(FieldError::new(at("priority"), "is used only by priority-based-routing"));
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
        }
        no_duplicates(
            targets.iter().enumerate().map(|(i, t)| (format!("load_balance_targets[{i}].target"), &t.target)),
        )?;
        if weighted && total != 100 {
            return Err(FieldError::new("load_balance_targets", format!("weights add up to {total}, not 100")));
        }
        Ok(())
    }
}

impl GatewayControlSpec {
    pub fn validate(&self, world: &dyn Lookup) -> Result<(), FieldError> {
        check_description("description", self.description())?;
        let rules = self.rules();
        if rules.is_empty() {
            return Err(FieldError::new("rules", "must have at least one rule"));
        }
        for (i, (_, when)) in rules.iter().enumerate() {
            when.validate(world).map_err(|e| e.within(FieldPath::default().key("rules").index(i).key("when")))?;
        }
        let per_rule =
            |i: usize, r: Result<(), FieldError>| r.map_err(|e| e.within(FieldPath::default().key("rules").index(i)));
        match self {
            GatewayControlSpec::RateLimiting(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    per_rule(i, check_rate_limit(r))?;
                }
            }
            GatewayControlSpec::Budget(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    per_rule(i, check_budget(r))?;
                }
            }
            GatewayControlSpec::Guardrails(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    per_rule(i, check_guardrails(r))?;
                }
            }
            GatewayControlSpec::LoadBalancing(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    per_rule(i, r.validate(world))?;
                }
            }
        }
        no_duplicates(rules.iter().enumerate().map(|(i, (id, _))| (format!("rules[{i}].id"), *id)))
    }
}

pub(super) fn check_rate_limit(r: &RateLimitRule) -> Result<(), FieldError> {
    if r.limit_to == 0 {
        return Err(FieldError::new("limit_to", "must be greater than 0"));
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
