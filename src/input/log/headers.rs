//! Header texts that policy daemons and milters write into log lines (`prepend Received-SPF:
//! ...`, `Authentication-Results: ...`). The forms found in logs are few and regular
//! (pypolicyd-spf, Mail::SPF, rspamd, Exim `logwrite`), so they are read here directly; the
//! general header parsers in `crate::extract` then fill in whatever this reading left empty.

use crate::extract::{VerdictSource, auth_results, received_spf};
use crate::model::{Identity, SpfResult};

use super::parse::Fragment;
use super::text::{self, ClientIp, clean_address, clean_name, kv};

/// What a header text says about one SPF check.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Fields {
    pub result: Option<SpfResult>,
    pub identity: Option<Identity>,
    pub ip: Option<ClientIp>,
    pub helo: Option<String>,
    pub envelope_from: Option<String>,
    pub domain: Option<String>,
    pub receiver: Option<String>,
    pub mechanism: Option<String>,
}

impl Fields {
    /// Copy into a fragment every field the fragment does not have yet.
    pub(crate) fn fill(self, f: &mut Fragment) {
        if f.result.is_none() {
            f.result = self.result;
        }
        if f.identity.is_none() {
            f.identity = self.identity;
        }
        if f.ip.is_none() {
            f.ip = self.ip;
        }
        if f.helo.is_none() {
            f.helo = self.helo;
        }
        if f.envelope_from.is_none() {
            f.envelope_from = self.envelope_from;
        }
        if f.domain.is_none() {
            f.domain = self.domain;
        }
        if f.receiver.is_none() {
            f.receiver = self.receiver;
        }
        if let Some(m) = self.mechanism {
            f.notes.push(format!("matched mechanism: {m}"));
        }
    }

    fn fill_gaps_from(&mut self, other: Fields) {
        if self.result.is_none() {
            self.result = other.result;
        }
        if self.identity.is_none() {
            self.identity = other.identity;
        }
        if self.ip.is_none() {
            self.ip = other.ip;
        }
        if self.helo.is_none() {
            self.helo = other.helo;
        }
        if self.envelope_from.is_none() {
            self.envelope_from = other.envelope_from;
        }
        if self.domain.is_none() {
            self.domain = other.domain;
        }
        if self.receiver.is_none() {
            self.receiver = other.receiver;
        }
    }
}

/// Replace the literal `\n` / `\t` escapes some writers leave in logged header texts (Exim
/// `logwrite`) by a space.
pub(crate) fn unescape_logged(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '\n', '\t']) {
        return std::borrow::Cow::Borrowed(value);
    }
    std::borrow::Cow::Owned(
        value
            .replace("\\n", " ")
            .replace("\\t", " ")
            .replace(['\n', '\t'], " "),
    )
}

