//! Assemble one message's top-level header block into an [`Observation`]: every SPF
//! verdict in it, the Received chain, From / Return-Path / Message-ID / Date, which verdict
//! counts, and the envelope data (client IP, HELO, MAIL FROM) to evaluate SPF again.
//!
//! # Which fields carry a verdict, and how they rank
//!
//! | rank | fields | why |
//! |---|---|---|
//! | 1 receiver | `Received-SPF` (RFC 7208 §9.1), `Authentication-Results` (RFC 8601) | the receiver's own record of its check |
//! | 2 ARC | `ARC-Authentication-Results` (RFC 8617 §4.1.1) | also a receiver's own result, but written to carry it to later hops; a receiver that wrote both wrote the plain one for itself |
//! | 3 vendor | `X-Spam-Status` SPF rules, `X-SPF-Result`, `X-Comment`, ... (`other_headers`) | the result at best, rarely the IP or identity |
//! | 4 copy | `X-Original-Authentication-Results`, `Authentication-Results-Original`, `X-Mailman-Original-Authentication-Results`, `X-MS-Exchange-Authentication-Results` | an earlier receiver's result carried along (Google Groups, Microsoft, Mailman rename the upstream header; Microsoft's `X-MS-Exchange-` copy also travels with mail a Microsoft 365 tenant sends on, see NOTES.md §2) |
//!
//! # Which verdict counts
//!
//! 1. Candidates: every verdict, or with `--authserv-id` only those whose receiver name
//!    (`receiver=`, the host at the start of the Received-SPF comment, the authserv-id)
//!    matches a given name (see [`id_matches`]).
//! 2. The anchor is the best-ranked candidate, topmost among equals: trace fields are
//!    prepended, so the topmost was written by the last receiver.
//! 3. The anchor's receiver group: verdicts (rank 1-3) whose names match the anchor's, or
//!    that sit above the same Received field as the anchor when one of the two is
//!    unnamed. Microsoft writes an `Authentication-Results` without authserv-id beside its
//!    `Received-SPF`; Courier writes a HELO and a MAIL FROM header; Plesk writes one per
//!    recipient.
//! 4. The primary verdict is the group's best: one with data to evaluate before one
//!    without (a verdict is *weak* when it has no result, a loopback or unspecified client
//!    IP, or neither IP nor any identity: `pass (connection is authenticated)`, `X-Comment:
//!    SPF check N/A`); then MAIL FROM before unspecified before HELO (RFC 7208 §2.4: a
//!    verdict naming no identity is the MAIL FROM check); then one that records the
//!    client IP; then rank; then topmost.
//! 5. A weak verdict yields only to its own receiver's verdicts. A real verdict further
//!    down from another receiver is about another SMTP transaction (the message was
//!    submitted, forwarded or re-sent in between), so it is never promoted: it stays in
//!    `other_verdicts` and a note says why it was not used.
//!
//! # Envelope data for re-evaluation
//!
//! From the primary verdict; gaps are filled from the rest of its group (same connection,
//! as long as the client IPs agree), then from the Received hop the recording receiver
//! added (the hop whose sending IP is the verdict's, else whose `by` host matches the
//! receiver's name or the `--authserv-id`, else the Received field right below the verdict,
//! where RFC 7208 §9.1 puts it), then `Return-Path` (and a verdict that names only the
//! MAIL FROM domain gets the full Return-Path address when the domains agree), then the
//! mbox separator's sender. Without any verdict, the topmost hop with a public IP
//! supplies the IP and HELO (with `--authserv-id`: the topmost hop whose `by` matches).
//! A receiver that says it made no SPF check (authenticated submission, skipped check)
//! gets no envelope data from the Received chain: there is nothing to evaluate again.
//!
//! # Arrival time
//!
//! The first parsable `Received:` date, topmost first (the receiver's own clock), else
//! `Date:` (the sender's claim), else the date on the mbox separator line.

use std::borrow::Cow;
use std::net::IpAddr;

use super::address::{
    domain_of, header_from_domain, message_id, normalise_envelope_from, return_path,
};
use super::date::parse_date;
use super::header_block;
use super::received::parse_received;
use super::{
    ExtractOptions, Hop, Observation, RecordedVerdict, VerdictSource, auth_results, other_headers,
    received_spf,
};
use crate::input::RawMessage;
use crate::model::{Identity, canonical_ip};

