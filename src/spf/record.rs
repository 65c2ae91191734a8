//! SPF record syntax (RFC 7208 §4.5, §4.6, §5, §6, §12): a parser that keeps positions.
//!
//! [`parse`] turns the text of a record into a [`ParsedRecord`]: every term with its byte
//! span, its text as written and what it means, plus every syntax error found (not just the
//! first), each with its position and a message an administrator can act on, e.g.
//! `unknown mechanism "–all" at position 37 (it starts with "–" (U+2013 EN DASH), not "-")`.
//! The engine evaluates only records without errors (§4.6: a syntax error anywhere is a
//! permerror); `lint` reports them all.
//!
//! ```
//! use spfsleuth::spf::record::{parse, TermKind, Mechanism};
//! let rec = parse("v=spf1 ip4:192.0.2.0/24 include:_spf.example.com -all");
//! assert!(rec.is_valid());
//! assert_eq!(rec.terms.len(), 3);
//! assert_eq!(rec.terms[1].text, "include:_spf.example.com");
//! assert_eq!(rec.terms[1].span, 24..48);
//! assert!(matches!(&rec.terms[1].kind, TermKind::Directive(d)
//!     if matches!(d.mechanism, Mechanism::Include { .. })));
//!
//! let bad = parse("v=spf1 include: _spf.example.com ipv4:192.0.2.1 –all");
//! assert_eq!(bad.errors.len(), 3);
//! assert_eq!(bad.errors[2].to_string(),
//!     "unknown mechanism \"–all\" at position 49 (it starts with \"–\" (U+2013 EN DASH), not \"-\")");
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::macros::{MacroContext, MacroString, describe_char};
use crate::model::SpfResult;

/// Does this TXT record announce SPF version 1? RFC 7208 §4.5: it starts with `v=spf1`
/// (any case) followed by a space or the end of the record.
pub fn is_spf_record(text: &[u8]) -> bool {
    text.len() >= 6
        && text[..6].eq_ignore_ascii_case(b"v=spf1")
        && (text.len() == 6 || text[6] == b' ')
}

/// A record as parsed: its terms in order and every syntax error found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRecord {
    /// The record text the spans refer to.
    pub text: String,
    /// The terms after `v=spf1`, in order. A term with an error has [`TermKind::Invalid`].
    pub terms: Vec<Term>,
    /// Every syntax error, in order of position. Empty for a valid record.
    pub errors: Vec<SyntaxError>,
}

/// One term of a record: a directive (qualifier + mechanism) or a modifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Byte range in [`ParsedRecord::text`].
    pub span: Range<usize>,
    /// 1-based character position of the term in the record (what a person counts).
    pub position: usize,
    /// The term as written.
    pub text: String,
    pub kind: TermKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermKind {
    Directive(Directive),
    Modifier(Modifier),
    /// The term has a syntax error (see [`ParsedRecord::errors`]).
    Invalid,
}

/// `directive = [ qualifier ] mechanism` (RFC 7208 §4.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub qualifier: Qualifier,
    /// The qualifier was written (`+all`) rather than implied (`all`).
    pub explicit_qualifier: bool,
    pub mechanism: Mechanism,
}

/// The result a matching directive gives (RFC 7208 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

impl Qualifier {
    pub fn result(self) -> SpfResult {
        match self {
            Qualifier::Pass => SpfResult::Pass,
            Qualifier::Fail => SpfResult::Fail,
            Qualifier::SoftFail => SpfResult::SoftFail,
            Qualifier::Neutral => SpfResult::Neutral,
        }
    }

    pub fn as_char(self) -> char {
        match self {
            Qualifier::Pass => '+',
            Qualifier::Fail => '-',
            Qualifier::SoftFail => '~',
            Qualifier::Neutral => '?',
        }
    }

    fn from_byte(b: u8) -> Option<Qualifier> {
        Some(match b {
            b'+' => Qualifier::Pass,
            b'-' => Qualifier::Fail,
            b'~' => Qualifier::SoftFail,
            b'?' => Qualifier::Neutral,
            _ => return None,
        })
    }
}

/// The mechanisms of RFC 7208 §5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// §5.1
    All,
    /// §5.2
    Include { domain: DomainSpec },
    /// §5.3; `domain` is `None` for the current domain.
    A {
        domain: Option<DomainSpec>,
        cidr: DualCidr,
    },
    /// §5.4
    Mx {
        domain: Option<DomainSpec>,
        cidr: DualCidr,
    },
    /// §5.5 (discouraged)
    Ptr { domain: Option<DomainSpec> },
    /// §5.6; `prefix` is `None` when no length was written (/32).
    Ip4 {
        network: Ipv4Addr,
        prefix: Option<u8>,
    },
    /// §5.6; `prefix` is `None` when no length was written (/128).
    Ip6 {
        network: Ipv6Addr,
        prefix: Option<u8>,
    },
    /// §5.7
    Exists { domain: DomainSpec },
}

impl Mechanism {
    /// The mechanism name in lower case.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::All => "all",
            Mechanism::Include { .. } => "include",
            Mechanism::A { .. } => "a",
            Mechanism::Mx { .. } => "mx",
            Mechanism::Ptr { .. } => "ptr",
            Mechanism::Ip4 { .. } => "ip4",
            Mechanism::Ip6 { .. } => "ip6",
            Mechanism::Exists { .. } => "exists",
        }
    }

    /// Does evaluating it cost one of the DNS lookups counted by RFC 7208 §4.6.4?
    pub fn is_lookup(&self) -> bool {
        matches!(
            self,
            Mechanism::Include { .. }
                | Mechanism::A { .. }
                | Mechanism::Mx { .. }
                | Mechanism::Ptr { .. }
                | Mechanism::Exists { .. }
        )
    }

    /// The domain-spec written after `:`, if any.
    pub fn domain_spec(&self) -> Option<&DomainSpec> {
        match self {
            Mechanism::Include { domain } | Mechanism::Exists { domain } => Some(domain),
            Mechanism::A { domain, .. }
            | Mechanism::Mx { domain, .. }
            | Mechanism::Ptr { domain } => domain.as_ref(),
            Mechanism::All | Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. } => None,
        }
    }
}

