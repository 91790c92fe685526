//! Request and response bodies of the admin API. Field names follow the manifests (docs/manifests.md).

use std::collections::BTreeSet;

use gatehouse_core::{Permission, Role, Snapshot, Team, Token, VirtualAccount};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    pub email: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `admin`, `member` or a custom role; exactly one. Default `member`.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub active: bool,
    pub teams: Vec<String>,
    pub manages: Vec<String>,
    /// The object's version, as the `ETag` header gives it (quoted); read-only: ignored when sent back.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub etag: String,
}

impl UserOut {
    pub fn from_snapshot(s: &Snapshot, email: &str) -> Option<UserOut> {
        let u = s.user(email)?;
        Some(UserOut {
            email: u.user.email.to_string(),
            display_name: u.user.display_name.clone(),
            role: u.user.role.to_string(),
            active: u.user.active,
            teams: u.member_of.iter().map(|t| t.to_string()).collect(),
            manages: u.manages.iter().map(|t| t.to_string()).collect(),
            etag: String::new(),
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Emails; every manager is also a member.
    #[serde(default)]
    pub managers: BTreeSet<String>,
    #[serde(default)]
    pub members: BTreeSet<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamOut {
    pub name: String,
    pub description: String,
    pub managers: Vec<String>,
    pub members: Vec<String>,
    /// The object's version, as the `ETag` header gives it (quoted); read-only: ignored when sent back.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub etag: String,
}

impl From<&Team> for TeamOut {
    fn from(t: &Team) -> Self {
        TeamOut {
            name: t.name.to_string(),
            description: t.description.clone(),
            managers: t.managers.iter().map(|e| e.to_string()).collect(),
            members: t.members.iter().map(|e| e.to_string()).collect(),
            etag: String::new(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// Letters, digits and hyphens; unique.
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// Permission ids, e.g. `gateway-controls:list`; at least one.
    pub permissions: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RoleOut {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub permissions: Vec<String>,
    /// `admin`, `member`, `team-manager` are built in; only `admin` cannot be edited.
    pub builtin: bool,
    pub editable: bool,
    pub deletable: bool,
    /// The object's version, as the `ETag` header gives it (quoted); read-only: ignored when sent back.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub etag: String,
}

impl From<&Role> for RoleOut {
    fn from(r: &Role) -> Self {
        RoleOut {
            name: r.name.to_string(),
            display_name: r.display_name.clone(),
            description: r.description.clone(),
            permissions: r.permissions.iter().map(|p| p.id().to_owned()).collect(),
            builtin: r.builtin.is_some(),
            editable: !r.is_admin(),
            deletable: r.builtin.is_none(),
            etag: String::new(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualAccountBody {
    pub name: String,
    pub owner_team: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Serialize, ToSchema)]
pub struct VirtualAccountOut {
    pub name: String,
    pub owner_team: String,
    pub description: String,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    /// The object's version, as the `ETag` header gives it (quoted); read-only: ignored when sent back.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub etag: String,
}

impl From<&VirtualAccount> for VirtualAccountOut {
    fn from(v: &VirtualAccount) -> Self {
        VirtualAccountOut {
            name: v.name.to_string(),
            owner_team: v.owner_team.to_string(),
            description: v.description.clone(),
            expires_at: v.expires_at,
            etag: String::new(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// A newly issued token: the only response that ever contains the secret.
#[derive(Serialize, ToSchema)]
pub struct IssuedTokenOut {
    pub id: String,
    pub name: String,
    pub token: String,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub id: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
}

impl TokenOut {
    pub fn new(t: &Token, last_used_at: Option<OffsetDateTime>) -> Self {
        TokenOut {
            id: t.id.to_string(),
            name: t.name.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// How long the previous tokens keep working: 0 to 31536000 (365 days).
    pub grace_period_seconds: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedOut {
    pub id: String,
    pub name: String,
    pub token: String,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    /// When the tokens issued before this rotation stop working.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub previous_tokens_expire_at: OffsetDateTime,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginOut {
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub password: String,
    /// Required when users change their own password (if they have one); not when someone resets another's.
    #[serde(default)]
    pub current_password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MeOut {
    pub subject: String,
    /// `user` or `virtual-account`.
    pub kind: &'static str,
    pub role: Option<String>,
    pub teams: Vec<String>,
    pub manages: Vec<String>,
    /// The caller's tenant-wide permissions (from their role).
    pub permissions: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// `user:<email>`, `team:<name>` or `virtualaccount:<name>`.
    pub subject: String,
    /// A permission id, or `use` for calling a model.
    pub permission: String,
    /// `<resource>:<name>`, `model:<account>/<model>`, or `tenant`.
    pub resource: String,
}

#[derive(Serialize, ToSchema)]
pub struct CheckOut {
    pub allowed: bool,
    pub reason: String,
}

/// One question of a batch: `POST /api/v1/authz/check`'s body, with the subject optional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckItem {
    /// `user:<email>`, `team:<name>` or `virtualaccount:<name>`; the caller when left out.
    #[serde(default)]
    pub subject: Option<String>,
    /// A permission id, or `use` for calling a model.
    pub permission: String,
    /// `<resource>:<name>`, `model:<account>/<model>`, or `tenant`.
    pub resource: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecksBody {
    /// At most 200.
    pub checks: Vec<CheckItem>,
}

#[derive(Serialize, ToSchema)]
pub struct ChecksOut {
    /// One per check, in the order asked.
    pub results: Vec<CheckOut>,
}

#[derive(Serialize, ToSchema)]
pub struct PermissionOut {
    pub id: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// False for a kind of object Gatehouse does not have yet (clusters, workspaces, ...): a role may hold
    /// the permission, but it grants nothing today.
    pub resource_exists: bool,
}

impl From<Permission> for PermissionOut {
    fn from(p: Permission) -> Self {
        PermissionOut {
            id: p.id(),
            group: p.group(),
            resource: p.kind().as_str(),
            name: p.title(),
            description: p.description(),
            resource_exists: p.kind().exists(),
        }
    }
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl crate::versioning::Versioned for $t {
            fn etag_field(&mut self) -> &mut String {
                &mut self.etag
            }
        }
    )*};
}

versioned!(UserOut, TeamOut, RoleOut, VirtualAccountOut);
