//! Vendor headers that carry an SPF verdict (X-Spam-Status SPF_* rules, rspamd `R_SPF_*`
//! symbols, X-SPF-Result, X-FEAS-SPF, X-XM-SPF, ...): secondary evidence when a message has
//! no Received-SPF or Authentication-Results, and traps (a forwarder's `SPF_PASS`).
//!
//! None of these record the client IP, except FortiMail and XMission. Headers that name SPF
//! but hold no verdict (`X-Proofpoint-SPF-Record`, Comcast's `SPF=1` flag, whose meaning is
//! undocumented) give `None`. `X-Comment: SPF check N/A …` (pypolicyd-spf skipping a local or
//! whitelisted client) gives a verdict without a result whose writer says so.

use memchr::memmem;

use super::received_spf::{self, Draft, NO_CHECK_SKIPPED, explain};
use super::text::{self, Pair};
use super::{RecordedVerdict, VerdictSource};
use crate::model::{Identity, SpfResult};

/// Which vendor header a field is, by name (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherKind {
    /// `X-…-Received-SPF`: a Received-SPF under another name.
    ReceivedSpfCopy,
    /// `X-SPF-Result`, `X-SPF`: libspf2's comment.
    SpfComment,
    /// `X-FEAS-SPF` (FortiMail).
    FortiMail,
    /// `X-XM-SPF` (XMission).
    XMission,
    /// `X-Proofpoint-SPF-Result`.
    ProofpointResult,
    /// `X-Comment` (pypolicyd-spf's skipped check).
    Comment,
    /// `X-Greylist` (milter-greylist).
    Greylist,
    /// rspamd's `X-Spamd-Result`, `X-Rspamd-…`.
    Rspamd,
    /// Any other header with `spam` in its name: SpamAssassin rule names.
    SpamRules,
}

/// The kind of vendor header a field name denotes; `None` for every name that never carries
/// a verdict here (Received-SPF and Authentication-Results themselves included: they have
/// their own parsers). No allocation: this runs on every field of every message.
pub fn kind(name: &str) -> Option<OtherKind> {
    let name = name.trim().as_bytes();
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    let contains = |n: &str| {
        let n = n.as_bytes();
        name.len() >= n.len() && name.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    };
    // Every kind but two has `sp` in its name (spf, spam, rspamd): most fields (Subject,
    // DKIM-Signature, Content-Type, ...) are turned away by this one pass.
    let has_sp = name
        .windows(2)
        .any(|w| matches!(w, [b's' | b'S', b'p' | b'P']));
    if !has_sp {
        return if is("x-comment") {
            Some(OtherKind::Comment)
        } else if is("x-greylist") {
            Some(OtherKind::Greylist)
        } else {
            None
        };
    }
    let suffix = b"received-spf";
    let ends_received_spf = name
        .len()
        .checked_sub(suffix.len())
        .and_then(|at| name.get(at..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix));
    Some(
        if is("received-spf") || contains("authentication-results") {
            return None;
        } else if ends_received_spf {
            OtherKind::ReceivedSpfCopy
        } else if is("x-spf-result") || is("x-spf") {
            OtherKind::SpfComment
        } else if is("x-feas-spf") {
            OtherKind::FortiMail
        } else if is("x-xm-spf") {
            OtherKind::XMission
        } else if is("x-proofpoint-spf-result") {
            OtherKind::ProofpointResult
        } else if is("x-proofpoint-spf-record") {
            return None;
        } else if is("x-comment") {
            OtherKind::Comment
        } else if is("x-greylist") {
            OtherKind::Greylist
        } else if contains("spamd-result") || contains("rspamd") {
            OtherKind::Rspamd
        } else if contains("spam") {
            OtherKind::SpamRules
        } else {
            return None;
        },
    )
}

/// Whether a value of this kind can hold a verdict at all, from its raw bytes (folded or
/// not, before any UTF-8 conversion): rule and symbol names (`SPF_PASS`, `R_SPF_FAIL`)
/// always contain `SPF_`, so the long opaque blobs of `X-Microsoft-Antispam-*` and
/// `X-Forefront-Antispam-Report` are passed over without being unfolded. A fold cannot
/// create `SPF_` (unfolding keeps the whitespace).
pub fn may_carry_verdict(kind: OtherKind, raw: &[u8]) -> bool {
    match kind {
        OtherKind::Rspamd | OtherKind::SpamRules => memmem::find(raw, b"SPF_").is_some(),
        _ => true,
    }
}

