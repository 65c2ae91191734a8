//! Join the facts of single lines into one observation per SPF check, in file order.
//!
//! Policy daemons log no queue id: their verdicts are joined to the Postfix smtpd session by
//! host + client IP + time, then follow that session's queue id to the cleanup Message-ID and
//! the qmgr envelope sender. Lines that state the same check again (pypolicyd-spf's info line
//! and its `prepend`, a reject and the smtpd `NOQUEUE: reject` for it, one reject per
//! recipient, Exim `logwrite` lines next to the `<=` line) merge into one verdict.
//!
//! Output order is the order of each verdict's first line. A verdict waits for the lines that
//! complete it (queue id, Message-ID) until its transaction ends (qmgr, `removed`,
//! disconnect) or a time/line limit passes, so memory stays bounded however long the log is.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::extract::{Observation, RecordedVerdict, VerdictSource};
use crate::input::Locator;
use crate::model::Identity;

use super::parse::{Event, Fragment, Join, Kind, ParsedLine, spanned};
use super::prefix::{YearClock, YearRule};
use super::text::{ClientIp, domain_of};

/// A syslog host, interned (0: none).
type Host = u32;
type SessionKey = (Host, u32);
type QueueKey = (Host, String);

/// How long (log time) a policy verdict waits for its smtpd session to finish.
const SESSION_WAIT_SECS: i64 = 300;
/// Without timestamps: how many lines it waits.
const SESSION_WAIT_LINES: u64 = 20_000;
/// With timestamps: the line limit that bounds memory whatever the clock says.
const MAX_WAIT_LINES: u64 = 500_000;
/// A verdict logged before its smtpd session is known (no `connect` line) is adopted by a
/// `client=` line with its client IP at most this long after it.
const ORPHAN_SECS: i64 = 60;
const ORPHAN_LINES: u64 = 5_000;
/// How close (seconds) two lines of one check are.
const SAME_CHECK_SECS: i64 = 5;
/// Without timestamps: how close (lines) two lines of one check are.
const SAME_CHECK_LINES: u64 = 3;
/// Exim `logwrite` lines and the `<=`/reject line they belong to are this close.
const ADJACENT_LINES: u64 = 4;
/// Verdicts kept after output, to absorb later lines of the same check.
const RECENT: usize = 64;
/// Most verdicts held back at once; beyond this the oldest goes out as it is.
const MAX_PENDING: usize = 50_000;
/// Entries kept in the side tables (SRS rewrites, maddy connections).
const MAX_SIDE: usize = 20_000;
/// Sessions and queue entries idle for this long (log time) are dropped.
const IDLE_SECS: i64 = 3600;
const IDLE_LINES: u64 = 2_000_000;

/// Where and when a line was written.
#[derive(Debug, Clone)]
struct Ctx {
    line: u64,
    time: Option<DateTime<Utc>>,
    host: Host,
    program: Option<Box<str>>,
    pid: Option<u32>,
}

