//! Where counters live: one interface, kept in process (`memory`) or in Redis (`redis`), so that a
//! deployment of several replicas shares one count.
//!
//! Every backend admits all of a request's counters or none, atomically: with 200 requests racing for a
//! limit of N, exactly N get through, however the counters are spread.

use async_trait::async_trait;
use gatehouse_core::limits::{Full, Period};
use time::OffsetDateTime;

/// One counter a request asks to be charged against.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    /// The counter's key (`gatehouse_core::limits::Charge::counter`).
    pub counter: &'a str,
    pub period: Period,
    pub limit: u64,
    pub amount: u64,
    /// Whether this counter may refuse the request; one that may not is charged all the same.
    pub decides: bool,
}

/// What an admitted charge holds: where its amount was counted, for settling, and what counts now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// The bucket or period the amount was counted in.
    pub slot: i64,
    /// What counts in the counter after this admission.
    pub used: u64,
}

/// The outcome of an admission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every counter was charged; one `Held` per ask, in order.
    Admitted(Vec<Held>),
    /// Nothing was charged: the ask at `index` does not fit.
    Refused { index: usize, full: Full },
}

/// A correction of an earlier charge: the real amount minus what was reserved.
#[derive(Clone, Copy, Debug)]
pub struct Correction<'a> {
    pub counter: &'a str,
    pub period: Period,
    pub slot: i64,
    pub delta: i64,
}

/// The counters could not be reached (Redis down): the gateway then follows its failure mode.
#[derive(Debug, thiserror::Error)]
#[error("the limit counters are unavailable: {0}")]
pub struct Unavailable(pub String);

#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Checks every deciding ask and, if all fit, charges every ask; otherwise charges nothing.
    async fn admit(&self, now: OffsetDateTime, asks: &[Ask<'_>]) -> Result<Verdict, Unavailable>;

    /// Applies corrections; returns what counts in each counter afterwards, in order.
    async fn settle(&self, now: OffsetDateTime, corrections: &[Correction<'_>]) -> Result<Vec<u64>, Unavailable>;

    /// What counts now in each counter (0 for one never charged).
    async fn peek(&self, now: OffsetDateTime, counters: &[(&str, Period)]) -> Result<Vec<u64>, Unavailable>;

    /// `memory` or `redis`, for logs and `/readyz`-style reports.
    fn backend(&self) -> &'static str;
}
