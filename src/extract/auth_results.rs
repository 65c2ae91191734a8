//! `Authentication-Results` and its ARC/original copies (RFC 8601, RFC 8617): the `spf=`
//! results.
//!
//! RFC 8601 §2.2: `authserv-id [CFWS authres-version] (no-result / 1*resinfo)`, with
//! `resinfo = ";" methodspec [reasonspec] *propspec`. Real writers deviate (see
//! `../shared/formats/NOTES.md` §2): no authserv-id at all (Microsoft), an empty one, ids with
//! a version (`mx.microsoft.com 1;`), ARC `i=N;` before the id, tabs or nothing instead of
//! `;` between results, stray tokens, Sender-ID era properties (`smtp.mfrom`, `smtp.pra`),
//! HELO written as `postmaster@host`, and the client IP only in a comment (`(sender IP is …)`,
//! `designates IP as`, spf-engine's `(client-ip=…; helo=…)`) or on another method
//! (`iprev … smtp.remote-ip=`/`policy.iprev=`, taken as a weaker hint).

use super::received_spf::{Draft, Explanation, Scope, explain};
use super::text::{self, IpText, Item, clean_address, ip_text};
use super::{RecordedVerdict, VerdictSource};
use crate::model::Identity;

/// Which verdict source a header field name is, if it is an Authentication-Results variant
/// (`Authentication-Results`, `ARC-Authentication-Results`, `X-Original-…`, `…-Original`,
/// `X-Mailman-Original-…`, `X-MS-Exchange-Authentication-Results`, any case).
pub fn source_for_field(name: &str) -> Option<VerdictSource> {
    let name = name.trim().to_ascii_lowercase();
    if !name.contains("authentication-results") {
        return None;
    }
    Some(if name.contains("original") {
        VerdictSource::OriginalAuthenticationResults
    } else if name.starts_with("arc-") {
        VerdictSource::ArcAuthenticationResults
    } else if name == "authentication-results" || name == "x-ms-exchange-authentication-results" {
        VerdictSource::AuthenticationResults
    } else {
        // Some other party's copy (`X-Forwarded-Authentication-Results`, ...).
        VerdictSource::OriginalAuthenticationResults
    })
}

/// Methods of the IANA "Email Authentication Methods" registry and vendor ones seen in the
/// wild. A `name=value` word whose name is one of these starts a new result, `;` or not.
/// Case-insensitive (this runs on every word of every Authentication-Results); `name` is
/// the method without its `/version`.
fn is_method(name: &str) -> bool {
    const METHODS: [&str; 18] = [
        "spf",
        "dkim",
        "dmarc",
        "arc",
        "iprev",
        "auth",
        "sender-id",
        "senderid",
        "dkim-adsp",
        "dkim-atps",
        "domainkeys",
        "vbr",
        "rrvs",
        "smime",
        "dnswl",
        "bimi",
        "compauth",
        "tls",
    ];
    METHODS.iter().any(|m| name.eq_ignore_ascii_case(m))
        || name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-"))
}

/// The method of a `method[/version]=result` word: whether it is `spf`, and the result.
fn method_of(word: &str) -> Option<(bool, &str)> {
    let (key, value) = text::key_value(word)?;
    let method = match memchr::memchr(b'/', key.as_bytes()) {
        Some(slash) => key.get(..slash).unwrap_or(key),
        None => key,
    };
    is_method(method).then_some((method.eq_ignore_ascii_case("spf"), value))
}

fn is_property_key(key: &str) -> bool {
    key.contains('.') || key == "reason"
}

