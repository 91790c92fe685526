//! One compiled check: what it looks for, what it does with it, and how much of a growing text it must
//! hold back to see a finding whole.

use std::time::Duration;

use gatehouse_core::guard::{self, Found};
use gatehouse_core::spec::{Guardrail, GuardrailAction, GuardrailStrategy, PiiEntity};
use regex::{Regex, RegexBuilder};

use super::webhook::Webhook;

/// A streamed answer holds back this many bytes for a `block-regex` check: a match at most this long is
/// found before any of it is sent. Longer matches may be cut by a release and missed.
pub const REGEX_HOLD: usize = 256;

/// The compiled program of a user's pattern is bounded, so that no pattern can take the gateway's memory.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;
const KEYWORDS_SIZE_LIMIT: usize = 1 << 23;

pub fn compile_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).size_limit(PATTERN_SIZE_LIMIT).build()
}

/// The keywords as one alternation of literals (an Aho-Corasick search underneath). ASCII keywords match
/// with ASCII case folding only (not the Kelvin sign for `k`), which is what lets a stream tell whether its
/// text ends in the beginning of one (`Keywords::pending`).
pub fn compile_keywords(keywords: &[String], case_sensitive: bool) -> Result<Regex, regex::Error> {
    let alternation: Vec<String> = keywords.iter().map(|k| regex::escape(k)).collect();
    RegexBuilder::new(&alternation.join("|"))
        .case_insensitive(!case_sensitive)
        .unicode(!keywords.iter().all(|k| k.is_ascii()))
        .size_limit(KEYWORDS_SIZE_LIMIT)
        .build()
}

/// What a finding-based check looks for.
pub enum Detector {
    Keywords(Keywords),
    Pattern(Regex),
    Pii(Vec<PiiEntity>),
    Secrets,
}

/// A finding: bytes `start..end`, the word of its redaction marker, and what it was (for verdicts and
/// errors; never the text itself).
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub label: &'static str,
    pub detail: &'static str,
}

impl Detector {
    pub fn find(&self, text: &str, out: &mut Vec<Span>) {
        match self {
            Detector::Keywords(k) => out.extend(k.re.find_iter(text).map(|m| Span {
                start: m.start(),
                end: m.end(),
                label: "keyword",
                detail: "keyword",
            })),
            Detector::Pattern(re) => out.extend(re.find_iter(text).filter(|m| !m.is_empty()).map(|m| Span {
                start: m.start(),
                end: m.end(),
                label: "pattern",
                detail: "pattern",
            })),
            Detector::Pii(entities) => {
                let mut found = Vec::new();
                guard::find_pii(text, entities, &mut found);
                out.extend(found.iter().map(span));
            }
            Detector::Secrets => {
                let mut found = Vec::new();
                guard::find_secrets(text, &mut found);
                out.extend(found.iter().map(span));
            }
        }
    }

    /// The earliest byte of a growing `text` from which more text could still complete a finding: a
    /// stream releases only what lies before it.
    pub fn pending(&self, text: &str) -> usize {
        match self {
            Detector::Keywords(k) => k.pending(text),
            Detector::Pattern(_) => back_off(text, REGEX_HOLD),
            Detector::Pii(_) | Detector::Secrets => guard::pending_start(text),
        }
    }
}

/// A keyword set: its automaton, and what a stream needs to know whether its text ends in the beginning of
/// a keyword.
pub struct Keywords {
    re: Regex,
    /// The longest a match can be, in bytes: a UTF-8 character is at most four, whatever case folding matched.
    hold: usize,
    /// The keywords (lower-cased unless case-sensitive), sorted, when all are ASCII; otherwise a stream holds
    /// `hold` bytes, as it cannot tell.
    ascii: Option<Vec<Vec<u8>>>,
    case_sensitive: bool,
}

impl Keywords {
    fn new(re: Regex, keywords: &[String], case_sensitive: bool) -> Keywords {
        let hold = keywords.iter().map(|k| k.chars().count()).max().unwrap_or(0) * 4;
        let ascii = keywords.iter().all(|k| k.is_ascii()).then(|| {
            let mut list: Vec<Vec<u8>> = keywords
                .iter()
                .map(|k| if case_sensitive { k.as_bytes().to_vec() } else { k.as_bytes().to_ascii_lowercase() })
                .collect();
            list.sort();
            list
        });
        Keywords { re, hold, ascii, case_sensitive }
    }