/// `dual-cidr-length` (RFC 7208 §5.6): prefix lengths for IPv4 and IPv6 answers of `a`/`mx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DualCidr {
    /// `/n`, `None` when not written (32).
    pub ip4: Option<u8>,
    /// `//m`, `None` when not written (128).
    pub ip6: Option<u8>,
}

impl DualCidr {
    pub fn ip4_len(&self) -> u8 {
        self.ip4.unwrap_or(32)
    }
    pub fn ip6_len(&self) -> u8 {
        self.ip6.unwrap_or(128)
    }
}

/// A `domain-spec` (RFC 7208 §7.1): the text as written and its parsed macro string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    pub text: String,
    pub macro_string: MacroString,
}

/// The modifiers of RFC 7208 §6, and unknown ones (ignored, but syntax-checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    /// `redirect=` (§6.1)
    Redirect { domain: DomainSpec },
    /// `exp=` (§6.2)
    Explanation { domain: DomainSpec },
    /// `name=macro-string` (§6, §12 `unknown-modifier`)
    Unknown { name: String, value: MacroString },
}

impl Term {
    /// Does evaluating this term cost one of the DNS lookups counted by §4.6.4
    /// (include, a, mx, ptr, exists, redirect)?
    pub fn is_lookup(&self) -> bool {
        match &self.kind {
            TermKind::Directive(d) => d.mechanism.is_lookup(),
            TermKind::Modifier(Modifier::Redirect { .. }) => true,
            _ => false,
        }
    }

    pub fn directive(&self) -> Option<&Directive> {
        match &self.kind {
            TermKind::Directive(d) => Some(d),
            _ => None,
        }
    }
}

impl ParsedRecord {
    /// No syntax errors: the record can be evaluated.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// The directives in order, with their terms.
    pub fn directives(&self) -> impl Iterator<Item = (&Term, &Directive)> {
        self.terms.iter().filter_map(|t| match &t.kind {
            TermKind::Directive(d) => Some((t, d)),
            _ => None,
        })
    }

    /// The `redirect=` modifier, if present (the first one).
    pub fn redirect(&self) -> Option<(&Term, &DomainSpec)> {
        self.terms.iter().find_map(|t| match &t.kind {
            TermKind::Modifier(Modifier::Redirect { domain }) => Some((t, domain)),
            _ => None,
        })
    }

    /// The `exp=` modifier, if present (the first one).
    pub fn explanation(&self) -> Option<(&Term, &DomainSpec)> {
        self.terms.iter().find_map(|t| match &t.kind {
            TermKind::Modifier(Modifier::Explanation { domain }) => Some((t, domain)),
            _ => None,
        })
    }

    /// Is there an `all` mechanism (with any qualifier)?
    pub fn has_all(&self) -> bool {
        self.directives()
            .any(|(_, d)| matches!(d.mechanism, Mechanism::All))
    }
}

/// What kind of mistake a [`SyntaxError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyntaxErrorKind {
    /// The text does not start with `v=spf1` followed by a space or the end.
    NotSpfRecord,
    /// A character outside printable ASCII (SPF records are 7-bit ASCII, §3.1... §12).
    NonAscii,
    /// A control character (terms are separated by spaces only, §4.6.1).
    ControlCharacter,
    /// A mechanism name that RFC 7208 does not define (including typos such as `ipv4:`,
    /// and a missing or wrong qualifier character such as an en dash).
    UnknownMechanism,
    /// `include`, `exists`, `ip4`, `ip6` without their `:` argument.
    MissingArgument,
    /// An argument where none is allowed (`all:x`, `all/8`, `ptr/24`).
    UnexpectedArgument,
    /// `include:` followed by a space (or another term that expects a value).
    SpaceAfterColon,
    /// `a:`, `include:`, `redirect=` ... with nothing after it.
    EmptyDomain,
    /// A domain-spec that does not end with `.toplabel` or a macro (§7.1).
    InvalidDomain,
    /// A macro that breaks the §7.1 grammar.
    InvalidMacro,
    InvalidIp4,
    InvalidIp6,
    /// A CIDR length that is malformed or out of range, or dual CIDR on ip4/ip6.
    InvalidCidr,
    /// `redirect=` or `exp=` more than once (§6).
    DuplicateModifier,
}

