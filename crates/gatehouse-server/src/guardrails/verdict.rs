//! What the guardrails did to one call, shared by the call (its headers and its log entry) and the stream
//! scanner that works on its answer after the headers are gone.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use gatehouse_store::GuardrailVerdict;

use super::run::Hook;
use super::{Check, CompiledRule};

/// What a rule's checks did. A rule that matched and found nothing has none of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Text was changed: redacted, or rewritten by a webhook.
    Redacted,
    /// The call was refused (or its stream ended).
    Blocked,
    /// An `audit` check found what it would have blocked or changed.
    Flagged,
    /// A check failed (a webhook that timed out) and its strategy let the call through, or blocked it.
    Error,
}

impl Mark {
    const ORDER: [Mark; 4] = [Mark::Blocked, Mark::Redacted, Mark::Flagged, Mark::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Redacted => "redacted",
            Mark::Blocked => "blocked",
            Mark::Flagged => "flagged",
            Mark::Error => "error",
        }
    }
}

#[derive(Default)]
struct Entry {
    name: String,
    marks: Vec<Mark>,
}

/// The rules that applied to a call, each with what its checks did, in the order they apply.
#[derive(Default)]
pub struct Verdicts {
    entries: Vec<Entry>,
    /// `<config>/<rule>` of the rule that blocked the call.
    pub blocked_by: Option<String>,
    /// Per check, hook and outcome, what the request log keeps (never the text found).
    pub log: Vec<GuardrailVerdict>,
}

/// The request log keeps at most this many verdicts per call: more rules than that is a configuration
/// no reader of one row needs in full, and a row stays bounded.
pub const MAX_LOGGED: usize = 64;

/// What a check's verdict is called in the request log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Blocked,
    Redacted,
    Flagged,
    ErrorIgnored,
    ErrorBlocked,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Blocked => "blocked",
            Outcome::Redacted => "redacted",
            Outcome::Flagged => "flagged",
            Outcome::ErrorIgnored => "error_ignored",
            Outcome::ErrorBlocked => "error_blocked",
        }
    }
}

pub type SharedVerdicts = Arc<Mutex<Verdicts>>;

/// The verdicts, whatever a panic elsewhere left (the data is a few flags, never half-written).
pub fn lock(v: &SharedVerdicts) -> MutexGuard<'_, Verdicts> {
    v.lock().unwrap_or_else(|e| e.into_inner())
}

impl Verdicts {
    /// Lists a rule as applied, with no marks yet.
    pub fn applied(&mut self, name: &str) {
        if !self.entries.iter().any(|e| e.name == name) {
            self.entries.push(Entry { name: name.to_owned(), marks: Vec::new() });
        }
    }

    /// Adds `mark` to the rule; `true` when it is new (so that it is logged once, not once per chunk).
    pub fn mark(&mut self, name: &str, mark: Mark) -> bool {
        self.applied(name);
        let Some(e) = self.entries.iter_mut().find(|e| e.name == name) else { return false };
        if e.marks.contains(&mark) {
            return false;
        }
        e.marks.push(mark);
        true
    }

    /// Adds `count` to the log entry of this check, hook and outcome (a stream's pieces add up).
    pub fn note(&mut self, rule: &CompiledRule, check: &Check, hook: Hook, outcome: Outcome, count: u64) {
        let same = |v: &&mut GuardrailVerdict| {
            v.config == rule.config
                && v.rule == rule.rule
                && v.check == check.path
                && v.hook == hook.as_str()
                && v.outcome == outcome.as_str()
        };
        if let Some(v) = self.log.iter_mut().find(same) {
            v.count = v.count.saturating_add(count);
            return;
        }
        if self.log.len() < MAX_LOGGED {
            self.log.push(GuardrailVerdict {
                config: rule.config.clone(),
                rule: rule.rule.clone(),
                check: check.path.clone(),
                kind: check.kind.to_owned(),
                hook: hook.as_str().to_owned(),
                outcome: outcome.as_str().to_owned(),
                count,
            });
        }
    }

    /// `guardrail:<config>/<rule>` for every rule that applied, with `;blocked`, `;redacted`, `;flagged`,
    /// `;error` as they happened.
    pub fn header_entries(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| {
                let mut s = format!("guardrail:{}", e.name);
                for m in Mark::ORDER.into_iter().filter(|m| e.marks.contains(m)) {
                    s.push(';');
                    s.push_str(m.as_str());
                }
                s
            })
            .collect()
    }
}

/// A guardrail refused: the call's 400 (`guardrail_blocked`), or the error event that ends its stream.
/// Names the rule and the check, never the text that tripped it.
#[derive(Debug)]
pub struct Blocked {
    pub config: String,
    pub rule: String,
    pub hook: Hook,
    /// The check's manifest `type`.
    pub check: &'static str,
    /// Where the check is in its rule: `input_guardrails[1]`.
    pub path: String,
    /// What it found (`credit_card`, `a keyword`), why the webhook refused, or how the check failed.
    pub detail: String,
}

impl Blocked {
    pub fn rule_name(&self) -> String {
        format!("{}/{}", self.config, self.rule)
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guardrail {}/{} blocked the {}: the {} check ({}) {}",
            self.config, self.rule, self.hook, self.check, self.path, self.detail
        )
    }
}
