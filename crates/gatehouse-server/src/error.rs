//! Request errors: one enum whose variants carry data, messages rendered by `Display`, mapped to HTTP in
//! one exhaustive match, with OpenAI-shaped bodies that carry a stable machine `code` per reason.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_core::field::{FieldError, FieldErrors, FieldPath};
use gatehouse_core::ops::{BatchRefusal, Refusal};
use gatehouse_core::token::AuthError;
use gatehouse_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An operation the core refused (permissions, the state, a field).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// An error found at `at` of a larger request (a document of an apply, a check of a batch).
    #[error("{at}: {error}")]
    Within { at: FieldPath, error: Box<ApiError> },
    #[error("{0}")]
    Unauthenticated(Unauthenticated),
    #[error("{0}")]
    Forbidden(Forbidden),
    #[error("{0}")]
    NotFound(NotFound),
    #[error("{kind} {name} already exists")]
    AlreadyExists { kind: &'static str, name: String },
    /// Other servers kept writing while this request was checked.
    #[error("the state kept changing while this request was checked (other servers are writing); try again")]
    Contention,
    #[error(transparent)]
    Invalid(FieldError),
    /// Several fields of one request at fault: all of them, so a form can show every one at once.
    #[error("{0}")]
    InvalidMany(FieldErrors),
    #[error("body: malformed JSON: {0}")]
    MalformedJson(String),
    #[error("request body is larger than the server's limit")]
    TooLarge,
    /// Too many of something: a 429 with `Retry-After` and, where there is a public limit, `x-ratelimit-*`.
    #[error("{}", limited.message(*retry_after))]
    RateLimited {
        limited: Limited,
        limit: Option<u64>,
        remaining: Option<u64>,
        /// Seconds until the window resets.
        reset: Option<u64>,
        retry_after: u64,
    },
    /// A gateway control refused: a rate limit reached or a budget spent (429).
    #[error("{0}")]
    OverLimit(Box<crate::limits::OverLimit>),
    /// A guardrail refused the call's input or output (400).
    #[error("{0}")]
    GuardrailBlocked(Box<crate::guardrails::Blocked>),
    /// The limit counters cannot be reached and the gateway fails closed (503).
    #[error("rate limits and budgets cannot be checked right now ({0}); requests are refused rather than let through unchecked")]
    LimitsUnavailable(String),
    /// A malformed `x-gatehouse-metadata` header.
    #[error("x-gatehouse-metadata: {0}")]
    InvalidMetadata(String),
    /// The server is at its limit for this kind of work (password hashing): try again shortly.
    #[error("the server is busy: try again in {retry_after} s")]
    Busy { retry_after: u64 },
    /// A self-service password change with the wrong current password.
    #[error("current_password: the current password is wrong")]
    WrongCurrentPassword,
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The upstream provider failed or answered with an error.
    #[error("{0}")]
    BadGateway(String),
    /// The upstream provider did not answer in time.
    #[error("{0}")]
    GatewayTimeout(String),
    /// The upstream provider answered with an error status (`status`); the client sees a 502 like any other
    /// upstream failure, and routing reads the status to decide on retries and fallbacks.
    #[error("{message}")]
    UpstreamStatus { status: u16, message: String },
    /// A write's `If-Match` did not hold: the object changed (or is gone) since the caller read it (412).
    #[error("{0}")]
    PreconditionFailed(Box<crate::versioning::Stale>),
    /// The database cannot be reached (503): reads and the gateway go on from the last snapshot, but a change
    /// cannot be committed, so none is acknowledged.
    #[error("the database cannot be reached right now ({0}); the change was not made: try again shortly")]
    StoreUnavailable(String),
}

