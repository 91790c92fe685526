//! Who made a request, as the request log, usage and usage series filter it: a user, a team (its members
//! and its virtual accounts), a virtual account. Each narrows the subject names a read covers; the caller's
//! readable identities still bound it, so a filter can only ever show less.

use std::collections::BTreeSet;

use gatehouse_core::token::Principal;
use gatehouse_core::{Email, Permission, Resource, Subject, TeamName, VaName};

use super::can;
use crate::error::ApiError;
use crate::state::App;

/// The `user`, `team` and `virtual_account` query parameters, as given.
#[derive(Default)]
pub struct WhoFilter {
    pub user: Option<String>,
    pub team: Option<String>,
    pub virtual_account: Option<String>,
}

impl WhoFilter {
    /// The subject names (`user:<email>`, `virtualaccount:<name>`) the parameters allow, all of them holding
    /// at once; `None` when none is set. A team stands for its members and virtual accounts as they are now.
    /// A team the caller may not read is refused like one that does not exist, so the filter tells nobody
    /// which teams there are.
    pub fn subjects(&self, app: &App, p: &Principal) -> Result<Option<Vec<String>>, ApiError> {
        let mut sets: Vec<BTreeSet<String>> = Vec::new();
        if let Some(user) = &self.user {
            let email = Email::new(user).map_err(|e| ApiError::invalid("user", e.to_string()))?;
            sets.push(BTreeSet::from([Subject::User(email).to_string()]));
        }
        if let Some(va) = &self.virtual_account {
            let name = VaName::new(va).map_err(|e| ApiError::invalid("virtual_account", e.to_string()))?;
            sets.push(BTreeSet::from([Subject::VirtualAccount(name).to_string()]));
        }
        if let Some(team) = &self.team {
            sets.push(team_subjects(app, p, team)?);
        }
        let mut sets = sets.into_iter();
        let Some(first) = sets.next() else { return Ok(None) };
        let all = sets.fold(first, |acc, s| acc.intersection(&s).cloned().collect());
        Ok(Some(all.into_iter().collect()))
    }
}

fn team_subjects(app: &App, p: &Principal, team: &str) -> Result<BTreeSet<String>, ApiError> {
    let name = TeamName::new(team).map_err(|e| ApiError::invalid("team", e.to_string()))?;
    let s = app.snapshot();
    let unknown = || ApiError::invalid("team", format!("no team named {team:?} that you may read"));
    if !can(&s, &p.subject, Permission::TeamRead, &Resource::team(&name), app.now()) {
        return Err(unknown());
    }
    let t = s.team(name.as_str()).ok_or_else(unknown)?;
    let members = t.members.iter().map(|e| Subject::User(e.clone()).to_string());
    let accounts = s.team_virtual_accounts(name.as_str()).map(|v| Subject::VirtualAccount(v.clone()).to_string());
    Ok(members.chain(accounts).collect())
}
