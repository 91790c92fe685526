//! argon2id password hashing, off the async threads, with a bound on how many run at once.
//!
//! Each hash takes argon2's default 19 MiB for as long as it runs. Sign-in is open to anyone, so without a
//! bound a crowd of wrong-password requests would take as many times that at once: the `Hasher` lets only a
//! few run (one per core: more would not finish sooner anyway), and a request that cannot get a turn
//! within a short wait is told to come back (503 with `Retry-After`) instead of queueing without end.

use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use gatehouse_core::Secret;
use tokio::sync::Semaphore;

use crate::error::ApiError;

pub const MIN_LENGTH: usize = 8;

pub fn check_strength(pw: &str) -> Result<(), ApiError> {
    if pw.chars().count() < MIN_LENGTH {
        return Err(ApiError::invalid("password", format!("must be at least {MIN_LENGTH} characters")));
    }
    if pw.len() > 1024 {
        return Err(ApiError::invalid("password", "must be at most 1024 bytes"));
    }
    Ok(())
}

pub fn hash_blocking(pw: &Secret<String>) -> Result<Secret<String>, ApiError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(pw.expose().as_bytes(), &salt)
        .map(|h| Secret::new(h.to_string()))
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
}

/// Unbounded: for the command line (`bootstrap`), which hashes one password and exits.
pub async fn hash(pw: Secret<String>) -> Result<Secret<String>, ApiError> {
    tokio::task::spawn_blocking(move || hash_blocking(&pw)).await.map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Verifies against the stored hash, or against a fixed one when there is none, so that an unknown
/// email costs the same time (and memory) as a wrong password.
pub fn verify_blocking(pw: &Secret<String>, stored: Option<&Secret<String>>) -> bool {
    let dummy;
    let (h, real) = match stored {
        Some(h) => (h, true),
        None => {
            dummy = Secret::new(dummy_hash().to_owned());
            (&dummy, false)
        }
    };
    let ok = PasswordHash::new(h.expose())
        .map(|parsed| Argon2::default().verify_password(pw.expose().as_bytes(), &parsed).is_ok())
        .unwrap_or(false);
    ok && real
}

/// The server's password hashing: at most `permits` at once, process-wide (every serving thread shares it).
pub struct Hasher {
    permits: Semaphore,
    wait: Duration,
}

impl Hasher {
    pub fn new(permits: usize, wait: Duration) -> Hasher {
        Hasher { permits: Semaphore::new(permits.max(1)), wait }
    }

    /// Runs `f` once a turn is free and `still_wanted` (checked again then: the wait may have changed the
    /// answer, as when the sign-ins queued beside this one were the failures that block it) allows.
    async fn run<T: Send + 'static>(
        &self,
        still_wanted: impl FnOnce() -> Result<(), ApiError>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = match tokio::time::timeout(self.wait, self.permits.acquire()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) | Err(_) => return Err(ApiError::Busy { retry_after: 1 }),
        };
        still_wanted()?;
        let out = tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(e.to_string()));
        drop(permit);
        out
    }

    pub async fn hash(&self, pw: Secret<String>) -> Result<Secret<String>, ApiError> {
        self.run(|| Ok(()), move || hash_blocking(&pw)).await?
    }

    /// `Ok(false)` for a wrong password or an unknown user alike.
    pub async fn verify_when(
        &self,
        pw: Secret<String>,
        stored: Option<Secret<String>>,
        still_wanted: impl FnOnce() -> Result<(), ApiError>,
    ) -> Result<bool, ApiError> {
        self.run(still_wanted, move || verify_blocking(&pw, stored.as_ref())).await
    }

    pub async fn verify(&self, pw: Secret<String>, stored: Option<Secret<String>>) -> Result<bool, ApiError> {
        self.verify_when(pw, stored, || Ok(())).await
    }
}

/// argon2id of a random string nobody knows, made once with the same parameters as real hashes.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut pw = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut pw);
        hash_blocking(&Secret::new(hex_string(&pw))).map(|h| h.into_inner()).unwrap_or_default()
    })
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Makes the fixed hash ahead of the first unknown user, so that even that one costs no more than others.
pub fn prepare() {
    let _ = dummy_hash();
}
