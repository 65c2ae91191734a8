//! `lint`: everything that makes an SPF record fail or fragile, one line per problem.
//!
//! [`lint_domain`] walks the whole include/redirect tree of a domain through the DNS (all of
//! it: no client IP is involved, so nothing stops at a first match) and returns a [`Report`]:
//! a list of [`Finding`]s, each with a severity, the record it is in, the path from the domain
//! checked to that record (`example.com -> include:_spf.example.net`) and a message, plus the
//! counters a receiver would reach in the worst case (RFC 7208 §4.6.4 DNS lookups and void
//! lookups). The command line (`spfsleuth lint`) only prints reports; `scan` can call the
//! same function.
//!
//! What is checked, and why, is listed in [`CHECKS`] (the `--help` text).

mod record_checks;
mod txt;
mod walk;

use std::fmt;

use crate::dns::Lookup;
use crate::spf::Profile;

/// How bad a finding is: an error makes receivers return permerror/temperror/none (or
/// authorises the whole Internet); a warning is fragile or probably not what was meant; info
/// is worth knowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which check produced a finding (for programs: tests, `scan`, filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// The name given is not a domain SPF can be checked for (RFC 7208 §4.3).
    InvalidDomain,
    /// No `v=spf1` TXT record at the domain checked (result none, RFC 7208 §4.5).
    NoRecord,
    /// A DNS query failed (timeout, SERVFAIL): receivers return temperror (RFC 7208 §4.4, §5).
    DnsFailure,
    /// Several `v=spf1` records at one name (permerror, RFC 7208 §4.5).
    MultipleRecords,
    /// A TXT record that looks like SPF but that receivers do not select (`"v=spf1ip4:..."`,
    /// a leading quote or space).
    LookalikeRecord,
    /// A syntax error (RFC 7208 §12), with its position; includes duplicate redirect/exp.
    Syntax,
    /// More DNS-querying terms over the tree than the profile allows (RFC 7208 §4.6.4).
    TooManyLookups,
    /// Close to the DNS-lookup limit.
    NearLookupLimit,
    /// Which record uses how many lookups (shown when the count is high).
    LookupsByRecord,
    /// Part of the tree could not be followed (macros that depend on the message, the
    /// walk's own budget): the counts are lower bounds.
    NotFollowed,
    /// One lookup that found nothing (NXDOMAIN or no data).
    VoidLookup,
    /// More void lookups than the profile allows (permerror, RFC 7208 §4.6.4).
    TooManyVoidLookups,
    /// An `mx` term whose name has more MX names than allowed (permerror, RFC 7208 §4.6.4).
    TooManyMxNames,
    /// An MX host without an address: that `mx` entry can never match.
    MxHostWithoutAddress,
    /// A null MX (RFC 7505) behind an `mx` term: it matches nothing.
    NullMx,
    /// `include:`/`redirect=` to a name without an SPF record (permerror, RFC 7208 §5.2, §6.1).
    IncludeWithoutRecord,
    /// include/redirect back to a domain already on the path.
    Loop,
    /// The same record reached twice in the tree: wasted lookups.
    DuplicateInclude,
    /// `ptr` (RFC 7208 §5.5: SHOULD NOT be used).
    Ptr,
    /// `+all`, `all`, `ip4:0.0.0.0/0`, `a/0`...: every address passes.
    PassAll,
    /// `?all` (neutral for everyone not listed).
    NeutralAll,
    /// No `all` and no `redirect=`: the default result is neutral (RFC 7208 §4.7).
    NoAll,
    /// `redirect=` in a record that has `all`: the redirect is never used (RFC 7208 §6.1).
    RedirectIgnored,
    /// Terms after `all`: never evaluated.
    AfterAll,
    /// An unknown modifier (ignored by receivers, RFC 7208 §6).
    UnknownModifier,
    /// `exp=` that cannot give an explanation, or is never used (RFC 7208 §6.2).
    Explanation,
    /// A macro in an odd place, or `%{p}` (RFC 7208 §7).
    Macro,
    /// A TXT character-string over 255 bytes (RFC 1035 §3.3: impossible on the wire).
    StringTooLong,
    /// The TXT answer is over 512 bytes: truncated over UDP without EDNS.
    AnswerTooLarge,
    /// A TXT record split into strings inside a term (joined correctly, but fragile).
    SplitInsideTerm,
    /// Strings joined without a space glue two terms together (RFC 7208 §3.3).
    GluedTerms,
    /// An address range that cannot be a mail sender on the Internet (private, loopback).
    PrivateAddress,
}

