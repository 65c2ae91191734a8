//! `Received-SPF` (RFC 7208 §9.1) in every family real writers produce, and the reader of
//! the prose SPF writers put in comments (`domain of X designates IP as permitted sender`),
//! which `Authentication-Results` and vendor headers reuse.
//!
//! Families (see `../shared/formats/NOTES.md`): the RFC key=value list; Microsoft 365 /
//! Exchange, whose SoftFail/None/Neutral/TempError/PermError headers hold the IP and domain
//! only in the comment; Google (incl. "best guess record"); Yahoo (comment only); libspf2
//! ("transitioning domain of"); Mail::SPF ("Sender is authorized to use 'a@b' in 'mfrom'
//! identity"); pypolicyd-spf (`(mailfrom)` comment, `receiver=<UNKNOWN>`); Courier
//! (`SPF=MAILFROM; sender=; remoteip=::ffff:…`); Cisco IronPort (`identity=pra` is Sender-ID,
//! not SPF); keys-only (Sophos, LinkedIn); Zoho `client-ip: 1.2.3.4`; vSMTP `envelope_from=`;
//! the 2004 draft's `client_ip=` and legacy `unknown`/`error` results.
//!
//! How the verdict is filled (the same for every parser of this module family):
//! - `result`: the word as written (`parse_lenient`: any case, `unknown` -> permerror,
//!   `error` -> temperror). `None` when there is no result word, when the word is not a
//!   result ([`UNKNOWN_RESULT`] note), and when the header records no SPF evaluation:
//!   `(connection is authenticated)`, an rspamd/pypolicyd skip, or a verdict on a non-SPF
//!   identity (Sender-ID `identity=pra`/`smtp.pra`, Courier `SPF=FROM`). Those verdicts are
//!   kept (with IP, receiver, envelope data when given) and their `writer` says why and what
//!   was written (see [`NO_CHECK_AUTHENTICATED`], [`NOT_SPF_IDENTITY`], [`NO_CHECK_SKIPPED`],
//!   [`records_no_spf_check`]).
//! - `client_ip`: a valid IP from a key, else from the comment wording, else (AR only) an
//!   iprev hint; IPv4-mapped IPv6 becomes IPv4. A non-IP in the IP slot (`A.B.C.D`,
//!   `185.118.189.phishing@pot`) goes to `client_ip_raw` and `client_ip` stays `None`.
//! - `identity`: `identity=`, Courier `SPF=`, the comment scope (`(helo)`, `in 'mfrom'
//!   identity`), AR `smtp.mailfrom` vs `smtp.helo`; otherwise MAIL FROM when the header names
//!   an envelope-from or a "domain of X" (RFC 7208 §2.4), else `None`.
//! - `envelope_from`: what a key/property records as MAIL FROM (`""` for the null sender),
//!   or the comment's subject when it is a full address. A comment that names only a domain
//!   (Microsoft: "domain of gmail.com") fills `domain`, not `envelope_from`.
//! - `domain`: the domain of the envelope-from (of the HELO for the null sender and for HELO
//!   verdicts), else the one named in the comment; lower-case; never an IP literal.
//! - `receiver`: the most specific real host name among `receiver=`, the comment's leading
//!   `host:` and the authserv-id (RCPT addresses and `<UNKNOWN>` are not receivers).
//! - `writer`: a short name when the wording or host identifies it (`microsoft`, `google`,
//!   `libspf2`, `mail-spf-perl`, `pypolicyd-spf`, `courier`, `ironport`, `rspamd`, ...),
//!   followed by `; `-separated notes (`best guess record`, the no-evaluation notes).

use super::text::{
    self, IpText, Item, Pair, clean_address, clean_prose_token_cow, clean_value, domain_of,
    ip_text, most_specific_host,
};
use super::{RecordedVerdict, VerdictSource};
use crate::model::{Identity, SpfResult};
use std::borrow::Cow;
use std::sync::LazyLock;

/// Writer note: the receiver recorded a result for an authenticated submission
/// (`pass (connection is authenticated)`): no SPF check was made, so `result` is `None`.
pub const NO_CHECK_AUTHENTICATED: &str = "no SPF check: connection is authenticated";
/// Writer note: the verdict is about an identity SPF does not define (Sender-ID `pra`,
/// Courier `SPF=FROM`): `result` and `identity` are `None`.
pub const NOT_SPF_IDENTITY: &str = "not an SPF identity";
/// Writer note: the receiver says it skipped SPF (`SPF check N/A`, rspamd local networks).
pub const NO_CHECK_SKIPPED: &str = "no SPF check: skipped";

/// Writer note: the result word is none of the seven (nor a legacy one), e.g. RFC 4408-era
/// `spf=policy`; `result` is `None`.
pub const UNKNOWN_RESULT: &str = "unknown result word";

/// Whether a verdict records that no SPF evaluation was made (see the writer notes above).
pub fn records_no_spf_check(verdict: &RecordedVerdict) -> bool {
    verdict.writer.as_deref().is_some_and(|w| {
        w.contains(NO_CHECK_AUTHENTICATED)
            || w.contains(NOT_SPF_IDENTITY)
            || w.contains(NO_CHECK_SKIPPED)
    })
}

