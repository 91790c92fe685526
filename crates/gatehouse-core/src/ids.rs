//! Newtype names. Every object is keyed by its name (users by email), which the API and manifests use too.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A name failed validation; the message says which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is invalid: {rule}")]
pub struct InvalidName {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $validate:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates (and for emails normalises) the name.
            pub fn new(value: &str) -> Result<Self, InvalidName> {
                $validate(value)
                    .map(|v| $name(Arc::from(v)))
                    .map_err(|rule| InvalidName { what: $what, value: value.to_owned(), rule })
            }
            /// For names fixed in the code, which the tests validate.
            #[allow(dead_code)]
            pub(crate) fn from_static(value: &'static str) -> Self {
                $name(Arc::from(value))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn slug(v: &str) -> Result<String, &'static str> {
    if v.is_empty() || v.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("only letters, digits and hyphens are allowed");
    }
    if v.starts_with('-') || v.ends_with('-') {
        return Err("must not start or end with a hyphen");
    }
    Ok(v.to_owned())
}

fn email(v: &str) -> Result<String, &'static str> {
    let v = v.trim();
    if v.is_empty() || v.len() > 254 {
        return Err("must be 1 to 254 characters");
    }
    let Some((local, domain)) = v.split_once('@') else {
        return Err("must contain @");
    };
    if local.is_empty() || domain.is_empty() || domain.contains('@') || !domain.contains('.') {
        return Err("must look like name@domain.tld");
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == ':') {
        return Err("must not contain spaces, slashes, colons or control characters");
    }
    Ok(v.to_ascii_lowercase())
}

fn token_id(v: &str) -> Result<String, &'static str> {
    if v.len() == 16 && v.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
        Ok(v.to_owned())
    } else {
        Err("must be 16 lowercase hex digits")
    }
}

name_type!(
    /// A user's email, lower-cased.
    Email, "email", email
);
name_type!(
    /// A team name.
    TeamName, "team name", slug
);
name_type!(
    /// A role name: letters, digits and hyphens.
    RoleName, "role name", slug
);
name_type!(
    /// A virtual account name.
    VaName, "virtual account name", slug
);
name_type!(
    /// A resource name (provider account, MCP server, ...).
    ResourceName, "resource name", slug
);
name_type!(
    /// The public part of a token, which finds its row without scanning.
    TokenId, "token id", token_id
);

impl TokenId {
    /// Builds an id from 8 random bytes.
    pub fn from_bytes(b: [u8; 8]) -> TokenId {
        TokenId(Arc::from(hex::encode(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_validate() {
        assert!(RoleName::new("gateway-viewer").is_ok());
        assert!(RoleName::new("Gateway2").is_ok());
        for bad in ["", "-x", "x-", "a b", "a_b", "é", &"a".repeat(65)] {
            let e = RoleName::new(bad).unwrap_err();
            assert_eq!(e.what, "role name");
        }
        assert_eq!(Email::new(" Alice@Example.com ").unwrap().as_str(), "alice@example.com");
        for bad in ["alice", "@x.com", "a@", "a@b", "a b@c.d", "a@b@c.d"] {
            assert!(Email::new(bad).is_err(), "{bad}");
        }
        assert!(TokenId::new("0123456789abcdef").is_ok());
        assert!(TokenId::new("0123456789ABCDEF").is_err());
    }
}

/// A user's or virtual account's identity: 128 random bits given once, when the user or account is created,
/// and never again to anyone. A name can be deleted and taken again; records that must stay with whoever
/// they were about (the gateway's request log) carry this instead.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityId([u8; 16]);

impl IdentityId {
    pub const fn from_bytes(bytes: [u8; 16]) -> IdentityId {
        IdentityId(bytes)
    }

    /// 32 lowercase hex digits, as `Display` writes it.
    pub fn parse(s: &str) -> Option<IdentityId> {
        if s.len() != 32 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(IdentityId(out))
    }
}

impl fmt::Display for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityId({self})")
    }
}
