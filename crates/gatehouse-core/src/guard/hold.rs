//! How much of a text that is still growing could yet turn into a value: a streamed answer releases only
//! what lies before that point, so a value split across chunks is found whole before any of it leaves.

use super::secrets::{find, find_end_marker};

/// The longest printed PII value that contains spaces: an IBAN of 34 characters in groups of four has 42,
/// a phone number with a country code fewer.
const MAX_GROUPED: usize = 64;

/// The earliest byte of `text` from which more text could complete a PII value or a credential the
/// detectors of this module know; `text.len()` when nothing at the end is pending. Always a character
/// boundary.
///
/// Held back: the last word if the text does not end in white space (every single-word value: emails,
/// keys, tokens, card numbers written whole); a trailing run of digit groups (phone, card, SSN and IBAN
/// numbers written with spaces or hyphens), with a country code before it; `Bearer` before a pending
/// credential; and a private key block whose END line has not come.
pub fn pending_start(text: &str) -> usize {
    let b = text.as_bytes();
    let mut at = b.len();
    let word = last_word_start(b, b.len());
    at = at.min(word);
    at = at.min(grouped_start(b));
    // `Bearer` and a credential still arriving (or not yet started).
    let before = if word < b.len() { word } else { b.len() };
    let prev_end = trim_space_end(b, before);
    if prev_end < before {
        let prev = last_word_start(b, prev_end);
        if b[prev..prev_end].eq_ignore_ascii_case(b"bearer") {
            at = at.min(prev);
        }
    }
    if let Some(block) = open_private_key(b) {
        at = at.min(block);
    }
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn is_space(c: u8) -> bool {
    c.is_ascii_whitespace()
}

/// The start of the run of non-space bytes that ends at `end` (`end` itself if `b[end - 1]` is a space).
fn last_word_start(b: &[u8], end: usize) -> usize {
    let mut i = end;
    while i > 0 && !is_space(b[i - 1]) {
        i -= 1;
    }
    i
}

fn trim_space_end(b: &[u8], end: usize) -> usize {
    let mut i = end;
    while i > 0 && matches!(b[i - 1], b' ' | b'\t') {
        i -= 1;
    }
    i
}

fn group_char(c: u8) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase() || matches!(c, b' ' | b'-' | b'.' | b'(' | b')' | b'+')
}

/// The start of a trailing run of digit groups (with their separators), if it holds a digit.
fn grouped_start(b: &[u8]) -> usize {
    let floor = b.len().saturating_sub(MAX_GROUPED);
    let mut i = b.len();
    while i > floor && group_char(b[i - 1]) {
        i -= 1;
    }
    if !b[i..].iter().any(u8::is_ascii_digit) {
        return b.len();
    }
    // Skip separators the run starts with, but keep a lower-case IBAN's country code: `de89 3704 ...`.
    while i < b.len() && matches!(b[i], b' ' | b'-' | b'.' | b')') {
        i += 1;
    }
    if i >= 2 && b[i - 1].is_ascii_alphabetic() && b[i - 2].is_ascii_alphabetic() {
        i -= 2;
    }
    i
}

/// Where a private key block starts whose END line has not come, or whose header is not complete yet.
fn open_private_key(b: &[u8]) -> Option<usize> {
    let mut last = None;
    let mut from = 0;
    while let Some(at) = find(b, from, b"-----BEGIN") {
        last = Some(at);
        from = at + 10;
    }
    let begin = last?;
    let header_end = find(b, begin + 10, b"-----");
    match header_end {
        // A complete header that is not a private key's: a certificate, a public key.
        Some(h) if !b[begin..h].windows(11).any(|w| w == b"PRIVATE KEY") => None,
        Some(h) => find_end_marker(b, h + 5).is_none().then_some(begin),
        None => Some(begin),
    }
}
