//! Lexical helpers shared by the SPF header parsers: CFWS and comment scanning, quoted
//! strings, `key=value` lists, and recognising IPs, addresses and host names in the
//! attacker-controlled free text of header values.
//!
//! Everything here is linear in the input: every byte is looked at a bounded number of times,
//! so a 1 MB header value costs about as much as reading it.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::model::canonical_ip;

/// One lexical item of a structured header value (RFC 5322 §3.2.2 CFWS, §3.2.4 quoted-string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// A run of non-space text; quoted strings inside it are kept with their quotes (so
    /// `x-record-text="v=spf1 a -all"` is one word).
    Word {
        text: &'a str,
        /// Whitespace (or a stray `)`) separated it from the previous item.
        after_space: bool,
    },
    /// The content of a top-level comment, without its outer parentheses (nested comments
    /// kept as written). An unterminated comment runs to the end of the value.
    Comment(&'a str),
    /// A `;` outside quotes and comments.
    Semicolon,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c | 0)
}

/// Split a header value into words, comments and semicolons.
///
/// Comments nest and honour `\` quoted-pairs (RFC 5322 §3.2.2); double quotes are not special
/// inside comments. Outside comments a double-quoted string keeps `;`, `(` and whitespace
/// inside one word. An unterminated quote is taken literally (and no later quote opens a
/// string, which keeps the scan linear); an unterminated comment runs to the end; a stray
/// `)` counts as whitespace.
pub fn lex(value: &str) -> Vec<Item<'_>> {
    let bytes = value.as_bytes();
    let mut items = Vec::with_capacity(16);
    let mut i = 0usize;
    let mut space = false;
    let mut quotes_usable = true;
    while let Some(&b) = bytes.get(i) {
        if is_space(b) || b == b')' {
            space = true;
            i += 1;
        } else if b == b';' {
            items.push(Item::Semicolon);
            space = false;
            i += 1;
        } else if b == b'(' {
            let (end_of_content, next) = comment_end(bytes, i + 1);
            items.push(Item::Comment(
                value.get(i + 1..end_of_content).unwrap_or(""),
            ));
            space = true;
            i = next;
        } else {
            let start = i;
            while let Some(&c) = bytes.get(i) {
                if is_space(c) || matches!(c, b';' | b'(' | b')') {
                    break;
                }
                if c == b'"' && quotes_usable {
                    match quote_end(bytes, i + 1) {
                        Some(close) => i = close + 1,
                        None => {
                            quotes_usable = false;
                            i += 1;
                        }
                    }
                } else {
                    i += 1;
                }
            }
            items.push(Item::Word {
                text: value.get(start..i).unwrap_or(""),
                after_space: space,
            });
            space = false;
        }
    }
    items
}

/// Given the index just after a `(`, return (end of the comment's content, index after the
/// closing `)`). Unterminated: both are the end of the input.
fn comment_end(bytes: &[u8], from: usize) -> (usize, usize) {
    let mut depth = 1usize;
    let mut j = from;
    while let Some(&c) = bytes.get(j) {
        match c {
            b'\\' => j += 2,
            b'(' => {
                depth += 1;
                j += 1;
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return (j, j + 1);
                }
                j += 1;
            }
            _ => j += 1,
        }
    }
    (bytes.len(), bytes.len())
}

/// Index of the `"` closing a quoted string whose content starts at `from`.
fn quote_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut j = from;
    while let Some(&c) = bytes.get(j) {
        match c {
            b'\\' => j += 2,
            b'"' => return Some(j),
            _ => j += 1,
        }
    }
    None
}

/// Split `key=value` at the first `=`; the key must be a plausible token (letters, digits,
/// `-`, `_`, `.`, `/`). The value is returned raw (quotes kept).
pub fn key_value(word: &str) -> Option<(&str, &str)> {
    let eq = memchr::memchr(b'=', word.as_bytes())?;
    let key = word.get(..eq)?;
    let value = word.get(eq + 1..)?;
    let plausible = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    plausible.then_some((key, value))
}

