//! The front of a log line: timestamp (syslog `Mmm dd hh:mm:ss` without a year, RFC 3339 /
//! ISO 8601, ctime with a year), syslog host, and `program[pid]:`. Lines pasted without any of
//! these (issue threads, SIEM samples) are kept whole as the message.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// When a line says it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// No timestamp (pasted excerpt).
    None,
    /// Classic syslog (RFC 3164) timestamp: no year, no zone.
    Syslog {
        month: u32,
        day: u32,
        secs: u32,
        nanos: u32,
    },
    /// A timestamp with a year and a zone (RFC 3339, ISO 8601 with an offset).
    Absolute(DateTime<Utc>),
    /// A timestamp with a year but no zone (ISO 8601 without an offset, ctime, syslog with a
    /// year): in the log's zone ([`crate::model::LogZone`]).
    Local(NaiveDateTime),
}

/// The parts of one log line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prefix<'a> {
    pub stamp: Stamp,
    pub host: Option<&'a str>,
    pub program: Option<&'a str>,
    pub pid: Option<u32>,
    /// Everything after the prefix (after `program[pid]: `, else after the timestamp).
    pub message: &'a str,
    /// Everything after the timestamp (and a `[pid]` right after it), host and program
    /// included.
    pub after_stamp: &'a str,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn month_number(word: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(word))
        .map(|i| i as u32 + 1)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// `hh:mm:ss` at `at`, then optional `.fraction`; returns (seconds of day, nanos, end).
fn clock(b: &[u8], at: usize) -> Option<(u32, u32, usize)> {
    let h = digits(b, at, 2)?;
    if b.get(at + 2) != Some(&b':') {
        return None;
    }
    let m = digits(b, at + 3, 2)?;
    if b.get(at + 5) != Some(&b':') {
        return None;
    }
    let s = digits(b, at + 6, 2)?;
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut end = at + 8;
    let mut nanos = 0u32;
    if matches!(b.get(end), Some(b'.') | Some(b',')) {
        let start = end + 1;
        let mut i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i > start {
            let frac = &b[start..i.min(start + 9)];
            let mut n = frac
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            for _ in frac.len()..9 {
                n *= 10;
            }
            nanos = n;
            end = i;
        }
    }
    Some((h * 3600 + m * 60 + s.min(59), nanos, end))
}

/// Syslog `Mmm dd hh:mm:ss` (day space- or zero-padded).
fn syslog_stamp(b: &[u8]) -> Option<(Stamp, usize)> {
    let word = std::str::from_utf8(b.get(..3)?).ok()?;
    let month = month_number(word)?;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    let mut i = 4;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let day_len = if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        2
    } else {
        1
    };
    let day = digits(b, i, day_len)?;
    i += day_len;
    if b.get(i) != Some(&b' ') || !(1..=31).contains(&day) {
        return None;
    }
    i += 1;
    // `Mmm dd yyyy hh:mm:ss` (some syslog templates add the year)
    if let Some(year) = digits(b, i, 4)
        && b.get(i + 4) == Some(&b' ')
        && let Some((secs, nanos, end)) = clock(b, i + 5)
    {
        let stamp = NaiveDate::from_ymd_opt(year as i32, month, day)
            .and_then(|d| d.and_hms_nano_opt(secs / 3600, secs / 60 % 60, secs % 60, nanos))
            .map(Stamp::Local)
            .unwrap_or(Stamp::None);
        return Some((stamp, end));
    }
    let (secs, nanos, end) = clock(b, i)?;
    Some((
        Stamp::Syslog {
            month,
            day,
            secs,
            nanos,
        },
        end,
    ))
}

