//! Everything that is neither Postfix's policy daemons nor Exim: Sendmail + smf-spf, rspamd
//! and rmilter, amavis and SpamAssassin rule names, maddy, OpenDMARC, gateway/SIEM exports
//! (Cisco ESA CEF, JSON events), and header texts logged by other programs.

use crate::model::{Identity, SpfResult};

use super::headers;
use super::parse::{Event, Fragment, Join, Kind, Line};
use super::text::{self, ClientIp, angle_value, clean_address, clean_name, host_and_ip, kv};

fn push(events: &mut Vec<Event>, f: Fragment) {
    events.push(Event::Verdict(Box::new(f)));
}

/// smf-spf: `SPF fail: ip=1.2.3.4, fqdn=[1.2.3.4], helo=h, from=<a@b>` (no queue id).
pub(crate) fn smf_line(line: &Line<'_>, events: &mut Vec<Event>) {
    let m = line.message.trim();
    let Some(rest) = text::strip_prefix_ignore_case(m, "SPF ") else {
        return;
    };
    let word_end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let Some(result) = SpfResult::parse_lenient(&rest[..word_end]) else {
        return;
    };
    if !text::contains_ignore_case(rest, "ip=") {
        return;
    }
    let mut f = Fragment::new(Kind::Smf, "smf-spf");
    f.result = Some(result);
    f.ip = kv(rest, "ip", b",").and_then(ClientIp::parse);
    f.helo = kv(rest, "helo", b",").and_then(clean_name);
    f.envelope_from = angle_value(rest, "from")
        .map(|s| s.trim().to_string())
        .or_else(|| kv(rest, "from", b",").and_then(clean_address));
    f.identity = match f.envelope_from.as_deref() {
        Some(e) if !e.is_empty() => Some(Identity::MailFrom),
        _ => None,
    };
    f.join = Join::Sendmail;
    push(events, f);
}

/// sm-mta: `QID: from=<a@b>, size=.., msgid=<..>, relay=name [ip]` and
/// `QID: Milter: from=<a@b>, reject=550 5.7.1 ...`.
pub(crate) fn sendmail_line(line: &Line<'_>, events: &mut Vec<Event>) {
    let Some((qid, rest)) = line.message.split_once(": ") else {
        return;
    };
    if qid.len() < 8 || !qid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let (rest, milter) = match rest.strip_prefix("Milter: ") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    if !rest.starts_with("from=") {
        return;
    }
    let Some(from) = angle_value(rest, "from")
        .map(|s| s.trim().to_string())
        .or_else(|| kv(rest, "from", b",").and_then(clean_address))
    else {
        return;
    };
    let message_id = angle_value(rest, "msgid").map(str::to_string);
    let ip = text::find_ignore_case(rest, "relay=")
        .and_then(|pos| host_and_ip(&rest[pos + 6..]))
        .and_then(|(_, ip)| ip);
    let reject = if milter {
        text::find_ignore_case(rest, "reject=").map(|pos| rest[pos + 7..].trim().to_string())
    } else {
        None
    };
    events.push(Event::Sendmail {
        qid: qid.to_string(),
        from,
        message_id,
        ip,
        reject,
    });
}

/// OpenDMARC's own SPF check: `QID: SPF(mailfrom): [domain] result`.
pub(crate) fn opendmarc_line(line: &Line<'_>, events: &mut Vec<Event>) {
    let Some((qid, rest)) = line.message.split_once(": ") else {
        return;
    };
    let Some(rest) = rest.strip_prefix("SPF(") else {
        return;
    };
    let Some((scope, tail)) = rest.split_once("): ") else {
        return;
    };
    let words: Vec<&str> = tail.split_whitespace().collect();
    let Some(result) = words.last().and_then(|w| SpfResult::parse_lenient(w)) else {
        return;
    };
    let mut f = Fragment::new(Kind::Alone, "opendmarc");
    f.result = Some(result);
    f.identity = scope.parse().ok();
    if words.len() == 2 {
        let d = words[0].to_string();
        match f.identity {
            Some(Identity::Helo) => f.helo = Some(d),
            _ => f.domain = Some(d),
        }
    }
    f.qid = Some(qid.to_string());
    f.join = Join::Queue(qid.to_string());
    push(events, f);
}

