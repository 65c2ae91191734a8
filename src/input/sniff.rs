//! Tell what a file is from its first bytes (never from its name): gzip, mbox, one message,
//! an MTA log, or something that is not mail.

use super::split::is_field_line;

/// What the start of a file says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Empty,
    /// gzip magic bytes 1f 8b (RFC 1952 §2.3.1).
    Gzip,
    /// Starts with a `From ` line (after optional blank lines).
    Mbox,
    /// `crate::input::log::looks_like_log` says so.
    Log,
    /// Starts with header fields: one message (.eml, a Maildir file).
    Message,
    /// Apple Mail's `.emlx`: a line with the message's length in bytes, then the message
    /// (then a property list, after the message).
    Emlx,
    /// NUL bytes or mostly control bytes.
    Binary,
    /// Text that is none of the above.
    Text,
}

/// How many bytes are read before deciding.
pub(crate) const SNIFF_LEN: usize = 16 * 1024;

pub(crate) fn sniff(head: &[u8]) -> Kind {
    if head.is_empty() {
        return Kind::Empty;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Kind::Gzip;
    }
    let after_blank = head
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .unwrap_or(head.len());
    if head[after_blank..].starts_with(b"From ") {
        return Kind::Mbox;
    }
    if super::log::looks_like_log(head) {
        return Kind::Log;
    }
    if looks_like_message(head) {
        return Kind::Message;
    }
    if let Some(skip) = emlx_length_line(head)
        && looks_like_message(head.get(skip..).unwrap_or_default())
    {
        return Kind::Emlx;
    }
    if is_binary(head) {
        Kind::Binary
    } else {
        Kind::Text
    }
}

/// The first line is a header field and the next few lines are fields or continuations
/// (or the block ends).
fn looks_like_message(head: &[u8]) -> bool {
    let mut lines = head.split(|&b| b == b'\n');
    if !lines.next().is_some_and(is_field_line) {
        return false;
    }
    for line in lines.take(3) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return true;
        }
        let continuation = line.starts_with(b" ") || line.starts_with(b"\t");
        if !continuation && !is_field_line(line) {
            return false;
        }
    }
    true
}

/// The length of the first line (with its line end) when it is the byte count that starts an
/// Apple Mail `.emlx` file: 1 to 12 ASCII digits, maybe padded with spaces.
pub(crate) fn emlx_length_line(head: &[u8]) -> Option<usize> {
    let end = head.iter().take(64).position(|&b| b == b'\n')?;
    let line = head.get(..end)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
    let padded = line.get(digits..)?.iter().all(|&b| b == b' ');
    ((1..=12).contains(&digits) && padded).then_some(end + 1)
}

fn is_binary(head: &[u8]) -> bool {
    if head.contains(&0) {
        return true;
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    control * 10 > head.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(sniff(b""), Kind::Empty);
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Kind::Gzip);
        assert_eq!(
            sniff(b"From x Sat Jan  1 10:00:00 2022\nA: b\n"),
            Kind::Mbox
        );
        assert_eq!(sniff(b"\r\nFrom x\n"), Kind::Mbox);
        assert_eq!(
            sniff(b"Received: from x\n\tby y\nSubject: hi\n\nbody"),
            Kind::Message
        );
        assert_eq!(sniff(b"Subject: only\n"), Kind::Message);
        assert_eq!(sniff(b"\x00\x01\x02garbage"), Kind::Binary);
        assert_eq!(sniff(b"\x01\x02\x03\x04abc"), Kind::Binary);
        assert_eq!(sniff(b"Hello, this is a README.\n"), Kind::Text);
        assert_eq!(sniff(b"Note: a\nthis is prose, not a header\n"), Kind::Text);
        assert_eq!(
            sniff(b"1234      \nReceived: from x\nSubject: hi\n\nbody"),
            Kind::Emlx
        );
        assert_eq!(sniff(b"1234\r\nSubject: hi\r\n\r\n"), Kind::Emlx);
        assert_eq!(sniff(b"1234\nnot a header\n"), Kind::Text);
        assert_eq!(sniff(b"12 34\nSubject: hi\n"), Kind::Text);
    }
}
