//! Checks on the TXT strings that carry a record (RFC 7208 §3.3: the character-strings of
//! one TXT record are joined without separators): strings over 255 bytes, splits inside a
//! term, terms glued together by a missing space, answers too big for UDP, and TXT records
//! that look like SPF but that receivers do not select.

use super::{Check, Finding, Severity, cap};
use crate::dns::TxtStrings;
use crate::spf::macros::describe_char;
use crate::spf::record::{is_spf_record, quote};

/// A DNS character-string holds at most 255 bytes (RFC 1035 §3.3).
const MAX_STRING: usize = 255;

/// A DNS message over UDP without EDNS holds at most 512 bytes (RFC 1035 §4.2.1).
const UDP_LIMIT: usize = 512;

/// Findings about how the SPF record `strings` is split into character-strings.
pub(super) fn check_strings(domain: &str, path: &[String], strings: &TxtStrings) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |severity: Severity, check: Check, message: String| {
        out.push(Finding {
            severity,
            check,
            domain: domain.to_string(),
            path: path.to_vec(),
            message,
        });
    };
    let count = strings.len();
    for (i, s) in strings.iter().enumerate() {
        if s.len() > MAX_STRING {
            let which = if count == 1 {
                "the record is one string".to_string()
            } else {
                format!("string {} of {count} is", i + 1)
            };
            push(
                Severity::Error,
                Check::StringTooLong,
                format!(
                    "{which} of {} bytes, but a DNS character-string holds at most {MAX_STRING} (RFC 1035 §3.3): the zone was built wrongly, and servers reject or cut it; split the record into strings of at most {MAX_STRING} bytes",
                    s.len()
                ),
            );
        }
    }

    let joined = strings.concat();
    let mut boundary = 0;
    for (i, s) in strings.iter().enumerate().take(count.saturating_sub(1)) {
        boundary += s.len();
        let b = boundary;
        if b == 0 || b >= joined.len() {
            continue;
        }
        let (left, right) = (joined[b - 1], joined[b]);
        if left == b' ' || right == b' ' {
            continue;
        }
        // The split falls inside a term: find the term.
        let start = joined[..b]
            .iter()
            .rposition(|&c| c == b' ')
            .map_or(0, |p| p + 1);
        let end = joined[b..]
            .iter()
            .position(|&c| c == b' ')
            .map_or(joined.len(), |p| b + p);
        let before = String::from_utf8_lossy(&joined[start..b]);
        let after = String::from_utf8_lossy(&joined[b..end]);
        let term = String::from_utf8_lossy(&joined[start..end]);
        let (n, m) = (i + 1, i + 2);
        let qualifier_only = matches!(before.as_ref(), "+" | "-" | "~" | "?");
        if !qualifier_only && starts_like_term(&joined[b..end]) {
            push(
                Severity::Error,
                Check::GluedTerms,
                format!(
                    "strings {n} and {m} of the TXT record are joined without a space: \"...{}\" + \"{}...\" gives {} (receivers join the strings as they are, RFC 7208 §3.3); end string {n} with a space",
                    tail(&before, 40),
                    head(&after, 40),
                    quote(&cap(&term, 120))
                ),
            );
        } else {
            push(
                Severity::Info,
                Check::SplitInsideTerm,
                format!(
                    "strings {n} and {m} of the TXT record are split inside the term {} (\"{}\" + \"{}\"): receivers join them correctly, but the record is easy to break when edited",
                    quote(&cap(&term, 120)),
                    tail(&before, 40),
                    head(&after, 40)
                ),
            );
        }
    }
    out
}

/// Does this text (the part of a term after a string boundary) start like a term of its own:
/// a mechanism with its argument, a qualified mechanism, or `redirect=`/`exp=`/`v=spf1`?
fn starts_like_term(text: &[u8]) -> bool {
    let lower = text.to_ascii_lowercase();
    for prefix in [&b"redirect="[..], b"exp=", b"v=spf1"] {
        if lower.starts_with(prefix) {
            return true;
        }
    }
    let (qualified, body) = match lower.first() {
        Some(b'+' | b'-' | b'~' | b'?') => (true, &lower[1..]),
        _ => (false, &lower[..]),
    };
    for name in [
        &b"include"[..],
        b"exists",
        b"all",
        b"ptr",
        b"ip4",
        b"ip6",
        b"mx",
        b"a",
    ] {
        if !body.starts_with(name) {
            continue;
        }
        match body.get(name.len()) {
            Some(b':' | b'/') => return true,
            // A bare name: `-all`, `mx`; but a bare `a` is too often a domain's last letter.
            None => return qualified || name != b"a",
            Some(_) => {}
        }
    }
    false
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        return s.to_string();
    }
    format!("...{}", s.chars().skip(count - n).collect::<String>())
}

