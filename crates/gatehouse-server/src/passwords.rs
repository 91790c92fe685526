//! argon2id password hashing, off the async threads.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use gatehouse_core::Secret;

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

pub async fn hash(pw: Secret<String>) -> Result<Secret<String>, ApiError> {
    tokio::task::spawn_blocking(move || hash_blocking(&pw)).await.map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Verifies against the stored hash, or against a fixed one when there is none, so that an unknown
/// email costs the same time as a wrong password.
pub async fn verify(pw: Secret<String>, stored: Option<Secret<String>>) -> bool {
    tokio::task::spawn_blocking(move || {
        let dummy = Secret::new(dummy_hash().to_owned());
        let (h, real) = match &stored {
            Some(h) => (h, true),
            None => (&dummy, false),
        };
        let ok = PasswordHash::new(h.expose())
            .map(|parsed| Argon2::default().verify_password(pw.expose().as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        ok && real
    })
    .await
    .unwrap_or(false)
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
