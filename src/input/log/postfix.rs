//! Postfix and its SPF policy daemons: pypolicyd-spf (`policyd-spf`, python) and
//! postfix-policyd-spf-perl (`postfix/policy-spf`), smtpd session and queue lines (the
//! correlation keys), `NOQUEUE: reject` lines with SPF reasons, and postsrsd rewrites.

use crate::model::{Identity, SpfResult};

use super::headers;
use super::parse::{Event, Fragment, Join, Kind, Line};
use super::text::{
    self, ClientIp, angle_value, clean_address, clean_name, host_and_ip, kv, result_in_text,
    why_url,
};

const PY: &str = "policyd-spf";
const PERL: &str = "policyd-spf-perl";

/// A line from a policy daemon (`policyd-spf[pid]`, `postfix/policy-spf[pid]`).
pub(crate) fn policy_line(line: &Line<'_>, events: &mut Vec<Event>) {
    policy_message(line.message, events);
}

/// A line without a program name that has the shape of a policy daemon line (pasted
/// excerpts). Returns whether it was one.
pub(crate) fn policy_content(line: &Line<'_>, events: &mut Vec<Event>) -> bool {
    let before = events.len();
    policy_message(line.message, events);
    events.len() > before
}

fn verdict(events: &mut Vec<Event>, mut f: Fragment) {
    if f.join == Join::None {
        f.join = Join::Session;
    }
    events.push(Event::Verdict(Box::new(f)));
}

fn policy_message(message: &str, events: &mut Vec<Event>) {
    let m = message.trim();
    let m = m.strip_prefix(": ").unwrap_or(m).trim_start();

    // pypolicyd-spf debug: `Action: prepend: Text: <header>  Reject action: 550 5.7.23`
    // (also seen as `Action: prepend <header>`), and `Action: reject: Text: <reason> ...`.
    if let Some(rest) = text::strip_prefix_ignore_case(m, "Action:") {
        let rest = rest.trim_start();
        let (action, body) = match rest.split_once([':', ' ']) {
            Some((a, b)) => (a.trim(), b.trim_start()),
            None => (rest, ""),
        };
        let body = text::strip_prefix_ignore_case(body, "Text:")
            .unwrap_or(body)
            .trim_start();
        let body = match text::find_ignore_case(body, " Reject action:") {
            Some(pos) => body[..pos].trim_end(),
            None => body,
        };
        match action.to_ascii_lowercase().as_str() {
            "prepend" => py_header(body, events),
            "reject" | "defer" => py_reject(body, action.eq_ignore_ascii_case("defer"), events),
            _ => {}
        }
        return;
    }
    if let Some(rest) = text::strip_prefix_ignore_case(m, "prepend ") {
        py_header(rest.trim_start(), events);
        return;
    }
    // perl: `Policy action=PREPEND Received-SPF: ...`, `Policy action=550 Please see ...`
    if let Some(rest) = text::strip_prefix_ignore_case(m, "Policy action=") {
        perl_action(rest, events);
        return;
    }
    // perl: `SPF pass (explanation): Envelope-from: a@b, IP Address: 1.2.3.4, Recipient: r`
    if let Some(rest) = text::strip_prefix_ignore_case(m, "SPF ")
        && (text::contains_ignore_case(rest, "): Envelope-from: ")
            || text::contains_ignore_case(rest, "): HELO/EHLO: ")
            || text::contains_ignore_case(rest, ": Envelope-from: ")
            || text::contains_ignore_case(rest, ": HELO/EHLO: "))
    {
        perl_result(rest, events);
        return;
    }
    // pypolicyd-spf reject / defer (debugLevel >= 1): `550 5.7.23 <reason>`,
    // `defer_if_permit 4.7.24 <reason>`.
    let first = m.split_whitespace().next().unwrap_or("");
    if first.len() == 3 && first.bytes().all(|b| b.is_ascii_digit()) && first.starts_with('5') {
        py_reject(m, false, events);
        return;
    }
    if first.eq_ignore_ascii_case("defer_if_permit") || first.eq_ignore_ascii_case("defer") {
        py_reject(m, true, events);
        return;
    }
    // pypolicyd-spf info (debugLevel >= 2): `Pass; identity=mailfrom; client-ip=...; ...`
    if let Some((word, rest)) = m.split_once(';')
        && let Some(result) = SpfResult::parse_lenient(word)
        && !word.contains(' ')
        && text::contains_ignore_case(rest, "identity=")
    {
        let mut f = Fragment::new(Kind::PyInfo, PY);
        f.result = Some(result);
        if let Some(id) = kv(rest, "identity", &[]) {
            f.identity = id.parse().ok();
        }
        f.ip = kv(rest, "client-ip", &[]).and_then(ClientIp::parse);
        f.helo = kv(rest, "helo", &[]).and_then(clean_name);
        f.envelope_from = kv(rest, "envelope-from", &[]).and_then(clean_address);
        verdict(events, f);
    }
}