/// Extract the observation from one message's header block. Never fails: what cannot be
/// read becomes a note on the observation.
pub fn extract_message(message: &RawMessage, options: &ExtractOptions) -> Observation {
    let mut observation = Observation {
        source: message.source.clone(),
        locator: Some(message.locator.clone()),
        ..Observation::default()
    };

    let mut hop_fields: Vec<usize> = Vec::new();
    let mut found: Vec<Found> = Vec::new();
    let mut date_header: Option<Cow<'_, str>> = None;
    let mut from_header: Option<Cow<'_, str>> = None;
    let mut return_path_header: Option<Cow<'_, str>> = None;
    let mut dropped_hops = 0usize;
    let mut dropped_verdicts = 0usize;

    // Fields are classified by name before anything is copied: only the fields read below
    // are unfolded and converted to text (most of a spam header is DKIM signatures,
    // anti-spam blobs and MIME fields that say nothing about SPF).
    let mut fields = header_block::fields(&message.header);
    let mut field_count = 0usize;
    let mut scratch = header_block::Scratch::default();
    for field in fields.by_ref() {
        field_count += 1;
        match FieldKind::of(field.name) {
            FieldKind::Received => {
                if observation.hops.len() >= MAX_HOPS {
                    dropped_hops += 1;
                    continue;
                }
                observation
                    .hops
                    .push(parse_received(field.value_in(&mut scratch)));
                hop_fields.push(field.index);
            }
            FieldKind::Verdicts(_) if found.len() >= MAX_VERDICTS => dropped_verdicts += 1,
            FieldKind::Verdicts(kind) => {
                let value = field.value_in(&mut scratch);
                let verdicts = match kind.source {
                    VerdictSource::ReceivedSpf => vec![received_spf::parse(value)],
                    source => auth_results::parse(value, source),
                };
                let extra_names: Vec<String> = if kind.source == VerdictSource::ReceivedSpf {
                    received_spf_names(value)
                } else {
                    Vec::new()
                };
                let room = MAX_VERDICTS.saturating_sub(found.len());
                dropped_verdicts += verdicts.len().saturating_sub(room);
                for verdict in verdicts.into_iter().take(room) {
                    found.push(Found::new(
                        verdict,
                        field.index,
                        kind.rank,
                        kind.source,
                        kind.name.to_string(),
                        &extra_names,
                    ));
                }
            }
            FieldKind::MessageId => {
                if observation.message_id.is_none() {
                    observation.message_id = message_id(field.value_in(&mut scratch));
                }
            }
            FieldKind::From => {
                if from_header.is_none() {
                    from_header = Some(field.value());
                }
            }
            FieldKind::ReturnPath => {
                if return_path_header.is_none() {
                    return_path_header = Some(field.value());
                }
            }
            FieldKind::Date => {
                if date_header.is_none() {
                    date_header = Some(field.value());
                }
            }
            FieldKind::ArcSeal => observation.has_arc = true,
            FieldKind::Other => {
                if found.len() < MAX_VERDICTS
                    && let Some(kind) = other_headers::kind(field.name)
                    && other_headers::may_carry_verdict(kind, field.raw())
                    && let Some(verdict) =
                        other_headers::parse(field.name, field.value_in(&mut scratch))
                {
                    found.push(Found::new(
                        verdict,
                        field.index,
                        Rank::Vendor,
                        VerdictSource::OtherHeader,
                        field.name.to_string(),
                        &[],
                    ));
                }
            }
        }
    }
    if field_count == 0 {
        observation
            .notes
            .push("no header fields: not a mail message?".to_string());
    }
    let skipped = fields.skipped();
    if skipped > 0 {
        observation.notes.push(format!(
            "{skipped} header line(s) were neither a field nor a continuation and were skipped"
        ));
    }

    if dropped_hops > 0 {
        observation.notes.push(format!(
            "{dropped_hops} Received field(s) beyond the first {MAX_HOPS} were not read"
        ));
    }
    if dropped_verdicts > 0 {
        observation.notes.push(format!(
            "{dropped_verdicts} more SPF result(s) or field(s) beyond the first {MAX_VERDICTS} verdicts were not read"
        ));
    }
    observation.header_from = from_header.as_deref().and_then(header_from_domain);
    observation.date = observation
        .hops
        .iter()
        .find_map(|hop| hop.date)
        .or_else(|| date_header.as_deref().and_then(parse_date))
        .or_else(|| message.mbox_date.as_deref().and_then(parse_date));

    for hop in &mut observation.hops {
        hop.ip = hop.ip.map(canonical_ip);
    }
    number_positions(&mut found);
    let chain = Chain {
        hops: &observation.hops,
        hop_fields: &hop_fields,
    };
    for f in &mut found {
        f.block_hop = chain.hop_below(f.field_index);
    }

    // A name that does not normalise (a typo, an address) is kept as written: it then
    // matches nothing, which is what the user asked for, rather than everything.
    let ids: Vec<String> = options
        .authserv_ids
        .iter()
        .map(|id| normalise_name(id).unwrap_or_else(|| id.trim().to_lowercase()))
        .collect();
    let choice = choose(&found, &ids);

    let return_path_address = return_path_header.as_deref().and_then(return_path);
    let mbox_sender = message.mbox_sender.as_deref().map(mbox_envelope_sender);
    let mut envelope = Envelope::default();

    match choice.primary.and_then(|i| found.get(i).map(|p| (i, p))) {
        Some((primary, p)) => {
            envelope.take_verdict(&p.verdict);
            // A receiver that says it made no SPF check (authenticated submission, skipped)
            // leaves nothing to evaluate: its connection's IP is not an SPF question.
            let evaluated = !p.records_no_check();
            let members = || {
                choice
                    .group
                    .iter()
                    .filter(move |&&i| i != primary)
                    .filter_map(|&i| found.get(i))
            };
            if evaluated {
                for member in members() {
                    envelope.corroborate(&member.verdict);
                }
            }
            let mut names: Vec<&str> = p.names.iter().map(String::as_str).collect();
            for member in members() {
                names.extend(member.names.iter().map(String::as_str));
            }
            names.extend(ids.iter().map(String::as_str));
            let chosen_hop = chain.hop_for(p, envelope.client_ip, &names);
            if evaluated
                && let Some(index) = chosen_hop
                && let Some(hop) = observation.hops.get(index)
            {
                envelope.fill_from_hop(hop, &mut observation.notes);
            }
            observation.recorded_by = Some(recorded_by(
                p,
                &choice.group,
                &found,
                chosen_hop.and_then(|i| observation.hops.get(i)),
            ));
            note_rank(p, &mut observation.notes);
            note_verdict(p, &found, &choice, &mut observation.notes);
        }
        None => {
            if found.is_empty() {
                observation.notes.push(
                    "no SPF verdict in the top-level header (no Received-SPF, no spf= in Authentication-Results, no other SPF header)"
                        .to_string(),
                );
            } else {
                observation.notes.push(format!(
                    "no SPF verdict recorded by --authserv-id {}; {} verdict(s) from other receivers ignored",
                    options.authserv_ids.join(", "),
                    found.len()
                ));
            }
            let chosen_hop = if ids.is_empty() {
                chain.first_public_hop()
            } else {
                chain.hop_by_names(&ids.iter().map(String::as_str).collect::<Vec<_>>())
            };
            match chosen_hop.and_then(|i| observation.hops.get(i)) {
                Some(hop) => envelope.fill_from_hop(hop, &mut observation.notes),
                None if !observation.hops.is_empty() => observation
                    .notes
                    .push("no Received hop with a public client IP".to_string()),
                None => {}
            }
        }
    }

    envelope.fill_envelope_from(return_path_address.as_deref());
    envelope.fill_envelope_from(mbox_sender.as_deref());
    observation.client_ip = envelope.client_ip;
    observation.helo = envelope.helo;
    observation.envelope_from = envelope.envelope_from;
    if let Some(ip) = observation.client_ip {
        note_special_ip(ip, choice.primary.is_some(), &mut observation.notes);
    }

    let anchor_field = choice
        .anchor
        .and_then(|a| found.get(a))
        .map(|f| f.field_index);
    if let Some(primary) = choice.primary.and_then(|i| found.get_mut(i)) {
        observation.verdict = Some(std::mem::take(&mut primary.verdict));
    }
    observation.other_verdicts = found
        .into_iter()
        .enumerate()
        .filter(|(i, f)| {
            Some(*i) != choice.primary
                && (ids.is_empty()
                    || choice.in_group.get(*i).copied().unwrap_or(false)
                    || anchor_field.is_none_or(|a| f.field_index >= a))
        })
        .map(|(_, f)| f.verdict)
        .collect();
    observation
}