/// rspamd symbol -> SPF result (rspamd's `spf` module).
fn rspamd_symbol(name: &str) -> Option<SpfResult> {
    Some(match name {
        "R_SPF_ALLOW" => SpfResult::Pass,
        "R_SPF_FAIL" => SpfResult::Fail,
        "R_SPF_SOFTFAIL" => SpfResult::SoftFail,
        "R_SPF_NEUTRAL" => SpfResult::Neutral,
        "R_SPF_DNSFAIL" => SpfResult::TempError,
        "R_SPF_PERMFAIL" => SpfResult::PermError,
        "R_SPF_NA" => SpfResult::None,
        _ => return None,
    })
}

/// Every `R_SPF_*` result symbol in a text, with its option (the matched mechanism).
fn rspamd_symbols(text: &str) -> Vec<(SpfResult, Option<String>)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(rel) = text[from..].find("R_SPF_") {
        let start = from + rel;
        let mut end = start + 6;
        while end < bytes.len() && (bytes[end].is_ascii_uppercase() || bytes[end] == b'_') {
            end += 1;
        }
        from = end;
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let Some(result) = rspamd_symbol(&text[start..end]) else {
            continue;
        };
        // `(score)` / ` (score)` then `[option]` or `{option;}`, looked for before the next
        // symbol only: a line of unclosed `R_SPF_NA(R_SPF_NA(...` is then read in linear
        // time, not rescanned to its end for every symbol.
        let segment_end = text[end..]
            .find("R_SPF_")
            .map_or(text.len(), |rel| end + rel);
        let mut rest = &text[end..segment_end];
        let trimmed = rest.trim_start_matches(' ');
        if trimmed.starts_with('(')
            && let Some(close) = trimmed.find(')')
        {
            rest = &trimmed[close + 1..];
        }
        let option = match rest.as_bytes().first() {
            Some(b'[') => rest[1..].find(']').map(|e| rest[1..1 + e].to_string()),
            Some(b'{') => rest[1..]
                .find('}')
                .map(|e| rest[1..1 + e].trim_end_matches(';').to_string()),
            _ => None,
        };
        // rspamd checks SPF once per message: a result repeated on a line is one verdict
        // (the first one's option kept), so a line gives seven verdicts at most.
        if !out.iter().any(|(seen, _)| *seen == result) {
            out.push((result, option.filter(|o| !o.is_empty())));
        }
    }
    out
}

/// The symbol list of rspamd's task log line, `... (default: F (no action): [6.10/15.00]
/// [R_SPF_SOFTFAIL(0.00){~all;},...]), len: ...`: the bracketed list after the score. The
/// fields around it (`id: <Message-ID>`, `from:`, `mime_rcpts:`) are the sender's text, which
/// can spell a symbol name. `None` when the line has no such list.
fn task_symbol_list(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(rel) = text.get(from..)?.find("] [") {
        let close = from + rel;
        from = close + 1;
        // The score: `[6.10/15.00]` (digits, dots, signs and one slash).
        let open = text.get(..close)?.rfind('[')?;
        let score = text.get(open + 1..close)?;
        let is_score = score.contains('/')
            && score
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'/' | b'-' | b'+'));
        if !is_score {
            continue;
        }
        // The list, up to its matching `]` (options may hold brackets too).
        let start = close + 3;
        let mut depth = 1usize;
        for (i, &b) in bytes.iter().enumerate().skip(start) {
            match b {
                b'[' => depth += 1,
                b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return text.get(start..i);
                    }
                }
                _ => {}
            }
        }
        return text.get(start..);
    }
    None
}

