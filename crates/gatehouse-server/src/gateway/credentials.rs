//! Provider credentials, decrypted once per stored version rather than on every call: opening them (an
//! AEAD decryption and a JSON parse) was a measurable part of each gateway request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gatehouse_core::resource::Sealed;
use gatehouse_core::spec::ProviderAuth;

use crate::error::ApiError;

/// Per provider account: the sealed credentials last opened, and what they opened to.
#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<String, (Sealed, Arc<ProviderAuth>)>>,
}

impl CredentialCache {
    /// The account's credentials, opened with `open` unless these very sealed bytes were opened before.
    /// An edit of the credentials stores new sealed bytes, so a stale entry is never returned.
    pub fn get(
        &self,
        account: &str,
        sealed: &Sealed,
        open: impl FnOnce() -> Result<ProviderAuth, ApiError>,
    ) -> Result<Arc<ProviderAuth>, ApiError> {
        if let Some((seen, auth)) = self.lock().get(account) {
            // By identity: the entry holds its `Sealed`, so the allocation cannot be reused for other bytes.
            if Arc::ptr_eq(&seen.0, &sealed.0) {
                return Ok(auth.clone());
            }
        }
        // Opened outside the lock: two first calls may both decrypt, which is harmless.
        let auth = Arc::new(open()?);
        self.lock().insert(account.to_owned(), (sealed.clone(), auth.clone()));
        Ok(auth)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Sealed, Arc<ProviderAuth>)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_core::secret::Secret;
    use gatehouse_core::spec::OpenAiCompatibleAuth;

    fn auth(key: &str) -> ProviderAuth {
        ProviderAuth::OpenAiCompatible(OpenAiCompatibleAuth { api_key: Some(Secret::new(key.to_owned())) })
    }

    #[test]
    fn opens_each_sealed_value_once_and_new_credentials_again() {
        let cache = CredentialCache::default();
        let first = Sealed(Arc::from(&b"sealed-1"[..]));
        let opened = std::cell::Cell::new(0);
        let open = |key: &'static str| {
            opened.set(opened.get() + 1);
            Ok(auth(key))
        };
        assert_eq!(*cache.get("acct", &first, || open("k1")).unwrap(), auth("k1"));
        assert_eq!(*cache.get("acct", &first.clone(), || open("k1")).unwrap(), auth("k1"));
        assert_eq!(opened.get(), 1);
        // Equal bytes in another allocation (a reload from the store) are opened again, not trusted.
        let rotated = Sealed(Arc::from(&b"sealed-1"[..]));
        assert_eq!(*cache.get("acct", &rotated, || open("k2")).unwrap(), auth("k2"));
        assert_eq!(opened.get(), 2);
        assert_eq!(*cache.get("other", &rotated, || open("k3")).unwrap(), auth("k3"));
        assert_eq!(opened.get(), 3);
        // A failure to open is returned and not remembered.
        let broken = Sealed(Arc::from(&b"x"[..]));
        assert!(cache.get("acct", &broken, || Err(ApiError::BadGateway("unreadable".into()))).is_err());
        assert_eq!(*cache.get("acct", &rotated, || open("k2")).unwrap(), auth("k2"));
        assert_eq!(opened.get(), 3);
    }
}
