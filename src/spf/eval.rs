//! `check_host()` itself (RFC 7208 §4-§6): record lookup and selection, the mechanisms,
//! redirect and exp, the processing limits, and the trace of everything it did.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Arc;

use super::macros::{MacroLetter, MacroString, MacroValues};
use super::record::{self, DomainSpec, Mechanism, ParsedRecord, Term};
use super::trace::{DnsStep, Outcome, Step, Trace};
use super::{Evaluation, Matched, Problem, ProblemKind, Profile, Request};
use crate::dns::{Answer, DnsError, Lookup, RecordType, TxtStrings};
use crate::model::{Identity, SpfResult, canonical_ip};

/// Include/redirect nesting deeper than this is a permerror even when a receiver profile
/// allows many lookups: it can only be a loop.
const MAX_DEPTH: u32 = 64;

/// Longest explanation text we produce (RFC 7208 sets no limit; a log line should).
const MAX_EXPLANATION: usize = 2048;

/// How many items of an answer a trace line shows.
const SUMMARY_ITEMS: usize = 8;

pub(super) async fn check_host(
    lookup: &dyn Lookup,
    profile: &Profile,
    request: &Request,
) -> Evaluation {
    let ip = canonical_ip(request.ip);
    let helo = request.helo.trim().trim_end_matches('.').to_string();
    let domain = evaluated_domain(request).to_string();
    // RFC 7208 §2.3/§2.4: the HELO identity and the null sender both use postmaster@HELO.
    // §4.3: a missing local-part is "postmaster".
    let mail_from = request.mail_from.trim();
    let local = match (request.identity, mail_from.rfind('@')) {
        (Identity::MailFrom, Some(at)) if at > 0 => mail_from[..at].to_string(),
        _ => "postmaster".to_string(),
    };

    let mut engine = Engine {
        lookup,
        profile,
        ip,
        sender_local: local,
        sender_domain: domain.clone(),
        helo,
        dns_lookups: 0,
        void_lookups: 0,
        validated: None,
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };

    // §4.3: a malformed domain, or one that is not multi-label, gives "none".
    if let Err(why) = check_initial_domain(&domain) {
        let detail = format!("not a domain SPF can be checked for: {why}");
        return Evaluation {
            result: SpfResult::None,
            domain: domain.clone(),
            record: None,
            matched: None,
            explanation: None,
            problem: Some(Problem {
                kind: ProblemKind::InvalidDomain,
                domain: domain.clone(),
                detail: detail.clone(),
            }),
            dns_lookups: 0,
            void_lookups: 0,
            trace: Trace {
                domain,
                result: Some(SpfResult::None),
                note: Some(detail),
                ..Trace::default()
            },
        };
    }

    let (verdict, trace) = engine.evaluate(domain.clone(), 0, true).await;
    Evaluation {
        result: verdict.result,
        domain,
        record: trace.record.clone(),
        matched: verdict.matched,
        explanation: verdict.explanation,
        problem: verdict.problem,
        dns_lookups: engine.dns_lookups,
        void_lookups: engine.void_lookups,
        trace,
    }
}

/// The `<domain>` argument of check_host() for a request (RFC 7208 §4.1): the HELO name for
/// the HELO identity and for the null sender (§2.3, §2.4), else the domain of the MAIL FROM
/// (all of it when it has no `@`); surrounding blanks and trailing dots dropped, case kept.
pub fn evaluated_domain(request: &Request) -> &str {
    let helo = request.helo.trim().trim_end_matches('.');
    let mail_from = request.mail_from.trim();
    match request.identity {
        Identity::Helo => helo,
        Identity::MailFrom if mail_from.is_empty() => helo,
        Identity::MailFrom => match mail_from.rfind('@') {
            Some(at) => mail_from[at + 1..].trim_end_matches('.'),
            None => mail_from.trim_end_matches('.'),
        },
    }
}

/// §4.3: the `<domain>` must be a multi-label name with labels of 1 to 63 characters.
/// Domain literals, bare IP addresses and names with odd characters are not domains.
pub(crate) fn check_initial_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("it is empty".into());
    }
    if domain.starts_with('[') {
        return Err("it is an address literal".into());
    }
    if let Some(c) = domain
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(if c.is_ascii() {
            format!("it contains {}", super::macros::describe_char(c))
        } else {
            "it is not ASCII (internationalised names must be written as A-labels)".into()
        });
    }
    check_query_name(domain)?;
    let mut labels = domain.split('.');
    let last = labels.next_back().unwrap_or("");
    if labels.next().is_none() {
        return Err("it is a single label, not a fully qualified domain name".into());
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err("it is an IP address, not a domain name".into());
    }
    Ok(())
}

