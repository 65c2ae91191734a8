//! Evidence letters: one RFC 5322 message per sender domain that a run found misjudged
//! because of its own SPF record, ready for `sendmail -t`: to the domain's postmaster
//! (RFC 2142), in the sender's language with the English text below, with what happened,
//! why, a corrected record proven by the engine and lint ([`proposal`]), and as attachments
//! the headers of up to five affected messages and the DNS answers used.

pub mod evidence;
pub mod locale;
pub mod proposal;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::{BodyPart, MimePart};
use sha2::{Digest, Sha256};

use crate::classify::Class;
use crate::input::Locator;
use crate::model::SpfResult;
use crate::spf::Evaluation;
use evidence::Evidence;
use locale::{Language, Texts};
use proposal::{Change, Proposal};

/// Affected messages whose headers a letter attaches.
pub const MAX_ATTACHED: usize = 5;

/// Which language letters are written in (`--letter-lang`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanguageChoice {
    /// By the sender domain's country-code TLD ([`Language::for_domain`]).
    Auto,
    Fixed(Language),
}

/// How letters are written (`--letter-from`, `--letter-lang`, `--letter-date`,
/// `--letters-for`, `--min-messages`).
#[derive(Debug, Clone)]
pub struct LetterOptions {
    /// The sender of the letters, an address of the admin's own domain.
    pub from: String,
    pub language: LanguageChoice,
    /// The letters' Date, and the seed of their Message-IDs.
    pub date: DateTime<Utc>,
    /// The classes that get a letter.
    pub classes: Vec<Class>,
    /// A domain needs at least this many affected messages for a letter.
    pub min_messages: u64,
}

impl LetterOptions {
    /// The classes a sender can act on, and the notice that a problem is gone. Unauthorized
    /// mail is a spoof, not the sender's mistake: it gets a letter only when asked for.
    pub const DEFAULT_CLASSES: [Class; 4] = [
        Class::Misconfigured,
        Class::RecordBroken,
        Class::Regressed,
        Class::FixedSince,
    ];

    /// Check the From address: one plain `local@domain`, nothing a header could be split on.
    pub fn check_from(address: &str) -> Result<(), String> {
        let plain = address
            .chars()
            .all(|c| c.is_ascii_graphic() && !"<>()[],;:\"\\".contains(c));
        let ok = plain
            && address.matches('@').count() == 1
            && address.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
            });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "--letter-from {address:?} is not a plain address like postmaster@example.net"
            ))
        }
    }
}

/// What one letter is about, gathered from the run's findings for one sender domain.
#[derive(Debug, Clone, Default)]
pub struct Case {
    pub domain: String,
    /// The letter's class: the most serious one among the domain's findings.
    pub class: Option<Class>,
    /// Affected messages.
    pub count: u64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Envelope senders seen (a few).
    pub senders: BTreeSet<String>,
    /// Client IPs the domain's mail came from.
    pub ips: BTreeSet<IpAddr>,
    /// Results the receiver recorded.
    pub recorded: BTreeSet<SpfResult>,
    /// The domain's evaluation now (the first affected message's).
    pub current: Option<Arc<Evaluation>>,
    /// A related domain whose record covers the IP: (domain, deciding directive).
    pub related: Option<(String, String)>,
    /// Where the first affected messages are, for their headers.
    pub examples: Vec<(Arc<str>, Option<Locator>)>,
    /// Affected items read from a log (the others were delivered to a mailbox).
    pub logged: u64,
}

impl Case {
    /// The order in which a class decides a domain's letter: the most serious first.
    pub fn rank(class: Class) -> u8 {
        match class {
            Class::RecordBroken => 0,
            Class::Misconfigured => 1,
            Class::Regressed => 2,
            Class::Unauthorized => 3,
            Class::FixedSince => 4,
            _ => 5,
        }
    }

    /// Whether the letter proposes a record (not for a notice that the problem is gone).
    pub fn wants_fix(&self) -> bool {
        !matches!(
            self.class,
            Some(Class::FixedSince) | Some(Class::Unauthorized)
        )
    }
}

/// One letter, ready to be written as `<file_name>`.
pub struct Letter {
    pub file_name: String,
    pub language: Language,
    pub bytes: Vec<u8>,
}

/// A file name that cannot escape the directory: the domain's own characters only.
pub fn file_name(domain: &str) -> String {
    let clean: String = domain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = clean.trim_start_matches('.');
    format!("{}.eml", if clean.is_empty() { "unknown" } else { clean })
}

