//! Checks on one record's terms that need no DNS: `all` and its qualifier, `redirect=`
//! beside `all`, terms after `all`, `ptr`, unknown modifiers, `exp=` that is never used,
//! macros in odd places, address ranges that pass everyone or no one.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::walk::message_macros;
use super::{Check, Finding, Severity, cap};
use crate::spf::macros::MacroLetter;
use crate::spf::record::{Mechanism, Modifier, ParsedRecord, Qualifier, Term, TermKind, quote};

/// How a record is reached: the domain checked, through `include:` (its result only says
/// "match or not"), or through `redirect=` (its result is the domain's result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Root,
    Include,
    Redirect,
}

pub(super) fn check(
    parsed: &ParsedRecord,
    domain: &str,
    role: Role,
    path: &[String],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |severity: Severity, check: Check, message: String| {
        out.push(Finding {
            severity,
            check,
            domain: domain.to_string(),
            path: path.to_vec(),
            message,
        });
    };

    let first_all = parsed.terms.iter().position(|t| {
        t.directive()
            .is_some_and(|d| matches!(d.mechanism, Mechanism::All))
    });
    let redirect = parsed.redirect();
    let explanation = parsed.explanation();

    match first_all {
        Some(index) => {
            let all = &parsed.terms[index];
            let qualifier = all.directive().map(|d| (d.qualifier, d.explicit_qualifier));
            match qualifier {
                Some((Qualifier::Pass, explicit)) => {
                    let what = if explicit {
                        format!(
                            "{} lets every IP address on the Internet pass",
                            quote(&all.text)
                        )
                    } else {
                        format!(
                            "{} without a qualifier means \"+all\": every IP address on the Internet passes",
                            quote(&all.text)
                        )
                    };
                    let consequence = match role {
                        Role::Include => format!(
                            "; the include matches every address, so whoever includes {domain} passes everyone"
                        ),
                        _ => {
                            format!("; anyone can send mail as {domain}: use \"-all\" or \"~all\"")
                        }
                    };
                    push(
                        Severity::Error,
                        Check::PassAll,
                        format!("{what}{consequence}"),
                    );
                }
                Some((Qualifier::Neutral, _)) if role != Role::Include => push(
                    Severity::Warning,
                    Check::NeutralAll,
                    format!(
                        "{}: senders not listed get neutral, which receivers treat like no policy; use \"~all\" or \"-all\"",
                        quote(&all.text)
                    ),
                ),
                _ => {}
            }
            let after: Vec<&Term> = parsed.terms[index + 1..]
                .iter()
                .filter(|t| !matches!(t.kind, TermKind::Modifier(_)))
                .collect();
            if !after.is_empty() {
                let shown: Vec<String> = after
                    .iter()
                    .take(10)
                    .map(|t| quote(&cap(&t.text, 100)))
                    .collect();
                let more = if after.len() > 10 {
                    format!(" and {} more", after.len() - 10)
                } else {
                    String::new()
                };
                push(
                    Severity::Warning,
                    Check::AfterAll,
                    format!(
                        "{}{more} {} after {} and {} never evaluated: move {} before it",
                        shown.join(", "),
                        if after.len() == 1 { "comes" } else { "come" },
                        quote(&all.text),
                        if after.len() == 1 { "is" } else { "are" },
                        if after.len() == 1 { "it" } else { "them" },
                    ),
                );
            }
            if let Some((term, _)) = redirect {
                push(
                    Severity::Warning,
                    Check::RedirectIgnored,
                    format!(
                        "{} is ignored because the record has {} (RFC 7208 §6.1): remove one of them",
                        quote(&term.text),
                        quote(&all.text)
                    ),
                );
            }
        }
        None => {
            // A mistyped `all` or `redirect` (`–all`, `all.`, `redirect:x`) is already a
            // syntax error; do not also say it is missing.
            let broken_all = parsed.terms.iter().any(|t| {
                let lower = t.text.to_ascii_lowercase();
                matches!(t.kind, TermKind::Invalid)
                    && (lower.contains("all") || lower.contains("redirect"))
            });
            if role != Role::Include && redirect.is_none() && !broken_all {
                push(
                    Severity::Warning,
                    Check::NoAll,
                    "no \"all\" and no \"redirect=\": senders not listed get neutral (RFC 7208 §4.7), which receivers treat like no policy; end the record with \"-all\" or \"~all\"".to_string(),
                );
            }
            if let (Some((exp, _)), Some((term, spec))) = (explanation, redirect) {
                push(
                    Severity::Info,
                    Check::Explanation,
                    format!(
                        "{} is never used: {} hands the evaluation to {}, whose own exp= applies (RFC 7208 §6.1)",
                        quote(&exp.text),
                        quote(&term.text),
                        spec.text
                    ),
                );
            }
        }
    }
    if role == Role::Include
        && let Some((exp, _)) = explanation
    {
        push(
            Severity::Info,
            Check::Explanation,
            format!(
                "{} in an included record is never used: only the record that decides the result gives the explanation (RFC 7208 §6.2)",
                quote(&exp.text)
            ),
        );
    }

    for term in &parsed.terms {
        match &term.kind {
            TermKind::Directive(d) => {
                let pass = d.qualifier == Qualifier::Pass;
                match &d.mechanism {
                    Mechanism::Ptr { .. } => push(
                        Severity::Warning,
                        Check::Ptr,
                        format!(
                            "{} is slow and unreliable, and RFC 7208 §5.5 says it SHOULD NOT be used: list the sending addresses with ip4:/ip6:, or use a/mx",
                            quote(&term.text)
                        ),
                    ),
                    Mechanism::Ip4 { network, prefix } => {
                        if pass && *prefix == Some(0) {
                            push(
                                Severity::Error,
                                Check::PassAll,
                                format!(
                                    "{} covers every IPv4 address: every IP address on the Internet passes",
                                    quote(&term.text)
                                ),
                            );
                        } else if let Some(what) = special_ip4(*network, prefix.unwrap_or(32)) {
                            push(
                                Severity::Info,
                                Check::PrivateAddress,
                                format!(
                                    "{} is {what}: mail from the Internet never comes from it",
                                    quote(&term.text)
                                ),
                            );
                        }
                    }
                    Mechanism::Ip6 { network, prefix } => {
                        if pass && *prefix == Some(0) {
                            push(
                                Severity::Error,
                                Check::PassAll,
                                format!(
                                    "{} covers every IPv6 address: every IP address on the Internet passes",
                                    quote(&term.text)
                                ),
                            );
                        } else if let Some(what) = special_ip6(*network, prefix.unwrap_or(128)) {
                            push(
                                Severity::Info,
                                Check::PrivateAddress,
                                format!(
                                    "{} is {what}: mail from the Internet never comes from it",
                                    quote(&term.text)
                                ),
                            );
                        }
                    }
                    Mechanism::A { cidr, .. } | Mechanism::Mx { cidr, .. } => {
                        if pass && (cidr.ip4 == Some(0) || cidr.ip6 == Some(0)) {
                            push(
                                Severity::Error,
                                Check::PassAll,
                                format!(
                                    "{}: a /0 prefix covers every address of that family as soon as the name has one: every IP address on the Internet passes",
                                    quote(&term.text)
                                ),
                            );
                        }
                    }
                    Mechanism::All | Mechanism::Include { .. } | Mechanism::Exists { .. } => {}
                }
                if let Some(spec) = d.mechanism.domain_spec() {
                    let follows = matches!(
                        d.mechanism,
                        Mechanism::Include { .. } | Mechanism::A { .. } | Mechanism::Mx { .. }
                    );
                    macro_checks(term, &spec.macro_string, follows, &mut push);
                }
            }
            TermKind::Modifier(Modifier::Redirect { domain: spec }) => {
                macro_checks(term, &spec.macro_string, true, &mut push);
            }
            TermKind::Modifier(Modifier::Explanation { domain: spec }) => {
                macro_checks(term, &spec.macro_string, false, &mut push);
                let letters = message_macros(&spec.macro_string);
                if !letters.is_empty() {
                    push(
                        Severity::Info,
                        Check::Macro,
                        format!(
                            "{} depends on the message ({letters}): lint cannot check the explanation",
                            quote(&term.text)
                        ),
                    );
                }
            }
            TermKind::Modifier(Modifier::Unknown { name, .. }) => {
                let (severity, message) = unknown_modifier(name, &term.text);
                push(severity, Check::UnknownModifier, message);
            }
            TermKind::Invalid => {}
        }
    }
    out
}