/// Can `name` be asked at all? Labels of 1 to 63 octets, at most 253 octets in all.
pub(crate) fn check_query_name(name: &str) -> Result<(), String> {
    let n = name.strip_suffix('.').unwrap_or(name);
    if n.is_empty() {
        return Err("the name is empty".into());
    }
    if n.len() > 253 {
        return Err(format!(
            "the name is {} characters long (at most 253)",
            n.len()
        ));
    }
    for label in n.as_bytes().split(|&b| b == b'.') {
        if label.is_empty() {
            return Err("the name has an empty label".into());
        }
        if label.len() > 63 {
            return Err(format!(
                "the name has a label of {} characters (at most 63)",
                label.len()
            ));
        }
    }
    Ok(())
}

/// A name quoted for a message, control characters escaped.
fn show(name: &str) -> String {
    record::quote(name)
}

/// What one record (with its includes and redirects) decided.
struct Verdict {
    result: SpfResult,
    matched: Option<Matched>,
    explanation: Option<String>,
    problem: Option<Problem>,
}

impl Verdict {
    fn error(result: SpfResult, kind: ProblemKind, domain: &str, detail: String) -> Verdict {
        Verdict {
            result,
            matched: None,
            explanation: None,
            problem: Some(Problem {
                kind,
                domain: domain.to_string(),
                detail,
            }),
        }
    }
}

/// A term that ends the evaluation with permerror or temperror.
struct Abort {
    result: SpfResult,
    problem: Problem,
}

impl Abort {
    fn perm(kind: ProblemKind, domain: &str, detail: String) -> Abort {
        Abort {
            result: SpfResult::PermError,
            problem: Problem {
                kind,
                domain: domain.to_string(),
                detail,
            },
        }
    }

    /// A DNS failure other than NXDOMAIN: temperror (RFC 7208 §5).
    fn dns(name: &str, rtype: RecordType, error: &DnsError) -> Abort {
        Abort {
            result: SpfResult::TempError,
            problem: Problem {
                kind: ProblemKind::Dns,
                domain: name.to_string(),
                detail: format!("DNS {rtype} query for {name}: {error}"),
            },
        }
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The state of one `check_host()` call: the request, the shared counters of §4.6.4, and
/// the validated PTR names once computed.
struct Engine<'a> {
    lookup: &'a dyn Lookup,
    profile: &'a Profile,
    /// The client IP, IPv4-mapped IPv6 already turned into IPv4 (§5).
    ip: IpAddr,
    sender_local: String,
    sender_domain: String,
    helo: String,
    dns_lookups: u32,
    void_lookups: u32,
    /// PTR names of `ip` that resolve back to it (for `%{p}`), computed at most once.
    validated: Option<Vec<String>>,
    timestamp: u64,
}

/// How the answer of one query is counted.
enum Fetched {
    Answer(Arc<Answer>),
    /// NXDOMAIN (`true`) or an empty answer (a "void lookup" when a term asked).
    Void(bool),
    /// The name cannot be asked (empty label, label over 63 octets): treated as non-existent.
    Unaskable,
    Failed(DnsError),
}

impl<'a> Engine<'a> {
    /// Ask one question and describe the answer in `steps`.
    async fn fetch(
        &self,
        name: &str,
        rtype: RecordType,
        steps: &mut Vec<DnsStep>,
        counts_void: bool,
    ) -> Fetched {
        if let Err(why) = check_query_name(name) {
            steps.push(DnsStep {
                name: name.to_string(),
                rtype,
                answer: format!("not asked: {why}; treated as non-existent"),
            });
            return Fetched::Unaskable;
        }
        let void = if counts_void { " (void)" } else { "" };
        let (fetched, answer) = match self.lookup.lookup(name, rtype).await {
            Ok(answer) if answer.is_empty() => (Fetched::Void(false), format!("no data{void}")),
            Ok(answer) => {
                let text = summary_of(&answer);
                (Fetched::Answer(answer), text)
            }
            Err(DnsError::NxDomain) => (Fetched::Void(true), format!("NXDOMAIN{void}")),
            Err(DnsError::InvalidName(why)) => (
                Fetched::Unaskable,
                format!("invalid name ({why}); treated as non-existent"),
            ),
            Err(e) => {
                let text = e.to_string();
                (Fetched::Failed(e), text)
            }
        };
        steps.push(DnsStep {
            name: name.to_string(),
            rtype,
            answer,
        });
        fetched
    }

    /// Count one DNS-querying term (§4.6.4): beyond the limit, permerror.
    fn count_lookup(&mut self, domain: &str, term: &str) -> Result<(), Abort> {
        self.dns_lookups += 1;
        if self.dns_lookups > self.profile.max_dns_mechanisms {
            return Err(Abort::perm(
                ProblemKind::TooManyLookups,
                domain,
                format!(
                    "more than {} DNS-querying terms (include, a, mx, ptr, exists, redirect); \"{term}\" is number {}",
                    self.profile.max_dns_mechanisms, self.dns_lookups
                ),
            ));
        }
        Ok(())
    }