/// Remove double quotes (and their `\` escapes) from a word, keep everything else.
pub fn unquote(word: &str) -> String {
    if !word.contains('"') {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len());
    let mut in_quotes = false;
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\\' if in_quotes => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Clean an identity-like value (address, domain, HELO, IP) as writers record it: remove
/// quotes, surrounding `<>` and `'…'`, trailing `;`/`,`, and every whitespace character — a
/// non-compliant folder may have split the value (`a dmin@x`, `zhangyiqun\t@x`), and none of
/// these values can contain whitespace.
pub fn clean_value(raw: &str) -> String {
    clean_value_cow(raw).into_owned()
}

/// [`clean_value`], borrowing from `raw` when nothing inside needs removing (no quotes, no
/// whitespace between the characters kept): the usual case.
pub fn clean_value_cow(raw: &str) -> Cow<'_, str> {
    if raw.contains('"') {
        return Cow::Owned(clean_unquoted(&unquote(raw)).into_owned());
    }
    clean_unquoted(raw)
}

fn clean_unquoted(unquoted: &str) -> Cow<'_, str> {
    let mut s: &str = unquoted.trim();
    s = s.trim_end_matches([';', ',']);
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        s = s.get(1..s.len() - 1).unwrap_or("");
    }
    s = s.strip_prefix('<').unwrap_or(s);
    s = s.strip_suffix('>').unwrap_or(s);
    if s.is_ascii() && !s.bytes().any(|b| matches!(b, b'\t'..=b'\r' | b' ')) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().filter(|c| !c.is_whitespace()).collect())
}

/// Clean an address, domain or HELO value: as [`clean_value`], and drop trailing `:` (no
/// address or host name ends with one; log excerpts glue one on).
pub fn clean_address(raw: &str) -> String {
    let mut cleaned = clean_value(raw);
    while cleaned.ends_with(':') {
        cleaned.pop();
    }
    cleaned
}

/// Clean a token taken out of prose (a comment): as [`clean_value`], and also drop trailing
/// sentence punctuation (`:` `.` `)`) and single quotes around it.
pub fn clean_prose_token(raw: &str) -> String {
    clean_prose_token_cow(raw).into_owned()
}

/// [`clean_prose_token`], borrowing when it can (see [`clean_value_cow`]).
pub fn clean_prose_token_cow(raw: &str) -> Cow<'_, str> {
    let trimmed = raw
        .trim_start_matches(['(', '\'', '"', '<', '['])
        .trim_end_matches([')', ':', '.', ',', ';', '\'', '"', '>']);
    clean_value_cow(trimmed)
}

/// What was written where an IP belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpText {
    /// A valid IP (IPv4-mapped IPv6 already turned into IPv4, RFC 7208 §5).
    Valid(IpAddr),
    /// Anything else: a redaction or placeholder (`A.B.C.D`, `REDACTED`,
    /// `185.118.189.phishing@pot`), kept as written.
    Placeholder(String),
}

/// Read the text in an IP slot: `1.2.3.4`, `[1.2.3.4]`, `IPv6:2001:db8::1`, `::ffff:1.2.3.4`,
/// with quotes and sentence punctuation tolerated. `None` when the slot is empty.
pub fn ip_text(raw: &str) -> Option<IpText> {
    let cleaned = clean_value_cow(raw);
    let prose = clean_prose_token_cow(raw);
    if cleaned.is_empty() || prose.is_empty() {
        return None;
    }
    for candidate in [cleaned.as_ref(), prose.as_ref()] {
        let mut s = candidate;
        s = s.strip_prefix('[').unwrap_or(s);
        s = s.strip_suffix(']').unwrap_or(s);
        if s.len() > 5 && s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("ipv6:")) {
            s = s.get(5..).unwrap_or(s);
        }
        if let Some(ip) = parse_ip(s) {
            return Some(IpText::Valid(ip));
        }
    }
    Some(IpText::Placeholder(prose.into_owned()))
}

/// Parse an IP, canonicalising IPv4-mapped IPv6; zone ids (`%eth0`) are dropped.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.split('%').next().unwrap_or(s);
    s.parse::<IpAddr>().ok().map(canonical_ip)
}