/// `Received-SPF: ...` or `Authentication-Results: ...` prepended by pypolicyd-spf.
fn py_header(header: &str, events: &mut Vec<Event>) {
    if let Some(value) = text::strip_prefix_ignore_case(header, "Received-SPF:") {
        let fields = headers::received_spf(value, false);
        if fields.result.is_none() {
            return;
        }
        let mut f = Fragment::new(Kind::PyHeader, PY);
        fields.fill(&mut f);
        verdict(events, f);
    } else if let Some(value) = text::strip_prefix_ignore_case(header, "Authentication-Results:") {
        for fields in headers::authentication_results(value) {
            if fields.result.is_none() {
                continue;
            }
            let mut f = Fragment::new(Kind::PyHeader, PY);
            fields.fill(&mut f);
            verdict(events, f);
        }
    }
    // `X-Comment: SPF check N/A for local connections` and the like: no verdict.
}

/// The result a policy reject states, or (with an openspf "Why?" URL, which only SPF policy
/// daemons write) the one it implies.
///
/// pypolicyd-spf's reason is pyspf's explanation, fixed per result except for fail (where the
/// domain's own `exp=` text may stand, RFC 7208 §6.2); Mail::SPF's perl daemon rejects only on
/// fail. So a reject with the URL and none of the fixed phrases is a fail, or, with the
/// RFC 7372 code X.7.24 (SPF validation error) or a deferral, an error result.
pub(crate) fn reject_result(reply: &str, deferred: bool) -> Option<(SpfResult, bool)> {
    let lower = reply.to_ascii_lowercase();
    if let Some(r) = result_in_text(reply) {
        return Some((r, false));
    }
    if let Some(pos) = lower.find("receiver policy for spf ") {
        let word = lower[pos + 24..].split_whitespace().next().unwrap_or("");
        if let Some(r) = SpfResult::parse_lenient(word.trim_end_matches(['.', ',', ';'])) {
            return Some((r, false));
        }
    }
    if text::has_phrase(&lower, "no spf record") {
        return Some((SpfResult::None, false));
    }
    why_url(reply)?;
    let code = reply.split_whitespace().next().unwrap_or("");
    if deferred || code.starts_with('4') || lower.contains("deferred due to") {
        return Some((SpfResult::TempError, true));
    }
    if lower.contains("5.7.24") {
        return Some((SpfResult::PermError, true));
    }
    Some((SpfResult::Fail, true))
}

/// Apply a reject/why URL to a fragment: result, identity, identity value, client IP.
fn apply_reject(f: &mut Fragment, reply: &str, deferred: bool) -> bool {
    let Some((result, inferred)) = reject_result(reply, deferred) else {
        return false;
    };
    f.result = Some(result);
    f.rejected = true;
    if inferred {
        f.notes.push(format!(
            "result {result} inferred from an SPF policy reject that does not name it"
        ));
    }
    if let Some(url) = why_url(reply) {
        match url.scope.as_deref() {
            Some("helo") => {
                f.identity = Some(Identity::Helo);
                if f.helo.is_none() {
                    f.helo = url.id.clone();
                }
            }
            Some("mfrom") | Some("mailfrom") => {
                f.identity = Some(Identity::MailFrom);
                if f.envelope_from.is_none() {
                    f.envelope_from = url.id.clone();
                }
            }
            _ => {}
        }
        if f.ip.is_none() {
            f.ip = url.ip;
        }
    }
    let short: String = reply.chars().take(300).collect();
    f.notes.push(format!("rejected: {short}"));
    true
}

