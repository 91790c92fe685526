//! Token strings: `gh_pat_<id>_<secret>`. The id finds the row; only SHA-256 of the secret is stored, and the
//! comparison is constant-time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::ids::TokenId;
use crate::model::{Subject, Token, TokenHash, TokenKind, TokenOwner};
use crate::secret::Secret;
use crate::snapshot::{token_key, Owner, Snapshot};

/// Random bytes for one token: 8 for the id, 32 for the secret. Passed in so tests control them.
pub struct TokenEntropy {
    pub id: [u8; 8],
    pub secret: [u8; 32],
}

pub fn hash_secret(secret: &str) -> TokenHash {
    TokenHash(Sha256::digest(secret.as_bytes()).into())
}

/// Makes a token and the one string that will ever show its secret.
pub fn mint(
    kind: TokenKind,
    owner: TokenOwner,
    name: &str,
    now: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    entropy: TokenEntropy,
) -> (Token, Secret<String>) {
    let id = TokenId::from_bytes(entropy.id);
    let secret = hex::encode(entropy.secret);
    let full = format!("{}{}_{}", kind.prefix(), id, secret);
    let token = Token {
        id,
        kind,
        owner,
        name: name.to_owned(),
        hash: hash_secret(&secret),
        created_at: now,
        expires_at,
        revoked: false,
    };
    (token, Secret::new(full))
}

/// Splits a presented token into kind, id and secret, without looking anything up.
pub fn parse(presented: &str) -> Option<(TokenKind, TokenId, &str)> {
    let (kind, id, secret) = split(presented)?;
    Some((kind, TokenId::new(id).ok()?, secret))
}

/// `parse` without building the `TokenId`, for the hot path.
fn split(presented: &str) -> Option<(TokenKind, &str, &str)> {
    [TokenKind::Pat, TokenKind::VirtualAccount, TokenKind::Session].into_iter().find_map(|kind| {
        let rest = presented.strip_prefix(kind.prefix())?;
        let (id, secret) = rest.split_once('_')?;
        // Exactly the ids `TokenId::new` accepts.
        token_key(id)?;
        (secret.len() == 64).then_some((kind, id, secret))
    })
}

/// Who a request acts as, and what it proved that with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub subject: Subject,
    pub credential: Credential,
}

/// What a principal presented. Only stored tokens today (personal access tokens, virtual account tokens,
/// login sessions); a signed assertion (a JWT) that names no stored token would be another variant, which
/// is why nothing may assume a principal has a token id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    Token { id: TokenId, kind: TokenKind },
}

impl Principal {
    /// The stored token the principal presented, if its credential is one.
    pub fn token(&self) -> Option<(&TokenId, TokenKind)> {
        match &self.credential {
            Credential::Token { id, kind } => Some((id, *kind)),
        }
    }
}

/// Why a token was refused. Unknown ids and wrong secrets are one case, so ids cannot be probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a token's shape at all.
    #[error("invalid token")]
    Malformed,
    /// No such token, or the wrong secret: one answer, so token ids cannot be probed.
    #[error("invalid token")]
    Invalid,
    #[error("token has expired")]
    Expired,
    /// Revoked (its message is an expired token's, as before).
    #[error("token has expired")]
    Revoked,
    /// A console session signed out or timed out.
    #[error("token has expired")]
    SessionEnded,
    #[error("the token's owner is deactivated or no longer exists")]
    OwnerInactive,
    #[error("the virtual account has expired")]
    AccountExpired,
}

impl Snapshot {
    /// The hot path's first step: token string to principal, against this snapshot only.
    pub fn authenticate(&self, presented: &str, now: OffsetDateTime) -> Result<Principal, AuthError> {
        let (kind, id, secret) = split(presented).ok_or(AuthError::Malformed)?;
        let entry = self.token_entry(id).ok_or(AuthError::Invalid)?;
        let token = &entry.token;
        let presented_hash = hash_secret(secret);
        if token.kind != kind || !bool::from(token.hash.0.ct_eq(&presented_hash.0)) {
            return Err(AuthError::Invalid);
        }
        if !token.is_live(now) {
            return Err(match (kind, token.revoked) {
                (TokenKind::Session, _) => AuthError::SessionEnded,
                (TokenKind::Pat | TokenKind::VirtualAccount, true) => AuthError::Revoked,
                (TokenKind::Pat | TokenKind::VirtualAccount, false) => AuthError::Expired,
            });
        }
        match entry.owner {
            Owner::User(id, h) => {
                if !self.user_by_id(id, h).is_some_and(|u| u.user.is_some() && u.active) {
                    return Err(AuthError::OwnerInactive);
                }
            }
            Owner::VirtualAccount(id) => {
                let va = self.vas.slots.get(id);
                if va.va.is_none() {
                    return Err(AuthError::OwnerInactive);
                }
                if va.expires_at.is_some_and(|e| now >= e) {
                    return Err(AuthError::AccountExpired);
                }
            }
        }
        Ok(Principal { subject: token.owner.subject(), credential: Credential::Token { id: token.id.clone(), kind } })
    }
}