/// Parse one unfolded `Received-SPF` value (without the field name). Returns a verdict with
/// whatever could be recovered; `result` is `None` when the value carries no result word or
/// records no SPF evaluation.
pub fn parse(value: &str) -> RecordedVerdict {
    let items = text::lex(value);
    // RFC 7208 §9.1: `Received-SPF: [CFWS] result FWS [comment FWS] [key-value-list]`.
    let mut result_word: Option<&str> = None;
    let mut rest: &[Item<'_>] = &items;
    for (i, item) in items.iter().enumerate() {
        if let Item::Word { text: word, .. } = item {
            if text::key_value(word).is_none() {
                result_word = Some(word);
                rest = items.get(i + 1..).unwrap_or(&[]);
            }
            break;
        }
    }
    let pairs = text::pairs(rest, is_received_spf_key);
    let mut explanation = Explanation::default();
    for item in &items {
        if let Item::Comment(comment) = item {
            explanation.merge(explain(comment));
        }
    }
    let mut draft = Draft {
        result_word: result_word.map(str::to_string),
        ..Draft::default()
    };
    draft.take_pairs(&pairs);
    draft.finish(explanation, VerdictSource::ReceivedSpf)
}

/// Keys of RFC 7208 §9.1 and of the writers that deviate from it.
fn is_received_spf_key(key: &str) -> bool {
    matches!(
        key,
        "client-ip"
            | "client_ip"
            | "clientip"
            | "envelope-from"
            | "envelope_from"
            | "helo"
            | "identity"
            | "receiver"
            | "mechanism"
            | "problem"
            | "spf"
            | "sender"
            | "remoteip"
            | "remotehost"
            | "pr"
    ) || key.starts_with("x-")
}

/// Which identity a verdict is about, as the header says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Spf(Identity),
    /// Not an SPF identity: Sender-ID `pra` (RFC 4406), Courier `FROM` (Courier checks the
    /// From: header address, see courier-mta.org/webadmin/30xspf.html).
    NotSpf(&'static str),
}

impl Scope {
    fn from_word(word: &str) -> Option<Scope> {
        let word = clean_prose_token_cow(word);
        let is = |name: &str| word.eq_ignore_ascii_case(name);
        Some(
            if [
                "mailfrom",
                "mfrom",
                "mail-from",
                "mail_from",
                "envelope-from",
            ]
            .iter()
            .any(|name| is(name))
            {
                Scope::Spf(Identity::MailFrom)
            } else if is("helo") || is("ehlo") {
                Scope::Spf(Identity::Helo)
            } else if is("pra") {
                Scope::NotSpf("Sender-ID pra")
            } else if is("from") {
                Scope::NotSpf("header From")
            } else {
                return None;
            },
        )
    }
}

/// The values a header gave, before deciding what they mean. Shared with
/// `auth_results` and `other_headers`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    pub result_word: Option<String>,
    pub ip: Option<IpText>,
    /// An IP from somewhere weaker (another method's `smtp.remote-ip`/`policy.iprev`).
    pub ip_hint: Option<IpText>,
    pub helo: Option<String>,
    pub envelope_from: Option<String>,
    /// Courier's `sender=` (MAIL FROM or HELO depending on `SPF=`).
    pub sender: Option<String>,
    pub scope: Option<Scope>,
    /// Receiver names in preference order (ties go to the earlier).
    pub receivers: Vec<String>,
    pub writer: Option<&'static str>,
    pub notes: Vec<String>,
}

