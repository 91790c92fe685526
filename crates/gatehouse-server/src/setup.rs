//! First-run setup: while no active admin exists, the server prints a one-time code at start-up, and
//! whoever can read the server's log can create the first admin from the console's sign-in page with it.
//!
//! The code proves access to the server's log, as `gatehouse bootstrap` proves access to its database: a
//! stranger who reaches the sign-in page first cannot claim the deployment. Only its SHA-256 is kept, in
//! memory: a restart forgets it (and prints a new one while there is still no admin), a use spends it.

use std::net::IpAddr;
use std::sync::Mutex;

use gatehouse_core::{Email, Secret};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::bootstrap::{first_admin, BootstrapError, Via};
use crate::dto::LoginBody;
use crate::error::{ApiError, Forbidden};
use crate::routes::auth::{open_session, throttled, OpenedSession};
use crate::state::App;

/// The key failed setup attempts are counted under in the sign-in throttle: the code is one secret shared
/// by every email typed with it, so guesses are counted together, per address and overall.
const THROTTLE_KEY: &str = "first-run setup";

/// Crockford's base32 without the letters that read like digits: a code typed from a log stays unambiguous.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 120 random bits, 24 characters, shown in groups of four.
const CODE_BYTES: usize = 15;

/// The hash of the code waiting to be used, if any.
#[derive(Default)]
pub struct SetupCode {
    hash: Mutex<Option<[u8; 32]>>,
}

impl SetupCode {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<[u8; 32]>> {
        // A panic elsewhere while holding it leaves a plain value behind, still sound to use.
        self.hash.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a code is waiting to be used.
    pub fn issued(&self) -> bool {
        self.slot().is_some()
    }

    /// Takes the code if `typed` is it (compared in constant time), so it cannot be used twice.
    fn take_if(&self, typed: &str) -> bool {
        let mut slot = self.slot();
        let Some(stored) = slot.as_ref() else { return false };
        let matches = bool::from(digest(typed).ct_eq(stored));
        if matches {
            *slot = None;
        }
        matches
    }

    /// Puts a taken code back, when creating the admin failed for a reason of the server's.
    fn restore(&self, typed: &str) {
        *self.slot() = Some(digest(typed));
    }
}

/// Case, spaces and hyphens do not matter: only the code's characters are hashed.
fn digest(code: &str) -> [u8; 32] {
    let normal: String = code.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
    Sha256::digest(normal.as_bytes()).into()
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    let chars: Vec<char> = out.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// Makes a new code when no active admin exists, replacing any earlier one, and returns it for the
/// operator's eyes only (the caller prints it); `None` once an admin exists.
pub fn issue(app: &App) -> Option<Secret<String>> {
    if app.snapshot().active_admin_count() > 0 {
        return None;
    }
    let mut bytes = [0u8; CODE_BYTES];
    app.entropy.fill(&mut bytes);
    let code = encode(&bytes);
    *app.setup.slot() = Some(digest(&code));
    Some(Secret::new(code))
}

/// What the sign-in page needs to know.
pub struct Status {
    /// No active admin exists.
    pub needed: bool,
    /// A code from this server's start is waiting to be used.
    pub code_issued: bool,
}

pub fn status(app: &App) -> Status {
    let needed = app.snapshot().active_admin_count() == 0;
    Status { needed, code_issued: needed && app.setup.issued() }
}

/// What setup is asked to do.
pub struct Request {
    pub code: String,
    pub email: String,
    pub password: String,
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

/// Checks the code and creates the first admin exactly as `gatehouse bootstrap` does, then signs them in.
pub async fn complete(app: &App, req: Request) -> Result<OpenedSession, ApiError> {
    throttled(app, THROTTLE_KEY, req.ip)?;
    if let Err(e) = app.refresh().await {
        tracing::warn!(error = %e, "setup: could not reload the store before checking for an admin");
    }
    if app.snapshot().active_admin_count() > 0 {
        return Err(ApiError::Forbidden(Forbidden::SetupDone));
    }
    Email::new(&req.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    crate::passwords::check_strength(&req.password)?;
    if !app.setup.take_if(&req.code) {
        app.signin.failed(THROTTLE_KEY, req.ip, app.now());
        return Err(ApiError::Forbidden(Forbidden::SetupCode));
    }
    let via = Via::SetupCode { request_id: req.request_id };
    let made = first_admin(
        app.store.as_ref(),
        &req.email,
        Some(req.password.clone()),
        app.clock.as_ref(),
        app.entropy.as_ref(),
        via,
    )
    .await;
    match made {
        Ok(_) => {}
        Err(BootstrapError::AdminExists(_)) => return Err(ApiError::Forbidden(Forbidden::SetupDone)),
        Err(BootstrapError::Invalid(message)) => {
            app.setup.restore(&req.code);
            return Err(ApiError::invalid("body", message));
        }
        Err(BootstrapError::Store(e)) => {
            app.setup.restore(&req.code);
            return Err(e.into());
        }
    }
    app.signin.succeeded(THROTTLE_KEY, req.ip, app.now());
    app.refresh().await?;
    open_session(app, LoginBody { email: req.email, password: req.password }, req.ip, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_base32_and_compared_loosely() {
        let code = encode(&[0xff; CODE_BYTES]);
        assert_eq!(code, "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ");
        assert_eq!(encode(&[0; CODE_BYTES]).len(), 29);
        assert_eq!(encode(&[0x08, 0x42, 0x10, 0x84, 0x21]), "1111-1111");
        assert_eq!(digest("abcd-efgh"), digest("ABCD EFGH"));
        assert_ne!(digest("ABCD-EFGH"), digest("ABCD-EFGJ"));
    }

    #[test]
    fn a_code_is_taken_once() {
        let s = SetupCode::default();
        assert!(!s.take_if("anything"));
        s.restore("ABCD-1234");
        assert!(s.issued());
        assert!(!s.take_if("ABCD-1235"));
        assert!(s.issued());
        assert!(s.take_if("abcd1234"));
        assert!(!s.issued());
        assert!(!s.take_if("ABCD-1234"));
    }
}