    /// The start of the longest end of `text` that begins a keyword: only that much is held, so a stream
    /// of ordinary words is not delayed by the length of the longest keyword.
    fn pending(&self, text: &str) -> usize {
        let Some(sorted) = &self.ascii else { return back_off(text, self.hold) };
        let b = text.as_bytes();
        let floor = b.len().saturating_sub(self.hold);
        let tail = if self.case_sensitive { b[floor..].to_vec() } else { b[floor..].to_ascii_lowercase() };
        for p in 0..tail.len() {
            let end = &tail[p..];
            let i = sorted.partition_point(|k| k.as_slice() < end);
            if sorted.get(i).is_some_and(|k| k.starts_with(end)) {
                return floor + p;
            }
        }
        b.len()
    }
}

fn span(f: &Found) -> Span {
    Span { start: f.start, end: f.end, label: f.class.label(), detail: f.class.detail() }
}

/// `text.len() - n`, on a character boundary at or before it.
fn back_off(text: &str, n: usize) -> usize {
    let mut at = text.len().saturating_sub(n);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

pub enum Body {
    Find {
        detector: Detector,
        action: GuardrailAction,
    },
    MaxChars(u64),
    Webhook(Webhook),
    /// A check that does not compile in this build although it was accepted when written: it fails as a
    /// guardrail error, so its strategy decides (an `enforce` check blocks rather than let text through
    /// unchecked).
    Broken(String),
}

pub struct Check {
    /// `input_guardrails[1]`: where the check is in its rule.
    pub path: String,
    /// The manifest `type`.
    pub kind: &'static str,
    pub strategy: GuardrailStrategy,
    pub body: Body,
}

impl Check {
    pub fn compile(path: String, g: &Guardrail) -> Check {
        let body = match g {
            Guardrail::BlockKeywords { keywords, case_sensitive, action, .. } => {
                match compile_keywords(keywords, *case_sensitive) {
                    Ok(re) => Body::Find {
                        detector: Detector::Keywords(Keywords::new(re, keywords, *case_sensitive)),
                        action: *action,
                    },
                    Err(e) => Body::Broken(format!("the keywords do not compile: {e}")),
                }
            }
            Guardrail::BlockRegex { pattern, action, .. } => match compile_pattern(pattern) {
                Ok(re) => Body::Find { detector: Detector::Pattern(re), action: *action },
                Err(e) => Body::Broken(format!("the pattern does not compile: {e}")),
            },
            Guardrail::MaxInputChars { limit, .. } => Body::MaxChars(*limit),
            Guardrail::RedactPii { entities, .. } => {
                Body::Find { detector: Detector::Pii(entities.clone()), action: GuardrailAction::Redact }
            }
            Guardrail::Pii { entities, action, .. } => {
                Body::Find { detector: Detector::Pii(entities.clone()), action: *action }
            }
            Guardrail::Secrets { action, .. } => Body::Find { detector: Detector::Secrets, action: *action },
            Guardrail::Webhook { url, timeout_ms, .. } => {
                Body::Webhook(Webhook { url: url.clone(), timeout: Duration::from_millis(*timeout_ms) })
            }
        };
        Check { path, kind: g.type_name(), strategy: g.strategy(), body }
    }

    pub fn audit(&self) -> bool {
        self.strategy == GuardrailStrategy::Audit
    }

    /// How much of a growing text this check holds back (see `Detector::pending`). An enforcing webhook sees
    /// a streamed answer whole, so it holds everything; an auditing one is shown a copy at the end.
    pub fn pending(&self, text: &str) -> usize {
        match &self.body {
            Body::Find { detector, .. } => detector.pending(text),
            Body::Webhook(_) if !self.audit() => 0,
            Body::Webhook(_) | Body::MaxChars(_) | Body::Broken(_) => text.len(),
        }
    }
}

/// Findings of `detector` in `text` that end at or before `*cut`; a finding that straddles the cut
/// moves it back to the finding's start (so that it is released whole, later). With `last`, the cut is
/// the end and nothing straddles it.
pub fn find_before(detector: &Detector, text: &str, cut: &mut usize, last: bool) -> Vec<Span> {
    let mut spans = Vec::new();
    detector.find(text, &mut spans);
    if !last {
        loop {
            let before = *cut;
            for s in &spans {
                if s.start < *cut && s.end > *cut {
                    *cut = s.start;
                }
            }
            if *cut == before {
                break;
            }
        }
    }
    spans.retain(|s| s.end <= *cut);
    spans
}

/// `text` with `spans` replaced by `[REDACTED:<label>]`; `cut` (a position after every span) is moved
/// by the change in length.
pub fn redact(text: &mut String, spans: &[Span], cut: &mut usize) {
    let ranges: Vec<(usize, usize)> = spans.iter().map(|s| (s.start, s.end)).collect();
    let tail = text.len() - *cut;
    *text = guard::redact_ranges(text, &ranges, |i| guard::marker(spans[i].label));
    *cut = text.len() - tail;
}