impl Draft {
    /// Take the keys of a Received-SPF-style list (also used for the key lists that
    /// spf-engine and vSMTP put in Authentication-Results comments and `reason=`).
    pub fn take_pairs(&mut self, pairs: &[Pair<'_>]) {
        for pair in pairs {
            let value = pair.value.as_ref();
            match pair.key.as_ref() {
                "client-ip" | "client_ip" | "clientip" | "remoteip" if self.ip.is_none() => {
                    self.ip = ip_text(value);
                }
                "envelope-from" | "envelope_from" => {
                    let address = clean_address(value);
                    // A full address refines a bare domain recorded for the same sender
                    // (spf-engine: `smtp.mailfrom=kernel.org (… envelope-from=a@kernel.org)`).
                    let refines = |known: &String| {
                        !known.contains('@')
                            && address.contains('@')
                            && domain_of(known) == domain_of(&address)
                    };
                    if self.envelope_from.as_ref().is_none_or(refines) {
                        self.envelope_from = Some(address);
                    }
                }
                "helo" => {
                    let helo = clean_address(value);
                    if self.helo.is_none() && !helo.is_empty() {
                        self.helo = Some(helo);
                    }
                }
                "sender" if self.sender.is_none() => {
                    self.sender = Some(clean_address(value));
                }
                "identity" | "spf" => {
                    if self.scope.is_none() {
                        self.scope = Scope::from_word(value);
                    }
                    if pair.key == "spf" {
                        self.writer.get_or_insert("courier");
                    }
                }
                "receiver" => {
                    let receiver = clean_value(value);
                    if receiver.eq_ignore_ascii_case("unknown") {
                        self.writer.get_or_insert("pypolicyd-spf");
                    } else if !receiver.contains('@') {
                        self.receivers.push(receiver);
                    }
                }
                "x-conformance" | "x-record-type" | "x-record-text" => {
                    self.writer.get_or_insert("ironport");
                }
                "pr" => {
                    self.writer.get_or_insert("microsoft");
                }
                _ => {}
            }
        }
    }

    /// Decide identity, domain, receiver and writer, and build the verdict.
    pub fn finish(
        mut self,
        mut explanation: Explanation,
        source: VerdictSource,
    ) -> RecordedVerdict {
        // A key list inside a comment (spf-engine) fills what the header's own keys left out.
        let comment_pairs = std::mem::take(&mut explanation.pairs);
        self.take_pairs(&comment_pairs);
        if self.ip.is_none() {
            self.ip = explanation.ip.clone();
        } else if let (Some(IpText::Placeholder(_)), Some(IpText::Valid(ip))) =
            (&self.ip, &explanation.ip)
        {
            self.ip = Some(IpText::Valid(*ip));
        }
        if self.ip.is_none() {
            self.ip = self.ip_hint.take();
        }
        let scope = self.scope.or(explanation.scope).or_else(|| {
            let names_mail_from = self.envelope_from.is_some()
                || explanation.subject.is_some()
                || explanation.lookup_domain.is_some()
                || (self.writer == Some("courier") && self.sender.is_some());
            // RFC 7208 §2.4: a verdict on "domain of X" that names no identity is MAIL FROM.
            names_mail_from.then_some(Scope::Spf(Identity::MailFrom))
        });
        let mut verdict = RecordedVerdict {
            source: Some(source),
            ..RecordedVerdict::default()
        };
        match self.ip {
            Some(IpText::Valid(ip)) => verdict.client_ip = Some(ip),
            Some(IpText::Placeholder(raw)) => verdict.client_ip_raw = Some(raw),
            None => {}
        }
        let subject = explanation.subject.clone();
        match scope {
            Some(Scope::Spf(Identity::MailFrom)) => {
                verdict.identity = Some(Identity::MailFrom);
                let subject_address = subject.clone().filter(|s| s.contains('@'));
                let envelope_from = match self.envelope_from.clone().or_else(|| self.sender.clone())
                {
                    // The comment's full address refines a bare domain recorded as MAIL FROM.
                    Some(known)
                        if !known.contains('@')
                            && subject_address.as_deref().and_then(domain_of)
                                == domain_of(&known)
                            && domain_of(&known).is_some() =>
                    {
                        subject_address
                    }
                    Some(known) => Some(known),
                    None => subject_address,
                };
                verdict.domain = match envelope_from.as_deref() {
                    // RFC 7208 §2.4: a null reverse-path is checked as postmaster@HELO.
                    Some("") => self.helo.as_deref().and_then(domain_of),
                    Some(address) => domain_of(address),
                    None => None,
                }
                .or_else(|| subject.as_deref().and_then(domain_of))
                .or_else(|| explanation.authority.as_deref().and_then(domain_of))
                .or_else(|| explanation.lookup_domain.as_deref().and_then(domain_of));
                verdict.envelope_from = envelope_from;
                verdict.helo = self.helo.clone();
            }
            Some(Scope::Spf(Identity::Helo)) => {
                verdict.identity = Some(Identity::Helo);
                let helo = self
                    .helo
                    .clone()
                    .or_else(|| self.sender.clone())
                    .or_else(|| {
                        subject.as_deref().map(|s| {
                            let lower = s.to_ascii_lowercase();
                            match lower.strip_prefix("postmaster@") {
                                Some(_) => s.get("postmaster@".len()..).unwrap_or(s).to_string(),
                                None => s.to_string(),
                            }
                        })
                    });
                verdict.domain = helo
                    .as_deref()
                    .and_then(domain_of)
                    .or_else(|| explanation.authority.as_deref().and_then(domain_of));
                verdict.helo = helo;
                verdict.envelope_from = self.envelope_from.clone();
            }
            Some(Scope::NotSpf(what)) => {
                self.notes.push(format!("{NOT_SPF_IDENTITY} ({what})"));
                verdict.helo = self.helo.clone();
                verdict.envelope_from = self.envelope_from.clone();
            }
            None => {
                verdict.helo = self.helo.clone();
                verdict.envelope_from = self.envelope_from.clone();
            }
        }
        verdict.result = self
            .result_word
            .as_deref()
            .and_then(SpfResult::parse_lenient);
        if let Some(word) = self.result_word.as_deref()
            && verdict.result.is_none()
            && !word.is_empty()
        {
            let shown: String = word.chars().take(40).collect();
            self.notes.push(format!("{UNKNOWN_RESULT} {shown:?}"));
        }
        if let Some(no_check) = explanation.no_check {
            self.notes.push(no_check.to_string());
        }
        let no_evaluation =
            explanation.no_check.is_some() || matches!(scope, Some(Scope::NotSpf(_)));
        if no_evaluation {
            if let Some(recorded) = verdict.result.take() {
                self.notes.push(format!("recorded {recorded}"));
            }
            verdict.identity = None;
            verdict.domain = None;
        }
        if explanation.best_guess {
            self.notes.push("best guess record".to_string());
        }
        let mut receivers: Vec<&str> = self.receivers.iter().map(String::as_str).collect();
        receivers.extend(explanation.host.as_deref());
        verdict.receiver = most_specific_host(receivers.iter().copied());
        let writer = self.writer.or(explanation.writer).or_else(|| {
            receivers
                .iter()
                .chain(explanation.authority.as_deref().iter())
                .find_map(|host| writer_from_host(host))
        });
        let mut parts: Vec<String> = writer.into_iter().map(str::to_string).collect();
        parts.append(&mut self.notes);
        if !parts.is_empty() {
            verdict.writer = Some(parts.join("; "));
        }
        verdict
    }
}

/// Known receiver host names and the software behind them.
pub(crate) fn writer_from_host(host: &str) -> Option<&'static str> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let is = |suffix: &str| {
        host == suffix
            || host
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.ends_with('.'))
    };
    Some(
        if is("outlook.com") || is("office365.com") || is("microsoft.com") {
            "microsoft"
        } else if is("google.com") {
            "google"
        } else if is("yahoo.com") {
            "yahoo"
        } else if is("mimecast.com") {
            "mimecast"
        } else if is("messagelabs.com") {
            "messagelabs"
        } else if is("iphmx.com") {
            "ironport"
        } else if is("sophos.com") {
            "sophos"
        } else if is("improvmx.com") {
            "improvmx"
        } else if is("zoho.com") || is("zohomail.com") || is("zohomail360.eu") {
            "zoho"
        } else if is("protonmail.ch") {
            "proton"
        } else if is("ppops.net") || is("pphosted.com") {
            "proofpoint"
        } else {
            return None;
        },
    )
}

