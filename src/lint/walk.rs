//! The tree walk of `lint`: every record reached through include/redirect, with the DNS
//! consequences of each term (RFC 7208 §4.6.4 counters, void lookups, MX names, missing
//! records, loops), in the order a receiver evaluates them when nothing matches early.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;

use super::record_checks::{self, Role};
use super::{Check, Finding, Severity, cap, near_limit, short_path, txt};
use crate::dns::{Answer, DnsError, Lookup, RecordType, TxtStrings, normalize_name};
use crate::spf::Profile;
use crate::spf::macros::{MacroContext, MacroLetter, MacroPart, MacroString, MacroValues};
use crate::spf::record::{self, DomainSpec, Mechanism, ParsedRecord, Term, TermKind, quote};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the walk found for one domain.
pub(super) struct Outcome {
    pub record: Option<String>,
    pub spf_records: usize,
    pub findings: Vec<Finding>,
    pub lookups: u32,
    pub voids: u32,
    pub exact: bool,
}

/// How many records/terms with DNS work the walk follows at most, so that a hostile tree
/// (thousands of includes) cannot make it run for long. Past it the counts are lower bounds.
fn work_budget(profile: &Profile) -> u32 {
    profile.max_dns_mechanisms.saturating_mul(4).clamp(50, 1000)
}

pub(super) async fn walk(lookup: &dyn Lookup, profile: &Profile, domain: &str) -> Outcome {
    let mut walker = Walker {
        lookup,
        profile,
        root: domain.to_string(),
        findings: Vec::new(),
        record: None,
        spf_records: 0,
        lookups: 0,
        voids: 0,
        exact: true,
        crossing: None,
        visited: HashMap::new(),
        work: 0,
        work_budget: work_budget(profile),
        budget_noted: false,
        by_record: Vec::new(),
    };
    let root = domain.to_string();
    walker
        .visit(
            root.clone(),
            Role::Root,
            vec![root.clone()],
            None,
            vec![root],
        )
        .await;
    walker.finish()
}

/// A domain whose record was walked: where it was first reached and what its subtree cost.
struct Visited {
    path: Vec<String>,
    lookups: u32,
    voids: u32,
    exact: bool,
}

struct Walker<'a> {
    lookup: &'a dyn Lookup,
    profile: &'a Profile,
    root: String,
    findings: Vec<Finding>,
    record: Option<String>,
    /// `v=spf1` records at the domain checked.
    spf_records: usize,
    lookups: u32,
    voids: u32,
    exact: bool,
    /// The term (and the path of its record) whose lookup goes past the limit.
    crossing: Option<(String, Vec<String>)>,
    visited: HashMap<String, Visited>,
    work: u32,
    work_budget: u32,
    budget_noted: bool,
    /// Path of each record walked and its own lookup terms, in walk order.
    by_record: Vec<(Vec<String>, Vec<String>)>,
}

impl<'a> Walker<'a> {
    fn push(
        &mut self,
        severity: Severity,
        check: Check,
        domain: &str,
        path: &[String],
        message: String,
    ) {
        self.findings.push(Finding {
            severity,
            check,
            domain: domain.to_string(),
            path: path.to_vec(),
            message,
        });
    }

    /// Count `n` DNS-querying terms; remember where the limit is first passed.
    fn count(&mut self, n: u32, term: &str, path: &[String]) {
        let before = self.lookups;
        self.lookups = self.lookups.saturating_add(n);
        let max = self.profile.max_dns_mechanisms;
        if before <= max && self.lookups > max && self.crossing.is_none() {
            self.crossing = Some((term.to_string(), path.to_vec()));
        }
    }

    /// May the walk do the DNS work of one more term or record?
    fn may_follow(&mut self, domain: &str, path: &[String]) -> bool {
        if self.work >= self.work_budget {
            self.exact = false;
            if !self.budget_noted {
                self.budget_noted = true;
                let budget = self.work_budget;
                self.push(
                    Severity::Info,
                    Check::NotFollowed,
                    domain,
                    path,
                    format!(
                        "stopped following the tree after {budget} DNS-querying terms: the counts are lower bounds"
                    ),
                );
            }
            return false;
        }
        self.work += 1;
        true
    }

