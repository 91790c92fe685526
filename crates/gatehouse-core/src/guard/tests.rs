use proptest::prelude::*;

use super::checksum::{card_brand, iban_checksum, luhn};
use super::*;

fn found(text: &str) -> Vec<(String, &'static str)> {
    let mut f = Vec::new();
    find_pii(text, &PiiEntity::ALL, &mut f);
    find_secrets(text, &mut f);
    f.sort_by_key(|x| x.start);
    f.iter().map(|x| (text[x.start..x.end].to_owned(), x.class.detail())).collect()
}

fn only(text: &str, value: &str, detail: &str) {
    let f = found(text);
    assert_eq!(f, vec![(value.to_owned(), detail)], "in {text:?}");
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

#[test]
fn luhn_and_card_networks() {
    for ok in ["4111111111111111", "79927398713", "5555555555554444", "378282246310005", "6011111111111117"] {
        assert!(luhn(ok.as_bytes()), "{ok}");
    }
    for bad in ["4111111111111112", "79927398710", "", "12a4"] {
        assert!(!luhn(bad.as_bytes()), "{bad}");
    }
    assert!(card_brand(b"4111111111111111") && card_brand(b"378282246310005") && card_brand(b"2223003122003222"));
    // Luhn-valid but no network issues it: a 16-digit number starting with 9, an Amex prefix at 16 digits.
    assert!(!card_brand(b"9111111111111119") && !card_brand(b"3782822463100052"));
}

#[test]
fn iban_check_digits_and_lengths() {
    for ok in ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "NL91ABNA0417164300"]
    {
        assert!(iban_checksum(ok.as_bytes()), "{ok}");
        assert_eq!(checksum::iban_length([ok.as_bytes()[0], ok.as_bytes()[1]]), Some(ok.len()));
    }
    assert!(iban_checksum(b"gb82west12345698765432"), "either case");
    assert!(!iban_checksum(b"DE89370400440532013001") && !iban_checksum(b"GB28WEST12345698765432"));
    assert_eq!(checksum::iban_length(*b"ZZ"), None);
}

#[test]
fn each_pii_entity_is_found_in_its_usual_shapes() {
    only("write to jane.doe+news@mail.example.co.uk today", "jane.doe+news@mail.example.co.uk", "email");
    only("(jane@example.com).", "jane@example.com", "email");
    for phone in [
        "555-123-4567",
        "(555) 123-4567",
        "(555)123-4567",
        "555.123.4567",
        "1-800-555-0199",
        "+1 415 555 2671",
        "+44 20 7946 0958",
        "+4915112345678",
    ] {
        only(&format!("call {phone} now"), phone, "phone");
    }
    only("call 555-123-4567 2 times", "555-123-4567", "phone");
    for card in
        ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "3782 822463 10005", "5555555555554444"]
    {
        only(&format!("card: {card}, thanks"), card, "credit_card");
    }
    only("card 4111 1111 1111 1111 12 25", "4111 1111 1111 1111", "credit_card");
    only("ssn 078-05-1120.", "078-05-1120", "ssn");
    only("ssn 078 05 1120", "078 05 1120", "ssn");
    for iban in [
        "DE89370400440532013000",
        "DE89 3704 0044 0532 0130 00",
        "GB82 WEST 1234 5698 7654 32",
        "fr1420041010050500013m02606",
    ] {
        only(&format!("pay to {iban} please"), iban, "iban");
    }
}

