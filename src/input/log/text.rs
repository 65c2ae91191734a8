//! Small text helpers shared by the log-line parsers: `key=value` lookup, addresses in angle
//! brackets, `host[ip]` pairs, client IPs that may be redacted, and SPF result words hidden in
//! SMTP reply texts.

use std::net::IpAddr;

use crate::model::{SpfResult, canonical_ip};

/// The SMTP client's address as a log line wrote it: a valid IP, or the text when it is not one
/// (`REDACTED`, `ip4.ip4.ip4.ip4`, `40.100.x.x`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ClientIp {
    Ip(IpAddr),
    Raw(String),
}

impl ClientIp {
    /// Parse an IP as logs write it: bare, in brackets, `IPv6:`-prefixed, with a `:port` suffix
    /// (maddy `src_ip`, Exim `+incoming_port`), IPv4-mapped IPv6 (RFC 7208 §5: treated as IPv4).
    /// Empty text and `<UNKNOWN>`/`unknown` placeholders give `None`.
    pub(crate) fn parse(text: &str) -> Option<ClientIp> {
        let t = text.trim().trim_matches(|c| c == '"' || c == '\'');
        let t = t.strip_prefix('[').unwrap_or(t);
        let t = match t.find(']') {
            Some(end) => &t[..end],
            None => t,
        };
        let t = t.trim();
        let t = strip_prefix_ignore_case(t, "ipv6:").unwrap_or(t);
        if t.is_empty() || t.eq_ignore_ascii_case("<unknown>") || t.eq_ignore_ascii_case("unknown")
        {
            return None;
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Some(ClientIp::Ip(canonical_ip(ip)));
        }
        // `a.b.c.d:port`
        if let Some((host, port)) = t.rsplit_once(':')
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && let Ok(ip) = host.parse::<std::net::Ipv4Addr>()
        {
            return Some(ClientIp::Ip(IpAddr::V4(ip)));
        }
        Some(ClientIp::Raw(t.to_string()))
    }

    /// Same address? Valid IPs compare as addresses, raw texts case-insensitively.
    pub(crate) fn same(&self, other: &ClientIp) -> bool {
        match (self, other) {
            (ClientIp::Ip(a), ClientIp::Ip(b)) => a == b,
            (ClientIp::Raw(a), ClientIp::Raw(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

pub(crate) fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

/// Byte offset of the first case-insensitive occurrence of `needle` (ASCII) in `hay`.
pub(crate) fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    find_ignore_case_from(hay, needle, 0)
}

pub(crate) fn find_ignore_case_from(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() {
        return Some(from.min(h.len()));
    }
    if h.len() < n.len() {
        return None;
    }
    let last_start = h.len() - n.len();
    if from > last_start {
        return None;
    }
    let (lo, up) = (n[0].to_ascii_lowercase(), n[0].to_ascii_uppercase());
    memchr::memchr2_iter(lo, up, &h[from..=last_start])
        .map(|i| from + i)
        .find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

pub(crate) fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    find_ignore_case(hay, needle).is_some()
}

fn is_key_boundary(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b';' | b',' | b'(' | b'{' | b'[' | b'&' | b'?'
    )
}

/// The value of `key=` in a `key=value; key=value` style text. The key (case-insensitive) must
/// start the text or follow a separator; a value in double quotes runs to the closing quote;
/// otherwise it ends at whitespace, `;`, `)` or one of `extra_ends`. Trailing `,` is dropped.
pub(crate) fn kv<'a>(text: &'a str, key: &str, extra_ends: &[u8]) -> Option<&'a str> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = find_ignore_case_from(text, key, from) {
        from = pos + 1;
        let after = pos + key.len();
        if bytes.get(after) != Some(&b'=') {
            continue;
        }
        if pos > 0 && !is_key_boundary(bytes[pos - 1]) {
            continue;
        }
        let start = after + 1;
        let rest = text.get(start..)?;
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            return quoted.get(..end);
        }
        let end = rest
            .bytes()
            .position(|b| {
                b.is_ascii_whitespace() || b == b';' || b == b')' || extra_ends.contains(&b)
            })
            .unwrap_or(rest.len());
        return rest.get(..end);
    }
    None
}

/// The text inside `key=<...>` (Postfix `from=<a@b>`, `helo=<h>`); may contain spaces.
pub(crate) fn angle_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = find_ignore_case_from(text, key, from) {
        from = pos + 1;
        if pos > 0 && !is_key_boundary(bytes[pos - 1]) {
            continue;
        }
        if bytes.get(pos + key.len()..pos + key.len() + 2) != Some(b"=<") {
            continue;
        }
        let start = pos + key.len() + 2;
        let rest = text.get(start..)?;
        let end = rest.find('>')?;
        return rest.get(..end);
    }
    None
}