    /// Count one void lookup (§4.6.4): beyond the limit, permerror.
    fn count_void(&mut self, domain: &str, term: &str) -> Result<(), Abort> {
        self.void_lookups += 1;
        if self.void_lookups > self.profile.max_void_lookups {
            return Err(Abort::perm(
                ProblemKind::TooManyVoidLookups,
                domain,
                format!(
                    "more than {} DNS lookups with no answer (void lookups); \"{term}\" is number {}",
                    self.profile.max_void_lookups, self.void_lookups
                ),
            ));
        }
        Ok(())
    }

    fn values<'v>(&'v self, domain: &'v str, validated_name: &'v str) -> MacroValues<'v> {
        MacroValues {
            sender_local: &self.sender_local,
            sender_domain: &self.sender_domain,
            domain,
            ip: self.ip,
            helo: &self.helo,
            validated_name,
            receiver: &self.profile.receiver,
            timestamp: self.timestamp,
        }
    }

    /// `%{p}` (§7.3): a validated name of the client equal to `domain`, else one below it,
    /// else any, else `unknown`.
    async fn validated_name(&mut self, domain: &str, steps: &mut Vec<DnsStep>) -> String {
        if self.validated.is_none() {
            let names = self.validated_names(steps).await;
            self.validated = Some(names);
        }
        let names = self.validated.as_deref().unwrap_or_default();
        let chosen = names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(domain))
            .or_else(|| names.iter().find(|n| is_subdomain(n, domain)))
            .or_else(|| names.first());
        chosen.map_or_else(|| "unknown".to_string(), Clone::clone)
    }

    /// The PTR names of the client that resolve back to its address (§5.5), at most
    /// `max_ptr_names` of them tried. DNS errors skip a name.
    async fn validated_names(&self, steps: &mut Vec<DnsStep>) -> Vec<String> {
        let names = match self
            .fetch(&reverse_name(self.ip), RecordType::Ptr, steps, false)
            .await
        {
            Fetched::Answer(answer) => match &*answer {
                Answer::Ptr(names) => names.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let candidates: Vec<&str> = names
            .iter()
            .take(self.profile.max_ptr_names)
            .map(|n| n.trim_end_matches('.'))
            .collect();
        let valid = self.validate(&candidates, steps).await;
        candidates
            .iter()
            .zip(valid)
            .filter(|(_, ok)| *ok)
            .map(|(name, _)| name.to_ascii_lowercase())
            .collect()
    }

    /// Which of these names resolve back to the client (§5.5)? The address queries run
    /// concurrently, so names whose lookups time out cost one timeout, not one each; their
    /// answers appear in `steps` in the order of the names.
    async fn validate(&self, names: &[&str], steps: &mut Vec<DnsStep>) -> Vec<bool> {
        let checks = names.iter().map(|name| async move {
            let mut own = Vec::new();
            let ok = self.resolves_to_client(name, &mut own).await;
            (ok, own)
        });
        let results = futures::future::join_all(checks).await;
        results
            .into_iter()
            .map(|(ok, own)| {
                steps.extend(own);
                ok
            })
            .collect()
    }

    async fn resolves_to_client(&self, name: &str, steps: &mut Vec<DnsStep>) -> bool {
        match self.fetch(name, address_type(self.ip), steps, false).await {
            Fetched::Answer(answer) => addresses_match(&answer, self.ip, 32, 128),
            _ => false,
        }
    }

    /// Expand a domain-spec into the name to look up (§7.3), computing `%{p}` if used.
    async fn expand_target(
        &mut self,
        spec: &DomainSpec,
        domain: &str,
        steps: &mut Vec<DnsStep>,
    ) -> String {
        self.expand_domain_string(&spec.macro_string, domain, steps)
            .await
    }

    async fn expand_domain_string(
        &mut self,
        ms: &MacroString,
        domain: &str,
        steps: &mut Vec<DnsStep>,
    ) -> String {
        let p = if ms.uses(MacroLetter::ValidatedName) {
            self.validated_name(domain, steps).await
        } else {
            String::new()
        };
        ms.expand_domain(&self.values(domain, &p))
    }

    /// Evaluate the record of `domain` (§4.4 to §4.7), with its includes and redirect.
    /// `explain`: this evaluation's fail may need an explanation (not inside an include).
    fn evaluate(
        &mut self,
        domain: String,
        depth: u32,
        explain: bool,
    ) -> BoxFuture<'_, (Verdict, Trace)> {
        Box::pin(async move {
            let mut trace = Trace {
                domain: domain.clone(),
                ..Trace::default()
            };
            let verdict = self
                .evaluate_into(&domain, depth, explain, &mut trace)
                .await;
            trace.result = Some(verdict.result);
            if trace.note.is_none()
                && let Some(problem) = &verdict.problem
                && problem.domain == domain
                && matches!(verdict.result, SpfResult::None)
            {
                trace.note = Some(problem.detail.clone());
            }
            (verdict, trace)
        })
    }

    async fn evaluate_into(
        &mut self,
        domain: &str,
        depth: u32,
        explain: bool,
        trace: &mut Trace,
    ) -> Verdict {
        // §4.4: the TXT records of the domain.
        let answer = match self
            .fetch(domain, RecordType::Txt, &mut trace.lookups, false)
            .await
        {
            Fetched::Answer(answer) => answer,
            Fetched::Void(nxdomain) => {
                let why = if nxdomain {
                    "the domain does not exist (NXDOMAIN)"
                } else {
                    "it has no TXT records"
                };
                return Verdict::error(
                    SpfResult::None,
                    ProblemKind::NoRecord,
                    domain,
                    format!("{NO_RECORD}{why}"),
                );
            }
            Fetched::Unaskable => {
                return Verdict::error(
                    SpfResult::None,
                    ProblemKind::InvalidDomain,
                    domain,
                    format!("{} is not a name that can be looked up", show(domain)),
                );
            }
            Fetched::Failed(e) => {
                let abort = Abort::dns(domain, RecordType::Txt, &e);
                trace.note = Some(abort.problem.detail.clone());
                return Verdict::error(
                    abort.result,
                    abort.problem.kind,
                    domain,
                    abort.problem.detail,
                );
            }
        };

        // §4.5: exactly one record starting with "v=spf1".
        let Answer::Txt(records) = &*answer else {
            return Verdict::error(
                SpfResult::TempError,
                ProblemKind::Dns,
                domain,
                format!("DNS TXT query for {domain} returned another record type"),
            );
        };
        let (count, parsed) = select_record(&answer, records);
        if count > 1 {
            let detail = format!("{count} SPF records published (there must be exactly one)");
            trace.note = Some(detail.clone());
            return Verdict::error(
                SpfResult::PermError,
                ProblemKind::MultipleRecords,
                domain,
                detail,
            );
        }
        let Some(parsed) = parsed else {
            return Verdict::error(
                SpfResult::None,
                ProblemKind::NoRecord,
                domain,
                if records.len() == 1 {
                    format!("{NO_RECORD}its one TXT record does not start with \"v=spf1\"")
                } else {
                    format!(
                        "{NO_RECORD}none of its {} TXT records starts with \"v=spf1\"",
                        records.len()
                    )
                },
            );
        };
        trace.record = Some(parsed.text.clone());

        // §4.6: a syntax error anywhere is a permerror, before anything is evaluated.
        if let Some(first) = parsed.errors.first() {
            let more = parsed.errors.len() - 1;
            let detail = if more == 0 {
                format!("syntax error: {first}")
            } else {
                format!(
                    "syntax error: {first} (and {more} more error{})",
                    if more == 1 { "" } else { "s" }
                )
            };
            trace.note = Some(detail.clone());
            return Verdict::error(SpfResult::PermError, ProblemKind::Syntax, domain, detail);
        }

        match self
            .evaluate_record(&parsed, domain, depth, explain, trace)
            .await
        {
            Ok(verdict) => verdict,
            Err(abort) => {
                if trace.note.is_none() && abort.problem.domain == domain {
                    trace.note = Some(abort.problem.detail.clone());
                }
                Verdict {
                    result: abort.result,
                    matched: None,
                    explanation: None,
                    problem: Some(abort.problem),
                }
            }
        }
    }

    /// §4.6.2 and §6: the directives left to right, then redirect, then the default.
    async fn evaluate_record(
        &mut self,
        parsed: &ParsedRecord,
        domain: &str,
        depth: u32,
        explain: bool,
        trace: &mut Trace,
    ) -> Result<Verdict, Abort> {
        for (term, directive) in parsed.directives() {
            let mut step = Step {
                term: term.text.clone(),
                target: None,
                lookups: Vec::new(),
                outcome: Outcome::NotMatched,
                nested: None,
            };
            // Mechanisms that ask the DNS run in a future of their own: inlined here they made
            // every record's future larger than the allocator's per-thread cache serves.
            let matched = match local_match(self.ip, &directive.mechanism) {
                Some(matched) => Ok(matched),
                None => {
                    Box::pin(self.evaluate_mechanism(
                        term,
                        &directive.mechanism,
                        domain,
                        depth,
                        &mut step,
                    ))
                    .await
                }
            };
            match matched {
                Ok(false) => trace.steps.push(step),
                Ok(true) => {
                    step.outcome = Outcome::Matched;
                    trace.steps.push(step);
                    let result = directive.qualifier.result();
                    let explanation = if result == SpfResult::Fail && explain {
                        Box::pin(self.explanation(parsed, domain, trace)).await
                    } else {
                        None
                    };
                    return Ok(Verdict {
                        result,
                        matched: Some(Matched {
                            domain: domain.to_string(),
                            directive: term.text.clone(),
                        }),
                        explanation,
                        problem: None,
                    });
                }
                Err(abort) => {
                    step.outcome = Outcome::Error(abort.problem.detail.clone());
                    trace.steps.push(step);
                    return Err(abort);
                }
            }
        }

        // §6.1: redirect when no directive matched.
        if let Some((term, spec)) = parsed.redirect() {
            let mut step = Step {
                term: term.text.clone(),
                target: None,
                lookups: Vec::new(),
                outcome: Outcome::Applied,
                nested: None,
            };
            let result =
                Box::pin(self.redirect(term, spec, domain, depth, explain, &mut step)).await;
            if let Err(abort) = &result {
                step.outcome = Outcome::Error(abort.problem.detail.clone());
            }
            trace.steps.push(step);
            return result;
        }

        // §4.7: no match, no redirect.
        Ok(Verdict {
            result: SpfResult::Neutral,
            matched: Some(Matched {
                domain: domain.to_string(),
                directive: "default".to_string(),
            }),
            explanation: None,
            problem: None,
        })
    }

    async fn redirect(
        &mut self,
        term: &Term,
        spec: &DomainSpec,
        domain: &str,
        depth: u32,
        explain: bool,
        step: &mut Step,
    ) -> Result<Verdict, Abort> {
        let (_, nested) = self
            .evaluate_target(term, spec, domain, depth, explain, step)
            .await?;
        Ok(nested)
    }

    /// What `include:` and `redirect=` share: count the lookup, expand the target, and
    /// evaluate its record one level deeper (nested under `step` in the trace). A target
    /// without a record is a permerror for both (RFC 7208 §5.2, §6.1). Returns the target
    /// and its verdict.
    async fn evaluate_target(
        &mut self,
        term: &Term,
        spec: &DomainSpec,
        domain: &str,
        depth: u32,
        explain: bool,
        step: &mut Step,
    ) -> Result<(String, Verdict), Abort> {
        self.count_lookup(domain, &term.text)?;
        let target = self.expand_target(spec, domain, &mut step.lookups).await;
        step.target = Some(target.clone());
        if let Err(why) = check_query_name(&target) {
            return Err(Abort::perm(
                ProblemKind::IncludeWithoutRecord,
                domain,
                format!(
                    "\"{}\": the target {} cannot be looked up ({why})",
                    term.text,
                    show(&target)
                ),
            ));
        }
        if depth >= MAX_DEPTH {
            return Err(too_deep(domain, &term.text));
        }
        let (nested, nested_trace) = self.evaluate(target.clone(), depth + 1, explain).await;
        step.nested = Some(Box::new(nested_trace));
        if nested.result == SpfResult::None {
            return Err(Abort::perm(
                ProblemKind::IncludeWithoutRecord,
                domain,
                format!(
                    "\"{}\": {}",
                    term.text,
                    no_record_reason(&target, nested.problem)
                ),
            ));
        }
        Ok((target, nested))
    }

    /// §6.2: the explanation for a fail, from this record's `exp=`. Any problem (no or
    /// several TXT records, DNS error, bad syntax, not ASCII) leaves it out.
    async fn explanation(
        &mut self,
        parsed: &ParsedRecord,
        domain: &str,
        trace: &mut Trace,
    ) -> Option<String> {
        if !self.profile.explanations {
            return None;
        }
        let (term, spec) = parsed.explanation()?;
        let mut step = Step {
            term: term.text.clone(),
            target: None,
            lookups: Vec::new(),
            outcome: Outcome::Applied,
            nested: None,
        };
        let result = self.fetch_explanation(spec, domain, &mut step).await;
        step.outcome = match &result {
            Ok(_) => Outcome::Applied,
            Err(why) => Outcome::Skipped(why.clone()),
        };
        trace.steps.push(step);
        result.ok()
    }

    async fn fetch_explanation(
        &mut self,
        spec: &DomainSpec,
        domain: &str,
        step: &mut Step,
    ) -> Result<String, String> {
        let target = self.expand_target(spec, domain, &mut step.lookups).await;
        step.target = Some(target.clone());
        // Explanation lookups are not counted (exp-void in the RFC 7208 test suite).
        let answer = match self
            .fetch(&target, RecordType::Txt, &mut step.lookups, false)
            .await
        {
            Fetched::Answer(answer) => answer,
            Fetched::Void(_) | Fetched::Unaskable => return Err("no TXT record".into()),
            Fetched::Failed(e) => return Err(format!("DNS error ({e})")),
        };
        let Answer::Txt(records) = &*answer else {
            return Err("no TXT record".into());
        };
        let [strings] = records.as_slice() else {
            return Err(format!("{} TXT records instead of one", records.len()));
        };
        let joined = strings.concat();
        let Ok(text) = std::str::from_utf8(&joined) else {
            return Err("the text is not ASCII".into());
        };
        if !text.is_ascii() {
            return Err("the text is not ASCII".into());
        }
        let ms = MacroString::parse(text, super::macros::MacroContext::Explanation)
            .map_err(|e| format!("syntax error in the text: {}", e.detail))?;
        let p = if ms.uses(MacroLetter::ValidatedName) {
            self.validated_name(domain, &mut step.lookups).await
        } else {
            String::new()
        };
        let mut out = String::new();
        ms.expand_into(&self.values(domain, &p), &mut out, MAX_EXPLANATION);
        // Values from the request (a local-part from a log) may hold control characters;
        // an explanation is shown to people and written into reports.
        if out.contains(char::is_control) {
            out = out
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
        }
        Ok(out)
    }

    /// §5: does this mechanism match? Errors end the evaluation.
    async fn evaluate_mechanism(
        &mut self,
        term: &Term,
        mechanism: &Mechanism,
        domain: &str,
        depth: u32,
        step: &mut Step,
    ) -> Result<bool, Abort> {
        if let Some(matched) = local_match(self.ip, mechanism) {
            return Ok(matched);
        }
        match mechanism {
            Mechanism::All | Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. } => Ok(false),
            Mechanism::Include { domain: spec } => {
                let (target, nested) = self
                    .evaluate_target(term, spec, domain, depth, false, step)
                    .await?;
                // §5.2: the include result table (none was a permerror already).
                match nested.result {
                    SpfResult::Pass => Ok(true),
                    SpfResult::TempError | SpfResult::PermError => Err(Abort {
                        result: nested.result,
                        problem: nested.problem.unwrap_or_else(|| Problem {
                            kind: ProblemKind::Dns,
                            domain: target.clone(),
                            detail: format!("{} evaluated to {}", target, nested.result),
                        }),
                    }),
                    SpfResult::Fail
                    | SpfResult::SoftFail
                    | SpfResult::Neutral
                    | SpfResult::None => Ok(false),
                }
            }
            Mechanism::A { domain: spec, cidr } => {
                self.count_lookup(domain, &term.text)?;
                let target = match spec {
                    Some(spec) => self.expand_target(spec, domain, &mut step.lookups).await,
                    None => domain.to_string(),
                };
                step.target = Some(target.clone());
                let rtype = address_type(self.ip);
                match self.fetch(&target, rtype, &mut step.lookups, true).await {
                    Fetched::Answer(answer) => Ok(addresses_match(
                        &answer,
                        self.ip,
                        cidr.ip4_len(),
                        cidr.ip6_len(),
                    )),
                    Fetched::Void(_) => {
                        self.count_void(domain, &term.text)?;
                        Ok(false)
                    }
                    Fetched::Unaskable => Ok(false),
                    Fetched::Failed(e) => Err(Abort::dns(&target, rtype, &e)),
                }
            }
            Mechanism::Mx { domain: spec, cidr } => {
                self.count_lookup(domain, &term.text)?;
                let target = match spec {
                    Some(spec) => self.expand_target(spec, domain, &mut step.lookups).await,
                    None => domain.to_string(),
                };
                step.target = Some(target.clone());
                let answer = match self
                    .fetch(&target, RecordType::Mx, &mut step.lookups, true)
                    .await
                {
                    Fetched::Answer(answer) => answer,
                    Fetched::Void(_) => {
                        self.count_void(domain, &term.text)?;
                        return Ok(false);
                    }
                    Fetched::Unaskable => return Ok(false),
                    Fetched::Failed(e) => return Err(Abort::dns(&target, RecordType::Mx, &e)),
                };
                let Answer::Mx(mxs) = &*answer else {
                    return Ok(false);
                };
                let mut hosts: Vec<&crate::dns::Mx> = mxs
                    .iter()
                    .filter(|mx| !mx.exchange.is_empty() && mx.exchange != ".")
                    .collect();
                hosts.sort_by_key(|mx| mx.preference);
                // §4.6.4: more than 10 MX names is a permerror.
                if hosts.len() > self.profile.max_mx_names {
                    return Err(Abort::perm(
                        ProblemKind::TooManyMxNames,
                        domain,
                        format!(
                            "\"{}\": {target} has {} MX names (at most {} are allowed)",
                            term.text,
                            hosts.len(),
                            self.profile.max_mx_names
                        ),
                    ));
                }
                let rtype = address_type(self.ip);
                for mx in hosts {
                    match self
                        .fetch(&mx.exchange, rtype, &mut step.lookups, false)
                        .await
                    {
                        Fetched::Answer(answer) => {
                            if addresses_match(&answer, self.ip, cidr.ip4_len(), cidr.ip6_len()) {
                                return Ok(true);
                            }
                        }
                        Fetched::Void(_) | Fetched::Unaskable => {}
                        Fetched::Failed(e) => return Err(Abort::dns(&mx.exchange, rtype, &e)),
                    }
                }
                Ok(false)
            }
            Mechanism::Ptr { domain: spec } => {
                self.count_lookup(domain, &term.text)?;
                let target = match spec {
                    Some(spec) => self.expand_target(spec, domain, &mut step.lookups).await,
                    None => domain.to_string(),
                };
                step.target = Some(target.clone());
                let reverse = reverse_name(self.ip);
                // §5.5: a DNS error on the PTR query means no match.
                let names = match self
                    .fetch(&reverse, RecordType::Ptr, &mut step.lookups, true)
                    .await
                {
                    Fetched::Answer(answer) => match &*answer {
                        Answer::Ptr(names) => names.clone(),
                        _ => Vec::new(),
                    },
                    Fetched::Void(_) => {
                        self.count_void(domain, &term.text)?;
                        return Ok(false);
                    }
                    Fetched::Unaskable | Fetched::Failed(_) => return Ok(false),
                };
                let target = target.trim_end_matches('.');
                // §4.6.4: PTR names beyond the limit are ignored. Names that could not
                // match are not validated at all.
                let candidates: Vec<&str> = names
                    .iter()
                    .take(self.profile.max_ptr_names)
                    .map(|n| n.trim_end_matches('.'))
                    .filter(|n| n.eq_ignore_ascii_case(target) || is_subdomain(n, target))
                    .collect();
                let valid = self.validate(&candidates, &mut step.lookups).await;
                Ok(valid.contains(&true))
            }
            Mechanism::Exists { domain: spec } => {
                self.count_lookup(domain, &term.text)?;
                let target = self.expand_target(spec, domain, &mut step.lookups).await;
                step.target = Some(target.clone());
                // §5.7: always an A query, whatever the client's address family.
                match self
                    .fetch(&target, RecordType::A, &mut step.lookups, true)
                    .await
                {
                    Fetched::Answer(_) => Ok(true),
                    Fetched::Void(_) => {
                        self.count_void(domain, &term.text)?;
                        Ok(false)
                    }
                    Fetched::Unaskable => Ok(false),
                    Fetched::Failed(e) => Err(Abort::dns(&target, RecordType::A, &e)),
                }
            }
        }
    }
}