/// Why a request is not authenticated: one code each. An unknown token and a wrong secret share one
/// (`invalid_token`), so token ids cannot be probed.
#[derive(Debug, thiserror::Error)]
pub enum Unauthenticated {
    #[error("missing bearer token: send Authorization: Bearer <token>")]
    MissingToken,
    /// A handler that needs a caller ran without one (the middleware always sets one).
    #[error("missing bearer token")]
    NoCaller,
    #[error("{0}")]
    Token(AuthError),
    #[error("the session cookie holds a token that is not a login session")]
    NotASession,
    /// A wrong email or password at sign-in (the same answer for an unknown or inactive account).
    #[error("invalid email or password")]
    BadLogin,
    /// The right password of a deactivated account, at the console's sign-in, so the console can say why.
    #[error("this account is deactivated: its sessions and tokens no longer work; ask an admin to reactivate it")]
    Deactivated,
    /// The token's owner vanished between authentication and the handler.
    #[error("no such {0}")]
    OwnerGone(&'static str),
    #[error("teams do not hold tokens")]
    TeamToken,
}

impl Unauthenticated {
    fn code(&self) -> &'static str {
        match self {
            Unauthenticated::MissingToken | Unauthenticated::NoCaller => "missing_token",
            Unauthenticated::Token(e) => match e {
                AuthError::Malformed => "malformed_token",
                AuthError::Invalid => "invalid_token",
                AuthError::Expired => "token_expired",
                AuthError::Revoked => "token_revoked",
                AuthError::SessionEnded => "session_ended",
                AuthError::OwnerInactive => "owner_deactivated",
                AuthError::AccountExpired => "virtual_account_expired",
            },
            Unauthenticated::NotASession => "not_a_session",
            // The API's sign-in keeps its contract: a bad login is an invalid token.
            Unauthenticated::BadLogin | Unauthenticated::TeamToken => "invalid_token",
            Unauthenticated::Deactivated => "account_deactivated",
            Unauthenticated::OwnerGone(_) => "owner_deactivated",
        }
    }
}

/// Refusals the server makes itself (the core's are `Refusal`).
#[derive(Debug, thiserror::Error)]
pub enum Forbidden {
    #[error(
        "refused a cross-site request: with the console's session cookie, a {method} needs the session's {header} header"
    )]
    CrossSite { method: String, header: &'static str },
    /// The same for a model that does not exist and one the caller may not use: no existence oracle.
    #[error("{subject} is not authorized to access model {model} or model does not exist")]
    Model { subject: String, model: String },
    /// The same for an MCP server that does not exist and one the caller may not use.
    #[error("{subject} is not authorized to access MCP server {server} or MCP server does not exist")]
    McpServer { subject: String, server: String },
    #[error("{caller} may not see who uses {resource}: that needs provider-account:manage on it, or role:list")]
    AccountUsers { caller: String, resource: String },
    #[error("{caller} may see only their own access: seeing {subject}'s needs role:list")]
    OthersAccess { caller: String, subject: String },
    #[error("{caller} may ask only about themself: asking about {subject} needs role:list")]
    OthersCheck { caller: String, subject: String },
    #[error("{caller} may see only their own limits: seeing {subject}'s needs gateway-controls:list")]
    OthersLimits { caller: String, subject: String },
    #[error("the audit log is for admins")]
    AuditLog,
    #[error("only users have personal access tokens")]
    UsersOnly,
    #[error("setup is done: an active admin exists; sign in, or ask an admin for an account")]
    SetupDone,
    #[error("code: not the setup code this server printed at start-up, or it was used already; restart the server for a new one")]
    SetupCode,
}

impl Forbidden {
    fn code(&self) -> &'static str {
        match self {
            Forbidden::CrossSite { .. } => "csrf_header_required",
            Forbidden::Model { .. } => "model_access_denied",
            Forbidden::McpServer { .. } => "mcp_server_access_denied",
            Forbidden::AccountUsers { .. }
            | Forbidden::OthersAccess { .. }
            | Forbidden::OthersCheck { .. }
            | Forbidden::OthersLimits { .. } => "forbidden",
            Forbidden::AuditLog => "admin_only",
            Forbidden::UsersOnly => "users_only",
            Forbidden::SetupDone => "already_set_up",
            Forbidden::SetupCode => "invalid_setup_code",
        }
    }
}

