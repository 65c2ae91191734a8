//! One log record -> the facts it states: an SPF verdict (a [`Fragment`], possibly partial), or
//! a correlation fact (an SMTP session opened, a queue id assigned, a Message-ID seen, ...).
//! Each record is parsed on its own, so this runs in parallel; joining facts across lines is
//! `correlate`'s job.

use crate::model::{Identity, SpfResult};

use super::prefix::{self, Stamp};
use super::text::ClientIp;
use super::{exim, others, postfix};

/// What kind of line a verdict came from; decides which lines may be the same check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// pypolicyd-spf `Result; identity=...; client-ip=...` (debugLevel >= 2).
    PyInfo,
    /// pypolicyd-spf `prepend Received-SPF:` / `prepend Authentication-Results:` /
    /// `Action: prepend: Text: ...`.
    PyHeader,
    /// pypolicyd-spf `550 5.7.23 Message rejected due to: ...` / `defer_if_permit ...`.
    PyReject,
    /// postfix-policyd-spf-perl `SPF pass (...): Envelope-from: ...` / `HELO/EHLO: ...`.
    PerlResult,
    /// postfix-policyd-spf-perl `Policy action=PREPEND Received-SPF: ...` / `action=550 ...`.
    PerlAction,
    /// Postfix smtpd `NOQUEUE: reject: RCPT from ...` with an SPF reason.
    SmtpdReject,
    /// Exim `<=` or reject line with `SPF=`.
    EximLine,
    /// Exim `logwrite` output of a header text (`Authentication-Results: ...`), or another
    /// header text logged without a program name.
    LogWrite,
    /// Exim `logwrite` output of the bare result (`spf_result pass`).
    LogResult,
    /// smf-spf `SPF fail: ip=..., fqdn=..., helo=..., from=<...>`.
    Smf,
    /// A line that is a whole verdict by itself (rspamd, SpamAssassin, amavis, maddy,
    /// gateways, OpenDMARC).
    Alone,
}

impl Kind {
    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// How a verdict line can be joined to the lines that carry the rest of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Join {
    /// Nothing to join.
    None,
    /// A Postfix policy daemon line: to the smtpd session by host + client IP + time.
    Session,
    /// By MTA queue id (rspamd/rmilter `qid`, amavis `Queue-ID`, OpenDMARC).
    Queue(String),
    /// By Message-ID (spamd `mid=`).
    MessageId(String),
    /// maddy `msg_id` to its `incoming message` line.
    Maddy(String),
    /// smf-spf: to the next `sm-mta` line with the same `from=<...>`.
    Sendmail,
    /// Exim logwrite/header lines: to the adjacent lines of the same check.
    Adjacent,
}

/// A recorded SPF verdict, as much of it as one line states.
#[derive(Debug, Clone)]
pub(crate) struct Fragment {
    pub kind: Kind,
    pub writer: &'static str,
    pub result: Option<SpfResult>,
    pub identity: Option<Identity>,
    pub ip: Option<ClientIp>,
    pub helo: Option<String>,
    /// `""` for the null sender.
    pub envelope_from: Option<String>,
    pub domain: Option<String>,
    /// A receiver name stated in the text (authserv-id, Mail::SPF `receiver=`), used when
    /// the line has no syslog host.
    pub receiver: Option<String>,
    pub message_id: Option<String>,
    pub qid: Option<String>,
    pub join: Join,
    pub notes: Vec<String>,
    /// The line records that the SMTP transaction was refused because of this verdict.
    pub rejected: bool,
}

impl Fragment {
    pub(crate) fn new(kind: Kind, writer: &'static str) -> Fragment {
        Fragment {
            kind,
            writer,
            result: None,
            identity: None,
            ip: None,
            helo: None,
            envelope_from: None,
            domain: None,
            receiver: None,
            message_id: None,
            qid: None,
            join: Join::None,
            notes: Vec::new(),
            rejected: false,
        }
    }
}

/// A fact stated by one line.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// Postfix smtpd `connect from name[ip]` (the session key is host + smtpd pid).
    Connect { ip: Option<ClientIp> },
    /// Postfix smtpd `disconnect from name[ip]`.
    Disconnect,
    /// Postfix smtpd `QID: client=name[ip]`: the queue id of the session's transaction.
    Client { qid: String, ip: Option<ClientIp> },
    /// Postfix cleanup `QID: message-id=<...>`.
    MessageId { qid: String, message_id: String },
    /// Postfix qmgr `QID: from=<...>, size=..., nrcpt=...`.
    QueueFrom { qid: String, from: String },
    /// Postfix `QID: removed`.
    Removed { qid: String },
    /// A content filter re-queued the message (`queued as NEWQID`, amavis `queued_as:`).
    Requeued { qid: String, new_qid: String },
    /// postsrsd `srs_forward: <orig> rewritten as <SRS0...>`.
    SrsRewrite { original: String, rewritten: String },
    /// Postfix refused the message after DATA (`milter-reject: END-OF-MESSAGE ...`).
    LateReject {
        qid: String,
        text: String,
        helo: Option<String>,
    },
    /// Postfix smtpd refused a recipient for a reason other than SPF (`NOQUEUE: reject:`).
    SessionReject { text: String },
    /// Sendmail `QID: from=<...>, ..., msgid=<...>, relay=...` or `QID: Milter: from=<...>,
    /// reject=...`.
    Sendmail {
        qid: String,
        from: String,
        message_id: Option<String>,
        ip: Option<ClientIp>,
        reject: Option<String>,
    },
    /// maddy `incoming message {"msg_id":..., "sender":..., "src_host":..., "src_ip":...}`.
    MaddyIncoming {
        msg_id: String,
        sender: Option<String>,
        helo: Option<String>,
        ip: Option<ClientIp>,
    },
    /// An SPF verdict.
    Verdict(Box<Fragment>),
}

