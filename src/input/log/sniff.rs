//! Is this the start of an MTA log? Yes for lines that begin with a syslog, RFC 3339 / ISO
//! 8601 or ctime timestamp, or with a bare `program[pid]:` tag (syslog prefix stripped), or
//! CEF events. Never for a mailbox or a message: an mbox `From ` line or an RFC 5322 header
//! block first means no.

use super::prefix::{self, Stamp};

/// How many lines of the head to look at.
const SNIFF_LINES: usize = 20;

/// RFC 5322 §3.6.8: `field-name = 1*ftext` (printable ASCII except `:`), then `:`.
fn is_header_field(line: &str) -> bool {
    let Some(colon) = line.find(':') else {
        return false;
    };
    colon > 0
        && line[..colon]
            .bytes()
            .all(|b| (33..=126).contains(&b) && b != b':')
}

/// Does the line start the way log lines do?
fn has_log_prefix(line: &str) -> bool {
    if line.starts_with("CEF:") {
        return true;
    }
    let p = prefix::split(line);
    if p.stamp != Stamp::None {
        return !p.after_stamp.trim().is_empty();
    }
    // bare `program[pid]: message` (a syslog prefix stripped)
    p.program.is_some() && p.pid.is_some()
}

/// Does this start of a file look like an MTA log (rather than a message or mailbox)?
pub fn looks_like_log(head: &[u8]) -> bool {
    let head = &head[..head.len().min(64 * 1024)];
    if head.starts_with(b"From ") {
        return false;
    }
    // binary data: NUL bytes or mostly control characters
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t'))
        .count();
    if head.contains(&0) || control * 20 > head.len() {
        return false;
    }
    let text = String::from_utf8_lossy(head);
    let mut lines = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
    let Some(first) = lines.next() else {
        return false;
    };
    if first.starts_with("From ") {
        return false;
    }
    if has_log_prefix(first) {
        return true;
    }
    if is_header_field(first) {
        // a header block (Received:, Return-Path:, Delivered-To:, ...) starts a message
        return false;
    }
    // a pasted excerpt may start with a line without prefix: most lines must have one
    let mut log_lines = 0;
    let mut seen = 1;
    for line in lines.take(SNIFF_LINES - 1) {
        seen += 1;
        if has_log_prefix(line) {
            log_lines += 1;
        }
    }
    log_lines * 2 > seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs() {
        assert!(looks_like_log(
            b"Sep 27 23:06:19 mail postfix/smtpd[5702]: connect from x[192.0.2.1]\n"
        ));
        assert!(looks_like_log(
            b"2022-05-03T11:21:20.610Z smtp: incoming message\t{}\n"
        ));
        assert!(looks_like_log(b"policyd-spf[1870138]: : prepend Authentication-Results: a\npostfix/smtpd[1]: X: client=a[192.0.2.1]\n"));
        assert!(looks_like_log(
            b"# comment\n\n1999-03-02 09:44:33 exim x.yz daemon started\n"
        ));
        assert!(looks_like_log(b"CEF:0|Cisco|x|1|E|C|5|src=192.0.2.1\n"));
    }

    #[test]
    fn mailboxes_and_messages() {
        assert!(!looks_like_log(
            b"From MAILER-DAEMON Thu Jan  1 00:00:00 2024\nReceived: from x\n"
        ));
        assert!(!looks_like_log(b"Received: from mx (mx [192.0.2.1])\n\tby y; Mon, 1 Jan 2024 00:00:00 +0000\nSubject: x\n\nbody\n"));
        assert!(!looks_like_log(b"Return-Path: <a@b>\nDelivered-To: c@d\n"));
        assert!(!looks_like_log(b"Delivered-To: c@d\n"));
        assert!(!looks_like_log(b"\x00\x01\x02binary\x00"));
        assert!(!looks_like_log(b""));
        assert!(!looks_like_log(b"just some text\nand more\n"));
    }
}
