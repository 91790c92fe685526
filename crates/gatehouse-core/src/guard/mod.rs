//! Finding personal data and credentials in free text, for the gateway's guardrails and for what the
//! request log may keep. Pure and hand-written (no regex engine): each detector scans bytes once and checks
//! what can be checked (Luhn for cards, mod 97 for IBANs, the shape of each kind of key), so that ordinary
//! numbers and words are left alone.
//!
//! Every detector reports byte ranges on character boundaries; [`redact`] replaces them. [`pending_start`]
//! says how much of a growing text (a streamed answer) must be held back because it could still become a
//! value once more text arrives.

pub mod checksum;
mod hold;
mod pii;
mod secrets;
#[cfg(test)]
mod tests;

use std::fmt;

pub use hold::pending_start;
pub use pii::find_pii;
pub use secrets::find_secrets;

use crate::spec::PiiEntity;

/// The kinds of credential the secrets detector knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// `AKIA...` / `ASIA...`: an AWS access key id.
    AwsAccessKeyId,
    /// `sk-...`: OpenAI, Anthropic (`sk-ant-...`) and compatible providers' API keys.
    ApiKey,
    /// `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`.
    GithubToken,
    /// `AIza...`: a Google API key.
    GoogleApiKey,
    /// A PEM or OpenSSH private key block, from its BEGIN line to its END line.
    PrivateKey,
    /// A JSON Web Token (three base64url parts, the first a JSON header).
    Jwt,
    /// Gatehouse's own tokens: `gh_pat_`, `gh_va_`, `gh_sess_`.
    GatehouseToken,
    /// `Bearer <credential>`.
    Bearer,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::AwsAccessKeyId => "aws_access_key_id",
            SecretKind::ApiKey => "api_key",
            SecretKind::GithubToken => "github_token",
            SecretKind::GoogleApiKey => "google_api_key",
            SecretKind::PrivateKey => "private_key",
            SecretKind::Jwt => "jwt",
            SecretKind::GatehouseToken => "gatehouse_token",
            SecretKind::Bearer => "bearer_credential",
        }
    }
}

/// What a detector found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Pii(PiiEntity),
    Secret(SecretKind),
}

impl Class {
    /// The word in a redaction marker: the PII entity, or `secret` for every credential (which kind of key
    /// it was is of no use to the reader and a hint to an attacker).
    pub fn label(self) -> &'static str {
        match self {
            Class::Pii(e) => e.as_str(),
            Class::Secret(_) => "secret",
        }
    }

    /// The precise name, for verdicts and errors: `email`, `aws_access_key_id`, ...
    pub fn detail(self) -> &'static str {
        match self {
            Class::Pii(e) => e.as_str(),
            Class::Secret(k) => k.as_str(),
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

/// A value found at `start..end` (bytes, on character boundaries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub class: Class,
}

/// `[REDACTED:<label>]`, what a redacted value becomes.
pub fn marker(label: &str) -> String {
    format!("[REDACTED:{label}]")
}

/// `text` with each found range replaced by `replace(found)`. Overlapping ranges are merged (the first
/// one's replacement stands for the union), so nothing of either survives.
pub fn redact(text: &str, found: &[Found], mut replace: impl FnMut(&Found) -> String) -> String {
    let ranges: Vec<(usize, usize)> = found.iter().map(|f| (f.start, f.end)).collect();
    redact_ranges(text, &ranges, |i| replace(&found[i]))
}

/// `redact` over byte ranges: `replace` gets the index of the range it replaces.
pub fn redact_ranges(text: &str, ranges: &[(usize, usize)], mut replace: impl FnMut(usize) -> String) -> String {
    let mut sorted: Vec<(usize, usize, usize)> = ranges
        .iter()
        .enumerate()
        .filter(|(_, (s, e))| s < e && *e <= text.len())
        .map(|(i, (s, e))| (*s, *e, i))
        .collect();
    sorted.sort_by_key(|(s, e, _)| (*s, std::cmp::Reverse(*e)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut i = 0;
    while i < sorted.len() {
        let (start, mut end, index) = sorted[i];
        i += 1;
        while i < sorted.len() && sorted[i].0 < end {
            end = end.max(sorted[i].1);
            i += 1;
        }
        let start = start.max(at);
        out.push_str(text.get(at..start).unwrap_or_default());
        out.push_str(&replace(index));
        at = end.max(at);
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Every PII value of `entities` and every credential in `text`, redacted with `[REDACTED:<label>]`.
pub fn redact_all(text: &str, entities: &[PiiEntity]) -> String {
    let mut found = Vec::new();
    find_pii(text, entities, &mut found);
    find_secrets(text, &mut found);
    redact(text, &found, |f| marker(f.class.label()))
}

pub(crate) fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Letters, digits and `_`: what a `\b` in a regular expression would call a word.
pub(crate) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
