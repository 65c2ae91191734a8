//! The `Received:` trace fields (RFC 5321 §4.4, RFC 5322 §3.6.7): who handed the message to
//! whom, from which IP, with which HELO, and when. Needed to fill what a recorded verdict
//! leaves out (Microsoft writes no IP for SoftFail) and, later, to see forwarding.
//!
//! The grammar is `from <domain> (<comment>) by <domain> (<comment>) via/with/id/for ...;
//! <date>`, but every MTA fills the comment after `from` its own way:
//!
//! | writer | `from` clause | HELO / rDNS / IP |
//! |---|---|---|
//! | Postfix, Courier | `from helo (rdns [ip])`, `from helo (unknown [ip])`, `[IPv6:...]` | word / comment host / comment IP |
//! | Sendmail | `from helo (rdns [ip] (may be forged))`, `from helo ([ip])` | same |
//! | Google | `from helo (rdns. [ip])` | same, rDNS with a trailing dot |
//! | Exim | `from rdns ([ip]:port helo=x)`, `from [ip] (port=n helo=x)`, `from rdns ([ip])` | `helo=` or the word; the word is the verified rDNS |
//! | qmail, Yahoo | `from rdns (HELO x) (ip)`, `from ip (EHLO x)` | `HELO x` comment or the word |
//! | Microsoft | `from helo (2603:10a6::1) by host (2603::2) with Microsoft SMTP Server` | word / - / bare IP in the comment |
//!
//! Everything is one linear pass over the value; comments nest; nothing can panic.

use std::net::IpAddr;

use super::Hop;
use super::address::normalise_envelope_from;
use super::date::parse_date;
use memchr::memchr;

use super::text::{split_whitespace, whitespace_len};
use crate::model::canonical_ip;