/// §5.1, §5.6: the mechanisms decided without the DNS (`all`, `ip4`, `ip6`); `None` for the
/// others.
fn local_match(ip: IpAddr, mechanism: &Mechanism) -> Option<bool> {
    match mechanism {
        Mechanism::All => Some(true),
        Mechanism::Ip4 { network, prefix } => Some(match ip {
            IpAddr::V4(ip) => in_v4(ip, *network, prefix.unwrap_or(32)),
            IpAddr::V6(_) => false,
        }),
        Mechanism::Ip6 { network, prefix } => Some(match ip {
            IpAddr::V6(ip) => in_v6(ip, *network, prefix.unwrap_or(128)),
            IpAddr::V4(_) => false,
        }),
        _ => None,
    }
}

/// Records parsed on this thread, by text: the records of shared providers are met again and
/// again in a batch, and parsing is the engine's main cost. Bounded: cleared when full, and
/// records longer than any real one are parsed each time rather than kept.
const PARSED_CACHE_SIZE: usize = 2048;
const PARSED_CACHE_MAX_RECORD: usize = 4096;

thread_local! {
    static PARSED: RefCell<HashMap<Box<[u8]>, Arc<ParsedRecord>>> = RefCell::new(HashMap::new());
}

/// The parsed form of a record's text (joined TXT strings), from the per-thread memo.
fn parsed_record(text: &[u8]) -> Arc<ParsedRecord> {
    if let Some(hit) = PARSED.with(|cache| cache.borrow().get(text).cloned()) {
        return hit;
    }
    let parsed = Arc::new(record::parse(&String::from_utf8_lossy(text)));
    if text.len() > PARSED_CACHE_MAX_RECORD {
        return parsed;
    }
    PARSED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= PARSED_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(text.into(), Arc::clone(&parsed));
    });
    parsed
}