/// Parse one header (name as written, unfolded value). `None` when the header is not one we
/// know or carries no SPF verdict.
pub fn parse(name: &str, value: &str) -> Option<RecordedVerdict> {
    let kind = kind(name)?;
    if !may_carry_verdict(kind, value.as_bytes()) {
        return None;
    }
    let mut verdict = match kind {
        OtherKind::ReceivedSpfCopy => Some(received_spf::parse(value)),
        OtherKind::SpfComment => spf_comment_header(value),
        OtherKind::FortiMail => flat_list(value, ",", "fortimail"),
        OtherKind::XMission => flat_list(value, ";;;", "xmission"),
        OtherKind::ProofpointResult => result_word_header(value, "proofpoint"),
        OtherKind::Comment => skipped_check(value),
        OtherKind::Greylist => greylist(value),
        OtherKind::Rspamd => rspamd_symbols(value),
        OtherKind::SpamRules => spamassassin_rules(value),
    }?;
    verdict.source = Some(VerdictSource::OtherHeader);
    Some(verdict)
}

/// libspf2's header comment on its own (Exim `$spf_header_comment`), with or without a
/// result word in front: `host: domain of X designates IP as permitted sender`. Without a
/// result word the result is the one the wording states.
fn spf_comment_header(value: &str) -> Option<RecordedVerdict> {
    let first = text::words(value).first().copied().unwrap_or("");
    if SpfResult::parse_lenient(first).is_some() {
        return Some(received_spf::parse(value));
    }
    let explanation = explain(value);
    let implied = explanation.implies?;
    let draft = Draft {
        result_word: Some(implied.to_string()),
        writer: explanation.writer.or(Some("libspf2")),
        ..Draft::default()
    };
    Some(draft.finish(explanation, VerdictSource::OtherHeader))
}

/// `key=value` lists with a fixed separator: FortiMail `spf-result=pass, ip=…, helo=…,
/// mailFrom=…`, XMission `eid=…;;;hst=…;;;ip=…;;;frm=…;;;spf=neutral`.
fn flat_list(value: &str, separator: &str, writer: &'static str) -> Option<RecordedVerdict> {
    let mut result_word = None;
    let mut pairs = Vec::new();
    for piece in value.split(separator) {
        let Some((key, value)) = piece.trim().split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        let key = match key.as_str() {
            "spf" | "spf-result" | "result" => {
                result_word = Some(value);
                continue;
            }
            "ip" | "client-ip" => "client-ip",
            "helo" => "helo",
            "mailfrom" | "frm" | "envelope-from" => "envelope-from",
            "hst" | "receiver" => "receiver",
            _ => continue,
        };
        pairs.push(Pair {
            key: key.into(),
            value: value.into(),
        });
    }
    result_word.as_ref()?;
    let mut draft = Draft {
        result_word,
        writer: Some(writer),
        ..Draft::default()
    };
    draft.take_pairs(&pairs);
    Some(draft.finish(Default::default(), VerdictSource::OtherHeader))
}

/// A header whose value is just the result word.
fn result_word_header(value: &str, writer: &'static str) -> Option<RecordedVerdict> {
    let first = text::words(value).first().copied()?;
    let result = SpfResult::parse_lenient(first)?;
    Some(RecordedVerdict {
        result: Some(result),
        writer: Some(writer.to_string()),
        ..RecordedVerdict::default()
    })
}

/// pypolicyd-spf's `X-Comment: SPF check N/A for local connections - client-ip=…; helo=…;
/// envelope-from=…; receiver=…` (and `SPF skipped for whitelisted relay …`,
/// policyd-spf-perl's `SPF not applicable to localhost connection - skipped check`): no SPF
/// evaluation happened. The key list is kept, the result is `None`.
fn skipped_check(value: &str) -> Option<RecordedVerdict> {
    let lower = value.to_ascii_lowercase();
    let skipped = lower.contains("spf")
        && ["n/a", "skipped", "not applicable", "whitelist"]
            .iter()
            .any(|w| lower.contains(w));
    if !skipped {
        return None;
    }
    let mut draft = Draft {
        writer: Some("pypolicyd-spf"),
        notes: vec![NO_CHECK_SKIPPED.to_string()],
        ..Draft::default()
    };
    let pairs = text::pairs(&text::lex(value), |key| {
        matches!(key, "client-ip" | "helo" | "envelope-from" | "receiver")
    });
    draft.take_pairs(&pairs);
    let mut verdict = draft.finish(Default::default(), VerdictSource::OtherHeader);
    verdict.identity = None;
    verdict.domain = None;
    Some(verdict)
}

