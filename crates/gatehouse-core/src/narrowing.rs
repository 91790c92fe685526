//! Per-model narrowing (`authorized_subjects`) under the no-escalation rules. A list only narrows who may
//! use a model among those who may use its account, but passing it is still a way in: outside admin,
//! whoever widens who may use a narrowed model must be allowed to use that model themself, whichever way
//! they widen it (editing the list, joining a listed team, giving a listed subject the account, re-creating
//! a deleted subject's name). And a subject's deletion takes its name out of every list, so whoever
//! re-creates the name inherits nothing.

use std::collections::BTreeSet;

use crate::change::Change;
use crate::model::{Action, Resource, ResourceKind, Subject};
use crate::ops::{Ctx, NarrowedChange, Op, Refusal};
use crate::resource::{ResourceRecord, ResourceSpec};
use crate::snapshot::Snapshot;
use crate::spec::{ModelSpec, ProviderAccountSpec};

/// Whether `new` lets in anyone `old` kept out (`None`: not narrowed, everyone with the account).
fn widened(old: Option<&[Subject]>, new: Option<&[Subject]>) -> bool {
    match (old, new) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(o), Some(n)) => n.iter().any(|s| !o.contains(s)),
    }
}

fn model_resource(account: &str, model: &str) -> Resource {
    Resource::new(ResourceKind::Model, &format!("{account}/{model}"))
}

/// What a model of `account` calls upstream: its `model_id`, or on Azure the deployment it maps to.
fn upstream<'a>(account: &'a ProviderAccountSpec, m: &'a ModelSpec) -> &'a str {
    match account {
        ProviderAccountSpec::AzureOpenAi(a) => a.deployments.get(&m.name).map_or(m.model_id.as_str(), |d| d.as_str()),
        ProviderAccountSpec::OpenAi(_)
        | ProviderAccountSpec::Anthropic(_)
        | ProviderAccountSpec::AwsBedrock(_)
        | ProviderAccountSpec::OpenAiCompatible(_) => m.model_id.as_str(),
        // A virtual model calls no upstream model of its own: it is itself.
        ProviderAccountSpec::VirtualModel(_) => m.name.as_str(),
    }
}

/// A put of a provider account by someone a model's narrowing keeps out: that model may only stay as it is
/// or narrow further. Not widened (a longer or no list), not removed or pointed at another upstream model
/// (after which the same upstream model could come back open), and not copied: no other model may call its
/// upstream model with a wider list.
pub(crate) fn check_account_edit(
    cx: &Ctx<'_>,
    old: &ProviderAccountSpec,
    new: &ProviderAccountSpec,
) -> Result<(), Refusal> {
    if cx.is_admin() {
        return Ok(());
    }
    let account = new.name().as_str();
    for o in old.models() {
        let Some(list) = o.authorized_subjects.as_deref() else { continue };
        let narrowed = model_resource(account, o.name.as_str());
        if cx.allows(Action::Use, &narrowed) {
            continue;
        }
        let refuse = |change: NarrowedChange| Err(Refusal::NarrowedModel { change, model: narrowed.clone() });
        match new.model(o.name.as_str()) {
            None => return refuse(NarrowedChange::Removing(narrowed.clone())),
            Some(n) if upstream(new, n) != upstream(old, o) => {
                return refuse(NarrowedChange::Retargeting(narrowed.clone()))
            }
            Some(n) if widened(Some(list), n.authorized_subjects.as_deref()) => {
                return refuse(NarrowedChange::Widening(narrowed.clone()))
            }
            Some(_) => {}
        }
        for m in new.models().iter().filter(|m| m.name != o.name && upstream(new, m) == upstream(old, o)) {
            let unchanged = old.model(m.name.as_str()).is_some_and(|before| {
                upstream(old, before) == upstream(new, m)
                    && !widened(before.authorized_subjects.as_deref(), m.authorized_subjects.as_deref())
            });
            if !unchanged && widened(Some(list), m.authorized_subjects.as_deref()) {
                return refuse(NarrowedChange::Sibling { other: m.name.to_string(), model: narrowed.clone() });
            }
        }
    }
    Ok(())
}

/// A narrowed model and its `authorized_subjects`.
type Narrowed = (Resource, Vec<Subject>);

/// Who could use which narrowed model before an operation, to compare with after it.
pub(crate) struct Watch {
    /// (subject, model, could use it before), for models the caller may not use.
    pairs: Vec<(Subject, Resource, bool)>,
    /// The virtual account a put of it may renew (renewing gives back only what it had).
    renewed: Option<Subject>,
}

