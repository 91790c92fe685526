//! Limits that follow a routed call to the target that serves it. The admit phase charges the call to the
//! rules of the name its caller used; each target's own rules are charged when routing sends the call to
//! it (the first choice, a fallback, a virtual model's next target), before anything is sent, so a rate
//! limit or budget on a model holds however a call reaches it. A refusal by one of them moves the
//! call on to the next target, as a failure of that target would; with none left it is the call's 429.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gatehouse_core::limits::{Called, Estimate, Measure, RequestFacts};
use gatehouse_core::Subject;

use crate::error::ApiError;
use crate::limits::Admission;
use crate::state::{App, Published};

/// What charging a routed call's later targets needs, and what it charged.
pub struct Follow {
    pub app: App,
    pub view: Arc<Published>,
    pub subject: Subject,
    pub teams: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub estimate: Estimate,
    /// Counters already charged, by the admit phase or an earlier target: each is charged once per call.
    pub charged: Mutex<Vec<String>>,
    /// The admissions of later targets, each with the target it was for.
    pub admissions: Mutex<Vec<(String, Admission)>>,
}

impl Follow {
    /// Charges `served`'s rules (those not charged yet) before the call goes to it.
    pub async fn admit(&self, served: &str) -> Result<(), ApiError> {
        if self.view.limits.is_empty() {
            return Ok(());
        }
        let facts = RequestFacts {
            subject: &self.subject,
            teams: &self.teams,
            call: Called::Model(served),
            metadata: &self.metadata,
        };
        let charges: Vec<_> = {
            let charged = lock(&self.charged);
            self.view.limits.charges(&facts).into_iter().filter(|c| !charged.contains(&c.counter)).collect()
        };
        if charges.is_empty() {
            return Ok(());
        }
        let counts_tokens = charges.iter().any(|c| c.rule.measure != Measure::Requests);
        let estimate = if counts_tokens { self.estimate } else { Estimate::default() };
        let pricing = self
            .view
            .gateway
            .model(served)
            .and_then(|(_, m)| m.pricing().map(|p| (p.input_per_million_tokens, p.output_per_million_tokens)));
        let admission = self.app.limiter.admit(self.app.now(), charges, estimate, pricing).await?;
        lock(&self.charged).extend(admission.counters().map(str::to_owned));
        lock(&self.admissions).push((served.to_owned(), admission));
        Ok(())
    }

    /// The admissions of later targets, for the call to settle.
    pub fn take(&self) -> Vec<(String, Admission)> {
        std::mem::take(&mut *lock(&self.admissions))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
