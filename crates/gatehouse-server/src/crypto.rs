//! Provider and MCP credentials are encrypted at rest with the operator's secret key (XChaCha20-Poly1305).
//! Each ciphertext is bound to the object it belongs to, so a stored secret cannot be moved to another row.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use gatehouse_core::Secret;
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// A startup problem with the secret key: these stop the server before it listens.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("GATEHOUSE_SECRET_KEY is too short: give 64 hex digits or a passphrase of at least 32 characters")]
    TooShort,
    #[error("GATEHOUSE_SECRET_KEY is required with a Postgres database (replicas must share it)")]
    RequiredForPostgres,
    #[error("cannot read or write the key file {path}: {error}")]
    KeyFile { path: PathBuf, error: std::io::Error },
    #[error("the key file {0} does not hold 64 hex digits")]
    BadKeyFile(PathBuf),
    #[error("cannot derive a key from GATEHOUSE_SECRET_KEY: {0}")]
    Kdf(String),
}

/// Why a stored secret could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the stored credentials cannot be decrypted with this secret key (was GATEHOUSE_SECRET_KEY changed?)")]
    WrongKeyOrTampered,
    #[error("the stored credentials are in an unknown format")]
    Format,
}

pub struct SecretKey {
    cipher: XChaCha20Poly1305,
    /// For a passphrase: the key earlier versions derived from it (plain SHA-256, no salt), which may still
    /// open credentials sealed before. They are sealed again with `cipher` at start-up (`reseal_legacy`).
    legacy: Option<XChaCha20Poly1305>,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(****)")
    }
}

impl SecretKey {
    /// Whether the setting is a passphrase (to be stretched with the deployment's salt) rather than 64 hex
    /// digits, which are the key itself.
    pub fn is_passphrase(s: &Secret<String>) -> bool {
        !matches!(hex::decode(s.expose().trim()), Ok(b) if b.len() == 32)
    }

    /// 64 hex digits are the key itself; anything else of at least 32 characters is a passphrase, stretched
    /// with argon2id and `salt` (the deployment's, from the store: see `Store::key_salt`), so that a stolen
    /// database cannot be attacked with guesses at the cost of one SHA-256 each.
    pub fn from_setting(s: &Secret<String>, salt: &[u8]) -> Result<SecretKey, KeyError> {
        let v = s.expose().trim();
        match hex::decode(v) {
            Ok(b) if b.len() == 32 => {
                let mut k = [0u8; 32];
                k.copy_from_slice(&b);
                Ok(SecretKey::from_bytes(k))
            }
            _ if v.chars().count() >= 32 => {
                let mut k = [0u8; 32];
                argon2::Argon2::default()
                    .hash_password_into(v.as_bytes(), salt, &mut k)
                    .map_err(|e| KeyError::Kdf(e.to_string()))?;
                let legacy: [u8; 32] = Sha256::digest(v.as_bytes()).into();
                Ok(SecretKey {
                    cipher: XChaCha20Poly1305::new(&k.into()),
                    legacy: Some(XChaCha20Poly1305::new(&legacy.into())),
                })
            }
            _ => Err(KeyError::TooShort),
        }
    }

    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey { cipher: XChaCha20Poly1305::new(&bytes.into()), legacy: None }
    }

    /// Whether `sealed` opens only with the legacy derivation (and so should be sealed again).
    pub fn needs_reseal(&self, context: &str, sealed: &[u8]) -> bool {
        matches!(open_with(&self.cipher, context, sealed), Err(SealError::WrongKeyOrTampered))
            && self.legacy.as_ref().is_some_and(|l| open_with(l, context, sealed).is_ok())
    }

    /// The key for a database: the setting if given; for SQLite, else a key file beside the database,
    /// created on first start (the caller warns); for Postgres the setting is required.
    /// `salt` is used for a passphrase only.
    pub fn resolve(
        setting: Option<&Secret<String>>,
        database_url: &str,
        salt: &[u8],
    ) -> Result<(SecretKey, Option<PathBuf>), KeyError> {
        if let Some(s) = setting {
            return SecretKey::from_setting(s, salt).map(|k| (k, None));
        }
        let Some(path) = database_url.strip_prefix("sqlite://").filter(|p| !p.starts_with(":memory:")) else {
            if database_url.starts_with("sqlite:") {
                // An in-memory database lives as long as the process; so may its key.
                let mut b = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
                return Ok((SecretKey::from_bytes(b), None));
            }
            return Err(KeyError::RequiredForPostgres);
        };
        let path = path.split('?').next().unwrap_or(path);
        let key_path = PathBuf::from(format!("{path}.key"));
        let created = !key_path.exists();
        let key = load_or_create(&key_path)?;
        Ok((key, created.then_some(key_path)))
    }

    /// Encrypts `plain` for the object named by `context` (e.g. `provider-account:openai-main`).
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let aad = aad(context);
        // Encryption with a fresh nonce and a valid key cannot fail; an empty result would fail to open.
        let ct = self.cipher.encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: &aad }).unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Secret<Vec<u8>>, SealError> {
        match (open_with(&self.cipher, context, sealed), &self.legacy) {
            (Err(SealError::WrongKeyOrTampered), Some(legacy)) => open_with(legacy, context, sealed),
            (r, _) => r,
        }
    }
}

/// What tells one sealing of credentials from another without depending on what they hold: the format
/// byte and the random nonce, fresh for every sealing. An object's version covers this, so replacing its
/// credentials changes it, while nothing of the credential (nor a digest of it) enters the version.
pub fn sealing_id(sealed: &[u8]) -> &[u8] {
    &sealed[..sealed.len().min(1 + NONCE_LEN)]
}