/// `yyyy-mm-ddThh:mm:ss[.frac][Z|±hh:mm|±hhmm]`, `T` or a space between date and time; Exim's
/// ` ±hhmm` after a space (`log_timezone`) too.
fn iso_stamp(b: &[u8]) -> Option<(Stamp, usize)> {
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    if b.get(7) != Some(&b'-') {
        return None;
    }
    let day = digits(b, 8, 2)?;
    if !matches!(b.get(10), Some(b'T') | Some(b't') | Some(b' ')) {
        return None;
    }
    let (secs, nanos, mut end) = clock(b, 11)?;
    let mut offset_secs: Option<i32> = None;
    match b.get(end) {
        Some(b'Z') | Some(b'z') => {
            offset_secs = Some(0);
            end += 1;
        }
        Some(b'+') | Some(b'-') => {
            if let Some((off, e)) = zone_offset(b, end) {
                offset_secs = Some(off);
                end = e;
            }
        }
        Some(b' ') if matches!(b.get(end + 1), Some(b'+') | Some(b'-')) => {
            if let Some((off, e)) = zone_offset(b, end + 1)
                && (e == b.len() || b[e] == b' ')
            {
                offset_secs = Some(off);
                end = e;
            }
        }
        _ => {}
    }
    let naive: NaiveDateTime = NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_nano_opt(
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        nanos,
    )?;
    let Some(offset_secs) = offset_secs else {
        return Some((Stamp::Local(naive), end));
    };
    let utc = Utc
        .from_utc_datetime(&naive)
        .checked_sub_signed(chrono::Duration::seconds(i64::from(offset_secs)))
        .filter(|t| (1..=9999).contains(&t.year()))?;
    Some((Stamp::Absolute(utc), end))
}

fn zone_offset(b: &[u8], at: usize) -> Option<(i32, usize)> {
    let sign = match b.get(at)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = digits(b, at + 1, 2)?;
    let (m, end) = if b.get(at + 3) == Some(&b':') {
        (digits(b, at + 4, 2)?, at + 6)
    } else {
        (digits(b, at + 3, 2)?, at + 5)
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some((sign * (h as i32 * 3600 + m as i32 * 60), end))
}

/// ctime `Www Mmm dd hh:mm:ss yyyy` (spamd's own log).
fn ctime_stamp(b: &[u8]) -> Option<(Stamp, usize)> {
    let wd = std::str::from_utf8(b.get(..3)?).ok()?;
    if !WEEKDAYS.iter().any(|w| w.eq_ignore_ascii_case(wd)) || b.get(3) != Some(&b' ') {
        return None;
    }
    let (
        Stamp::Syslog {
            month,
            day,
            secs,
            nanos,
        },
        end,
    ) = syslog_stamp(b.get(4..)?)?
    else {
        return None;
    };
    let end = end + 4;
    if b.get(end) != Some(&b' ') {
        return None;
    }
    let year = digits(b, end + 1, 4)?;
    let naive = NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_nano_opt(
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        nanos,
    )?;
    Some((Stamp::Local(naive), end + 5))
}

/// The end of something shaped like an ISO 8601 timestamp whose values are impossible
/// (`2024-13-45T99:99:99Z`): consumed as a timestamp that gives no date.
fn iso_shape(b: &[u8]) -> Option<usize> {
    let shape = b"dddd-dd-ddTdd:dd:dd";
    if b.len() < shape.len() {
        return None;
    }
    for (i, &c) in shape.iter().enumerate() {
        let ok = match c {
            b'd' => b[i].is_ascii_digit(),
            b'T' => matches!(b[i], b'T' | b't' | b' '),
            other => b[i] == other,
        };
        if !ok {
            return None;
        }
    }
    let end = b[shape.len()..]
        .iter()
        .position(|c| {
            !(c.is_ascii_digit() || matches!(c, b'.' | b',' | b':' | b'+' | b'-' | b'Z' | b'z'))
        })
        .map_or(b.len(), |p| shape.len() + p);
    Some(end)
}

/// Is `token` (without the trailing `:`) a program tag `name` or `name[pid]`?
fn program_tag(token: &str) -> Option<(&str, Option<u32>)> {
    let (name, pid) = match token.find('[') {
        Some(open) => {
            let inner = token[open + 1..].strip_suffix(']')?;
            let pid = inner.parse::<u32>().ok()?;
            (&token[..open], Some(pid))
        }
        None => (token, None),
    };
    let first = name.bytes().next()?;
    if !first.is_ascii_alphabetic()
        || !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
    {
        return None;
    }
    Some((name, pid))
}

/// Split a line into timestamp, host, program, pid and message.
pub(crate) fn split(line: &str) -> Prefix<'_> {
    let mut text = line;
    // RFC 5424 / network syslog `<PRI>` (and version `1 `)
    let tb = text.as_bytes();
    if tb.first() == Some(&b'<')
        && let Some(close) = tb[..tb.len().min(5)].iter().position(|&b| b == b'>')
        && close > 1
        && tb[1..close].iter().all(u8::is_ascii_digit)
    {
        text = &text[close + 1..];
        if let Some(rest) = text.strip_prefix("1 ") {
            text = rest;
        }
    }
    let b = text.as_bytes();
    let found = syslog_stamp(b)
        .map(|(s, e)| (s, e, true))
        .or_else(|| iso_stamp(b).map(|(s, e)| (s, e, true)))
        .or_else(|| ctime_stamp(b).map(|(s, e)| (s, e, true)))
        .or_else(|| iso_shape(b).map(|e| (Stamp::None, e, true)));
    let (stamp, after) = match found {
        Some((stamp, end, _)) => (stamp, text.get(end..).unwrap_or("").trim_start()),
        None => (Stamp::None, text),
    };
    let has_stamp = stamp != Stamp::None || after.len() != text.len();
    let mut after_stamp = after;
    let mut pid = None;
    // `[pid] ` right after the timestamp (Exim +pid, spamd)
    if has_stamp
        && let Some(rest) = after_stamp.strip_prefix('[')
        && let Some(close) = rest.find(']')
        && let Ok(p) = rest[..close].parse::<u32>()
    {
        pid = Some(p);
        after_stamp = rest[close + 1..].trim_start();
    }
    let mut prefix = Prefix {
        stamp,
        host: None,
        program: None,
        pid,
        message: after_stamp,
        after_stamp,
    };
    let mut tokens = after_stamp.splitn(3, ' ');
    let t1 = tokens.next().unwrap_or("");
    let t2 = tokens.next();
    // `program[pid]: message` right away (no host: pasted excerpt, or a host-less template)
    if let Some(tag) = t1.strip_suffix(':')
        && let Some((name, p)) = program_tag(tag)
        && (p.is_some() || has_stamp)
    {
        prefix.program = Some(name);
        prefix.pid = p.or(pid);
        prefix.message = strip_empty_field(after_stamp.get(t1.len()..).unwrap_or(""));
        return prefix;
    }
    // `host program[pid]: message` (only after a timestamp)
    if has_stamp
        && let Some(t2) = t2
        && let Some(tag) = t2.strip_suffix(':')
        && let Some((name, p)) = program_tag(tag)
        && !t1.is_empty()
        && !t1.contains(['=', '[', '(', '<', '"'])
    {
        prefix.host = Some(t1);
        prefix.program = Some(name);
        prefix.pid = p.or(pid);
        let offset = t1.len() + 1 + t2.len();
        prefix.message = strip_empty_field(after_stamp.get(offset..).unwrap_or(""));
        return prefix;
    }
    prefix
}