/// Parse one unfolded `Received:` value (without the field name).
pub fn parse_received(value: &str) -> Hop {
    let (clauses_text, date_text) = split_date(value);
    let items = items(clauses_text);

    let mut clause = Clause::None;
    let mut from_word: Option<&str> = None;
    let mut from_comments: Vec<&str> = Vec::new();
    let mut by_word: Option<&str> = None;
    let mut with_word: Option<&str> = None;
    let mut expecting_value = false;
    let mut envelope_from: Option<String> = None;

    for item in &items {
        match *item {
            Item::Word(word) => {
                if let Some(keyword) = Clause::keyword(word) {
                    clause = keyword;
                    expecting_value = true;
                    continue;
                }
                if expecting_value {
                    expecting_value = false;
                    match clause {
                        Clause::From => from_word = Some(word),
                        Clause::By => by_word = Some(word),
                        Clause::With => with_word = Some(word),
                        _ => {}
                    }
                }
            }
            Item::Comment(comment) => {
                if clause == Clause::From {
                    from_comments.push(comment);
                }
                if envelope_from.is_none() {
                    envelope_from = envelope_from_clause(comment);
                }
            }
        }
    }

    let local_protocol = with_word.is_some_and(|w| starts_with_ignore_case(w, "local"));
    let from_clause = read_from_clause(from_word, &from_comments);
    Hop {
        helo: if local_protocol {
            None
        } else {
            from_clause.helo
        },
        rdns: from_clause.rdns,
        ip: from_clause.ip,
        by: by_word
            .map(|b| b.trim_end_matches('.'))
            .filter(|b| !b.is_empty())
            .map(str::to_string),
        date: date_text.and_then(parse_date),
        envelope_from,
        protocol: with_word.map(str::to_string),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clause {
    None,
    From,
    By,
    Via,
    With,
    Id,
    For,
}

impl Clause {
    fn keyword(word: &str) -> Option<Clause> {
        if word.len() > 4 {
            return None;
        }
        [
            ("from", Clause::From),
            ("by", Clause::By),
            ("via", Clause::Via),
            ("with", Clause::With),
            ("id", Clause::Id),
            ("for", Clause::For),
        ]
        .into_iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name))
        .map(|(_, clause)| clause)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item<'a> {
    /// A run of text outside comments (an angle-bracketed address is one word).
    Word(&'a str),
    /// The inside of a top-level comment, nested comments included as text.
    Comment(&'a str),
}

/// Split at the last `;` outside comments and angle brackets: clauses before, date after.
/// Only ASCII bytes are special, so the scan is over bytes (a `\\` escapes one byte: the
/// rest of an escaped multi-byte character is never special either).
fn split_date(value: &str) -> (&str, Option<&str>) {
    let bytes = value.as_bytes();
    let mut depth = 0usize;
    let mut in_angle = false;
    let mut last: Option<usize> = None;
    let mut i = 0usize;
    loop {
        // Only the six special bytes need looking at.
        while bytes.get(i).is_some_and(|&b| !is_byte(&DATE_SPECIAL, b)) {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        match b {
            // A quoted pair: the next byte is not special.
            b'\\' if depth > 0 => i += 1,
            b'(' if !in_angle => depth += 1,
            b')' if depth > 0 => depth -= 1,
            b'<' if depth == 0 => in_angle = true,
            b'>' if depth == 0 => in_angle = false,
            b';' if depth == 0 && !in_angle => last = Some(i),
            _ => {}
        }
        i += 1;
    }
    match last {
        Some(i) => (
            value.get(..i).unwrap_or(value),
            value.get(i + 1..).map(str::trim),
        ),
        None => (value, None),
    }
}

/// A set of bytes as a lookup table, for scanning loops.
type ByteSet = [bool; 256];

const fn byte_set(bytes: &[u8]) -> ByteSet {
    let mut set = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        set[bytes[i] as usize] = true;
        i += 1;
    }
    set
}

#[inline(always)]
fn is_byte(set: &ByteSet, b: u8) -> bool {
    set[usize::from(b)]
}

/// The bytes [`split_date`] looks at.
const DATE_SPECIAL: ByteSet = byte_set(b"\\()<>;");

/// Inside a comment: the bytes that matter.
const COMMENT_SPECIAL: ByteSet = byte_set(b"\\()");

/// Bytes that end or may end a word outside comments: ASCII whitespace, `(`, `<` (starts an
/// angle address inside the word) and every non-ASCII byte (it may start a non-ASCII
/// whitespace character).
const WORD_END: ByteSet = {
    let mut set = byte_set(b"\t\n\x0b\x0c\r (<");
    let mut b = 0x80;
    while b < 256 {
        set[b] = true;
        b += 1;
    }
    set
};

/// Words and top-level comments, in order. Words end at `(` and at any whitespace
/// character (`char::is_whitespace`, non-ASCII ones included); the scan is over bytes.
fn items(text: &str) -> Vec<Item<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(16);
    let mut depth = 0usize;
    let mut in_angle = false;
    let mut comment_start = 0usize;
    let mut word_start: Option<usize> = None;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if depth > 0 {
            if !is_byte(&COMMENT_SPECIAL, b) {
                i += 1;
                continue;
            }
            match b {
                // A quoted pair: the next byte is not special.
                b'\\' => i += 1,
                b'(' => depth += 1,
                _ => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(Item::Comment(text.get(comment_start..i).unwrap_or("")));
                    }
                }
            }
            i += 1;
            continue;
        }
        if in_angle {
            match memchr(b'>', bytes.get(i..).unwrap_or_default()) {
                Some(at) => {
                    i += at + 1;
                    in_angle = false;
                }
                None => i = bytes.len(),
            }
            continue;
        }
        if !is_byte(&WORD_END, b) {
            // Inside (or at the start of) a word: skip to the next byte that may end it.
            if word_start.is_none() {
                word_start = Some(i);
            }
            i += 1;
            while bytes.get(i).is_some_and(|&c| !is_byte(&WORD_END, c)) {
                i += 1;
            }
            continue;
        }
        let space = whitespace_len(text, i);
        if b == b'(' || space > 0 {
            if let Some(start) = word_start.take() {
                out.push(Item::Word(text.get(start..i).unwrap_or("")));
            }
            if b == b'(' {
                depth = 1;
                comment_start = i + 1;
            }
            i += space.max(1);
            continue;
        }
        if word_start.is_none() {
            word_start = Some(i);
        }
        if b == b'<' {
            in_angle = true;
        }
        i += 1;
    }
    if depth > 0 {
        // Unterminated comment: keep what it says.
        out.push(Item::Comment(text.get(comment_start..).unwrap_or("")));
    } else if let Some(start) = word_start {
        out.push(Item::Word(text.get(start..).unwrap_or("")));
    }
    out
}