/// One syntax error: where, what, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub kind: SyntaxErrorKind,
    /// Byte range of the offending text in [`ParsedRecord::text`].
    pub span: Range<usize>,
    /// 1-based character position of the offending text.
    pub position: usize,
    /// The offending text (usually the whole term).
    pub text: String,
    /// What is wrong, e.g. `unknown mechanism "ipv4:192.0.2.1"`.
    pub detail: String,
    /// How to fix it, when we can guess, e.g. `did you mean "ip4:"?`.
    pub hint: Option<String>,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.detail, self.position)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Text quoted for a message: control characters escaped, the rest as written.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c.is_control() {
            match c {
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\0' => out.push_str("\\0"),
                _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// An error inside one term, relative to the term start.
struct TermError {
    kind: SyntaxErrorKind,
    offset: usize,
    len: usize,
    detail: String,
    hint: Option<String>,
}

impl TermError {
    fn whole(kind: SyntaxErrorKind, term: &str, detail: String) -> TermError {
        TermError {
            kind,
            offset: 0,
            len: term.len(),
            detail,
            hint: None,
        }
    }
    fn hint(mut self, hint: impl Into<String>) -> TermError {
        self.hint = Some(hint.into());
        self
    }
}

/// Parse a record (RFC 7208 §12 ABNF, case-insensitive). Never fails: problems are listed
/// in [`ParsedRecord::errors`].
pub fn parse(text: &str) -> ParsedRecord {
    let mut record = ParsedRecord {
        text: text.to_string(),
        terms: Vec::new(),
        errors: Vec::new(),
    };
    if !is_spf_record(text.as_bytes()) {
        let shown: String = text
            .split(' ')
            .next()
            .unwrap_or("")
            .chars()
            .take(20)
            .collect();
        record.errors.push(SyntaxError {
            kind: SyntaxErrorKind::NotSpfRecord,
            span: 0..text.split(' ').next().map_or(0, str::len),
            position: 1,
            text: shown.clone(),
            detail: format!(
                "not an SPF record: it must start with \"v=spf1\" and a space, not {}",
                quote(&shown)
            ),
            hint: None,
        });
        return record;
    }

    // Positions are computed incrementally: records are short, but not always.
    let mut char_pos = CharPositions::new(text);
    let spans = term_spans(text);
    let mut seen_redirect = false;
    let mut seen_exp = false;
    let mut i = 0;
    while i < spans.len() {
        let span = spans[i].clone();
        let term_text = &text[span.clone()];
        let position = char_pos.at(span.start);

        // `include: example.com`: one mistake, reported once for both pieces.
        if let Some(next) = spans.get(i + 1)
            && let Some(name) = expects_value(term_text)
            && looks_like_value(&text[next.clone()])
        {
            let joined = span.start..next.end;
            let written = &text[joined.clone()];
            let fixed = format!("{term_text}{}", &text[next.clone()]);
            record.errors.push(SyntaxError {
                kind: SyntaxErrorKind::SpaceAfterColon,
                span: joined.clone(),
                position,
                text: written.to_string(),
                detail: format!("space after \"{name}\" in {}", quote(written)),
                hint: Some(format!("write {}", quote(&fixed))),
            });
            record.terms.push(Term {
                span: joined,
                position,
                text: written.to_string(),
                kind: TermKind::Invalid,
            });
            i += 2;
            continue;
        }

        let kind = match parse_term(term_text) {
            Ok(kind) => {
                let duplicate = match &kind {
                    TermKind::Modifier(Modifier::Redirect { .. }) => {
                        Some(("redirect", std::mem::replace(&mut seen_redirect, true)))
                    }
                    TermKind::Modifier(Modifier::Explanation { .. }) => {
                        Some(("exp", std::mem::replace(&mut seen_exp, true)))
                    }
                    _ => None,
                };
                if let Some((name, true)) = duplicate {
                    record.errors.push(SyntaxError {
                        kind: SyntaxErrorKind::DuplicateModifier,
                        span: span.clone(),
                        position,
                        text: term_text.to_string(),
                        detail: format!(
                            "\"{name}=\" appears more than once ({})",
                            quote(term_text)
                        ),
                        hint: Some("RFC 7208 §6 allows each of redirect= and exp= once".into()),
                    });
                }
                kind
            }
            Err(e) => {
                let start = span.start + e.offset.min(term_text.len());
                let end = (start + e.len).min(span.end).max(start);
                record.errors.push(SyntaxError {
                    kind: e.kind,
                    span: start..end,
                    position: char_pos.at(start),
                    text: term_text.to_string(),
                    detail: e.detail,
                    hint: e.hint,
                });
                TermKind::Invalid
            }
        };
        record.terms.push(Term {
            span,
            position,
            text: term_text.to_string(),
            kind,
        });
        i += 1;
    }
    record
}

/// The byte spans of the terms after `v=spf1`, split on spaces only (§4.6.1).
fn term_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 6;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b' ' {
            i += 1;
        }
        spans.push(start..i);
    }
    spans
}

/// Converts byte offsets (increasing or not) to 1-based character positions.
struct CharPositions<'a> {
    text: &'a str,
    byte: usize,
    chars: usize,
}

impl<'a> CharPositions<'a> {
    fn new(text: &'a str) -> Self {
        CharPositions {
            text,
            byte: 0,
            chars: 0,
        }
    }

    fn at(&mut self, byte: usize) -> usize {
        if byte < self.byte {
            self.byte = 0;
            self.chars = 0;
        }
        let byte = byte.min(self.text.len());
        self.chars += self.text[self.byte..byte].chars().count();
        self.byte = byte;
        self.chars + 1
    }
}

/// A term that is a known mechanism or modifier name followed by its separator and nothing
/// else (`include:`, `redirect=`): the value probably went into the next term.
fn expects_value(term: &str) -> Option<&str> {
    let body = term.trim_start_matches(['+', '-', '~', '?']);
    let known = if let Some(name) = body.strip_suffix(':') {
        ["include", "a", "mx", "ptr", "exists", "ip4", "ip6"]
            .iter()
            .any(|k| name.eq_ignore_ascii_case(k))
    } else if let Some(name) = body.strip_suffix('=') {
        ["redirect", "exp"]
            .iter()
            .any(|k| name.eq_ignore_ascii_case(k))
    } else {
        false
    };
    known.then_some(body)
}

