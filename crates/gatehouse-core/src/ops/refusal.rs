//! Why an operation was refused: one variant per distinct reason, carrying its data, with its message
//! rendered by `Display` and a stable machine `code` that clients and tests match on instead of prose.

use crate::decision::Deny;
use crate::field::FieldError;
use crate::ids::{Email, ResourceName, RoleName, TeamName, TokenId, VaName};
use crate::model::{Action, CollaboratorRole, Resource, Subject};
use crate::permission::{PermSet, Permission};

/// Why an operation was refused. The server maps each variant to one HTTP status in one match.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The caller lacks a permission.
    #[error("{caller} may not {permission} on {resource}: {reason}")]
    Denied { caller: Subject, permission: Permission, resource: Resource, reason: Deny },
    /// A put the caller may do neither way (create nor change): the same answer whether it exists.
    #[error("{caller} may not {create} nor {manage} {resource}")]
    MayNeither { caller: Subject, create: Permission, manage: Permission, resource: Resource },
    /// Handing out permissions the caller does not hold.
    #[error("{what} would give permissions you do not hold: {}", missing.ids())]
    WouldEscalate { what: Giving, missing: PermSet },
    /// Handing out (or acting as one who holds) a collaborator role whose actions the caller lacks.
    #[error("{what} would give (or holds) {role} on {resource}, and you may not {action} on it yourself")]
    WouldGiveCollaboratorRole { what: Giving, role: CollaboratorRole, resource: Resource, action: Action },
    /// Making someone a team manager would give them a team-manager permission the caller lacks.
    #[error(
        "making someone a manager of team {team} would give them {permission} through the team-manager role, which you do not hold"
    )]
    WouldGiveTeamManager { team: TeamName, permission: Permission },
    /// A change to a narrowed model (one with `authorized_subjects`) the caller may not use.
    #[error("{change}: {model} is narrowed by its authorized_subjects and you may not use it yourself")]
    NarrowedModel { change: NarrowedChange, model: Resource },
    /// The operation would let someone use a narrowed model the caller may not use.
    #[error("this would let {subject} use {model}, which you may not use yourself (its authorized_subjects)")]
    NarrowedGain { subject: Subject, model: Resource },
    #[error("{0}")]
    AdminOnly(AdminOnly),
    /// The target user holds more than the caller; changing them would be a way to act as them.
    #[error("{0}")]
    Outranked(Outranked),
    #[error("the built-in role {name} cannot be {}", if *deleting { "deleted" } else { "edited" })]
    BuiltinRole { name: RoleName, deleting: bool },
    #[error("personal access tokens can only be created for yourself")]
    OwnTokensOnly,
    #[error("{0} is not an active user")]
    InactiveUser(Email),
    #[error("{0}")]
    NotFound(Missing),
    #[error("{0} is the last active admin; make another admin first")]
    LastAdmin(Email),
    #[error("role {name} is held by {holders} user{}; give them another role first", plural(*holders))]
    RoleInUse { name: RoleName, holders: usize },
    #[error(
        "team {team} owns {count} virtual account{}; delete them or give them another owner team first",
        plural(*count)
    )]
    TeamOwnsVirtualAccounts { team: TeamName, count: usize },
    #[error("model {account}/{model} is named by gateway control {control}; change the control first")]
    ModelInUseByControl { account: String, model: String, control: ResourceName },
    #[error("{account} has models named by gateway control {control}; change the control first")]
    AccountInUseByControl { account: Resource, control: ResourceName },
    /// `what`: the server, or `<server>/<tool>` for a tool an edit would take away.
    #[error("MCP server {what} is named by gateway control {control}; change the control first")]
    McpServerInUseByControl { what: String, control: ResourceName },
    #[error("virtual account {0} has expired")]
    VirtualAccountExpired(VaName),
    /// An object moves its destination but keeps its stored credentials, which never follow a move.
    #[error("auth: is required when {moved} changes: stored credentials are not sent to a new destination")]
    CredentialsRequired { moved: String },
    #[error("{0}")]
    Invalid(#[from] FieldError),
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl Refusal {
    /// The stable machine code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Denied { .. } | Refusal::MayNeither { .. } => "forbidden",
            Refusal::WouldEscalate { .. }
            | Refusal::WouldGiveCollaboratorRole { .. }
            | Refusal::WouldGiveTeamManager { .. } => "would_escalate",
            Refusal::NarrowedModel { .. } | Refusal::NarrowedGain { .. } => "narrowed_model",
            Refusal::AdminOnly(_) => "admin_only",
            Refusal::Outranked(_) => "outranked",
            Refusal::BuiltinRole { .. } => "builtin_role",
            Refusal::OwnTokensOnly => "own_tokens_only",
            Refusal::InactiveUser(_) => "inactive_user",
            Refusal::NotFound(_) => "not_found",
            Refusal::LastAdmin(_) => "last_admin",
            Refusal::RoleInUse { .. } => "role_in_use",
            Refusal::TeamOwnsVirtualAccounts { .. } => "team_owns_virtual_accounts",
            Refusal::ModelInUseByControl { .. } => "model_in_use_by_control",
            Refusal::AccountInUseByControl { .. } => "account_in_use_by_control",
            Refusal::McpServerInUseByControl { .. } => "mcp_server_in_use_by_control",
            Refusal::VirtualAccountExpired(_) => "virtual_account_expired",
            Refusal::CredentialsRequired { .. } => "credentials_required",
            Refusal::Invalid(_) => "invalid_field",
        }
    }

    /// The field at fault, for a refusal that is about one.
    pub fn field(&self) -> Option<String> {
        match self {
            Refusal::Invalid(e) => Some(e.path.to_string()),
            Refusal::CredentialsRequired { .. } => Some("auth".to_owned()),
            Refusal::Denied { .. }
            | Refusal::MayNeither { .. }
            | Refusal::WouldEscalate { .. }
            | Refusal::WouldGiveCollaboratorRole { .. }
            | Refusal::WouldGiveTeamManager { .. }
            | Refusal::NarrowedModel { .. }
            | Refusal::NarrowedGain { .. }
            | Refusal::AdminOnly(_)
            | Refusal::Outranked(_)
            | Refusal::BuiltinRole { .. }
            | Refusal::OwnTokensOnly
            | Refusal::InactiveUser(_)
            | Refusal::NotFound(_)
            | Refusal::LastAdmin(_)
            | Refusal::RoleInUse { .. }
            | Refusal::TeamOwnsVirtualAccounts { .. }
            | Refusal::ModelInUseByControl { .. }
            | Refusal::AccountInUseByControl { .. }
            | Refusal::McpServerInUseByControl { .. }
            | Refusal::VirtualAccountExpired(_) => None,
        }
    }
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Refusal {
    Refusal::Invalid(FieldError::new(field, message))
}

