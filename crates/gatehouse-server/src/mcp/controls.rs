//! The controls that applied to the tool calls of one POST, for its answer's headers: the
//! `x-ratelimit-*` of the tightest rate limit (as on model calls) and one `x-gatehouse-applied-controls`
//! listing the limits' entries, then the guardrails'. A batch's calls share one answer, so its header lists
//! every rule that applied to any of them, each once. An answer sent as a stream carries what was known
//! when it started: the limits and the input guardrails; what the output guardrails did is in the log.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

use crate::guardrails::Guard;
use crate::limits::admission::APPLIED;
use crate::limits::OverLimit;

#[derive(Default)]
struct State {
    /// Limits' entries (`rate-limit:<config>/<rule>`, with `;exceeded` for one that refused).
    limits: Vec<String>,
    ratelimit: Vec<(HeaderName, HeaderValue)>,
    guards: Vec<Arc<Guard>>,
}

/// Shared by the handler that answers a POST and the code that runs its tool calls.
#[derive(Clone, Default)]
pub struct Controls(Arc<Mutex<State>>);

impl Controls {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A few lists of names: never half-written, whatever a panic elsewhere left.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A call admitted by the limits: their headers, as an admission gives them.
    pub fn limited(&self, headers: Vec<(HeaderName, HeaderValue)>) {
        let mut s = self.lock();
        let mut ratelimit = Vec::new();
        for (name, value) in headers {
            if name == APPLIED {
                let entries = value.to_str().map(|v| v.split(", ").map(str::to_owned).collect()).unwrap_or_default();
                add(&mut s.limits, entries);
            } else {
                ratelimit.push((name, value));
            }
        }
        tighter(&mut s.ratelimit, ratelimit);
    }

    /// A call a limit refused (its JSON-RPC error says so): the limit's headers, bar `Retry-After`, which on
    /// an HTTP 200 would read as the whole answer's.
    pub fn exceeded(&self, o: &OverLimit) {
        let mut s = self.lock();
        add(&mut s.limits, vec![format!("{}:{};exceeded", o.kind.as_str(), o.rule)]);
        let ratelimit = o
            .headers()
            .into_iter()
            .filter(|(name, _)| name.as_str().starts_with("x-ratelimit-"))
            .filter_map(|(name, value)| Some((name, HeaderValue::try_from(value).ok()?)))
            .collect();
        tighter(&mut s.ratelimit, ratelimit);
    }

    /// A call that guardrails matched.
    pub fn guarded(&self, g: Arc<Guard>) {
        self.lock().guards.push(g);
    }

    /// The headers, on the answer to the POST.
    pub fn apply(&self, resp: &mut Response) {
        let s = self.lock();
        let mut applied = s.limits.clone();
        for g in &s.guards {
            add(&mut applied, crate::guardrails::lock(&g.verdicts()).header_entries());
        }
        for (name, value) in &s.ratelimit {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
        if applied.is_empty() {
            return;
        }
        if let Ok(v) = HeaderValue::try_from(applied.join(", ")) {
            resp.headers_mut().insert(APPLIED, v);
        }
    }
}

/// Adds entries not listed yet; an entry with marks replaces the same rule's bare one.
fn add(list: &mut Vec<String>, entries: Vec<String>) {
    for e in entries {
        let rule = e.split(';').next().unwrap_or("").to_owned();
        match list.iter().position(|x| x.split(';').next() == Some(rule.as_str())) {
            Some(i) if e.len() > list[i].len() => list[i] = e,
            Some(_) => {}
            None => list.push(e),
        }
    }
}

/// Keeps the `x-ratelimit-*` of whichever call of a batch has the fewest requests remaining, the three
/// headers of one call together.
fn tighter(kept: &mut Vec<(HeaderName, HeaderValue)>, new: Vec<(HeaderName, HeaderValue)>) {
    let remaining = |list: &[(HeaderName, HeaderValue)]| {
        list.iter()
            .find(|(n, _)| n.as_str() == "x-ratelimit-remaining-requests")
            .and_then(|(_, v)| v.to_str().ok()?.parse::<u64>().ok())
    };
    if new.is_empty() {
        return;
    }
    match (remaining(kept), remaining(&new)) {
        (Some(old), Some(n)) if n >= old => {}
        (Some(_), None) => {}
        (None | Some(_), Some(_)) | (None, None) => *kept = new,
    }
}