/// Compose the letter for `case`.
pub fn compose(
    case: &Case,
    proposal: Option<&Proposal>,
    evidence: &[Evidence],
    dns_excerpt: &str,
    options: &LetterOptions,
    max_lookups: u32,
) -> std::io::Result<Letter> {
    let language = match options.language {
        LanguageChoice::Auto => Language::for_domain(&case.domain),
        LanguageChoice::Fixed(language) => language,
    };
    let rejected = evidence.iter().any(Evidence::says_rejected);
    let letter = Body {
        case,
        proposal,
        rejected,
        options,
        max_lookups,
    };
    let texts = Texts::new(language);
    let mut text = letter.render(&texts);
    if language != Language::En {
        let english = Texts::new(Language::En);
        text.push_str("\n\n");
        text.push_str(&texts.get("english-below", &[]));
        text.push_str("\n\n----------------------------------------------------------------\n\n");
        text.push_str(&letter.render(&english));
    }
    let subject = texts.get(subject_id(case.class), &[("domain", &case.domain)]);

    let seed = Sha256::digest(
        format!(
            "{}\n{}\n{}",
            case.domain,
            options.from,
            options.date.to_rfc3339()
        )
        .as_bytes(),
    );
    let token: String = seed[..10].iter().map(|b| format!("{b:02x}")).collect();
    let from_domain = options.from.rsplit('@').next().unwrap_or("localhost");
    let mut parts = vec![MimePart::new(
        ContentType::new("text/plain").attribute("charset", "utf-8"),
        BodyPart::Text(text.into()),
    )];
    for (i, item) in evidence.iter().take(MAX_ATTACHED).enumerate() {
        let (content_type, name, bytes) = match item {
            Evidence::Headers(bytes) => (
                "text/rfc822-headers",
                format!("message-{}-headers.txt", i + 1),
                bytes,
            ),
            Evidence::LogLine(bytes) => ("text/plain", format!("message-{}-log.txt", i + 1), bytes),
        };
        // Attacker-written bytes, carried as they are (encoded by mail-builder as they need)
        // and never interpreted.
        parts.push(
            MimePart::new(
                ContentType::new(content_type),
                BodyPart::Binary(bytes.clone().into()),
            )
            .attachment(name),
        );
    }
    parts.push(
        MimePart::new(
            ContentType::new("text/plain").attribute("charset", "utf-8"),
            BodyPart::Text(dns_excerpt.to_string().into()),
        )
        .attachment("dns-answers.zone"),
    );
    let body = MimePart::new(
        ContentType::new("multipart/mixed").attribute("boundary", format!("spfsleuth-{token}")),
        BodyPart::Multipart(parts),
    );
    let message = MessageBuilder::new()
        .from(options.from.as_str())
        .to(format!("postmaster@{}", case.domain))
        .subject(subject)
        .date(options.date.timestamp())
        .message_id(format!("spfsleuth.{token}@{from_domain}"))
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-generated"),
        )
        .body(body);
    let crlf = message.write_to_vec()?;
    // Files on this machine, for `sendmail -t` and mail clients: LF line ends (the
    // submission agents turn them into CRLF on the wire).
    let bytes = String::from_utf8_lossy(&crlf)
        .replace("\r\n", "\n")
        .into_bytes();
    Ok(Letter {
        file_name: file_name(&case.domain),
        language,
        bytes,
    })
}

fn subject_id(class: Option<Class>) -> &'static str {
    match class {
        Some(Class::RecordBroken) => "subject-record-broken",
        Some(Class::Regressed) => "subject-regressed",
        Some(Class::FixedSince) => "subject-fixed-since",
        Some(Class::Unauthorized) => "subject-unauthorized",
        _ => "subject-misconfigured",
    }
}

/// The letter's text, rendered once per language.
struct Body<'a> {
    case: &'a Case,
    proposal: Option<&'a Proposal>,
    rejected: bool,
    options: &'a LetterOptions,
    max_lookups: u32,
}

fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Body<'_> {
    fn render(&self, t: &Texts) -> String {
        let case = self.case;
        let domain = case.domain.as_str();
        let span = match (case.first, case.last) {
            (Some(a), Some(b)) if a.date_naive() != b.date_naive() => {
                format!("{} – {}", a.format("%Y-%m-%d"), b.format("%Y-%m-%d"))
            }
            (Some(a), _) => a.format("%Y-%m-%d").to_string(),
            _ => "-".to_string(),
        };
        let senders = list(case.senders.iter().take(3));
        let senders = if senders.is_empty() {
            "<>".to_string()
        } else {
            senders
        };
        let ips = list(&case.ips);
        let recorded = list(&case.recorded);
        let current = case.current.as_deref();
        let result_now = current.map(|e| e.result.to_string()).unwrap_or_default();
        let record = current
            .and_then(|e| e.record.clone())
            .unwrap_or_else(|| "(none)".to_string());
        let directive = current
            .and_then(|e| e.matched.as_ref())
            .map(|m| m.directive.clone())
            .unwrap_or_default();
        let count = case.count.to_string();
        let time = self.options.date.format("%Y-%m-%d %H:%M UTC").to_string();
        let base: Vec<(&str, &str)> = vec![
            ("domain", domain),
            ("count", &count),
            ("span", &span),
            ("senders", &senders),
            ("ips", &ips),
            ("time", &time),
        ];
        let mut s = String::new();
        let mut para = |text: String| {
            s.push_str(&text);
            s.push_str("\n\n");
        };
        para(t.get("greeting", &base));
        para(t.get("rfc2142", &base));

        para(t.get("heading-what", &[]));
        let class = case.class.unwrap_or(Class::Misconfigured);
        // Mail in a mailbox was delivered; a logged verdict was a refusal when the log says so.
        let refused = if self.rejected { case.logged } else { 0 };
        let what = match class {
            Class::Regressed | Class::FixedSince => "what-notice",
            _ if refused == 0 => "what-delivered",
            _ if refused == case.count => "what-rejected",
            _ => "what-mixed",
        };
        let refused_text = refused.to_string();
        let delivered_text = (case.count - refused).to_string();
        para(t.get(
            what,
            &with(
                &base,
                &[
                    ("result", &recorded),
                    ("rejected", &refused_text),
                    ("delivered", &delivered_text),
                ],
            ),
        ));

        para(t.get("heading-why", &[]));
        let indented = format!("    {record}");
        match class {
            Class::Misconfigured => {
                match &case.related {
                    Some((related, related_directive)) => para(t.get(
                        "why-misconfigured",
                        &with(
                            &base,
                            &[
                                ("related", related),
                                ("related-directive", related_directive),
                            ],
                        ),
                    )),
                    None => para(t.get("why-not-listed", &base)),
                }
                para(indented);
                if !directive.is_empty() {
                    para(t.get(
                        "why-decided",
                        &with(&base, &[("directive", &directive), ("result", &result_now)]),
                    ));
                }
            }
            Class::RecordBroken => {
                para(t.get("why-record-broken", &base));
                para(indented);
                if let Some(problem) = current.and_then(|e| e.problem.as_ref()) {
                    para(t.get("why-error", &with(&base, &[("error", &problem.detail)])));
                }
            }
            Class::Regressed => {
                para(t.get("why-regressed", &with(&base, &[("result", &result_now)])));
                para(indented);
            }
            Class::FixedSince => para(t.get("why-fixed-since", &base)),
            _ => {
                para(t.get("why-unauthorized", &base));
                para(indented);
            }
        }

        if case.wants_fix() {
            para(t.get("heading-fix", &[]));
            match self.proposal {
                Some(Proposal {
                    record: Some(proposed),
                    changes,
                    lookups,
                    ..
                }) => {
                    para(t.get("fix-publish", &base));
                    para(format!("    {domain}. IN TXT \"{proposed}\""));
                    if !changes.is_empty() {
                        let mut lines = t.get("fix-changes", &[]);
                        for change in changes {
                            lines.push_str("\n  - ");
                            lines.push_str(&match change {
                                Change::Added(term) => t.get("change-added", &[("term", term)]),
                                Change::Repaired(wrong, right) => {
                                    t.get("change-repaired", &[("wrong", wrong), ("right", right)])
                                }
                                Change::Dropped(term, why) => {
                                    t.get("change-dropped", &[("term", term), ("why", why)])
                                }
                            });
                        }
                        para(lines);
                    }
                    let lookups = lookups.to_string();
                    let limit = self.max_lookups.to_string();
                    para(t.get(
                        "fix-proven",
                        &with(&base, &[("lookups", &lookups), ("limit", &limit)]),
                    ));
                }
                Some(Proposal {
                    unproven: Some(why),
                    ..
                }) => para(t.get("fix-unproven", &with(&base, &[("why", why)]))),
                _ => para(t.get("fix-none", &[])),
            }
        }

        para(t.get("heading-evidence", &[]));
        para(t.get("evidence", &base));
        para(t.get("signature", &[("from", &self.options.from)]));
        s.push_str(&t.get("footer", &[]));
        s.push('\n');
        s
    }
}

/// `base` and `extra` placeables together.
fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = base.to_vec();
    all.extend_from_slice(extra);
    all
}
