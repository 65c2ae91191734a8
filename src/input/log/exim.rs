//! Exim main/reject log lines: `<=` arrivals with `SPF=<result>` (log_selector
//! `+spf_verbose`) or a bare `SPF` marker on pass (`+spf`), RCPT/MAIL rejects with `SPF=` or
//! an ACL message about SPF, and `logwrite` output (`spf_result ...`, a logged
//! `Authentication-Results:` text).

use crate::model::{Identity, SpfResult};

use super::headers;
use super::parse::{Event, Fragment, Join, Kind, Line};
use super::text::{self, ClientIp, clean_address, clean_name, result_in_text};

const EXIM: &str = "exim";

/// An Exim message id: `1a2B3c-000AbC-De` (classic) or `1a2B3c-000000AbC-De12` (4.97+).
fn is_message_id(token: &str) -> bool {
    let mut parts = token.split('-');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let alnum = |s: &str| s.bytes().all(|c| c.is_ascii_alphanumeric());
    a.len() == 6
        && (6..=11).contains(&b.len())
        && (2..=4).contains(&c.len())
        && alnum(a)
        && alnum(b)
        && alnum(c)
}

/// Split on spaces outside double quotes (`T="a subject with SPF=pass in it"`).
fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    let mut in_quote = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => {
                in_quote = !in_quote;
                if start.is_none() {
                    start = Some(i);
                }
            }
            ' ' | '\t' if !in_quote => {
                if let Some(st) = start.take() {
                    out.push(&s[st..i]);
                }
            }
            _ => {
                if start.is_none() {
                    start = Some(i);
                }
            }
        }
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

/// The `H=` host description: `name (helo) [ip]`, `(helo) [ip]`, `name [ip]`, `[ip]`; the
/// HELO is shown in parentheses only when it differs from the verified host name.
fn host_field(toks: &[&str]) -> (Option<String>, Option<ClientIp>) {
    let Some(start) = toks.iter().position(|t| t.starts_with("H=")) else {
        return (None, None);
    };
    let mut name = None;
    let mut helo = None;
    let mut ip = None;
    for (k, t) in toks[start..].iter().enumerate() {
        let t = if k == 0 { &t[2..] } else { t };
        if t.is_empty() {
            continue;
        }
        if t.starts_with('[') {
            ip = ClientIp::parse(t);
            break;
        }
        if let Some(inner) = t.strip_prefix('(') {
            helo = clean_name(inner.trim_end_matches(')'));
        } else if k == 0 {
            name = Some(t.to_string());
        } else {
            break;
        }
    }
    (helo.or(name), ip)
}