/// `%{p}` anywhere; macros that depend on the message where lint has to follow the name.
fn macro_checks(
    term: &Term,
    ms: &crate::spf::macros::MacroString,
    follows: bool,
    push: &mut impl FnMut(Severity, Check, String),
) {
    if ms.uses(MacroLetter::ValidatedName) {
        push(
            Severity::Warning,
            Check::Macro,
            format!(
                "{} uses %{{p}}, which RFC 7208 §7.3 says SHOULD NOT be used (slow, unreliable, and extra DNS queries)",
                quote(&term.text)
            ),
        );
    }
    if follows {
        let letters = message_macros(ms);
        if !letters.is_empty() {
            push(
                Severity::Info,
                Check::Macro,
                format!(
                    "{} depends on the message ({letters}): lint cannot follow it; it counts as one DNS lookup, and what it leads to is not checked",
                    quote(&term.text)
                ),
            );
        }
    }
}

/// An unknown modifier: ignored by receivers (RFC 7208 §6), but some are mistakes.
fn unknown_modifier(name: &str, text: &str) -> (Severity, String) {
    let lower = name.to_ascii_lowercase();
    if lower == "v" {
        return (
            Severity::Warning,
            format!(
                "{} inside the record: two records run together? receivers ignore it as an unknown modifier",
                quote(text)
            ),
        );
    }
    if lower == "default" {
        return (
            Severity::Warning,
            format!(
                "{} is not part of SPF (it comes from a draft before RFC 4408); receivers ignore it: end the record with \"-all\" or \"~all\" instead",
                quote(text)
            ),
        );
    }
    if matches!(lower.as_str(), "ra" | "rp" | "rr") {
        return (
            Severity::Info,
            format!(
                "{} is an RFC 6652 reporting modifier: receivers that do not support it ignore it",
                quote(&cap(text, 100))
            ),
        );
    }
    let meant = if edit_distance(&lower, "redirect") <= 2 {
        Some("redirect=")
    } else if matches!(lower.as_str(), "explanation" | "explain" | "expl")
        || (lower.len() >= 2 && edit_distance(&lower, "exp") <= 1)
    {
        Some("exp=")
    } else {
        None
    };
    match meant {
        Some(meant) => (
            Severity::Warning,
            format!(
                "unknown modifier {}: did you mean \"{meant}\"? receivers ignore it (RFC 7208 §6)",
                quote(text)
            ),
        ),
        None => (
            Severity::Info,
            format!(
                "unknown modifier {} is ignored by receivers (RFC 7208 §6)",
                quote(&cap(text, 100))
            ),
        ),
    }
}

