//! Macro strings (RFC 7208 §7): parsed once with the record, expanded per evaluation.
//!
//! A [`MacroString`] is the parsed form of a `domain-spec`, an unknown modifier's value or
//! an explanation string: literal text and `%{...}` macros. Parsing checks the §7.1 ABNF
//! (and which letters a context allows); expansion (§7.3) applies the transformers, the
//! URL escaping of upper-case letters and, for names that are looked up, the 253-character
//! truncation that drops labels from the left.

use std::fmt;
use std::net::IpAddr;

/// Where a macro string appears: the letters `c`, `r` and `t` are allowed only in
/// explanation text (RFC 7208 §7.2); unknown modifiers are never expanded, so any letter
/// of the ABNF is accepted there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroContext {
    /// A `domain-spec` of a mechanism, `redirect=` or `exp=`.
    Domain,
    /// The text of an explanation TXT record (`explain-string`, spaces allowed).
    Explanation,
    /// The value of an unknown modifier (`name=macro-string`).
    UnknownModifier,
}

/// The macro letters of RFC 7208 §7.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacroLetter {
    /// `s`: the sender, `local-part@domain`.
    Sender,
    /// `l`: the local-part of the sender.
    LocalPart,
    /// `o`: the domain of the sender.
    SenderDomain,
    /// `d`: the domain whose record is being evaluated.
    Domain,
    /// `i`: the client IP (dotted quad, or dotted nibbles for IPv6).
    Ip,
    /// `p`: the validated domain name of the client IP (discouraged).
    ValidatedName,
    /// `v`: `in-addr` or `ip6`.
    IpVersion,
    /// `h`: the HELO/EHLO name.
    Helo,
    /// `c`: the client IP in readable form (explanations only).
    ReadableIp,
    /// `r`: the receiving host's domain (explanations only).
    Receiver,
    /// `t`: the current time in seconds since the epoch (explanations only).
    Timestamp,
}

impl MacroLetter {
    fn from_ascii(c: u8) -> Option<MacroLetter> {
        Some(match c.to_ascii_lowercase() {
            b's' => MacroLetter::Sender,
            b'l' => MacroLetter::LocalPart,
            b'o' => MacroLetter::SenderDomain,
            b'd' => MacroLetter::Domain,
            b'i' => MacroLetter::Ip,
            b'p' => MacroLetter::ValidatedName,
            b'v' => MacroLetter::IpVersion,
            b'h' => MacroLetter::Helo,
            b'c' => MacroLetter::ReadableIp,
            b'r' => MacroLetter::Receiver,
            b't' => MacroLetter::Timestamp,
            _ => return None,
        })
    }

    /// The lower-case letter.
    pub fn as_char(self) -> char {
        match self {
            MacroLetter::Sender => 's',
            MacroLetter::LocalPart => 'l',
            MacroLetter::SenderDomain => 'o',
            MacroLetter::Domain => 'd',
            MacroLetter::Ip => 'i',
            MacroLetter::ValidatedName => 'p',
            MacroLetter::IpVersion => 'v',
            MacroLetter::Helo => 'h',
            MacroLetter::ReadableIp => 'c',
            MacroLetter::Receiver => 'r',
            MacroLetter::Timestamp => 't',
        }
    }

    /// `c`, `r` and `t` may only appear in explanation text (RFC 7208 §7.2).
    pub fn explanation_only(self) -> bool {
        matches!(
            self,
            MacroLetter::ReadableIp | MacroLetter::Receiver | MacroLetter::Timestamp
        )
    }
}

/// One `%{...}` macro (RFC 7208 §7.1 `macro-expand`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macro {
    pub letter: MacroLetter,
    /// Written in upper case: the expansion is URL-escaped (§7.3).
    pub url_escape: bool,
    /// Keep this many right-hand parts (non-zero), after reversal.
    pub keep: Option<usize>,
    /// The `r` transformer: reverse the parts.
    pub reverse: bool,
    /// The delimiters to split on, as written; empty means `.`.
    pub delimiters: String,
}

/// A piece of a macro string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacroPart {
    /// Literal text, with `%%`, `%_` and `%-` already turned into `%`, ` ` and `%20`.
    Literal(String),
    Macro(Macro),
}

/// A parsed macro string (RFC 7208 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MacroString {
    pub parts: Vec<MacroPart>,
    /// The text ends with a `macro-expand` (`%{...}`, `%%`, `%_` or `%-`): a `domain-spec`
    /// that does may end without a `.toplabel`.
    pub ends_with_expand: bool,
}