#[test]
fn each_secret_kind_is_found() {
    let gatehouse = format!("gh_pat_0123456789abcdef_{}", "ab".repeat(32));
    let cases = [
        ("AKIAIOSFODNN7EXAMPLE".to_owned(), "aws_access_key_id"),
        ("ASIAY34FZKBOKMUTVV7A".to_owned(), "aws_access_key_id"),
        (format!("sk-{}", "aB3dE5".repeat(8)), "api_key"),
        (format!("sk-proj-{}", "Xy9_z-".repeat(20)), "api_key"),
        (format!("sk-ant-api03-{}", "q7W-e".repeat(19)), "api_key"),
        ("sk-live-0123456789abcdef".to_owned(), "api_key"),
        (format!("ghp_{}", "aB3".repeat(12)), "github_token"),
        (format!("github_pat_11ABCDEFG0{}", "x1_".repeat(25)), "github_token"),
        (format!("AIzaSy{}", "D-1_z".repeat(6) + "abc"), "google_api_key"),
        (JWT.to_owned(), "jwt"),
        (gatehouse.clone(), "gatehouse_token"),
        ("gh_va_0123456789abcdef_beef".to_owned(), "gatehouse_token"),
        ("Bearer abcdef123456".to_owned(), "bearer_credential"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n-----END RSA PRIVATE KEY-----".to_owned(),
            "private_key",
        ),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----".to_owned(), "private_key"),
    ];
    for (value, kind) in cases {
        only(&format!("here: {value} ok"), &value, kind);
        let r = redact_all(&format!("x {value} y"), &[]);
        assert_eq!(r, "x [REDACTED:secret] y", "{value}");
    }
    // A private key whose END never comes is a private key to the end.
    let open = "key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oT9";
    assert_eq!(redact_all(open, &[]), "key:\n[REDACTED:secret]");
}

#[test]
fn ordinary_text_and_numbers_are_left_alone() {
    let text = "The meeting is on 2024-03-15 at 10:30 in room 4111; version 1.2.3 shipped. Order #1234567890123 \
        cost $1,234.56 (ISBN 978-3-16-148410-0). Pi is 3.14159265358979. Population: 8,000,000,000; ZIP 94103; \
        years 1999-2024; 100-200-3000; 192.168.100.200; serial 12345678901234567890. The bearer of this letter \
        uses sk-learn and scikit. AKIA is short, AKIAshort too. Email me at user@localhost or @mention. \
        Invoice 4111111111111112. THE END 2023. -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n\
        Tokens like github_pat_short and ghp_short, eyJ.not.ajwt and Bearer token.";
    assert_eq!(found(text), Vec::<(String, &str)>::new());
    assert_eq!(redact_all(text, &PiiEntity::ALL), text);
}

#[test]
fn overlapping_findings_are_redacted_once() {
    let f = [
        Found { start: 2, end: 6, class: Class::Pii(PiiEntity::Phone) },
        Found { start: 4, end: 9, class: Class::Secret(SecretKind::ApiKey) },
        Found { start: 11, end: 12, class: Class::Pii(PiiEntity::Ssn) },
    ];
    assert_eq!(redact("0123456789abc", &f, |x| format!("<{}>", x.class.label())), "01<phone>9a<ssn>c");
    assert_eq!(redact("abc", &[], |_| String::new()), "abc");
}

#[test]
fn pending_start_holds_what_could_still_become_a_value() {
    let cases = [
        ("hello wor", 6),
        ("hello world ", 12),
        ("call 555-12", 5),
        ("call 555 123 ", 5),
        ("pay to DE89 3704 0044", 7),
        ("pay to de89 3704", 7),
        ("auth: Bearer abc", 6),
        ("auth: Bearer ", 6),
        ("x -----BEGIN RSA PRI", 2),
        ("x -----BEGIN RSA PRIVATE KEY-----\nMIIE\nabc\n", 2),
        // Nothing pending: the whole text may go.
        ("x -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- done ", usize::MAX),
        ("x -----BEGIN CERTIFICATE-----\nMIIE\n", usize::MAX),
        ("héllo wörld", 7),
    ];
    for (text, want) in cases {
        assert_eq!(pending_start(text), want.min(text.len()), "{text:?}");
    }
}

fn luhn_complete(mut digits: Vec<u8>) -> String {
    digits.push(b'0');
    for d in b'0'..=b'9' {
        if let Some(last) = digits.last_mut() {
            *last = d;
        }
        if luhn(&digits) {
            break;
        }
    }
    String::from_utf8(digits).unwrap_or_default()
}