struct FromClause {
    helo: Option<String>,
    rdns: Option<String>,
    ip: Option<IpAddr>,
}

fn read_from_clause(word: Option<&str>, comments: &[&str]) -> FromClause {
    let mut helo_marker: Option<String> = None;
    let mut exim_style = false;
    let mut comment_ip: Option<IpAddr> = None;
    let mut comment_rdns: Option<String> = None;
    let mut ip_with_port = false;

    for comment in comments {
        let tokens: Vec<&str> = split_whitespace(comment).collect();
        for (i, token) in tokens.iter().enumerate() {
            if starts_with_ignore_case(token, "helo=") {
                exim_style = true;
                if helo_marker.is_none() {
                    helo_marker = token.get(5..).map(clean_name).filter(|h| !h.is_empty());
                }
                continue;
            }
            if starts_with_ignore_case(token, "port=") || starts_with_ignore_case(token, "ident=") {
                exim_style = true;
                continue;
            }
            if token.eq_ignore_ascii_case("helo") || token.eq_ignore_ascii_case("ehlo") {
                if helo_marker.is_none() {
                    helo_marker = tokens
                        .get(i + 1)
                        .map(|t| clean_name(t))
                        .filter(|h| !h.is_empty());
                }
                continue;
            }
            if comment_ip.is_none()
                && let Some((ip, port)) = parse_ip_token(token)
            {
                comment_ip = Some(ip);
                ip_with_port = port;
                comment_rdns = i
                    .checked_sub(1)
                    .and_then(|j| tokens.get(j))
                    .and_then(|t| host_name(t));
            }
        }
    }

    let word_ip = word.and_then(|w| parse_ip_token(w).map(|(ip, _)| ip));
    let word_name = word
        .filter(|w| !w.eq_ignore_ascii_case("unknown"))
        .map(|w| w.trim_end_matches('.').to_string())
        .filter(|w| !w.is_empty());

    // Exim (helo= / port= / [ip]:port) and qmail/Yahoo (HELO x) put the verified or
    // looked-up host name in the word; Postfix, Sendmail, Google and Courier put the HELO
    // in the word and the rDNS name in the comment.
    let (helo, rdns) = if let Some(helo) = helo_marker {
        let rdns = if word_ip.is_some() {
            None
        } else {
            word.and_then(host_name)
        };
        (Some(helo), rdns)
    } else if comment_rdns.is_some() {
        (word_name, comment_rdns)
    } else if exim_style || ip_with_port {
        let rdns = if word_ip.is_some() {
            None
        } else {
            word.and_then(host_name)
        };
        (word_name, rdns)
    } else {
        (word_name, None)
    };

    FromClause {
        helo,
        rdns,
        ip: comment_ip.or(word_ip),
    }
}

/// Byte offset of the first ASCII-case-insensitive occurrence of `needle` (ASCII).
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    let (&first, _) = needle.split_first()?;
    let hay = haystack.as_bytes();
    // Candidates are the places where the first byte matches, found with memchr.
    memchr::memchr2_iter(first.to_ascii_lowercase(), first.to_ascii_uppercase(), hay).find(|&at| {
        hay.get(at..at + needle.len())
            .is_some_and(|window| window.eq_ignore_ascii_case(needle))
    })
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// `(envelope-from <a@b>)`, `(envelope-from a@b)`, `(envelope-sender <a@b>)`.
fn envelope_from_clause(comment: &str) -> Option<String> {
    let key_end = ["envelope-from", "envelope-sender"]
        .iter()
        .find_map(|key| find_ignore_case(comment, key).map(|at| at + key.len()))?;
    let rest = comment
        .get(key_end..)?
        .trim_start_matches([' ', '\t', '=', ':']);
    let value = if rest.starts_with('<') {
        let close = rest.find('>')?;
        rest.get(..=close)?
    } else {
        rest.split(|c: char| c.is_whitespace() || c == ')' || c == ';')
            .next()?
    };
    if value.is_empty() {
        return None;
    }
    Some(normalise_envelope_from(value))
}