/// An envelope address as recorded: quotes, angle brackets and spaces removed; `<>` (the null
/// sender) becomes the empty string. `<UNKNOWN>` gives `None`.
pub(crate) fn clean_address(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches(',');
    let t = t.trim_matches(|c| c == '"' || c == '\'').trim();
    if t.eq_ignore_ascii_case("<unknown>") {
        return None;
    }
    let t = t.strip_prefix('<').unwrap_or(t);
    let t = t.strip_suffix('>').unwrap_or(t);
    let t = t.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    Some(t.to_string())
}

/// A host name as recorded (HELO, receiver): trimmed, without brackets around the whole thing
/// unless it is an address literal. Empty and `<UNKNOWN>` give `None`.
pub(crate) fn clean_name(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches(',').trim();
    let t = t.trim_matches(|c| c == '"' || c == '\'').trim();
    if t.is_empty() || t.eq_ignore_ascii_case("<unknown>") {
        return None;
    }
    let t = if t.starts_with('<') && t.ends_with('>') && t.len() >= 2 {
        t[1..t.len() - 1].trim()
    } else {
        t
    };
    if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

/// Domain part of an address (`a@b` -> `b`); a bare domain is returned as is; the null sender
/// has none.
pub(crate) fn domain_of(address: &str) -> Option<&str> {
    let d = match address.rfind('@') {
        Some(at) => &address[at + 1..],
        None => address,
    };
    let d = d.trim().trim_end_matches('.');
    if d.is_empty() { None } else { Some(d) }
}

/// Postfix `name[ip]` (`mail.example[192.0.2.1]`, `unknown[2001:db8::1]`): the name and IP.
pub(crate) fn host_and_ip(text: &str) -> Option<(Option<String>, Option<ClientIp>)> {
    let open = text.find('[')?;
    let close = text[open..].find(']')? + open;
    let name = text[..open].trim();
    let name = if name.is_empty() || name == "unknown" {
        None
    } else {
        Some(name.to_string())
    };
    Some((name, ClientIp::parse(&text[open + 1..close])))
}

/// Decode `%XX` escapes (SPF macro expansion of upper-case macro letters URL-escapes, RFC 7208
/// §7.3), leaving malformed escapes as they are.
pub(crate) fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Is `phrase` in `lower` (already lower-case) with no letter or digit right before or after?
pub(crate) fn has_phrase(lower: &str, phrase: &str) -> bool {
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(rel) = lower.get(from..).and_then(|s| s.find(phrase)) {
        let pos = from + rel;
        let end = pos + phrase.len();
        let before_ok = pos == 0 || !bytes[pos - 1].is_ascii_alphanumeric();
        let after_ok = end >= bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if before_ok && after_ok {
            return true;
        }
        from = pos + 1;
    }
    false
}

/// The SPF result a reply or reason text states in words ("SPF fail - not authorized",
/// "SPF Permanent Error: ...", "domain owner discourages use of this host", Exim's
/// "... is not allowed to send mail from ..."), or `None` when it states none.
///
/// The fixed phrases are pyspf's explanations per result and Mail::SPF's result names; Exim's
/// phrase is the message of the `spf = fail` ACL example in its specification.
pub(crate) fn result_in_text(text: &str) -> Option<SpfResult> {
    let lower = text.to_ascii_lowercase();
    let l = lower.as_str();
    if has_phrase(l, "spf permanent error")
        || has_phrase(l, "spf permerror")
        || has_phrase(l, "permanent error in processing")
    {
        return Some(SpfResult::PermError);
    }
    if has_phrase(l, "spf temporary error")
        || has_phrase(l, "spf temperror")
        || has_phrase(l, "temporary dns error in processing")
    {
        return Some(SpfResult::TempError);
    }
    if has_phrase(l, "spf softfail")
        || has_phrase(l, "spf soft fail")
        || has_phrase(l, "domain owner discourages use of this host")
    {
        return Some(SpfResult::SoftFail);
    }
    if has_phrase(l, "spf fail")
        || has_phrase(l, "spf hardfail")
        || l.contains("fail - not authorized")
        || l.contains("is not allowed to send mail from")
    {
        return Some(SpfResult::Fail);
    }
    if has_phrase(l, "spf neutral") || l.contains("access neither permitted nor denied") {
        return Some(SpfResult::Neutral);
    }
    if has_phrase(l, "spf none") {
        return Some(SpfResult::None);
    }
    None
}

/// The parts of an openspf "Why?" URL (`Why?s=mfrom;id=a@b;ip=1.2.3.4;r=host`, or the old
/// `why.html?sender=a@b&ip=1.2.3.4&receiver=host`) that pyspf, Mail::SPF and smf-spf put in
/// their reject texts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct WhyUrl {
    /// `mfrom` or `helo`.
    pub scope: Option<String>,
    /// The identity checked: the MAIL FROM address, or the HELO name for `s=helo`.
    pub id: Option<String>,
    pub ip: Option<ClientIp>,
}

