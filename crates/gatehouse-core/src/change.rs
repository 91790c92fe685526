//! A committed change, as written to the store and applied to the snapshot.

use time::OffsetDateTime;

use crate::ids::{Email, IdentityId, RoleName, TeamName, TokenId, VaName};
use crate::model::{Grant, Resource, Role, Subject, Team, Token, User, VirtualAccount};
use crate::resource::ResourceRecord;
use crate::secret::Secret;

#[derive(Clone, Debug)]
pub enum Change {
    PutRole(Role),
    DeleteRole(RoleName),
    PutUser(User),
    DeleteUser(Email),
    /// An argon2id PHC string; never held by the snapshot.
    SetPassword {
        email: Email,
        hash: Secret<String>,
    },
    PutTeam(Team),
    DeleteTeam(TeamName),
    PutVirtualAccount(VirtualAccount),
    DeleteVirtualAccount(VaName),
    PutToken(Token),
    SetTokenExpiry {
        id: TokenId,
        expires_at: Option<OffsetDateTime>,
    },
    RevokeToken(TokenId),
    PutGrant(Grant),
    DeleteGrant(Grant),
    PutResource(ResourceRecord),
    DeleteResource(Resource),
    /// The identity of a user or virtual account just created (see `IdentityId`). Written by the server
    /// after `plan`, which is pure and draws no random numbers; ignored for a subject that does not exist.
    AssignIdentity {
        subject: Subject,
        id: IdentityId,
    },
}