/// A syntax error inside a macro string: byte offset (relative to the string) and a
/// description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroError {
    pub offset: usize,
    /// Length in bytes of the offending text.
    pub len: usize,
    pub detail: String,
}

impl MacroString {
    /// Parse `text` as a macro string of the given context (RFC 7208 §7.1).
    pub fn parse(text: &str, context: MacroContext) -> Result<MacroString, MacroError> {
        let bytes = text.as_bytes();
        let mut parts: Vec<MacroPart> = Vec::new();
        let mut literal = String::new();
        let mut ends_with_expand = false;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'%' {
                let Some(&next) = bytes.get(i + 1) else {
                    return Err(MacroError {
                        offset: i,
                        len: 1,
                        detail: "\"%\" at the end (write \"%%\" for a percent sign)".into(),
                    });
                };
                match next {
                    b'%' => literal.push('%'),
                    b'_' => literal.push(' '),
                    b'-' => literal.push_str("%20"),
                    b'{' => {
                        let (mac, used) =
                            parse_macro(&bytes[i..], context).map_err(|e| MacroError {
                                offset: i + e.offset,
                                len: e.len,
                                detail: e.detail,
                            })?;
                        if !literal.is_empty() {
                            parts.push(MacroPart::Literal(std::mem::take(&mut literal)));
                        }
                        parts.push(MacroPart::Macro(mac));
                        i += used;
                        ends_with_expand = true;
                        continue;
                    }
                    _ => {
                        let shown = text[i..].chars().take(2).collect::<String>();
                        return Err(MacroError {
                            offset: i,
                            len: shown.len(),
                            detail: format!(
                                "invalid macro \"{shown}\": \"%\" must be followed by \"{{\", \"%\", \"_\" or \"-\""
                            ),
                        });
                    }
                }
                i += 2;
                ends_with_expand = true;
                continue;
            }
            let allowed = matches!(b, 0x21..=0x24 | 0x26..=0x7e)
                || (b == b' ' && context == MacroContext::Explanation);
            if !allowed {
                return Err(char_error(text, i));
            }
            literal.push(b as char);
            ends_with_expand = false;
            i += 1;
        }
        if !literal.is_empty() {
            parts.push(MacroPart::Literal(literal));
        }
        Ok(MacroString {
            parts,
            ends_with_expand,
        })
    }

    /// Does any macro use this letter?
    pub fn uses(&self, letter: MacroLetter) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, MacroPart::Macro(m) if m.letter == letter))
    }

    /// Does the string contain any macro at all (as opposed to plain text)?
    pub fn has_macros(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, MacroPart::Macro(_)))
    }

    /// Expand into `out` (RFC 7208 §7.3). Stops adding text once `out` holds `limit` bytes.
    pub fn expand_into(&self, values: &MacroValues<'_>, out: &mut String, limit: usize) {
        for part in &self.parts {
            if out.len() >= limit {
                break;
            }
            match part {
                MacroPart::Literal(text) => out.push_str(text),
                MacroPart::Macro(m) => expand_macro(m, values, out),
            }
            if out.len() > limit {
                let mut cut = limit;
                while !out.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.truncate(cut);
            }
        }
    }

    /// Expand as a name to look up: a trailing dot is removed, and when the name is longer
    /// than 253 characters, labels are dropped from the left until it fits (RFC 7208 §7.3).
    pub fn expand_domain(&self, values: &MacroValues<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                MacroPart::Literal(text) => out.push_str(text),
                MacroPart::Macro(m) => expand_macro(m, values, &mut out),
            }
            if out.len() > 4096 {
                // Only the last 253 characters can survive the final truncation, and they
                // start after a dot that lies in what we keep: drop the rest early so an
                // absurd expansion cannot grow without bound.
                let mut cut = out.len() - 256;
                while !out.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.drain(..cut);
            }
        }
        if out.ends_with('.') {
            out.pop();
        }
        truncate_domain(&mut out);
        out
    }
}

/// Drop labels from the left until the name has at most 253 characters (RFC 7208 §7.3).
/// A name with no dot to cut at is left as it is (and will not be looked up).
fn truncate_domain(name: &mut String) {
    if name.len() <= 253 {
        return;
    }
    let start = name.len() - 253;
    // The kept part must start right after a dot at index `start - 1` or later.
    if let Some(rel) = name.as_bytes()[start - 1..].iter().position(|&b| b == b'.') {
        name.drain(..start + rel);
    }
}