/// `: prepend ...` (pypolicyd-spf and the perl daemon log an empty queue-id field).
fn strip_empty_field(message: &str) -> &str {
    let m = message.trim_start();
    match m.strip_prefix(':') {
        Some(rest) if rest.starts_with(' ') || rest.is_empty() => rest.trim_start(),
        _ => m,
    }
}

/// Which year a syslog timestamp (no year) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YearRule {
    /// `--log-year`: the first line is in this year, and the year moves on at each turn of
    /// the year met in file order.
    StartingIn(i32),
    /// The log was last written on this (local) date, its modification time, or today for
    /// a stream: each line is dated in the latest year that puts it no later than the day
    /// after. Right for any log that spans less than a year, as rotated logs do, including
    /// one that runs from December into January.
    WrittenBy(NaiveDate),
}

/// Turns syslog timestamps (no year) into dates, line by line in file order, by a
/// [`YearRule`]. With [`YearRule::StartingIn`] the clock moves to the next year when the
/// month steps from November/December to January/February; a November/December line right
/// after the turn of the year (a late line) is dated in the previous year without moving it.
#[derive(Debug, Clone)]
pub(crate) struct YearClock {
    rule: YearRule,
    zone: crate::model::LogZone,
    year: i32,
    last_month: Option<u32>,
}