/// `name: value,` fields of rspamd's task log line (`id: <...>, qid: <...>, ip: ...`).
fn colon_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("{name}: ");
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(rel) = text[from..].find(&needle) {
        let pos = from + rel;
        from = pos + 1;
        if pos > 0 && !matches!(bytes[pos - 1], b' ' | b',' | b':') {
            continue;
        }
        let rest = &text[pos + needle.len()..];
        let end = rest.find(", ").unwrap_or(rest.len());
        let v = rest[..end]
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>');
        return Some(v);
    }
    None
}

/// rspamd and rmilter lines.
pub(crate) fn rspamd_line(line: &Line<'_>, events: &mut Vec<Event>) {
    let m = line.after_stamp;
    let writer = if line.base.eq_ignore_ascii_case("rmilter") {
        "rmilter"
    } else {
        "rspamd"
    };
    // milter: `add header command - "Authentication-Results"="..."`
    if let Some(pos) = m.find("add header command - \"") {
        let rest = &m[pos + 22..];
        let Some((name, value)) = rest.split_once("\"=\"") else {
            return;
        };
        let value = value.strip_suffix('"').unwrap_or(value);
        let fields = if name.eq_ignore_ascii_case("Authentication-Results") {
            headers::authentication_results(value)
        } else if name.eq_ignore_ascii_case("Received-SPF") {
            vec![headers::received_spf(value, true)]
        } else {
            return;
        };
        for fl in fields.into_iter().filter(|f| f.result.is_some()) {
            let mut f = Fragment::new(Kind::Alone, writer);
            fl.fill(&mut f);
            push(events, f);
        }
        return;
    }
    let task = m.contains("rspamd_task_write_log");
    let symbols = rspamd_symbols(if task {
        task_symbol_list(m).unwrap_or(m)
    } else {
        m
    });
    if symbols.is_empty() {
        return;
    }
    let mut qid = None;
    let mut message_id = None;
    let mut ip = None;
    let mut from = None;
    if task {
        qid = colon_field(m, "qid").filter(|q| !q.is_empty() && *q != "undef");
        message_id = colon_field(m, "id").filter(|q| !q.is_empty() && *q != "undef");
        ip = colon_field(m, "ip").and_then(ClientIp::parse);
        from = colon_field(m, "from").and_then(clean_address);
    } else if let Some(pos) = m.find("scan <") {
        qid = m[pos + 6..].split('>').next();
    } else if let Some(rest) = line.message.strip_prefix('<') {
        qid = rest.split('>').next();
    }
    for (result, option) in symbols {
        let mut f = Fragment::new(Kind::Alone, writer);
        f.result = Some(result);
        f.ip = ip.clone();
        f.envelope_from = from.clone();
        f.identity = match from.as_deref() {
            Some(e) if !e.is_empty() => Some(Identity::MailFrom),
            _ => None,
        };
        f.message_id = message_id.map(str::to_string);
        if let Some(o) = option {
            f.notes.push(format!("rspamd symbol option: {o}"));
        }
        if let Some(q) = qid.filter(|q| !q.is_empty()) {
            f.qid = Some(q.to_string());
            f.join = Join::Queue(q.to_string());
        } else if let Some(mid) = message_id {
            f.join = Join::MessageId(mid.to_string());
        }
        push(events, f);
    }
}