/// A HELO/host token without the punctuation that surrounds it in comments.
fn clean_name(token: &str) -> String {
    clean_name_str(token).to_string()
}

fn clean_name_str(token: &str) -> &str {
    token.trim_matches(|c: char| matches!(c, ',' | ';' | ')' | '(' | '"' | '\''))
}

/// A plausible host name (not an IP, not `unknown`), without `user@` and trailing dot.
fn host_name(token: &str) -> Option<String> {
    let token = clean_name_str(token);
    let token = after_last_at(token);
    let token = token.trim_end_matches('.');
    // An IP parses only from hex digits, `.` and `:`.
    let may_be_ip = || {
        token
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
    };
    let (has_letter, all_name) = if token.is_ascii() {
        (
            token.bytes().any(|b| b.is_ascii_alphabetic()),
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')),
        )
    } else {
        (
            token.chars().any(|c| c.is_alphabetic()),
            token
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_')),
        )
    };
    if token.is_empty()
        || token.eq_ignore_ascii_case("unknown")
        || (may_be_ip() && token.parse::<IpAddr>().is_ok())
        || !has_letter
        || !all_name
    {
        return None;
    }
    Some(token.to_string())
}

/// An IP as Received clauses write it: `[1.2.3.4]`, `[IPv6:2001:db8::1]`, `[1.2.3.4]:25`,
/// `1.2.3.4`, `1.2.3.4:25`, `user@[1.2.3.4]`, `2603:10a6::1`, `::ffff:1.2.3.4` (returned
/// as IPv4, RFC 7208 §5). The flag says a port was attached (an Exim habit).
pub fn parse_ip_token(token: &str) -> Option<(IpAddr, bool)> {
    let token = token.trim_matches(|c: char| matches!(c, ',' | ';' | ')' | '(' | '"' | '\''));
    let token = after_last_at(token);
    // Only hex digits, `.`, `:`, brackets and the `IPv6:` tag can make an IP here: host
    // names (most tokens) are turned away before any parsing.
    let possible = |b: &u8| {
        b.is_ascii_hexdigit()
            || matches!(
                b,
                b'.' | b':' | b'[' | b']' | b'i' | b'I' | b'p' | b'P' | b'v' | b'V'
            )
    };
    if !token.as_bytes().iter().all(possible) {
        return None;
    }
    let (inner, port) = if let Some(rest) = token.strip_prefix('[') {
        let close = rest.find(']')?;
        let inner = rest.get(..close)?;
        let after = rest.get(close + 1..)?;
        let port = match after.strip_prefix(':') {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                true
            }
            None if after.is_empty() => false,
            _ => return None,
        };
        (inner, port)
    } else {
        (token, false)
    };
    let inner = strip_ipv6_tag(inner);
    if let Ok(ip) = inner.parse::<IpAddr>() {
        return Some((canonical_ip(ip), port));
    }
    // `1.2.3.4:25` without brackets.
    let (host, digits) = inner.rsplit_once(':')?;
    if host.contains(':') || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ip: IpAddr = host.parse().ok()?;
    Some((canonical_ip(ip), true))
}

/// The text after the last `@` (all of it when there is none).
fn after_last_at(token: &str) -> &str {
    match token.bytes().rposition(|b| b == b'@') {
        Some(at) => token.get(at + 1..).unwrap_or(""),
        None => token,
    }
}