/// §4.5: how many of a TXT answer's records start with "v=spf1", and the parsed record when
/// there is exactly one; from a per-thread memo by answer (see [`SUMMARIES`]), so that an
/// answer met again is neither joined nor hashed again.
fn select_record(
    answer: &Arc<Answer>,
    records: &[TxtStrings],
) -> (usize, Option<Arc<ParsedRecord>>) {
    let key = Arc::as_ptr(answer) as usize;
    if let Some(hit) =
        SELECTED.with(|memo| memo.borrow().get(&key).map(|(_, (c, p))| (*c, p.clone())))
    {
        return hit;
    }
    let mut spf: Option<Vec<u8>> = None;
    let mut count = 0;
    for strings in records {
        let joined = strings.concat();
        if record::is_spf_record(&joined) {
            count += 1;
            spf.get_or_insert(joined);
        }
    }
    let parsed = match spf {
        Some(text) if count == 1 => Some((parsed_record(&text), text.len())),
        _ => None,
    };
    if parsed
        .as_ref()
        .is_none_or(|(_, len)| *len <= PARSED_CACHE_MAX_RECORD)
    {
        SELECTED.with(|memo| {
            let mut memo = memo.borrow_mut();
            if memo.len() >= SUMMARY_CACHE_SIZE {
                memo.clear();
            }
            let kept = parsed.as_ref().map(|(p, _)| Arc::clone(p));
            memo.insert(key, (Arc::clone(answer), (count, kept)));
        });
    }
    (count, parsed.map(|(p, _)| p))
}