/// Could this term be the value of a preceding `include:` (a domain or an address) rather
/// than a term of its own?
fn looks_like_value(term: &str) -> bool {
    let first = term.as_bytes().first().copied().unwrap_or(b' ');
    if matches!(first, b'+' | b'-' | b'~' | b'?') {
        return false;
    }
    if parse_term(term).is_ok() {
        return false;
    }
    term.contains(['.', ':', '%'])
}

fn parse_term(term: &str) -> Result<TermKind, TermError> {
    // Terms are printable ASCII; anything else is reported where it is.
    if let Some((idx, c)) = term.char_indices().find(|&(_, c)| !(c.is_ascii_graphic())) {
        let name_end = term.find([':', '/', '=']).unwrap_or(term.len());
        if idx < name_end {
            // In the name: the mechanism is not one we know; say which character it is.
            let what = if idx == 0 {
                format!("it starts with {}", describe_char(c))
            } else {
                format!("it contains {}", describe_char(c))
            };
            let what = if idx == 0 && is_dash_like(c) {
                format!("{what}, not \"-\"")
            } else {
                what
            };
            return Err(TermError::whole(
                SyntaxErrorKind::UnknownMechanism,
                term,
                format!("unknown mechanism {}", quote(term)),
            )
            .hint(what));
        }
        let kind = if c.is_control() {
            SyntaxErrorKind::ControlCharacter
        } else {
            SyntaxErrorKind::NonAscii
        };
        let what = if c.is_control() {
            "control character"
        } else {
            "non-ASCII character"
        };
        let hint = if c.is_control() {
            "terms are separated by single spaces only".to_string()
        } else {
            "SPF records are plain ASCII".to_string()
        };
        return Err(TermError {
            kind,
            offset: idx,
            len: c.len_utf8(),
            detail: format!("{what} {} in {}", describe_char(c), quote(term)),
            hint: Some(hint),
        });
    }

    if let Some(eq) = modifier_name_end(term) {
        return parse_modifier(term, eq).map(TermKind::Modifier);
    }
    parse_directive(term).map(TermKind::Directive)
}

fn is_dash_like(c: char) -> bool {
    matches!(
        c,
        '\u{2010}'
            | '\u{2011}'
            | '\u{2012}'
            | '\u{2013}'
            | '\u{2014}'
            | '\u{2212}'
            | '\u{fe63}'
            | '\u{ff0d}'
    )
}

/// `name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )` followed by `=`: the index of `=`.
fn modifier_name_end(term: &str) -> Option<usize> {
    let bytes = term.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let end = bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))?;
    (bytes[end] == b'=').then_some(end)
}

fn parse_modifier(term: &str, eq: usize) -> Result<Modifier, TermError> {
    let name = &term[..eq];
    let value = &term[eq + 1..];
    let value_offset = eq + 1;
    if name.eq_ignore_ascii_case("redirect") || name.eq_ignore_ascii_case("exp") {
        let domain = parse_domain_spec(term, value, value_offset)?;
        return Ok(if name.eq_ignore_ascii_case("redirect") {
            Modifier::Redirect { domain }
        } else {
            Modifier::Explanation { domain }
        });
    }
    let value =
        MacroString::parse(value, MacroContext::UnknownModifier).map_err(|e| TermError {
            kind: SyntaxErrorKind::InvalidMacro,
            offset: value_offset + e.offset,
            len: e.len,
            detail: format!("{} in modifier {}", e.detail, quote(term)),
            hint: None,
        })?;
    Ok(Modifier::Unknown {
        name: name.to_string(),
        value,
    })
}

const MECHANISMS: [&str; 8] = ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"];