/// One problem, in one record, reached by one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub check: Check,
    /// The domain whose record (or DNS data) the problem is in.
    pub domain: String,
    /// How that record is reached from the domain checked: the domain, then the
    /// include/redirect terms, e.g. `["example.com", "include:_spf.example.net"]`.
    pub path: Vec<String>,
    /// What is wrong and, when we can tell, what to do about it.
    pub message: String,
}

impl Finding {
    /// The path as people read it: `example.com -> include:_spf.example.net`.
    pub fn path_text(&self) -> String {
        self.path.join(" -> ")
    }
}

impl fmt::Display for Finding {
    /// The message, preceded by `in PATH: ` when the record is not the domain's own (a long
    /// path is shortened in the middle).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.len() > 1 {
            write!(f, "in {}: {}", short_path(&self.path), self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

/// Everything found for one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The domain checked, normalised (lower case, no trailing dot).
    pub domain: String,
    /// Its SPF record as published, when exactly one was found.
    pub record: Option<String>,
    /// How many `v=spf1` records the domain publishes (more than one is a permerror).
    pub spf_records: usize,
    /// Findings, errors first, then warnings, then info; within a severity, in the order the
    /// tree was walked (depth first, terms left to right).
    pub findings: Vec<Finding>,
    /// DNS-querying terms (include, a, mx, ptr, exists, redirect) a receiver evaluates when
    /// nothing matches early: the worst case of RFC 7208 §4.6.4.
    pub dns_lookups: u32,
    /// Void lookups (NXDOMAIN or no data) for IPv4 clients in the same worst case.
    pub void_lookups: u32,
    /// False when part of the tree could not be followed: the counts are lower bounds.
    pub counts_exact: bool,
    /// The profile's limits the counts were compared with.
    pub max_lookups: u32,
    pub max_void_lookups: u32,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The findings of one check.
    pub fn of(&self, check: Check) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.check == check)
    }

    /// One line per finding, `DOMAIN: SEVERITY: message`, then the summary line.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .findings
            .iter()
            .map(|f| {
                printable(&format!(
                    "{}: {}: {}",
                    self.domain,
                    f.severity,
                    cap(&f.to_string(), MAX_MESSAGE)
                ))
            })
            .collect();
        lines.push(self.summary());
        lines
    }

    /// `DOMAIN: summary: 4/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 2 info;
    /// record "v=spf1 ..."`.
    pub fn summary(&self) -> String {
        let plus = if self.counts_exact { "" } else { "+" };
        let errors = self.count(Severity::Error);
        let warnings = self.count(Severity::Warning);
        let record = match &self.record {
            Some(text) => format!("record {}", crate::spf::record::quote(&cap(text, 512))),
            None if self.spf_records > 1 => format!("{} SPF records", self.spf_records),
            None => "no record".to_string(),
        };
        printable(&format!(
            "{}: summary: {}{plus}/{} DNS lookups, {}{plus}/{} void lookups, {errors} error{}, {warnings} warning{}, {} info; {record}",
            self.domain,
            self.dns_lookups,
            self.max_lookups,
            self.void_lookups,
            self.max_void_lookups,
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" },
            self.count(Severity::Info),
        ))
    }

    /// [`Report::lines`], each ended by a newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in self.lines() {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// A path as people read it, shortened in the middle when it is deep:
/// `a.example -> include:b.example -> ... (12 more) ... -> include:x.example`.
pub fn short_path(path: &[String]) -> String {
    const HEAD: usize = 2;
    const TAIL: usize = 3;
    if path.len() <= HEAD + TAIL + 1 {
        return path.join(" -> ");
    }
    let hidden = path.len() - HEAD - TAIL;
    let mut parts: Vec<String> = path[..HEAD].to_vec();
    parts.push(format!("... ({hidden} more) ..."));
    parts.extend_from_slice(&path[path.len() - TAIL..]);
    parts.join(" -> ")
}

/// Longest message printed (hostile records can make a term 64 KB long).
const MAX_MESSAGE: usize = 2000;

/// `text` cut to at most `max` bytes (on a character boundary), saying how much was left out.
pub(crate) fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..cut], text.len())
}