/// Every valid IP address written as a free-standing token in prose, in order. A candidate
/// must not be glued to letters or digits (`ip4:1.2.3.0/24` and `1.2.3.4.example.com` are not
/// addresses of anything), may carry trailing sentence punctuation, and must contain a digit.
pub fn find_ips(text: &str) -> Vec<IpAddr> {
    // An IP run (hex digits, `:`, `.`) is free-standing when the bytes around it are
    // neither IP characters (it is maximal) nor glue: so it is exactly a maximal run of
    // IP-or-glue bytes that holds no glue byte. Whole words are skipped at once.
    const OTHER: u8 = 0;
    const IP: u8 = 1;
    const GLUE: u8 = 2;
    const CLASS: [u8; 256] = {
        let mut class = [OTHER; 256];
        let mut b = 0usize;
        while b < 128 {
            let c = b as u8;
            class[b] = if c.is_ascii_hexdigit() || c == b':' || c == b'.' {
                IP
            } else if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'@' | b'/') {
                GLUE
            } else {
                OTHER
            };
            b += 1;
        }
        class
    };
    let bytes = text.as_bytes();
    let class_at = |i: usize| bytes.get(i).map_or(OTHER, |&b| CLASS[usize::from(b)]);
    let mut found = Vec::new();
    let mut i = 0usize;
    while i < bytes.len() {
        while i < bytes.len() && class_at(i) == OTHER {
            i += 1;
        }
        let start = i;
        let mut glued = false;
        while i < bytes.len() {
            match class_at(i) {
                OTHER => break,
                class => glued |= class == GLUE,
            }
            i += 1;
        }
        if start == i || glued {
            continue;
        }
        let Some(run) = text.get(start..i) else {
            continue;
        };
        let run = run.trim_end_matches(['.', ':']);
        if run.bytes().any(|c| c.is_ascii_digit())
            && let Some(ip) = parse_ip(run)
            && !ip.is_unspecified()
        {
            found.push(ip);
        }
    }
    found
}

/// A DNS-style host name: dot-separated labels of letters, digits, `-` and `_` (the last is not
/// valid in host names but appears in authserv-ids), optional trailing dot.
pub fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Number of labels of a host name.
pub fn label_count(host: &str) -> usize {
    host.trim_end_matches('.').split('.').count()
}

/// The domain part of an address (after the last `@`), or the value itself when it has no
/// `@`; lower-cased, trailing dot removed. `None` for an empty result.
pub fn domain_of(identity: &str) -> Option<String> {
    let domain = match identity.rfind('@') {
        Some(at) => identity.get(at + 1..).unwrap_or(""),
        None => identity,
    };
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    // An address literal (`[192.0.2.1]`, a bare IP) names no domain to check.
    let literal = domain.starts_with('[') || parse_ip(&domain).is_some();
    (!domain.is_empty() && !literal).then_some(domain)
}

/// RFC 8601 allows CFWS around `=`, `.` and `/` (`spf (c) = (c) pass smtp (c) . mailfrom =
/// a@b`, Appendix B.7). When a value has such free-standing operators, rewrite it with each
/// `name = value` glued into one word and the comments moved after it; `None` when the value
/// has none (the common case, left untouched).
pub fn glue_spaced_operators(value: &str) -> Option<String> {
    let items = lex(value);
    let is_operator = |item: &Item<'_>| matches!(item, Item::Word { text, .. } if matches!(*text, "=" | "." | "/"));
    if !has_spaced_operators(&items) {
        return None;
    }
    let mut out = String::with_capacity(value.len());
    let mut comments: Vec<&str> = Vec::new();
    let mut glue_next = false;
    let flush = |out: &mut String, comments: &mut Vec<&str>| {
        for comment in comments.drain(..) {
            out.push_str(" (");
            out.push_str(comment);
            out.push(')');
        }
    };
    for (i, item) in items.iter().enumerate() {
        match *item {
            Item::Word { text, .. } => {
                let operator = matches!(text, "=" | "." | "/");
                if !(operator || glue_next) {
                    flush(&mut out, &mut comments);
                    if !out.is_empty() {
                        out.push(' ');
                    }
                }
                out.push_str(text);
                // Glue the next word after an operator, and to a word followed by one.
                let next_is_operator = items
                    .get(i + 1..)
                    .unwrap_or(&[])
                    .iter()
                    .find(|it| !matches!(it, Item::Comment(_)))
                    .is_some_and(is_operator);
                glue_next =
                    operator || next_is_operator || (glue_next && text.ends_with(['=', '.', '/']));
            }
            Item::Comment(comment) => comments.push(comment),
            Item::Semicolon => {
                flush(&mut out, &mut comments);
                out.push(';');
                glue_next = false;
            }
        }
    }
    flush(&mut out, &mut comments);
    Some(out)
}