/// One parsed record that states at least one fact. Host and program are byte ranges of the
/// record's text (no allocation per line); the correlator reads them from the batch.
#[derive(Debug, Clone)]
pub(crate) struct ParsedLine {
    pub line: u64,
    /// Index of the record in its batch.
    pub record: u32,
    pub stamp: Stamp,
    pub host: Option<(u32, u32)>,
    /// Only for lines with a verdict (to tell policy daemon processes apart).
    pub program: Option<(u32, u32)>,
    pub pid: Option<u32>,
    pub event: Event,
    /// A second and further facts (rare: amavis, SpamAssassin, ESA).
    pub more: Vec<Event>,
}

/// Byte range of `part` inside `whole` (`part` must be a subslice of `whole`).
fn span(whole: &str, part: &str) -> Option<(u32, u32)> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    if end > whole.len() {
        return None;
    }
    Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
}

/// The text of a range made by [`span`].
pub(crate) fn spanned(text: &str, range: Option<(u32, u32)>) -> Option<&str> {
    let (s, e) = range?;
    text.get(s as usize..e as usize)
}

/// Context for the family parsers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// Program name without path (`smtpd` for `postfix/smtpd`), lower-case not guaranteed.
    pub base: &'a str,
    pub program: &'a str,
    pub message: &'a str,
    pub after_stamp: &'a str,
}

/// Parse one record (record `record` of its batch); `None` when it states nothing we use.
pub(crate) fn parse_record(line_no: u64, record: u32, text: &str) -> Option<ParsedLine> {
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    let p = prefix::split(text);
    let program = p.program.unwrap_or("");
    let base = program.rsplit('/').next().unwrap_or(program);
    let line = Line {
        base,
        program,
        message: p.message,
        after_stamp: p.after_stamp,
    };
    let mut events = Vec::new();
    dispatch(&line, &mut events);
    if events.is_empty() {
        return None;
    }
    // the program name matters only to tell policy daemon processes apart
    let verdict = events.iter().any(|e| matches!(e, Event::Verdict(_)));
    let mut events = events.into_iter();
    let event = events.next()?;
    Some(ParsedLine {
        line: line_no,
        record,
        stamp: p.stamp,
        host: p.host.and_then(|h| span(text, h)),
        program: p.program.filter(|_| verdict).and_then(|pr| span(text, pr)),
        pid: p.pid,
        event,
        more: events.collect(),
    })
}

/// Does the text mention SPF in any case (`SPF`, `spf=`, `R_SPF_`, `ESASPFVerdict`)? A cheap
/// filter: lines of other programs that do not are skipped unread.
fn mentions_spf(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr2_iter(b's', b'S', b).any(|i| {
        matches!(b.get(i + 1), Some(b'p' | b'P')) && matches!(b.get(i + 2), Some(b'f' | b'F'))
    })
}

fn dispatch(line: &Line<'_>, events: &mut Vec<Event>) {
    let b = line.base;
    let is = |name: &str| b.eq_ignore_ascii_case(name);
    let starts = |prefix: &str| {
        b.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    // Policy daemons first: `postfix/policy-spf` is the perl daemon, not Postfix itself.
    if starts("policyd-spf") || is("policyd") || starts("policy-spf") {
        postfix::policy_line(line, events);
        return;
    }
    let postfix_program = line
        .program
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("postfix"));
    if postfix_program || is("smtpd") || is("cleanup") || is("qmgr") {
        postfix::postfix_line(&b.to_ascii_lowercase(), line, events);
        return;
    }
    if is("postsrsd") {
        return postfix::postsrsd_line(line, events);
    }
    if is("sm-mta") || is("sendmail") || is("sm-msp-queue") {
        return others::sendmail_line(line, events);
    }
    let text = line.after_stamp;
    // maddy's connection line is needed for the join, and has no SPF in it
    if text.contains("incoming message\t{") {
        return others::maddy_line(line, events);
    }
    // pasted pypolicyd-spf info lines (`Pass; identity=...`) name no SPF
    if !mentions_spf(text) && !text.contains("identity=") {
        return;
    }
    if is("opendmarc") {
        return others::opendmarc_line(line, events);
    }
    if is("smf-spf") {
        return others::smf_line(line, events);
    }
    if is("rmilter") || is("rspamd") {
        return others::rspamd_line(line, events);
    }
    if is("exim") || is("exim4") {
        exim::exim_line(line, events);
        return;
    }
    if starts("amavis") {
        return others::amavis_line(line, events);
    }
    if is("spamd") || line.message.starts_with("spamd: result:") {
        return others::spamd_line(line, events);
    }
    // Lines without a recognised program: by content.
    if text.contains("rspamd_task_write_log") {
        return others::rspamd_line(line, events);
    }
    if text.starts_with('#')
        && let Some(close) = text.find(") <")
        && text[..close].contains('(')
    {
        // rspamd's own log: `#1691(normal) <b04cc5>; module; function: ...`
        return others::rspamd_line(line, events);
    }
    if text.contains("\"check\":\"check.spf\"") {
        return others::maddy_line(line, events);
    }
    if text.contains("ESASPFVerdict=") {
        return others::cisco_esa_line(line, events);
    }
    if postfix::policy_content(line, events) {
        return;
    }
    if exim::exim_line(line, events) {
        return;
    }
    others::generic_line(line, events);
}
