//! Gatehouse's domain and authorization engine. Pure: no I/O, no async, no global state.

pub mod change;
pub mod clock;
pub mod decision;
pub mod engine;
pub mod explain;
pub mod field;
pub mod guard;
pub mod ids;
pub mod limits;
pub mod model;
mod narrowing;
pub mod ops;
pub mod permission;
pub mod resource;
pub mod resource_type;
pub mod secret;
pub mod snapshot;
pub mod spec;
pub mod token;

pub use change::Change;
pub use decision::{Allow, Decision, Deny};
pub use ids::{Email, IdentityId, InvalidName, ResourceName, RoleName, TeamName, TokenId, VaName};
pub use model::{
    Action, BuiltinRole, CollaboratorRole, Grant, Resource, ResourceKind, Role, Subject, Team, Token, TokenHash,
    TokenKind, TokenOwner, User, VirtualAccount,
};
pub use ops::{execute, Op, Refusal};
pub use permission::{PermSet, Permission};
pub use secret::Secret;
pub use snapshot::{Snapshot, World};
