#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Guardrails benchmark with a small custom harness (no criterion):
//! 1. the output scanner (`Guard::advance`, what a streamed answer goes through) over an LLM-like answer cut
//!    into token-sized pieces and into larger ones: bytes per second and time per piece;
//! 2. the detectors alone on whole text (`find_pii` + `find_secrets`), bytes per second;
//! 3. the input hook on a chat request and the output hook on a whole answer (one rule: keywords + PII), time
//!    per call.
//!
//! Run: `cargo bench -p gatehouse-server --bench guardrails`. `GATEHOUSE_BENCH_SCALE` (a float, default 1.0)
//! scales the amount of text.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use gatehouse_core::limits::{Called, RequestFacts};
use gatehouse_core::spec::{GuardrailsConfig, PiiEntity};
use gatehouse_core::Subject;
use gatehouse_server::gateway::dispatch::{Request, Whole};
use gatehouse_server::guardrails::{Guard, GuardrailsTable, Held};
use serde_json::json;

/// Prose with the numbers, names and punctuation of an ordinary answer, and a value to redact in one
/// paragraph of eight.
fn answer(bytes: usize) -> String {
    let paragraphs = [
        "The quarterly report shows revenue of $1,234,567 in Q3 2024, up 12.5% on the year before. Costs rose \
         by 3.2% as the team grew from 42 to 57 people; see section 4.1 for the breakdown by region.\n",
        "To install version 2.14.3, run the installer and restart the service. If port 8080 is taken, pick \
         another one between 1024 and 65535 and update config.yaml accordingly.\n",
        "Meetings are on Tuesdays at 10:30 in room 4B. The roadmap for 2025-2026 lists three milestones: the \
         beta on 2025-03-01, general availability in June, and the European region by December.\n",
        "In short: the model handles most requests well, but long documents (over 100,000 tokens) still need \
         to be split, and tables with more than 50 columns lose their structure.\n",
        "Contact the account owner at jane.doe@example.com or on (555) 123-4567 for billing questions.\n",
        "Here is the function you asked for: fn add(a: i32, b: i32) -> i32 { a + b }. It returns the sum and \
         never panics, since i32 addition in release builds wraps.\n",
        "Historically, the bridge was built between 1883 and 1889, spans 521 metres and carried 2,000 \
         vehicles a day by 1950; today the figure is closer to 40,000.\n",
        "Your test key AKIAIOSFODNN7EXAMPLE should never be committed; rotate it and store the new one in the \
         secret manager instead.\n",
    ];
    let mut out = String::with_capacity(bytes + 512);
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(paragraphs[i % paragraphs.len()]);
        i += 1;
    }
    out
}

/// `text` in pieces of about `n` bytes, on character boundaries, as a stream delivers it.
fn pieces(text: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + n).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

fn guard(config: serde_json::Value) -> Guard {
    let config: GuardrailsConfig = serde_json::from_value(config).unwrap();
    let table = GuardrailsTable::from_configs(vec![&config]);
    let subject: Subject = "user:bench@example.com".parse().unwrap();
    let metadata = BTreeMap::new();
    let facts = RequestFacts { subject: &subject, teams: &[], call: Called::Model("mock/gpt"), metadata: &metadata };
    Guard::new(table.matching(&facts), reqwest::Client::new(), None, "mock/gpt".into(), subject.to_string())
}

fn rate(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / (1024.0 * 1024.0)
}

fn main() {
    let scale: f64 = std::env::var("GATEHOUSE_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let size = ((8 << 20) as f64 * scale) as usize;
    let text = answer(size);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    println!("output scanner (Guard::advance), {} MiB of answer text:", text.len() >> 20);
    let configs = [
        (
            "pii + secrets, redact",
            json!([{"type": "pii", "action": "redact"}, {"type": "secrets", "action": "redact"}]),
        ),
        (
            "keywords + pii, redact",
            json!([{"type": "block-keywords", "keywords": ["project falcon", "internal only"], "action": "redact"},
                                          {"type": "pii", "action": "redact"}]),
        ),
        (
            "block-regex, redact",
            json!([{"type": "block-regex", "pattern": "(?i)ticket-[0-9]{4,}", "action": "redact"}]),
        ),
    ];
    for (name, checks) in configs {
        let g = guard(json!({"name": "bench", "rules": [{"id": "out", "output_guardrails": checks}]}));
        for piece in [4usize, 64] {
            let parts = pieces(&text, piece);
            let started = Instant::now();
            let sent = rt.block_on(async {
                let mut held = Held::default();
                let mut sent = 0usize;
                for p in &parts {
                    sent += g.advance(&mut held, p, false).await.unwrap().len();
                }
                sent + g.advance(&mut held, "", true).await.unwrap().len()
            });
            let d = started.elapsed();
            black_box(sent);
            println!(
                "  {name:<24} {piece:>3}-byte pieces: {:>7.1} MiB/s, {:>6.0} ns per piece",
                rate(text.len(), d),
                d.as_nanos() as f64 / parts.len() as f64
            );
        }
    }

    println!("detectors on whole text (find_pii + find_secrets):");
    let started = Instant::now();
    let mut found = Vec::new();
    gatehouse_core::guard::find_pii(&text, &PiiEntity::ALL, &mut found);
    gatehouse_core::guard::find_secrets(&text, &mut found);
    let d = started.elapsed();
    println!("  {:>7.1} MiB/s ({} findings)", rate(text.len(), d), found.len());

    println!("input hook on a chat request (keywords + pii):");
    let g = guard(json!({"name": "bench", "rules": [{"id": "in", "input_guardrails": [
        {"type": "block-keywords", "keywords": ["project falcon", "internal only"]}, {"type": "pii", "action": "redact"}]}]}));
    let body = json!({"model": "mock/gpt", "max_tokens": 16, "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello in one short sentence."}]});
    let rounds = ((200_000.0 * scale) as usize).max(1000);
    let mut samples = Vec::with_capacity(rounds);
    rt.block_on(async {
        for _ in 0..rounds {
            let mut request = Request::Chat(serde_json::from_value(body.clone()).unwrap());
            let t = Instant::now();
            g.input(&mut request).await.unwrap();
            samples.push(t.elapsed().as_nanos() as u64);
            black_box(request);
        }
    });
    report(&mut samples);

    println!("output hook on a whole chat answer (keywords + pii):");
    let g = guard(json!({"name": "bench", "rules": [{"id": "out", "output_guardrails": [
        {"type": "block-keywords", "keywords": ["project falcon", "internal only"]}, {"type": "pii", "action": "redact"}]}]}));
    let answer = json!({"id": "c", "object": "chat.completion", "created": 0, "model": "mock/gpt",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "mock reply to: Say hello in one short sentence."}}],
        "usage": {"prompt_tokens": 8, "completion_tokens": 9, "total_tokens": 17}});
    let mut samples = Vec::with_capacity(rounds);
    rt.block_on(async {
        for _ in 0..rounds {
            let mut whole = Whole::Chat(serde_json::from_value(answer.clone()).unwrap());
            let t = Instant::now();
            g.output(&mut whole).await.unwrap();
            samples.push(t.elapsed().as_nanos() as u64);
            black_box(whole);
        }
    });
    report(&mut samples);
}

fn report(samples: &mut [u64]) {
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!("  p50 {} ns, p99 {} ns, p99.9 {} ns", pct(0.5), pct(0.99), pct(0.999));
}