/// What the prose of an SPF comment says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Explanation {
    /// The leading `host:` naming the receiver (Google, Microsoft, libspf2).
    pub host: Option<String>,
    /// The leading `domain:` of Mail::SPF, which names the checked (authority) domain.
    pub authority: Option<String>,
    /// The identity the verdict is about: an address or a domain.
    pub subject: Option<String>,
    /// A domain named only as looked up (`error in processing during lookup of X`).
    pub lookup_domain: Option<String>,
    pub ip: Option<IpText>,
    pub scope: Option<Scope>,
    /// The result the wording implies (for headers without a result word).
    pub implies: Option<SpfResult>,
    pub no_check: Option<&'static str>,
    pub writer: Option<&'static str>,
    pub best_guess: bool,
    /// Key list inside the comment (spf-engine: `(client-ip=…; helo=…; envelope-from=…)`).
    pub pairs: Vec<Pair<'static>>,
}

impl Explanation {
    /// Fill what is still missing from another comment of the same verdict.
    pub fn merge(&mut self, other: Explanation) {
        if self.host.is_none() {
            self.host = other.host;
        }
        if self.authority.is_none() {
            self.authority = other.authority;
        }
        if self.subject.is_none() {
            self.subject = other.subject;
        }
        if self.lookup_domain.is_none() {
            self.lookup_domain = other.lookup_domain;
        }
        if self.ip.is_none() {
            self.ip = other.ip;
        }
        if self.scope.is_none() {
            self.scope = other.scope;
        }
        if self.implies.is_none() {
            self.implies = other.implies;
        }
        if self.no_check.is_none() {
            self.no_check = other.no_check;
        }
        if self.writer.is_none() {
            self.writer = other.writer;
        }
        self.best_guess |= other.best_guess;
        self.pairs.extend(other.pairs);
    }
}

/// One element of a wording pattern.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// A literal word (case-insensitive, surrounding punctuation ignored).
    Word(&'static str),
    /// Either of two literal words.
    Either(&'static str, &'static str),
    /// The identity (address or domain); up to 3 words rejoined when a broken fold split it.
    Subject,
    /// The IP slot: whatever is written there (placeholders included).
    Ip,
    /// A word that is an IP only if it parses as one (Mail::SPF "Sender is …" / "1.2.3.4 is …").
    MaybeIp,
    /// A scope word (`'mfrom'`, `'helo'`).
    ScopeWord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    Plain,
    BestGuess,
    /// The subject is a domain that was looked up, not the identity.
    LookupOnly,
    Authenticated,
    Skipped,
    MailSpf,
}

struct Wording {
    parts: &'static [Part],
    implies: Option<SpfResult>,
    writer: Option<&'static str>,
    meaning: Meaning,
}

const fn wording(
    parts: &'static [Part],
    implies: Option<SpfResult>,
    writer: Option<&'static str>,
    meaning: Meaning,
) -> Wording {
    Wording {
        parts,
        implies,
        writer,
        meaning,
    }
}

use Part::{Either, Ip, MaybeIp, ScopeWord, Subject, Word as W};
use SpfResult as R;