fn parse_directive(term: &str) -> Result<Directive, TermError> {
    let (qualifier, explicit_qualifier, body_offset) = match term
        .as_bytes()
        .first()
        .copied()
        .and_then(Qualifier::from_byte)
    {
        Some(q) => (q, true, 1),
        None => (Qualifier::Pass, false, 0),
    };
    let body = &term[body_offset..];
    let name_len = body.find([':', '/']).unwrap_or(body.len());
    let name = &body[..name_len];
    let rest = &body[name_len..];
    let rest_offset = body_offset + name_len;
    let lower = name.to_ascii_lowercase();

    let unknown = || {
        let mut e = TermError::whole(
            SyntaxErrorKind::UnknownMechanism,
            term,
            format!("unknown mechanism {}", quote(term)),
        );
        e.hint = unknown_mechanism_hint(&lower, term, rest);
        e
    };
    if !MECHANISMS.contains(&lower.as_str()) {
        return Err(unknown());
    }

    let missing = |what: &str| {
        TermError::whole(
            SyntaxErrorKind::MissingArgument,
            term,
            format!("\"{lower}\" needs {what}: {}", quote(term)),
        )
    };
    let mechanism =
        match lower.as_str() {
            "all" => {
                if !rest.is_empty() {
                    return Err(TermError::whole(
                        SyntaxErrorKind::UnexpectedArgument,
                        term,
                        format!("\"all\" takes no argument: {}", quote(term)),
                    ));
                }
                Mechanism::All
            }
            "include" | "exists" => {
                let Some(spec) = rest.strip_prefix(':') else {
                    return Err(if rest.is_empty() {
                        missing("a domain after \":\"")
                    } else {
                        TermError::whole(
                            SyntaxErrorKind::UnexpectedArgument,
                            term,
                            format!("\"{lower}\" takes no CIDR length: {}", quote(term)),
                        )
                    });
                };
                let domain = parse_domain_spec(term, spec, rest_offset + 1)?;
                if lower == "include" {
                    Mechanism::Include { domain }
                } else {
                    Mechanism::Exists { domain }
                }
            }
            "a" | "mx" => {
                let (domain, cidr) = if let Some(arg) = rest.strip_prefix(':') {
                    let (spec_len, cidr) = split_dual_cidr(term, arg, rest_offset + 1)?;
                    let domain = parse_domain_spec(term, &arg[..spec_len], rest_offset + 1)?;
                    (Some(domain), cidr)
                } else {
                    let cidr = parse_dual_cidr(term, rest, rest_offset)?;
                    (None, cidr)
                };
                if lower == "a" {
                    Mechanism::A { domain, cidr }
                } else {
                    Mechanism::Mx { domain, cidr }
                }
            }
            "ptr" => {
                let domain = if let Some(spec) = rest.strip_prefix(':') {
                    Some(parse_domain_spec(term, spec, rest_offset + 1)?)
                } else if rest.is_empty() {
                    None
                } else {
                    return Err(TermError::whole(
                        SyntaxErrorKind::UnexpectedArgument,
                        term,
                        format!("\"ptr\" takes no CIDR length: {}", quote(term)),
                    ));
                };
                Mechanism::Ptr { domain }
            }
            "ip4" | "ip6" => {
                let Some(arg) = rest.strip_prefix(':') else {
                    return Err(missing(if lower == "ip4" {
                        "an address: ip4:192.0.2.0/24"
                    } else {
                        "an address: ip6:2001:db8::/32"
                    }));
                };
                let (addr_text, cidr_text) = match arg.find('/') {
                    Some(slash) => (&arg[..slash], Some(&arg[slash + 1..])),
                    None => (arg, None),
                };
                let arg_offset = rest_offset + 1;
                let v4 = lower == "ip4";
                let max = if v4 { 32 } else { 128 };
                let prefix = match cidr_text {
                None => None,
                Some(c) => Some(parse_cidr_digits(c, max).ok_or_else(|| {
                    let dual = c.starts_with('/');
                    TermError {
                        kind: SyntaxErrorKind::InvalidCidr,
                        offset: arg_offset + addr_text.len(),
                        len: c.len() + 1,
                        detail: if dual {
                            format!("dual CIDR length is not allowed on {lower}: {}", quote(term))
                        } else {
                            format!(
                                "invalid CIDR length \"/{c}\" in {} (0 to {max}, no leading zeros)",
                                quote(term)
                            )
                        },
                        hint: None,
                    }
                })?),
            };
                let bad_addr = |kind, what: &str| TermError {
                    kind,
                    offset: arg_offset,
                    len: addr_text.len(),
                    detail: format!(
                        "invalid {what} address {} in {}",
                        quote(addr_text),
                        quote(term)
                    ),
                    hint: None,
                };
                if v4 {
                    let network = parse_ip4_strict(addr_text).ok_or_else(|| {
                        let mut e = bad_addr(SyntaxErrorKind::InvalidIp4, "IPv4");
                        if addr_text.contains(':') && addr_text.split(':').count() == 2 {
                            e.hint = Some("a port number is not part of an address".into());
                        } else if addr_text.split('.').count() < 4 {
                            e.hint = Some(
                                "write all four parts and a CIDR length, e.g. 192.0.2.0/24".into(),
                            );
                        }
                        e
                    })?;
                    Mechanism::Ip4 { network, prefix }
                } else {
                    let network: Ipv6Addr = addr_text.parse().map_err(|_| {
                        let mut e = bad_addr(SyntaxErrorKind::InvalidIp6, "IPv6");
                        if parse_ip4_strict(addr_text).is_some() {
                            e.hint = Some("use ip4: for IPv4 addresses".into());
                        }
                        e
                    })?;
                    Mechanism::Ip6 { network, prefix }
                }
            }
            _ => return Err(unknown()),
        };
    Ok(Directive {
        qualifier,
        explicit_qualifier,
        mechanism,
    })
}

fn unknown_mechanism_hint(lower: &str, term: &str, rest: &str) -> Option<String> {
    let suggestion = match lower {
        "ipv4" | "ip" | "ip4." | "ipv" | "i4" => Some("ip4"),
        "ipv6" | "i6" => Some("ip6"),
        "prt" | "ptr." => Some("ptr"),
        "all." | "al" | "alll" => Some("all"),
        "includes" | "inlcude" | "incude" | "inclde" | "include." | "incl" | "inc" => {
            Some("include")
        }
        "exist" | "exits" => Some("exists"),
        "redirect" | "exp" => {
            return Some(format!("{lower} is a modifier: write \"{lower}=...\""));
        }
        _ => None,
    };
    if let Some(s) = suggestion {
        return Some(format!(
            "did you mean \"{s}{}\"?",
            rest.get(..1).unwrap_or("")
        ));
    }
    if term.contains('=') {
        return Some("modifier names start with a letter and contain only letters, digits, \"-\", \"_\" and \".\"".into());
    }
    if parse_ip4_strict(term.split('/').next().unwrap_or("")).is_some() {
        return Some("write \"ip4:\" before an address".into());
    }
    if lower.is_empty() {
        return Some("a qualifier must be followed by a mechanism".into());
    }
    None
}