/// Whether lexed items hold a free-standing `=`, `.` or `/` (see [`glue_spaced_operators`]).
pub fn has_spaced_operators(items: &[Item<'_>]) -> bool {
    items
        .iter()
        .any(|item| matches!(item, Item::Word { text, .. } if matches!(*text, "=" | "." | "/")))
}

/// The most specific real host name among candidates, in preference order: names with a dot
/// beat names without, more labels beat fewer, and earlier candidates win ties. Addresses,
/// `<UNKNOWN>`-style placeholders and empty strings are never chosen; a single dot-less token
/// (`me`, `mx2e12`) is kept when it is all there is.
pub fn most_specific_host<'a, I>(candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(&str, (bool, usize))> = None;
    for candidate in candidates {
        let candidate = candidate.trim().trim_end_matches('.');
        if candidate.is_empty() || !is_host_name(candidate) {
            continue;
        }
        let score = (candidate.contains('.'), label_count(candidate));
        if best.is_none_or(|(_, best_score)| score > best_score) {
            best = Some((candidate, score));
        }
    }
    best.map(|(host, _)| host.to_string())
}

/// One `key=value` pair of a list (RFC 7208 §9.1 `key-value-list`): key lower-cased, value
/// raw (quotes kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair<'a> {
    pub key: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

impl Pair<'_> {
    /// The same pair, owning its text.
    pub fn into_owned(self) -> Pair<'static> {
        Pair {
            key: Cow::Owned(self.key.into_owned()),
            value: Cow::Owned(self.value.into_owned()),
        }
    }
}

/// `text` lower-cased (ASCII), borrowed when it is already.
pub fn ascii_lowercase(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// Assemble `key=value` pairs from lexed items, tolerating what real writers and broken
/// folders do:
/// - `key=` followed by the value after whitespace (`envelope-from=\n tbraibant@...`), unless
///   the next word is itself a known `key=`;
/// - `key: value` for a known key (Zoho `client-ip: 1.2.3.4`);
/// - a value split by whitespace inside an address (`a dmin@x`, `zhangyiqun @x`) is rejoined
///   when the pieces can only be one address (see [`rejoins`]);
/// - anything else that is not `key=value` is skipped.
///
/// Comments are skipped (the caller reads them separately) and break rejoining.
pub fn pairs<'a>(items: &[Item<'a>], is_known_key: impl Fn(&str) -> bool) -> Vec<Pair<'a>> {
    let mut out: Vec<Pair<'a>> = Vec::new();
    let mut pending: Option<usize> = None;
    let mut rejoin: Option<usize> = None;
    for item in items {
        match *item {
            Item::Semicolon => {
                pending = None;
                rejoin = None;
            }
            Item::Comment(_) => rejoin = None,
            Item::Word { text, after_space } => {
                if let Some((key, value)) = key_value(text) {
                    let key = ascii_lowercase(key);
                    if let Some(p) = pending
                        && !is_known_key(&key)
                        && let Some(pair) = out.get_mut(p)
                    {
                        pair.value = Cow::Borrowed(text);
                        pending = None;
                        rejoin = Some(p);
                        continue;
                    }
                    out.push(Pair {
                        key,
                        value: Cow::Borrowed(value),
                    });
                    let index = out.len() - 1;
                    pending = value.is_empty().then_some(index);
                    rejoin = (!value.is_empty()).then_some(index);
                } else if let Some(key) = text.strip_suffix(':')
                    && is_known_key(&ascii_lowercase(key))
                {
                    out.push(Pair {
                        key: ascii_lowercase(key),
                        value: Cow::Borrowed(""),
                    });
                    pending = Some(out.len() - 1);
                    rejoin = None;
                } else if let Some(pair) = pending.and_then(|p| out.get_mut(p)) {
                    pair.value = Cow::Borrowed(text);
                    rejoin = pending;
                    pending = None;
                } else if let Some(pair) = rejoin.and_then(|r| out.get_mut(r))
                    && after_space
                    && rejoins(&pair.value, text)
                {
                    pair.value.to_mut().push_str(text);
                } else {
                    rejoin = None;
                }
            }
        }
    }
    out
}