/// SpamAssassin rule name -> (result, identity): `SPF_PASS`, `SPF_HELO_SOFTFAIL`,
/// `T_SPF_PERMERROR`, ...
fn spamassassin_rule(name: &str) -> Option<(SpfResult, Identity)> {
    let n = name.trim().trim_matches('*');
    let n = n.strip_prefix("T_").unwrap_or(n);
    let rest = n.strip_prefix("SPF_")?;
    let (identity, word) = match rest.strip_prefix("HELO_") {
        Some(w) => (Identity::Helo, w),
        None => (Identity::MailFrom, rest),
    };
    let result = match word {
        "PASS" => SpfResult::Pass,
        "FAIL" => SpfResult::Fail,
        "SOFTFAIL" => SpfResult::SoftFail,
        "NEUTRAL" => SpfResult::Neutral,
        "NONE" => SpfResult::None,
        "PERMERROR" => SpfResult::PermError,
        "TEMPERROR" => SpfResult::TempError,
        _ => return None,
    };
    Some((result, identity))
}

fn spamassassin_verdicts<'a>(
    rules: impl Iterator<Item = &'a str>,
    writer: &'static str,
) -> Vec<Fragment> {
    let mut out: Vec<Fragment> = Vec::new();
    for rule in rules {
        let name = rule.split('=').next().unwrap_or("");
        let Some((result, identity)) = spamassassin_rule(name) else {
            continue;
        };
        // one verdict per identity (SPF_NONE and T_SPF_NONE are the same check)
        if out.iter().any(|f| f.identity == Some(identity)) {
            continue;
        }
        let mut f = Fragment::new(Kind::Alone, writer);
        f.result = Some(result);
        f.identity = Some(identity);
        f.notes.push(format!(
            "SpamAssassin rule {}",
            name.trim().trim_matches('*')
        ));
        out.push(f);
    }
    // the MAIL FROM verdict first: it is the primary one
    out.sort_by_key(|f| f.identity != Some(Identity::MailFrom));
    out
}

/// amavis: `(pid-n) Passed CLEAN {RelayedInbound}, [ip]:port [ip] <from> -> <rcpt>,
/// Queue-ID: X, Message-ID: <...>, ..., queued_as: Y, ..., Tests: [SPF_PASS=-0.001,...]`.
pub(crate) fn amavis_line(line: &Line<'_>, events: &mut Vec<Event>) {
    let m = line.message;
    let qid = colon_field(m, "Queue-ID");
    if let (Some(q), Some(new)) = (qid, colon_field(m, "queued_as"))
        && !new.is_empty()
        && new != q
    {
        events.push(Event::Requeued {
            qid: q.to_string(),
            new_qid: new.split_whitespace().next().unwrap_or(new).to_string(),
        });
    }
    let Some(pos) = m.find("Tests: [") else {
        return;
    };
    let list = &m[pos + 8..];
    let list = &list[..list.find(']').unwrap_or(list.len())];
    let mut verdicts = spamassassin_verdicts(list.split(','), "amavis");
    if verdicts.is_empty() {
        return;
    }
    // client: the first `[ip]` after the `{...},` policy bank; sender: the first `<...>`
    let after_bank = m.find("}, ").map(|p| &m[p + 3..]).unwrap_or(m);
    let ip = after_bank
        .split_whitespace()
        .next()
        .filter(|t| t.starts_with('['))
        .and_then(ClientIp::parse);
    let from = after_bank
        .find('<')
        .and_then(|s| after_bank[s..].find('>').map(|e| &after_bank[s..s + e + 1]))
        .and_then(clean_address);
    let message_id = colon_field(m, "Message-ID").map(str::to_string);
    for f in &mut verdicts {
        f.ip = ip.clone();
        f.envelope_from = from.clone();
        f.message_id = message_id.clone();
        if let Some(q) = qid {
            f.qid = Some(q.to_string());
            f.join = Join::Queue(q.to_string());
        }
    }
    for f in verdicts {
        push(events, f);
    }
}