pub(crate) fn why_url(text: &str) -> Option<WhyUrl> {
    let pos = find_ignore_case(text, "/why")?;
    let rest = &text[pos..];
    let q = rest.find('?')?;
    let query = &rest[q + 1..];
    // The URL ends at the first whitespace, except one right after `=` (`r= DESTEMAIL`, a
    // reporter's placeholder).
    let qb = query.as_bytes();
    let end = (0..qb.len())
        .find(|&i| qb[i].is_ascii_whitespace() && (i == 0 || qb[i - 1] != b'='))
        .unwrap_or(qb.len());
    let query = &query[..end];
    let mut url = WhyUrl::default();
    for part in query.split([';', '&']) {
        // `r= DESTEMAIL; from=<...>`: later parts are not URL parts, but their keys are
        // none of the ones looked at here.
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v = v.split_whitespace().next().unwrap_or("");
        match k.trim().to_ascii_lowercase().as_str() {
            "s" | "scope" => url.scope = Some(v.to_ascii_lowercase()),
            "id" | "identity" | "sender" => {
                let v = percent_decode(v);
                if !v.is_empty() {
                    url.id = Some(v);
                }
            }
            "ip" => url.ip = ClientIp::parse(&percent_decode(v)),
            _ => {}
        }
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_forms() {
        assert_eq!(
            ClientIp::parse("[192.0.2.1]"),
            Some(ClientIp::Ip("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(
            ClientIp::parse("::ffff:192.0.2.1"),
            Some(ClientIp::Ip("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(
            ClientIp::parse("143.55.228.193:57053"),
            Some(ClientIp::Ip("143.55.228.193".parse().unwrap()))
        );
        assert_eq!(
            ClientIp::parse("IPv6:2001:db8::1"),
            Some(ClientIp::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            ClientIp::parse("REDACTED"),
            Some(ClientIp::Raw("REDACTED".into()))
        );
        assert_eq!(ClientIp::parse("<UNKNOWN>"), None);
    }

    #[test]
    fn kv_lookup() {
        let t = "Pass; identity=mailfrom; client-ip=1.2.3.4; helo=[1.2.3.4]; envelope-from=<>; receiver=<UNKNOWN> 131";
        assert_eq!(kv(t, "identity", &[]), Some("mailfrom"));
        assert_eq!(kv(t, "client-ip", &[]), Some("1.2.3.4"));
        assert_eq!(kv(t, "helo", &[]), Some("[1.2.3.4]"));
        assert_eq!(kv(t, "envelope-from", &[]), Some("<>"));
        assert_eq!(kv(t, "receiver", &[]), Some("<UNKNOWN>"));
        assert_eq!(kv(t, "ip", &[]), None);
        let q = r#"receiver=x; envelope-from="a@b"; helo=h"#;
        assert_eq!(kv(q, "envelope-from", &[]), Some("a@b"));
    }

    #[test]
    fn why_urls() {
        let u = why_url("Please see http://www.openspf.net/Why?s=helo;id=mail2.sender.com;ip=172.26.0.1;r=<UNKNOWN>").unwrap();
        assert_eq!(u.scope.as_deref(), Some("helo"));
        assert_eq!(u.id.as_deref(), Some("mail2.sender.com"));
        assert_eq!(u.ip, ClientIp::parse("172.26.0.1"));
        let u = why_url("http://www.openspf.org/Why?s=mfrom;id=a%40b.example;ip=192.0.2.1;r=mx")
            .unwrap();
        assert_eq!(u.id.as_deref(), Some("a@b.example"));
        let u = why_url(
            "http://www.openspf.net/Why?s=mfrom;id=FROMMAIL;ip=46.167.245.72;r= DESTEMAIL; from=< FROMMAIL> to=< DESTEMAIL >",
        )
        .unwrap();
        assert_eq!(u.id.as_deref(), Some("FROMMAIL"));
        assert_eq!(u.ip, ClientIp::parse("46.167.245.72"));
    }

    #[test]
    fn phrases() {
        assert_eq!(
            result_in_text("Message rejected due to: SPF fail - not authorized."),
            Some(SpfResult::Fail)
        );
        assert_eq!(result_in_text("SPF failure and DKIM"), None);
        assert_eq!(
            result_in_text("SPF Permanent Error: Too many DNS lookups"),
            Some(SpfResult::PermError)
        );
    }
}