/// At most this many Received hops are kept per message: a real chain has a few dozen
/// (RFC 5321 §6.3 loop detection gives up around 100); the rest of a hostile header is not
/// worth memory.
const MAX_HOPS: usize = 1_000;
/// At most this many verdicts are kept per message (topmost first); Plesk's one header per
/// recipient stays well below it.
const MAX_VERDICTS: usize = 1_000;

/// How a verdict-carrying field ranks (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Receiver,
    Arc,
    Vendor,
    Copy,
}

#[derive(Debug, Clone, Copy)]
struct VerdictField {
    source: VerdictSource,
    rank: Rank,
    /// Canonical spelling, for `recorded_by`.
    name: &'static str,
}

enum FieldKind {
    Received,
    Verdicts(VerdictField),
    MessageId,
    From,
    ReturnPath,
    Date,
    ArcSeal,
    Other,
}

impl FieldKind {
    fn of(name: &str) -> FieldKind {
        const VERDICT_FIELDS: [VerdictField; 7] = [
            VerdictField {
                source: VerdictSource::ReceivedSpf,
                rank: Rank::Receiver,
                name: "Received-SPF",
            },
            VerdictField {
                source: VerdictSource::AuthenticationResults,
                rank: Rank::Receiver,
                name: "Authentication-Results",
            },
            VerdictField {
                source: VerdictSource::ArcAuthenticationResults,
                rank: Rank::Arc,
                name: "ARC-Authentication-Results",
            },
            VerdictField {
                source: VerdictSource::OriginalAuthenticationResults,
                rank: Rank::Copy,
                name: "X-Original-Authentication-Results",
            },
            VerdictField {
                source: VerdictSource::OriginalAuthenticationResults,
                rank: Rank::Copy,
                name: "Authentication-Results-Original",
            },
            VerdictField {
                source: VerdictSource::OriginalAuthenticationResults,
                rank: Rank::Copy,
                name: "X-Mailman-Original-Authentication-Results",
            },
            VerdictField {
                source: VerdictSource::OriginalAuthenticationResults,
                rank: Rank::Copy,
                name: "X-MS-Exchange-Authentication-Results",
            },
        ];
        if name.eq_ignore_ascii_case("Received") {
            return FieldKind::Received;
        }
        if let Some(kind) = VERDICT_FIELDS
            .iter()
            .find(|kind| name.eq_ignore_ascii_case(kind.name))
        {
            return FieldKind::Verdicts(*kind);
        }
        if name.eq_ignore_ascii_case("Message-ID") {
            FieldKind::MessageId
        } else if name.eq_ignore_ascii_case("From") {
            FieldKind::From
        } else if name.eq_ignore_ascii_case("Return-Path") {
            FieldKind::ReturnPath
        } else if name.eq_ignore_ascii_case("Date") {
            FieldKind::Date
        } else if name.eq_ignore_ascii_case("ARC-Seal") {
            FieldKind::ArcSeal
        } else {
            FieldKind::Other
        }
    }
}