fn char_error(text: &str, i: usize) -> MacroError {
    let c = text[i..].chars().next().unwrap_or('?');
    let detail = if c.is_ascii_control() || c == ' ' {
        format!("control character {} is not allowed", describe_char(c))
    } else {
        format!("character {} is not allowed", describe_char(c))
    };
    MacroError {
        offset: i,
        len: c.len_utf8(),
        detail,
    }
}

/// A character as a person can identify it: `"–" (U+2013 EN DASH)`, `U+000D (carriage return)`.
pub fn describe_char(c: char) -> String {
    let name = match c {
        '\u{2013}' => Some("EN DASH"),
        '\u{2014}' => Some("EM DASH"),
        '\u{2212}' => Some("MINUS SIGN"),
        '\u{2010}' => Some("HYPHEN"),
        '\u{00a0}' => Some("NO-BREAK SPACE"),
        '\u{feff}' => Some("BYTE ORDER MARK"),
        '\u{200b}' => Some("ZERO WIDTH SPACE"),
        '\u{201c}' | '\u{201d}' => Some("curly double quote"),
        '\u{2018}' | '\u{2019}' => Some("curly single quote"),
        '\u{fffd}' => Some("invalid UTF-8"),
        '\r' => Some("carriage return"),
        '\n' => Some("line feed"),
        '\t' => Some("tab"),
        '\0' => Some("NUL"),
        ' ' => Some("space"),
        _ => None,
    };
    let code = format!("U+{:04X}", c as u32);
    match (name, c.is_control() || c == ' ') {
        (Some(n), true) => format!("{code} ({n})"),
        (Some(n), false) => format!("\"{c}\" ({code} {n})"),
        (None, true) => code,
        (None, false) => format!("\"{c}\" ({code})"),
    }
}

/// Parse one `%{...}` starting at `bytes[0] == b'%'`; returns the macro and the bytes used.
fn parse_macro(bytes: &[u8], context: MacroContext) -> Result<(Macro, usize), MacroError> {
    let text_of = |end: usize| String::from_utf8_lossy(&bytes[..end.min(bytes.len())]).into_owned();
    let close = bytes.iter().position(|&b| b == b'}');
    let Some(close) = close else {
        let shown_len = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
        return Err(MacroError {
            offset: 0,
            len: shown_len,
            detail: format!("macro \"{}\" has no closing \"}}\"", text_of(shown_len)),
        });
    };
    let bad = |detail: String| MacroError {
        offset: 0,
        len: close + 1,
        detail,
    };
    let inner = &bytes[2..close];
    let Some((&letter_byte, rest)) = inner.split_first() else {
        return Err(bad("empty macro \"%{}\"".into()));
    };
    let Some(letter) = MacroLetter::from_ascii(letter_byte) else {
        return Err(bad(format!(
            "unknown macro letter in \"{}\" (letters are s l o d i p h v, and c r t in explanations)",
            text_of(close + 1)
        )));
    };
    if letter.explanation_only() && context == MacroContext::Domain {
        return Err(bad(format!(
            "macro \"{}\" is only allowed in explanation text (RFC 7208 §7.2)",
            text_of(close + 1)
        )));
    }
    let digits_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let keep = if digits_len == 0 {
        None
    } else {
        let value = rest[..digits_len].iter().fold(0usize, |acc, &d| {
            acc.saturating_mul(10).saturating_add(usize::from(d - b'0'))
        });
        if value == 0 {
            return Err(bad(format!(
                "macro \"{}\" keeps zero parts (the number must be non-zero)",
                text_of(close + 1)
            )));
        }
        Some(value)
    };
    let mut rest = &rest[digits_len..];
    let mut reverse = false;
    if let Some((&b, tail)) = rest.split_first()
        && b.eq_ignore_ascii_case(&b'r')
    {
        reverse = true;
        rest = tail;
    }
    let mut delimiters = String::new();
    for &b in rest {
        if matches!(b, b'.' | b'-' | b'+' | b',' | b'/' | b'_' | b'=') {
            delimiters.push(b as char);
        } else {
            return Err(bad(format!(
                "invalid transformer or delimiter in macro \"{}\"",
                text_of(close + 1)
            )));
        }
    }
    Ok((
        Macro {
            letter,
            url_escape: letter_byte.is_ascii_uppercase(),
            keep,
            reverse,
            delimiters,
        },
        close + 1,
    ))
}

