//! The corrected record a letter proposes, proven before it is written: evaluated by the
//! engine to pass for every affected IP with the run's DNS answers plus the proposal, linted
//! without errors (syntax, the RFC 7208 §4.6.4 limits, include targets that exist and publish
//! one SPF record). A proposal that cannot be proven is not made.

use std::net::IpAddr;

use crate::dns::overlay::TxtOverlay;
use crate::dns::{Answer, DnsError, Lookup, RecordType};
use crate::model::{Identity, SpfResult};
use crate::spf::{Profile, Request};

/// What the letter proposes for one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The complete record to publish, proven; `None` when no record could be proven.
    pub record: Option<String>,
    /// Each change from the current record, in the order made.
    pub changes: Vec<Change>,
    /// Why no record is proposed (the lint error or the IP that still does not pass).
    pub unproven: Option<String>,
    /// The most DNS lookups the proposed record needs for one of the IPs.
    pub lookups: u32,
    /// The include and redirect targets looked up to see that they publish a record.
    pub targets_checked: Vec<String>,
}

/// One change made to the current record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A term written wrongly, rewritten: (as written, as corrected).
    Repaired(String, String),
    /// An include or redirect dropped because its target has no SPF record: (term, why).
    Dropped(String, String),
    /// A mechanism added for an affected IP.
    Added(String),
}

/// Propose a record for `domain` that authorises `ips`, from `current` (the record as
/// published, possibly broken), and prove it against `lookup`.
pub async fn propose(
    lookup: &dyn Lookup,
    profile: &Profile,
    domain: &str,
    current: &str,
    ips: &[IpAddr],
) -> Proposal {
    let mut changes = Vec::new();
    let mut terms = repaired_terms(current, &mut changes);
    let targets_checked = drop_missing_targets(lookup, &mut terms, &mut changes).await;
    let position = terms
        .iter()
        .position(|t| is_all(t) || t.to_ascii_lowercase().starts_with("redirect="))
        .unwrap_or(terms.len());
    let mut added = Vec::new();
    for ip in ips {
        let candidate = record_text(&terms);
        if evaluate(lookup, profile, domain, &candidate, *ip)
            .await
            .result
            == SpfResult::Pass
        {
            continue;
        }
        let term = match ip {
            IpAddr::V4(v4) => format!("ip4:{v4}"),
            IpAddr::V6(v6) => format!("ip6:{v6}"),
        };
        if !terms.contains(&term) {
            added.push(term.clone());
            terms.insert(position + added.len() - 1, term.clone());
            changes.push(Change::Added(term));
        }
    }
    let record = record_text(&terms);
    match prove(lookup, profile, domain, &record, ips).await {
        Ok(lookups) => Proposal {
            record: Some(record),
            changes,
            unproven: None,
            lookups,
            targets_checked,
        },
        Err(why) => Proposal {
            record: None,
            changes,
            unproven: Some(why),
            lookups: 0,
            targets_checked,
        },
    }
}

fn record_text(terms: &[String]) -> String {
    terms.join(" ")
}

fn is_all(term: &str) -> bool {
    let bare = term.trim_start_matches(['+', '-', '~', '?']);
    bare.eq_ignore_ascii_case("all")
}

/// The record's terms with the mistakes people make most (the ones `lint` names) put right:
/// a dash that is not U+002D, `ipv4:`/`ipv6:`, a space after `include:`/`redirect=`, and
/// a version tag in capitals.
fn repaired_terms(current: &str, changes: &mut Vec<Change>) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut words = current.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let mut term = word.to_string();
        let lower = term.to_ascii_lowercase();
        let dangling = ["include:", "redirect=", "a:", "mx:", "exists:", "ptr:"]
            .iter()
            .any(|prefix| lower.trim_start_matches(['+', '-', '~', '?']) == *prefix);
        if dangling && let Some(next) = words.next() {
            term.push_str(next);
        }
        let mut fixed: String = term
            .chars()
            .enumerate()
            .map(|(i, c)| match c {
                '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FF0D}' if i == 0 => '-',
                _ => c,
            })
            .collect();
        for (wrong, right) in [("ipv4:", "ip4:"), ("ipv6:", "ip6:")] {
            let bare = fixed.trim_start_matches(['+', '-', '~', '?']);
            if bare.to_ascii_lowercase().starts_with(wrong) {
                let qualifier = &fixed[..fixed.len() - bare.len()];
                fixed = format!("{qualifier}{right}{}", &bare[wrong.len()..]);
            }
        }
        if terms.is_empty() && fixed.eq_ignore_ascii_case("v=spf1") {
            fixed = "v=spf1".to_string();
        }
        let as_written = if dangling {
            term.replacen(':', ": ", 1).replacen('=', "= ", 1)
        } else {
            term.clone()
        };
        if fixed != term || dangling {
            changes.push(Change::Repaired(as_written, fixed.clone()));
        }
        terms.push(fixed);
    }
    if terms.first().map(String::as_str) != Some("v=spf1") {
        terms.insert(0, "v=spf1".to_string());
    }
    terms
}