/// What a request names that does not exist (or that the caller may not see), outside the core's refusals.
#[derive(Debug, thiserror::Error)]
pub enum NotFound {
    #[error("no such route")]
    Route,
    #[error("no {kind} {name}")]
    Named { kind: &'static str, name: String },
    #[error("virtual account {va} has no token {id}")]
    VaToken { va: String, id: String },
    #[error("no such subject {0}")]
    Subject(String),
    #[error("no object of that name that you may read")]
    Readable,
    /// An MCP session id that is unknown, ended, or not the caller's (the same answer for each).
    #[error("no such MCP session: start a new one with initialize")]
    McpSession,
}

/// What a 429 is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    /// Failed sign-ins, per account and per address.
    SignIn,
}

impl Limited {
    fn message(self, retry_after: u64) -> String {
        match self {
            Limited::SignIn => format!("too many failed sign-ins: try again in {retry_after} s"),
        }
    }

    fn code(self) -> &'static str {
        match self {
            Limited::SignIn => "too_many_attempts",
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub message: String,
    /// The broad class, as OpenAI names them: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `not_found_error`, `conflict_error`, `rate_limit_error`, `server_error`,
    /// `upstream_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The stable machine code of this reason (`last_admin`, `role_in_use`, `would_escalate`,
    /// `invalid_field`, `invalid_token`, ...): match on it, not on the message.
    pub code: &'static str,
    /// For invalid requests: the field at fault, as a path (`document 3: rules[0].limit_to`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// For invalid requests: every field at fault, in the order found (`param` and `message` describe the
    /// first), so a form can show them all at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorOut>>,
}

/// One field at fault: where (as `param` is written) and why, without the path.
#[derive(Serialize, ToSchema)]
pub struct FieldErrorOut {
    /// The field, as a path (`rules[0].limit_to`, `document 2: name`).
    pub param: String,
    /// What is wrong with it (`must be greater than 0`).
    pub message: String,
}

const FORBIDDEN: (StatusCode, &str) = (StatusCode::FORBIDDEN, "permission_error");
const CONFLICT: (StatusCode, &str) = (StatusCode::CONFLICT, "conflict_error");
const INVALID: (StatusCode, &str) = (StatusCode::BAD_REQUEST, "invalid_request_error");

fn refusal_parts(r: &Refusal) -> (StatusCode, &'static str) {
    match r {
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
        | Refusal::InactiveUser(_) => FORBIDDEN,
        Refusal::NotFound(_) => (StatusCode::NOT_FOUND, "not_found_error"),
        Refusal::LastAdmin(_)
        | Refusal::RoleInUse { .. }
        | Refusal::TeamOwnsVirtualAccounts { .. }
        | Refusal::ModelInUseByControl { .. }
        | Refusal::AccountInUseByControl { .. }
        | Refusal::McpServerInUseByControl { .. }
        | Refusal::VirtualAccountExpired(_) => CONFLICT,
        Refusal::CredentialsRequired { .. } | Refusal::Invalid(_) => INVALID,
    }
}

impl ApiError {
    pub fn invalid(field: impl Into<FieldPath>, message: impl Into<String>) -> Self {
        ApiError::Invalid(FieldError::new(field, message))
    }

    pub fn not_found(kind: &'static str, name: impl ToString) -> Self {
        ApiError::NotFound(NotFound::Named { kind, name: name.to_string() })
    }

    pub fn already_exists(kind: &'static str, name: impl ToString) -> Self {
        ApiError::AlreadyExists { kind, name: name.to_string() }
    }

    /// Sign-in throttling: wait `retry_after` seconds.
    pub fn too_many_attempts(retry_after: u64) -> Self {
        ApiError::RateLimited { limited: Limited::SignIn, limit: None, remaining: None, reset: None, retry_after }
    }