/// The wordings, most specific first. Each is looked for anywhere in the comment; the first
/// that yields a field sets it.
const WORDINGS: &[Wording] = &[
    // Microsoft 365 / Exchange softfail.
    wording(
        &[
            W("domain"),
            W("of"),
            W("transitioning"),
            Subject,
            W("discourages"),
            W("use"),
            W("of"),
            Ip,
            W("as"),
        ],
        Some(R::SoftFail),
        Some("microsoft"),
        Meaning::Plain,
    ),
    // Google softfail.
    wording(
        &[
            W("domain"),
            W("of"),
            W("transitioning"),
            Subject,
            W("does"),
            W("not"),
            Either("designate", "designates"),
            Ip,
            W("as"),
        ],
        Some(R::SoftFail),
        None,
        Meaning::Plain,
    ),
    // libspf2 softfail.
    wording(
        &[
            W("transitioning"),
            W("domain"),
            W("of"),
            Subject,
            W("does"),
            W("not"),
            Either("designate", "designates"),
            Ip,
            W("as"),
        ],
        Some(R::SoftFail),
        Some("libspf2"),
        Meaning::Plain,
    ),
    // Cisco IronPort softfail.
    wording(
        &[
            W("domain"),
            W("of"),
            Subject,
            W("is"),
            W("inclined"),
            W("to"),
            W("not"),
            W("designate"),
            Ip,
            W("as"),
        ],
        Some(R::SoftFail),
        Some("ironport"),
        Meaning::Plain,
    ),
    // Google's synthesized policy for domains without SPF.
    wording(
        &[
            W("best"),
            W("guess"),
            W("record"),
            W("for"),
            W("domain"),
            W("of"),
            Subject,
            W("designates"),
            Ip,
            W("as"),
        ],
        Some(R::Pass),
        Some("google"),
        Meaning::BestGuess,
    ),
    wording(
        &[
            Ip,
            W("is"),
            W("neither"),
            W("permitted"),
            W("nor"),
            W("denied"),
            W("by"),
            W("best"),
            W("guess"),
            W("record"),
            W("for"),
            W("domain"),
            W("of"),
            Subject,
        ],
        Some(R::Neutral),
        Some("google"),
        Meaning::BestGuess,
    ),
    wording(
        &[
            Ip,
            W("is"),
            W("neither"),
            W("permitted"),
            W("nor"),
            W("denied"),
            W("by"),
            W("domain"),
            W("of"),
            Subject,
        ],
        Some(R::Neutral),
        None,
        Meaning::Plain,
    ),
    wording(
        &[W("domain"), W("of"), Subject, W("designates"), Ip, W("as")],
        Some(R::Pass),
        None,
        Meaning::Plain,
    ),
    wording(
        &[
            W("domain"),
            W("of"),
            Subject,
            W("does"),
            W("not"),
            Either("designate", "designates"),
            Ip,
            W("as"),
        ],
        Some(R::Fail),
        None,
        Meaning::Plain,
    ),
    // rspamd none.
    wording(
        &[
            W("domain"),
            W("of"),
            Subject,
            W("has"),
            W("no"),
            W("spf"),
            W("policy"),
            W("when"),
            W("checking"),
            Ip,
        ],
        Some(R::None),
        Some("rspamd"),
        Meaning::Plain,
    ),
    wording(
        &[
            Ip,
            W("is"),
            W("not"),
            W("permitted"),
            W("sender"),
            W("for"),
            W("domain"),
            W("of"),
            Subject,
        ],
        Some(R::Fail),
        None,
        Meaning::Plain,
    ),
    wording(
        &[
            Subject,
            W("does"),
            W("not"),
            W("designate"),
            W("permitted"),
            W("sender"),
            W("hosts"),
        ],
        Some(R::None),
        None,
        Meaning::Plain,
    ),
    // Microsoft Authentication-Results.
    wording(
        &[W("sender"), W("ip"), W("is"), Ip],
        None,
        Some("microsoft"),
        Meaning::Plain,
    ),
    // Mail::SPF (Perl): authentication_milter, postfix-policyd-spf-perl.
    wording(
        &[
            MaybeIp,
            W("is"),
            W("authorized"),
            W("to"),
            W("use"),
            Subject,
            W("in"),
            ScopeWord,
            W("identity"),
        ],
        Some(R::Pass),
        Some("mail-spf-perl"),
        Meaning::MailSpf,
    ),
    wording(
        &[
            MaybeIp,
            W("is"),
            W("not"),
            W("authorized"),
            W("by"),
            W("default"),
            W("to"),
            W("use"),
            Subject,
            W("in"),
            ScopeWord,
            W("identity"),
        ],
        Some(R::Fail),
        Some("mail-spf-perl"),
        Meaning::MailSpf,
    ),
    wording(
        &[
            MaybeIp,
            W("is"),
            W("not"),
            W("authorized"),
            W("to"),
            W("use"),
            Subject,
            W("in"),
            ScopeWord,
            W("identity"),
        ],
        Some(R::Fail),
        Some("mail-spf-perl"),
        Meaning::MailSpf,
    ),
    wording(
        &[
            W("to"),
            W("use"),
            Subject,
            W("in"),
            ScopeWord,
            W("identity"),
        ],
        None,
        Some("mail-spf-perl"),
        Meaning::MailSpf,
    ),
    wording(
        &[
            W("no"),
            W("applicable"),
            W("sender"),
            W("policy"),
            W("available"),
        ],
        Some(R::None),
        Some("mail-spf-perl"),
        Meaning::MailSpf,
    ),
    wording(
        &[W("connection"), W("is"), W("authenticated")],
        None,
        None,
        Meaning::Authenticated,
    ),
    wording(
        &[W("skip"), W("spf"), W("checks")],
        None,
        Some("rspamd"),
        Meaning::Skipped,
    ),
    wording(
        &[W("spf"), W("check"), W("n/a")],
        None,
        None,
        Meaning::Skipped,
    ),
    wording(
        &[W("localhost"), W("is"), W("always"), W("allowed")],
        Some(R::Pass),
        None,
        Meaning::Plain,
    ),
    wording(
        &[
            W("address"),
            W("does"),
            W("not"),
            W("pass"),
            W("the"),
            W("sender"),
            W("policy"),
            W("framework"),
        ],
        None,
        Some("courier"),
        Meaning::Plain,
    ),
    // pypolicyd-spf (older releases) and spf-engine.
    wording(
        &[W("sender"), W("spf"), W("authorized")],
        Some(R::Pass),
        Some("pypolicyd-spf"),
        Meaning::Plain,
    ),
    wording(
        &[
            W("domain"),
            W("owner"),
            W("discourages"),
            W("use"),
            W("of"),
            W("this"),
            W("host"),
        ],
        Some(R::SoftFail),
        Some("pypolicyd-spf"),
        Meaning::Plain,
    ),
    wording(
        &[W("spf"), W("permanent"), W("error")],
        Some(R::PermError),
        Some("pypolicyd-spf"),
        Meaning::Plain,
    ),
    wording(
        &[W("spf"), W("temporary"), W("error")],
        Some(R::TempError),
        Some("pypolicyd-spf"),
        Meaning::Plain,
    ),
    wording(
        &[
            W("error"),
            W("in"),
            W("processing"),
            W("during"),
            W("lookup"),
            W("of"),
            Subject,
        ],
        Some(R::TempError),
        None,
        Meaning::LookupOnly,
    ),
    wording(
        &[W("lookup"), W("of"), Subject],
        None,
        None,
        Meaning::LookupOnly,
    ),
    wording(
        &[W("domain"), W("of"), W("sender"), Subject],
        None,
        None,
        Meaning::Plain,
    ),
    wording(&[W("domain"), W("of"), Subject], None, None, Meaning::Plain),
];