/// Parse one unfolded Authentication-Results-style value (without the field name) into one
/// verdict per `spf=` result, in order. `source` says which field it came from.
pub fn parse(value: &str, source: VerdictSource) -> Vec<RecordedVerdict> {
    // Lexed once; again only after gluing spaced operators (rare).
    let lexed = text::lex(value);
    let glued = if text::has_spaced_operators(&lexed) {
        text::glue_spaced_operators(value)
    } else {
        None
    };
    let items = match glued.as_deref() {
        Some(glued) => text::lex(glued),
        None => lexed,
    };
    let words: Vec<(usize, &str)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item {
            Item::Word { text, .. } => Some((i, *text)),
            _ => None,
        })
        .collect();
    let mut start = 0usize;
    // RFC 8617 §4.1.2: ARC-Authentication-Results starts with the instance tag `i=N;`.
    if let Some(&(i, word)) = words.first()
        && let Some(n) = word.strip_prefix("i=").or_else(|| word.strip_prefix("I="))
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        start = i + 1;
        if matches!(items.get(start), Some(Item::Semicolon)) {
            start += 1;
        }
    }
    // The authserv-id: the words before the first `;` unless the first is already a result.
    let mut id_words: Vec<&str> = Vec::new();
    let mut first_result = items.len();
    for (i, item) in items.iter().enumerate().skip(start) {
        match item {
            Item::Semicolon => {
                first_result = i + 1;
                break;
            }
            Item::Word { text, .. } => {
                if method_of(text).is_some() {
                    first_result = i;
                    break;
                }
                id_words.push(text);
            }
            Item::Comment(_) => {}
        }
    }
    let authserv_id = choose_authserv_id(&id_words);
    // Cut the rest into results: each `method=result` word starts one.
    // (is `spf`, result word, first item, end item) of each method result.
    let mut results: Vec<(bool, &str, usize, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate().skip(first_result) {
        if let Item::Word { text, .. } = item
            && let Some((method, result)) = method_of(text)
        {
            if let Some(last) = results.last_mut() {
                last.3 = i;
            }
            results.push((method, result, i + 1, items.len()));
        }
    }
    // Client IP hints from other methods (iprev's policy.iprev, smtp.remote-ip).
    let mut ip_hint: Option<IpText> = None;
    for &(is_spf, _, from, to) in &results {
        if is_spf {
            continue;
        }
        let group = items.get(from..to).unwrap_or(&[]);
        for pair in text::pairs(group, is_property_key) {
            if matches!(
                pair.key.as_ref(),
                "policy.iprev" | "smtp.remote-ip" | "smtp.client-ip"
            ) && let Some(IpText::Valid(ip)) = ip_text(&pair.value)
                && ip_hint.is_none()
            {
                ip_hint = Some(IpText::Valid(ip));
            }
        }
    }
    results
        .iter()
        .filter(|(is_spf, ..)| *is_spf)
        .map(|(_, result, from, to)| {
            let group = items.get(*from..*to).unwrap_or(&[]);
            spf_result(
                result,
                group,
                authserv_id.as_deref(),
                ip_hint.clone(),
                source,
            )
        })
        .collect()
}

/// The authserv-id among the words before the first `;`: the only word, the word before a
/// version number, or — when junk precedes it (a log prefix) — the last host name with a dot.
fn choose_authserv_id(words: &[&str]) -> Option<String> {
    let id = match words {
        [] => return None,
        [only] => *only,
        [id, version] if version.bytes().all(|b| b.is_ascii_digit()) => *id,
        _ => words
            .iter()
            .rev()
            .find(|w| w.contains('.') && text::is_host_name(w))
            .or(words.first())
            .copied()
            .unwrap_or(""),
    };
    let id = text::unquote(id);
    (!id.is_empty()).then_some(id)
}