    /// This error as found at `at` of a larger request: a field error's path grows, a refusal is wrapped
    /// (its message prefixed), and anything not about the request's content passes unchanged.
    pub fn within(self, at: FieldPath) -> ApiError {
        let documented = at.in_document().is_some();
        match self {
            ApiError::Invalid(e) | ApiError::Refused(Refusal::Invalid(e)) => {
                if documented && e.path.in_document().is_some() {
                    ApiError::Invalid(e)
                } else {
                    ApiError::Invalid(e.within(at))
                }
            }
            ApiError::InvalidMany(all) => ApiError::InvalidMany(all.map(|e| {
                if documented && e.path.in_document().is_some() {
                    e
                } else {
                    e.within(at.clone())
                }
            })),
            ApiError::Within { at: inner, error } if documented && inner.in_document().is_some() => {
                ApiError::Within { at: inner, error }
            }
            e @ (ApiError::Refused(_)
            | ApiError::Within { .. }
            | ApiError::Forbidden(_)
            | ApiError::NotFound(_)
            | ApiError::AlreadyExists { .. }) => ApiError::Within { at, error: Box::new(e) },
            e @ (ApiError::Unauthenticated(_)
            | ApiError::Contention
            | ApiError::MalformedJson(_)
            | ApiError::TooLarge
            | ApiError::RateLimited { .. }
            | ApiError::OverLimit(_)
            | ApiError::GuardrailBlocked(_)
            | ApiError::LimitsUnavailable(_)
            | ApiError::InvalidMetadata(_)
            | ApiError::Busy { .. }
            | ApiError::WrongCurrentPassword
            | ApiError::MethodNotAllowed(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::Internal(_)
            | ApiError::BadGateway(_)
            | ApiError::GatewayTimeout(_)
            | ApiError::UpstreamStatus { .. }
            | ApiError::PreconditionFailed(_)
            | ApiError::StoreUnavailable(_)) => e,
        }
    }

    /// Status, type and code: the one place errors meet HTTP.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        let (status, kind): (StatusCode, &'static str) = match self {
            ApiError::Refused(r) => refusal_parts(r),
            ApiError::Within { error, .. } => return error.parts(),
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "authentication_error"),
            ApiError::Forbidden(_) | ApiError::WrongCurrentPassword => FORBIDDEN,
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found_error"),
            ApiError::AlreadyExists { .. } | ApiError::Contention => CONFLICT,
            ApiError::Invalid(_) | ApiError::InvalidMany(_) | ApiError::MalformedJson(_) => INVALID,
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error"),
            ApiError::RateLimited { .. } | ApiError::OverLimit(_) => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error")
            }
            ApiError::LimitsUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
            ApiError::InvalidMetadata(_) | ApiError::GuardrailBlocked(_) => INVALID,
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request_error"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
            ApiError::BadGateway(_) | ApiError::UpstreamStatus { .. } => (StatusCode::BAD_GATEWAY, "upstream_error"),
            ApiError::GatewayTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_error"),
            ApiError::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, "conflict_error"),
            ApiError::StoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
        };
        (status, kind, self.code())
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Refused(r) => r.code(),
            ApiError::Within { error, .. } => error.code(),
            ApiError::Unauthenticated(u) => u.code(),
            ApiError::Forbidden(f) => f.code(),
            ApiError::NotFound(_) => "not_found",
            ApiError::AlreadyExists { .. } => "already_exists",
            ApiError::Contention => "state_contention",
            ApiError::Invalid(_) | ApiError::InvalidMany(_) => "invalid_field",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::TooLarge => "body_too_large",
            ApiError::RateLimited { limited, .. } => limited.code(),
            ApiError::OverLimit(o) => o.code(),
            ApiError::LimitsUnavailable(_) => "limits_unavailable",
            ApiError::InvalidMetadata(_) => "invalid_metadata",
            ApiError::GuardrailBlocked(_) => "guardrail_blocked",
            ApiError::Busy { .. } => "server_busy",
            ApiError::WrongCurrentPassword => "wrong_current_password",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Internal(_) => "internal_error",
            ApiError::BadGateway(_) | ApiError::UpstreamStatus { .. } => "upstream_failed",
            ApiError::GatewayTimeout(_) => "upstream_timeout",
            ApiError::PreconditionFailed(_) => "precondition_failed",
            ApiError::StoreUnavailable(_) => "store_unavailable",
        }
    }

    /// The field at fault, for the body's `param`.
    pub fn param(&self) -> Option<String> {
        match self {
            ApiError::Refused(r) => r.field(),
            ApiError::Within { at, error } => error.param().map(|p| FieldPath::parse(&p).under(at.clone()).to_string()),
            ApiError::Invalid(e) => Some(e.path.to_string()),
            ApiError::InvalidMany(all) => all.first().map(|e| e.path.to_string()),
            ApiError::MalformedJson(_) => Some("body".to_owned()),
            ApiError::WrongCurrentPassword => Some("current_password".to_owned()),
            ApiError::InvalidMetadata(_) => Some("x-gatehouse-metadata".to_owned()),
            ApiError::Unauthenticated(_)
            | ApiError::Forbidden(_)
            | ApiError::NotFound(_)
            | ApiError::AlreadyExists { .. }
            | ApiError::Contention
            | ApiError::TooLarge
            | ApiError::RateLimited { .. }
            | ApiError::OverLimit(_)
            | ApiError::GuardrailBlocked(_)
            | ApiError::LimitsUnavailable(_)
            | ApiError::Busy { .. }
            | ApiError::MethodNotAllowed(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::Internal(_)
            | ApiError::BadGateway(_)
            | ApiError::GatewayTimeout(_)
            | ApiError::UpstreamStatus { .. }
            | ApiError::PreconditionFailed(_)
            | ApiError::StoreUnavailable(_) => None,
        }
    }

    /// Headers the answer carries besides its body.
    fn headers(&self) -> Vec<(HeaderName, String)> {
        match self {
            ApiError::RateLimited { limit, remaining, reset, retry_after, .. } => {
                let mut out = vec![(axum::http::header::RETRY_AFTER, retry_after.to_string())];
                let named =
                    [("x-ratelimit-limit", limit), ("x-ratelimit-remaining", remaining), ("x-ratelimit-reset", reset)];
                out.extend(
                    named.into_iter().filter_map(|(n, v)| Some((HeaderName::from_static(n), (*v)?.to_string()))),
                );
                out
            }
            ApiError::OverLimit(o) => o.headers(),
            ApiError::Busy { retry_after } => vec![(axum::http::header::RETRY_AFTER, retry_after.to_string())],
            ApiError::StoreUnavailable(_) => vec![(axum::http::header::RETRY_AFTER, "1".to_owned())],
            ApiError::Within { error, .. } => error.headers(),
            // The current version, for a client that may read it, to retry against.
            ApiError::PreconditionFailed(s) => {
                s.current.iter().map(|e| (axum::http::header::ETAG, e.as_str().to_owned())).collect()
            }
            ApiError::Refused(_)
            | ApiError::Unauthenticated(_)
            | ApiError::Forbidden(_)
            | ApiError::NotFound(_)
            | ApiError::AlreadyExists { .. }
            | ApiError::Contention
            | ApiError::Invalid(_)
            | ApiError::InvalidMany(_)
            | ApiError::MalformedJson(_)
            | ApiError::TooLarge
            | ApiError::WrongCurrentPassword
            | ApiError::LimitsUnavailable(_)
            | ApiError::InvalidMetadata(_)
            | ApiError::GuardrailBlocked(_)
            | ApiError::MethodNotAllowed(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::Internal(_)
            | ApiError::BadGateway(_)
            | ApiError::GatewayTimeout(_)
            | ApiError::UpstreamStatus { .. } => Vec::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, code) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let param = self.param();
        let headers = self.headers();
        let errors = self.field_errors();
        let body = ErrorBody { error: ErrorDetail { message: self.to_string(), kind, code, param, errors } };
        let mut resp = (status, Json(body)).into_response();
        for (name, value) in headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

impl From<BatchRefusal> for ApiError {
    fn from(r: BatchRefusal) -> Self {
        r.refusal.into()
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::Unauthenticated(Unauthenticated::Token(e))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            return ApiError::StoreUnavailable(e.to_string());
        }
        ApiError::Internal(e.to_string())
    }
}

impl From<gatehouse_core::InvalidName> for ApiError {
    fn from(e: gatehouse_core::InvalidName) -> Self {
        ApiError::Invalid(e.into())
    }
}

impl ApiError {
    /// Every field at fault, for the body's `errors`: `None` for an error that is not about fields.
    pub fn field_errors(&self) -> Option<Vec<FieldErrorOut>> {
        let out = |e: &FieldError| FieldErrorOut { param: e.path.to_string(), message: e.message.clone() };
        match self {
            ApiError::Invalid(e) | ApiError::Refused(Refusal::Invalid(e)) => Some(vec![out(e)]),
            ApiError::InvalidMany(all) => Some(all.iter().map(out).collect()),
            ApiError::Within { at, error } => error.field_errors().map(|list| {
                list.into_iter()
                    .map(|f| FieldErrorOut {
                        param: FieldPath::parse(&f.param).under(at.clone()).to_string(),
                        message: f.message,
                    })
                    .collect()
            }),
            // A refusal or failure that names a field but is about more than its value: `param` says it.
            ApiError::Refused(_)
            | ApiError::Unauthenticated(_)
            | ApiError::Forbidden(_)
            | ApiError::NotFound(_)
            | ApiError::AlreadyExists { .. }
            | ApiError::Contention
            | ApiError::MalformedJson(_)
            | ApiError::TooLarge
            | ApiError::RateLimited { .. }
            | ApiError::OverLimit(_)
            | ApiError::GuardrailBlocked(_)
            | ApiError::LimitsUnavailable(_)
            | ApiError::InvalidMetadata(_)
            | ApiError::Busy { .. }
            | ApiError::WrongCurrentPassword
            | ApiError::MethodNotAllowed(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::Internal(_)
            | ApiError::BadGateway(_)
            | ApiError::GatewayTimeout(_)
            | ApiError::UpstreamStatus { .. }
            | ApiError::PreconditionFailed(_)
            | ApiError::StoreUnavailable(_) => None,
        }
    }

    /// One error for all the fields found at fault: the one itself when there is one.
    pub fn from_fields(all: FieldErrors) -> Result<(), ApiError> {
        let mut list = all.into_vec();
        match list.len() {
            0 => Ok(()),
            1 => Err(ApiError::Invalid(list.remove(0))),
            _ => Err(ApiError::InvalidMany(list.into_iter().collect())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_answers_with_its_headers() {
        let e = ApiError::RateLimited {
            limited: Limited::SignIn,
            limit: Some(10),
            remaining: Some(0),
            reset: Some(30),
            retry_after: 30,
        };
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(h("retry-after").as_deref(), Some("30"));
        assert_eq!(h("x-ratelimit-limit").as_deref(), Some("10"));
        assert_eq!(h("x-ratelimit-remaining").as_deref(), Some("0"));
        assert_eq!(h("x-ratelimit-reset").as_deref(), Some("30"));
    }

    #[test]
    fn an_error_within_a_document_keeps_its_code_and_grows_its_path() {
        let e =
            ApiError::from(Refusal::CredentialsRequired { moved: "base_url".into() }).within(FieldPath::document(2));
        assert_eq!(e.code(), "credentials_required");
        assert_eq!(e.param().as_deref(), Some("document 2: auth"));
        assert!(e.to_string().starts_with("document 2: auth: is required when base_url changes"));
        let e = ApiError::invalid("rules[0].limit_to", "must be positive").within(FieldPath::document(3));
        assert_eq!(e.param().as_deref(), Some("document 3: rules[0].limit_to"));
        assert_eq!(e.to_string(), "document 3: rules[0].limit_to: must be positive");
        // Once placed, a document is not placed again.
        let again = e.within(FieldPath::document(4));
        assert_eq!(again.param().as_deref(), Some("document 3: rules[0].limit_to"));
        assert_eq!(ApiError::TooLarge.within(FieldPath::document(1)).code(), "body_too_large");
    }
}
