//! Credentials in free text, by the shape each issuer gives its keys. Random keys are long and mix
//! digits into letters; the minimum lengths and the digit rule keep words like `sk-learn` or "the bearer of
//! this letter" out.

use super::{is_alnum, is_word, Class, Found, SecretKind};

/// Appends every credential in `text` to `out`.
pub fn find_secrets(text: &str, out: &mut Vec<Found>) {
    let b = text.as_bytes();
    let mut push = |start: usize, end: usize, kind: SecretKind| {
        out.push(Found { start, end, class: Class::Secret(kind) });
    };
    private_keys(b, &mut push);
    let mut i = 0;
    while i < b.len() {
        let found = match b[i] {
            b'A' => aws(b, i).map(|e| (e, SecretKind::AwsAccessKeyId)).or_else(|| google(b, i)),
            b's' => api_key(b, i).map(|e| (e, SecretKind::ApiKey)),
            b'g' => github(b, i).or_else(|| gatehouse(b, i).map(|e| (e, SecretKind::GatehouseToken))),
            b'e' => jwt(b, i).map(|e| (e, SecretKind::Jwt)),
            b'b' | b'B' => bearer(b, i).map(|e| (e, SecretKind::Bearer)),
            _ => None,
        };
        match found {
            Some((end, kind)) => {
                push(i, end, kind);
                i = end;
            }
            None => i += 1,
        }
    }
}

/// The characters of a base64url or API-key run.
fn key_char(c: u8) -> bool {
    is_alnum(c) || c == b'_' || c == b'-'
}

fn run(b: &[u8], i: usize, ok: impl Fn(u8) -> bool) -> usize {
    b[i.min(b.len())..].iter().take_while(|c| ok(**c)).count()
}

/// Whether `b[i]` continues a run of key characters (so a key cannot start there).
fn glued(b: &[u8], i: usize) -> bool {
    i > 0 && key_char(b[i - 1])
}

fn after_word_break(b: &[u8], i: usize) -> bool {
    i == 0 || !is_word(b[i - 1])
}

fn starts_with(b: &[u8], i: usize, p: &[u8]) -> bool {
    b.len() >= i + p.len() && &b[i..i + p.len()] == p
}

/// `AKIA` or `ASIA` (long-lived and temporary keys) and 16 upper-case letters or digits.
fn aws(b: &[u8], i: usize) -> Option<usize> {
    if !(starts_with(b, i, b"AKIA") || starts_with(b, i, b"ASIA")) || !after_word_break(b, i) {
        return None;
    }
    let n = run(b, i + 4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let end = i + 4 + n;
    (n == 16 && !b.get(end).is_some_and(|c| is_word(*c))).then_some(end)
}

/// `AIza` and 35 characters.
fn google(b: &[u8], i: usize) -> Option<(usize, SecretKind)> {
    if !starts_with(b, i, b"AIza") || !after_word_break(b, i) {
        return None;
    }
    let n = run(b, i + 4, key_char);
    (n == 35).then_some((i + 4 + n, SecretKind::GoogleApiKey))
}

/// `sk-` and at least 20 key characters with a digit among them: OpenAI (`sk-...`, `sk-proj-...`),
/// Anthropic (`sk-ant-api03-...`) and the many providers that copied the shape.
fn api_key(b: &[u8], i: usize) -> Option<usize> {
    if !starts_with(b, i, b"sk-") || glued(b, i) {
        return None;
    }
    let n = run(b, i + 3, key_char);
    let body = &b[i + 3..i + 3 + n];
    (n >= 20 && body.iter().any(u8::is_ascii_digit)).then_some(i + 3 + n)
}

/// GitHub's `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` tokens (36 or more letters and digits) and fine-grained
/// `github_pat_` tokens.
fn github(b: &[u8], i: usize) -> Option<(usize, SecretKind)> {
    if !after_word_break(b, i) {
        return None;
    }
    if starts_with(b, i, b"github_pat_") {
        let n = run(b, i + 11, |c| is_alnum(c) || c == b'_');
        return (n >= 22).then_some((i + 11 + n, SecretKind::GithubToken));
    }
    let classic = b.len() >= i + 4 && b[i + 1] == b'h' && matches!(b[i + 2], b'p' | b'o' | b'u' | b's' | b'r');
    if !classic || b[i + 3] != b'_' {
        return None;
    }
    let n = run(b, i + 4, is_alnum);
    (n >= 36 && b.get(i + 4 + n).is_none_or(|c| *c != b'_')).then_some((i + 4 + n, SecretKind::GithubToken))
}

/// Gatehouse's tokens: `gh_pat_`, `gh_va_` or `gh_sess_` and what follows. Anything after the prefix is
/// taken, even a fragment: the prefix alone says what it is.
fn gatehouse(b: &[u8], i: usize) -> Option<usize> {
    let prefix = [&b"gh_pat_"[..], b"gh_va_", b"gh_sess_"].into_iter().find(|p| starts_with(b, i, p))?;
    let n = run(b, i + prefix.len(), key_char);
    (n >= 1).then_some(i + prefix.len() + n)
}

/// `eyJ...` (a base64url JSON header), a payload and a signature, dot-separated.
fn jwt(b: &[u8], i: usize) -> Option<usize> {
    if !starts_with(b, i, b"eyJ") || glued(b, i) {
        return None;
    }
    let mut j = i;
    for (part, min) in [10, 10, 16].into_iter().enumerate() {
        let n = run(b, j, key_char);
        if n < min {
            return None;
        }
        j += n;
        if part < 2 {
            if b.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
    }
    Some(j)
}

/// `Bearer` (any case), white space, and a credential of at least 8 characters with a digit in it.
fn bearer(b: &[u8], i: usize) -> Option<usize> {
    if b.len() < i + 6 || !b[i..i + 6].eq_ignore_ascii_case(b"bearer") || !after_word_break(b, i) {
        return None;
    }
    let ws = run(b, i + 6, |c| c == b' ' || c == b'\t');
    if ws == 0 {
        return None;
    }
    let start = i + 6 + ws;
    let n = run(b, start, |c| is_alnum(c) || matches!(c, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-'));
    (n >= 8 && b[start..start + n].iter().any(u8::is_ascii_digit)).then_some(start + n)
}

/// `-----BEGIN [...] PRIVATE KEY-----` to the matching END line. A block whose END has not (yet) come runs
/// to the end of the text: what follows a private key's header is the key.
fn private_keys(b: &[u8], push: &mut impl FnMut(usize, usize, SecretKind)) {
    let mut from = 0;
    while let Some(begin) = find(b, from, b"-----BEGIN ") {
        match private_header(b, begin + 11) {
            Some(body) => {
                let end = find_end_marker(b, body).unwrap_or(b.len());
                push(begin, end, SecretKind::PrivateKey);
                from = end;
            }
            None => from = begin + 11,
        }
    }
}

/// Where the block's body starts, if the header at `i` (after `BEGIN `) names a private key.
fn private_header(b: &[u8], i: usize) -> Option<usize> {
    let label = run(b, i, |c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' ');
    let name = &b[i..i + label];
    if !contains(name, b"PRIVATE KEY") || !starts_with(b, i + label, b"-----") {
        return None;
    }
    Some(i + label + 5)
}

pub(super) fn find_end_marker(b: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(end) = find(b, at, b"-----END ") {
        if let Some(after) = private_header(b, end + 9) {
            return Some(after);
        }
        at = end + 9;
    }
    None
}

pub(super) fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from >= b.len() || needle.is_empty() {
        return None;
    }
    b[from..].windows(needle.len()).position(|w| w == needle).map(|p| from + p)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