/// spamd: `spamd: result: Y 19 - RULE,RULE,... scantime=..,size=..,mid=<...>,...`.
pub(crate) fn spamd_line(line: &Line<'_>, events: &mut Vec<Event>) {
    let m = line.message;
    let Some(pos) = m.find("result: ") else {
        return;
    };
    let rest = &m[pos + 8..];
    let Some(dash) = rest.find(" - ") else {
        return;
    };
    let after = &rest[dash + 3..];
    let (rules, tail) = after.split_once(' ').unwrap_or((after, ""));
    let mut verdicts = spamassassin_verdicts(rules.split(','), "spamassassin");
    let message_id = tail
        .split(',')
        .find_map(|kv| kv.trim().strip_prefix("mid="))
        .map(|v| v.trim_matches(['<', '>']).to_string())
        .filter(|v| !v.is_empty() && v != "(unknown)");
    for f in &mut verdicts {
        f.message_id = message_id.clone();
        if let Some(mid) = &message_id {
            f.join = Join::MessageId(mid.clone());
        }
    }
    for f in verdicts {
        push(events, f);
    }
}

/// The JSON object on a maddy line (`smtp: DATA error\t{...}`).
fn json_object(text: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    if end < start {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(&text[start..=end]).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

fn json_str<'a>(map: &'a serde_json::Map<String, serde_json::Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(serde_json::Value::as_str)
}

/// maddy: `smtp: incoming message {msg_id, sender, src_host, src_ip}` and
/// `smtp: DATA error {"check":"check.spf", "msg_id", "smtp_msg", "reason", ...}`.
pub(crate) fn maddy_line(line: &Line<'_>, events: &mut Vec<Event>) {
    let m = line.after_stamp;
    let Some(obj) = json_object(m) else {
        return;
    };
    let Some(msg_id) = json_str(&obj, "msg_id") else {
        return;
    };
    if m.contains("incoming message") {
        events.push(Event::MaddyIncoming {
            msg_id: msg_id.to_string(),
            sender: json_str(&obj, "sender").and_then(clean_address),
            // maddy logs the EHLO name of the connection as `src_host`
            helo: json_str(&obj, "src_host").and_then(clean_name),
            ip: json_str(&obj, "src_ip").and_then(ClientIp::parse),
        });
        return;
    }
    if json_str(&obj, "check") != Some("check.spf") {
        return;
    }
    // check.spf's SMTP texts, one per result
    let result = match json_str(&obj, "smtp_msg").unwrap_or("") {
        "No SPF policy" => SpfResult::None,
        "Neutral SPF result is not permitted" => SpfResult::Neutral,
        "SPF authentication failed" => SpfResult::Fail,
        "SPF authentication soft-failed" => SpfResult::SoftFail,
        "SPF authentication failed with a temporary error" => SpfResult::TempError,
        "SPF authentication failed with a permanent error" => SpfResult::PermError,
        _ => return,
    };
    let mut f = Fragment::new(Kind::Alone, "maddy");
    f.result = Some(result);
    f.identity = Some(Identity::MailFrom);
    f.rejected = m.contains("error");
    if let Some(reason) = json_str(&obj, "reason") {
        f.notes.push(format!("reason: {reason}"));
    }
    f.notes.push(format!("maddy msg_id {msg_id}"));
    f.join = Join::Maddy(msg_id.to_string());
    push(events, f);
}

/// A CEF extension value: from `key=` to the next ` otherkey=`.
fn cef_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!(" {key}=");
    let pos = text.find(&needle).or_else(|| {
        let n = format!("|{key}=");
        text.find(&n)
    })?;
    let rest = &text[pos + needle.len()..];
    let bytes = rest.as_bytes();
    let mut end = rest.len();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            let mut j = i + 1;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            if j > i + 1 && bytes.get(j) == Some(&b'=') {
                end = i;
                break;
            }
        }
        i += 1;
    }
    Some(rest[..end].trim())
}