/// Skip a parenthesised comment at the start of `s` (nested parentheses, quoted strings);
/// returns (comment inside, rest after it).
fn take_comment(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'(') {
        return None;
    }
    let mut depth = 0usize;
    let mut in_quote = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => in_quote = !in_quote,
            b'(' if !in_quote => depth += 1,
            b')' if !in_quote => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some((&s[1..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    Some((&s[1..], ""))
}

/// An IP in explanation prose: `designates 1.2.3.4 as`, `does not designate 1.2.3.4 as`,
/// `sender IP is 1.2.3.4`, `client-ip=1.2.3.4`.
fn ip_in_prose(comment: &str) -> Option<ClientIp> {
    if let Some(v) = kv(comment, "client-ip", b",") {
        return ClientIp::parse(v);
    }
    for marker in ["designates ", "designate ", "sender ip is ", "checking "] {
        if let Some(pos) = text::find_ignore_case(comment, marker) {
            let word = comment[pos + marker.len()..]
                .split(|c: char| c.is_whitespace() || c == ')' || c == ';')
                .next()
                .unwrap_or("");
            if let Some(ClientIp::Ip(ip)) = ClientIp::parse(word) {
                return Some(ClientIp::Ip(ip));
            }
        }
    }
    None
}

fn identity_word(word: &str) -> Option<Identity> {
    word.trim()
        .trim_matches(|c| c == '\'' || c == '"')
        .parse()
        .ok()
}

/// Read a `Received-SPF` value (RFC 7208 §9.1) as pypolicyd-spf and Mail::SPF write it.
/// `receiver_is_host`: Mail::SPF's `receiver=` names the receiving host; pypolicyd-spf's
/// names the recipient and is not used.
pub(crate) fn received_spf(value: &str, receiver_is_host: bool) -> Fields {
    let value = unescape_logged(value);
    let v = value.trim();
    let mut fields = Fields::default();
    let word_end = v
        .find(|c: char| !c.is_ascii_alphabetic() && c != '-' && c != '_')
        .unwrap_or(v.len());
    fields.result = SpfResult::parse_lenient(&v[..word_end]);
    let mut rest = v[word_end..].trim_start();
    let mut comment = "";
    if let Some((c, after)) = take_comment(rest) {
        comment = c;
        rest = after;
    }
    if let Some(id) = kv(rest, "identity", &[]) {
        fields.identity = identity_word(id);
    }
    if let Some(ip) = kv(rest, "client-ip", &[]).or_else(|| kv(rest, "client_ip", &[])) {
        fields.ip = ClientIp::parse(ip);
    }
    if let Some(h) = kv(rest, "helo", &[]) {
        fields.helo = clean_name(h);
    }
    if let Some(e) = kv(rest, "envelope-from", &[]) {
        fields.envelope_from = clean_address(e);
    }
    if receiver_is_host && let Some(r) = kv(rest, "receiver", &[]) {
        fields.receiver = clean_name(r);
    }
    if let Some(m) = kv(rest, "mechanism", &[]) {
        fields.mechanism = Some(m.to_string());
    }
    // Scope in the comment: pypolicyd `(mailfrom)`/`(helo)`, Mail::SPF `in 'mfrom' identity`.
    if fields.identity.is_none() {
        fields.identity = identity_word(comment).or_else(|| {
            let pos = text::find_ignore_case(comment, "' identity")?;
            let start = comment[..pos].rfind('\'')?;
            identity_word(&comment[start + 1..pos])
        });
    }
    if fields.ip.is_none() {
        fields.ip = ip_in_prose(comment);
    }
    // The general parser fills what this reading left empty.
    let complete = fields.result.is_some()
        && fields.identity.is_some()
        && fields.ip.is_some()
        && fields.helo.is_some()
        && fields.envelope_from.is_some()
        && (fields.receiver.is_some() || !receiver_is_host);
    if complete {
        return fields;
    }
    let shared = received_spf::parse(&value);
    let mut other = Fields {
        result: shared.result,
        identity: shared.identity,
        ip: shared
            .client_ip
            .map(ClientIp::Ip)
            .or_else(|| shared.client_ip_raw.as_deref().and_then(ClientIp::parse)),
        helo: shared.helo,
        envelope_from: shared.envelope_from,
        domain: shared.domain,
        receiver: None,
        mechanism: None,
    };
    if receiver_is_host {
        other.receiver = shared.receiver;
    }
    fields.fill_gaps_from(other);
    fields
}

/// Read the `spf=` results of an Authentication-Results value (RFC 8601 §2.7.2: `spf` with
/// `smtp.mailfrom` / `smtp.helo`), as pypolicyd-spf (`Header_Type = AR`), rspamd and Exim
/// write it. The client IP is not a standard property: it is taken from the comment
/// (`(client-ip=...; helo=...; envelope-from=...)`, `designates 1.2.3.4 as ...`).
pub(crate) fn authentication_results(value: &str) -> Vec<Fields> {
    let value = unescape_logged(value);
    let v = value.trim();
    let mut out = Vec::new();
    // authserv-id: up to the first `;`, unless that part is already a result.
    let (authserv, body) = match split_outside(v, b';').first() {
        Some(first) if !first.contains('=') => (
            clean_name(first.split_whitespace().next().unwrap_or("")),
            &v[first.len().min(v.len())..],
        ),
        _ => (None, v),
    };
    for part in split_outside(body, b';') {
        let p = part.trim().trim_start_matches(';').trim();
        let Some(after) = text::strip_prefix_ignore_case(p, "spf=") else {
            continue;
        };
        let word_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let mut fields = Fields {
            result: SpfResult::parse_lenient(&after[..word_end]),
            receiver: authserv.clone(),
            ..Fields::default()
        };
        let mut rest = after[word_end..].trim_start();
        let mut comments = Vec::new();
        let mut props = String::new();
        loop {
            if let Some((c, r)) = take_comment(rest) {
                comments.push(c);
                rest = r.trim_start();
                continue;
            }
            let token_end = rest
                .find(|c: char| c == '(' || c.is_whitespace())
                .unwrap_or(rest.len());
            if token_end == 0 {
                break;
            }
            // a quoted value may contain spaces
            let token_end = if let Some(q) = rest[..token_end].find("=\"") {
                rest[q + 2..]
                    .find('"')
                    .map(|e| q + 2 + e + 1)
                    .unwrap_or(rest.len())
            } else {
                token_end
            };
            props.push_str(&rest[..token_end]);
            props.push(' ');
            rest = rest[token_end..].trim_start();
        }
        if let Some(m) = kv(&props, "smtp.mailfrom", &[]).or_else(|| kv(&props, "smtp.mail", &[])) {
            fields.identity = Some(Identity::MailFrom);
            // as recorded: a full address, a bare domain, or empty for the null sender
            let m = clean_address(m).unwrap_or_default();
            if !m.is_empty() && !m.contains('@') {
                fields.domain = Some(m.clone());
            }
            fields.envelope_from = Some(m);
        }
        if let Some(h) = kv(&props, "smtp.helo", &[]) {
            if fields.identity.is_none() {
                fields.identity = Some(Identity::Helo);
            }
            fields.helo = clean_name(h).map(|h| match h.rsplit_once('@') {
                // IronPort writes the HELO identity as `postmaster@helo`
                Some((_, d)) => d.to_string(),
                None => h,
            });
        }
        for c in &comments {
            if fields.ip.is_none() {
                fields.ip = ip_in_prose(c);
            }
            if fields.helo.is_none()
                && let Some(h) = kv(c, "helo", &[])
            {
                fields.helo = clean_name(h);
            }
            if let Some(e) = kv(c, "envelope-from", &[]) {
                let e = clean_address(e);
                // the comment has the whole address where smtp.mailfrom has the domain
                let refines = match (fields.envelope_from.as_deref(), e.as_deref()) {
                    (None, _) => true,
                    (Some(old), Some(new)) => !old.contains('@') && new.contains('@'),
                    _ => false,
                };
                if refines {
                    fields.envelope_from = e;
                }
            }
        }
        out.push(fields);
    }
    // The general parser fills gaps, result by result.
    let shared = auth_results::parse(&value, VerdictSource::AuthenticationResults);
    for (fields, s) in out.iter_mut().zip(shared) {
        fields.fill_gaps_from(Fields {
            result: s.result,
            identity: s.identity,
            ip: s
                .client_ip
                .map(ClientIp::Ip)
                .or_else(|| s.client_ip_raw.as_deref().and_then(ClientIp::parse)),
            helo: s.helo,
            envelope_from: s.envelope_from,
            domain: s.domain,
            receiver: s.receiver,
            mechanism: None,
        });
    }
    out
}

/// Split at `sep` outside parentheses and double quotes; each piece keeps no separator.
fn split_outside(s: &str, sep: u8) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        match b {
            b'"' => in_quote = !in_quote,
            b'(' if !in_quote => depth += 1,
            b')' if !in_quote => depth = depth.saturating_sub(1),
            _ if b == sep && depth == 0 && !in_quote => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypolicyd_received_spf() {
        let f = received_spf(
            "Pass (mailfrom) identity=mailfrom; client-ip=194.5.94.216; helo=mail.carpar.monster; envelope-from=a@carpar.monster; receiver=<UNKNOWN> ",
            false,
        );
        assert_eq!(f.result, Some(SpfResult::Pass));
        assert_eq!(f.identity, Some(Identity::MailFrom));
        assert_eq!(f.ip, ClientIp::parse("194.5.94.216"));
        assert_eq!(f.helo.as_deref(), Some("mail.carpar.monster"));
        assert_eq!(f.envelope_from.as_deref(), Some("a@carpar.monster"));
        assert_eq!(f.receiver, None);
    }

    #[test]
    fn mail_spf_received_spf() {
        let f = received_spf(
            "pass (example.org: Sender is authorized to use 'a@example.org' in 'mfrom' identity (mechanism 'ip4:192.0.2.0/24' matched)) receiver=mx.example.net; identity=mailfrom; envelope-from=\"a@example.org\"; helo=out.example.org; client-ip=192.0.2.7",
            true,
        );
        assert_eq!(f.result, Some(SpfResult::Pass));
        assert_eq!(f.identity, Some(Identity::MailFrom));
        assert_eq!(f.ip, ClientIp::parse("192.0.2.7"));
        assert_eq!(f.envelope_from.as_deref(), Some("a@example.org"));
        assert_eq!(f.receiver.as_deref(), Some("mx.example.net"));
    }

    #[test]
    fn pypolicyd_authentication_results() {
        let v = "mail.club1.fr; spf=pass (sender SPF authorized) smtp.mailfrom=mg.spoofing.science (client-ip=69.72.42.6; helo=m42-6.mailgun.net; envelope-from=bounce+5cff61.3a5c1a-***=club1.fr@mg.spoofing.science; receiver=club1.fr)";
        let r = authentication_results(v);
        assert_eq!(r.len(), 1);
        let f = &r[0];
        assert_eq!(f.result, Some(SpfResult::Pass));
        assert_eq!(f.identity, Some(Identity::MailFrom));
        assert_eq!(f.ip, ClientIp::parse("69.72.42.6"));
        assert_eq!(f.helo.as_deref(), Some("m42-6.mailgun.net"));
        assert_eq!(
            f.envelope_from.as_deref(),
            Some("bounce+5cff61.3a5c1a-***=club1.fr@mg.spoofing.science")
        );
        assert_eq!(f.receiver.as_deref(), Some("mail.club1.fr"));
    }

    #[test]
    fn rspamd_and_exim_authentication_results() {
        let v = "mail.x.fr;\n\tarc=reject (\"cannot verify {[1] = sig:google.com:invalid}\");\n\tdmarc=fail reason=\"SPF not aligned (relaxed), No valid DKIM\" header.from=a.com (policy=reject);\n\tspf=pass (mail.x.fr: domain of u@gmail.com designates 209.85.167.42 as permitted sender) smtp.mailfrom=u@gmail.com";
        let r = authentication_results(v);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].ip, ClientIp::parse("209.85.167.42"));
        assert_eq!(r[0].envelope_from.as_deref(), Some("u@gmail.com"));
        let r = authentication_results(
            "myhost.test.ex;\\n\tspf=pass smtp.helo=passme.helo.example.com",
        );
        assert_eq!(r[0].identity, Some(Identity::Helo));
        assert_eq!(r[0].helo.as_deref(), Some("passme.helo.example.com"));
        assert_eq!(r[0].receiver.as_deref(), Some("myhost.test.ex"));
    }
}