/// Words that are never the identity in "domain of X".
fn is_stop_word(word: &str) -> bool {
    [
        "sender",
        "transitioning",
        "of",
        "domain",
        "the",
        "a",
        "as",
        "is",
        "by",
        "designates",
        "designate",
    ]
    .iter()
    .any(|stop| word.eq_ignore_ascii_case(stop))
}

/// A word of prose as literals are compared: lower-case, surrounding punctuation removed.
/// Borrowed when it is lower-case already (the usual case).
fn literal_form(token: &str) -> Cow<'_, str> {
    let trimmed = token
        .trim_start_matches(['(', '\'', '"'])
        .trim_end_matches(['.', ',', ';', ':', ')', '\'', '"']);
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// The anchor of each wording (its first literal word, or the two words of an `Either`),
/// as indexes into a table of the distinct anchor words: each word of a comment is looked
/// up in that table once, and a wording is then tried only where its anchor is.
struct Anchors {
    words: Vec<&'static str>,
    /// Per wording (same order as [`WORDINGS`]): the anchor's position in the pattern and
    /// its word ids.
    per_wording: Vec<Option<(usize, [Option<u8>; 2])>>,
}

/// Word id of a word that is no anchor.
const NO_ANCHOR: u8 = u8::MAX;

static ANCHORS: LazyLock<Anchors> = LazyLock::new(|| {
    let mut words: Vec<&'static str> = Vec::new();
    let mut id = |word: &'static str| -> Option<u8> {
        let at = match words.iter().position(|w| *w == word) {
            Some(at) => at,
            None => {
                words.push(word);
                words.len() - 1
            }
        };
        u8::try_from(at).ok().filter(|&id| id != NO_ANCHOR)
    };
    let per_wording = WORDINGS
        .iter()
        .map(|wording| {
            wording
                .parts
                .iter()
                .enumerate()
                .find_map(|(k, part)| match *part {
                    Part::Word(w) => Some((k, [id(w), None])),
                    Part::Either(a, b) => Some((k, [id(a), id(b)])),
                    _ => None,
                })
        })
        .collect();
    Anchors { words, per_wording }
});

impl Anchors {
    fn id_of(&self, literal: &str) -> u8 {
        self.words
            .iter()
            .position(|w| *w == literal)
            .and_then(|at| u8::try_from(at).ok())
            .unwrap_or(NO_ANCHOR)
    }
}

#[derive(Default)]
struct Captures<'t> {
    subject: Option<String>,
    ip: Option<&'t str>,
    maybe_ip: Option<&'t str>,
    scope: Option<&'t str>,
}