fn strip_ipv6_tag(text: &str) -> &str {
    match text.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("ipv6:") => text.get(5..).unwrap_or(text),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(value: &str) -> Hop {
        parse_received(value)
    }

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    fn s(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    /// The char-by-char scanners the byte scanners replaced, as references.
    fn split_date_reference(value: &str) -> (&str, Option<&str>) {
        let mut depth = 0usize;
        let mut in_angle = false;
        let mut escaped = false;
        let mut last: Option<usize> = None;
        for (i, c) in value.char_indices() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' if depth > 0 => escaped = true,
                '(' if !in_angle => depth += 1,
                ')' if depth > 0 => depth -= 1,
                '<' if depth == 0 => in_angle = true,
                '>' if depth == 0 => in_angle = false,
                ';' if depth == 0 && !in_angle => last = Some(i),
                _ => {}
            }
        }
        match last {
            Some(i) => (&value[..i], Some(value[i + 1..].trim())),
            None => (value, None),
        }
    }

    fn items_reference(text: &str) -> Vec<Item<'_>> {
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut escaped = false;
        let mut in_angle = false;
        let mut comment_start = 0usize;
        let mut word_start: Option<usize> = None;
        for (i, c) in text.char_indices() {
            if depth > 0 {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '(' {
                    depth += 1;
                } else if c == ')' {
                    depth -= 1;
                    if depth == 0 {
                        out.push(Item::Comment(&text[comment_start..i]));
                    }
                }
                continue;
            }
            if in_angle {
                if c == '>' {
                    in_angle = false;
                }
                continue;
            }
            if c == '(' || c.is_whitespace() {
                if let Some(start) = word_start.take() {
                    out.push(Item::Word(&text[start..i]));
                }
                if c == '(' {
                    depth = 1;
                    comment_start = i + 1;
                }
                continue;
            }
            if word_start.is_none() {
                word_start = Some(i);
            }
            if c == '<' {
                in_angle = true;
            }
        }
        if depth > 0 {
            out.push(Item::Comment(&text[comment_start..]));
        } else if let Some(start) = word_start {
            out.push(Item::Word(&text[start..]));
        }
        out
    }

    #[test]
    fn byte_scanners_match_char_scanners() {
        let alphabet = [
            "a", "1", " ", "\t", ";", "(", ")", "<", ">", "\\", "\u{a0}", "\u{2003}", "é",
            "\u{85}", "\u{b}",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..30_000 {
            let mut value = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for k in 0..(state % 24) {
                let pick = state.rotate_left(k as u32 * 7) % alphabet.len() as u64;
                value.push_str(alphabet[pick as usize]);
            }
            assert_eq!(
                split_date(&value),
                split_date_reference(&value),
                "{value:?}"
            );
            assert_eq!(items(&value), items_reference(&value), "{value:?}");
            assert_eq!(
                split_whitespace(&value).collect::<Vec<_>>(),
                value.split_whitespace().collect::<Vec<_>>(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn postfix_with_rdns_and_comments() {
        let h = hop(
            "from mail-ua0-f173.google.com (mail-ua0-f173.google.com [209.85.217.173])\n        (using TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits))\n        (No client certificate requested)\n        by mx5.messagingengine.com (Postfix) with ESMTPS\n        for <marc@fastmail.com>; Thu,  1 Dec 2016 22:35:06 -0500 (EST)",
        );
        assert_eq!(h.helo, s("mail-ua0-f173.google.com"));
        assert_eq!(h.rdns, s("mail-ua0-f173.google.com"));
        assert_eq!(h.ip, ip("209.85.217.173"));
        assert_eq!(h.by, s("mx5.messagingengine.com"));
        assert_eq!(h.protocol, s("ESMTPS"));
        assert_eq!(
            h.date.map(|d| d.to_rfc3339()),
            s("2016-12-02T03:35:06+00:00")
        );
    }

    #[test]
    fn postfix_unknown_and_ipv6() {
        let h = hop(
            "from mxf9a8.netcup.net (unknown [10.243.12.53]) (No client certificate requested) by policy02-mors.netcup.net (Postfix) with ESMTPS id 4L6mnj56m1z8sZg for <x@y>; Tue, 24 May 2022 09:59:53 +0200 (CEST)",
        );
        assert_eq!(h.helo, s("mxf9a8.netcup.net"));
        assert_eq!(h.rdns, None);
        assert_eq!(h.ip, ip("10.243.12.53"));
        let h = hop(
            "from smtp2.osuosl.org (smtp2.osuosl.org [IPv6:2605:bc80:3010::133])\n\tby mail.lfdr.de (Postfix) with ESMTPS id 3058C5324E6",
        );
        assert_eq!(h.ip, ip("2605:bc80:3010::133"));
        assert_eq!(h.date, None);
        let h = hop(
            "from [10.10.22.187] (unknown [10.10.22.187]) by mail.anderss.intra (Postfix) with ESMTPSA id 3140CD20C96; Tue, 24 May 2022 09:59:52 +0200",
        );
        assert_eq!(h.helo, s("[10.10.22.187]"));
        assert_eq!(h.ip, ip("10.10.22.187"));
        assert_eq!(h.protocol, s("ESMTPSA"));
    }

    #[test]
    fn exim_forms() {
        let h = hop(
            "from [192.0.2.5] (port=4711 helo=mail.example.org) by mx.example.net with esmtps (TLS1.3) (Exim 4.96) (envelope-from <bounce@example.org>) id 1q-00 for a@b; Mon, 01 Jan 2024 10:00:00 +0000",
        );
        assert_eq!(h.helo, s("mail.example.org"));
        assert_eq!(h.rdns, None);
        assert_eq!(h.ip, ip("192.0.2.5"));
        assert_eq!(h.envelope_from, s("bounce@example.org"));
        let h = hop(
            "from relay-twl-01.twlnet.com ([87.106.127.28]:58922)\n\tby mail.twlnet.com with esmtps (TLSv1.2:DHE-RSA-AES256-GCM-SHA384:256)\n\t(Exim 4.82_1-5b7a7c0-XX)\n\t(envelope-from <noreply-dmarc-support@google.com>)\n\tid 1gt8kN-0003AY-1B\n\tfor dmarc.reports@twlnet.com; Mon, 11 Feb 2019 11:23:31 +0100",
        );
        assert_eq!(h.helo, s("relay-twl-01.twlnet.com"));
        assert_eq!(h.rdns, s("relay-twl-01.twlnet.com"));
        assert_eq!(h.ip, ip("87.106.127.28"));
        assert_eq!(h.envelope_from, s("noreply-dmarc-support@google.com"));
        let h = hop(
            "from mail.example.org ([192.0.2.7]:25 helo=smtp.example.org) by mx.example.net with esmtp; 1 Jan 2024 10:00:00 +0000",
        );
        assert_eq!(h.helo, s("smtp.example.org"));
        assert_eq!(h.rdns, s("mail.example.org"));
        // Local submission: `from root` is an ident, not a HELO.
        let h = hop(
            "from root by node04.mailgate.example.net with local-generated (Exim 4.92)\n\t(envelope-from <no-reply@node01.mailgate.example.net>)\n\tid 1u1tpB-00AA5u-ED\n\tfor dmarc@example.com; Mon, 07 Apr 2025 23:16:09 +0200",
        );
        assert_eq!(h.helo, None);
        assert_eq!(h.ip, None);
        assert_eq!(h.by, s("node04.mailgate.example.net"));
        assert_eq!(h.envelope_from, s("no-reply@node01.mailgate.example.net"));
    }

    #[test]
    fn sendmail_google_microsoft() {
        let h = hop(
            "from helo.example.com (rdns.example.net [192.0.2.9] (may be forged)) by mx.example.org (8.15.2/8.15.2) with ESMTP id x1; Mon, 1 Jan 2024 10:00:00 -0500",
        );
        assert_eq!(h.helo, s("helo.example.com"));
        assert_eq!(h.rdns, s("rdns.example.net"));
        assert_eq!(h.ip, ip("192.0.2.9"));
        let h = hop(
            "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com with SMTPS id x for <a@gmail.com> (Google Transport Security); Mon, 01 Jan 2024 10:00:00 -0800 (PST)",
        );
        assert_eq!(h.rdns, s("mail-sor-f41.google.com"));
        assert_eq!(h.ip, ip("209.85.220.41"));
        let h = hop(
            "from MW2NAM10FT051.eop-nam10.prod.protection.outlook.com\n (2603:10b6:303:8b:cafe::d8) by MW4P221CA0030.outlook.office365.com\n (2603:10b6:303:8b::35) with Microsoft SMTP Server (version=TLS1_2,\n cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7292.37 via Frontend\n Transport; Mon, 19 Feb 2024 03:13:18 +0000",
        );
        assert_eq!(
            h.helo,
            s("MW2NAM10FT051.eop-nam10.prod.protection.outlook.com")
        );
        assert_eq!(h.rdns, None);
        assert_eq!(h.ip, ip("2603:10b6:303:8b:cafe::d8"));
        assert_eq!(h.by, s("MW4P221CA0030.outlook.office365.com"));
        assert_eq!(h.protocol, s("Microsoft"));
        let h = hop(
            "from redactioometyne.com (89.144.18.118) by\n MW2NAM10FT051.mail.protection.outlook.com (10.13.154.227) with Microsoft SMTP\n Server id 15.20.7270.24 via Frontend Transport; Mon, 19 Feb 2024 03:13:17\n +0000",
        );
        assert_eq!(h.helo, s("redactioometyne.com"));
        assert_eq!(h.ip, ip("89.144.18.118"));
        assert_eq!(h.by, s("MW2NAM10FT051.mail.protection.outlook.com"));
        assert_eq!(
            h.date.map(|d| d.to_rfc3339()),
            s("2024-02-19T03:13:17+00:00")
        );
    }

    #[test]
    fn qmail_yahoo_courier() {
        let h = hop(
            "from unknown (HELO mail.example.com) (198.51.100.3) by mx.example.net with SMTP; 1 Jan 2024 10:00:00 -0000",
        );
        assert_eq!(h.helo, s("mail.example.com"));
        assert_eq!(h.rdns, None);
        assert_eq!(h.ip, ip("198.51.100.3"));
        let h = hop(
            "from host.example.org (HELO x.example) (user@[198.51.100.4]) by mx.example.net with ESMTPA; 1 Jan 2024 10:00:00 -0000",
        );
        assert_eq!(h.helo, s("x.example"));
        assert_eq!(h.rdns, s("host.example.org"));
        assert_eq!(h.ip, ip("198.51.100.4"));
        let h = hop(
            "from 45.86.116.47 (EHLO mta-2d56742f.ip4.emsmtp.us)\n by 10.217.136.93 with SMTPs\n (version=TLS1_3 cipher=TLS_AES_128_GCM_SHA256);\n Mon, 22 Jan 2024 19:30:47 +0000",
        );
        assert_eq!(h.helo, s("mta-2d56742f.ip4.emsmtp.us"));
        assert_eq!(h.ip, ip("45.86.116.47"));
        assert_eq!(h.by, s("10.217.136.93"));
        let h = hop(
            "from nlopc43.ioq.uni-jena.de (nlopc43.ioq.uni-jena.de\n\t[::ffff:141.35.50.156]) (AUTH: CRAM-MD5 erich@eckner.net, )\n\tby szilassi.eckner.net with ESMTPSA\n\tid 0000000000741276.000000005CDD27AC.00004BE7;\n\tThu, 16 May 2019 11:04:44 +0200",
        );
        assert_eq!(h.helo, s("nlopc43.ioq.uni-jena.de"));
        assert_eq!(h.rdns, s("nlopc43.ioq.uni-jena.de"));
        assert_eq!(h.ip, ip("141.35.50.156"));
        assert_eq!(h.by, s("szilassi.eckner.net"));
    }

    #[test]
    fn clauses_without_from() {
        let h = hop(
            "by mail-we0-f171.google.com with SMTP id k11so1456187wes.2\n        for <marc@fastmail.com>; Sat, 24 Jan 2015 19:35:19 -0800 (PST)",
        );
        assert_eq!(h.helo, None);
        assert_eq!(h.ip, None);
        assert_eq!(h.by, s("mail-we0-f171.google.com"));
        let h = hop("(qmail 12345 invoked from network); 1 Jan 2024 10:00:00 -0000");
        assert_eq!(h.by, None);
        assert!(h.date.is_some());
        let h = hop("from x.example (x.example [192.0.2.1]) by y.example for <a;b@c>");
        assert_eq!(h.date, None);
        assert_eq!(h.ip, ip("192.0.2.1"));
    }

    #[test]
    fn comments_anywhere() {
        let h = hop(
            "(leading) from (before word) mail.example.org (rdns.example.org [192.0.2.3]) (after) by (x) mx.example.net (Postfix 3.8 (patched)) with (y) ESMTP id 1 (z); (d) Mon, 1 Jan 2024 10:00:00 +0000 (UTC)",
        );
        assert_eq!(h.helo, s("mail.example.org"));
        assert_eq!(h.rdns, s("rdns.example.org"));
        assert_eq!(h.ip, ip("192.0.2.3"));
        assert_eq!(h.by, s("mx.example.net"));
        assert_eq!(h.protocol, s("ESMTP"));
        assert_eq!(
            h.date.map(|d| d.to_rfc3339()),
            s("2024-01-01T10:00:00+00:00")
        );
        // Exim over IPv6 with a port; Exchange on-premises with bare IPs.
        let h = hop(
            "from [2001:db8::5]:40000 (helo=mx.example.org) by mx.example.net with esmtps; 1 Jan 2024 10:00:00 +0000",
        );
        assert_eq!(h.ip, ip("2001:db8::5"));
        assert_eq!(h.helo, s("mx.example.org"));
        let h = hop(
            "from EXCH01.corp.example (10.0.0.5) by EXCH02.corp.example (10.0.0.6) with Microsoft SMTP Server (TLS) id 15.0.1497.2 via Mailbox Transport; Mon, 1 Jan 2024 10:00:00 +0100",
        );
        assert_eq!(h.helo, s("EXCH01.corp.example"));
        assert_eq!(h.ip, ip("10.0.0.5"));
        assert_eq!(h.by, s("EXCH02.corp.example"));
        // `(envelope-from ...)` without brackets, and `(envelope-sender <...>)`.
        assert_eq!(
            hop("from x by y (envelope-from a@b.example) id 1").envelope_from,
            s("a@b.example")
        );
        assert_eq!(
            hop("from x by y (envelope-sender <>) id 1").envelope_from,
            s("")
        );
    }

    #[test]
    fn garbage_never_panics() {
        for value in [
            "",
            "from",
            "from (",
            "from [",
            "from [1.2.3.4",
            "((((((",
            "))))",
            ";;;;",
            "from x (helo=) by",
            "from x (HELO",
            "from x (envelope-from <unterminated",
            "from \u{FFFD}\u{FFFD} ([\u{FFFD}]) by \u{FFFD}; \u{FFFD}",
        ] {
            let _ = hop(value);
        }
    }

    #[test]
    fn huge_values_are_linear() {
        let deep = format!(
            "from x {} by y; 1 Jan 2024 10:00:00 +0000",
            "(".repeat(1 << 20)
        );
        let h = hop(&deep);
        assert_eq!(h.helo, s("x"));
        let wide = format!("from x ({}) by y", "a ".repeat(1 << 19));
        assert_eq!(hop(&wide).by, s("y"));
    }

    #[test]
    fn ip_tokens() {
        assert_eq!(
            parse_ip_token("[1.2.3.4]"),
            Some(("1.2.3.4".parse().unwrap(), false))
        );
        assert_eq!(
            parse_ip_token("[1.2.3.4]:25"),
            Some(("1.2.3.4".parse().unwrap(), true))
        );
        assert_eq!(
            parse_ip_token("1.2.3.4:25"),
            Some(("1.2.3.4".parse().unwrap(), true))
        );
        assert_eq!(
            parse_ip_token("[IPv6:::ffff:1.2.3.4]"),
            Some(("1.2.3.4".parse().unwrap(), false))
        );
        assert_eq!(parse_ip_token("[1.2.3.4]x"), None);
        assert_eq!(parse_ip_token("1.2.3"), None);
        assert_eq!(parse_ip_token("host.example"), None);
    }
}