fn py_reject(reply: &str, deferred: bool, events: &mut Vec<Event>) {
    let mut f = Fragment::new(Kind::PyReject, PY);
    if apply_reject(&mut f, reply, deferred) {
        verdict(events, f);
    }
}

/// perl: `pass (explanation): Envelope-from: a@b, IP Address: 1.2.3.4, Recipient: r`.
fn perl_result(rest: &str, events: &mut Vec<Event>) {
    let word_end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let Some(result) = SpfResult::parse_lenient(&rest[..word_end]) else {
        return;
    };
    let mut f = Fragment::new(Kind::PerlResult, PERL);
    f.result = Some(result);
    let (identity, marker) = match text::find_ignore_case(rest, ": Envelope-from: ") {
        Some(pos) => (Identity::MailFrom, pos + ": Envelope-from: ".len()),
        None => match text::find_ignore_case(rest, ": HELO/EHLO: ") {
            Some(pos) => (Identity::Helo, pos + ": HELO/EHLO: ".len()),
            None => return,
        },
    };
    f.identity = Some(identity);
    let tail = &rest[marker..];
    let (value, after) = match text::find_ignore_case(tail, ", IP Address: ") {
        Some(pos) => (&tail[..pos], &tail[pos + ", IP Address: ".len()..]),
        None => (tail, ""),
    };
    let value = value.trim();
    let value = (!value.eq_ignore_ascii_case("<UNKNOWN>")).then_some(value);
    match identity {
        Identity::MailFrom => f.envelope_from = value.and_then(clean_address),
        Identity::Helo => f.helo = value.and_then(clean_name),
    }
    let ip = after.split(',').next().unwrap_or("");
    f.ip = ClientIp::parse(ip);
    verdict(events, f);
}

/// perl: `PREPEND Received-SPF: ...`, `550 <authority explanation>`, `DEFER_IF_PERMIT
/// SPF-Result=<explanation>`.
fn perl_action(rest: &str, events: &mut Vec<Event>) {
    let rest = rest.trim();
    let (action, body) = rest.split_once(' ').unwrap_or((rest, ""));
    let action = action.trim_end_matches(',');
    if action.eq_ignore_ascii_case("PREPEND") {
        let body = body.trim_start();
        let body = match text::find_ignore_case(body, ", pretty text=") {
            Some(pos) => &body[..pos],
            None => body,
        };
        if let Some(value) = text::strip_prefix_ignore_case(body, "Received-SPF:") {
            let fields = headers::received_spf(value, true);
            if fields.result.is_some() {
                let mut f = Fragment::new(Kind::PerlAction, PERL);
                fields.fill(&mut f);
                verdict(events, f);
            }
        }
    } else if action.starts_with('5') || action.eq_ignore_ascii_case("reject") {
        let mut f = Fragment::new(Kind::PerlAction, PERL);
        // The perl daemon answers 550 only for a fail result; the text is the authority
        // explanation (the domain's `exp=` or the openspf "Why?" URL).
        let reply = format!("{action} {body}");
        if apply_reject(&mut f, &reply, false) {
            verdict(events, f);
        } else {
            f.result = Some(SpfResult::Fail);
            f.rejected = true;
            f.notes.push(format!("rejected: {}", reply.trim()));
            verdict(events, f);
        }
    } else if action.eq_ignore_ascii_case("DEFER_IF_PERMIT")
        && text::contains_ignore_case(body, "SPF-Result=")
    {
        let mut f = Fragment::new(Kind::PerlAction, PERL);
        f.result = Some(SpfResult::TempError);
        f.notes.push(format!("deferred: {}", body.trim()));
        verdict(events, f);
    }
}

