//! Turn an observation and today's evaluations into a finding: class, reason, fix.
//!
//! The classes and their order are a contract (DESIGN.md, "Classes"): the first rule that
//! applies wins. Classification is pure: the scan evaluates what [`plan::plan`] asks for and
//! hands the answers over as [`Evidence`].

pub mod plan;
pub mod srs;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::extract::{Observation, VerdictSource};
use crate::model::SpfResult;
use crate::spf::{Evaluation, ProblemKind};

pub use plan::{HopQuestion, Plan, RelatedQuestion, Relation};

/// One word per row (DESIGN.md contract), in rule order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Unverifiable,
    DnsUnavailable,
    Ok,
    TransientError,
    FixedSince,
    RecordBroken,
    Regressed,
    Forwarded,
    Misconfigured,
    Unauthorized,
    NoPolicy,
}

impl Class {
    pub const ALL: [Class; 11] = [
        Class::Unverifiable,
        Class::DnsUnavailable,
        Class::Ok,
        Class::TransientError,
        Class::FixedSince,
        Class::RecordBroken,
        Class::Regressed,
        Class::Forwarded,
        Class::Misconfigured,
        Class::Unauthorized,
        Class::NoPolicy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Unverifiable => "unverifiable",
            Class::DnsUnavailable => "dns_unavailable",
            Class::Ok => "ok",
            Class::TransientError => "transient_error",
            Class::FixedSince => "fixed_since",
            Class::RecordBroken => "record_broken",
            Class::Regressed => "regressed",
            Class::Forwarded => "forwarded",
            Class::Misconfigured => "misconfigured",
            Class::Unauthorized => "unauthorized",
            Class::NoPolicy => "no_policy",
        }
    }

    /// Findings: the recorded verdict does not reflect a legitimate sender's intent, or is
    /// about to hurt it.
    pub fn is_finding(self) -> bool {
        matches!(
            self,
            Class::FixedSince
                | Class::TransientError
                | Class::RecordBroken
                | Class::Regressed
                | Class::Forwarded
                | Class::Misconfigured
        )
    }
}

impl std::str::FromStr for Class {
    type Err = String;
    /// The class word as written in the CSV (`misconfigured`, `fixed_since`, ...).
    fn from_str(word: &str) -> Result<Class, String> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str() == word)
            .ok_or_else(|| format!("not a class: {word:?}"))
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A related domain with its evaluation at the client IP.
#[derive(Debug, Clone)]
pub struct RelatedResult {
    pub domain: String,
    pub relation: Relation,
    pub evaluation: Arc<Evaluation>,
}

/// An earlier hop with the sender's domain evaluated at its IP.
#[derive(Debug, Clone)]
pub struct HopResult {
    pub question: HopQuestion,
    pub evaluation: Arc<Evaluation>,
}

/// The answers to a [`Plan`]'s questions.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub current: Option<Arc<Evaluation>>,
    pub related: Vec<RelatedResult>,
    pub hops: Vec<HopResult>,
}

/// The classified row.
#[derive(Debug, Clone)]
pub struct Finding {
    pub observation: Observation,
    pub spf_domain: Option<String>,
    pub current: Option<Arc<Evaluation>>,
    pub class: Class,
    pub reason: String,
    pub fix: String,
    pub related: Vec<RelatedResult>,
}

impl Finding {
    /// `DOMAIN=RESULT` pairs, `;`-separated (the CSV `related_results` column).
    pub fn related_results(&self) -> String {
        self.related
            .iter()
            .map(|r| format!("{}={}", r.domain, r.evaluation.result))
            .collect::<Vec<_>>()
            .join(";")
    }
}

fn ip_term(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip4:{v4}"),
        IpAddr::V6(v6) => format!("ip6:{v6}"),
    }
}

fn matched_text(eval: &Evaluation) -> String {
    match &eval.matched {
        Some(m) => format!("{m}"),
        None => match &eval.problem {
            Some(p) => format!("{p}"),
            None => eval.result.to_string(),
        },
    }
}

fn when(obs: &Observation) -> String {
    obs.date
        .map(|d| format!(" on {}", d.format("%Y-%m-%d")))
        .unwrap_or_default()
}

