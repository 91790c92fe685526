//! Issue #9, the request log's and the audit log's findings: bounded rows, identities rather than names,
//! client numbers and times that cannot panic or fail a write, bodies logged when asked (bounded and
//! redacted), request ids, explanations of someone else's access, and no fingerprints of secrets.

mod audit;
mod bodies;
mod bounded;
mod explain;
mod identities;
mod numbers_and_times;