/// `'name': {'result': 'Pass', 'sender': 'a@b'}` inside an ESA verdict dict.
fn esa_dict_entry(dict: &str, name: &str) -> Option<(SpfResult, Option<String>)> {
    let pos = dict.find(&format!("'{name}': {{"))?;
    let inner = &dict[pos..];
    let inner = &inner[..inner.find('}').unwrap_or(inner.len())];
    let quoted = |key: &str| -> Option<String> {
        let p = inner.find(&format!("'{key}': '"))?;
        let v = &inner[p + key.len() + 5..];
        Some(v[..v.find('\'')?].to_string())
    };
    let result = SpfResult::parse_lenient(&quoted("result")?)?;
    Some((result, quoted("sender")))
}

/// Cisco Secure Email (ESA) consolidated CEF event with `ESASPFVerdict=`.
pub(crate) fn cisco_esa_line(line: &Line<'_>, events: &mut Vec<Event>) {
    let m = line.after_stamp;
    let Some(pos) = m.find("ESASPFVerdict=") else {
        return;
    };
    let verdict = &m[pos + 14..];
    let ip = cef_value(m, "src")
        .or_else(|| cef_value(m, "sourceAddress"))
        .and_then(ClientIp::parse);
    let sender = cef_value(m, "suser").and_then(clean_address);
    let helo_domain = cef_value(m, "ESAHeloDomain").and_then(clean_name);
    let message_id = if cef_value(m, "cs4Label") == Some("ExternalMsgID") {
        cef_value(m, "cs4").map(|v| v.trim_matches(['\'', '<', '>']).to_string())
    } else {
        None
    };
    let mut found = Vec::new();
    if verdict.starts_with('{') {
        let dict = &verdict[..verdict.find("}}").map(|e| e + 2).unwrap_or(verdict.len())];
        if let Some((r, s)) = esa_dict_entry(dict, "mailfrom") {
            found.push((r, Identity::MailFrom, s));
        }
        if let Some((r, s)) = esa_dict_entry(dict, "helo") {
            found.push((r, Identity::Helo, s));
        }
    } else {
        let word = verdict.split_whitespace().next().unwrap_or("");
        if let Some(r) = SpfResult::parse_lenient(word) {
            // a bare verdict is ESA's SPF verdict for the envelope sender
            found.push((r, Identity::MailFrom, None));
        }
    }
    for (result, identity, who) in found {
        let mut f = Fragment::new(Kind::Alone, "cisco-esa");
        f.result = Some(result);
        f.identity = Some(identity);
        f.ip = ip.clone();
        f.message_id = message_id.clone();
        match identity {
            Identity::MailFrom => {
                f.envelope_from = who.or_else(|| sender.clone());
                f.helo = helo_domain.clone();
            }
            Identity::Helo => {
                // ESA writes the HELO identity as `postmaster@helo`
                f.helo = who
                    .as_deref()
                    .and_then(|w| {
                        w.rsplit_once('@')
                            .map(|(_, d)| d.to_string())
                            .or(Some(w.to_string()))
                    })
                    .or_else(|| helo_domain.clone());
                f.envelope_from = sender.clone();
            }
        }
        push(events, f);
    }
}

/// `"spf": "pass"` / `\"SPF\":\"pass\"` in a JSON event (Microsoft Defender
/// `AuthenticationDetails`, Vade): the result word and nothing else.
fn json_spf_word(text: &str) -> Option<(SpfResult, Option<String>)> {
    let mut from = 0;
    while let Some(pos) = text::find_ignore_case_from(text, "spf", from) {
        from = pos + 3;
        let before = text[..pos].trim_end_matches('\\');
        if !before.ends_with('"') {
            continue;
        }
        let after = text[pos + 3..].trim_start_matches('\\');
        let Some(after) = after.strip_prefix('"') else {
            continue;
        };
        let after = after.trim_start();
        let Some(after) = after.strip_prefix(':') else {
            continue;
        };
        let after = after.trim_start();
        // Proofpoint: `"spf": {"domain": "...", "result": "pass"}`
        if let Some(obj) = after.strip_prefix('{') {
            let obj = &obj[..obj.find('}').unwrap_or(obj.len())];
            if let Some(r) = json_string_field(obj, "result").and_then(SpfResult::parse_lenient) {
                return Some((r, json_string_field(obj, "domain").map(str::to_string)));
            }
            continue;
        }
        let after = after.trim_start_matches('\\');
        let Some(after) = after.strip_prefix('"') else {
            continue;
        };
        let word = after.split(['"', '\\']).next().unwrap_or("");
        if let Some(r) = SpfResult::parse_lenient(word) {
            return Some((r, None));
        }
    }
    None
}