/// `ip4-network` (RFC 7208 §5.6): four decimal parts 0-255 without leading zeros.
pub fn parse_ip4_strict(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty()
            || part.len() > 3
            || !part.bytes().all(|b| b.is_ascii_digit())
            || (part.len() > 1 && part.starts_with('0'))
        {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// The digits of a CIDR length: no leading zeros, at most `max`.
fn parse_cidr_digits(s: &str, max: u8) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    let v: u16 = s.parse().ok()?;
    (v <= u16::from(max)).then_some(v as u8)
}

/// `dual-cidr-length` written alone after `a`/`mx` (`a/24`, `mx//64`, `a/24//64`).
fn parse_dual_cidr(term: &str, rest: &str, offset: usize) -> Result<DualCidr, TermError> {
    if rest.is_empty() {
        return Ok(DualCidr::default());
    }
    let (spec_len, cidr) = split_dual_cidr(term, rest, offset)?;
    if spec_len != 0 {
        return Err(TermError {
            kind: SyntaxErrorKind::InvalidCidr,
            offset,
            len: rest.len(),
            detail: format!("invalid CIDR length {} in {}", quote(rest), quote(term)),
            hint: Some("write /N for IPv4 (0-32) and //N for IPv6 (0-128), e.g. a/24//64".into()),
        });
    }
    Ok(cidr)
}

/// Split `domain-spec [dual-cidr-length]` at the trailing `/n`, `//m` or `/n//m`; returns
/// the length of the domain part and the lengths. Range errors are reported here.
fn split_dual_cidr(term: &str, arg: &str, offset: usize) -> Result<(usize, DualCidr), TermError> {
    let mut end = arg.len();
    let mut cidr = DualCidr::default();
    let bad = |start: usize, end: usize, max: u8, ip6: bool| TermError {
        kind: SyntaxErrorKind::InvalidCidr,
        offset: offset + start,
        len: end - start,
        detail: format!(
            "invalid {} CIDR length {} in {} (0 to {max}, no leading zeros)",
            if ip6 { "IPv6" } else { "IPv4" },
            quote(&arg[start..end]),
            quote(term)
        ),
        hint: None,
    };
    // `//m` at the end.
    if let Some((digits_start, slash)) = trailing_digits_after_slash(&arg[..end])
        && slash >= 1
        && arg.as_bytes()[slash - 1] == b'/'
    {
        let digits = &arg[digits_start..end];
        cidr.ip6 =
            Some(parse_cidr_digits(digits, 128).ok_or_else(|| bad(slash - 1, end, 128, true))?);
        end = slash - 1;
    }
    // `/n` before it (or alone).
    if let Some((digits_start, slash)) = trailing_digits_after_slash(&arg[..end])
        && !(slash >= 1 && arg.as_bytes()[slash - 1] == b'/')
    {
        let digits = &arg[digits_start..end];
        cidr.ip4 = Some(parse_cidr_digits(digits, 32).ok_or_else(|| bad(slash, end, 32, false))?);
        end = slash;
    }
    Ok((end, cidr))
}

/// If `s` ends with `/` followed by one or more digits: (index of the digits, index of `/`).
fn trailing_digits_after_slash(s: &str) -> Option<(usize, usize)> {
    let digits = s.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits == s.len() {
        return None;
    }
    let slash = s.len() - digits - 1;
    (s.as_bytes()[slash] == b'/').then_some((slash + 1, slash))
}

/// `domain-spec = macro-string domain-end`, `domain-end = ( "." toplabel [ "." ] ) /
/// macro-expand` (RFC 7208 §7.1). `offset` is where `spec` starts in `term`.
fn parse_domain_spec(term: &str, spec: &str, offset: usize) -> Result<DomainSpec, TermError> {
    let name = term
        .trim_start_matches(['+', '-', '~', '?'])
        .split([':', '=', '/'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if spec.is_empty() {
        return Err(TermError {
            kind: SyntaxErrorKind::EmptyDomain,
            offset: offset.min(term.len()),
            len: 0,
            detail: format!("empty domain after {}", quote(term)),
            hint: None,
        });
    }
    let macro_string = MacroString::parse(spec, MacroContext::Domain).map_err(|e| TermError {
        kind: SyntaxErrorKind::InvalidMacro,
        offset: offset + e.offset,
        len: e.len,
        detail: format!("{} in {}", e.detail, quote(term)),
        hint: None,
    })?;
    // A trailing dot after a final macro (`%{d}.`) is accepted: the ABNF does not allow
    // it, but it is harmless and some publishers write it.
    let ends_with_expand = macro_string.ends_with_expand
        || (spec.ends_with('.') && last_expand_end(spec) == spec.len() - 1);
    if !ends_with_expand {
        let tail_start = last_expand_end(spec);
        let tail = &spec[tail_start..];
        let tail = tail.strip_suffix('.').unwrap_or(tail);
        let toplabel = tail.rfind('.').map(|dot| &tail[dot + 1..]);
        let problem = match toplabel {
            None => Some("not a fully qualified domain name".to_string()),
            Some(label) if !is_toplabel(label) => {
                if !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()) {
                    Some("the last label is numeric".to_string())
                } else {
                    Some(format!("{} is not a valid top-level label", quote(label)))
                }
            }
            Some(_) => None,
        };
        if let Some(problem) = problem {
            let mut e = TermError {
                kind: SyntaxErrorKind::InvalidDomain,
                offset,
                len: spec.len(),
                detail: format!(
                    "invalid domain {} ({problem}) in {}",
                    quote(spec),
                    quote(term)
                ),
                hint: None,
            };
            if parse_ip4_strict(spec.split('/').next().unwrap_or("")).is_some() {
                e.hint = Some("use ip4: for addresses".into());
            } else if matches!(
                name.as_str(),
                "include" | "exists" | "redirect" | "exp" | "ptr"
            ) && spec.contains('/')
            {
                e.hint = Some(format!("\"{name}\" takes no CIDR length"));
            } else if spec.contains(':')
                && spec
                    .rsplit(':')
                    .next()
                    .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
            {
                e.hint = Some("a port number is not part of a domain".into());
            }
            return Err(e);
        }
    }
    Ok(DomainSpec {
        text: spec.to_string(),
        macro_string,
    })
}

/// The byte index just after the last macro-expand in `spec` (0 if none).
fn last_expand_end(spec: &str) -> usize {
    let bytes = spec.as_bytes();
    let mut i = 0;
    let mut end = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            match bytes.get(i + 1) {
                Some(b'{') => {
                    let close = bytes[i..]
                        .iter()
                        .position(|&b| b == b'}')
                        .map_or(bytes.len(), |p| i + p + 1);
                    i = close;
                    end = close;
                    continue;
                }
                Some(_) => {
                    i += 2;
                    end = i;
                    continue;
                }
                None => break,
            }
        }
        i += 1;
    }
    let mut end = end.min(bytes.len());
    while !spec.is_char_boundary(end) {
        end += 1;
    }
    end
}