fn iban_complete(country: &str, bban: &str) -> String {
    for check in 2..=98u32 {
        let candidate = format!("{country}{check:02}{bban}");
        if iban_checksum(candidate.as_bytes()) {
            return candidate;
        }
    }
    String::new()
}

/// A random value of every class the detectors know, in one of its printed shapes.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        ("[a-z][a-z0-9._]{0,10}[a-z0-9]", "[a-z]{1,10}", "[a-z]{2,6}").prop_map(|(l, d, t)| format!("{l}@{d}.{t}")),
        ("[2-9][0-9]{2}", "[0-9]{3}", "[0-9]{4}", 0..3usize).prop_map(|(a, b, c, s)| match s {
            0 => format!("{a}-{b}-{c}"),
            1 => format!("({a}) {b}-{c}"),
            _ => format!("+1 {a} {b} {c}"),
        }),
        ("[0-9]{14}", any::<bool>()).prop_map(|(d, spaced)| {
            let card = luhn_complete(format!("4{d}").into_bytes());
            if spaced {
                card.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
            } else {
                card
            }
        }),
        ("[0-8][0-9]{2}", "[0-9]{2}", "[0-9]{4}")
            .prop_filter("an assigned number", |(a, g, s)| a != "000" && a != "666" && g != "00" && s != "0000")
            .prop_map(|(a, g, s)| format!("{a}-{g}-{s}")),
        ("[0-9]{8}", "[0-9]{10}", any::<bool>()).prop_map(|(bank, account, spaced)| {
            let iban = iban_complete("DE", &format!("{bank}{account}"));
            if spaced {
                iban.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
            } else {
                iban
            }
        }),
        "[A-Z0-9]{16}".prop_map(|k| format!("AKIA{k}")),
        ("[A-Za-z0-9]{30,60}", "[0-9]").prop_map(|(k, d)| format!("sk-ant-api03-{d}{k}")),
        "[A-Za-z0-9]{36,40}".prop_map(|k| format!("ghp_{k}")),
        "[A-Za-z0-9_-]{35}".prop_map(|k| format!("AIza{k}")),
        ("[A-Za-z0-9_-]{12,40}", "[A-Za-z0-9_-]{16,40}").prop_map(|(p, s)| format!("eyJhbGciOiJIUzI1NiJ9.{p}.{s}")),
        "[0-9a-f]{64}".prop_map(|s| format!("gh_va_00112233aabbccdd_{s}")),
        ("[A-Za-z]{4,10}", "[0-9]{4,10}").prop_map(|(a, d)| format!("Bearer {a}{d}")),
        "[A-Za-z0-9+/]{20,64}"
            .prop_map(|body| format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----")),
    ]
}

/// Text around a value: words, spaces and punctuation.
fn context() -> impl Strategy<Value = String> {
    "[a-zA-Z ,.;:!?()\n]{0,40}"
}

proptest! {
    #[test]
    fn redaction_never_leaves_a_found_value(before in context(), v in value(), after in context()) {
        let text = format!("{before} {v} {after}");
        let out = redact_all(&text, &PiiEntity::ALL);
        prop_assert!(!out.contains(&v), "{v:?} survived in {out:?}");
        prop_assert!(out.contains("[REDACTED:"), "{out:?}");
    }

    /// A value that has begun and not ended is never before the point a stream may release up to.
    #[test]
    fn a_partial_value_is_always_held(before in context(), v in value(), cut in 1usize..200) {
        let text = format!("{before} {v}");
        let start = before.len() + 1;
        let p = start + (cut % v.len()).max(1);
        prop_assume!(p < text.len() && text.is_char_boundary(p));
        prop_assert!(pending_start(&text[..p]) <= start, "{:?} released past {start}", &text[..p]);
    }
}
