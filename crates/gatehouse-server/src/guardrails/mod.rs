//! Guardrails: the checks of `gateway-guardrails-config` rules, compiled once per published version
//! (regular expressions and keyword sets included) and run on a call's input before it leaves and on its
//! output before the client sees it.
//!
//! Every matching rule applies (a union, unlike rate limits): configs in name order, rules and their checks
//! in the order written, each check seeing the text as the checks before it left it. What each check did
//! is recorded in the call's [`Verdicts`], which the `x-gatehouse-applied-controls` header and the request
//! log read.

mod check;
mod run;
#[cfg(test)]
mod tests;
mod texts;
mod verdict;
mod webhook;

use std::sync::Arc;

use gatehouse_core::limits::{CompiledWhen, RequestFacts};
use gatehouse_core::resource::ResourceSpec;
use gatehouse_core::spec::{GatewayControlSpec, Guardrail, GuardrailsConfig};
use gatehouse_core::{ResourceKind, Snapshot};

pub use check::{Body, Check, Detector, Span, REGEX_HOLD};
pub use run::{Guard, Held, Hook};
pub use verdict::{lock, Blocked, Mark, Outcome, SharedVerdicts, Verdicts, MAX_LOGGED};
pub use webhook::{Signer, SIGNATURE};

use crate::error::ApiError;

/// A rule of a guardrails config, compiled.
pub struct CompiledRule {
    pub config: String,
    pub rule: String,
    when: CompiledWhen,
    pub input: Vec<Check>,
    pub output: Vec<Check>,
}

impl CompiledRule {
    /// `<config>/<rule>`, as headers, errors and the request log name it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.config, self.rule)
    }
}

/// Every guardrails rule of one published snapshot, in the order they apply.
#[derive(Default)]
pub struct GuardrailsTable {
    rules: Vec<Arc<CompiledRule>>,
}

impl GuardrailsTable {
    pub fn compile(snapshot: &Snapshot) -> GuardrailsTable {
        let mut configs: Vec<&GuardrailsConfig> = Vec::new();
        for record in snapshot.resources().of_kind(ResourceKind::GatewayControls) {
            if let ResourceSpec::GatewayControl(GatewayControlSpec::Guardrails(c)) = &record.spec {
                configs.push(c);
            }
        }
        GuardrailsTable::from_configs(configs)
    }

    /// The table of these configs, applied in name order.
    pub fn from_configs(mut configs: Vec<&GuardrailsConfig>) -> GuardrailsTable {
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut rules = Vec::new();
        for c in configs {
            for r in &c.rules {
                let list = |name: &str, gs: &[Guardrail]| -> Vec<Check> {
                    gs.iter().enumerate().map(|(i, g)| Check::compile(format!("{name}[{i}]"), g)).collect()
                };
                rules.push(Arc::new(CompiledRule {
                    config: c.name.to_string(),
                    rule: r.id.to_string(),
                    when: CompiledWhen::new(&r.when),
                    input: list("input_guardrails", &r.input_guardrails),
                    output: list("output_guardrails", &r.output_guardrails),
                }));
            }
        }
        GuardrailsTable { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that apply to a request, in order.
    pub fn matching(&self, facts: &RequestFacts<'_>) -> Vec<Arc<CompiledRule>> {
        self.rules.iter().filter(|r| r.when.applies(facts)).cloned().collect()
    }
}

/// Refuses a config whose patterns or keyword sets cannot be compiled, naming the field, so that a check
/// that could never run is refused where it is written rather than failing on every request.
pub fn validate(config: &GuardrailsConfig) -> Result<(), ApiError> {
    for (path, g) in config.guardrails() {
        match g {
            Guardrail::BlockRegex { pattern, .. } => {
                check::compile_pattern(pattern).map_err(|e| {
                    ApiError::invalid(format!("{path}.pattern"), format!("not a valid regular expression: {e}"))
                })?;
            }
            Guardrail::BlockKeywords { keywords, case_sensitive, .. } => {
                check::compile_keywords(keywords, *case_sensitive)
                    .map_err(|e| ApiError::invalid(format!("{path}.keywords"), format!("cannot be compiled: {e}")))?;
            }
            Guardrail::MaxInputChars { .. }
            | Guardrail::RedactPii { .. }
            | Guardrail::Pii { .. }
            | Guardrail::Secrets { .. }
            | Guardrail::Webhook { .. } => {}
        }
    }
    Ok(())
}