    /// Walk the record of `domain`, reached from `parent` by the term `via` (None for the
    /// domain checked). `domains` are the domains on the path, `domain` included.
    fn visit(
        &mut self,
        domain: String,
        role: Role,
        parent: Vec<String>,
        via: Option<String>,
        domains: Vec<String>,
    ) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let path: Vec<String> = match &via {
                Some(term) => parent.iter().cloned().chain([term.clone()]).collect(),
                None => parent.clone(),
            };
            let Some(spf) = self
                .fetch_record(&domain, role, &parent, via.as_deref(), &path)
                .await
            else {
                return;
            };
            let text = String::from_utf8_lossy(&spf.concat()).into_owned();
            if role == Role::Root {
                self.record = Some(text.clone());
            }
            self.findings
                .extend(txt::check_strings(&domain, &path, &spf));
            let parsed = record::parse(&text);
            for error in &parsed.errors {
                self.push(
                    Severity::Error,
                    Check::Syntax,
                    &domain,
                    &path,
                    format!("syntax error: {error}"),
                );
            }
            self.findings
                .extend(record_checks::check(&parsed, &domain, role, &path));
            self.walk_terms(&parsed, &domain, role, &path, &domains)
                .await;
        })
    }

    /// The TXT records of `domain` and its one SPF record; every problem on the way is a
    /// finding, and `None` means there is nothing to walk.
    async fn fetch_record(
        &mut self,
        domain: &str,
        role: Role,
        parent: &[String],
        via: Option<&str>,
        path: &[String],
    ) -> Option<TxtStrings> {
        let answer = match self.lookup.lookup(domain, RecordType::Txt).await {
            Ok(answer) => answer,
            Err(DnsError::NxDomain) => {
                self.no_record(domain, role, parent, via, "does not exist (NXDOMAIN)");
                return None;
            }
            Err(DnsError::InvalidName(why)) => {
                self.no_record(
                    domain,
                    role,
                    parent,
                    via,
                    &format!("is not a name that can be looked up ({why})"),
                );
                return None;
            }
            Err(e) => {
                let what = match via {
                    None => "cannot check".to_string(),
                    Some(term) => quote(term),
                };
                self.dns_failure(&what, domain, RecordType::Txt, &e, domain, parent);
                return None;
            }
        };
        let records: &[TxtStrings] = match &*answer {
            Answer::Txt(records) => records,
            _ => &[],
        };
        let spf: Vec<&TxtStrings> = records
            .iter()
            .filter(|r| record::is_spf_record(&r.concat()))
            .collect();
        if role == Role::Root {
            self.spf_records = spf.len();
        }
        for lookalike in records.iter().filter_map(txt::lookalike) {
            let severity = if spf.is_empty() {
                Severity::Error
            } else {
                Severity::Warning
            };
            self.push(
                severity,
                Check::LookalikeRecord,
                domain,
                path,
                format!(
                    "a TXT record at {domain} looks like SPF, but receivers ignore it: {lookalike}"
                ),
            );
        }
        if let Some(size) = txt::oversized_answer(domain, records) {
            self.push(
                Severity::Warning,
                Check::AnswerTooLarge,
                domain,
                path,
                format!(
                    "the TXT answer for {domain} is about {size} bytes ({} record{}), more than 512: over UDP without EDNS it is truncated and must be retried over TCP, which some receivers do not do (temperror)",
                    records.len(),
                    if records.len() == 1 { "" } else { "s" }
                ),
            );
        }
        match spf.as_slice() {
            [] => {
                let lookalike = records.iter().any(|r| txt::lookalike(r).is_some());
                let why = match records.len() {
                    _ if lookalike => {
                        "has no TXT record that receivers take for SPF (\"v=spf1\" exactly, then a space or the end)".to_string()
                    }
                    0 => "has no TXT records".to_string(),
                    1 => "has one TXT record, and it does not start with \"v=spf1\"".to_string(),
                    n => format!("has {n} TXT records, and none starts with \"v=spf1\""),
                };
                self.no_record(domain, role, parent, via, &why);
                None
            }
            [one] => Some((*one).clone()),
            several => {
                let shown: Vec<String> = several
                    .iter()
                    .map(|r| quote(&cap(&String::from_utf8_lossy(&r.concat()), 200)))
                    .collect();
                let what = format!(
                    "{} SPF records at {domain} ({}): receivers return permerror (RFC 7208 §4.5); merge them into one",
                    several.len(),
                    shown.join(", ")
                );
                let message = match via {
                    None => what,
                    Some(term) => format!("{}: {what}", quote(term)),
                };
                self.push(
                    Severity::Error,
                    Check::MultipleRecords,
                    domain,
                    parent,
                    message,
                );
                None
            }
        }
    }

    fn no_record(
        &mut self,
        domain: &str,
        role: Role,
        parent: &[String],
        via: Option<&str>,
        why: &str,
    ) {
        let (check, message) = match (role, via) {
            (Role::Root, _) | (_, None) => (
                Check::NoRecord,
                format!(
                    "no SPF record: {domain} {why}; receivers get the result \"none\" and cannot tell forged mail from real"
                ),
            ),
            (Role::Include, Some(term)) => (
                Check::IncludeWithoutRecord,
                format!(
                    "{}: no SPF record at {domain}, which {why}; receivers return permerror (RFC 7208 §5.2)",
                    quote(term)
                ),
            ),
            (Role::Redirect, Some(term)) => (
                Check::IncludeWithoutRecord,
                format!(
                    "{}: no SPF record at {domain}, which {why}; receivers return permerror (RFC 7208 §6.1)",
                    quote(term)
                ),
            ),
        };
        self.push(Severity::Error, check, domain, parent, message);
    }

    /// The terms a receiver evaluates (up to the first `all`), then `redirect=` when there
    /// is no `all`, then the `exp=` target when it can be used.
    async fn walk_terms(
        &mut self,
        parsed: &ParsedRecord,
        domain: &str,
        role: Role,
        path: &[String],
        domains: &[String],
    ) {
        let slot = self.by_record.len();
        self.by_record.push((path.to_vec(), Vec::new()));
        let mut reached_all = false;
        for term in &parsed.terms {
            let TermKind::Directive(directive) = &term.kind else {
                continue;
            };
            if term.is_lookup() {
                self.count(1, &term.text, path);
                if let Some((_, terms)) = self.by_record.get_mut(slot) {
                    terms.push(term.text.clone());
                }
            }
            match &directive.mechanism {
                Mechanism::All => {
                    reached_all = true;
                    break;
                }
                Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. } | Mechanism::Ptr { .. } => {}
                Mechanism::Include { domain: spec } => {
                    self.follow(term, spec, domain, Role::Include, path, domains)
                        .await;
                }
                Mechanism::A { domain: spec, .. } => {
                    if let Some(target) = self.target(spec.as_ref(), domain)
                        && self.may_follow(domain, path)
                    {
                        self.check_address_term(term, &target, domain, path).await;
                    }
                }
                Mechanism::Mx { domain: spec, .. } => {
                    if let Some(target) = self.target(spec.as_ref(), domain)
                        && self.may_follow(domain, path)
                    {
                        self.check_mx(term, &target, domain, path).await;
                    }
                }
                Mechanism::Exists { domain: spec } => {
                    if let Some(target) = self.target(Some(spec), domain)
                        && self.may_follow(domain, path)
                    {
                        self.check_address_term(term, &target, domain, path).await;
                    }
                }
            }
        }
        let redirect = if reached_all { None } else { parsed.redirect() };
        if let Some((term, spec)) = redirect {
            self.count(1, &term.text, path);
            if let Some((_, terms)) = self.by_record.get_mut(slot) {
                terms.push(term.text.clone());
            }
            self.follow(term, spec, domain, Role::Redirect, path, domains)
                .await;
        }
        // §6.2: the explanation of a fail comes from the record that decided it; an included
        // record never decides the result, and a redirect hands the decision on.
        if role != Role::Include
            && redirect.is_none()
            && let Some((term, spec)) = parsed.explanation()
        {
            self.check_explanation(term, spec, domain, path).await;
        }
    }

    /// The name a term queries: its domain-spec expanded, or the current domain. `None`
    /// when the spec depends on the message (reported by the record checks).
    fn target(&self, spec: Option<&DomainSpec>, domain: &str) -> Option<String> {
        match spec {
            None => Some(domain.to_string()),
            Some(spec) => expand(&spec.macro_string, domain, &self.root).ok(),
        }
    }

    /// include/redirect: walk the target's record, unless it loops or was walked already.
    async fn follow(
        &mut self,
        term: &Term,
        spec: &DomainSpec,
        domain: &str,
        role: Role,
        path: &[String],
        domains: &[String],
    ) {
        let Ok(target) = expand(&spec.macro_string, domain, &self.root) else {
            // Depends on the message: its lookups cannot be counted.
            self.exact = false;
            return;
        };
        let target = normalize_name(&target);
        let rfc = if role == Role::Include {
            "RFC 7208 §5.2"
        } else {
            "RFC 7208 §6.1"
        };
        if let Err(why) = check_name(&target) {
            self.push(
                Severity::Error,
                Check::IncludeWithoutRecord,
                domain,
                path,
                format!(
                    "{}: the target {} cannot be looked up ({why}); receivers return permerror ({rfc})",
                    quote(&term.text),
                    quote(&target)
                ),
            );
            return;
        }
        let through: Vec<String> = path.iter().cloned().chain([term.text.clone()]).collect();
        if domains.contains(&target) {
            self.push(
                Severity::Error,
                Check::Loop,
                domain,
                path,
                format!(
                    "{} leads back to {target}: an include/redirect loop ({}); receivers count lookups until the limit and return permerror",
                    quote(&term.text),
                    short_path(&through)
                ),
            );
            return;
        }
        if let Some(seen) = self.visited.get(&target) {
            let (lookups, voids, exact) = (seen.lookups, seen.voids, seen.exact);
            let cost = lookups.saturating_add(1);
            self.push(
                Severity::Warning,
                Check::DuplicateInclude,
                domain,
                path,
                format!(
                    "{} reaches {target} a second time (first via {}): the {cost} DNS lookup{} it costs here {} wasted",
                    quote(&term.text),
                    short_path(&seen.path),
                    if cost == 1 { "" } else { "s" },
                    if cost == 1 { "is" } else { "are" },
                ),
            );
            self.count(lookups, &term.text, path);
            self.voids = self.voids.saturating_add(voids);
            self.exact &= exact;
            return;
        }
        if !self.may_follow(domain, path) {
            return;
        }
        let (lookups, voids, exact) = (self.lookups, self.voids, self.exact);
        self.exact = true;
        let mut on_path = domains.to_vec();
        on_path.push(target.clone());
        self.visit(
            target.clone(),
            role,
            path.to_vec(),
            Some(term.text.clone()),
            on_path,
        )
        .await;
        self.visited.insert(
            target,
            Visited {
                path: through,
                lookups: self.lookups - lookups,
                voids: self.voids - voids,
                exact: self.exact,
            },
        );
        self.exact &= exact;
    }

    /// One void lookup, reported where it happens.
    fn void(&mut self, term: &Term, target: &str, why: &str, domain: &str, path: &[String]) {
        self.voids = self.voids.saturating_add(1);
        let max = self.profile.max_void_lookups;
        self.push(
            Severity::Warning,
            Check::VoidLookup,
            domain,
            path,
            format!(
                "{}: {target} {why}, a void lookup (RFC 7208 §4.6.4 allows {max} in one evaluation)",
                quote(&term.text)
            ),
        );
    }

    fn dns_failure(
        &mut self,
        what: &str,
        target: &str,
        rtype: RecordType,
        error: &DnsError,
        domain: &str,
        path: &[String],
    ) {
        self.push(
            Severity::Error,
            Check::DnsFailure,
            domain,
            path,
            format!(
                "{what}: the DNS {rtype} query for {target} failed: {error} (receivers return temperror)"
            ),
        );
    }

    /// `a` and `exists`: the A query a receiver makes for an IPv4 client.
    async fn check_address_term(
        &mut self,
        term: &Term,
        target: &str,
        domain: &str,
        path: &[String],
    ) {
        let is_a = matches!(
            term.directive().map(|d| &d.mechanism),
            Some(Mechanism::A { .. })
        );
        if self.unaskable(term, target, domain, path) {
            return;
        }
        match self.lookup.lookup(target, RecordType::A).await {
            Ok(answer) if !answer.is_empty() => {}
            Ok(_) => {
                let has_aaaa = is_a
                    && matches!(self.lookup.lookup(target, RecordType::Aaaa).await,
                                Ok(a) if !a.is_empty());
                let why = if has_aaaa {
                    "has no A record, only AAAA (void for IPv4 clients)"
                } else if is_a {
                    "has no A or AAAA record"
                } else {
                    "has no A record"
                };
                self.void(term, target, why, domain, path);
            }
            Err(DnsError::NxDomain) => {
                self.void(term, target, "does not exist (NXDOMAIN)", domain, path);
            }
            Err(e) => {
                let what = quote(&term.text);
                self.dns_failure(&what, target, RecordType::A, &e, domain, path);
            }
        }
    }

    /// A target that is not a name DNS can be asked about (a warning: the term never
    /// matches). True when it was reported.
    fn unaskable(&mut self, term: &Term, target: &str, domain: &str, path: &[String]) -> bool {
        let Err(why) = check_name(target) else {
            return false;
        };
        self.push(
            Severity::Warning,
            Check::VoidLookup,
            domain,
            path,
            format!(
                "{}: {} cannot be looked up ({why}), so the term never matches",
                quote(&term.text),
                quote(target)
            ),
        );
        true
    }

    /// `mx`: the MX query (void when empty), the limit on MX names, and the hosts'
    /// addresses.
    async fn check_mx(&mut self, term: &Term, target: &str, domain: &str, path: &[String]) {
        if self.unaskable(term, target, domain, path) {
            return;
        }
        let answer = match self.lookup.lookup(target, RecordType::Mx).await {
            Ok(answer) => answer,
            Err(DnsError::NxDomain) => {
                self.void(term, target, "does not exist (NXDOMAIN)", domain, path);
                return;
            }
            Err(e) => {
                let what = quote(&term.text);
                self.dns_failure(&what, target, RecordType::Mx, &e, domain, path);
                return;
            }
        };
        let Answer::Mx(mxs) = &*answer else {
            return;
        };
        if mxs.is_empty() {
            self.void(term, target, "has no MX records", domain, path);
            return;
        }
        let mut hosts: Vec<&crate::dns::Mx> = mxs
            .iter()
            .filter(|mx| !mx.exchange.is_empty() && mx.exchange != ".")
            .collect();
        hosts.sort_by(|a, b| {
            a.preference
                .cmp(&b.preference)
                .then(a.exchange.cmp(&b.exchange))
        });
        hosts.dedup_by(|a, b| a.exchange == b.exchange);
        if hosts.is_empty() {
            self.push(
                Severity::Info,
                Check::NullMx,
                domain,
                path,
                format!(
                    "{}: {target} publishes a null MX (RFC 7505), so the term matches nothing",
                    quote(&term.text)
                ),
            );
            return;
        }
        let max = self.profile.max_mx_names;
        if hosts.len() > max {
            self.push(
                Severity::Error,
                Check::TooManyMxNames,
                domain,
                path,
                format!(
                    "{}: {target} has {} MX names, more than {max} (RFC 7208 §4.6.4): receivers return permerror",
                    quote(&term.text),
                    hosts.len()
                ),
            );
        }
        let names: Vec<String> = hosts
            .iter()
            .take(max)
            .map(|mx| mx.exchange.clone())
            .collect();
        for host in names {
            self.check_mx_host(term, target, &host, domain, path).await;
        }
    }

    async fn check_mx_host(
        &mut self,
        term: &Term,
        target: &str,
        host: &str,
        domain: &str,
        path: &[String],
    ) {
        let what = format!("{} (MX host of {target})", quote(&term.text));
        if let Err(why) = check_name(host) {
            self.push(
                Severity::Warning,
                Check::MxHostWithoutAddress,
                domain,
                path,
                format!("{what}: {} cannot be looked up ({why})", quote(host)),
            );
            return;
        }
        let why = match self.lookup.lookup(host, RecordType::A).await {
            Ok(answer) if !answer.is_empty() => return,
            Ok(_) => match self.lookup.lookup(host, RecordType::Aaaa).await {
                Ok(answer) if !answer.is_empty() => return,
                Ok(_) | Err(DnsError::NxDomain) => "has no A or AAAA record",
                Err(e) => {
                    self.dns_failure(&what, host, RecordType::Aaaa, &e, domain, path);
                    return;
                }
            },
            Err(DnsError::NxDomain) => "does not exist (NXDOMAIN)",
            Err(e) => {
                self.dns_failure(&what, host, RecordType::A, &e, domain, path);
                return;
            }
        };
        self.push(
            Severity::Warning,
            Check::MxHostWithoutAddress,
            domain,
            path,
            format!("{what}: {host} {why}, so that MX entry never matches"),
        );
    }

    /// `exp=` (RFC 7208 §6.2): the target must hold exactly one TXT record with a valid
    /// explanation string; otherwise receivers send no explanation.
    async fn check_explanation(
        &mut self,
        term: &Term,
        spec: &DomainSpec,
        domain: &str,
        path: &[String],
    ) {
        let Ok(target) = expand(&spec.macro_string, domain, &self.root) else {
            return;
        };
        let warn = |walker: &mut Self, why: String| {
            walker.push(
                Severity::Warning,
                Check::Explanation,
                domain,
                path,
                format!(
                    "{}: {why}, so receivers send no explanation with a fail",
                    quote(&term.text)
                ),
            );
        };
        if let Err(why) = check_name(&target) {
            warn(
                self,
                format!("the target {} cannot be looked up ({why})", quote(&target)),
            );
            return;
        }
        let answer = match self.lookup.lookup(&target, RecordType::Txt).await {
            Ok(answer) => answer,
            Err(DnsError::NxDomain) => {
                warn(self, format!("{target} does not exist (NXDOMAIN)"));
                return;
            }
            Err(e) => {
                warn(self, format!("the DNS TXT query for {target} failed: {e}"));
                return;
            }
        };
        let records: &[TxtStrings] = match &*answer {
            Answer::Txt(records) => records,
            _ => &[],
        };
        let [strings] = records else {
            warn(
                self,
                if records.is_empty() {
                    format!("{target} has no TXT record")
                } else {
                    format!(
                        "{target} has {} TXT records (there must be exactly one)",
                        records.len()
                    )
                },
            );
            return;
        };
        let joined = strings.concat();
        let text = match std::str::from_utf8(&joined) {
            Ok(text) if text.is_ascii() => text,
            _ => {
                warn(self, format!("the text at {target} is not plain ASCII"));
                return;
            }
        };
        if record::is_spf_record(text.as_bytes()) {
            warn(
                self,
                format!(
                    "{target} holds an SPF record, not an explanation text (exp= names a TXT record with a sentence for the rejected sender)"
                ),
            );
            return;
        }
        if let Err(e) = MacroString::parse(text, MacroContext::Explanation) {
            warn(
                self,
                format!(
                    "the text at {target} has a macro error: {} at position {}",
                    e.detail,
                    text[..e.offset.min(text.len())].chars().count() + 1
                ),
            );
        }
    }

    /// The findings about the counters, once the tree is walked.
    fn finish(mut self) -> Outcome {
        let root = self.root.clone();
        let root_path = vec![root.clone()];
        let max = self.profile.max_dns_mechanisms;
        let n = self.lookups;
        let at_least = if self.exact { "" } else { "at least " };
        let high = if n > max {
            let place = match &self.crossing {
                Some((term, path)) => format!(
                    "; a receiver stops with permerror at lookup {}, {} in {}",
                    u64::from(max) + 1,
                    quote(term),
                    short_path(path)
                ),
                None => String::new(),
            };
            self.push(
                Severity::Error,
                Check::TooManyLookups,
                &root,
                &root_path,
                format!(
                    "{at_least}{n} DNS lookups over the include tree (include, a, mx, ptr, exists, redirect), more than the limit of {max} (RFC 7208 §4.6.4){place}"
                ),
            );
            true
        } else if n >= near_limit(max) {
            let left = max - n;
            self.push(
                Severity::Warning,
                Check::NearLookupLimit,
                &root,
                &root_path,
                format!(
                    "{at_least}{n} of {max} DNS lookups used over the include tree (RFC 7208 §4.6.4): {}",
                    match left {
                        0 => "one more include, a, mx, ptr or exists breaks the record".to_string(),
                        1 => "one more lookup is left".to_string(),
                        _ => format!("{left} more lookups are left"),
                    }
                ),
            );
            true
        } else {
            false
        };
        if high {
            let records: Vec<(Vec<String>, Vec<String>)> = std::mem::take(&mut self.by_record)
                .into_iter()
                .filter(|(_, terms)| !terms.is_empty())
                .collect();
            let total = records.len();
            for (shown, (path, terms)) in records.into_iter().enumerate() {
                if shown == MAX_RECORD_LINES {
                    self.push(
                        Severity::Info,
                        Check::LookupsByRecord,
                        &root,
                        &root_path,
                        format!(
                            "and {} more records with DNS lookups",
                            total - MAX_RECORD_LINES
                        ),
                    );
                    break;
                }
                let shown = list(&terms, 12);
                self.push(
                    Severity::Info,
                    Check::LookupsByRecord,
                    &root,
                    &root_path,
                    format!(
                        "{} DNS lookup{} in {}: {shown}",
                        terms.len(),
                        if terms.len() == 1 { "" } else { "s" },
                        short_path(&path)
                    ),
                );
            }
        }
        let max_void = self.profile.max_void_lookups;
        if self.voids > max_void {
            let v = self.voids;
            self.push(
                Severity::Error,
                Check::TooManyVoidLookups,
                &root,
                &root_path,
                format!(
                    "{at_least}{v} void lookups over the include tree, more than the limit of {max_void} (RFC 7208 §4.6.4): receivers return permerror"
                ),
            );
        }
        Outcome {
            record: self.record,
            spf_records: self.spf_records,
            findings: self.findings,
            lookups: self.lookups,
            voids: self.voids,
            exact: self.exact,
        }
    }
}