/// Trace summaries of answers on this thread, by answer: a run's DNS cache hands out the
/// same `Arc<Answer>` for every question about one (name, type), and formatting it again for
/// every evaluation cost more than the rest of the lookup. The entry holds the `Arc`, so its
/// address cannot be reused by another answer while the entry exists. Bounded like
/// [`PARSED`].
const SUMMARY_CACHE_SIZE: usize = 4096;

type ByAnswer<T> = HashMap<usize, (Arc<Answer>, T), BuildHasherDefault<AddressHasher>>;

thread_local! {
    static SUMMARIES: RefCell<ByAnswer<String>> = RefCell::new(HashMap::default());
    static SELECTED: RefCell<ByAnswer<(usize, Option<Arc<ParsedRecord>>)>> =
        RefCell::new(HashMap::default());
}

/// Hashes the address of an answer (never input-controlled): a multiplication.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

/// [`summarize`], from the per-thread memo.
fn summary_of(answer: &Arc<Answer>) -> String {
    let key = Arc::as_ptr(answer) as usize;
    if let Some(text) = SUMMARIES.with(|memo| memo.borrow().get(&key).map(|(_, t)| t.clone())) {
        return text;
    }
    let text = summarize(answer);
    SUMMARIES.with(|memo| {
        let mut memo = memo.borrow_mut();
        if memo.len() >= SUMMARY_CACHE_SIZE {
            memo.clear();
        }
        memo.insert(key, (Arc::clone(answer), text.clone()));
    });
    text
}