/// Match `parts` against the words starting at `at`. `literals` holds each word's
/// [`literal_form`].
fn match_parts<'t>(
    parts: &[Part],
    tokens: &[&'t str],
    literals: &[Cow<'_, str>],
    at: usize,
    caps: &mut Captures<'t>,
) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return true;
    };
    match *first {
        Part::Word(literal) => {
            literals.get(at).is_some_and(|t| t == literal)
                && match_parts(rest, tokens, literals, at + 1, caps)
        }
        Part::Either(a, b) => {
            literals.get(at).is_some_and(|t| t == a || t == b)
                && match_parts(rest, tokens, literals, at + 1, caps)
        }
        Part::Ip | Part::MaybeIp | Part::ScopeWord => {
            let Some(&token) = tokens.get(at) else {
                return false;
            };
            if !match_parts(rest, tokens, literals, at + 1, caps) {
                return false;
            }
            match *first {
                Part::Ip => caps.ip = Some(token),
                Part::MaybeIp => caps.maybe_ip = Some(token),
                _ => caps.scope = Some(token),
            }
            true
        }
        Part::Subject => {
            // Copied only when the wording matches (or a split address is rejoined).
            let mut joined: Cow<'_, str> = Cow::Borrowed("");
            for span in 1..=3usize {
                let Some(&token) = tokens.get(at + span - 1) else {
                    return false;
                };
                let piece = clean_prose_token_cow(token);
                if span == 1 {
                    if piece.is_empty() || is_stop_word(&piece) {
                        return false;
                    }
                    joined = piece;
                } else if text::rejoins(&joined, &piece) {
                    joined.to_mut().push_str(&piece);
                } else {
                    return false;
                }
                if match_parts(rest, tokens, literals, at + span, caps) {
                    caps.subject = Some(joined.into_owned());
                    return true;
                }
            }
            false
        }
    }
}

/// The first place (in word order of the anchor) where `parts` match. The anchor is the
/// first literal word; a variable-width subject before it allows up to two more offsets.
/// `anchor` is the wording's entry of [`Anchors::per_wording`], `ids` each word's anchor id.
fn find_wording<'t>(
    parts: &[Part],
    anchor: Option<(usize, [Option<u8>; 2])>,
    tokens: &[&'t str],
    literals: &[Cow<'_, str>],
    ids: &[u8],
    present: u64,
) -> Option<Captures<'t>> {
    let (anchor, [first, second]) = anchor?;
    // Most wordings' anchor words are not in the comment at all.
    let is_present = |id: Option<u8>| id.is_some_and(|id| id < 64 && present & (1 << id) != 0);
    if !is_present(first) && !is_present(second) && first.is_some_and(|id| id < 64) {
        return None;
    }
    let subject_before = parts
        .get(..anchor)
        .is_some_and(|before| before.iter().any(|p| matches!(p, Part::Subject)));
    let extra = if subject_before { 2 } else { 0 };
    // Word ids are ascending positions already: no sorting needed.
    let first = first?;
    let second = second.unwrap_or(first);
    ids.iter()
        .enumerate()
        .filter(|&(_, &id)| id == first || id == second)
        .find_map(|(at, _)| {
            (anchor..=anchor + extra).find_map(|offset| {
                let start = at.checked_sub(offset)?;
                let mut caps = Captures::default();
                match_parts(parts, tokens, literals, start, &mut caps).then_some(caps)
            })
        })
}

