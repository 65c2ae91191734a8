//! Which SPF questions one observation needs answered: the recorded identity at the client
//! IP, the related domains (header From, organisational domains, HELO), and earlier hops.

use std::net::IpAddr;

use super::srs::{self, SrsAddress};
use crate::extract::Observation;
use crate::extract::received_spf::records_no_spf_check;
use crate::model::{Identity, SpfResult, canonical_ip};
use crate::spf::Request;

/// How a related domain relates to the evaluated one (DESIGN.md, "Classes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// The domain of the header From.
    HeaderFrom,
    /// The organisational domain (Public Suffix List) of the evaluated domain.
    OrganizationalDomain,
    /// The organisational domain of the header From domain.
    HeaderFromOrganizationalDomain,
    /// The HELO name.
    Helo,
}

/// A related domain to try at the same client IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedQuestion {
    pub domain: String,
    pub relation: Relation,
    pub request: Request,
}

/// An earlier hop of the Received chain to try for the sender's domain (forwarding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopQuestion {
    /// Index into `Observation::hops`.
    pub hop: usize,
    pub ip: IpAddr,
    /// The hop's HELO or reverse-DNS name, for the reason text.
    pub name: Option<String>,
    /// The domain evaluated (the SRS original domain when the envelope is SRS).
    pub domain: String,
    pub request: Request,
}

/// Everything to evaluate for one observation.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The recorded identity at the recorded client IP; `None` when unverifiable.
    pub primary: Option<Request>,
    pub spf_domain: Option<String>,
    /// Why there is no primary question.
    pub unverifiable: Option<String>,
    pub related: Vec<RelatedQuestion>,
    pub hops: Vec<HopQuestion>,
    pub srs: Option<SrsAddress>,
}

/// At most this many earlier hops are tried.
const MAX_HOPS: usize = 3;

impl Plan {
    /// Related domains and hops only matter when the client is not authorised now.
    pub fn needs_context(current: SpfResult) -> bool {
        matches!(
            current,
            SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral | SpfResult::None
        )
    }
}

/// The organisational domain of `name` (RFC 7489 §3.2 via the Public Suffix List).
pub fn organizational_domain(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.');
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        psl::domain_str(&name.to_ascii_lowercase()).map(str::to_string)
    } else {
        psl::domain_str(name).map(str::to_string)
    }
}

/// Addresses that can never be an Internet mail server: a verdict or hop with one of these
/// was computed inside someone's network.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
        }
    }
}