/// Levenshtein distance (short ASCII names only).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > 3 {
        return 4;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// IPv4 ranges no Internet mail comes from, when `network/prefix` lies inside one.
fn special_ip4(network: Ipv4Addr, prefix: u8) -> Option<&'static str> {
    const RANGES: [([u8; 4], u8, &str); 5] = [
        ([10, 0, 0, 0], 8, "a private address range (RFC 1918)"),
        ([172, 16, 0, 0], 12, "a private address range (RFC 1918)"),
        ([192, 168, 0, 0], 16, "a private address range (RFC 1918)"),
        ([127, 0, 0, 0], 8, "a loopback address range"),
        ([169, 254, 0, 0], 16, "a link-local address range"),
    ];
    let addr = u32::from(network);
    RANGES.iter().find_map(|(range, len, what)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
        (prefix >= *len && addr & mask == u32::from(Ipv4Addr::from(*range))).then_some(*what)
    })
}

/// IPv6 ranges no Internet mail comes from: loopback, unique local, link-local.
fn special_ip6(network: Ipv6Addr, prefix: u8) -> Option<&'static str> {
    if network == Ipv6Addr::LOCALHOST && prefix == 128 {
        return Some("the loopback address");
    }
    let first = network.segments()[0];
    if prefix >= 7 && first & 0xfe00 == 0xfc00 {
        return Some("a unique local address range (RFC 4193)");
    }
    if prefix >= 10 && first & 0xffc0 == 0xfe80 {
        return Some("a link-local address range");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("redirect", "redirect"), 0);
        assert_eq!(edit_distance("redirct", "redirect"), 1);
        assert_eq!(edit_distance("redirects", "redirect"), 1);
        assert!(edit_distance("foo", "redirect") > 2);
        assert_eq!(edit_distance("epx", "exp"), 2);
    }

    #[test]
    fn special_ranges() {
        assert!(special_ip4(Ipv4Addr::new(192, 168, 0, 1), 32).is_some());
        assert!(special_ip4(Ipv4Addr::new(172, 31, 0, 0), 16).is_some());
        assert!(special_ip4(Ipv4Addr::new(172, 32, 0, 0), 16).is_none());
        assert!(special_ip4(Ipv4Addr::new(10, 0, 0, 0), 7).is_none());
        assert!(special_ip4(Ipv4Addr::new(192, 0, 2, 1), 32).is_none());
        assert!(special_ip6("fd00::1".parse().unwrap(), 128).is_some());
        assert!(special_ip6("2001:db8::1".parse().unwrap(), 128).is_none());
    }
}