/// Whether `next`, separated from `prev` only by whitespace, is the rest of the same address
/// split by a broken folder. Only unambiguous shapes: one side starts/ends at the `@`
/// (`zhangyiqun` + `@phytium.com.cn`), or a dot-less local-part fragment followed by the rest
/// of an address (`a` + `dmin@bnupg.com`). The joined value has exactly one `@`.
pub fn rejoins(prev: &str, next: &str) -> bool {
    if prev.is_empty() || next.is_empty() || prev.contains('"') || next.contains('"') {
        return false;
    }
    let ats = prev.matches('@').count() + next.matches('@').count();
    if ats != 1 {
        return false;
    }
    prev.ends_with('@')
        || next.starts_with('@')
        || (!prev.contains('@') && !prev.contains('.') && !prev.contains('=') && next.contains('@'))
}

/// The words of a text with runs of whitespace (and NUL) collapsed, for matching prose.
pub fn words(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    // ASCII whitespace and NUL separate; a non-ASCII byte may start a whitespace character.
    let separator = |i: usize| match bytes.get(i) {
        Some(&b) if b < 0x80 => usize::from(matches!(b, 0 | b'\t'..=b'\r' | b' ')),
        Some(_) => whitespace_len(text, i),
        None => 0,
    };
    let mut out = Vec::with_capacity(16);
    let mut i = 0usize;
    while i < bytes.len() {
        let skip = separator(i);
        if skip > 0 {
            i += skip;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && separator(i) == 0 {
            i += 1;
        }
        out.extend(text.get(start..i));
    }
    out
}

/// The length of the whitespace character (`char::is_whitespace`) starting at byte `i`, or 0.
/// ASCII is decided on the byte; a non-ASCII character is decoded (0 inside a character).
#[inline(always)]
pub fn whitespace_len(text: &str, i: usize) -> usize {
    match text.as_bytes().get(i) {
        Some(&b) if b < 0x80 => usize::from(matches!(b, b'\t'..=b'\r' | b' ')),
        Some(_) => non_ascii_whitespace_len(text, i),
        None => 0,
    }
}

#[cold]
#[inline(never)]
fn non_ascii_whitespace_len(text: &str, i: usize) -> usize {
    text.get(i..)
        .and_then(|rest| rest.chars().next())
        .filter(|c| c.is_whitespace())
        .map_or(0, char::len_utf8)
}

/// `text.split_whitespace()`, deciding ASCII bytes without decoding.
pub fn split_whitespace(text: &str) -> impl Iterator<Item = &str> {
    let mut i = 0usize;
    std::iter::from_fn(move || {
        let bytes = text.as_bytes();
        loop {
            if i >= bytes.len() {
                return None;
            }
            let space = whitespace_len(text, i);
            if space == 0 {
                break;
            }
            i += space;
        }
        let start = i;
        while i < bytes.len() && whitespace_len(text, i) == 0 {
            i += 1;
        }
        text.get(start..i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Item<'_> {
        Item::Word {
            text,
            after_space: true,
        }
    }

    /// The byte-at-a-time `find_ips` the class scan replaced, as the reference.
    fn find_ips_reference(text: &str) -> Vec<IpAddr> {
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        let mut i = 0usize;
        let is_ip_char = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
        let is_glue = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'@' | b'/');
        while i < bytes.len() {
            let b = bytes[i];
            if !is_ip_char(b) {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && is_ip_char(bytes[i]) {
                i += 1;
            }
            let glued_before = start > 0 && is_glue(bytes[start - 1]);
            let glued_after = i < bytes.len() && is_glue(bytes[i]);
            if glued_before || glued_after {
                continue;
            }
            let run = text[start..i].trim_end_matches(['.', ':']);
            if run.bytes().any(|c| c.is_ascii_digit())
                && let Some(ip) = parse_ip(run)
                && !ip.is_unspecified()
            {
                found.push(ip);
            }
        }
        found
    }

    #[test]
    fn class_scan_finds_the_same_ips() {
        let alphabet = [
            "1",
            "2.",
            "3",
            ".4",
            ":",
            "::",
            "a",
            "f",
            "g",
            "-",
            "@",
            "/",
            " ",
            "(",
            ")",
            "é",
            "[",
            "]",
            "192.0.2.1",
            "2001:db8::1",
        ];
        let mut state = 0x0f1e_2d3c_4b5a_6978u64;
        for _ in 0..50_000 {
            let mut value = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for k in 0..(state % 12) {
                let pick = state.rotate_left(k as u32 * 5) % alphabet.len() as u64;
                value.push_str(alphabet[pick as usize]);
            }
            assert_eq!(find_ips(&value), find_ips_reference(&value), "{value:?}");
        }
    }

    #[test]
    fn byte_level_helpers_match_char_level_ones() {
        let clean_value_reference = |raw: &str| -> String {
            let unquoted = unquote(raw);
            let mut s: &str = unquoted.trim();
            s = s.trim_end_matches([';', ',']);
            if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
                s = &s[1..s.len() - 1];
            }
            s = s.strip_prefix('<').unwrap_or(s);
            s = s.strip_suffix('>').unwrap_or(s);
            s.chars().filter(|c| !c.is_whitespace()).collect()
        };
        let alphabet = [
            "a", "@", " ", "\t", "\0", "\"", "'", "<", ">", ";", "\\", "\u{a0}", "\u{2003}", "é",
            "\u{b}",
        ];
        let mut state = 0x0123_4567_89ab_cdefu64;
        for _ in 0..30_000 {
            let mut value = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for k in 0..(state % 16) {
                let pick = state.rotate_left(k as u32 * 7) % alphabet.len() as u64;
                value.push_str(alphabet[pick as usize]);
            }
            let words_reference: Vec<&str> = value
                .split(|c: char| c.is_whitespace() || c == '\0')
                .filter(|w| !w.is_empty())
                .collect();
            assert_eq!(words(&value), words_reference, "{value:?}");
            assert_eq!(
                clean_value(&value),
                clean_value_reference(&value),
                "{value:?}"
            );
        }
    }

    #[test]
    fn lexes_comments_quotes_and_semicolons() {
        let items = lex(r#"pass (a (b) c) k="x; (y)";z"#);
        assert_eq!(
            items,
            vec![
                Item::Word {
                    text: "pass",
                    after_space: false
                },
                Item::Comment("a (b) c"),
                word(r#"k="x; (y)""#),
                Item::Semicolon,
                Item::Word {
                    text: "z",
                    after_space: false
                },
            ]
        );
    }

    #[test]
    fn unterminated_things_do_not_swallow_or_panic() {
        assert_eq!(
            lex("a (b c"),
            vec![
                Item::Word {
                    text: "a",
                    after_space: false
                },
                Item::Comment("b c")
            ]
        );
        let items = lex(r#"k="open; j=1"#);
        assert_eq!(items.len(), 3);
        assert_eq!(lex(") ) x").len(), 1);
        assert_eq!(lex("(\\"), vec![Item::Comment("\\")]);
    }

    #[test]
    fn cleans_values() {
        assert_eq!(clean_value("\"a@b\""), "a@b");
        assert_eq!(clean_value("<a@b>"), "a@b");
        assert_eq!(clean_value("<>"), "");
        assert_eq!(clean_value("\"\""), "");
        assert_eq!(clean_value(" a\t dmin@x ;"), "admin@x");
        assert_eq!(clean_prose_token("'marc@x.net'"), "marc@x.net");
        assert_eq!(clean_prose_token("host-06:"), "host-06");
    }

    #[test]
    fn reads_ip_slots() {
        let v4 = |s: &str| Some(IpText::Valid(s.parse().unwrap()));
        assert_eq!(ip_text("::ffff:141.35.50.156"), v4("141.35.50.156"));
        assert_eq!(ip_text("[192.0.2.1]"), v4("192.0.2.1"));
        assert_eq!(ip_text("IPv6:2001:db8::1"), v4("2001:db8::1"));
        assert_eq!(ip_text("192.0.2.1."), v4("192.0.2.1"));
        assert_eq!(
            ip_text("185.118.189.phishing@pot"),
            Some(IpText::Placeholder("185.118.189.phishing@pot".into()))
        );
        assert_eq!(
            ip_text("A.B.C.D"),
            Some(IpText::Placeholder("A.B.C.D".into()))
        );
        assert_eq!(ip_text("  "), None);
        assert_eq!(ip_text("2001:db8::"), v4("2001:db8::"));
        assert_eq!(ip_text("2001:db8::1)."), v4("2001:db8::1"));
    }

    #[test]
    fn finds_free_standing_ips_only() {
        let found = find_ips("sender IP is 1.2.3.4, ip4:5.6.7.0/24 and 9.9.9.9.example.com ::1.");
        let expected: Vec<IpAddr> = vec!["1.2.3.4".parse().unwrap(), "::1".parse().unwrap()];
        assert_eq!(found, expected);
        assert!(find_ips("deadbeef cafe:: face").is_empty());
    }

    #[test]
    fn glues_rfc8601_spaced_operators() {
        assert_eq!(glue_spaced_operators("a; spf=pass smtp.mailfrom=x"), None);
        assert_eq!(
            glue_spaced_operators("mx (c) 1; spf (why) = (yes) pass smtp (c) . mailfrom = a@b"),
            Some("mx (c) 1; spf=pass (why) (yes) smtp.mailfrom=a@b (c)".to_string())
        );
        assert_eq!(
            glue_spaced_operators("a; dkim / 1 = fail policy . expired = 1"),
            Some("a; dkim/1=fail policy.expired=1".to_string())
        );
    }

    #[test]
    fn literals_have_no_domain() {
        assert_eq!(domain_of("[192.0.2.1]"), None);
        assert_eq!(domain_of("postmaster@192.0.2.1"), None);
        assert_eq!(domain_of("a@Example.COM."), Some("example.com".into()));
    }

    #[test]
    fn picks_the_most_specific_host() {
        assert_eq!(
            most_specific_host(["improvmx.com", "mx1.improvmx.com"]),
            Some("mx1.improvmx.com".into())
        );
        assert_eq!(
            most_specific_host(["<UNKNOWN>", "a@b.example", "me"]),
            Some("me".into())
        );
        assert_eq!(
            most_specific_host(["protection.outlook.com", "protection.outlook.com"]),
            Some("protection.outlook.com".into())
        );
    }

    #[test]
    fn pairs_tolerate_broken_folding() {
        let known = |k: &str| matches!(k, "client-ip" | "envelope-from" | "helo");
        let got = pairs(
            &lex("envelope-from= prvs=1=a@b; client-ip: 1.2.3.4 helo=x"),
            known,
        );
        let kv: Vec<(&str, &str)> = got
            .iter()
            .map(|p| (p.key.as_ref(), p.value.as_ref()))
            .collect();
        assert_eq!(
            kv,
            vec![
                ("envelope-from", "prvs=1=a@b"),
                ("client-ip", "1.2.3.4"),
                ("helo", "x")
            ]
        );
        let got = pairs(&lex("smtp.mail=a dmin@bnupg.com;"), known);
        assert_eq!(got[0].value, "admin@bnupg.com");
        let got = pairs(&lex("smtp.mail=zhangyiqun\t@phytium.com.cn"), known);
        assert_eq!(got[0].value, "zhangyiqun@phytium.com.cn");
        let got = pairs(&lex("smtp.mailfrom=example.com stray@x.org"), known);
        assert_eq!(got[0].value, "example.com");
    }
}
