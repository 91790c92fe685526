//! Where counters live: one interface, kept in process (`memory`) or in Redis (`redis`), so that a
//! deployment of several replicas shares one count.
//!
//! Every backend admits all of a request's counters or none, atomically: with 200 requests racing for a
//! limit of N, exactly N get through, however the counters are spread.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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

/// What a counter holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub used: u64,
    /// The oldest slot still counting a non-zero amount (`None` when nothing counts): for a sliding window,
    /// some of the count leaves when this slot does (`Period::expires`).
    pub oldest: Option<i64>,
}

/// The counters could not be reached (Redis down): the gateway then follows its failure mode.
#[derive(Debug, thiserror::Error)]
#[error("the limit counters are unavailable: {0}")]
pub struct Unavailable(pub String);

/// What a calendar counter (a budget) held before it was lost: `(counter, period_start)` (the period's start
/// in Unix seconds, which is also its slot) to the amount spent in that period so far, from the store.
pub type Rebuild = Arc<dyn Fn(&str, i64) -> RebuildFuture + Send + Sync>;
pub type RebuildFuture = Pin<Box<dyn Future<Output = Result<u64, String>> + Send>>;

#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Checks every deciding ask and, if all fit, charges every ask; otherwise charges nothing.
    async fn admit(&self, now: OffsetDateTime, asks: &[Ask<'_>]) -> Result<Verdict, Unavailable>;

    /// Applies corrections; returns what counts in each counter afterwards, in order.
    async fn settle(&self, now: OffsetDateTime, corrections: &[Correction<'_>]) -> Result<Vec<u64>, Unavailable>;

    /// What counts now in each counter (0 for one never charged).
    async fn peek(&self, now: OffsetDateTime, counters: &[(&str, Period)]) -> Result<Vec<u64>, Unavailable> {
        Ok(self.usage(now, counters).await?.into_iter().map(|u| u.used).collect())
    }

    /// What counts now in each counter, and since when: for reports (`GET /api/v1/limits`).
    async fn usage(&self, now: OffsetDateTime, counters: &[(&str, Period)]) -> Result<Vec<Usage>, Unavailable>;

    /// Where calendar counters found missing at admission are rebuilt from. Spend is money: a backend that
    /// can lose counters while the gateway runs (Redis emptied, restarted without persistence, evicting)
    /// asks `rebuild` for the period's spend when an admission finds a calendar counter missing, seeds the
    /// counter with it unless another replica has already done so, then admits. Sliding windows (rate
    /// limits) are never rebuilt: a missing one counts zero.
    ///
    /// `rebuild` is also asked by the first admission of each new period (the old period's counter has
    /// expired), and should answer the spend recorded in the store for `[period_start, now]`. A failing or
    /// slow rebuild makes the admission `Unavailable`, never a reset budget. Reservations in flight when the
    /// counter was lost are not in the store yet: their settlements then correct a count that never held
    /// them, so a rebuilt counter may undercount by what was in flight. A settlement never recreates a
    /// missing calendar counter by itself: that would hide the loss from the next admission.
    ///
    /// The default ignores it: in-process counters (`MemoryCounters`) live exactly as long as the process,
    /// so they are seeded once at start-up (`MemoryCounters::seed`) and never go missing afterwards.
    fn set_rebuild(&self, _rebuild: Rebuild) {}

    /// `memory` or `redis`, for logs and `/readyz`-style reports.
    fn backend(&self) -> &'static str;
}
