//! `Observation`: what one message or log event tells us about one recorded SPF verdict.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::input::Locator;
use crate::model::{Identity, SpfResult};

/// Where a recorded verdict was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictSource {
    /// `Received-SPF` (RFC 7208 §9.1).
    ReceivedSpf,
    /// `Authentication-Results` (RFC 8601).
    AuthenticationResults,
    /// `ARC-Authentication-Results` (RFC 8617).
    ArcAuthenticationResults,
    /// Copies of an upstream verdict (`X-Original-Authentication-Results`,
    /// `Authentication-Results-Original`, ...).
    OriginalAuthenticationResults,
    /// Vendor headers (`X-Spam-Status` SPF_* rules, `X-SPF-Result`, ...).
    OtherHeader,
    /// An MTA log line.
    Log,
}

impl VerdictSource {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictSource::ReceivedSpf => "Received-SPF",
            VerdictSource::AuthenticationResults => "Authentication-Results",
            VerdictSource::ArcAuthenticationResults => "ARC-Authentication-Results",
            VerdictSource::OriginalAuthenticationResults => "Original-Authentication-Results",
            VerdictSource::OtherHeader => "other header",
            VerdictSource::Log => "log",
        }
    }
}

/// One SPF verdict as a receiver wrote it down. Every field is optional because real
/// writers leave out almost everything (Microsoft 365 SoftFail: a comment and nothing else).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedVerdict {
    pub result: Option<SpfResult>,
    pub identity: Option<Identity>,
    pub client_ip: Option<IpAddr>,
    /// The IP text as written when it is not a valid IP (placeholder, redaction).
    pub client_ip_raw: Option<String>,
    pub helo: Option<String>,
    /// MAIL FROM as recorded: full address, bare domain, or empty string for the null sender.
    pub envelope_from: Option<String>,
    /// The domain whose policy was checked, as far as the header says.
    pub domain: Option<String>,
    /// Who recorded it: `receiver=`, the comment host, the authserv-id, the log host.
    pub receiver: Option<String>,
    /// Which header/log family it came from, e.g. `Received-SPF`, `Authentication-Results`,
    /// `postfix/policyd-spf`.
    pub source: Option<VerdictSource>,
    /// A finer description of the writer where known (`policyd-spf`, `exim`, `rspamd`).
    pub writer: Option<String>,
    /// 0 = topmost header of its kind.
    pub position: usize,
}

/// One hop of the `Received:` chain (topmost first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hop {
    /// The HELO name in `from HELO (...)`.
    pub helo: Option<String>,
    /// The reverse DNS name the receiver recorded, if any.
    pub rdns: Option<String>,
    pub ip: Option<IpAddr>,
    /// The `by` host.
    pub by: Option<String>,
    pub date: Option<DateTime<Utc>>,
    /// The `(envelope-from <...>)` clause some writers add (Exim, Sendmail), without
    /// brackets; empty for the null sender.
    pub envelope_from: Option<String>,
    /// The `with` protocol word (`ESMTPS`, `ESMTPSA`, `local-generated`, ...).
    pub protocol: Option<String>,
}

/// Everything one message (or one correlated log transaction) says about its SPF verdict.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Input path as given, `-` for stdin.
    pub source: Arc<str>,
    pub locator: Option<Locator>,
    pub message_id: Option<String>,
    /// Arrival time (topmost Received date, else Date:, else log timestamp).
    pub date: Option<DateTime<Utc>>,
    /// Domain of the header From.
    pub header_from: Option<String>,
    /// The verdict that counts (topmost, or the trusted receiver's), MAIL FROM preferred.
    pub verdict: Option<RecordedVerdict>,
    /// Who recorded `verdict` and in which field, for the CSV `recorded_by` column:
    /// `mx.example.net Received-SPF`. The name is the verdict's receiver host, else a name
    /// from another verdict of the same receiver, else the `by` host of the Received hop
    /// it belongs to; just the field name when none is known.
    pub recorded_by: Option<String>,
    /// Other verdicts of the same receiver (e.g. its HELO verdict), and earlier hops'.
    pub other_verdicts: Vec<RecordedVerdict>,
    /// Envelope data chosen for re-evaluation (from the verdict, Return-Path, Received,
    /// mbox separator line).
    pub envelope_from: Option<String>,
    pub helo: Option<String>,
    pub client_ip: Option<IpAddr>,
    /// Received chain, topmost (latest) hop first.
    pub hops: Vec<Hop>,
    /// An ARC set (ARC-Seal) is present: the message passed through an intermediary.
    pub has_arc: bool,
    /// Things worth telling the user about this item (no verdict found, placeholder IP, ...).
    pub notes: Vec<String>,
}

impl Observation {
    /// The identity the recorded verdict is about: as recorded, else MAIL FROM (a verdict on
    /// "domain of X" that names no identity is the MAIL FROM check, RFC 7208 §2.4).
    pub fn identity(&self) -> Identity {
        self.verdict
            .as_ref()
            .and_then(|v| v.identity)
            .unwrap_or(Identity::MailFrom)
    }

    /// The domain whose policy is evaluated: for HELO the HELO name; for MAIL FROM the domain
    /// the verdict names (what the receiver evaluated), else the domain of the envelope-from,
    /// else, for the null sender, the HELO name (`postmaster@HELO`, RFC 7208 §2.4).
    pub fn spf_domain(&self) -> Option<String> {
        let named = self
            .verdict
            .as_ref()
            .and_then(|v| v.domain.clone())
            .filter(|d| !d.trim().is_empty());
        let domain = match self.identity() {
            Identity::Helo => self.helo.clone().filter(|h| !h.trim().is_empty()).or(named),
            Identity::MailFrom => {
                named.or_else(|| match self.envelope_from.as_deref().map(str::trim) {
                    Some("") => self.helo.clone(),
                    Some(addr) => Some(
                        addr.rsplit_once('@')
                            .map_or(addr, |(_, domain)| domain)
                            .to_string(),
                    ),
                    None => None,
                })
            }
        }?;
        let domain = domain
            .trim()
            .trim_matches(|c| c == '<' || c == '>')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        (!domain.is_empty()).then_some(domain)
    }

    /// Who recorded the verdict and how (the CSV `recorded_by` column): what extraction
    /// determined, else the verdict's receiver and field, e.g. `mx.example.net Received-SPF`.
    pub fn recorder(&self) -> String {
        if let Some(by) = self
            .recorded_by
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            return by.to_string();
        }
        let Some(v) = &self.verdict else {
            return String::new();
        };
        let how = match (v.source, v.writer.as_deref()) {
            (Some(VerdictSource::Log | VerdictSource::OtherHeader) | None, Some(writer)) => {
                writer.to_string()
            }
            (Some(source), _) => source.as_str().to_string(),
            (None, None) => String::new(),
        };
        [v.receiver.as_deref().unwrap_or(""), how.as_str()]
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}