impl YearClock {
    /// Dates in `zone` ([`crate::model::LogZone`]) when the stamp carries none.
    pub(crate) fn new(rule: YearRule, zone: crate::model::LogZone) -> YearClock {
        YearClock {
            rule,
            zone,
            year: match rule {
                YearRule::StartingIn(year) => year,
                YearRule::WrittenBy(date) => date.year(),
            },
            last_month: None,
        }
    }

    /// The year of a line dated `month`/`day` under the rule.
    fn year_of(&mut self, month: u32, day: u32) -> i32 {
        match self.rule {
            YearRule::StartingIn(_) => {
                let mut year = self.year;
                match self.last_month {
                    // December (or November) -> January (or February): a new year
                    Some(last) if last >= 11 && month <= 2 => {
                        self.year = self.year.saturating_add(1);
                        year = self.year;
                        self.last_month = Some(month);
                    }
                    // a late line from before the turn of the year
                    Some(last) if last <= 2 && month >= 11 => {
                        year = year.saturating_sub(1);
                    }
                    _ => self.last_month = Some(month),
                }
                year
            }
            YearRule::WrittenBy(written) => {
                // A day of slack for the difference between the log's clock and ours.
                let latest = written.succ_opt().unwrap_or(written);
                // Eight years back at most: 29 February can be that far (1896 -> 1904).
                (0..=8)
                    .map(|back| written.year().saturating_sub(back))
                    .find(|&year| {
                        NaiveDate::from_ymd_opt(year, month, day).is_some_and(|d| d <= latest)
                    })
                    .unwrap_or(written.year())
            }
        }
    }

    pub(crate) fn date(&mut self, stamp: Stamp) -> Option<DateTime<Utc>> {
        match stamp {
            Stamp::None => None,
            Stamp::Absolute(t) => Some(t),
            Stamp::Local(naive) => self.zone.to_utc(naive),
            Stamp::Syslog {
                month,
                day,
                secs,
                nanos,
            } => {
                let year = self.year_of(month, day);
                let date = NaiveDate::from_ymd_opt(year, month, day)?;
                let naive = date.and_hms_nano_opt(secs / 3600, secs / 60 % 60, secs % 60, nanos)?;
                // Only the years RFC 3339 can write, as for absolute timestamps
                // (`--log-year 10000`, or 9999 and a turn of the year): `to_utc` checks.
                self.zone.to_utc(naive)
            }
        }
    }
}

