//! Differential testing against Cedar, in the manner of Cedar's own differential tests of its authorizer:
//! random worlds (the generators of tests/properties.rs, plus deletions that leave grants and narrowing lists
//! naming subjects and roles that are gone) translated into Cedar entities and policies
//! (tests/cedar/translate.rs); random requests decided by both `Snapshot::check` and Cedar's authorizer.
//! Every decision must agree, and the engine's reason must be one of the policies that determined Cedar's.
//!
//! Bounded by default (`cargo test -p gatehouse-core --test properties cedar`); the number of decisions is
//! `GATEHOUSE_CEDAR_CASES` (e.g. `GATEHOUSE_CEDAR_CASES=1000000`, in release, from scripts/cedar-diff.sh).
//!
//! Nothing of the engine's semantics is left out of the translation. Only what a check does not read is:
//! tokens (authentication precedes a check) and the reason's choice among several that hold (the engine
//! names one; Cedar names every satisfied policy, so the engine's must be among them).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use proptest::test_runner::{Config, TestRunner};

use super::cedar_translate::{entities_json, request, resource_uid, subject_uid, CedarWorld};
use super::*;
use gatehouse_core::Deny;

const REQUESTS_PER_WORLD: usize = 250;

fn total_cases() -> usize {
    std::env::var("GATEHOUSE_CEDAR_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000)
}

/// Removes subjects and custom roles as a store would (a deleted user leaves their teams), but leaves what
/// is keyed by name: grants, narrowing lists, virtual accounts of a deleted team, users of a deleted role.
fn delete(w: &mut World, deletions: &[(u8, u8)]) {
    for (kind, i) in deletions {
        let i = *i as usize;
        match kind % 4 {
            0 if !w.users.is_empty() => {
                let e = w.users.remove(i % w.users.len()).email;
                for t in &mut w.teams {
                    t.members.remove(&e);
                    t.managers.remove(&e);
                }
            }
            1 if !w.teams.is_empty() => {
                w.teams.remove(i % w.teams.len());
            }
            2 if !w.virtual_accounts.is_empty() => {
                w.virtual_accounts.remove(i % w.virtual_accounts.len());
            }
            3 => {
                let customs: Vec<usize> = (0..w.roles.len()).filter(|r| w.roles[*r].builtin.is_none()).collect();
                if !customs.is_empty() {
                    w.roles.remove(customs[i % customs.len()]);
                }
            }
            _ => {}
        }
    }
    // Tokens are not read by a check; dropping them keeps the world consistent after deletions.
    w.tokens.clear();
}

/// Whether Cedar's determining policies include the one that means the engine's reason.
fn reason_agrees(d: &Decision, cedar: &BTreeSet<String>) -> bool {
    let has = |id: &str| cedar.contains(id);
    match d {
        Decision::Allowed(Allow::Admin) => has("admin"),
        Decision::Allowed(Allow::Role { .. }) => has("role") || has("role-use-mcp") || has("role-use-model"),
        Decision::Allowed(Allow::TeamManager { .. }) => {
            has("team-manager") || has("team-manager-team") || has("team-manager-va")
        }
        Decision::Allowed(Allow::Grant { role, .. }) => {
            has(&format!("grant:{role}")) || has(&format!("grant:{role}:model"))
        }
        Decision::Denied(Deny::UnknownSubject) => has("unknown-subject"),
        Decision::Denied(Deny::Inactive) => has("inactive"),
        Decision::Denied(Deny::Expired) => has("expired"),
        Decision::Denied(Deny::NotApplicable { .. }) => has("not-applicable"),
        // Nothing gave it: no forbid but a closed model's may have fired.
        Decision::Denied(Deny::NotGranted { .. }) => cedar.iter().all(|id| id == "model-closed"),
    }
}

/// The Cedar entity of a uid, for a counterexample.
fn entity_of(all: &serde_json::Value, uid: &cedar_policy::EntityUid) -> String {
    let ty = uid.type_name().to_string();
    let id = uid.id().unescaped().to_owned();
    all.as_array()
        .and_then(|xs| xs.iter().find(|e| e["uid"]["type"] == ty.as_str() && e["uid"]["id"] == id.as_str()))
        .map_or_else(|| format!("{ty}::{id:?} (not in the store)"), |e| e.to_string())
}

#[test]
fn engine_agrees_with_cedar() {
    let total = total_cases();
    let worlds = total.div_ceil(REQUESTS_PER_WORLD).max(1) as u32;
    let decided = AtomicUsize::new(0);
    let allowed = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config { cases: worlds, failure_persistence: None, ..Config::default() });
    let strategy = (
        world_spec(12, boxed_mixed),
        prop::collection::vec((any::<u8>(), any::<u8>()), 0..=3),
        prop::collection::vec(
            (any::<u16>(), any::<u16>(), any::<u16>(), prop::bool::weighted(0.75)),
            REQUESTS_PER_WORLD,
        ),
    );
    let started = Instant::now();
    let result = runner.run(&strategy, |(spec, deletions, reqs)| {
        let mut w = build_world(&spec);
        delete(&mut w, &deletions);
        let snap = Snapshot::from_world(w.clone());
        let cedar = CedarWorld::new(&w);
        let mut subjects = subject_universe(&w);
        subjects.push(Subject::User(email("ghost@example.com")));
        subjects.push(Subject::Team(team_name("ghost")));
        subjects.push(Subject::VirtualAccount(va_name("ghost")));
        // Deleted subjects and roles, whose names grants and lists still carry.
        let full = build_world(&spec);
        for s in subject_universe(&full) {
            if !subjects.contains(&s) {
                subjects.push(s);
            }
        }
        let resources = resource_universe(&full);
        let actions = all_actions();
        for (s, a, r, pick_applicable) in reqs {
            let subject = &subjects[s as usize % subjects.len()];
            let resource = &resources[r as usize % resources.len()];
            let action = if pick_applicable {
                let xs = applicable_actions(resource.kind);
                xs[a as usize % xs.len()]
            } else {
                actions[a as usize % actions.len()]
            };
            let ours = snap.check(subject, action, resource, NOW);
            let response = cedar.decide(&request(subject, action, resource, NOW));
            let theirs = response.decision() == cedar_policy::Decision::Allow;
            let reasons = cedar.reasons(&response);
            decided.fetch_add(1, Ordering::Relaxed);
            allowed.fetch_add(usize::from(theirs), Ordering::Relaxed);
            if ours.is_allowed() != theirs || !reason_agrees(&ours, &reasons) {
                let all = entities_json(&w);
                let errors: Vec<String> = response.diagnostics().errors().map(|e| e.to_string()).collect();
                return Err(proptest::test_runner::TestCaseError::fail(format!(
                    "DISAGREEMENT on check({subject}, {action}, {resource}):\n  engine: {ours}\n  cedar: {:?}, \
                     determined by {reasons:?}, errors {errors:?}\n  principal: {}\n  resource: {}",
                    response.decision(),
                    entity_of(&all, &subject_uid(subject)),
                    entity_of(&all, &resource_uid(resource)),
                )));
            }
        }
        Ok(())
    });
    let n = decided.load(Ordering::Relaxed);
    println!(
        "cedar differential: {n} decisions over {worlds} worlds ({:.1}% allowed), {} disagreements, in {:.1?}",
        allowed.load(Ordering::Relaxed) as f64 / n.max(1) as f64 * 100.0,
        usize::from(result.is_err()),
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