/// The start of every "no record" detail.
const NO_RECORD: &str = "no SPF record: ";

/// `X has no SPF record (why)` for an include or redirect target.
fn no_record_reason(target: &str, problem: Option<Problem>) -> String {
    match problem {
        Some(p) => match p.detail.strip_prefix(NO_RECORD) {
            Some(why) => format!("{target} has no SPF record ({why})"),
            None => format!("{target} has no SPF record ({})", p.detail),
        },
        None => format!("{target} has no SPF record"),
    }
}

fn too_deep(domain: &str, term: &str) -> Abort {
    Abort::perm(
        ProblemKind::TooManyLookups,
        domain,
        format!("\"{term}\": include/redirect nested more than {MAX_DEPTH} levels deep"),
    )
}

/// `name` ends with `.parent` (case-insensitive).
fn is_subdomain(name: &str, parent: &str) -> bool {
    let (n, p) = (name.as_bytes(), parent.as_bytes());
    n.len() > p.len() + 1
        && n[n.len() - p.len()..].eq_ignore_ascii_case(p)
        && n[n.len() - p.len() - 1] == b'.'
}

fn address_type(ip: IpAddr) -> RecordType {
    match ip {
        IpAddr::V4(_) => RecordType::A,
        IpAddr::V6(_) => RecordType::Aaaa,
    }
}