/// Today's local date: the year rule of a log read from a stream, which has no modification
/// time.
pub(crate) fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_host_program() {
        let p = split("Sep 27 23:06:19 mail postfix/smtpd[5702]: connect from x[194.5.94.216]");
        assert!(matches!(
            p.stamp,
            Stamp::Syslog {
                month: 9,
                day: 27,
                ..
            }
        ));
        assert_eq!(p.host, Some("mail"));
        assert_eq!(p.program, Some("postfix/smtpd"));
        assert_eq!(p.pid, Some(5702));
        assert_eq!(p.message, "connect from x[194.5.94.216]");
    }

    #[test]
    fn padded_day_and_empty_field() {
        let p = split("Mar  5 17:22:28 mail policyd-spf[207735]: : prepend X");
        assert!(matches!(
            p.stamp,
            Stamp::Syslog {
                month: 3,
                day: 5,
                ..
            }
        ));
        assert_eq!(p.program, Some("policyd-spf"));
        assert_eq!(p.message, "prepend X");
    }

    #[test]
    fn bare_program() {
        let p = split("policyd-spf[1870138]: : prepend Authentication-Results: a; spf=pass");
        assert_eq!(p.stamp, Stamp::None);
        assert_eq!(p.host, None);
        assert_eq!(p.program, Some("policyd-spf"));
        assert_eq!(p.message, "prepend Authentication-Results: a; spf=pass");
        // Not a program tag without a pid and without a timestamp.
        let p = split("Action: prepend: Text: Received-SPF: Pass");
        assert_eq!(p.program, None);
        assert_eq!(p.message, "Action: prepend: Text: Received-SPF: Pass");
    }

    #[test]
    fn iso_and_exim() {
        let p = split("2022-05-03T11:21:20.610Z smtp: incoming message\t{}");
        let Stamp::Absolute(t) = p.stamp else {
            panic!("no stamp")
        };
        assert_eq!(t.to_rfc3339(), "2022-05-03T11:21:20.610+00:00");
        assert_eq!(p.program, Some("smtp"));
        let p = split("1999-03-02 09:44:33 H=(cname.test.ex) [ip4.ip4.ip4.ip4] F=<a@b>");
        // No offset: in the log's zone, decided when the line is dated.
        assert!(matches!(p.stamp, Stamp::Local(_)));
        assert_eq!(p.program, None);
        assert_eq!(p.message, "H=(cname.test.ex) [ip4.ip4.ip4.ip4] F=<a@b>");
        let p = split("2024-01-05T10:00:00+01:00 mx1 exim[12]: 1abc <= a@b");
        let Stamp::Absolute(t) = p.stamp else {
            panic!("no stamp")
        };
        assert_eq!(t.to_rfc3339(), "2024-01-05T09:00:00+00:00");
        assert_eq!(p.host, Some("mx1"));
    }

    #[test]
    fn ctime_with_pid() {
        let p = split("Fri Sep 27 23:06:24 2019 [7294] info: spamd: result: Y 19 - SPF_PASS");
        let Stamp::Local(t) = p.stamp else {
            panic!("no stamp")
        };
        assert_eq!(t.to_string(), "2019-09-27 23:06:24");
        assert_eq!(p.pid, Some(7294));
        assert_eq!(p.program, Some("info"));
        assert_eq!(p.message, "spamd: result: Y 19 - SPF_PASS");
    }

    #[test]
    fn year_rollover() {
        let mut clock = YearClock::new(YearRule::StartingIn(2023), crate::model::LogZone::Utc);
        let dec = split("Dec 31 23:59:59 h p[1]: x").stamp;
        let jan = split("Jan  1 00:00:01 h p[1]: x").stamp;
        assert_eq!(clock.date(dec).unwrap().year(), 2023);
        assert_eq!(clock.date(jan).unwrap().year(), 2024);
        // a late December line after the turn of the year
        assert_eq!(clock.date(dec).unwrap().year(), 2023);
        assert_eq!(clock.date(jan).unwrap().year(), 2024);
    }

    #[test]
    fn years_outside_rfc_3339_are_no_date() {
        let dec = split("Dec 31 23:59:59 h p[1]: x").stamp;
        let jan = split("Jan  1 00:00:01 h p[1]: x").stamp;
        let mut clock = YearClock::new(YearRule::StartingIn(9999), crate::model::LogZone::Utc);
        assert_eq!(clock.date(dec).unwrap().year(), 9999);
        assert_eq!(clock.date(jan), None);
        for year in [0, -5, 10000, i32::MAX] {
            let mut clock = YearClock::new(YearRule::StartingIn(year), crate::model::LogZone::Utc);
            assert_eq!(clock.date(jan), None, "--log-year {year}");
        }
    }

    #[test]
    fn year_from_the_day_the_log_was_written() {
        let written = NaiveDate::from_ymd_opt(2027, 1, 3).unwrap();
        let mut clock = YearClock::new(YearRule::WrittenBy(written), crate::model::LogZone::Utc);
        let stamp = |line: &str| split(line).stamp;
        // A log rotated on 3 January that began in December: December is the year before.
        let dec = clock.date(stamp("Dec 28 10:00:00 h p[1]: x")).unwrap();
        assert_eq!(dec.to_rfc3339(), "2026-12-28T10:00:00+00:00");
        let jan = clock.date(stamp("Jan  3 23:59:59 h p[1]: x")).unwrap();
        assert_eq!(jan.year(), 2027);
        // The day after the modification date is still this year (clock skew, zones).
        assert_eq!(
            clock
                .date(stamp("Jan  4 00:30:00 h p[1]: x"))
                .unwrap()
                .year(),
            2027
        );
        assert_eq!(
            clock
                .date(stamp("Jan  5 00:30:00 h p[1]: x"))
                .unwrap()
                .year(),
            2026
        );
        // 29 February goes back to the last leap year.
        assert_eq!(
            clock
                .date(stamp("Feb 29 12:00:00 h p[1]: x"))
                .unwrap()
                .year(),
            2024
        );
    }
}
