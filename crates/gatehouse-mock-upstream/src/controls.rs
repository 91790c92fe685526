//! Per-request behaviour controls, from `x-mock-*` headers or markers in the model name.

use axum::http::HeaderMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Controls {
    pub delay_ms: u64,
    pub status: Option<u16>,
    pub fail_times: Option<u32>,
    pub retry_after: Option<String>,
    pub cut_after: Option<usize>,
    pub chunk_delay_ms: u64,
    pub tokens: Option<usize>,
    /// Stream deltas of at most this many characters instead of one word each.
    pub delta_chars: Option<usize>,
    /// Upstream faults (see `faults`): an answer of N bytes of garbage, an answer that never ends (in
    /// N-byte pieces), or a well-formed answer padded to N bytes.
    pub garbage: Option<usize>,
    pub endless: Option<usize>,
    pub huge: Option<usize>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn header_num<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    header(headers, name).and_then(|v| v.parse().ok())
}

fn error_status(code: u64) -> Option<u16> {
    u16::try_from(code).ok().filter(|c| (400..=599).contains(c))
}

/// Finds `marker` followed by digits in `name`, where the marker starts the name or follows a
/// non-alphanumeric character (so `fail-` does not match inside `nofail-`); returns the number and the text
/// after the digits.
fn marker<'a>(name: &'a str, marker: &str) -> Option<(u64, &'a str)> {
    let mut from = 0;
    while let Some(pos) = name[from..].find(marker) {
        let at = from + pos;
        let boundary = name[..at].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric());
        let rest = &name[at + marker.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if boundary && digits > 0 {
            if let Ok(n) = rest[..digits].parse() {
                return Some((n, &rest[digits..]));
            }
        }
        from = at + marker.len();
    }
    None
}

fn millis_marker(name: &str, m: &str) -> Option<u64> {
    marker(name, m).filter(|(_, rest)| rest.starts_with("ms")).map(|(n, _)| n)
}

impl Controls {
    /// Reads the controls; `names` are the model-ish names of the request (model field, deployment, model id).
    pub(crate) fn parse(headers: &HeaderMap, names: &[&str]) -> Controls {
        let mut c = Controls::default();
        for name in names.iter().filter(|n| n.contains('-')) {
            if let Some(ms) = millis_marker(name, "slow-") {
                c.delay_ms = ms;
            }
            if let Some(ms) = millis_marker(name, "drip-") {
                c.chunk_delay_ms = ms;
            }
            if let Some((code, rest)) = marker(name, "fail-") {
                if let Some(status) = error_status(code) {
                    c.status = Some(status);
                    c.fail_times = marker(rest, "x").and_then(|(n, _)| u32::try_from(n).ok());
                }
            }
            if let Some((n, _)) = marker(name, "cut-") {
                c.cut_after = usize::try_from(n).ok();
            }
            if let Some((n, _)) = marker(name, "tokens-") {
                c.tokens = usize::try_from(n).ok();
            }
            if let Some((n, _)) = marker(name, "garbage-") {
                c.garbage = usize::try_from(n).ok();
            }
            if let Some((n, _)) = marker(name, "endless-") {
                c.endless = usize::try_from(n).ok().filter(|n| *n > 0);
            }
            if let Some((n, _)) = marker(name, "huge-") {
                c.huge = usize::try_from(n).ok();
            }
            if let Some((n, _)) = marker(name, "split-") {
                c.delta_chars = usize::try_from(n).ok().filter(|n| *n > 0);
            }
        }
        // The hot path (no controls at all) pays a handful of failed header lookups and nothing more.
        if let Some(v) = header_num(headers, "x-mock-delay-ms") {
            c.delay_ms = v;
        }
        if let Some(v) = header_num::<u64>(headers, "x-mock-status") {
            c.status = error_status(v);
        }
        if let Some(v) = header_num(headers, "x-mock-fail-times") {
            c.fail_times = Some(v);
        }
        if let Some(v) = header(headers, "x-mock-retry-after") {
            c.retry_after = Some(v.to_owned());
        }
        if let Some(v) = header_num(headers, "x-mock-cut-after") {
            c.cut_after = Some(v);
        }
        if let Some(v) = header_num(headers, "x-mock-chunk-delay-ms") {
            c.chunk_delay_ms = v;
        }
        if let Some(v) = header_num(headers, "x-mock-tokens") {
            c.tokens = Some(v);
        }
        if let Some(v) = header_num::<usize>(headers, "x-mock-delta-chars") {
            c.delta_chars = Some(v).filter(|n| *n > 0);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_markers() {
        let h = HeaderMap::new();
        let c = Controls::parse(&h, &["gpt-4o-slow-250ms-drip-10ms-cut-3-tokens-7-split-4"]);
        assert_eq!(c.delta_chars, Some(4));
        assert_eq!(c.delay_ms, 250);
        assert_eq!(c.chunk_delay_ms, 10);
        assert_eq!(c.cut_after, Some(3));
        assert_eq!(c.tokens, Some(7));
        assert_eq!(c.status, None);

        let c = Controls::parse(&h, &["mock-fail-503x2"]);
        assert_eq!((c.status, c.fail_times), (Some(503), Some(2)));
        let c = Controls::parse(&h, &["mock-fail-429"]);
        assert_eq!((c.status, c.fail_times), (Some(429), None));
        // Not an error status, not at a word boundary, or without the unit: ignored.
        assert_eq!(Controls::parse(&h, &["fail-200", "nofail-500", "slow-100", "gpt-4o"]), Controls::default());
        // The deployment name counts as well as the model.
        assert_eq!(Controls::parse(&h, &["gpt-4o", "dep-slow-5ms"]).delay_ms, 5);
    }

    #[test]
    fn headers_win() {
        let mut h = HeaderMap::new();
        h.insert("x-mock-status", "500".parse().unwrap());
        h.insert("x-mock-delay-ms", "12".parse().unwrap());
        let c = Controls::parse(&h, &["m-fail-429-slow-99ms"]);
        assert_eq!(c.status, Some(500));
        assert_eq!(c.delay_ms, 12);
    }
}