/// Does any address of an A/AAAA answer cover `ip` with the given prefix lengths?
fn addresses_match(answer: &Answer, ip: IpAddr, len4: u8, len6: u8) -> bool {
    match (answer, ip) {
        (Answer::A(addrs), IpAddr::V4(ip)) => addrs.iter().any(|a| in_v4(ip, *a, len4)),
        (Answer::Aaaa(addrs), IpAddr::V6(ip)) => addrs.iter().any(|a| in_v6(ip, *a, len6)),
        _ => false,
    }
}

fn in_v4(ip: Ipv4Addr, network: Ipv4Addr, len: u8) -> bool {
    let len = u32::from(len.min(32));
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    (u32::from(ip) & mask) == (u32::from(network) & mask)
}

fn in_v6(ip: Ipv6Addr, network: Ipv6Addr, len: u8) -> bool {
    let len = u32::from(len.min(128));
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    (u128::from(ip) & mask) == (u128::from(network) & mask)
}

/// The reverse-DNS name of an address (`4.3.2.1.in-addr.arpa`, nibbles `.ip6.arpa`).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0xf, byte >> 4] {
                    s.push(char::from(b"0123456789abcdef"[usize::from(nibble)]));
                    s.push('.');
                }
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// A short, readable account of an answer for the trace.
fn summarize(answer: &Answer) -> String {
    fn list<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
        let mut parts: Vec<String> = items.iter().take(SUMMARY_ITEMS).map(show).collect();
        if items.len() > SUMMARY_ITEMS {
            parts.push(format!("... ({} in all)", items.len()));
        }
        parts.join(", ")
    }
    match answer {
        Answer::A(v) => list(v, ToString::to_string),
        Answer::Aaaa(v) => list(v, ToString::to_string),
        Answer::Mx(v) => list(v, |mx| {
            if mx.exchange.is_empty() {
                format!("{} . (null MX)", mx.preference)
            } else {
                format!("{} {}", mx.preference, mx.exchange)
            }
        }),
        Answer::Ptr(v) => list(v, Clone::clone),
        Answer::Txt(v) => list(v, |strings| {
            let joined = String::from_utf8_lossy(&strings.concat()).into_owned();
            let mut shown: String = joined.chars().take(100).collect();
            if shown.len() < joined.len() {
                shown.push_str("...");
            }
            record::quote(&shown)
        }),
    }
}
