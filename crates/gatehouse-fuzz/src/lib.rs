//! Fuzz targets. Each takes arbitrary bytes and drives one parser an attacker or a faulty upstream can
//! reach, the way the server does; it must never panic, hang or allocate without bound. Invariants that
//! must hold for every input (a decoded frame re-encodes to the same bytes, ...) are asserted, so a
//! violation is reported as a crash like a panic would be.
//!
//! `fuzz/` runs these under libFuzzer (`scripts/fuzz.sh`); `tests/corpus.rs` replays the committed corpus
//! and every crash ever found as plain tests.

mod targets;

pub use targets::*;

/// A target: arbitrary bytes in, a panic on any failure.
pub type Target = fn(&[u8]);

/// Every target by name, as `scripts/fuzz.sh` and the corpus replay know them.
pub const TARGETS: &[(&str, Target)] = &[
    ("manifest", manifest),
    ("gateway_body", gateway_body),
    ("sse", sse),
    ("eventstream", eventstream),
    ("anthropic", anthropic),
    ("token", token),
    ("jsonrpc", jsonrpc),
];