/// How to correct a broken record, from the engine's problem.
fn broken_record_fix(eval: &Evaluation) -> String {
    let Some(problem) = &eval.problem else {
        return format!("Correct the SPF record of {}.", eval.domain);
    };
    let domain = &problem.domain;
    match problem.kind {
        ProblemKind::Syntax => {
            // List every error of the broken record, each with the parser's advice.
            let text = if *domain == eval.domain {
                eval.record.clone()
            } else {
                eval.trace
                    .records()
                    .into_iter()
                    .find(|t| t.domain == *domain)
                    .and_then(|t| t.record.clone())
            };
            let errors: Vec<String> = text
                .map(|t| {
                    crate::spf::record::parse(&t)
                        .errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect()
                })
                .unwrap_or_default();
            let what = if errors.is_empty() {
                problem.detail.clone()
            } else {
                errors.join("; ")
            };
            format!("Correct the SPF record of {domain}: {what}.")
        }
        ProblemKind::MultipleRecords => {
            format!("Publish exactly one v=spf1 TXT record at {domain}: merge the others into it.")
        }
        ProblemKind::TooManyLookups => format!(
            "Cut the DNS-querying terms (include, a, mx, ptr, exists, redirect) reached from {domain} to 10 or fewer, e.g. replace includes by the ip4:/ip6: ranges they list."
        ),
        ProblemKind::TooManyVoidLookups => {
            format!(
                "Remove the terms in {domain}'s record that point at names without records ({}).",
                problem.detail
            )
        }
        ProblemKind::TooManyMxNames => {
            format!(
                "Replace the mx term in {domain}'s record by ip4:/ip6: ranges: it has more than 10 MX names."
            )
        }
        ProblemKind::IncludeWithoutRecord => {
            format!(
                "Remove the include/redirect in {}'s record that points at a domain without an SPF record ({}), or publish one there.",
                eval.domain, problem.detail
            )
        }
        _ => format!("Correct the SPF record of {domain}: {}.", problem.detail),
    }
}

/// Apply the contract's rules in order. `plan` must be the plan the evidence answers.
pub fn classify(observation: Observation, plan: &Plan, evidence: Evidence) -> Finding {
    let recorded = observation.verdict.as_ref().and_then(|v| v.result);
    let related = evidence.related.clone();
    let mut finding = Finding {
        spf_domain: plan.spf_domain.clone(),
        current: evidence.current.clone(),
        class: Class::Unverifiable,
        reason: String::new(),
        fix: String::new(),
        related,
        observation,
    };
    let obs = &finding.observation;

    // 1. unverifiable
    let (Some(current), Some(request)) = (evidence.current.as_ref(), plan.primary.as_ref()) else {
        finding.reason = format!(
            "Cannot re-check: {}.",
            plan.unverifiable
                .as_deref()
                .unwrap_or("nothing to evaluate")
        );
        return finding;
    };
    let ip = request.ip;
    let domain = current.domain.clone();
    let matched = matched_text(current);
    let r_word = recorded.map_or("no verdict".to_string(), |r| r.to_string());

    let (class, reason, fix) = match current.result {
        // 2. dns_unavailable
        SpfResult::TempError => (
            Class::DnsUnavailable,
            format!(
                "The DNS could not answer for {domain} now ({}); try again later.",
                current
                    .problem
                    .as_ref()
                    .map_or("temporary error".to_string(), |p| p.to_string())
            ),
            String::new(),
        ),
        // 3. pass now
        SpfResult::Pass => match recorded {
            None | Some(SpfResult::Pass) => (
                Class::Ok,
                format!("{ip} is authorized for {domain} by {matched}."),
                String::new(),
            ),
            Some(SpfResult::TempError) => (
                Class::TransientError,
                format!(
                    "Recorded temperror{}, but {domain} authorizes {ip} now ({matched}): the DNS failure at delivery was temporary.",
                    when(obs)
                ),
                String::new(),
            ),
            Some(r) => (
                Class::FixedSince,
                format!(
                    "Recorded {r}{}, but {domain} authorizes {ip} now ({matched}): the sender has fixed its SPF record since.",
                    when(obs)
                ),
                String::new(),
            ),
        },
        // 4. record_broken
        SpfResult::PermError => (
            Class::RecordBroken,
            format!(
                "The SPF record of {} is broken: {}.",
                current
                    .problem
                    .as_ref()
                    .map_or(domain.as_str(), |p| p.domain.as_str()),
                current
                    .problem
                    .as_ref()
                    .map_or("permanent error".to_string(), |p| p.detail.clone())
            ),
            broken_record_fix(current),
        ),
        now => classify_not_authorized(
            obs, plan, &evidence, current, recorded, now, ip, &domain, &matched, &r_word,
        ),
    };
    finding.class = class;
    finding.reason = reason;
    if plan::is_internal(ip) && class != Class::Ok {
        finding.reason.push_str(&format!(
            " Note: {ip} is not a public address, so the receiver checked SPF against an internal hop, not the sending server."
        ));
    }
    finding.fix = fix;
    finding
}