/// One verdict found in the header, with what selection needs to know about it.
struct Found {
    verdict: RecordedVerdict,
    field_index: usize,
    rank: Rank,
    field_name: String,
    /// Normalised receiver host names: the verdict's receiver (`receiver=`, authserv-id or
    /// comment host, as the parser chose), and for Received-SPF both the `receiver=` value
    /// and the comment host as written. Addresses (`receiver=rcpt@example.com`,
    /// pypolicyd-spf) name a recipient, not a receiver, and are left out.
    names: Vec<String>,
    /// The Received hop right below the field (RFC 7208 §9.1 placement).
    block_hop: Option<usize>,
}

impl Found {
    fn new(
        mut verdict: RecordedVerdict,
        field_index: usize,
        rank: Rank,
        source: VerdictSource,
        field_name: String,
        extra_names: &[String],
    ) -> Found {
        if verdict.source.is_none() {
            verdict.source = Some(source);
        }
        if verdict.writer.is_none() && matches!(rank, Rank::Copy | Rank::Vendor) {
            verdict.writer = Some(field_name.clone());
        }
        verdict.client_ip = verdict.client_ip.map(canonical_ip);
        let mut names: Vec<String> = Vec::new();
        for raw in verdict.receiver.iter().chain(extra_names) {
            if let Some(name) = normalise_name(raw)
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
        Found {
            verdict,
            field_index,
            rank,
            field_name,
            names,
            block_hop: None,
        }
    }

    /// No result, a loopback/unspecified client IP, or nothing to evaluate at all.
    fn is_weak(&self) -> bool {
        let v = &self.verdict;
        v.result.is_none()
            || v.client_ip
                .is_some_and(|ip| ip.is_loopback() || ip.is_unspecified())
            || (v.client_ip.is_none()
                && v.envelope_from.is_none()
                && v.domain.is_none()
                && v.helo.is_none())
    }

    /// The receiver says it made no SPF check (`pass (connection is authenticated)`,
    /// `SPF check N/A`): the parsers drop the result and say so in `writer`.
    fn records_no_check(&self) -> bool {
        self.verdict.result.is_none() && received_spf::records_no_spf_check(&self.verdict)
    }

    fn identity_rank(&self) -> u8 {
        match self.verdict.identity {
            Some(Identity::MailFrom) => 0,
            None => 1,
            Some(Identity::Helo) => 2,
        }
    }
}

/// `position`: 0 = topmost verdict of its kind (source) in this message.
fn number_positions(found: &mut [Found]) {
    let mut counts: Vec<(VerdictSource, usize)> = Vec::new();
    for f in found {
        let source = f.verdict.source.unwrap_or(VerdictSource::OtherHeader);
        match counts.iter_mut().find(|(s, _)| *s == source) {
            Some((_, n)) => {
                f.verdict.position = *n;
                *n += 1;
            }
            None => {
                f.verdict.position = 0;
                counts.push((source, 1));
            }
        }
    }
}

#[derive(Debug, Default)]
struct Choice {
    anchor: Option<usize>,
    primary: Option<usize>,
    /// The anchor's receiver group (indexes into `found`), primary included.
    group: Vec<usize>,
    /// `in_group[i]`: whether `found[i]` is in `group` (no quadratic `contains`).
    in_group: Vec<bool>,
}

fn choose(found: &[Found], ids: &[String]) -> Choice {
    let candidate = |f: &Found| {
        ids.is_empty()
            || f.names
                .iter()
                .any(|name| ids.iter().any(|id| id_matches(name, id)))
    };
    let Some((anchor, a)) = found
        .iter()
        .enumerate()
        .filter(|(_, f)| candidate(f))
        .min_by_key(|(i, f)| (f.rank, *i))
    else {
        return Choice::default();
    };
    let group: Vec<usize> = found
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            *i == anchor
                || (f.rank != Rank::Copy
                    && same_receiver(a, f)
                    && (ids.is_empty() || candidate(f) || f.names.is_empty()))
        })
        .map(|(i, _)| i)
        .collect();
    let primary = group
        .iter()
        .filter_map(|&i| found.get(i).map(|f| (i, f)))
        .min_by_key(|&(i, f)| {
            (
                f.is_weak(),
                f.identity_rank(),
                f.verdict.client_ip.is_none(),
                f.rank,
                i,
            )
        })
        .map_or(anchor, |(i, _)| i);
    let mut in_group = vec![false; found.len()];
    for &i in &group {
        if let Some(slot) = in_group.get_mut(i) {
            *slot = true;
        }
    }
    Choice {
        anchor: Some(anchor),
        primary: Some(primary),
        group,
        in_group,
    }
}