/// `toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`
fn is_toplabel(label: &str) -> bool {
    let b = label.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    if !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
        return false;
    }
    if b.contains(&b'-') {
        first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()
    } else {
        b.iter().any(u8::is_ascii_alphabetic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(text).errors.iter().map(ToString::to_string).collect()
    }

    fn kinds(text: &str) -> Vec<SyntaxErrorKind> {
        parse(text).errors.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn record_selection() {
        assert!(is_spf_record(b"v=spf1"));
        assert!(is_spf_record(b"V=SpF1 -all"));
        assert!(!is_spf_record(b"v=spf10"));
        assert!(!is_spf_record(b"v=spf1mx"));
        assert!(!is_spf_record(b" v=spf1"));
    }

    #[test]
    fn valid_records() {
        for rec in [
            "v=spf1",
            "v=spf1 ",
            "v=spf1  a  -all ",
            "v=spf1 +all",
            "v=spf1 a mx ptr a:example.com mx:example.com/24 a/24//64 a//0 mx/0",
            "v=spf1 ip4:192.0.2.0/24 ip4:1.1.1.1/0 ip6:2001:db8::/32 ip6:::1.1.1.1/0",
            "v=spf1 include:_spf.example.com. exists:%{ir}.%{l1r+-}._spf.%{d} ~all",
            "v=spf1 redirect=%{d}.d.spf.example.com. exp=explain._spf.%{d}",
            "v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all",
            "v=spf1 a:foo:bar/baz.example.com a:foo.example.xn--zckzah",
            "v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all",
            "v=spf1 default=pass foo= bar=%{l}",
            "v=spf1 exists:%{i}.%{l2r-}.user.%{d2}",
            "v=spf1 a:%{H}",
            "v=spf1 a:%{d}.",
        ] {
            let p = parse(rec);
            assert!(p.is_valid(), "{rec}: {:?}", p.errors);
        }
    }

    #[test]
    fn invalid_records() {
        for rec in [
            "v=spf1 ip4:1.2.3.4 -all moo",
            "v=spf1 moo.cow/far_out=man:dog/cat",
            "v=spf1 moo.cow:far_out=man:dog/cat",
            "v=spf1 redirect:t2.example.com",
            "v=spf1 a:foo-bar",
            "v=spf1 -all.",
            "v=spf1 -all:foobar",
            "v=spf1 -all/8",
            "v=spf1 ptr/0",
            "v=spf1 ptr:",
            "v=spf1 a/33",
            "v=spf1 a//129",
            "v=spf1 a/24/64",
            "v=spf1 a:example.com:8080",
            "v=spf1 a:foo.example.com\0",
            "v=spf1 a:111.222.33.44",
            "v=spf1 a:abc.123",
            "v=spf1 a:museum",
            "v=spf1 a:museum.",
            "v=spf1 a:example.-com",
            "v=spf1 a:",
            "v=spf1 include",
            "v=spf1 include:",
            "v=spf1 include:ip5.example.com/24",
            "v=spf1 mx:",
            "v=spf1 exists:",
            "v=spf1 exists",
            "v=spf1 exists:mail.example.com/24",
            "v=spf1 ip4:1.2.3.4/33",
            "v=spf1 ip4:1.2.3.4/032",
            "v=spf1 ip4",
            "v=spf1 ip4:1.2.3.4//32",
            "v=spf1 ip4:1.2.3.4:8080",
            "v=spf1 ip4:1.2.3",
            "v=spf1 ip4:01.2.3.4",
            "v=spf1 ip6",
            "v=spf1 ip6:::1.1.1.1/129",
            "v=spf1 ip6:::1.1.1.1//33",
            "v=spf1 ip6::CAFE::BABE",
            "v=spf1 exp=a.example.com exp=b.example.com",
            "v=spf1 redirect=a.example.com redirect=a.example.com",
            "v=spf1 exp=",
            "v=spf1 exp=-all",
            "v=spf1 redirect=-all",
            "v=spf1 redirect=",
            "v=spf1 1up=foo",
            "v=spf1 =all",
            "v=spf1 foo=%abc",
            "v=spf1 -exists:%(ir).sbl.example.com",
            "v=spf1 exists:foo%.sbl.example.com",
            "v=spf1 a:%{a}.example.com",
            "v=spf1 exp=%{r}.example.com",
            "v=spf1 a:ctrl.example.com\rptr -all",
            "v=spf1 ip4:192.0.2.5\n include:x.example.com",
            "v=spf1 \u{80}a:example.net",
            "v=spf1 a:\u{feff}garbage.example.net",
            "v=spf1 -",
        ] {
            let p = parse(rec);
            assert!(!p.is_valid(), "{rec:?} should be invalid");
            assert!(
                p.errors
                    .iter()
                    .all(|e| p.text.get(e.span.clone()).is_some())
            );
        }
    }

    #[test]
    fn messages_name_position_and_text() {
        let rec = "v=spf1 ip4:192.0.2.1 include:_spf.example.com –all";
        assert_eq!(
            errors(rec),
            vec![
                "unknown mechanism \"–all\" at position 47 (it starts with \"–\" (U+2013 EN DASH), not \"-\")"
            ]
        );
        assert_eq!(
            errors("v=spf1 include: _spf.google.com ~all"),
            vec![
                "space after \"include:\" in \"include: _spf.google.com\" at position 8 (write \"include:_spf.google.com\")"
            ]
        );
        assert_eq!(
            errors("v=spf1 ipv4:192.0.2.1 -all"),
            vec!["unknown mechanism \"ipv4:192.0.2.1\" at position 8 (did you mean \"ip4:\"?)"]
        );
        assert_eq!(
            errors("v=spf1 ip4:192.0.2.5\n include:x.example.com"),
            vec![
                "control character U+000A (line feed) in \"ip4:192.0.2.5\\n\" at position 21 (terms are separated by single spaces only)"
            ]
        );
        assert_eq!(
            errors("v=spf1 a:111.222.33.44"),
            vec![
                "invalid domain \"111.222.33.44\" (the last label is numeric) in \"a:111.222.33.44\" at position 10 (use ip4: for addresses)"
            ]
        );
    }

    #[test]
    fn all_errors_are_reported() {
        assert_eq!(
            kinds(
                "v=spf1 ipv4:1.2.3.4 a:museum ip4:1.2.3.4/33 exp=x.example.com exp=y.example.com"
            ),
            vec![
                SyntaxErrorKind::UnknownMechanism,
                SyntaxErrorKind::InvalidDomain,
                SyntaxErrorKind::InvalidCidr,
                SyntaxErrorKind::DuplicateModifier,
            ]
        );
        assert_eq!(kinds("spf1 -all"), vec![SyntaxErrorKind::NotSpfRecord]);
    }

    #[test]
    fn terms_keep_spans_and_meaning() {
        let p = parse(
            "v=spf1  -a:mail.example.com/24//64 ?mx ~ptr ip6:2001:db8::/32 redirect=x.example.com",
        );
        assert!(p.is_valid());
        let t = &p.terms[0];
        assert_eq!(t.span, 8..34);
        assert_eq!(t.position, 9);
        assert_eq!(&p.text[t.span.clone()], t.text);
        let d = t.directive().unwrap();
        assert_eq!(d.qualifier, Qualifier::Fail);
        assert!(d.explicit_qualifier);
        match &d.mechanism {
            Mechanism::A { domain, cidr } => {
                assert_eq!(domain.as_ref().unwrap().text, "mail.example.com");
                assert_eq!(
                    *cidr,
                    DualCidr {
                        ip4: Some(24),
                        ip6: Some(64)
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(p.terms.iter().filter(|t| t.is_lookup()).count() == 4);
        assert_eq!(p.redirect().unwrap().1.text, "x.example.com");
        assert!(!p.has_all());
    }

    #[test]
    fn error_spans_point_at_the_offending_text() {
        let spans = |rec: &str| -> Vec<(String, usize)> {
            let p = parse(rec);
            p.errors
                .iter()
                .map(|e| (p.text[e.span.clone()].to_string(), e.position))
                .collect()
        };
        assert_eq!(
            spans("v=spf1 a:%{x}.example.com"),
            vec![("%{x}".to_string(), 10)]
        );
        assert_eq!(spans("v=spf1 mx/33"), vec![("/33".to_string(), 10)]);
        assert_eq!(
            spans("v=spf1 ip4:10.0.0.1/033"),
            vec![("/033".to_string(), 20)]
        );
        assert_eq!(
            spans("v=spf1 ip4:10.0.0.256"),
            vec![("10.0.0.256".to_string(), 12)]
        );
        assert_eq!(
            spans("v=spf1 include:foo.example.com/24"),
            vec![("foo.example.com/24".to_string(), 16)]
        );
        assert_eq!(
            spans("v=spf1 a:x.example.com\u{d}ptr"),
            vec![("\r".to_string(), 23)]
        );
        assert_eq!(spans("v=spf1 é:x -all"), vec![("é:x".to_string(), 8)]);
        // Positions count characters, not bytes.
        assert_eq!(spans("v=spf1 a:é.example.com –all").last().unwrap().1, 24);
        let p = parse("v=spf1 include: a.example.com -all");
        assert_eq!(p.terms.len(), 2);
        assert_eq!(p.terms[0].kind, TermKind::Invalid);
        assert_eq!(p.terms[0].text, "include: a.example.com");
        assert!(matches!(p.terms[1].kind, TermKind::Directive(_)));
    }

    #[test]
    fn huge_and_hostile_records_do_not_panic() {
        let mut rec = String::from("v=spf1");
        for i in 0..5000 {
            rec.push_str(&format!(" ip4:10.{}.{}.0/24", i / 256, i % 256));
        }
        rec.push_str(" %{ -all: ip6:zz:: a/99999999999999999999 ptr:%{d99999999999999999999999r}");
        let p = parse(&rec);
        assert_eq!(p.terms.len(), 5005);
        assert!(!p.is_valid());
        let junk: String = (0u8..=255).map(char::from).collect();
        let _ = parse(&format!("v=spf1 {junk} {junk}:{junk} a:{junk}"));
        let _ = parse("v=spf1 é:é a:é/é//é ");
    }
}