/// Drop `include:`/`redirect=` terms whose target does not exist or publishes no SPF
/// record: publishing them would still be a permerror. Targets with macros are kept.
async fn drop_missing_targets(
    lookup: &dyn Lookup,
    terms: &mut Vec<String>,
    changes: &mut Vec<Change>,
) -> Vec<String> {
    let mut kept = Vec::with_capacity(terms.len());
    let mut checked = Vec::new();
    for term in terms.drain(..) {
        let lower = term.to_ascii_lowercase();
        let target = lower
            .trim_start_matches(['+', '-', '~', '?'])
            .strip_prefix("include:")
            .or_else(|| lower.strip_prefix("redirect="))
            .filter(|t| !t.contains('%') && !t.is_empty())
            .map(str::to_string);
        let Some(target) = target else {
            kept.push(term);
            continue;
        };
        checked.push(target.clone());
        match spf_records(lookup, &target).await {
            Ok(0) => changes.push(Change::Dropped(
                term,
                format!("{target} publishes no SPF record"),
            )),
            Err(DnsError::NxDomain) => changes.push(Change::Dropped(
                term,
                format!("{target} does not exist (NXDOMAIN)"),
            )),
            _ => kept.push(term),
        }
    }
    *terms = kept;
    checked
}

async fn spf_records(lookup: &dyn Lookup, name: &str) -> Result<usize, DnsError> {
    let answer = lookup.lookup(name, RecordType::Txt).await?;
    Ok(match &*answer {
        Answer::Txt(records) => records
            .iter()
            .filter(|strings| {
                let joined: Vec<u8> = strings.concat();
                joined.len() >= 6
                    && joined[..6].eq_ignore_ascii_case(b"v=spf1")
                    && (joined.len() == 6 || joined[6] == b' ')
            })
            .count(),
        _ => 0,
    })
}

async fn evaluate(
    lookup: &dyn Lookup,
    profile: &Profile,
    domain: &str,
    record: &str,
    ip: IpAddr,
) -> crate::spf::Evaluation {
    let overlay = TxtOverlay::new(lookup, domain, record);
    let request = Request {
        ip,
        mail_from: format!("postmaster@{domain}"),
        helo: domain.to_string(),
        identity: Identity::MailFrom,
    };
    crate::spf::check_host(&overlay, profile, &request).await
}

/// Every affected IP passes, and lint finds no error; the most lookups an IP needed.
async fn prove(
    lookup: &dyn Lookup,
    profile: &Profile,
    domain: &str,
    record: &str,
    ips: &[IpAddr],
) -> Result<u32, String> {
    let mut lookups = 0;
    for ip in ips {
        let evaluation = evaluate(lookup, profile, domain, record, *ip).await;
        if evaluation.result != SpfResult::Pass {
            return Err(format!("{ip} would still get {}", evaluation.result));
        }
        lookups = lookups.max(evaluation.dns_lookups);
    }
    let overlay = TxtOverlay::new(lookup, domain, record);
    let report = crate::lint::lint_domain(&overlay, profile, domain).await;
    match report
        .findings
        .iter()
        .find(|f| f.severity == crate::lint::Severity::Error)
    {
        Some(error) => Err(error.message.clone()),
        None => Ok(lookups),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_mistakes_are_repaired() {
        let mut changes = Vec::new();
        let terms = repaired_terms(
            "V=SPF1 ipv4:192.0.2.0/28 include: spf.example.cn \u{2013}all",
            &mut changes,
        );
        assert_eq!(
            terms,
            [
                "v=spf1",
                "ip4:192.0.2.0/28",
                "include:spf.example.cn",
                "-all"
            ]
        );
        assert_eq!(changes.len(), 4, "{changes:?}");
    }
}