/// Same receiver: a name in common (see [`names_match`]); or the same Received hop below
/// both when at least one of them is unnamed.
fn same_receiver(a: &Found, b: &Found) -> bool {
    if a.names
        .iter()
        .any(|x| b.names.iter().any(|y| names_match(x, y)))
    {
        return true;
    }
    (a.names.is_empty() || b.names.is_empty()) && a.block_hop == b.block_hop
}

/// Two receiver names denote the same receiver: equal, one a subdomain of the other
/// (`improvmx.com` / `mx1.improvmx.com`), or a short name that is the other's first label
/// (`mxf9a8` / `mxf9a8.netcup.net`).
fn names_match(a: &str, b: &str) -> bool {
    a == b
        || is_subdomain(a, b)
        || is_subdomain(b, a)
        || is_first_label(a, b)
        || is_first_label(b, a)
}

/// `--authserv-id ID` trusts a verdict whose receiver name is ID, a subdomain of ID
/// (`protection.outlook.com` trusts `eur01.protection.outlook.com`), or a short name equal
/// to ID's first label (`mxf9a8` for `mxf9a8.netcup.net`). Never the other way round: a
/// verdict naming the parent domain `outlook.com` is not trusted by
/// `protection.outlook.com`. Case-insensitive; a `receiver=` that is an address (a
/// recipient, pypolicyd-spf) names no receiver and matches nothing.
pub fn id_matches(name: &str, id: &str) -> bool {
    name == id || is_subdomain(name, id) || is_first_label(name, id)
}

fn is_subdomain(name: &str, parent: &str) -> bool {
    name.len() > parent.len()
        && name.ends_with(parent)
        && name.as_bytes().get(name.len() - parent.len() - 1) == Some(&b'.')
}

fn is_first_label(short: &str, full: &str) -> bool {
    !short.contains('.') && full.split('.').next() == Some(short) && full.contains('.')
}

/// A receiver name as compared: lower-case, no brackets or trailing dot; `None` for empty,
/// `unknown`, an address, or text that is not a name.
fn normalise_name(raw: &str) -> Option<String> {
    let trimmed = raw
        .trim()
        .trim_matches(|c: char| matches!(c, '<' | '>' | '"' | '\''))
        .trim();
    if trimmed.contains('@') {
        return None;
    }
    let name = trimmed.trim_end_matches('.').to_lowercase();
    if name.is_empty()
        || name == "unknown"
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))
    {
        return None;
    }
    Some(name)
}