/// How many records the lookups-by-record lines list at most.
const MAX_RECORD_LINES: usize = 20;

/// Terms separated by spaces, at most `max` of them shown.
fn list(terms: &[String], max: usize) -> String {
    let mut shown: Vec<String> = terms.iter().take(max).map(|t| cap(t, 100)).collect();
    if terms.len() > max {
        shown.push(format!("and {} more", terms.len() - max));
    }
    shown.join(" ")
}

/// Expand a domain-spec when it depends only on the domain (`%{d}`, `%{o}`: the sender's
/// domain is the domain checked); otherwise the macros that depend on the message, e.g.
/// `%{i}, %{l}`.
pub(super) fn expand(ms: &MacroString, domain: &str, root: &str) -> Result<String, String> {
    let blocking = message_macros(ms);
    if !blocking.is_empty() {
        return Err(blocking);
    }
    let values = MacroValues {
        sender_local: "postmaster",
        sender_domain: root,
        domain,
        ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        helo: "",
        validated_name: "unknown",
        receiver: "unknown",
        timestamp: 0,
    };
    Ok(ms.expand_domain(&values))
}

/// The macros of `ms` that depend on the message (everything but `%{d}` and `%{o}`), as
/// `%{i}, %{l}`; empty when there are none.
pub(super) fn message_macros(ms: &MacroString) -> String {
    let mut letters: Vec<char> = Vec::new();
    for part in &ms.parts {
        if let MacroPart::Macro(m) = part
            && !matches!(m.letter, MacroLetter::Domain | MacroLetter::SenderDomain)
        {
            let c = m.letter.as_char();
            if !letters.contains(&c) {
                letters.push(c);
            }
        }
    }
    letters
        .iter()
        .map(|c| format!("%{{{c}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) use crate::spf::eval::{
    check_initial_domain as check_domain, check_query_name as check_name,
};