/// A line safe to print: control characters escaped (names and texts come from the DNS).
fn printable(line: &str) -> String {
    if !line.chars().any(char::is_control) {
        return line.to_string();
    }
    let quoted = crate::spf::record::quote(line);
    quoted[1..quoted.len() - 1].to_string()
}

/// The count from which the lookup total is reported as close to `max`.
pub fn near_limit(max: u32) -> u32 {
    (max.saturating_mul(4) / 5).max(1)
}

/// What `lint` checks (the `--help` text of `spfsleuth lint`).
pub const CHECKS: &str = "\
What is checked, for each DOMAIN, over its whole include/redirect tree (nothing stops at a
first match, since no client IP is involved):

  errors (exit status 1):
    - no SPF record at DOMAIN; several v=spf1 records at one name (RFC 7208 §4.5); a TXT
      record that looks like SPF but is not selected (\"v=spf1ip4:...\", leading quote)
    - DNS failures (timeout, SERVFAIL): receivers return temperror; which name and why
    - syntax errors with their position and text (an en dash in \"–all\", \"include: x\" with
      a space, \"ipv4:\" for \"ip4:\", unknown mechanisms, duplicate redirect=/exp=)
    - more DNS-querying terms (include, a, mx, ptr, exists, redirect) than --max-lookups
      (10), with the path where a receiver stops; more void lookups than
      --max-void-lookups (2); an mx term with more than 10 MX names (RFC 7208 §4.6.4)
    - include:/redirect= to a name without an SPF record; include/redirect loops
    - +all (or all, ip4:0.0.0.0/0, a/0): every address on the Internet passes
    - TXT character-strings over 255 bytes; strings joined without a space that glue two
      terms together (\"...include:a.example\" \"include:b.example\")
  warnings:
    - 8 or more of the 10 lookups used (with the lookups of each record); each void lookup
    - ptr (RFC 7208 §5.5 SHOULD NOT); ?all; no all and no redirect= (neutral default);
      redirect= beside all (ignored); terms after all (never reached); the same record
      included twice (wasted lookups); MX hosts without an address; misspelt or obsolete
      modifiers (redirct=, default=); exp= without a usable explanation; %{p} macros;
      a TXT answer over 512 bytes (truncated over UDP)
  info:
    - unknown modifiers; macros that depend on the message (not followed); exp= that is
      never used; a split between TXT strings inside a term; private address ranges

Output: one line per problem, `DOMAIN: SEVERITY: message`, errors first, then a summary
line per domain (lookups n/10, void lookups, record). A `+` after a count means part of the
tree could not be followed and the count is a lower bound. Exit status: 1 when any error
was found, 0 otherwise, 2 on a fatal error (bad arguments, unreadable zone file).
Void lookups are counted as for an IPv4 client (A queries). Records published only as
type SPF (99) are not looked at.";

/// Lint the SPF record of `domain` and everything it includes or redirects to (see
/// [`CHECKS`]). Never fails: DNS problems are findings.
pub async fn lint_domain(lookup: &dyn Lookup, profile: &Profile, domain: &str) -> Report {
    let name = crate::dns::normalize_name(domain.trim());
    let mut report = Report {
        // A name with control characters is invalid; keep it printable.
        domain: printable(&name),
        record: None,
        spf_records: 0,
        findings: Vec::new(),
        dns_lookups: 0,
        void_lookups: 0,
        counts_exact: true,
        max_lookups: profile.max_dns_mechanisms,
        max_void_lookups: profile.max_void_lookups,
    };
    if let Err(why) = walk::check_domain(&name) {
        report.findings.push(Finding {
            severity: Severity::Error,
            check: Check::InvalidDomain,
            domain: report.domain.clone(),
            path: vec![report.domain.clone()],
            message: format!(
                "{} is not a domain SPF can be checked for: {why}",
                crate::spf::record::quote(domain)
            ),
        });
        return report;
    }
    let outcome = walk::walk(lookup, profile, &name).await;
    report.record = outcome.record;
    report.spf_records = outcome.spf_records;
    report.findings = outcome.findings;
    report.dns_lookups = outcome.lookups;
    report.void_lookups = outcome.voids;
    report.counts_exact = outcome.exact;
    // Errors first; the sort is stable, so walk order is kept within a severity.
    report.findings.sort_by_key(|f| f.severity);
    report
}