/// The receiver names a Received-SPF value gives as written: the `receiver=` value and
/// the host at the start of the comment. The parser keeps only the more specific one.
fn received_spf_names(value: &str) -> Vec<String> {
    let mut names: Vec<String> = received_spf_comment_host(value).into_iter().collect();
    let key = b"receiver=";
    let bytes = value.as_bytes();
    // Candidates are found with memchr2 on the first letter.
    let found = memchr::memchr2_iter(b'r', b'R', bytes)
        .find(|&at| {
            bytes
                .get(at..at + key.len())
                .is_some_and(|window| window.eq_ignore_ascii_case(key))
                && (at == 0
                    || bytes
                        .get(at - 1)
                        .is_some_and(|&b| b == b';' || b.is_ascii_whitespace()))
        })
        .map(|at| at + key.len());
    if let Some(start) = found
        && let Some(rest) = value.get(start..)
    {
        let end = rest
            .find(|c: char| c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        if let Some(name) = rest.get(..end).and_then(normalise_name) {
            names.push(name);
        }
    }
    names
}

/// The host at the start of a Received-SPF comment: `pass (mx.example.net: ...)`.
fn received_spf_comment_host(value: &str) -> Option<String> {
    let open = value.find('(')?;
    // Only the comment that follows the result word (and an optional mechanism token).
    if value.get(..open)?.contains('=') {
        return None;
    }
    let rest = value.get(open + 1..)?.trim_start();
    let end = rest.find(|c: char| c == ':' || c == ')' || c == '(' || c.is_whitespace())?;
    if rest.get(end..)?.starts_with(':') {
        normalise_name(rest.get(..end)?)
    } else {
        None
    }
}

/// The Received chain with the field index of each hop, for placing verdicts.
struct Chain<'a> {
    hops: &'a [Hop],
    hop_fields: &'a [usize],
}

impl Chain<'_> {
    /// The Received field right below `field_index`, else the lowest one above it.
    fn hop_below(&self, field_index: usize) -> Option<usize> {
        let below = self.hop_fields.partition_point(|&f| f < field_index);
        if below < self.hops.len() {
            Some(below)
        } else {
            self.hops.len().checked_sub(1)
        }
    }

    /// Among the hops that satisfy `wanted`, the nearest one below `field_index`, else the
    /// nearest one above.
    fn nearest(&self, field_index: usize, wanted: impl Fn(&Hop) -> bool) -> Option<usize> {
        let split = self.hop_fields.partition_point(|&f| f < field_index);
        (split..self.hops.len())
            .find(|&i| self.hops.get(i).is_some_and(&wanted))
            .or_else(|| {
                (0..split)
                    .rev()
                    .find(|&i| self.hops.get(i).is_some_and(&wanted))
            })
    }

    /// The hop the recording receiver added (see the module documentation).
    fn hop_for(&self, p: &Found, client_ip: Option<IpAddr>, names: &[&str]) -> Option<usize> {
        if let Some(ip) = client_ip
            && let Some(hop) = self.nearest(p.field_index, |hop| hop.ip == Some(ip))
        {
            return Some(hop);
        }
        if !names.is_empty()
            && let Some(hop) = self.nearest(p.field_index, |hop| by_matches(hop, names))
        {
            return Some(hop);
        }
        p.block_hop
    }

    fn hop_by_names(&self, names: &[&str]) -> Option<usize> {
        (0..self.hops.len()).find(|&i| self.hops.get(i).is_some_and(|hop| by_matches(hop, names)))
    }

    fn first_public_hop(&self) -> Option<usize> {
        (0..self.hops.len()).find(|&i| {
            self.hops
                .get(i)
                .and_then(|hop| hop.ip)
                .is_some_and(|ip| special_ip(ip).is_none())
        })
    }
}

fn by_matches(hop: &Hop, names: &[&str]) -> bool {
    let Some(by) = hop.by.as_deref().and_then(normalise_name) else {
        return false;
    };
    names
        .iter()
        .any(|name| id_matches(&by, name) || is_first_label(name, &by))
}

/// The envelope data being assembled for re-evaluation.
#[derive(Debug, Default)]
struct Envelope {
    client_ip: Option<IpAddr>,
    helo: Option<String>,
    envelope_from: Option<String>,
}

impl Envelope {
    fn take_verdict(&mut self, v: &RecordedVerdict) {
        self.client_ip = v.client_ip.map(canonical_ip);
        self.helo = v.helo.clone().filter(|h| !h.trim().is_empty());
        self.envelope_from = v.envelope_from.as_deref().map(normalise_envelope_from);
    }

    /// Fill gaps from another verdict of the same receiver when it is about the same
    /// connection (same client IP, or one of the two has none).
    fn corroborate(&mut self, v: &RecordedVerdict) {
        let ip = v.client_ip.map(canonical_ip);
        let usable_ip = ip.filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
        match (self.client_ip, usable_ip) {
            (Some(mine), Some(theirs)) if mine != theirs => return,
            (None, Some(theirs)) => self.client_ip = Some(theirs),
            _ => {}
        }
        if self.helo.is_none() {
            self.helo = v.helo.clone().filter(|h| !h.trim().is_empty());
        }
        let theirs = v.envelope_from.as_deref().map(normalise_envelope_from);
        self.upgrade_envelope_from(theirs.as_deref());
    }

    fn fill_from_hop(&mut self, hop: &Hop, notes: &mut Vec<String>) {
        match (self.client_ip, hop.ip) {
            (Some(mine), Some(theirs)) if mine != theirs => return,
            (None, Some(theirs)) => {
                self.client_ip = Some(theirs);
                notes.push(format!(
                    "client IP {theirs} taken from the Received hop by {}",
                    hop.by.as_deref().unwrap_or("an unnamed host")
                ));
            }
            _ => {}
        }
        if self.helo.is_none() {
            self.helo = hop.helo.clone();
        }
        self.upgrade_envelope_from(hop.envelope_from.as_deref());
    }

