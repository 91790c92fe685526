//! The guardrails of one call: the rules that matched it, run on its input, on a whole answer, or on a
//! streamed answer's text as it grows.

use std::fmt;
use std::sync::Arc;

use gatehouse_core::spec::{GuardrailAction, GuardrailStrategy};

use super::check::{find_before, redact, Body, Check};
use super::texts::{self, TextRef};
use super::verdict::{self, Blocked, Mark, Outcome, SharedVerdicts};
use super::webhook::{Message, Payload, Reply, Signer};
use super::CompiledRule;
use crate::error::ApiError;
use crate::gateway::dispatch::{Request, Whole};

/// A stream's text is held back at most this much for the built-in checks: past it, what is held is
/// checked and released as if the answer had ended there.
const MAX_HOLD: usize = 64 * 1024;
/// With an enforcing webhook on the output, the whole answer is held (up to this) and shown to it at the end.
const MAX_WEBHOOK_HOLD: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Input,
    Output,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Input => "input",
            Hook::Output => "output",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one check made of the text; counts are findings (a webhook's answer counts one).
enum Verdict {
    Pass,
    /// Changed the text (or, auditing, would have).
    Redacted(u64),
    /// Would block: what it found, or why the webhook refused.
    Violation(String, u64),
    /// The check itself failed.
    Error(String),
}

/// The matching rules of a call, and what they did to it.
pub struct Guard {
    rules: Vec<Arc<CompiledRule>>,
    verdicts: SharedVerdicts,
    http: reqwest::Client,
    /// Signs webhook requests, when the deployment has a secret for them.
    signer: Option<Arc<Signer>>,
    /// For webhooks: `<account>/<model>` and the caller.
    model: String,
    subject: String,
    /// An enforcing webhook checks the output: a stream's text is held whole.
    holds_all: bool,
    /// An auditing webhook checks the output: a stream's text is kept for it to see at the end.
    audits_all: bool,
    metrics: Option<Arc<crate::observability::Metrics>>,
}

/// A streamed answer's text for one choice (or content block), from the last release on.
#[derive(Default)]
pub struct Held {
    text: String,
    /// Everything that came, for an auditing webhook (bounded by `MAX_WEBHOOK_HOLD`).
    all: String,
}

impl Guard {
    /// The guard of a call that `rules` match (in order); each rule is listed as applied.
    pub fn new(
        rules: Vec<Arc<CompiledRule>>,
        http: reqwest::Client,
        signer: Option<Arc<Signer>>,
        model: String,
        subject: String,
    ) -> Guard {
        let mut v = verdict::Verdicts::default();
        for r in &rules {
            v.applied(&r.name());
        }
        let output_webhooks = || rules.iter().flat_map(|r| &r.output).filter(|c| matches!(c.body, Body::Webhook(_)));
        let holds_all = output_webhooks().any(|c| !c.audit());
        let audits_all = output_webhooks().any(Check::audit);
        Guard {
            verdicts: Arc::new(std::sync::Mutex::new(v)),
            rules,
            http,
            signer,
            model,
            subject,
            holds_all,
            audits_all,
            metrics: None,
        }
    }

    pub fn verdicts(&self) -> SharedVerdicts {
        self.verdicts.clone()
    }

    pub fn checks_output(&self) -> bool {
        self.rules.iter().any(|r| !r.output.is_empty())
    }

    /// The input hook: every matching rule's input checks on the request's text, redacting in place. A
    /// block is the call's 400; nothing has left for the upstream yet.
    pub async fn input(&self, request: &mut Request) -> Result<(), ApiError> {
        let mut args = texts::Arguments::of_request(request);
        let result = {
            let mut texts = texts::input(request, &mut args);
            self.whole(Hook::Input, &mut texts).await
        };
        args.into_request(request);
        result
    }

    /// The output hook on a whole answer, before it is sent.
    pub async fn output(&self, answer: &mut Whole) -> Result<(), ApiError> {
        let mut args = texts::Arguments::of_answer(answer);
        let result = {
            let mut texts = texts::output(answer, &mut args);
            self.whole(Hook::Output, &mut texts).await
        };
        args.into_answer(answer);
        result
    }

    /// The hook on the free texts of a tool call (its arguments, or its result), each with the role a
    /// webhook sees, rewritten in place.
    pub async fn strings(&self, hook: Hook, texts: Vec<(&'static str, &mut String)>) -> Result<(), ApiError> {
        let mut refs: Vec<TextRef<'_>> = texts.into_iter().map(|(role, text)| TextRef { role, text }).collect();
        self.whole(hook, &mut refs).await
    }

    async fn whole(&self, hook: Hook, texts: &mut [TextRef<'_>]) -> Result<(), ApiError> {
        // Token arrays, an embeddings answer: nothing to read, and nothing for a webhook to judge.
        if texts.is_empty() {
            return Ok(());
        }
        for rule in &self.rules {
            let checks = match hook {
                Hook::Input => &rule.input,
                Hook::Output => &rule.output,
            };
            for check in checks {
                let v = self.run_whole(rule, check, hook, texts).await;
                self.record(rule, check, hook, v)?;
            }
        }
        Ok(())
    }

    async fn run_whole(&self, rule: &CompiledRule, check: &Check, hook: Hook, texts: &mut [TextRef<'_>]) -> Verdict {
        let modify = !check.audit();
        match &check.body {
            Body::Find { detector, action } => {
                let mut first = None;
                let mut count = 0u64;
                for t in texts.iter_mut() {
                    let mut cut = t.text.len();
                    let spans = find_before(detector, t.text, &mut cut, true);
                    let Some(s) = spans.first() else { continue };
                    first.get_or_insert(s.detail);
                    count += spans.len() as u64;
                    match action {
                        GuardrailAction::Block => break,
                        GuardrailAction::Redact if modify => redact(t.text, &spans, &mut cut),
                        GuardrailAction::Redact => {}
                    }
                }
                match (first, action) {
                    (None, _) => Verdict::Pass,
                    (Some(d), GuardrailAction::Block) => Verdict::Violation(found(d), count),
                    (Some(_), GuardrailAction::Redact) => Verdict::Redacted(count),
                }
            }
            Body::MaxChars(limit) => {
                let n: u64 = texts.iter().map(|t| t.text.chars().count() as u64).sum();
                if n > *limit {
                    Verdict::Violation(format!("counted {n} characters, over the limit of {limit}"), 1)
                } else {
                    Verdict::Pass
                }
            }
            Body::Webhook(w) => {
                let reply = {
                    let messages = texts.iter().map(|t| Message { role: t.role, content: t.text.as_str() }).collect();
                    w.call(&self.http, self.signer.as_deref(), &self.payload(rule, hook, messages)).await
                };
                match reply {
                    Ok(Reply::Allow) => Verdict::Pass,
                    Ok(Reply::Block(reason)) => Verdict::Violation(refused(reason), 1),
                    Ok(Reply::Rewrite(new)) => {
                        let mut changed = false;
                        for (t, n) in texts.iter_mut().zip(new) {
                            if *t.text != n {
                                changed = true;
                                if modify {
                                    *t.text = n;
                                }
                            }
                        }
                        if changed {
                            Verdict::Redacted(1)
                        } else {
                            Verdict::Pass
                        }
                    }
                    Err(e) => Verdict::Error(e),
                }
            }
            Body::Broken(e) => Verdict::Error(e.clone()),
        }
    }

    fn payload<'a>(&'a self, rule: &'a CompiledRule, hook: Hook, messages: Vec<Message<'a>>) -> Payload<'a> {
        Payload {
            hook: hook.as_str(),
            config: &rule.config,
            rule: &rule.rule,
            model: &self.model,
            subject: &self.subject,
            messages,
        }
    }

    /// Counts a verdict in the metrics, when the guard has them.
    fn observe(&self, rule: &CompiledRule, check: &Check, mark: Mark) {
        let Some(m) = &self.metrics else { return };
        let outcome = match mark {
            Mark::Blocked => "blocked",
            Mark::Redacted => "redacted",
            Mark::Flagged => "audit",
            Mark::Error => "error",
        };
        m.guardrail_verdict(&rule.config, check.kind, outcome);
    }

    /// Counts its verdicts in `metrics`.
    pub fn observed(mut self, metrics: Arc<crate::observability::Metrics>) -> Guard {
        self.metrics = Some(metrics);
        self
    }

    /// Records a check's verdict under its strategy; `Err` is the block.
    fn record(&self, rule: &CompiledRule, check: &Check, hook: Hook, v: Verdict) -> Result<(), ApiError> {
        use GuardrailStrategy::{Audit, Enforce, EnforceButIgnoreOnError};
        let (mark, block, outcome, count) = match (check.strategy, v) {
            (_, Verdict::Pass) => return Ok(()),
            (Audit, Verdict::Redacted(n) | Verdict::Violation(_, n)) => (Mark::Flagged, None, Outcome::Flagged, n),
            (Audit | EnforceButIgnoreOnError, Verdict::Error(e)) => {
                tracing::warn!(rule = %rule.name(), check = check.kind, at = %check.path, error = %e,
                    "a guardrail failed; its strategy lets the request through");
                (Mark::Error, None, Outcome::ErrorIgnored, 1)
            }
            (Enforce | EnforceButIgnoreOnError, Verdict::Redacted(n)) => (Mark::Redacted, None, Outcome::Redacted, n),
            (Enforce | EnforceButIgnoreOnError, Verdict::Violation(d, n)) => {
                (Mark::Blocked, Some(d), Outcome::Blocked, n)
            }
            (Enforce, Verdict::Error(e)) => {
                tracing::warn!(rule = %rule.name(), check = check.kind, at = %check.path, error = %e,
                    "a guardrail failed; the request is blocked");
                (Mark::Error, Some(format!("failed: {e}")), Outcome::ErrorBlocked, 1)
            }
        };
        let name = rule.name();
        let mut v = verdict::lock(&self.verdicts);
        v.note(rule, check, hook, outcome, count);
        if v.mark(&name, mark) {
            self.observe(rule, check, mark);
            tracing::info!(rule = %name, check = check.kind, at = %check.path, hook = %hook, verdict = mark.as_str(),
                "guardrail verdict");
        }
        let Some(detail) = block else { return Ok(()) };
        if v.mark(&name, Mark::Blocked) {
            self.observe(rule, check, Mark::Blocked);
        }
        v.blocked_by = Some(name);
        Err(ApiError::GuardrailBlocked(Box::new(Blocked {
            config: rule.config.clone(),
            rule: rule.rule.clone(),
            hook,
            check: check.kind,
            path: check.path.clone(),
            detail,
        })))
    }

    /// A streamed answer's next piece of text for one choice: adds `incoming` to what is held, runs the
    /// output checks, and returns what may be sent now (redacted). `last`: the choice has ended, so
    /// everything held is checked and released. A block ends the stream (`Err`).
    pub async fn advance(&self, held: &mut Held, incoming: &str, last: bool) -> Result<String, ApiError> {
        held.text.push_str(incoming);
        if self.audits_all && held.all.len() + incoming.len() <= MAX_WEBHOOK_HOLD {
            held.all.push_str(incoming);
        }
        let limit = if self.holds_all { MAX_WEBHOOK_HOLD } else { MAX_HOLD };
        let last = last || held.text.len() > limit;
        // Collected, not a lazy iterator: one held across the awaits below would tie the future to the
        // closures' lifetimes, and it could not be sent between threads.
        let mut checks: Vec<(&CompiledRule, &Check)> = Vec::new();
        for r in &self.rules {
            checks.extend(r.output.iter().map(|c| (r.as_ref(), c)));
        }
        let mut cut = if last {
            held.text.len()
        } else {
            checks.iter().map(|(_, c)| c.pending(&held.text)).min().unwrap_or(held.text.len())
        };
        for (rule, check) in checks {
            let v = match &check.body {
                Body::Find { detector, action } => {
                    let spans = find_before(detector, &held.text, &mut cut, last);
                    let n = spans.len() as u64;
                    match (spans.first(), action) {
                        (None, _) => Verdict::Pass,
                        (Some(s), GuardrailAction::Block) => Verdict::Violation(found(s.detail), n),
                        (Some(_), GuardrailAction::Redact) => {
                            if !check.audit() {
                                redact(&mut held.text, &spans, &mut cut);
                            }
                            Verdict::Redacted(n)
                        }
                    }
                }
                Body::Webhook(w) if last => {
                    let reply = {
                        let content = if check.audit() { held.all.as_str() } else { held.text.as_str() };
                        let messages = vec![Message { role: "assistant", content }];
                        w.call(&self.http, self.signer.as_deref(), &self.payload(rule, Hook::Output, messages)).await
                    };
                    match reply {
                        Ok(Reply::Allow) => Verdict::Pass,
                        Ok(Reply::Block(reason)) => Verdict::Violation(refused(reason), 1),
                        Ok(Reply::Rewrite(mut new)) => match new.pop() {
                            Some(n) if n != held.text => {
                                if !check.audit() {
                                    held.text = n;
                                    cut = held.text.len();
                                }
                                Verdict::Redacted(1)
                            }
                            Some(_) | None => Verdict::Pass,
                        },
                        Err(e) => Verdict::Error(e),
                    }
                }
                Body::Webhook(_) | Body::MaxChars(_) => Verdict::Pass,
                Body::Broken(e) => Verdict::Error(e.clone()),
            };
            self.record(rule, check, Hook::Output, v)?;
        }
        Ok(held.text.drain(..cut).collect())
    }
}

fn found(detail: &str) -> String {
    match detail {
        "keyword" => "found a blocked keyword".to_owned(),
        "pattern" => "found a match of its pattern".to_owned(),
        d => format!("found {d}"),
    }
}

fn refused(reason: Option<String>) -> String {
    match reason {
        Some(r) => format!("was refused by the webhook: {r}"),
        None => "was refused by the webhook".to_owned(),
    }
}
