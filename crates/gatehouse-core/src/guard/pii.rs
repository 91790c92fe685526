//! Personal data: email addresses, phone numbers, card numbers (Luhn and a card network's prefix), US
//! social security numbers and IBANs (the country's length and mod 97). Each detector wants a value to
//! stand on its own: a value glued to letters or digits on either side is part of something else.

use super::checksum::{card_brand, iban_checksum, iban_length, luhn};
use super::{is_alnum, Class, Found};
use crate::spec::PiiEntity;

/// Appends every value of `entities` in `text` to `out`.
pub fn find_pii(text: &str, entities: &[PiiEntity], out: &mut Vec<Found>) {
    let b = text.as_bytes();
    for e in entities {
        let push = &mut |start: usize, end: usize| out.push(Found { start, end, class: Class::Pii(*e) });
        match e {
            PiiEntity::Email => emails(b, push),
            PiiEntity::Phone => phones(b, push),
            PiiEntity::CreditCard => cards(b, push),
            PiiEntity::Ssn => ssns(b, push),
            PiiEntity::Iban => ibans(b, push),
        }
    }
}

fn local_char(c: u8) -> bool {
    is_alnum(c) || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn domain_char(c: u8) -> bool {
    is_alnum(c) || matches!(c, b'.' | b'-')
}

/// `local@domain.tld`: the domain has at least two labels, none empty, and a top-level label of two or more
/// letters.
fn emails(b: &[u8], push: &mut dyn FnMut(usize, usize)) {
    let mut from = 0;
    for at in memchr_all(b, b'@') {
        if at < from {
            continue;
        }
        let mut s = at;
        while s > from && local_char(b[s - 1]) {
            s -= 1;
        }
        while s < at && b[s] == b'.' {
            s += 1;
        }
        let mut e = at + 1;
        while e < b.len() && domain_char(b[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        if s == at || !domain_ok(&b[at + 1..e]) {
            continue;
        }
        push(s, e);
        from = e;
    }
}

fn domain_ok(d: &[u8]) -> bool {
    let labels: Vec<&[u8]> = d.split(|c| *c == b'.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l[0] != b'-' && l[l.len() - 1] != b'-')
        && labels.last().is_some_and(|t| t.len() >= 2 && t.iter().all(u8::is_ascii_alphabetic))
}

fn memchr_all(b: &[u8], c: u8) -> impl Iterator<Item = usize> + '_ {
    b.iter().enumerate().filter(move |(_, x)| **x == c).map(|(i, _)| i)
}

/// Whether a value may start at `i`: not glued to a word or a number before it.
fn starts_clear(b: &[u8], i: usize) -> bool {
    if i == 0 {
        return true;
    }
    let prev = b[i - 1];
    let glued = is_alnum(prev) || matches!(prev, b'_' | b'+');
    // `12-4111...`, `3.555...`: the middle of a longer number.
    let continues_number = matches!(prev, b'.' | b'-') && i >= 2 && b[i - 2].is_ascii_digit();
    !(glued || continues_number)
}

fn ends_clear(b: &[u8], j: usize) -> bool {
    j >= b.len() || !(is_alnum(b[j]) || b[j] == b'_')
}

fn digits_at(b: &[u8], i: usize) -> usize {
    b[i.min(b.len())..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Phone numbers in two shapes that ordinary numbers (years, versions, dates, amounts) do not take:
/// international, `+` and 8 to 15 digits (in groups, or 10 or more in one), and North American,
/// `[1 ](NXX) XXX XXXX` with separators (space, `-`, `.`, or the area code in parentheses).
fn phones(b: &[u8], push: &mut dyn FnMut(usize, usize)) {
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if (c == b'+' || c == b'(' || c.is_ascii_digit()) && starts_clear(b, i) {
            if let Some(end) = phone_at(b, i) {
                push(i, end);
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

/// The end of the longest phone number starting at `start`: a number may be followed by more digits
/// after a space (`call 555-123-4567 2 times`).
fn phone_at(b: &[u8], start: usize) -> Option<usize> {
    let mut j = start;
    let plus = b[j] == b'+';
    if plus {
        j += 1;
    }
    // (position of the first digit, number of digits) of each group.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut seps = 0;
    let mut best = None;
    loop {
        let paren = b.get(j) == Some(&b'(');
        if paren {
            j += 1;
        }
        let g = digits_at(b, j);
        if g == 0 || g > 15 {
            break;
        }
        groups.push((j, g));
        j += g;
        if paren {
            if b.get(j) != Some(&b')') {
                break;
            }
            j += 1;
            seps += 1;
        }
        let next = b.get(j).copied();
        // A number ends at white space, punctuation or the end; not before `-` or `.` and a digit.
        let glued_on = matches!(next, Some(b'-' | b'.')) && b.get(j + 1).is_some_and(u8::is_ascii_digit);
        if ends_clear(b, j) && !glued_on && phone_shape(b, start, plus, &groups, seps) {
            best = Some(j);
        }
        // The next group follows one separator, or directly after a closing parenthesis.
        let sep = matches!(next, Some(b' ' | b'-' | b'.'));
        let after = b.get(j + usize::from(sep)).copied();
        if matches!(after, Some(b'0'..=b'9' | b'(')) && (sep || paren) {
            seps += usize::from(sep);
            j += usize::from(sep);
            continue;
        }
        break;
    }
    best
}

fn phone_shape(b: &[u8], start: usize, plus: bool, groups: &[(usize, usize)], seps: usize) -> bool {
    let digits: usize = groups.iter().map(|(_, g)| g).sum();
    if plus {
        return (8..=15).contains(&digits) && (groups.len() > 1 || digits >= 10) && b[start + 1] != b'0';
    }
    let area = match groups {
        [(a, 3), (_, 3), (_, 4)] => *a,
        [(one, 1), (a, 3), (_, 3), (_, 4)] if b[*one] == b'1' => *a,
        _ => return false,
    };
    // The area code never starts with 0 or 1; the exchange is not checked, so that the 555-123-4567 of
    // examples counts too.
    seps >= 2 && (b'2'..=b'9').contains(&b[area])
}

/// Groups of digits joined by single spaces or hyphens: `(start, end)` of each group.
fn digit_groups(b: &[u8], i: usize) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut j = i;
    loop {
        let g = digits_at(b, j);
        if g == 0 {
            break;
        }
        groups.push((j, j + g));
        j += g;
        if matches!(b.get(j), Some(b' ' | b'-')) && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
            j += 1;
        } else {
            break;
        }
    }
    groups
}

/// 13 to 19 digits, whole or in groups, with a card network's prefix and a valid Luhn digit. Within a run of
/// groups, the longest valid number from each group wins, so a card followed by an expiry date is found.
fn cards(b: &[u8], push: &mut dyn FnMut(usize, usize)) {
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || !starts_clear(b, i) {
            i += 1;
            continue;
        }
        let groups = digit_groups(b, i);
        let run_end = groups.last().map_or(i + 1, |g| g.1);
        if !ends_clear(b, run_end) {
            i = run_end;
            continue;
        }
        let mut g = 0;
        while g < groups.len() {
            let mut digits: Vec<u8> = Vec::with_capacity(19);
            let mut best = None;
            for (k, (s, e)) in groups.iter().enumerate().skip(g) {
                digits.extend_from_slice(&b[*s..*e]);
                if digits.len() > 19 {
                    break;
                }
                if digits.len() >= 13 && card_brand(&digits) && luhn(&digits) {
                    best = Some(k);
                }
            }
            match best {
                Some(k) => {
                    push(groups[g].0, groups[k].1);
                    g = k + 1;
                }
                None => g += 1,
            }
        }
        i = run_end;
    }
}

/// `AAA-GG-SSSS` (or with spaces), with an area the SSA assigns (not 000, 666 or 9xx), a group other than
/// 00 and a serial other than 0000.
fn ssns(b: &[u8], push: &mut dyn FnMut(usize, usize)) {
    let mut i = 0;
    while i + 11 <= b.len() {
        if b[i].is_ascii_digit() && starts_clear(b, i) {
            if let Some(end) = ssn_at(b, i) {
                push(i, end);
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

fn ssn_at(b: &[u8], i: usize) -> Option<usize> {
    let s = &b[i..i + 11];
    let sep = s[3];
    if !matches!(sep, b'-' | b' ') || s[6] != sep {
        return None;
    }
    let parts = [&s[0..3], &s[4..6], &s[7..11]];
    if !parts.iter().all(|p| p.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let end = i + 11;
    // Not part of a longer number: `123-45-6789-0`, `123-45-67890`.
    let glued = b.get(end).is_some_and(|c| is_alnum(*c) || *c == b'_')
        || (b.get(end) == Some(&sep) && b.get(end + 1).is_some_and(u8::is_ascii_digit));
    let area = parts[0];
    let valid = area != b"000" && area != b"666" && area[0] != b'9' && parts[1] != b"00" && parts[2] != b"0000";
    (valid && !glued).then_some(end)
}

/// An IBAN, compact or printed in groups of four: a country code, two check digits and the country's
/// number of letters and digits, passing mod 97. Either case.
fn ibans(b: &[u8], push: &mut dyn FnMut(usize, usize)) {
    let mut i = 0;
    while i + 15 <= b.len() {
        let head = [b[i].to_ascii_uppercase(), b[i + 1].to_ascii_uppercase()];
        if head.iter().all(u8::is_ascii_uppercase)
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && starts_clear(b, i)
        {
            if let Some(end) = iban_length(head).and_then(|n| iban_at(b, i, n)) {
                push(i, end);
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

fn iban_at(b: &[u8], start: usize, len: usize) -> Option<usize> {
    let mut compact = Vec::with_capacity(len);
    let mut j = start;
    // Spaces are allowed only every four characters, as IBANs are printed.
    let spaced = b.get(start + 4) == Some(&b' ');
    while compact.len() < len {
        let c = *b.get(j)?;
        if c == b' ' && spaced && compact.len() % 4 == 0 && !compact.is_empty() {
            j += 1;
            continue;
        }
        if !is_alnum(c) {
            return None;
        }
        compact.push(c);
        j += 1;
    }
    (ends_clear(b, j) && iban_checksum(&compact)).then_some(j)
}