    fn fill_envelope_from(&mut self, candidate: Option<&str>) {
        self.upgrade_envelope_from(candidate);
    }

    /// Take `candidate` when nothing is known yet, or when only the MAIL FROM domain is
    /// known and `candidate` is a full address in that domain.
    fn upgrade_envelope_from(&mut self, candidate: Option<&str>) {
        let Some(candidate) = candidate else {
            return;
        };
        match self.envelope_from.as_deref() {
            None => self.envelope_from = Some(candidate.to_string()),
            Some(current) if !current.is_empty() && !current.contains('@') => {
                let same_domain = domain_of(candidate)
                    .is_some_and(|d| d.eq_ignore_ascii_case(current.trim_end_matches('.')));
                if same_domain {
                    self.envelope_from = Some(candidate.to_string());
                }
            }
            Some(_) => {}
        }
    }
}

/// The mbox separator's sender: `MAILER-DAEMON` stands for the null sender.
fn mbox_envelope_sender(sender: &str) -> String {
    let sender = normalise_envelope_from(sender);
    if sender.eq_ignore_ascii_case("MAILER-DAEMON") {
        String::new()
    } else {
        sender
    }
}

/// The receiver's name: the primary's host name (or the first one its group gives),
/// refined to a more specific one of the same receiver when the group has it (Google's
/// Received-SPF says `google.com`, its Authentication-Results `mx.google.com`); else the
/// `by` host of its Received hop.
fn recorded_by(p: &Found, group: &[usize], found: &[Found], hop: Option<&Hop>) -> String {
    let group_names = || {
        group
            .iter()
            .filter_map(|&i| found.get(i))
            .flat_map(|f| f.names.iter())
    };
    let name = p
        .names
        .first()
        .or_else(|| group_names().next())
        .map(|first| {
            group_names()
                .filter(|name| is_subdomain(name, first))
                .max_by_key(|name| name.len())
                .unwrap_or(first)
                .clone()
        })
        .or_else(|| hop.and_then(|h| h.by.clone()));
    match name {
        Some(name) => format!("{name} {}", p.field_name),
        None => p.field_name.clone(),
    }
}

fn note_rank(p: &Found, notes: &mut Vec<String>) {
    match p.rank {
        Rank::Receiver => {}
        Rank::Arc => notes.push(
            "verdict taken from ARC-Authentication-Results: no Received-SPF or Authentication-Results spf= from that receiver"
                .to_string(),
        ),
        Rank::Vendor => notes.push(format!(
            "verdict taken from {}: no Received-SPF or Authentication-Results spf= in the header",
            p.field_name
        )),
        Rank::Copy => notes.push(format!(
            "verdict taken from {}, a copy of an earlier receiver's result: no receiver of this message recorded its own",
            p.field_name
        )),
    }
}

fn note_verdict(p: &Found, found: &[Found], choice: &Choice, notes: &mut Vec<String>) {
    let v = &p.verdict;
    if let Some(raw) = v.client_ip_raw.as_deref() {
        notes.push(format!(
            "client-ip {raw:?} in the header is not an IP address (redacted or placeholder)"
        ));
    }
    if !p.is_weak() {
        return;
    }
    if p.records_no_check() {
        notes.push(format!(
            "the receiver made no SPF check ({}): nothing to evaluate again",
            v.writer.as_deref().unwrap_or("no result recorded")
        ));
    } else if v.result.is_none() {
        notes.push(format!(
            "{} records no SPF result (the check was skipped or not applicable)",
            p.field_name
        ));
    } else {
        notes.push(
            "the recorded verdict carries no data to evaluate again (no usable client IP, no identity): e.g. an authenticated submission or a skipped check"
                .to_string(),
        );
    }
    let ignored = found
        .iter()
        .enumerate()
        .filter(|(i, f)| !choice.in_group.get(*i).copied().unwrap_or(false) && !f.is_weak())
        .count();
    if ignored > 0 {
        notes.push(format!(
            "{ignored} verdict(s) from other receivers are kept as other verdicts, not used: they are about another SMTP transaction"
        ));
    }
}

/// Addresses that cannot be the sending server on the Internet.
fn special_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_unspecified() {
                Some("the unspecified address")
            } else if v4.is_private() {
                Some("a private (RFC 1918) address")
            } else if v4.is_link_local() {
                Some("a link-local address")
            } else if a == 100 && (64..128).contains(&b) {
                Some("a shared (RFC 6598 carrier-grade NAT) address")
            } else if v4.is_broadcast() {
                Some("the broadcast address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("the unspecified address")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a unique local (RFC 4193) address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else {
                None
            }
        }
    }
}

