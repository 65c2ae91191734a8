//! Our own RFC 7208 `check_host()`: results with reasons and a trace a person can follow.
//!
//! A permerror or temperror is a result, not an `Err`: every evaluation returns an
//! [`Evaluation`] that says what was decided, by which directive of which record, and why.
//!
//! - [`record`]: the record syntax (RFC 7208 §12 ABNF): [`record::parse`] gives every term
//!   with its span and meaning, and every syntax error with its position and a message
//!   (`lint` builds on it).
//! - [`macros`]: macro strings (§7): parsed with the record, expanded per evaluation.
//! - `eval`: [`check_host`] itself (§4-§6), the processing limits of [`Profile`].
//! - [`trace`]: the tree of records, terms and DNS answers, and its text rendering.
//!
//! The engine passes all 203 tests of the openspf RFC 7208 suite (`tests/rfc7208_suite.rs`).
//! Where the RFC leaves a choice, it takes these: a target name that cannot be queried
//! (empty label, label over 63 octets) does not exist and matches nothing; more than
//! `max_mx_names` MX names is a permerror before any address is asked; PTR names beyond
//! `max_ptr_names` are ignored; explanation lookups count neither as lookups nor as void
//! lookups; `%{i}` writes IPv6 nibbles in upper case, as pyspf and the suite do.

pub mod macros;
pub mod record;
pub mod trace;

pub(crate) mod eval;

pub use eval::{evaluated_domain, reverse_name};

use std::fmt;
use std::net::IpAddr;

use crate::dns::Lookup;
use crate::model::{Identity, SpfResult};

/// Receiver policy knobs. The defaults are the processing limits of RFC 7208 §4.6.4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Terms that cause DNS queries (include, a, mx, ptr, exists, redirect): 10.
    pub max_dns_mechanisms: u32,
    /// DNS queries that return no usable answer (NXDOMAIN or no data): 2.
    pub max_void_lookups: u32,
    /// MX names looked up per `mx` term: 10.
    pub max_mx_names: usize,
    /// PTR names validated per `ptr` term or `%{p}` macro: 10.
    pub max_ptr_names: usize,
    /// The receiving host's domain, for the `%{r}` macro (RFC 7208 §7.3).
    pub receiver: String,
    /// Fetch and expand `exp=` explanations on fail (RFC 7208 §6.2).
    pub explanations: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            max_dns_mechanisms: 10,
            max_void_lookups: 2,
            max_mx_names: 10,
            max_ptr_names: 10,
            receiver: "unknown".to_string(),
            explanations: true,
        }
    }
}

/// One question: is `ip` allowed to use this identity (RFC 7208 §4.1 arguments)?
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    pub ip: IpAddr,
    /// MAIL FROM as given, without angle brackets; empty for the null sender.
    pub mail_from: String,
    /// HELO/EHLO name as given.
    pub helo: String,
    /// Which identity to check: the MAIL FROM domain (null sender: `postmaster@HELO`,
    /// RFC 7208 §2.4) or the HELO name (§2.3).
    pub identity: Identity,
}

/// The directive that decided a result, with the domain whose record holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub domain: String,
    /// The directive as written in the record, e.g. `-all`, `ip4:192.0.2.0/24`,
    /// `include:_spf.example.com`; `default` when no directive matched and there was no
    /// redirect (RFC 7208 §4.7 neutral).
    pub directive: String,
}

impl fmt::Display for Matched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.domain, self.directive)
    }
}

/// Why an evaluation ended in permerror or temperror (or none), in categories that the
/// classifier and reports can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// No SPF record (result none).
    NoRecord,
    /// The domain is not a valid FQDN for SPF (RFC 7208 §4.3, result none).
    InvalidDomain,
    /// Record syntax error (RFC 7208 §4.6, §12).
    Syntax,
    /// More than one `v=spf1` record (RFC 7208 §4.5).
    MultipleRecords,
    /// More than `max_dns_mechanisms` lookup terms (RFC 7208 §4.6.4).
    TooManyLookups,
    /// More than `max_void_lookups` void lookups (RFC 7208 §4.6.4).
    TooManyVoidLookups,
    /// More than `max_mx_names` MX names (RFC 7208 §4.6.4).
    TooManyMxNames,
    /// `include:` of a domain without a record, or `redirect=` to one (RFC 7208 §5.2, §6.1).
    IncludeWithoutRecord,
    /// A DNS error other than NXDOMAIN (temperror, RFC 7208 §2.6.6).
    Dns,
}

/// What went wrong, where, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The domain whose record or lookup caused it.
    pub domain: String,
    /// A sentence fragment a person can read, e.g. `unknown mechanism "–all" at position 37`.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.domain, self.detail)
    }
}

/// The outcome of `check_host()` for one [`Request`].
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub result: SpfResult,
    /// The `<domain>` argument that was evaluated (RFC 7208 §4.1).
    pub domain: String,
    /// The top-level SPF record of `domain` as published, if one was found.
    pub record: Option<String>,
    /// The directive that decided the result; `None` when no record was evaluated
    /// to a decision (none, early permerror/temperror).
    pub matched: Option<Matched>,
    /// The explanation string for fail (RFC 7208 §6.2), expanded.
    pub explanation: Option<String>,
    /// Why the result is none/permerror/temperror.
    pub problem: Option<Problem>,
    /// Lookup-counting terms used (RFC 7208 §4.6.4).
    pub dns_lookups: u32,
    /// Void lookups seen.
    pub void_lookups: u32,
    /// The record-by-record account of the evaluation.
    pub trace: trace::Trace,
}

impl Evaluation {
    /// Decided by the DNS answer for the evaluated domain's TXT records alone (no record, several
    /// records, a DNS failure, or not a domain): no term was evaluated, so the same evaluation
    /// holds for every request with the same [`evaluated_domain`], whatever its IP, sender or
    /// HELO (under the same profile and the same DNS answers).
    pub fn decided_by_domain_alone(&self) -> bool {
        self.record.is_none()
    }
}

/// Evaluate SPF for one request (RFC 7208 §4). Never fails: DNS and record problems are
/// results with a [`Problem`].
pub async fn check_host(lookup: &dyn Lookup, profile: &Profile, request: &Request) -> Evaluation {
    eval::check_host(lookup, profile, request).await
}

/// Render a trace as an indented tree a person can follow.
pub fn render_trace(trace: &trace::Trace) -> String {
    trace.render()
}

#[cfg(test)]
mod tests;