#[derive(Debug)]
struct Group {
    seq: u64,
    first_line: u64,
    last_line: u64,
    date: Option<DateTime<Utc>>,
    last_time: Option<DateTime<Utc>>,
    host: Host,
    /// The policy daemon process (program, pid) that logged the first policy line.
    policy_proc: Option<(Box<str>, u32)>,
    first_kind: Kind,
    kinds: u16,
    frag: Fragment,
    session: Option<SessionKey>,
    qid: Option<String>,
    done: bool,
    deadline_line: u64,
    deadline_time: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Session {
    ip: Option<ClientIp>,
    started_line: u64,
    qid: Option<String>,
    /// Verdicts waiting for this session's queue id.
    groups: Vec<u64>,
    last_line: u64,
    last_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct Txn {
    ip: Option<ClientIp>,
    message_id: Option<String>,
    from: Option<String>,
    groups: Vec<u64>,
    last_line: u64,
    last_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct MaddyConn {
    sender: Option<String>,
    helo: Option<String>,
    ip: Option<ClientIp>,
}

/// A map that forgets its oldest entries past a size.
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V> Bounded<V> {
    fn new() -> Bounded<V> {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn insert(&mut self, key: String, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > MAX_SIDE {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }
}

/// Families of lines that may state the same check.
fn family(kind: Kind) -> u8 {
    match kind {
        Kind::PyInfo
        | Kind::PyHeader
        | Kind::PyReject
        | Kind::PerlResult
        | Kind::PerlAction
        | Kind::SmtpdReject => 1,
        Kind::EximLine | Kind::LogWrite | Kind::LogResult => 2,
        Kind::Smf | Kind::Alone => 0,
    }
}

fn is_policy(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::PyInfo | Kind::PyHeader | Kind::PyReject | Kind::PerlResult | Kind::PerlAction
    )
}

fn same_text(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Do two envelope senders (or a sender and a bare domain) agree?
fn same_sender(a: &str, b: &str) -> bool {
    if a.contains('@') == b.contains('@') {
        return same_text(a, b);
    }
    match (domain_of(a), domain_of(b)) {
        (Some(x), Some(y)) => same_text(x, y),
        _ => a.is_empty() && b.is_empty(),
    }
}

/// Can these two partial verdicts be the same check (no field contradicts)?
fn compatible(g: &Fragment, f: &Fragment) -> bool {
    if let (Some(a), Some(b)) = (g.result, f.result)
        && a != b
    {
        return false;
    }
    if let (Some(a), Some(b)) = (g.identity, f.identity)
        && a != b
    {
        return false;
    }
    if let (Some(a), Some(b)) = (&g.ip, &f.ip)
        && !a.same(b)
    {
        return false;
    }
    if let (Some(a), Some(b)) = (&g.envelope_from, &f.envelope_from)
        && !same_sender(a, b)
    {
        return false;
    }
    if let (Some(a), Some(b)) = (&g.helo, &f.helo)
        && !same_text(a, b)
    {
        return false;
    }
    for (x, y) in [(g, f), (f, g)] {
        if let (Some(d), Some(e)) = (&x.domain, &y.envelope_from)
            && !e.is_empty()
            && domain_of(e).is_some_and(|ed| !same_text(ed, d))
        {
            return false;
        }
    }
    if let (Some(a), Some(b)) = (&g.domain, &f.domain)
        && !same_text(a, b)
    {
        return false;
    }
    true
}

/// Does something positively tie them (same IP, sender, HELO or domain)?
fn anchored(g: &Fragment, f: &Fragment) -> bool {
    if let (Some(a), Some(b)) = (&g.ip, &f.ip)
        && a.same(b)
    {
        return true;
    }
    if let (Some(a), Some(b)) = (&g.envelope_from, &f.envelope_from)
        && same_sender(a, b)
    {
        return true;
    }
    if let (Some(a), Some(b)) = (&g.helo, &f.helo)
        && same_text(a, b)
    {
        return true;
    }
    for (x, y) in [(g, f), (f, g)] {
        if let Some(d) = &x.domain {
            if let Some(e) = &y.envelope_from
                && domain_of(e).is_some_and(|ed| same_text(ed, d))
            {
                return true;
            }
            if let Some(d2) = &y.domain
                && same_text(d, d2)
            {
                return true;
            }
        }
    }
    false
}

fn bare(f: &Fragment) -> bool {
    f.ip.is_none()
        && f.envelope_from.is_none()
        && f.helo.is_none()
        && f.domain.is_none()
        && f.message_id.is_none()
}

/// Fill `into`'s empty fields from `from`; a full address replaces a bare domain.
fn merge_fields(into: &mut Fragment, from: Fragment) {
    let stated = into.result.is_some();
    if into.result.is_none() {
        into.result = from.result;
    }
    if into.identity.is_none() {
        into.identity = from.identity;
    }
    match (&into.ip, from.ip) {
        (None, ip) => into.ip = ip,
        (Some(ClientIp::Raw(_)), Some(ClientIp::Ip(ip))) => into.ip = Some(ClientIp::Ip(ip)),
        _ => {}
    }
    match (&into.envelope_from, from.envelope_from) {
        (None, e) => into.envelope_from = e,
        (Some(a), Some(b)) if !a.contains('@') && b.contains('@') => into.envelope_from = Some(b),
        _ => {}
    }
    if into.helo.is_none() {
        into.helo = from.helo;
    }
    if into.domain.is_none() {
        into.domain = from.domain;
    }
    if into.receiver.is_none() {
        into.receiver = from.receiver;
    }
    if into.message_id.is_none() {
        into.message_id = from.message_id;
    }
    if into.qid.is_none() {
        into.qid = from.qid;
    }
    if matches!(into.writer, "postfix" | "log" | "exim")
        && !matches!(from.writer, "postfix" | "log")
    {
        into.writer = from.writer;
    }
    into.rejected |= from.rejected;
    for n in from.notes {
        // one reject text is enough (pypolicyd-spf's and smtpd's say the same)
        let dup_reject =
            n.starts_with("rejected: ") && into.notes.iter().any(|o| o.starts_with("rejected: "));
        // an inference is moot when an earlier line stated the result
        let moot = stated && n.starts_with("result ") && n.contains(" inferred ");
        if !dup_reject && !moot && !into.notes.contains(&n) {
            into.notes.push(n);
        }
    }
}

/// The sequential half of log reading: feeds on parsed lines in file order and hands out
/// observations in the order of their first line.
pub(crate) struct Correlator {
    source: Arc<str>,
    clock: YearClock,
    now: Option<DateTime<Utc>>,
    line: u64,
    next_seq: u64,
    pending: VecDeque<Group>,
    recent: VecDeque<Group>,
    hosts: HashMap<Box<str>, Host>,
    host_names: Vec<Box<str>>,
    sessions: HashMap<SessionKey, Session>,
    orphans: HashMap<(Host, ClientIp), Vec<u64>>,
    txns: HashMap<QueueKey, Txn>,
    aliases: HashMap<QueueKey, String>,
    message_ids: HashMap<String, QueueKey>,
    srs: Bounded<String>,
    maddy: Bounded<MaddyConn>,
    next_sweep: u64,
}

impl Correlator {
    pub(crate) fn new(source: Arc<str>, year: YearRule, zone: crate::model::LogZone) -> Correlator {
        Correlator {
            source,
            clock: YearClock::new(year, zone),
            now: None,
            line: 0,
            next_seq: 0,
            pending: VecDeque::new(),
            recent: VecDeque::new(),
            hosts: HashMap::new(),
            host_names: Vec::new(),
            sessions: HashMap::new(),
            orphans: HashMap::new(),
            txns: HashMap::new(),
            aliases: HashMap::new(),
            message_ids: HashMap::new(),
            srs: Bounded::new(),
            maddy: Bounded::new(),
            next_sweep: 4096,
        }
    }

    /// Feed one parsed line (`text`: its record's text); completed observations go to `out`.
    pub(crate) fn feed(&mut self, pl: ParsedLine, text: &str, out: &mut dyn FnMut(Observation)) {
        self.line = pl.line;
        let time = self.clock.date(pl.stamp);
        if let Some(t) = time
            && self.now.is_none_or(|n| t > n)
        {
            self.now = Some(t);
        }
        let ctx = Ctx {
            line: pl.line,
            time,
            host: self.host_id(spanned(text, pl.host)),
            program: spanned(text, pl.program).map(Box::from),
            pid: pl.pid,
        };
        self.event(&ctx, pl.event);
        for event in pl.more {
            self.event(&ctx, event);
        }
        self.release(false, out);
        if self.line >= self.next_sweep {
            self.sweep();
            self.next_sweep = self.line + 4096;
        }
    }

    /// The end of the log: everything still waiting goes out.
    pub(crate) fn finish(&mut self, out: &mut dyn FnMut(Observation)) {
        self.release(true, out);
    }

    fn host_id(&mut self, host: Option<&str>) -> Host {
        let Some(h) = host else {
            return 0;
        };
        if let Some(&id) = self.hosts.get(h) {
            return id;
        }
        if self.host_names.len() >= MAX_SIDE {
            // an absurd number of host names: stop telling new ones apart
            return u32::MAX;
        }
        self.host_names.push(Box::from(h));
        let id = self.host_names.len() as Host;
        self.hosts.insert(Box::from(h), id);
        id
    }

    fn host_name(&self, host: Host) -> Option<&str> {
        let i = usize::try_from(host).ok()?.checked_sub(1)?;
        self.host_names.get(i).map(|h| h.as_ref())
    }

    fn index(&self, seq: u64) -> Option<usize> {
        let front = self.pending.front()?.seq;
        if seq < front {
            return None;
        }
        let i = (seq - front) as usize;
        (i < self.pending.len()).then_some(i)
    }

    fn group_mut(&mut self, seq: u64) -> Option<&mut Group> {
        let i = self.index(seq)?;
        self.pending.get_mut(i)
    }

    fn event(&mut self, ctx: &Ctx, event: Event) {
        match event {
            Event::Verdict(f) => self.verdict(ctx, *f),
            Event::Connect { ip } => self.connect(ctx, ip),
            Event::Disconnect => self.disconnect(ctx),
            Event::Client { qid, ip } => self.client(ctx, qid, ip),
            Event::MessageId { qid, message_id } => self.message_id(ctx, qid, message_id),
            Event::QueueFrom { qid, from } => self.queue_from(ctx, qid, from),
            Event::Removed { qid } => self.removed(ctx, qid),
            Event::Requeued { qid, new_qid } => {
                let key = (ctx.host, new_qid);
                let original = self.resolve_qid(ctx.host, qid).1;
                self.aliases.insert(key, original);
            }
            Event::SrsRewrite {
                original,
                rewritten,
            } => self.srs.insert(rewritten.to_ascii_lowercase(), original),
            Event::LateReject { qid, text, helo } => {
                let key = self.resolve_qid(ctx.host, qid);
                let seqs = self
                    .txns
                    .get(&key)
                    .map(|t| t.groups.clone())
                    .unwrap_or_default();
                for seq in seqs {
                    if let Some(g) = self.group_mut(seq) {
                        let note = format!("message refused after DATA: {text}");
                        if !g.frag.notes.contains(&note) {
                            g.frag.notes.push(note);
                        }
                        if g.frag.helo.is_none() {
                            g.frag.helo.clone_from(&helo);
                        }
                    }
                }
            }
            Event::SessionReject { text } => {
                let Some(pid) = ctx.pid else {
                    return;
                };
                let seqs = match self.sessions.get(&(ctx.host, pid)) {
                    Some(s) => s.groups.clone(),
                    None => return,
                };
                let note = format!("the transaction was refused: {text}");
                for seq in seqs {
                    if let Some(g) = self.group_mut(seq)
                        && !g.frag.notes.contains(&note)
                    {
                        g.frag.notes.push(note.clone());
                    }
                }
            }
            Event::Sendmail {
                qid,
                from,
                message_id,
                ip,
                reject,
            } => self.sendmail(ctx, qid, from, message_id, ip, reject),
            Event::MaddyIncoming {
                msg_id,
                sender,
                helo,
                ip,
            } => self.maddy.insert(msg_id, MaddyConn { sender, helo, ip }),
        }
    }

    /// The queue key a queue id refers to: itself, or the transaction it was re-queued from.
    fn resolve_qid(&self, host: Host, qid: String) -> QueueKey {
        let key = (host, qid);
        if self.txns.contains_key(&key) {
            return key;
        }
        match self.aliases.get(&key) {
            Some(original) => (host, original.clone()),
            None => key,
        }
    }

    fn close_session(&mut self, key: &SessionKey) {
        let Some(session) = self.sessions.remove(key) else {
            return;
        };
        for seq in session.groups {
            if let Some(g) = self.group_mut(seq)
                && g.qid.is_none()
            {
                g.done = true;
            }
        }
        // A transaction of this session is complete unless qmgr still has to report it.
        if let Some(qid) = session.qid {
            let (line, now) = (self.line, self.now);
            let seqs = self
                .txns
                .get(&(key.0, qid))
                .map(|t| t.groups.clone())
                .unwrap_or_default();
            for seq in seqs {
                if let Some(g) = self.group_mut(seq) {
                    g.deadline_line = g.deadline_line.min(line + 500);
                    if let Some(n) = now {
                        g.deadline_time = n.checked_add_signed(Duration::seconds(2));
                    }
                }
            }
        }
    }

    fn connect(&mut self, ctx: &Ctx, ip: Option<ClientIp>) {
        let Some(pid) = ctx.pid else {
            return;
        };
        let key = (ctx.host, pid);
        self.close_session(&key);
        self.sessions.insert(
            key,
            Session {
                ip,
                started_line: ctx.line,
                qid: None,
                groups: Vec::new(),
                last_line: ctx.line,
                last_time: ctx.time,
            },
        );
    }

    fn disconnect(&mut self, ctx: &Ctx) {
        if let Some(pid) = ctx.pid {
            self.close_session(&(ctx.host, pid));
        }
    }

    fn client(&mut self, ctx: &Ctx, qid: String, ip: Option<ClientIp>) {
        let Some(pid) = ctx.pid else {
            return;
        };
        let key = (ctx.host, pid);
        let session = self.sessions.entry(key).or_insert_with(|| Session {
            ip: ip.clone(),
            started_line: ctx.line,
            qid: None,
            groups: Vec::new(),
            last_line: ctx.line,
            last_time: ctx.time,
        });
        if session.ip.is_none() {
            session.ip.clone_from(&ip);
        }
        session.qid = Some(qid.clone());
        session.last_line = ctx.line;
        session.last_time = ctx.time.or(session.last_time);
        let mut seqs = std::mem::take(&mut session.groups);
        let session_ip = session.ip.clone();
        if let Some(ip) = session_ip
            && let Some(orphans) = self.orphans.remove(&(ctx.host, ip))
        {
            // only verdicts made shortly before: older ones belong to other connections
            let recent = |g: &Group| match (g.last_time, ctx.time) {
                (Some(a), Some(b)) => (b - a).num_seconds() <= ORPHAN_SECS,
                _ => ctx.line.saturating_sub(g.last_line) <= ORPHAN_LINES,
            };
            seqs.extend(orphans.into_iter().filter(|&seq| {
                self.index(seq)
                    .and_then(|i| self.pending.get(i))
                    .is_some_and(recent)
            }));
        }
        let qkey = (ctx.host, qid.clone());
        let txn = self.txns.entry(qkey.clone()).or_default();
        txn.ip = txn.ip.take().or(ip);
        txn.last_line = ctx.line;
        txn.last_time = ctx.time;
        let mut attached = Vec::new();
        for seq in seqs {
            if let Some(g) = self.group_mut(seq)
                && g.qid.is_none()
                && !g.frag.rejected
            {
                g.qid = Some(qid.clone());
                g.session = Some(key);
                attached.push(seq);
            }
        }
        if let Some(txn) = self.txns.get_mut(&qkey) {
            txn.groups.extend(attached);
        }
    }

    fn message_id(&mut self, ctx: &Ctx, qid: String, message_id: String) {
        let key = self.resolve_qid(ctx.host, qid);
        let txn = self.txns.entry(key.clone()).or_default();
        txn.message_id = Some(message_id.clone());
        txn.last_line = ctx.line;
        txn.last_time = ctx.time;
        let seqs = txn.groups.clone();
        self.message_ids.insert(message_id.clone(), key);
        for seq in seqs {
            if let Some(g) = self.group_mut(seq)
                && g.frag.message_id.is_none()
            {
                g.frag.message_id = Some(message_id.clone());
            }
        }
    }

    /// The envelope sender as the MTA queued it, mapped back through a postsrsd rewrite.
    fn unrewritten(&self, from: &str) -> Option<&String> {
        self.srs.get(&from.to_ascii_lowercase())
    }

    fn queue_from(&mut self, ctx: &Ctx, qid: String, from: String) {
        let key = self.resolve_qid(ctx.host, qid);
        let Some(txn) = self.txns.get_mut(&key) else {
            return;
        };
        txn.from = Some(from.clone());
        txn.last_line = ctx.line;
        txn.last_time = ctx.time;
        let seqs = txn.groups.clone();
        let original = self.unrewritten(&from).cloned();
        for seq in seqs {
            let Some(g) = self.group_mut(seq) else {
                continue;
            };
            match &g.frag.envelope_from {
                None => {
                    g.frag.envelope_from = Some(original.clone().unwrap_or_else(|| from.clone()));
                }
                Some(e) if !same_sender(e, &from) => {
                    let why = if original.as_deref().is_some_and(|o| same_sender(o, e)) {
                        " (rewritten by postsrsd)"
                    } else {
                        ""
                    };
                    let note = format!("the queue manager recorded envelope-from <{from}>{why}");
                    if !g.frag.notes.contains(&note) {
                        g.frag.notes.push(note);
                    }
                }
                _ => {}
            }
            g.done = true;
        }
    }

    fn removed(&mut self, ctx: &Ctx, qid: String) {
        let key = self.resolve_qid(ctx.host, qid.clone());
        if let Some(txn) = self.txns.remove(&key) {
            for seq in txn.groups {
                if let Some(g) = self.group_mut(seq) {
                    g.done = true;
                }
            }
            if let Some(mid) = txn.message_id {
                self.message_ids.remove(&mid);
            }
        }
        self.aliases.remove(&(ctx.host, qid));
    }

    fn sendmail(
        &mut self,
        ctx: &Ctx,
        qid: String,
        from: String,
        message_id: Option<String>,
        ip: Option<ClientIp>,
        reject: Option<String>,
    ) {
        let line = ctx.line;
        let time = ctx.time;
        let host = ctx.host;
        for g in self.pending.iter_mut().rev().take(RECENT) {
            if g.first_kind != Kind::Smf || g.host != host || g.qid.is_some() {
                continue;
            }
            let near = match (g.last_time, time) {
                (Some(a), Some(b)) => (b - a).num_seconds().abs() <= 10,
                _ => line.saturating_sub(g.last_line) <= 50,
            };
            let same_from = g
                .frag
                .envelope_from
                .as_deref()
                .is_some_and(|e| same_sender(e, &from));
            let ip_ok = match (&g.frag.ip, &ip) {
                (Some(a), Some(b)) => a.same(b),
                _ => true,
            };
            if !(near && same_from && ip_ok) {
                continue;
            }
            g.qid = Some(qid);
            if g.frag.message_id.is_none() {
                g.frag.message_id = message_id;
            }
            if let Some(r) = reject {
                g.frag.rejected = true;
                g.frag.notes.push(format!("rejected: {r}"));
            }
            g.done = true;
            return;
        }
    }

    /// Find a group this fragment is another line of: pending (merge) or already out
    /// (absorb). Newest first.
    fn find_same_check(&self, ctx: &Ctx, f: &Fragment) -> Option<(bool, usize)> {
        let fam = family(f.kind);
        if fam == 0 {
            return None;
        }
        let candidates = self
            .pending
            .iter()
            .enumerate()
            .rev()
            .map(|(i, g)| (true, i, g))
            .chain(
                self.recent
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, g)| (false, i, g)),
            )
            .take(RECENT);
        for (pending, i, g) in candidates {
            if self.same_check(ctx, g, f) {
                return Some((pending, i));
            }
        }
        None
    }

    fn same_check(&self, ctx: &Ctx, g: &Group, f: &Fragment) -> bool {
        let fam = family(f.kind);
        if family(g.first_kind) != fam || g.host != ctx.host {
            return false;
        }
        // one reject per recipient for one check; Exim logs its reject again per recipient
        let same_exim_reject = f.kind == Kind::EximLine
            && f.rejected
            && g.frag.rejected
            && g.frag.result == f.result
            && g.frag.ip == f.ip
            && g.frag.envelope_from == f.envelope_from
            && g.frag.helo == f.helo;
        let repeatable = f.rejected
            && (matches!(
                f.kind,
                Kind::SmtpdReject | Kind::PyReject | Kind::PerlAction
            ) || same_exim_reject);
        if g.kinds & f.kind.bit() != 0 && !repeatable {
            return false;
        }
        // Lines of one check by a policy daemon come from one process.
        if is_policy(f.kind)
            && let (Some((prog, pid)), Some(p), Some(cpid)) =
                (&g.policy_proc, &ctx.program, ctx.pid)
            && prog.as_ref() == p.as_ref()
            && *pid != cpid
        {
            return false;
        }
        // smtpd's reject comes from the session the verdict was joined to.
        if f.kind == Kind::SmtpdReject
            && let (Some((_, spid)), Some(cpid)) = (&g.session, ctx.pid)
            && *spid != cpid
        {
            return false;
        }
        let lines = ctx.line.saturating_sub(g.last_line);
        let near = match (g.last_time, ctx.time) {
            (Some(a), Some(b)) => (b - a).num_seconds().abs() <= SAME_CHECK_SECS,
            _ => lines <= SAME_CHECK_LINES,
        };
        if !near {
            return false;
        }
        if fam == 2 && lines > ADJACENT_LINES {
            return false;
        }
        if !compatible(&g.frag, f) {
            return false;
        }
        anchored(&g.frag, f) || (fam == 2 && lines <= 2 && (bare(&g.frag) || bare(f)))
    }

    fn verdict(&mut self, ctx: &Ctx, f: Fragment) {
        if let Some((pending, i)) = self.find_same_check(ctx, &f) {
            if !pending {
                return; // already out: this line repeats a verdict that was written
            }
            let (line, time) = (ctx.line, ctx.time);
            let now = self.now;
            let Some(g) = self.pending.get_mut(i) else {
                return;
            };
            let kind = f.kind;
            let rejected = f.rejected;
            g.kinds |= kind.bit();
            g.last_line = line;
            if time.is_some() {
                g.last_time = time;
            }
            if g.policy_proc.is_none()
                && is_policy(kind)
                && let (Some(p), Some(pid)) = (&ctx.program, ctx.pid)
            {
                g.policy_proc = Some((p.clone(), pid));
            }
            merge_fields(&mut g.frag, f);
            if kind == Kind::SmtpdReject {
                g.done = true;
                if let Some(pid) = ctx.pid {
                    g.session = Some((ctx.host, pid));
                }
            } else if rejected {
                // wait briefly for smtpd's reject line
                g.deadline_line = g.deadline_line.min(line + 200);
                if let Some(n) = now.or(time) {
                    g.deadline_time = n.checked_add_signed(Duration::seconds(SAME_CHECK_SECS));
                }
            }
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let policy_proc = match (is_policy(f.kind), &ctx.program, ctx.pid) {
            (true, Some(p), Some(pid)) => Some((p.clone(), pid)),
            _ => None,
        };
        let mut g = Group {
            seq,
            first_line: ctx.line,
            last_line: ctx.line,
            date: ctx.time,
            last_time: ctx.time,
            host: ctx.host,
            policy_proc,
            first_kind: f.kind,
            kinds: f.kind.bit(),
            qid: f.qid.clone(),
            frag: f,
            session: None,
            done: true,
            deadline_line: ctx.line,
            deadline_time: None,
        };
        let wait = |g: &mut Group, secs: i64, lines_timed: u64, lines_untimed: u64| {
            g.done = false;
            match ctx.time {
                Some(t) => {
                    g.deadline_time = t.checked_add_signed(Duration::seconds(secs));
                    g.deadline_line = ctx.line + lines_timed;
                }
                None => g.deadline_line = ctx.line + lines_untimed,
            }
        };
        match g.frag.join.clone() {
            Join::Session if g.frag.kind == Kind::SmtpdReject => {
                if let Some(pid) = ctx.pid {
                    g.session = Some((ctx.host, pid));
                }
                // pypolicyd-spf's own reject line may follow smtpd's
                wait(&mut g, SAME_CHECK_SECS, 200, SAME_CHECK_LINES);
            }
            Join::Session if g.frag.rejected => {
                wait(&mut g, SAME_CHECK_SECS, 200, SAME_CHECK_LINES + 1);
            }
            Join::Session => {
                wait(
                    &mut g,
                    SESSION_WAIT_SECS,
                    MAX_WAIT_LINES,
                    SESSION_WAIT_LINES,
                );
                self.join_session(ctx, &mut g);
            }
            Join::Queue(qid) => {
                let key = self.resolve_qid(ctx.host, qid);
                if let Some(txn) = self.txns.get(&key) {
                    self.fill_from_txn(&mut g.frag, txn);
                }
            }
            Join::MessageId(mid) => {
                if let Some(key) = self.message_ids.get(&mid)
                    && let Some(txn) = self.txns.get(key)
                {
                    self.fill_from_txn(&mut g.frag, txn);
                    if g.qid.is_none() {
                        g.qid = Some(key.1.clone());
                    }
                }
            }
            Join::Maddy(id) => {
                if let Some(conn) = self.maddy.get(&id) {
                    let conn = conn.clone();
                    if g.frag.ip.is_none() {
                        g.frag.ip = conn.ip;
                    }
                    if g.frag.envelope_from.is_none() {
                        g.frag.envelope_from = conn.sender;
                    }
                    if g.frag.helo.is_none() {
                        g.frag.helo = conn.helo;
                    }
                }
            }
            Join::Sendmail => wait(&mut g, 10, 500, 50),
            Join::Adjacent => {
                g.done = false;
                g.deadline_line = ctx.line + ADJACENT_LINES;
            }
            Join::None => {}
        }
        self.pending.push_back(g);
    }

    fn fill_from_txn(&self, f: &mut Fragment, txn: &Txn) {
        if let Some(e) = &f.envelope_from
            && let Some(original) = self.unrewritten(e)
        {
            let note = format!("envelope-from is a postsrsd rewrite of <{original}>");
            if !f.notes.contains(&note) {
                f.notes.push(note);
            }
        }
        match (&f.ip, &txn.ip) {
            (None, Some(ip)) => f.ip = Some(ip.clone()),
            (Some(ClientIp::Raw(_)), Some(ClientIp::Ip(ip))) => f.ip = Some(ClientIp::Ip(*ip)),
            _ => {}
        }
        if f.message_id.is_none() {
            f.message_id.clone_from(&txn.message_id);
        }
        if f.envelope_from.is_none()
            && let Some(from) = &txn.from
        {
            f.envelope_from = Some(self.unrewritten(from).cloned().unwrap_or(from.clone()));
            if f.identity.is_none() && !from.is_empty() && f.kind == Kind::Alone {
                f.identity = Some(Identity::MailFrom);
            }
        }
    }

    /// Attach a policy daemon verdict to the smtpd session it was made for: same host, same
    /// client IP, still connected. With several candidates (parallel connections from one
    /// client) the oldest one still without a verdict for this identity is taken.
    fn join_session(&mut self, ctx: &Ctx, g: &mut Group) {
        let Some(ip) = g.frag.ip.clone() else {
            // nothing to join by
            g.done = true;
            return;
        };
        let identity = g.frag.identity;
        let mut best: Option<(bool, u64, SessionKey)> = None;
        for (key, s) in &self.sessions {
            if key.0 != ctx.host || !s.ip.as_ref().is_some_and(|sip| sip.same(&ip)) {
                continue;
            }
            let busy = s.groups.iter().any(|&seq| {
                self.index(seq)
                    .and_then(|i| self.pending.get(i))
                    .is_some_and(|o| o.frag.identity == identity)
            });
            let cand = (busy, s.started_line, *key);
            if best.as_ref().is_none_or(|b| (cand.0, cand.1) < (b.0, b.1)) {
                best = Some(cand);
            }
        }
        let Some((_, _, key)) = best else {
            self.orphans.entry((ctx.host, ip)).or_default().push(g.seq);
            return;
        };
        g.session = Some(key);
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        session.last_line = ctx.line;
        session.last_time = ctx.time.or(session.last_time);
        // Checked after `client=` (a restriction at DATA): the transaction in progress.
        if let Some(qid) = session.qid.clone() {
            let qkey = (ctx.host, qid.clone());
            if let Some(txn) = self.txns.get(&qkey)
                && txn.message_id.is_none()
                && txn.from.as_deref().is_none_or(|from| {
                    g.frag
                        .envelope_from
                        .as_deref()
                        .is_none_or(|e| same_sender(e, from))
                })
            {
                g.qid = Some(qid);
                if let Some(txn) = self.txns.get_mut(&qkey) {
                    txn.groups.push(g.seq);
                }
                return;
            }
        }
        // A new check of the same identity in this session starts a new transaction (after a
        // refused recipient or RSET): the earlier verdict will get no queue id.
        let earlier = self
            .sessions
            .get(&key)
            .map(|s| s.groups.clone())
            .unwrap_or_default();
        let mut superseded = Vec::new();
        for seq in earlier {
            if let Some(o) = self.group_mut(seq)
                && o.frag.identity == identity
                && o.qid.is_none()
            {
                o.done = true;
                superseded.push(seq);
            }
        }
        if let Some(session) = self.sessions.get_mut(&key) {
            session.groups.retain(|seq| !superseded.contains(seq));
            session.groups.push(g.seq);
        }
    }

    fn release(&mut self, all: bool, out: &mut dyn FnMut(Observation)) {
        while let Some(front) = self.pending.front() {
            let expired = front.done
                || self.line > front.deadline_line
                || matches!((self.now, front.deadline_time), (Some(n), Some(d)) if n > d);
            if !(all || expired || self.pending.len() > MAX_PENDING) {
                break;
            }
            let Some(g) = self.pending.pop_front() else {
                break;
            };
            out(self.observation(&g));
            self.recent.push_back(g);
            if self.recent.len() > RECENT {
                self.recent.pop_front();
            }
        }
    }

    /// Forget sessions, queue entries and orphan lists nothing will refer to again.
    fn sweep(&mut self) {
        let line = self.line;
        let now = self.now;
        let idle = |last_line: u64, last_time: Option<DateTime<Utc>>| {
            line.saturating_sub(last_line) > IDLE_LINES
                || matches!((now, last_time), (Some(n), Some(t)) if n - t > Duration::seconds(IDLE_SECS))
        };
        let front = self.pending.front().map_or(self.next_seq, |g| g.seq);
        self.sessions.retain(|_, s| !idle(s.last_line, s.last_time));
        for s in self.sessions.values_mut() {
            s.groups.retain(|&seq| seq >= front);
        }
        let mut dropped = Vec::new();
        self.txns.retain(|_, t| {
            let keep = !idle(t.last_line, t.last_time);
            if !keep && let Some(mid) = t.message_id.take() {
                dropped.push(mid);
            }
            keep
        });
        for mid in dropped {
            self.message_ids.remove(&mid);
        }
        self.orphans.retain(|_, v| {
            v.retain(|&seq| seq >= front);
            !v.is_empty()
        });
        if self.aliases.len() > MAX_SIDE {
            self.aliases.clear();
        }
        if self.message_ids.len() > 4 * MAX_SIDE {
            let txns = &self.txns;
            self.message_ids.retain(|_, k| txns.contains_key(k));
        }
    }

    fn observation(&self, g: &Group) -> Observation {
        let f = &g.frag;
        let (client_ip, client_ip_raw) = match &f.ip {
            Some(ClientIp::Ip(ip)) => (Some(*ip), None),
            Some(ClientIp::Raw(r)) => (None, Some(r.clone())),
            None => (None, None),
        };
        // The domain whose policy was checked: the HELO name (RFC 7208 §2.3), or the MAIL FROM
        // domain, which is the HELO name for the null sender (§2.4). A name without a dot or
        // an address literal is no domain to check.
        let domain = f
            .domain
            .clone()
            .or_else(|| match f.identity {
                Some(Identity::Helo) => f.helo.clone(),
                _ => match f.envelope_from.as_deref() {
                    Some("") => f.helo.clone(),
                    Some(e) => domain_of(e).map(str::to_string),
                    None => None,
                },
            })
            .filter(|d| d.contains('.') && !d.starts_with('[') && !d.contains([' ', '@']));
        let receiver = self
            .host_name(g.host)
            .map(str::to_string)
            .or_else(|| f.receiver.clone());
        let mut notes = f.notes.clone();
        if let Some(raw) = &client_ip_raw {
            notes.push(format!("client IP as logged is not an address: {raw}"));
        }
        if let Some(qid) = g.qid.as_ref().or(f.qid.as_ref()) {
            notes.push(format!("queue id {qid}"));
        }
        let verdict = RecordedVerdict {
            result: f.result,
            identity: f.identity,
            client_ip,
            client_ip_raw,
            helo: f.helo.clone(),
            envelope_from: f.envelope_from.clone(),
            domain,
            receiver,
            source: Some(VerdictSource::Log),
            writer: Some(f.writer.to_string()),
            position: 0,
        };
        Observation {
            source: self.source.clone(),
            locator: Some(Locator::Line(g.first_line)),
            message_id: f.message_id.clone(),
            date: g.date,
            header_from: None,
            envelope_from: f.envelope_from.clone(),
            helo: f.helo.clone(),
            client_ip,
            verdict: Some(verdict),
            notes,
            ..Observation::default()
        }
    }
}