/// The first `n` characters of `s`.
fn head(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    format!("{}...", s.chars().take(n).collect::<String>())
}

/// The approximate size of the DNS response carrying these TXT records, when it is over
/// 512 bytes: header, question, and per record a compressed owner name, type, class, TTL,
/// length and the strings with their length bytes.
pub(super) fn oversized_answer(domain: &str, records: &[TxtStrings]) -> Option<usize> {
    let name = domain.len() + 2;
    let mut size = 12 + name + 4;
    for record in records {
        size += 2 + 10;
        for s in record {
            // Strings over 255 bytes go out as several.
            size += s.len() + s.len().div_ceil(MAX_STRING).max(1);
        }
    }
    (size > UDP_LIMIT).then_some(size)
}

/// Why a TXT record that looks like an SPF record is not one (receivers select only records
/// that start with exactly `v=spf1` and a space or the end, RFC 7208 §4.5).
pub(super) fn lookalike(strings: &TxtStrings) -> Option<String> {
    let joined = strings.concat();
    if is_spf_record(&joined) {
        return None;
    }
    let window = &joined[..joined.len().min(24)];
    let lower = window.to_ascii_lowercase();
    let at = lower.windows(6).position(|w| w == b"v=spf1")?;
    let shown = cap(&String::from_utf8_lossy(&joined), 120);
    if at == 0 {
        let next = String::from_utf8_lossy(&joined[6..]);
        let c = next.chars().next()?;
        let first_len = strings.first().map_or(0, Vec::len);
        let why = if first_len == 6 && strings.len() > 1 {
            format!(
                "strings 1 and 2 are joined without a space (\"v=spf1\" + \"{}\")",
                head(&next, 20)
            )
        } else {
            format!(
                "\"v=spf1\" is followed by {} instead of a space",
                describe_char(c)
            )
        };
        return Some(format!("{why}; the text is: {shown}"));
    }
    let prefix = String::from_utf8_lossy(&joined[..at]);
    // Only junk before it (quotes, spaces, a byte order mark), not a word ending in v=spf1.
    if prefix
        .chars()
        .any(|c| c.is_ascii_alphanumeric() || c == '=')
    {
        return None;
    }
    let typed = " (quotes typed into a DNS control panel become part of the text)";
    let (what, note) = match prefix.chars().next() {
        Some('"') => ("a quotation mark (\")".to_string(), typed),
        Some('\'') => ("an apostrophe (')".to_string(), typed),
        Some(' ') => ("a space".to_string(), ""),
        Some(c) => (describe_char(c), ""),
        None => return None,
    };
    Some(format!(
        "it starts with {what} before \"v=spf1\"{note}; the text is: {shown}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(parts: &[&str]) -> TxtStrings {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    #[test]
    fn term_starts() {
        assert!(starts_like_term(b"include:b.example"));
        assert!(starts_like_term(b"-all"));
        assert!(starts_like_term(b"mx"));
        assert!(starts_like_term(b"redirect=x.example"));
        assert!(!starts_like_term(b"a"));
        assert!(!starts_like_term(b"ample.com"));
        assert!(!starts_like_term(b"mx.example.com"));
        assert!(!starts_like_term(b"1"));
    }

    #[test]
    fn lookalikes() {
        assert!(lookalike(&strings(&["v=spf1 -all"])).is_none());
        assert!(lookalike(&strings(&["google-site-verification=abc"])).is_none());
        let why = lookalike(&strings(&["v=spf1", "ip4:192.0.2.1 -all"])).unwrap();
        assert!(
            why.starts_with("strings 1 and 2 are joined without a space"),
            "{why}"
        );
        let why = lookalike(&strings(&["\"v=spf1 -all\""])).unwrap();
        assert!(why.starts_with("it starts with a quotation mark"), "{why}");
        assert!(lookalike(&strings(&["v=spf10 -all"])).is_some());
    }

    #[test]
    fn answer_size() {
        assert!(oversized_answer("example.com", &[strings(&["v=spf1 -all"])]).is_none());
        let big = vec![strings(&[&"x".repeat(250), &"y".repeat(250)])];
        assert!(oversized_answer("example.com", &big).unwrap() > 512);
    }
}