/// The values the macro letters expand to, for one evaluation (RFC 7208 §7.2).
#[derive(Debug, Clone)]
pub struct MacroValues<'a> {
    pub sender_local: &'a str,
    pub sender_domain: &'a str,
    pub domain: &'a str,
    pub ip: IpAddr,
    pub helo: &'a str,
    /// `%{p}`: computed beforehand when the string uses it; `unknown` otherwise.
    pub validated_name: &'a str,
    pub receiver: &'a str,
    pub timestamp: u64,
}

fn expand_macro(m: &Macro, v: &MacroValues<'_>, out: &mut String) {
    let mut owned = String::new();
    let value: &str = match m.letter {
        MacroLetter::Sender => {
            owned.reserve(v.sender_local.len() + 1 + v.sender_domain.len());
            owned.push_str(v.sender_local);
            owned.push('@');
            owned.push_str(v.sender_domain);
            &owned
        }
        MacroLetter::LocalPart => v.sender_local,
        MacroLetter::SenderDomain => v.sender_domain,
        MacroLetter::Domain => v.domain,
        MacroLetter::Ip => {
            owned = dotted_ip(v.ip);
            &owned
        }
        MacroLetter::ValidatedName => v.validated_name,
        MacroLetter::IpVersion => match v.ip {
            IpAddr::V4(_) => "in-addr",
            IpAddr::V6(_) => "ip6",
        },
        MacroLetter::Helo => v.helo,
        MacroLetter::ReadableIp => {
            owned = v.ip.to_string();
            &owned
        }
        MacroLetter::Receiver => v.receiver,
        MacroLetter::Timestamp => {
            owned = v.timestamp.to_string();
            &owned
        }
    };
    let start = out.len();
    transform(value, m, out);
    if m.url_escape {
        let escaped = url_escape(&out[start..]);
        out.truncate(start);
        out.push_str(&escaped);
    }
}

/// `%{i}`: the dotted quad for IPv4; for IPv6 the 32 nibbles separated by dots (RFC 7208
/// §7.3), upper-case hex as pyspf and the openspf test suite write them (DNS does not care).
pub fn dotted_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(63);
            for byte in v6.octets() {
                for nibble in [byte >> 4, byte & 0xf] {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push(char::from(HEX[usize::from(nibble)]));
                }
            }
            s
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Split on the delimiters, reverse, keep the right-hand parts, join with dots (§7.3).
fn transform(value: &str, m: &Macro, out: &mut String) {
    if m.keep.is_none() && !m.reverse && (m.delimiters.is_empty() || m.delimiters == ".") {
        out.push_str(value);
        return;
    }
    let delims: &str = if m.delimiters.is_empty() {
        "."
    } else {
        &m.delimiters
    };
    let mut parts: Vec<&str> = value.split(|c| delims.contains(c)).collect();
    if m.reverse {
        parts.reverse();
    }
    let skip = match m.keep {
        Some(n) if n < parts.len() => parts.len() - n,
        _ => 0,
    };
    for (i, part) in parts[skip..].iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(part);
    }
}

/// URL-escape everything outside the RFC 3986 unreserved set (RFC 7208 §7.3).
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