/// The subjects an operation could let past a narrowing, and the models: for an account's put, its
/// narrowed models and everyone their lists name (members of named teams included); for a grant, the
/// account's narrowed models and the grantee (with a team's members); for a role, everyone any list names;
/// otherwise every narrowed model and the one subject the operation touches (a team's new members).
pub(crate) fn watch(cx: &Ctx<'_>, op: &Op) -> Option<Watch> {
    if cx.is_admin() {
        return None;
    }
    let snap = cx.snap;
    let all = || snap.resources().narrowed_models().map(|(m, list)| (m, list.to_vec())).collect::<Vec<Narrowed>>();
    let on = |account: &str| {
        snap.resources()
            .narrowed_models()
            .filter(|(m, _)| m.parent().is_some_and(|a| a.name.as_ref() == account))
            .map(|(m, list)| (m, list.to_vec()))
            .collect::<Vec<_>>()
    };
    let members = |s: &Subject| -> Vec<Subject> {
        match s {
            Subject::Team(t) => snap
                .team(t.as_str())
                .map_or_else(Vec::new, |team| team.members.iter().cloned().map(Subject::User).collect()),
            Subject::User(_) | Subject::VirtualAccount(_) => Vec::new(),
        }
    };
    let mut renewed = None;
    // (models with their lists, extra subjects, whether each list's own subjects are candidates too)
    let (mut lists, extra, listed): (Vec<Narrowed>, Vec<Subject>, bool) = match op {
        Op::PutResource(rec) => {
            let ResourceSpec::ProviderAccount(p) = &rec.spec else { return None };
            let mut lists = on(p.name().as_str());
            // A model added now is no one's to widen: what may be declared is `check_account_edit`'s.
            for m in p.models() {
                let model = model_resource(p.name().as_str(), m.name.as_str());
                if let (Some(list), Some(_)) = (&m.authorized_subjects, snap.resources().model(&model.name)) {
                    lists.push((model, list.clone()));
                }
            }
            (lists, Vec::new(), true)
        }
        Op::PutGrant(g) if g.resource.kind == ResourceKind::ProviderAccount => {
            let mut extra = members(&g.subject);
            extra.push(g.subject.clone());
            (on(&g.resource.name), extra, false)
        }
        Op::PutGrant(_) => return None,
        Op::PutTeam(t) => {
            let old = snap.team(t.name.as_str());
            let added: Vec<Subject> = t
                .members
                .iter()
                .filter(|e| old.is_none_or(|o| !o.members.contains(*e)))
                .cloned()
                .map(Subject::User)
                .collect();
            if added.is_empty() {
                return None;
            }
            (all(), added, false)
        }
        Op::PutUser(u) => (all(), vec![Subject::User(u.email.clone())], false),
        Op::PutVirtualAccount(v) => {
            let s = Subject::VirtualAccount(v.name.clone());
            // Its managers may act as it anyway; a new account under a listed name is no renewal.
            if snap.virtual_account(v.name.as_str()).is_some() {
                renewed = Some(s.clone());
            }
            (all(), vec![s], false)
        }
        Op::PutRole(_) => (all(), Vec::new(), true),
        // None of these lets anybody past a list.
        Op::DeleteRole(_)
        | Op::DeleteUser(_)
        | Op::SetPassword { .. }
        | Op::DeleteTeam(_)
        | Op::DeleteVirtualAccount(_)
        | Op::IssueToken(_)
        | Op::RotateVirtualAccount { .. }
        | Op::RevokeToken(_)
        | Op::DeleteGrant(_)
        | Op::DeleteResource(_) => return None,
    };
    // The caller's own new accounts (earlier in the batch) carry the narrowing they just chose.
    lists.retain(|(m, _)| !m.parent().is_some_and(|a| cx.created.contains(&a)));
    if lists.is_empty() {
        return None;
    }
    let mut pairs = Vec::new();
    for (model, list) in &lists {
        let caller_may = cx.allows(Action::Use, model);
        if caller_may {
            continue;
        }
        let mut subjects: BTreeSet<Subject> = extra.iter().cloned().collect();
        if listed {
            for s in list {
                subjects.insert(s.clone());
                subjects.extend(members(s));
            }
        }
        for s in subjects {
            let could = snap.check(&s, Action::Use, model, cx.now).is_allowed();
            pairs.push((s, model.clone(), could));
        }
    }
    Some(Watch { pairs, renewed })
}

/// Refuses a gain of a narrowed model's use that the caller could not use themself (before the operation).
pub(crate) fn check_gains(w: &Watch, after: &Snapshot, now: time::OffsetDateTime) -> Result<(), Refusal> {
    for (s, model, could) in &w.pairs {
        if *could || w.renewed.as_ref() == Some(s) {
            continue;
        }
        if after.check(s, Action::Use, model, now).is_allowed() {
            return Err(Refusal::NarrowedGain { subject: s.clone(), model: model.clone() });
        }
    }
    Ok(())
}

/// A deleted subject's name leaves every list (an emptied list stays empty: nobody, the safe side).
pub(crate) fn forget(snap: &Snapshot, subject: &Subject) -> Vec<Change> {
    let accounts: BTreeSet<Resource> =
        snap.resources().models_naming(subject).iter().filter_map(Resource::parent).collect();
    let mut out = Vec::new();
    for account in accounts {
        let Some(rec) = snap.resources().get(&account) else { continue };
        let mut rec: ResourceRecord = (**rec).clone();
        if let ResourceSpec::ProviderAccount(p) = &mut rec.spec {
            for m in p.models_mut() {
                if let Some(list) = &mut m.authorized_subjects {
                    list.retain(|s| s != subject);
                }
            }
        }
        out.push(Change::PutResource(rec));
    }
    out
}