/// milter-greylist: `X-Greylist: Sender passed SPF test, ACL 242 matched, not delayed by
/// milter-greylist-4.5.16 (mx1.example.com [10.5.110.31]); …` — the host in parentheses is
/// the greylisting receiver (its own address, not the client's).
fn greylist(value: &str) -> Option<RecordedVerdict> {
    let lower = value.to_ascii_lowercase();
    if !lower.contains("sender passed spf test") {
        return None;
    }
    let receiver = text::lex(value).iter().find_map(|item| match item {
        text::Item::Comment(c) => text::words(c)
            .first()
            .filter(|w| text::is_host_name(w))
            .map(|w| w.to_string()),
        _ => None,
    });
    Some(RecordedVerdict {
        result: Some(SpfResult::Pass),
        receiver,
        writer: Some("milter-greylist".to_string()),
        ..RecordedVerdict::default()
    })
}

/// Upper-case rule/symbol names in a text: runs of `A-Z`, `0-9`, `_`, with their position.
fn symbols(value: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = value.as_bytes();
    let is_symbol_byte = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_';
    let mut i = 0usize;
    std::iter::from_fn(move || {
        while bytes.get(i).is_some_and(|&b| !is_symbol_byte(b)) {
            i += 1;
        }
        let start = i;
        while bytes.get(i).is_some_and(|&b| is_symbol_byte(b)) {
            i += 1;
        }
        // Symbols are delimited by non-word bytes (not glued to lower-case letters).
        let glued = |at: Option<&u8>| at.is_some_and(|b| b.is_ascii_lowercase());
        if start == i {
            return None;
        }
        let glued = (start > 0 && glued(bytes.get(start - 1))) || glued(bytes.get(i));
        Some((
            start,
            if glued {
                ""
            } else {
                value.get(start..i).unwrap_or("")
            },
        ))
    })
}

/// rspamd `R_SPF_*` symbols (X-Spamd-Result, X-Rspamd-…): the symbol is the result, its
/// option the matched mechanism or a reason (`[no SPF record]`, `[skip SPF checks for local
/// networks]`).
fn rspamd_symbols(value: &str) -> Option<RecordedVerdict> {
    let (at, symbol) = symbols(value).find(|(_, s)| s.starts_with("R_SPF_"))?;
    let result = match symbol.strip_prefix("R_SPF_")? {
        "ALLOW" => SpfResult::Pass,
        "FAIL" => SpfResult::Fail,
        "SOFTFAIL" => SpfResult::SoftFail,
        "NEUTRAL" => SpfResult::Neutral,
        "DNSFAIL" => SpfResult::TempError,
        "PERMFAIL" => SpfResult::PermError,
        "NA" => SpfResult::None,
        _ => return None,
    };
    // The option: up to the end of this symbol's `[...]`/`{...}`.
    let after = value.get(at + symbol.len()..).unwrap_or("");
    let option_end = after.find([']', '}', ';']).unwrap_or(after.len().min(200));
    let option = after.get(..option_end).unwrap_or("").to_ascii_lowercase();
    let mut verdict = RecordedVerdict {
        writer: Some("rspamd".to_string()),
        ..RecordedVerdict::default()
    };
    if option.contains("skip") || option.contains("local") {
        verdict.writer = Some(format!(
            "rspamd; {NO_CHECK_SKIPPED}; recorded {}",
            result.as_str()
        ));
    } else {
        verdict.result = Some(result);
        verdict.identity = Some(Identity::MailFrom);
    }
    Some(verdict)
}