/// Rules 5 to 9: the client is not authorized now (fail, softfail, neutral, none).
#[allow(clippy::too_many_arguments)]
fn classify_not_authorized(
    obs: &Observation,
    plan: &Plan,
    evidence: &Evidence,
    current: &Evaluation,
    recorded: Option<SpfResult>,
    now: SpfResult,
    ip: IpAddr,
    domain: &str,
    matched: &str,
    r_word: &str,
) -> (Class, String, String) {
    let authorizing = evidence
        .related
        .iter()
        .find(|r| r.evaluation.result == SpfResult::Pass);
    let add_fix = |target: &str| match authorizing {
        Some(rel) => format!(
            "Add {} (or include:{}) to the SPF record of {target}, send from a server {target} lists, or use an envelope-from in {}.",
            ip_term(ip),
            rel.domain,
            rel.domain
        ),
        None => format!(
            "Add {} to the SPF record of {target}, or send from a server it lists.",
            ip_term(ip)
        ),
    };

    // 5. regressed
    if recorded == Some(SpfResult::Pass) {
        return (
            Class::Regressed,
            format!(
                "Passed at delivery{}, but {now} now ({matched}): {domain} no longer authorizes {ip}.",
                when(obs)
            ),
            add_fix(domain),
        );
    }

    // 6. forwarded
    if let Some(hop) = evidence
        .hops
        .iter()
        .find(|h| h.evaluation.result == SpfResult::Pass)
    {
        let via = hop
            .question
            .name
            .as_deref()
            .map_or(String::new(), |n| format!(" ({n})"));
        let srs = plan.srs.as_ref().map_or(String::new(), |s| {
            format!(" (SRS envelope rewritten by {})", s.forwarder)
        });
        return (
            Class::Forwarded,
            format!(
                "Forwarded{srs}: an earlier hop {}{via} is authorized for {} ({}), and {ip} relayed it.",
                hop.question.ip,
                hop.question.domain,
                matched_text(&hop.evaluation)
            ),
            "Nothing for the original sender: the forwarder should rewrite the envelope-from (SRS), or the receiver should trust it (ARC or a forwarder allow-list).".to_string(),
        );
    }
    if let Some(srs) = &plan.srs {
        return (
            Class::Forwarded,
            format!(
                "Forwarded: the envelope-from is an SRS address of {} for {}, and {ip} is not authorized for {domain} ({matched}).",
                srs.forwarder, srs.original_domain
            ),
            format!(
                "The forwarder {} should authorize {ip} in its own SPF record ({}).",
                srs.forwarder,
                ip_term(ip)
            ),
        );
    }
    if let Some(upstream) = upstream_pass(obs, domain) {
        return (
            Class::Forwarded,
            format!("Forwarded: {upstream} recorded pass for {domain} upstream, and {ip} relayed it ({matched})."),
            "Nothing for the original sender: the forwarder should rewrite the envelope-from (SRS), or the receiver should trust its ARC seal.".to_string(),
        );
    }

    // 7. misconfigured
    if let Some(rel) = authorizing {
        let how = match rel.relation {
            Relation::HeaderFrom => "the header From domain",
            Relation::OrganizationalDomain => "its organisational domain",
            Relation::HeaderFromOrganizationalDomain => "the header From's organisational domain",
            Relation::Helo => "the HELO name",
        };
        return (
            Class::Misconfigured,
            format!(
                "{ip} is not authorized by {domain} ({matched}, recorded {r_word}), but {how} {} authorizes it ({}): a legitimate sender with a misconfigured record.",
                rel.domain,
                matched_text(&rel.evaluation)
            ),
            add_fix(domain),
        );
    }

    match now {
        // 8. unauthorized
        SpfResult::Fail | SpfResult::SoftFail => (
            Class::Unauthorized,
            format!(
                "{ip} is not authorized to send for {domain} ({matched}) and no related domain authorizes it."
            ),
            String::new(),
        ),
        // 9. no_policy
        _ => {
            let reason = if current.record.is_none() {
                format!(
                    "{domain} publishes no SPF record, so {ip} can be neither authorized nor refused."
                )
            } else {
                format!("{domain}'s SPF record neither authorizes nor refuses {ip} ({matched}).")
            };
            let fix = if current.record.is_none() {
                format!(
                    "Publish an SPF record for {domain} that lists its servers and ends in -all or ~all."
                )
            } else {
                String::new()
            };
            (Class::NoPolicy, reason, fix)
        }
    }
}

/// An upstream receiver (ARC or a copied Authentication-Results) that recorded pass for the
/// same domain: proof that the message was sent legitimately and then relayed.
fn upstream_pass(obs: &Observation, domain: &str) -> Option<String> {
    let recorder = obs
        .verdict
        .as_ref()
        .and_then(|v| v.receiver.as_deref())
        .map(str::to_ascii_lowercase);
    obs.other_verdicts.iter().find_map(|v| {
        let upstream_kind = matches!(
            v.source,
            Some(
                VerdictSource::ArcAuthenticationResults
                    | VerdictSource::OriginalAuthenticationResults
            )
        );
        let other_receiver = v.receiver.as_deref().map(str::to_ascii_lowercase) != recorder;
        let same_domain = v
            .envelope_from
            .as_deref()
            .map(|e| e.rsplit_once('@').map_or(e, |(_, d)| d))
            .or(v.domain.as_deref())
            .is_some_and(|d| d.trim_end_matches('.').eq_ignore_ascii_case(domain));
        (v.result == Some(SpfResult::Pass) && upstream_kind && other_receiver && same_domain).then(
            || {
                v.receiver
                    .clone()
                    .unwrap_or_else(|| "an earlier receiver".to_string())
            },
        )
    })
}