/// An Exim log line. Returns whether it stated anything.
pub(crate) fn exim_line(line: &Line<'_>, events: &mut Vec<Event>) -> bool {
    let m = line.message;
    let toks = tokens(m);
    // logwrite: `spf_result  pass`, `spf_result  fail (guess <no>)`
    if toks.first() == Some(&"spf_result") {
        if let Some(result) = toks.get(1).and_then(|w| SpfResult::parse_lenient(w)) {
            let mut f = Fragment::new(Kind::LogResult, EXIM);
            f.result = Some(result);
            f.join = Join::Adjacent;
            events.push(Event::Verdict(Box::new(f)));
            return true;
        }
        return false;
    }
    // logwrite of an Authentication-Results text (literal `\n` kept in the log)
    let whole = line.after_stamp;
    if let Some(pos) = text::find_ignore_case(whole, "Authentication-Results:")
        && text::contains_ignore_case(whole, "spf=")
    {
        let before = events.len();
        for fields in headers::authentication_results(&whole[pos + 23..]) {
            if fields.result.is_none() {
                continue;
            }
            let mut f = Fragment::new(Kind::LogWrite, EXIM);
            fields.fill(&mut f);
            f.join = Join::Adjacent;
            events.push(Event::Verdict(Box::new(f)));
        }
        return events.len() > before;
    }
    let arrival = toks.len() >= 3 && is_message_id(toks[0]) && toks[1] == "<=";
    if arrival {
        let spf = toks.iter().skip(3).find_map(|t| {
            if *t == "SPF" {
                // `+spf` logs a bare marker, on pass only
                Some(Some(SpfResult::Pass))
            } else {
                t.strip_prefix("SPF=").map(SpfResult::parse_lenient)
            }
        });
        let Some(result) = spf else {
            return false;
        };
        let mut f = Fragment::new(Kind::EximLine, EXIM);
        f.result = result;
        f.envelope_from = clean_address(toks[2]);
        let (helo, ip) = host_field(&toks);
        f.helo = helo;
        f.ip = ip;
        if let Some(id) = toks.iter().find_map(|t| t.strip_prefix("id=")) {
            f.message_id = Some(id.trim_matches(['<', '>']).to_string());
        }
        f.qid = Some(toks[0].to_string());
        // RFC 7208 §2.4: with a null sender the MAIL FROM check is made for postmaster@HELO
        f.identity = f.envelope_from.as_ref().map(|_| Identity::MailFrom);
        f.join = Join::Adjacent;
        events.push(Event::Verdict(Box::new(f)));
        return true;
    }
    // rejects: `H=... F=<sender> [SPF=fail] [temporarily ]rejected RCPT <rcpt>[: message]`
    let Some(rej) = toks.iter().position(|t| *t == "rejected").filter(|&i| {
        matches!(
            toks.get(i + 1),
            Some(&"RCPT") | Some(&"MAIL") | Some(&"RCPT:")
        ) || (toks.get(i + 1) == Some(&"after") && toks.get(i + 2) == Some(&"DATA:"))
    }) else {
        return false;
    };
    let head = &toks[..rej];
    let mut result = head
        .iter()
        .find_map(|t| t.strip_prefix("SPF=").and_then(SpfResult::parse_lenient));
    let message = match m
        .find("rejected RCPT")
        .or_else(|| m.find("rejected MAIL"))
        .or_else(|| m.find("rejected after DATA"))
    {
        Some(pos) => {
            let after = &m[pos..];
            // the ACL message follows `rejected RCPT <rcpt>: ` (or `rejected RCPT: `)
            match after.find(": ") {
                Some(c) => &after[c + 2..],
                None => "",
            }
        }
        None => "",
    };
    let spf_message = text::contains_ignore_case(message, "SPF");
    if result.is_none() && spf_message {
        result = result_in_text(message);
    }
    let Some(result) = result else {
        return false;
    };
    let mut f = Fragment::new(Kind::EximLine, EXIM);
    f.result = Some(result);
    f.rejected = true;
    f.envelope_from = head
        .iter()
        .find_map(|t| t.strip_prefix("F="))
        .and_then(clean_address);
    let (helo, ip) = host_field(head);
    f.helo = helo;
    f.ip = ip;
    if let Some(id) = head.first().filter(|t| is_message_id(t)) {
        f.qid = Some(id.to_string());
    }
    if spf_message {
        // `SPF: 1.2.3.4 is not allowed to send mail from example.com`
        if let Some(pos) = message.find("is not allowed to send mail from ") {
            let domain = message[pos + 33..]
                .split(|c: char| c.is_whitespace() || c == ':')
                .next()
                .unwrap_or("")
                .trim_end_matches('.');
            if !domain.is_empty() {
                f.domain = Some(domain.to_string());
            }
            let stated = message[..pos]
                .trim()
                .rsplit(|c: char| c.is_whitespace())
                .next()
                .unwrap_or("");
            match (&f.ip, ClientIp::parse(stated)) {
                (Some(ip), Some(s)) if !ip.same(&s) => f.notes.push(format!(
                    "the reject text names client {stated}, the connection was from {}",
                    match ip {
                        ClientIp::Ip(a) => a.to_string(),
                        ClientIp::Raw(r) => r.clone(),
                    }
                )),
                (None, Some(s)) => f.ip = Some(s),
                _ => {}
            }
        }
    }
    if f.envelope_from.is_some() || f.domain.is_some() {
        f.identity = Some(Identity::MailFrom);
    }
    let short: String = m[m.find("rejected").unwrap_or(0)..]
        .chars()
        .take(300)
        .collect();
    f.notes.push(short);
    f.join = Join::Adjacent;
    events.push(Event::Verdict(Box::new(f)));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frags(message: &str) -> Vec<Fragment> {
        let line = Line {
            base: "",
            program: "",
            message,
            after_stamp: message,
        };
        let mut events = Vec::new();
        exim_line(&line, &mut events);
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Verdict(f) => Some(*f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn arrival_with_spf() {
        let f = frags(
            "10HmaX-000000005vi-0000 <= b@test.example.com H=(cname.test.ex) [ip4.ip4.ip4.ip4] P=smtp SPF=none S=sss",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].result, Some(SpfResult::None));
        assert_eq!(f[0].helo.as_deref(), Some("cname.test.ex"));
        assert_eq!(f[0].ip, Some(ClientIp::Raw("ip4.ip4.ip4.ip4".into())));
        let f = frags(
            "1a2B3c-000AbC-De <= a@b.example H=mx.b.example [192.0.2.1]:4567 P=esmtps SPF S=1 id=x@y T=\"SPF=fail\"",
        );
        assert_eq!(f[0].result, Some(SpfResult::Pass));
        assert_eq!(f[0].helo.as_deref(), Some("mx.b.example"));
        assert_eq!(f[0].message_id.as_deref(), Some("x@y"));
        assert!(frags("1a2B3c-000AbC-De <= a@b H=[192.0.2.1] P=smtp T=\"SPF=fail\"").is_empty());
    }

    #[test]
    fn rejects() {
        let f = frags(
            "H=(cname.test.ex) [ip4.ip4.ip4.ip4] F=<a@test.again.dns> SPF=temperror temporarily rejected RCPT <fred_a@test.ex>",
        );
        assert_eq!(f[0].result, Some(SpfResult::TempError));
        assert_eq!(f[0].envelope_from.as_deref(), Some("a@test.again.dns"));
        let f = frags(
            "H=out7.antispamcloud.com [94.75.244.176] X=TLS1.2:x:128 CV=no F=<info@email.ibood.com> rejected RCPT <r@example.com>: SPF: 123.123.123.123 is not allowed to send mail from email.ibood.com: Please see http://www.open-spf.org/Why : Reason: mechanism",
        );
        assert_eq!(f[0].result, Some(SpfResult::Fail));
        assert_eq!(f[0].ip, ClientIp::parse("94.75.244.176"));
        assert_eq!(f[0].helo.as_deref(), Some("out7.antispamcloud.com"));
        assert_eq!(f[0].domain.as_deref(), Some("email.ibood.com"));
        let f =
            frags("rejected RCPT: SPF: [FILTER-IP] is not allowed to send mail from hotmail.com");
        assert_eq!(f[0].result, Some(SpfResult::Fail));
        assert_eq!(f[0].domain.as_deref(), Some("hotmail.com"));
        assert_eq!(f[0].ip, Some(ClientIp::Raw("FILTER-IP".into())));
        assert!(
            frags("H=x [192.0.2.1] F=<a@b> rejected RCPT <c@d>: relay not permitted").is_empty()
        );
        let f = frags(
            "1a2B3c-000AbC-De H=mx.b.example [192.0.2.1] F=<a@b.example> rejected after DATA: SPF softfail for b.example",
        );
        assert_eq!(f[0].result, Some(SpfResult::SoftFail));
        assert_eq!(f[0].qid.as_deref(), Some("1a2B3c-000AbC-De"));
    }
}