/// A queue id at the start of a Postfix message (`061421408BC: ...`); `NOQUEUE` is none.
fn queue_id(message: &str) -> Option<(&str, &str)> {
    let (id, rest) = message.split_once(": ")?;
    let ok = (5..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok && id != "NOQUEUE" {
        Some((id, rest))
    } else {
        None
    }
}

/// A Postfix daemon line (`postfix/smtpd`, `postfix/cleanup`, `postfix/qmgr`, ...).
pub(crate) fn postfix_line(base: &str, line: &Line<'_>, events: &mut Vec<Event>) {
    let m = line.message;
    if base == "smtpd" || base.ends_with("smtpd") {
        if let Some(rest) = m.strip_prefix("connect from ") {
            let ip = host_and_ip(rest).and_then(|(_, ip)| ip);
            events.push(Event::Connect { ip });
            return;
        }
        if m.starts_with("disconnect from ") {
            events.push(Event::Disconnect);
            return;
        }
    }
    let (qid, rest) = match queue_id(m) {
        Some((q, r)) => (Some(q), r),
        None => match m.strip_prefix("NOQUEUE: ") {
            Some(r) => (None, r),
            None => return,
        },
    };
    if let Some(qid) = qid {
        if let Some(client) = rest.strip_prefix("client=") {
            let ip = host_and_ip(client).and_then(|(_, ip)| ip);
            events.push(Event::Client {
                qid: qid.to_string(),
                ip,
            });
            return;
        }
        if let Some(mid) = rest.strip_prefix("message-id=") {
            let mid = mid.split_whitespace().next().unwrap_or("");
            let mid = mid.trim_start_matches('<').trim_end_matches('>');
            if !mid.is_empty() {
                events.push(Event::MessageId {
                    qid: qid.to_string(),
                    message_id: mid.to_string(),
                });
            }
            return;
        }
        if rest.starts_with("from=<") && (base == "qmgr" || rest.contains(", nrcpt=")) {
            if let Some(from) = angle_value(rest, "from") {
                events.push(Event::QueueFrom {
                    qid: qid.to_string(),
                    from: from.trim().to_string(),
                });
            }
            return;
        }
        if rest.trim() == "removed" {
            events.push(Event::Removed {
                qid: qid.to_string(),
            });
            return;
        }
        if rest.starts_with("to=<")
            && let Some(pos) = rest.find("queued as ")
        {
            let relay = kv(rest, "relay", b",").unwrap_or("");
            let local = relay.contains("127.0.0.1")
                || relay.contains("[::1]")
                || relay.starts_with("localhost");
            let new_qid = rest[pos + 10..]
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or("");
            if local && !new_qid.is_empty() && new_qid != qid {
                events.push(Event::Requeued {
                    qid: qid.to_string(),
                    new_qid: new_qid.to_string(),
                });
            }
            return;
        }
    }
    // `reject: RCPT from name[ip]: <reply>; from=<> to=<> proto=ESMTP helo=<>` (also
    // `milter-reject:`), from smtpd before queueing or cleanup after DATA.
    let Some(reject) = rest
        .strip_prefix("reject: ")
        .or_else(|| rest.strip_prefix("milter-reject: "))
    else {
        return;
    };
    let Some(from_pos) = reject.find(" from ") else {
        return;
    };
    let stage = &reject[..from_pos];
    let after = &reject[from_pos + 6..];
    let Some(colon) = after.find("]: ") else {
        return;
    };
    let client = &after[..colon + 1];
    let reply_and_tail = &after[colon + 3..];
    let (reply, tail) = match reply_and_tail.rfind("; from=<") {
        Some(pos) => (&reply_and_tail[..pos], &reply_and_tail[pos + 2..]),
        None => (reply_and_tail, ""),
    };
    let helo = angle_value(tail, "helo").and_then(clean_name);
    let envelope_from = angle_value(tail, "from").and_then(clean_address);
    let ip = host_and_ip(client).and_then(|(_, ip)| ip);
    let after_data = matches!(stage, "END-OF-MESSAGE" | "DATA" | "BDAT");
    if after_data && let Some(qid) = qid {
        events.push(Event::LateReject {
            qid: qid.to_string(),
            text: reply.chars().take(300).collect(),
            helo: helo.clone(),
        });
    }
    let mut f = Fragment::new(Kind::SmtpdReject, "postfix");
    f.ip = ip;
    f.helo = helo;
    f.envelope_from = envelope_from;
    if !apply_reject(&mut f, reply, reply.starts_with('4')) {
        // refused for another reason: worth a note on the session's verdicts
        if !after_data {
            events.push(Event::SessionReject {
                text: reply.chars().take(300).collect(),
            });
        }
        return;
    }
    // the reply names the identity it checked; `from=<>` is the MAIL FROM either way
    if f.identity == Some(Identity::Helo)
        && let Some(e) = angle_value(tail, "from").and_then(clean_address)
    {
        f.envelope_from = Some(e);
    }
    if let Some(qid) = qid {
        f.qid = Some(qid.to_string());
        if after_data {
            f.join = Join::Queue(qid.to_string());
        }
    }
    verdict(events, f);
}

/// postsrsd: `srs_forward: <orig> rewritten as <SRS0=...>`.
pub(crate) fn postsrsd_line(line: &Line<'_>, events: &mut Vec<Event>) {
    let Some(rest) = line.message.strip_prefix("srs_forward: ") else {
        return;
    };
    let Some((orig, new)) = rest.split_once(" rewritten as ") else {
        return;
    };
    let (Some(original), Some(rewritten)) = (clean_address(orig), clean_address(new)) else {
        return;
    };
    events.push(Event::SrsRewrite {
        original,
        rewritten,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(message: &str) -> Vec<Fragment> {
        let mut events = Vec::new();
        policy_message(message, &mut events);
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Verdict(f) => Some(*f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn info_line() {
        let f = parse(
            "None; identity=mailfrom; client-ip=192.192.192.192; helo=mail.example.com; envelope-from=name@example.com; receiver=target@anotherexample.org",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::PyInfo);
        assert_eq!(f[0].result, Some(SpfResult::None));
        assert_eq!(f[0].identity, Some(Identity::MailFrom));
        assert_eq!(f[0].envelope_from.as_deref(), Some("name@example.com"));
        assert_eq!(f[0].receiver, None);
    }

    #[test]
    fn reject_line() {
        let f = parse(
            "550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=helo;id=mail2.sender.com;ip=172.26.0.1;r=<UNKNOWN>",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].result, Some(SpfResult::Fail));
        assert_eq!(f[0].identity, Some(Identity::Helo));
        assert_eq!(f[0].helo.as_deref(), Some("mail2.sender.com"));
        assert_eq!(f[0].envelope_from, None);
        // a custom explanation: fail by elimination
        let f = parse(
            "550 5.7.23 Message rejected due to: Go away. Please see http://www.openspf.net/Why?s=mfrom;id=a@b.example;ip=192.0.2.1;r=x",
        );
        assert_eq!(f[0].result, Some(SpfResult::Fail));
        // not an SPF reject at all
        assert!(parse("550 5.7.1 Service unavailable").is_empty());
    }

    #[test]
    fn perl_lines() {
        let f = parse(
            "SPF none (No applicable sender policy available): Envelope-from: a@b.example, IP Address: 192.0.2.3, Recipient: r@x",
        );
        assert_eq!(f[0].kind, Kind::PerlResult);
        assert_eq!(f[0].result, Some(SpfResult::None));
        assert_eq!(f[0].envelope_from.as_deref(), Some("a@b.example"));
        assert_eq!(f[0].ip, ClientIp::parse("192.0.2.3"));
        let f = parse(
            "Policy action=PREPEND Received-SPF: pass (b.example: Sender is authorized to use 'a@b.example' in 'mfrom' identity (mechanism 'ip4:192.0.2.0/24' matched)) receiver=mx.x; identity=mailfrom; envelope-from=\"a@b.example\"; helo=h.b.example; client-ip=192.0.2.3",
        );
        assert_eq!(f[0].kind, Kind::PerlAction);
        assert_eq!(f[0].result, Some(SpfResult::Pass));
        assert_eq!(f[0].receiver.as_deref(), Some("mx.x"));
        let f = parse(
            "Policy action=550 Please see http://www.openspf.org/Why?s=mfrom;id=a%40b.example;ip=192.0.2.3;r=mx.x",
        );
        assert_eq!(f[0].result, Some(SpfResult::Fail));
        assert_eq!(f[0].envelope_from.as_deref(), Some("a@b.example"));
    }
}