/// `"name": "value"` inside a flat JSON object text.
fn json_string_field<'a>(obj: &'a str, name: &str) -> Option<&'a str> {
    let pos = obj.find(&format!("\"{name}\""))?;
    let rest = obj[pos + name.len() + 2..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start().strip_prefix('"')?;
    rest.split('"').next()
}

/// Lines of no known program: header texts (`Received-SPF:`, `Authentication-Results`-style
/// `spf=... smtp.mailfrom=...`), JSON events, rspamc output.
pub(crate) fn generic_line(line: &Line<'_>, events: &mut Vec<Event>) {
    let m = line.after_stamp;
    let writer: &'static str = "log";
    // rspamc: `Symbol: R_SPF_FAIL (8.00)[-all]`
    if let Some(rest) = m.trim_start().strip_prefix("Symbol: ") {
        for (result, option) in rspamd_symbols(rest) {
            let mut f = Fragment::new(Kind::Alone, "rspamd");
            f.result = Some(result);
            if let Some(o) = option {
                f.notes.push(format!("rspamd symbol option: {o}"));
            }
            push(events, f);
        }
        return;
    }
    if let Some(pos) = text::find_ignore_case(m, "Received-SPF:") {
        let fields = headers::received_spf(&m[pos + 13..], true);
        if fields.result.is_some() {
            let mut f = Fragment::new(Kind::LogWrite, writer);
            fields.fill(&mut f);
            f.join = Join::Adjacent;
            push(events, f);
        }
        return;
    }
    // `spf=pass smtp.helo=... smtp.mailfrom=...` (Retarus `details`, logged AR values)
    if let Some(pos) = text::find_ignore_case(m, "spf=")
        && (text::contains_ignore_case(m, "smtp.mailfrom=")
            || text::contains_ignore_case(m, "smtp.helo=")
            || text::contains_ignore_case(m, "Authentication-Results"))
    {
        let start = match text::find_ignore_case(m, "Authentication-Results") {
            Some(a) if a < pos => {
                let after = &m[a + 22..];
                let skip = after
                    .find(|c: char| c != ':' && c != '"' && c != '=' && c != ' ')
                    .unwrap_or(0);
                a + 22 + skip
            }
            _ => pos,
        };
        let value = m[start..].trim_end().trim_end_matches([',', '"']);
        let value = match value.find("\",") {
            Some(e) => &value[..e],
            None => value,
        };
        let writer = if m.contains("\"details\"") {
            "siem-json"
        } else {
            writer
        };
        for fields in headers::authentication_results(value) {
            if fields.result.is_none() {
                continue;
            }
            let mut f = Fragment::new(Kind::Alone, writer);
            fields.fill(&mut f);
            push(events, f);
        }
        return;
    }
    if let Some((result, domain)) = json_spf_word(m) {
        let writer = if m.contains("AuthenticationDetails") {
            "microsoft-defender"
        } else {
            "siem-json"
        };
        let mut f = Fragment::new(Kind::Alone, writer);
        f.result = Some(result);
        if domain.is_some() {
            f.identity = Some(Identity::MailFrom);
            f.domain = domain;
        }
        push(events, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rspamd_symbol_options() {
        let s = rspamd_symbols(
            "[R_SPF_ALLOW(-0.20){+ip4:192.0.2.0/24;},R_DKIM_NA(0.00){},X_R_SPF_FAIL(1)]",
        );
        assert_eq!(s, vec![(SpfResult::Pass, Some("+ip4:192.0.2.0/24".into()))]);
        let s = rspamd_symbols("symbols: R_SPF_FAIL(8.80)[all], HFILTER(2.50)[]");
        assert_eq!(s, vec![(SpfResult::Fail, Some("all".into()))]);
        let s = rspamd_symbols("R_SPF_FAIL (8.00)[-all]");
        assert_eq!(s, vec![(SpfResult::Fail, Some("-all".into()))]);
        assert!(rspamd_symbols("R_SPF_PLUSALL(1)").is_empty());
    }

    #[test]
    fn rspamd_symbol_option_is_not_taken_from_the_next_symbol() {
        let s = rspamd_symbols("R_SPF_NA(R_SPF_FAIL(1)[x]");
        assert_eq!(
            s,
            vec![(SpfResult::None, None), (SpfResult::Fail, Some("x".into()))]
        );
        // Unclosed symbols all the way: one scan of the line, not one per symbol, and one
        // verdict, not one per repetition.
        let line = "R_SPF_NA[".repeat(100_000);
        assert_eq!(rspamd_symbols(&line), vec![(SpfResult::None, None)]);
        let line: String = (0..10_000).map(|i| format!("R_SPF_FAIL[{i}] ")).collect();
        assert_eq!(
            rspamd_symbols(&line),
            vec![(SpfResult::Fail, Some("0".into()))]
        );
    }

    #[test]
    fn task_line_symbols_come_from_the_symbol_list_only() {
        let line = "rspamd_task_write_log: id: <R_SPF_ALLOW@x.example>, qid: <Q1>, ip: 192.0.2.9, \
                    from: <R_SPF_ALLOW(0)[+all]@x.example>, (default: F (add header): [6.10/15.00] \
                    [R_SPF_FAIL(0.00)[-all],FROM_HAS_DN(0.00)[]]), len: 100, \
                    mime_rcpts: <R_SPF_NEUTRAL@y.example>";
        let list = task_symbol_list(line).unwrap();
        assert_eq!(list, "R_SPF_FAIL(0.00)[-all],FROM_HAS_DN(0.00)[]");
        assert_eq!(
            rspamd_symbols(list),
            vec![(SpfResult::Fail, Some("-all".into()))]
        );
        assert_eq!(task_symbol_list("id: <a>, [x] [R_SPF_FAIL]"), None);
    }

    #[test]
    fn spamassassin_names() {
        assert_eq!(
            spamassassin_rule("**SPF_PASS**"),
            Some((SpfResult::Pass, Identity::MailFrom))
        );
        assert_eq!(
            spamassassin_rule("SPF_HELO_NONE"),
            Some((SpfResult::None, Identity::Helo))
        );
        assert_eq!(
            spamassassin_rule("T_SPF_TEMPERROR"),
            Some((SpfResult::TempError, Identity::MailFrom))
        );
        assert_eq!(spamassassin_rule("USER_IN_SPF_WHITELIST"), None);
    }

    #[test]
    fn json_words() {
        assert_eq!(
            json_spf_word(r#""AuthenticationDetails": "{\"SPF\":\"pass\",\"DKIM\":\"none\"}","#),
            Some((SpfResult::Pass, None))
        );
        assert_eq!(
            json_spf_word(r#"{"spf":"temperror"}"#),
            Some((SpfResult::TempError, None))
        );
        assert_eq!(
            json_spf_word(
                r#""spamProcessingDetail": "{\"spf\":{\"allow\":true,\"info\":\"ALLOW\"}}""#
            ),
            None
        );
        assert_eq!(
            json_spf_word(r#""spf": {"domain": "pp.example", "result": "softfail"},"#),
            Some((SpfResult::SoftFail, Some("pp.example".into())))
        );
    }
}