/// Read the prose of one comment (outer parentheses removed).
pub(crate) fn explain(comment: &str) -> Explanation {
    let mut explanation = Explanation::default();
    let mut tokens = text::words(comment);
    // A leading `host:` names the receiver (or, for Mail::SPF, the authority domain).
    let mut prefix: Option<String> = None;
    if let Some(first) = tokens.first()
        && let Some(host) = first.strip_suffix(':')
        && (host.is_empty() || text::is_host_name(host))
    {
        prefix = (!host.is_empty()).then(|| host.to_string());
        tokens.remove(0);
    }
    // pypolicyd-spf/spf-engine put just the scope in the comment: `(mailfrom)`, `(helo)`.
    if let [only] = tokens.as_slice()
        && let Some(scope) = Scope::from_word(only)
        && !only.eq_ignore_ascii_case("from")
    {
        explanation.scope = Some(scope);
        explanation.writer = Some("pypolicyd-spf");
    }
    // Each word's literal form, and where each form occurs: a wording is only tried where
    // its first literal word is, which keeps a huge comment linear.
    let literals: Vec<Cow<'_, str>> = tokens.iter().map(|t| literal_form(t)).collect();
    let anchors = &*ANCHORS;
    let ids: Vec<u8> = literals.iter().map(|l| anchors.id_of(l)).collect();
    // Which anchor words occur (ids below 64; the table has fewer).
    let present = ids
        .iter()
        .filter(|&&id| id < 64)
        .fold(0u64, |mask, &id| mask | (1 << id));
    let mut mail_spf = false;
    for (wording, &anchor) in WORDINGS.iter().zip(&anchors.per_wording) {
        let Some(caps) = find_wording(wording.parts, anchor, &tokens, &literals, &ids, present)
        else {
            continue;
        };
        if explanation.implies.is_none() {
            explanation.implies = wording.implies;
        }
        if explanation.writer.is_none() {
            explanation.writer = wording.writer;
        }
        match wording.meaning {
            Meaning::BestGuess => explanation.best_guess = true,
            Meaning::Authenticated => {
                explanation.no_check.get_or_insert(NO_CHECK_AUTHENTICATED);
            }
            Meaning::Skipped => {
                explanation.no_check.get_or_insert(NO_CHECK_SKIPPED);
            }
            Meaning::MailSpf => mail_spf = true,
            Meaning::Plain | Meaning::LookupOnly => {}
        }
        if let Some(subject) = caps.subject {
            if wording.meaning == Meaning::LookupOnly {
                if explanation.lookup_domain.is_none() {
                    explanation.lookup_domain = Some(subject);
                }
            } else if explanation.subject.is_none() {
                explanation.subject = Some(subject);
            }
        }
        if explanation.ip.is_none() {
            explanation.ip = caps.ip.and_then(ip_text).or_else(|| {
                caps.maybe_ip
                    .and_then(ip_text)
                    .filter(|ip| matches!(ip, IpText::Valid(_)))
            });
        }
        if explanation.scope.is_none() {
            explanation.scope = caps.scope.and_then(Scope::from_word);
        }
    }
    if mail_spf {
        explanation.authority = prefix;
    } else {
        explanation.host = prefix;
    }
    // spf-engine appends the Received-SPF key list as a comment.
    if comment.contains('=') {
        explanation.pairs = text::pairs(&text::lex(comment), is_received_spf_key)
            .into_iter()
            .map(Pair::into_owned)
            .collect();
    } else if explanation.ip.is_none() {
        // Unknown wording: one free-standing IP is the client's.
        let ips = text::find_ips(comment);
        if let Some(first) = ips.first()
            && ips.iter().all(|ip| ip == first)
        {
            explanation.ip = Some(IpText::Valid(*first));
        }
    }
    explanation
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn every_wording_has_an_anchor_word() {
        let anchors = &*ANCHORS;
        assert_eq!(anchors.per_wording.len(), WORDINGS.len());
        for (wording, anchor) in WORDINGS.iter().zip(&anchors.per_wording) {
            let (k, [first, _]) = anchor.expect("anchor");
            assert!(first.is_some());
            assert!(matches!(wording.parts[k], Part::Word(_) | Part::Either(..)));
        }
        assert_eq!(anchors.id_of("no such word"), NO_ANCHOR);
        assert!(
            anchors.words.len() < 64,
            "the presence mask needs ids below 64"
        );
    }

    #[test]
    fn microsoft_pass_with_keys() {
        let v = parse(
            "Pass (protection.outlook.com: domain of gmail.com designates 209.85.208.43 as permitted sender) receiver=protection.outlook.com; client-ip=209.85.208.43; helo=mail-ed1-f43.google.com; pr=C",
        );
        assert_eq!(v.result, Some(SpfResult::Pass));
        assert_eq!(v.client_ip, ip("209.85.208.43"));
        assert_eq!(v.identity, Some(Identity::MailFrom));
        assert_eq!(v.domain.as_deref(), Some("gmail.com"));
        assert_eq!(v.envelope_from, None);
        assert_eq!(v.helo.as_deref(), Some("mail-ed1-f43.google.com"));
        assert_eq!(v.receiver.as_deref(), Some("protection.outlook.com"));
        assert_eq!(v.writer.as_deref(), Some("microsoft"));
        assert_eq!(v.source, Some(VerdictSource::ReceivedSpf));
    }

    #[test]
    fn microsoft_softfail_comment_only() {
        let v = parse(
            "SoftFail (protection.outlook.com: domain of transitioning manpowergroup.no discourages use of 91.227.208.189 as permitted sender)",
        );
        assert_eq!(v.result, Some(SpfResult::SoftFail));
        assert_eq!(v.client_ip, ip("91.227.208.189"));
        assert_eq!(v.domain.as_deref(), Some("manpowergroup.no"));
        assert_eq!(v.identity, Some(Identity::MailFrom));
    }

    #[test]
    fn courier_helo_and_mapped_ip() {
        let v = parse(
            "none (Address does not pass the Sender Policy Framework)\tSPF=HELO; sender=nlopc43.ioq.uni-jena.de;\tremoteip=::ffff:141.35.50.156;\tremotehost=nlopc43.ioq.uni-jena.de; helo=nlopc43.ioq.uni-jena.de;\treceiver=szilassi.eckner.net;",
        );
        assert_eq!(v.result, Some(SpfResult::None));
        assert_eq!(v.identity, Some(Identity::Helo));
        assert_eq!(v.client_ip, ip("141.35.50.156"));
        assert_eq!(v.domain.as_deref(), Some("nlopc43.ioq.uni-jena.de"));
        assert_eq!(v.envelope_from, None);
        assert_eq!(v.writer.as_deref(), Some("courier"));
    }

    #[test]
    fn authenticated_connection_is_no_verdict() {
        let v = parse("pass (mx2e12: connection is authenticated)");
        assert_eq!(v.result, None);
        assert_eq!(v.client_ip, None);
        assert_eq!(v.receiver.as_deref(), Some("mx2e12"));
        assert!(records_no_spf_check(&v));
    }

    #[test]
    fn sender_id_pra_is_kept_out() {
        let v = parse(
            "Pass (esa.example.net: domain of a@example.org designates 192.0.2.1 as permitted sender) identity=pra; client-ip=192.0.2.1; receiver=esa.example.net; envelope-from=\"b@example.com\"",
        );
        assert_eq!(v.result, None);
        assert_eq!(v.identity, None);
        assert_eq!(v.domain, None);
        assert_eq!(v.client_ip, ip("192.0.2.1"));
        assert!(records_no_spf_check(&v));
    }

    #[test]
    fn placeholder_ip_is_raw() {
        let v = parse(
            "fail (x.example: domain of a@b.example does not designate A.B.C.D as permitted sender) client-ip=A.B.C.D;",
        );
        assert_eq!(v.client_ip, None);
        assert_eq!(v.client_ip_raw.as_deref(), Some("A.B.C.D"));
    }
}