impl fmt::Display for Macro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.letter.as_char();
        let c = if self.url_escape {
            c.to_ascii_uppercase()
        } else {
            c
        };
        write!(f, "%{{{c}")?;
        if let Some(n) = self.keep {
            write!(f, "{n}")?;
        }
        if self.reverse {
            f.write_str("r")?;
        }
        write!(f, "{}}}", self.delimiters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(ip: &str) -> MacroValues<'static> {
        MacroValues {
            sender_local: "strong-bad",
            sender_domain: "email.example.com",
            domain: "email.example.com",
            ip: ip.parse().unwrap(),
            helo: "mx.example.org",
            validated_name: "unknown",
            receiver: "mx.example.net",
            timestamp: 1234567890,
        }
    }

    fn expand(s: &str, ip: &str) -> String {
        let ms = MacroString::parse(s, MacroContext::Explanation).unwrap();
        let mut out = String::new();
        ms.expand_into(&values(ip), &mut out, 10_000);
        out
    }

    // The examples of RFC 7208 §7.4.
    #[test]
    fn rfc_examples_ipv4() {
        let ip = "192.0.2.3";
        assert_eq!(expand("%{s}", ip), "strong-bad@email.example.com");
        assert_eq!(expand("%{o}", ip), "email.example.com");
        assert_eq!(expand("%{d}", ip), "email.example.com");
        assert_eq!(expand("%{d4}", ip), "email.example.com");
        assert_eq!(expand("%{d3}", ip), "email.example.com");
        assert_eq!(expand("%{d2}", ip), "example.com");
        assert_eq!(expand("%{d1}", ip), "com");
        assert_eq!(expand("%{dr}", ip), "com.example.email");
        assert_eq!(expand("%{d2r}", ip), "example.email");
        assert_eq!(expand("%{l}", ip), "strong-bad");
        assert_eq!(expand("%{l-}", ip), "strong.bad");
        assert_eq!(expand("%{lr}", ip), "strong-bad");
        assert_eq!(expand("%{lr-}", ip), "bad.strong");
        assert_eq!(expand("%{l1r-}", ip), "strong");
        assert_eq!(
            expand("%{ir}.%{v}._spf.%{d2}", ip),
            "3.2.0.192.in-addr._spf.example.com"
        );
        assert_eq!(
            expand("%{lr-}.lp._spf.%{d2}", ip),
            "bad.strong.lp._spf.example.com"
        );
        assert_eq!(
            expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", ip),
            "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"
        );
        assert_eq!(
            expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", ip),
            "3.2.0.192.in-addr.strong.lp._spf.example.com"
        );
        assert_eq!(
            expand("%{d2}.trusted-domains.example.net", ip),
            "example.com.trusted-domains.example.net"
        );
        assert_eq!(expand("%%%_%-", ip), "% %20");
        assert_eq!(
            expand("%{c} %{r} %{t}", ip),
            "192.0.2.3 mx.example.net 1234567890"
        );
    }

    #[test]
    fn rfc_example_ipv6() {
        assert_eq!(
            expand("%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01").to_ascii_lowercase(),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
        assert_eq!(expand("%{c}", "2001:DB8::CB01"), "2001:db8::cb01");
    }

    #[test]
    fn url_escaping_upper_case() {
        let ms = MacroString::parse("%{L}", MacroContext::Explanation).unwrap();
        let mut v = values("192.0.2.3");
        v.sender_local = "~jack&jill=up-a_b3.c";
        let mut out = String::new();
        ms.expand_into(&v, &mut out, 1000);
        assert_eq!(out, "~jack%26jill%3Dup-a_b3.c");
    }

    #[test]
    fn syntax_errors() {
        for bad in ["%", "%a", "%{", "%{x}", "%{d0}", "%{d2q}", "%(ir)", "a b"] {
            assert!(
                MacroString::parse(bad, MacroContext::Domain).is_err(),
                "{bad} should be rejected"
            );
        }
        assert!(MacroString::parse("%{r}", MacroContext::Domain).is_err());
        assert!(MacroString::parse("%{r}", MacroContext::Explanation).is_ok());
        assert!(MacroString::parse("a b", MacroContext::Explanation).is_ok());
        assert!(MacroString::parse("%{d2r+-}", MacroContext::Domain).is_ok());
        assert!(MacroString::parse("%{D999999999999999999999999}", MacroContext::Domain).is_ok());
    }

    #[test]
    fn domains_truncate_from_the_left() {
        let long = format!("{}.example.com", "abcdefghi.".repeat(40));
        let ms = MacroString::parse("%{d}.", MacroContext::Domain).unwrap();
        let mut v = values("192.0.2.3");
        v.domain = &long;
        let out = ms.expand_domain(&v);
        assert!(out.len() <= 253, "{}", out.len());
        assert!(out.ends_with(".example.com"));
        assert!(out.starts_with("abcdefghi."));
    }

    #[test]
    fn absurd_expansion_is_bounded() {
        let huge = "x".repeat(100_000) + ".a.example.com";
        let ms = MacroString::parse(&"%{l}".repeat(200), MacroContext::Domain).unwrap();
        let mut v = values("192.0.2.3");
        v.sender_local = &huge;
        let out = ms.expand_domain(&v);
        assert!(out.len() <= 253);
        let mut text = String::new();
        ms.expand_into(&v, &mut text, 1000);
        assert!(text.len() <= 1000);
    }
}