fn open_with(cipher: &XChaCha20Poly1305, context: &str, sealed: &[u8]) -> Result<Secret<Vec<u8>>, SealError> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
        return Err(SealError::Format);
    }
    let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
    let aad = aad(context);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        .map(Secret::new)
        .map_err(|_| SealError::WrongKeyOrTampered)
}

/// A fresh salt for `Store::key_salt`: 16 random bytes, in hex.
pub fn fresh_salt() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    hex::encode(b)
}

/// Refuses a key that cannot open the credentials already stored: better to stop at start-up than to fail
/// every gateway call with a decryption error.
pub fn check_key(snap: &gatehouse_core::Snapshot, key: &SecretKey) -> Result<(), SealError> {
    match snap.resources().all().find_map(|r| r.sealed_auth.as_ref().map(|s| (r.resource(), s))) {
        Some((resource, sealed)) => key.open(&resource.to_string(), &sealed.0).map(|_| ()),
        None => Ok(()),
    }
}

/// Seals again, with the current derivation, every stored credential that only the legacy one opens: after
/// this start-up the old derivation is needed for nothing. Returns how many were sealed again.
pub async fn reseal_legacy(app: &crate::App) -> Result<usize, crate::error::ApiError> {
    let key = app.key.clone();
    app.housekeeping(move |snap, _| {
        snap.resources()
            .all()
            .filter_map(|r| {
                let context = r.resource().to_string();
                let sealed = r.sealed_auth.as_ref()?;
                if !key.needs_reseal(&context, &sealed.0) {
                    return None;
                }
                let plain = key.open(&context, &sealed.0).ok()?;
                let mut rec = (**r).clone();
                rec.sealed_auth = Some(gatehouse_core::resource::Sealed(key.seal(&context, plain.expose()).into()));
                Some(gatehouse_core::Change::PutResource(rec))
            })
            .collect()
    })
    .await
}

fn aad(context: &str) -> Vec<u8> {
    format!("gatehouse:v{VERSION}:{context}").into_bytes()
}

fn load_or_create(path: &Path) -> Result<SecretKey, KeyError> {
    let io = |error| KeyError::KeyFile { path: path.to_owned(), error };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let b = hex::decode(text.trim()).map_err(|_| KeyError::BadKeyFile(path.to_owned()))?;
            let bytes: [u8; 32] = b.try_into().map_err(|_| KeyError::BadKeyFile(path.to_owned()))?;
            Ok(SecretKey::from_bytes(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut b = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
            write_private(path, &hex::encode(b)).map_err(io)?;
            Ok(SecretKey::from_bytes(b))
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a file only its owner can read, never replacing one that appeared meanwhile.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: &[u8] = b"0123456789abcdef";

    fn key(s: &str) -> SecretKey {
        SecretKey::from_setting(&Secret::new(s.to_owned()), SALT).unwrap()
    }

    #[test]
    fn seals_and_opens_bound_to_the_object() {
        let k = key("a passphrase that is long enough!!");
        let sealed = k.seal("provider-account:a", b"sk-test");
        assert!(!sealed.windows(7).any(|w| w == b"sk-test"));
        assert_eq!(k.open("provider-account:a", &sealed).unwrap().expose(), b"sk-test");
        assert!(k.open("provider-account:b", &sealed).is_err(), "moved to another object");
        let other = key(&"ab".repeat(32));
        assert!(matches!(other.open("provider-account:a", &sealed), Err(SealError::WrongKeyOrTampered)));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(k.open("provider-account:a", &tampered).is_err());
        assert!(matches!(k.open("x", b"short"), Err(SealError::Format)));
    }

    #[test]
    fn settings_and_key_files() {
        assert!(matches!(SecretKey::from_setting(&Secret::new("short".into()), SALT), Err(KeyError::TooShort)));
        assert!(matches!(SecretKey::resolve(None, "postgres://h/db", SALT), Err(KeyError::RequiredForPostgres)));
        let dir = std::env::temp_dir().join(format!("gh-key-{}", crate::request_id::random_uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/g.db", dir.display());
        let (k1, created) = SecretKey::resolve(None, &url, SALT).unwrap();
        let path = created.expect("the first start creates the key file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let (k2, created) = SecretKey::resolve(None, &url, SALT).unwrap();
        assert!(created.is_none());
        let sealed = k1.seal("x", b"secret");
        assert_eq!(k2.open("x", &sealed).unwrap().expose(), b"secret");
        std::fs::write(&path, "nonsense").unwrap();
        assert!(matches!(SecretKey::resolve(None, &url, SALT), Err(KeyError::BadKeyFile(_))));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_passphrase_is_stretched_with_the_salt_and_still_opens_what_sha256_sealed() {
        let pass = "a passphrase that is long enough!!";
        let a = key(pass);
        let sealed = a.seal("x", b"secret");
        let other_salt = SecretKey::from_setting(&Secret::new(pass.to_owned()), b"another salt 123").unwrap();
        // Both open it: the other through the legacy derivation, which must not be how new seals open.
        let legacy_only = SecretKey::from_bytes(Sha256::digest(pass.as_bytes()).into());
        assert!(legacy_only.open("x", &sealed).is_err(), "sealed with plain SHA-256 of the passphrase");
        assert!(!other_salt.needs_reseal("x", &sealed) && other_salt.open("x", &sealed).is_err(), "salt matters");
        // What the old derivation sealed opens, and is marked for sealing again.
        let old = legacy_only.seal("x", b"old secret");
        assert_eq!(a.open("x", &old).unwrap().expose(), b"old secret");
        assert!(a.needs_reseal("x", &old));
        assert!(!a.needs_reseal("x", &sealed));
        assert!(SecretKey::is_passphrase(&Secret::new(pass.into())));
        assert!(!SecretKey::is_passphrase(&Secret::new("ab".repeat(32))));
    }
}