fn looks_like_domain(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    name.contains('.')
        && !name.starts_with('[')
        && name.parse::<IpAddr>().is_err()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// Build the questions for one observation.
pub fn plan(obs: &Observation) -> Plan {
    let mut plan = primary(obs);
    add_context(&mut plan, obs);
    plan
}

/// The primary question only (`related`, `hops` and `srs` left empty): enough to classify
/// an observation whose current result does not [need context](Plan::needs_context).
/// [`add_context`] completes it to what [`plan`] gives.
pub fn primary(obs: &Observation) -> Plan {
    let mut plan = Plan {
        spf_domain: obs.spf_domain(),
        ..Plan::default()
    };
    let Some(ip) = obs.client_ip.map(canonical_ip) else {
        let verdict = obs.verdict.as_ref();
        plan.unverifiable = Some(match verdict.and_then(|v| v.client_ip_raw.as_deref()) {
            Some(raw) => format!("the recorded client IP {raw:?} is not a valid IP address"),
            None if verdict.is_none() => "no SPF verdict and no client IP were found".to_string(),
            None => match verdict
                .filter(|v| records_no_spf_check(v))
                .and_then(|v| v.writer.as_deref())
            {
                Some(why) => format!("the receiver did not evaluate SPF ({why})"),
                None => "the recorded verdict names no client IP".to_string(),
            },
        });
        return plan;
    };
    let Some(spf_domain) = plan.spf_domain.as_deref() else {
        plan.unverifiable = Some(match obs.identity() {
            Identity::Helo => "the recorded verdict names no HELO name to evaluate".to_string(),
            Identity::MailFrom => {
                "the recorded verdict names no envelope-from domain to evaluate".to_string()
            }
        });
        return plan;
    };
    let identity = obs.identity();
    // The MAIL FROM to evaluate: as recorded when it belongs to spf_domain, the null sender
    // as such, else postmaster@spf_domain (only %{l}-style macros can tell the difference).
    let recorded_from = obs.envelope_from.as_deref().map(str::trim);
    let mail_from = match (identity, recorded_from) {
        (Identity::MailFrom, Some("")) => String::new(),
        (Identity::MailFrom, Some(addr))
            if addr
                .rsplit_once('@')
                .is_some_and(|(_, d)| d.trim_end_matches('.').eq_ignore_ascii_case(spf_domain)) =>
        {
            addr.to_string()
        }
        (Identity::MailFrom, _) => format!("postmaster@{spf_domain}"),
        (Identity::Helo, from) => from.unwrap_or("").to_string(),
    };
    let helo = match obs.helo.as_deref() {
        Some(h) if identity == Identity::MailFrom && !h.is_empty() => h.to_string(),
        _ => spf_domain.to_string(),
    };
    plan.primary = Some(Request {
        ip,
        mail_from,
        helo,
        identity,
    });
    plan
}

/// Complete a [`primary`] plan with the related domains, the earlier hops and the SRS
/// decoding of the envelope-from. Does nothing to a plan without a primary question.
pub fn add_context(plan: &mut Plan, obs: &Observation) {
    let (Some(primary), Some(spf_domain)) = (plan.primary.as_ref(), plan.spf_domain.as_deref())
    else {
        return;
    };
    let ip = primary.ip;
    let helo = primary.helo.as_str();
    let mail_from = primary.mail_from.as_str();
    let identity = primary.identity;

    // Related domains, in the contract's order, without repeats and without spf_domain.
    let header_from = obs
        .header_from
        .as_deref()
        .map(|d| d.trim_end_matches('.').to_ascii_lowercase());
    let mut candidates: Vec<(String, Relation)> = Vec::new();
    if let Some(from) = &header_from {
        candidates.push((from.clone(), Relation::HeaderFrom));
    }
    if let Some(org) = organizational_domain(spf_domain) {
        candidates.push((org, Relation::OrganizationalDomain));
    }
    if let Some(org) = header_from.as_deref().and_then(organizational_domain) {
        candidates.push((org, Relation::HeaderFromOrganizationalDomain));
    }
    if let Some(h) = obs.helo.as_deref() {
        candidates.push((h.trim_end_matches('.').to_ascii_lowercase(), Relation::Helo));
    }
    let mut related: Vec<RelatedQuestion> = Vec::new();
    for (domain, relation) in candidates {
        if domain == spf_domain
            || !looks_like_domain(&domain)
            || related.iter().any(|r| r.domain == domain)
        {
            continue;
        }
        let request = Request {
            ip,
            mail_from: format!("postmaster@{domain}"),
            helo: helo.to_string(),
            identity: Identity::MailFrom,
        };
        related.push(RelatedQuestion {
            domain,
            relation,
            request,
        });
    }

    // Forwarding: SRS envelope, and earlier hops run by someone other than the sender.
    let srs = obs.envelope_from.as_deref().and_then(srs::decode);
    let mut hops: Vec<HopQuestion> = Vec::new();
    let (hop_domain, hop_sender) = match &srs {
        Some(srs) => (
            srs.original_domain.clone(),
            format!("{}@{}", srs.original_local, srs.original_domain),
        ),
        None => (spf_domain.to_string(), mail_from.to_string()),
    };
    if identity == Identity::MailFrom && !hop_sender.is_empty() {
        let sender_org = organizational_domain(&hop_domain).unwrap_or_else(|| hop_domain.clone());
        let client_hop = obs
            .hops
            .iter()
            .position(|h| h.ip.map(canonical_ip) == Some(ip));
        let client_names = client_hop
            .and_then(|i| obs.hops.get(i))
            .map(|h| [h.helo.as_deref(), h.rdns.as_deref()])
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .chain(obs.helo.as_deref());
        let client_is_sender = client_names
            .filter_map(organizational_domain)
            .any(|org| org == sender_org);
        if !client_is_sender {
            let start = client_hop.map_or(1, |i| i + 1);
            for (index, hop) in obs.hops.iter().enumerate().skip(start) {
                let Some(hop_ip) = hop.ip.map(canonical_ip) else {
                    continue;
                };
                if hop_ip == ip || is_internal(hop_ip) || hops.iter().any(|h| h.ip == hop_ip) {
                    continue;
                }
                let request = Request {
                    ip: hop_ip,
                    mail_from: hop_sender.clone(),
                    helo: hop.helo.clone().unwrap_or_else(|| helo.to_string()),
                    identity: Identity::MailFrom,
                };
                let name = hop.rdns.clone().or_else(|| hop.helo.clone());
                hops.push(HopQuestion {
                    hop: index,
                    ip: hop_ip,
                    name,
                    domain: hop_domain.clone(),
                    request,
                });
                if hops.len() == MAX_HOPS {
                    break;
                }
            }
        }
    }
    plan.related = related;
    plan.hops = hops;
    plan.srs = srs;
}