/// Build the verdict of one `spf=` result from its words and comments.
fn spf_result(
    result_word: &str,
    group: &[Item<'_>],
    authserv_id: Option<&str>,
    ip_hint: Option<IpText>,
    source: VerdictSource,
) -> RecordedVerdict {
    let mut draft = Draft {
        result_word: Some(text::unquote(result_word)),
        ip_hint,
        ..Draft::default()
    };
    draft.receivers.extend(authserv_id.map(str::to_string));
    let mut explanation = Explanation::default();
    let mut mail_from: Option<String> = None;
    let mut helo: Option<String> = None;
    let mut pra = false;
    for pair in text::pairs(group, is_property_key) {
        let Some((ptype, property)) = pair.key.split_once('.') else {
            if pair.key == "reason" {
                // vSMTP writes its Received-SPF key list here; others write prose.
                let reason = text::unquote(&pair.value);
                draft.take_pairs(&text::pairs(&text::lex(&reason), |_| true));
                let mut reason_prose = explain(&reason);
                // A key list here is vSMTP's, not spf-engine's comment.
                reason_prose.writer = None;
                explanation.merge(reason_prose);
            }
            continue;
        };
        // `ssmtp.mailfrom` appears in a parser test; accept any ptype ending in "smtp".
        if !ptype.ends_with("smtp") {
            continue;
        }
        match property {
            "mailfrom" | "mail" | "mfrom" if mail_from.is_none() => {
                mail_from = Some(clean_address(&pair.value));
            }
            "helo" if helo.is_none() => {
                let value = clean_address(&pair.value);
                // IronPort writes the HELO identity as `postmaster@host`.
                let host = match value.get(..11) {
                    Some(prefix) if prefix.eq_ignore_ascii_case("postmaster@") => {
                        value.get(11..).unwrap_or("").to_string()
                    }
                    _ => value,
                };
                helo = Some(host);
            }
            "pra" => pra = true,
            "remote-ip" | "client-ip" if draft.ip.is_none() => draft.ip = ip_text(&pair.value),
            _ => {}
        }
    }
    for item in group {
        if let Item::Comment(comment) = item {
            let comment = explain(comment);
            // spf-engine (pypolicyd-spf renamed) appends its key list as a comment.
            if comment.pairs.iter().any(|p| p.key == "client-ip") {
                draft.writer.get_or_insert("pypolicyd-spf");
            }
            explanation.merge(comment);
        }
    }
    draft.scope = if mail_from.is_some() {
        Some(Scope::Spf(Identity::MailFrom))
    } else if helo.is_some() {
        Some(Scope::Spf(Identity::Helo))
    } else if pra {
        Some(Scope::NotSpf("Sender-ID pra"))
    } else {
        draft.scope
    };
    if mail_from.is_some() {
        draft.envelope_from = mail_from;
    }
    if helo.as_deref().is_some_and(|h| !h.is_empty()) {
        draft.helo = helo;
    }
    draft.finish(explanation, source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SpfResult;
    use std::net::IpAddr;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    const AR: VerdictSource = VerdictSource::AuthenticationResults;

    #[test]
    fn rfc_minimal() {
        let v = parse("example.com;\n spf=pass smtp.mailfrom=example.net", AR);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].result, Some(SpfResult::Pass));
        assert_eq!(v[0].envelope_from.as_deref(), Some("example.net"));
        assert_eq!(v[0].domain.as_deref(), Some("example.net"));
        assert_eq!(v[0].identity, Some(Identity::MailFrom));
        assert_eq!(v[0].receiver.as_deref(), Some("example.com"));
        assert_eq!(v[0].source, Some(AR));
    }

    #[test]
    fn microsoft_without_authserv_id() {
        let v = parse(
            "spf=temperror (sender IP is 137.184.34.4) smtp.mailfrom=host-06; dkim=none (message not signed) header.d=none;dmarc=temperror action=none header.from=x.example;compauth=fail reason=001",
            AR,
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].result, Some(SpfResult::TempError));
        assert_eq!(v[0].client_ip, ip("137.184.34.4"));
        assert_eq!(v[0].receiver, None);
        assert_eq!(v[0].writer.as_deref(), Some("microsoft"));
    }

    #[test]
    fn arc_prefix_version_and_several_results() {
        let v = parse(
            "i=2; mx.example.net 1; spf=temperror smtp.helo=postmaster@mail.example.org; spf=fail smtp.mailfrom=a@example.org",
            VerdictSource::ArcAuthenticationResults,
        );
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].identity, Some(Identity::Helo));
        assert_eq!(v[0].helo.as_deref(), Some("mail.example.org"));
        assert_eq!(v[0].domain.as_deref(), Some("mail.example.org"));
        assert_eq!(v[1].identity, Some(Identity::MailFrom));
        assert_eq!(v[1].receiver.as_deref(), Some("mx.example.net"));
    }

    #[test]
    fn iprev_is_a_weaker_hint() {
        let v = parse(
            "mx.example.net; iprev=pass policy.iprev=192.0.2.7; spf=pass (mx.example.net: domain of a@b.example designates 192.0.2.9 as permitted sender) smtp.mailfrom=a@b.example",
            AR,
        );
        assert_eq!(v[0].client_ip, ip("192.0.2.9"));
        let v = parse(
            "mx.example.net; iprev=pass policy.iprev=192.0.2.7; spf=pass smtp.mailfrom=a@b.example",
            AR,
        );
        assert_eq!(v[0].client_ip, ip("192.0.2.7"));
    }

    #[test]
    fn field_names() {
        assert_eq!(
            source_for_field("Arc-Authentication-Results"),
            Some(VerdictSource::ArcAuthenticationResults)
        );
        assert_eq!(
            source_for_field("X-Mailman-Original-Authentication-Results"),
            Some(VerdictSource::OriginalAuthenticationResults)
        );
        assert_eq!(source_for_field("authentication-results"), Some(AR));
        assert_eq!(source_for_field("Received-SPF"), None);
    }
}