fn note_special_ip(ip: IpAddr, has_verdict: bool, notes: &mut Vec<String>) {
    let Some(kind) = special_ip(ip) else {
        return;
    };
    let consequence = match (has_verdict, kind) {
        (true, "a loopback address" | "the unspecified address") => {
            "the verdict was computed against the wrong hop"
        }
        (true, _) => "the verdict was computed against an internal hop, not the sending server",
        (false, _) => "not the sending server",
    };
    notes.push(format!("client IP {ip} is {kind}: {consequence}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authserv_id_matching() {
        assert!(id_matches(
            "protection.outlook.com",
            "protection.outlook.com"
        ));
        assert!(id_matches(
            "eur01.protection.outlook.com",
            "protection.outlook.com"
        ));
        assert!(id_matches("mxf9a8", "mxf9a8.netcup.net"));
        assert!(!id_matches("outlook.com", "protection.outlook.com"));
        assert!(!id_matches(
            "evilprotection.outlook.com",
            "protection.outlook.com"
        ));
        assert!(!id_matches("mx", "mxf9a8.netcup.net"));
    }

    #[test]
    fn receiver_names() {
        assert!(names_match("improvmx.com", "mx1.improvmx.com"));
        assert!(names_match("mxf9a8.netcup.net", "mxf9a8"));
        assert!(!names_match("a.example", "b.example"));
        assert_eq!(
            normalise_name(" MX.Example.NET. ").as_deref(),
            Some("mx.example.net")
        );
        assert_eq!(normalise_name("<UNKNOWN>"), None);
        assert_eq!(normalise_name("rcpt@Example.com"), None);
        assert_eq!(normalise_name("two words"), None);
    }

    #[test]
    fn comment_hosts() {
        assert_eq!(
            received_spf_comment_host("pass (mxf9a8: connection is authenticated)").as_deref(),
            Some("mxf9a8")
        );
        assert_eq!(
            received_spf_comment_host("Pass (mailfrom) identity=mailfrom;").as_deref(),
            None
        );
        assert_eq!(
            received_spf_comment_host(
                "pass (domain of a@b designates 2001:db8::1 as permitted sender)"
            ),
            None
        );
        assert_eq!(
            received_spf_comment_host("pass client-ip=1.2.3.4 (x: y)"),
            None
        );
        assert_eq!(received_spf_comment_host("pass ("), None);
    }

    #[test]
    fn received_spf_receiver_names() {
        assert_eq!(
            received_spf_names(
                "fail (improvmx.com: domain of a@b does not designates 192.0.2.1 as permitted sender) receiver=mx1.improvmx.com; client-ip=192.0.2.1;"
            ),
            vec!["improvmx.com".to_string(), "mx1.improvmx.com".to_string()]
        );
        assert_eq!(
            received_spf_names(
                "Pass (sender SPF authorized) identity=mailfrom; receiver=dmarc.reports@twlnet.com"
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            received_spf_names("pass x-receiver=other.example; Receiver=MX.Example.NET"),
            vec!["mx.example.net".to_string()]
        );
    }

    #[test]
    fn special_addresses() {
        let kind = |s: &str| special_ip(s.parse().expect("ip"));
        assert_eq!(kind("127.0.0.1"), Some("a loopback address"));
        assert_eq!(kind("10.1.2.3"), Some("a private (RFC 1918) address"));
        assert_eq!(kind("172.18.0.1"), Some("a private (RFC 1918) address"));
        assert_eq!(
            kind("100.64.1.1"),
            Some("a shared (RFC 6598 carrier-grade NAT) address")
        );
        assert_eq!(kind("fd00::1"), Some("a unique local (RFC 4193) address"));
        assert_eq!(kind("fe80::1"), Some("a link-local address"));
        assert_eq!(kind("::1"), Some("a loopback address"));
        assert_eq!(kind("192.0.2.1"), None);
        assert_eq!(kind("2001:db8::1"), None);
    }

    #[test]
    fn envelope_upgrade_only_in_same_domain() {
        let mut e = Envelope {
            envelope_from: Some("Example.COM".to_string()),
            ..Envelope::default()
        };
        e.fill_envelope_from(Some("a@other.example"));
        assert_eq!(e.envelope_from.as_deref(), Some("Example.COM"));
        e.fill_envelope_from(Some("bounce@example.com"));
        assert_eq!(e.envelope_from.as_deref(), Some("bounce@example.com"));
        e.fill_envelope_from(Some("x@example.com"));
        assert_eq!(e.envelope_from.as_deref(), Some("bounce@example.com"));
        let mut null = Envelope {
            envelope_from: Some(String::new()),
            ..Envelope::default()
        };
        null.fill_envelope_from(Some("x@example.com"));
        assert_eq!(null.envelope_from.as_deref(), Some(""));
    }
}
