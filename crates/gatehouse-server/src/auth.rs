//! Deny by default: every route needs a principal except the few listed here; an ordered list of
//! authenticators finds it.

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use gatehouse_core::token::Principal;
use gatehouse_core::TokenKind;
use time::OffsetDateTime;

use crate::console::{assets, session};
use crate::error::{ApiError, Forbidden, Unauthenticated};
use crate::state::{App, Published};

/// The only routes reachable without a token: health, the two ways to sign in, and the console's page
/// and files (which hold no data; everything they show comes from the API).
pub const OPEN_ROUTES: &[(Method, &str)] = &[
    (Method::GET, "/healthz"),
    (Method::GET, "/readyz"),
    // Open to the auth layer: the handler admits the loopback or the metrics token (`observability`).
    (Method::GET, "/metrics"),
    (Method::POST, "/api/v1/auth/login"),
    (Method::POST, "/api/v1/auth/session"),
    (Method::GET, "/"),
    (Method::GET, assets::STYLE_PATH),
    (Method::GET, "/api/v1/setup"),
    (Method::POST, "/api/v1/setup"),
];

pub fn is_open(method: &Method, path: &str) -> bool {
    // HEAD is a GET without the body.
    let method = if method == Method::HEAD { &Method::GET } else { method };
    OPEN_ROUTES.iter().any(|(m, p)| m == method && *p == path)
        || (method == Method::GET && assets::is_script(path))
        || (method == Method::GET && path.starts_with(crate::mcp::discovery::METADATA_PREFIX))
}

pub fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The token from `Authorization: Bearer`, or else from `x-api-key`, which Anthropic's SDKs send instead.
/// Either way it is the same token, checked the same way.
pub fn token(req: &Request) -> Option<&str> {
    bearer(req).or_else(|| req.headers().get("x-api-key")?.to_str().ok().map(str::trim))
}

/// What one authenticator made of a request.
pub enum Attempt {
    /// The request carries nothing this authenticator reads: the next one is asked.
    NotMine,
    Authenticated(Authenticated),
    /// The request carries this authenticator's credential and it does not do: no other is asked.
    Refused(ApiError),
}

/// A principal, and what else the authenticator learned that handlers may need.
pub struct Authenticated {
    pub principal: Principal,
    /// Set by the console's cookie authenticator: the session's CSRF token, for the page.
    pub cookie: Option<session::CookieSession>,
}

/// One way to prove who a request is. Each is asked in turn (`AUTHENTICATORS`) against the one view the
/// request loaded.
pub trait Authenticator: Sync {
    fn authenticate(&self, req: &Request, view: &Published, now: OffsetDateTime) -> Attempt;
}

/// A token in `Authorization: Bearer` or `x-api-key`.
pub struct BearerToken;

/// The console's login session in its cookie, with the CSRF rule for anything that is not a read.
pub struct ConsoleCookie;

/// In order: a header wins over the cookie, so an API client that also holds a console cookie acts with
/// its token. A JWT or SSO authenticator is one more entry.
pub const AUTHENTICATORS: &[&dyn Authenticator] = &[&BearerToken, &ConsoleCookie];

impl Authenticator for BearerToken {
    fn authenticate(&self, req: &Request, view: &Published, now: OffsetDateTime) -> Attempt {
        let Some(token) = token(req) else { return Attempt::NotMine };
        match view.snapshot.authenticate(token, now) {
            Ok(principal) => Attempt::Authenticated(Authenticated { principal, cookie: None }),
            Err(e) => Attempt::Refused(e.into()),
        }
    }
}

impl Authenticator for ConsoleCookie {
    fn authenticate(&self, req: &Request, view: &Published, now: OffsetDateTime) -> Attempt {
        let Some(token) = session::cookie(req.headers()) else { return Attempt::NotMine };
        if !session::csrf_ok(req.method(), req.headers(), token) {
            let method = req.method().to_string();
            return Attempt::Refused(ApiError::Forbidden(Forbidden::CrossSite {
                method,
                header: session::CSRF_HEADER,
            }));
        }
        match view.snapshot.authenticate(token, now) {
            // Only the console puts a token in the cookie, and only a login session.
            Ok(principal) if principal.token().map(|(_, kind)| kind) != Some(TokenKind::Session) => {
                Attempt::Refused(ApiError::Unauthenticated(Unauthenticated::NotASession))
            }
            Ok(principal) => Attempt::Authenticated(Authenticated {
                principal,
                cookie: Some(session::CookieSession { csrf: session::csrf_token(token) }),
            }),
            Err(e) => Attempt::Refused(e.into()),
        }
    }
}

/// Asks each authenticator in order; the first that is not `NotMine` decides.
pub fn authenticate(req: &Request, view: &Published, now: OffsetDateTime) -> Result<Authenticated, ApiError> {
    for a in AUTHENTICATORS {
        match a.authenticate(req, view, now) {
            Attempt::NotMine => continue,
            Attempt::Authenticated(done) => return Ok(done),
            Attempt::Refused(e) => return Err(e),
        }
    }
    Err(ApiError::Unauthenticated(Unauthenticated::MissingToken))
}

/// Every route but the open ones: loads the published view once, authenticates against it, and hands the
/// request that view and the principal, so that everything after sees the same version.
pub async fn require_auth(State(app): State<App>, mut req: Request, next: Next) -> Response {
    if is_open(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let view = app.published();
    let now = app.now();
    match authenticate(&req, &view, now) {
        Ok(Authenticated { principal, cookie }) => {
            if let Some((id, _)) = principal.token() {
                app.record_use(id, now);
            }
            req.extensions_mut().insert(principal);
            req.extensions_mut().insert(view);
            if let Some(c) = cookie {
                req.extensions_mut().insert(c);
            }
            next.run(req).await
        }
        Err(e) => {
            let mut resp = e.into_response();
            crate::mcp::discovery::challenge(&app, &req, &mut resp);
            resp
        }
    }
}