/// What an operation hands out, as the escalation refusals name it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Giving {
    #[error("editing role {0}")]
    RoleEdit(RoleName),
    #[error("giving {user} the role {role}")]
    RoleAssignment { user: Email, role: RoleName },
    #[error("granting {0}")]
    Grant(Subject),
    #[error("adding members to team {0}")]
    TeamMembers(TeamName),
    /// Changing a user who holds it (acting as them would use it).
    #[error("changing {0}, who")]
    UserChange(Email),
}

/// A change to a narrowed model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NarrowedChange {
    #[error("removing {0}")]
    Removing(Resource),
    #[error("changing which upstream model {0} calls")]
    Retargeting(Resource),
    #[error("widening who may use {0}")]
    Widening(Resource),
    /// Another model of the account calls the same upstream model more widely.
    #[error("model {other} calls the same upstream model as {model} more widely")]
    Sibling { other: String, model: Resource },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdminOnly {
    #[error("only an admin can make an admin")]
    MakeAdmin,
    #[error("only an admin can change the admin {0}")]
    ChangeAdmin(Email),
}

/// Why a target user outranks the caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Outranked {
    #[error("{target} holds permissions you do not ({}), so you may not change them", missing.ids())]
    Permissions { target: Email, missing: PermSet },
    #[error("{target} may use {model}, which you may not; you may not change them")]
    Model { target: Email, model: Resource },
    #[error("{target} manages team {team} and so holds {permission} there, which you do not; you may not change them")]
    TeamManager { target: Email, team: TeamName, permission: Permission },
}

/// What an operation names that does not exist (or that the caller may not see).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    #[error("no role named {0}")]
    Role(RoleName),
    #[error("no user {0}")]
    User(Email),
    #[error("no team {0}")]
    Team(TeamName),
    #[error("no virtual account {0}")]
    VirtualAccount(VaName),
    #[error("no token {0}")]
    Token(TokenId),
    #[error("no {0}")]
    Resource(Resource),
}