/// SpamAssassin rule names (`SPF_PASS`, `SPF_HELO_SOFTFAIL`, `T_SPF_TEMPERROR`, …) in
/// X-Spam-Status/X-Spam-Report/MailScanner headers. The MAIL FROM rule is preferred; a HELO
/// rule alone gives a HELO verdict.
fn spamassassin_rules(value: &str) -> Option<RecordedVerdict> {
    let mut mail_from = None;
    let mut helo = None;
    for (_, symbol) in symbols(value) {
        let rule = symbol.strip_prefix("T_").unwrap_or(symbol);
        let Some(rest) = rule.strip_prefix("SPF_") else {
            continue;
        };
        let (slot, word) = match rest.strip_prefix("HELO_") {
            Some(word) => (&mut helo, word),
            None => (&mut mail_from, rest),
        };
        let result = match word {
            "PASS" | "ALLOW" => SpfResult::Pass,
            "FAIL" => SpfResult::Fail,
            "SOFTFAIL" => SpfResult::SoftFail,
            "NEUTRAL" => SpfResult::Neutral,
            "NONE" => SpfResult::None,
            "TEMPERROR" => SpfResult::TempError,
            "PERMERROR" => SpfResult::PermError,
            _ => continue,
        };
        slot.get_or_insert(result);
    }
    let (result, identity) = match (mail_from, helo) {
        (Some(result), _) => (result, Identity::MailFrom),
        (None, Some(result)) => (result, Identity::Helo),
        (None, None) => return None,
    };
    Some(RecordedVerdict {
        result: Some(result),
        identity: Some(identity),
        writer: Some("spamassassin".to_string()),
        ..RecordedVerdict::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spamassassin_prefers_mail_from() {
        let v = parse(
            "X-Spam-Status",
            "No, tests=SPF_HELO_NONE=0.001, SPF_PASS=-0.001, USER_IN_DEF_SPF_WL",
        )
        .unwrap();
        assert_eq!(v.result, Some(SpfResult::Pass));
        assert_eq!(v.identity, Some(Identity::MailFrom));
        let v = parse("X-Spam-Status", "No, tests=SPF_HELO_SOFTFAIL,BAYES_00").unwrap();
        assert_eq!(v.identity, Some(Identity::Helo));
        assert!(
            parse(
                "X-Spam-Status",
                "No, tests=USER_IN_SPF_WL,ENV_AND_HDR_SPF_MATCH"
            )
            .is_none()
        );
    }

    #[test]
    fn rspamd_symbol_and_skip() {
        let v = parse("X-Spamd-Result", "default: False; R_SPF_FAIL(1.00)[-all];").unwrap();
        assert_eq!(v.result, Some(SpfResult::Fail));
        let v = parse(
            "X-Spamd-Result",
            "default: False; R_SPF_NA(0.00)[skip SPF checks for local networks];",
        )
        .unwrap();
        assert_eq!(v.result, None);
        assert!(received_spf::records_no_spf_check(&v));
    }

    #[test]
    fn kinds_by_name_without_allocating() {
        /// The lower-casing match `kind` replaced.
        fn reference(name: &str) -> Option<OtherKind> {
            let name = name.trim().to_ascii_lowercase();
            match name.as_str() {
                "received-spf" => None,
                n if n.contains("authentication-results") => None,
                n if n.ends_with("received-spf") => Some(OtherKind::ReceivedSpfCopy),
                "x-spf-result" | "x-spf" => Some(OtherKind::SpfComment),
                "x-feas-spf" => Some(OtherKind::FortiMail),
                "x-xm-spf" => Some(OtherKind::XMission),
                "x-proofpoint-spf-result" => Some(OtherKind::ProofpointResult),
                "x-proofpoint-spf-record" => None,
                "x-comment" => Some(OtherKind::Comment),
                "x-greylist" => Some(OtherKind::Greylist),
                n if n.contains("spamd-result") || n.contains("rspamd") => Some(OtherKind::Rspamd),
                n if n.contains("spam") => Some(OtherKind::SpamRules),
                _ => None,
            }
        }
        for name in [
            "Received-SPF",
            "received-spf",
            "X-Original-Authentication-Results",
            "X-MS-Exchange-Organization-Received-SPF",
            "X-SPF-Result",
            "x-spf",
            "X-FEAS-SPF",
            "X-XM-SPF",
            "X-Proofpoint-SPF-Result",
            "X-Proofpoint-SPF-Record",
            "X-Comment",
            "X-Greylist",
            "X-Spamd-Result",
            "X-Rspamd-Action",
            "X-Spam-Status",
            "X-Microsoft-Antispam-Message-Info",
            "X-Forefront-Antispam-Report",
            "Subject",
            "DKIM-Signature",
            "SPAM",
            "spa",
            "",
            " X-Spam-Flag ",
        ] {
            assert_eq!(kind(name), reference(name), "{name}");
        }
        assert!(!may_carry_verdict(
            OtherKind::SpamRules,
            b"BAYES_00 spf_pass"
        ));
        assert!(may_carry_verdict(OtherKind::SpamRules, b"x\n\tT_SPF_PASS"));
        assert!(may_carry_verdict(OtherKind::Comment, b""));
    }

    #[test]
    fn record_only_headers_carry_no_verdict() {
        assert!(parse("X-Proofpoint-SPF-Record", "v=spf1 -all").is_none());
        assert!(parse("X-Xfinity-Message-Heuristics", "SPF=1").is_none());
        assert!(parse("Received-SPF", "pass").is_none());
    }
}
