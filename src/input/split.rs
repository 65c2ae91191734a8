//! Find where a message's header block ends (RFC 5322 §2.1: header fields, then an empty
//! line, then the body) without building lines for the body, and judge whether a block looks
//! like header fields at all.

use memchr::memchr;

/// The default cap on one header block: beyond it the block is cut and the message reported.
pub const DEFAULT_HEADER_CAP: usize = 1 << 20;

/// Where a header block ends within some bytes that start at its beginning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderEnd {
    /// The empty line that ends the block starts at this offset: the block is `data[..n]`.
    Blank(usize),
    /// No empty line within the budget: the block is longer than allowed. Keep `data[..n]`
    /// (whole lines when there is at least one, else cut at the budget).
    Capped(usize),
    /// The bytes ran out before an empty line, within the budget.
    Open,
}

/// Scan `data` line by line for the empty line (`\n` or `\r\n` on its own) that ends a
/// header block. `at_line_start` says whether `data[0]` starts a line (false when the block
/// continues a line cut earlier). `budget` is how many header bytes may still be taken.
/// Only the header lines are visited (one `memchr` per line), never the body.
pub(crate) fn find_header_end(data: &[u8], at_line_start: bool, budget: usize) -> HeaderEnd {
    let capped = |last_line_start: usize| {
        if last_line_start > 0 && last_line_start <= budget {
            HeaderEnd::Capped(last_line_start)
        } else {
            HeaderEnd::Capped(budget.min(data.len()))
        }
    };
    let mut pos = 0usize;
    let mut last_line_start = 0usize;
    if !at_line_start {
        match memchr(b'\n', data) {
            Some(i) => {
                pos = i + 1;
                last_line_start = pos;
            }
            None if data.len() > budget => return capped(0),
            None => return HeaderEnd::Open,
        }
    }
    loop {
        if pos > budget {
            return capped(last_line_start);
        }
        match data.get(pos) {
            None => return HeaderEnd::Open,
            Some(b'\n') => return HeaderEnd::Blank(pos),
            Some(b'\r') if data.get(pos + 1) == Some(&b'\n') => return HeaderEnd::Blank(pos),
            Some(_) => {}
        }
        last_line_start = pos;
        match data.get(pos..).and_then(|rest| memchr(b'\n', rest)) {
            Some(i) => pos += i + 1,
            None if data.len() > budget => return capped(last_line_start),
            None => return HeaderEnd::Open,
        }
    }
}

/// Does this line look like the start of a header field (`name:` with an RFC 5322 ftext
/// name, obsolete whitespace before the colon allowed, §3.6.8 and §4.5)?
pub(crate) fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = memchr(b':', line) else {
        return false;
    };
    let name = &line[..colon];
    let trimmed_len = name
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    trimmed_len > 0
        && name[..trimmed_len]
            .iter()
            .all(|&b| (33..=126).contains(&b) && b != b':')
}

/// Does this header block start with header fields? The first line must be a field; a
/// leftover `>From ` line (written by some MTAs under the separator) is allowed before it.
pub(crate) fn starts_with_field(block: &[u8]) -> bool {
    for line in block.split(|&b| b == b'\n').take(4) {
        if line.starts_with(b">From ") {
            continue;
        }
        return is_field_line(line);
    }
    false
}

/// Strip a trailing `\n` or `\r\n`.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_line_ends_block() {
        let data = b"A: 1\nB: 2\n\nbody\n";
        assert_eq!(find_header_end(data, true, 100), HeaderEnd::Blank(10));
        let crlf = b"A: 1\r\nB: 2\r\n\r\nbody\r\n";
        assert_eq!(find_header_end(crlf, true, 100), HeaderEnd::Blank(12));
    }

    #[test]
    fn empty_block() {
        assert_eq!(find_header_end(b"\nbody", true, 100), HeaderEnd::Blank(0));
        assert_eq!(find_header_end(b"\r\nbody", true, 100), HeaderEnd::Blank(0));
        assert_eq!(find_header_end(b"", true, 100), HeaderEnd::Open);
    }

    #[test]
    fn open_when_bytes_run_out() {
        assert_eq!(find_header_end(b"A: 1\nB: 2\n", true, 100), HeaderEnd::Open);
        assert_eq!(find_header_end(b"A: 1\nB: 2", true, 100), HeaderEnd::Open);
        // A lone CR at the very end is not (yet) an empty line.
        assert_eq!(find_header_end(b"A: 1\n\r", true, 100), HeaderEnd::Open);
    }

    #[test]
    fn not_at_line_start_skips_the_partial_line() {
        assert_eq!(find_header_end(b"\n\nX", false, 100), HeaderEnd::Blank(1));
        assert_eq!(
            find_header_end(b"rest\nB: 1\n\n", false, 100),
            HeaderEnd::Blank(10)
        );
        assert_eq!(
            find_header_end(b"rest of line", false, 100),
            HeaderEnd::Open
        );
        assert_eq!(
            find_header_end(b"rest of line", false, 4),
            HeaderEnd::Capped(4)
        );
    }

    #[test]
    fn cap_keeps_whole_lines() {
        let data = b"A: 1\nB: 2\nC: 3\n\n";
        assert_eq!(find_header_end(data, true, 15), HeaderEnd::Blank(15));
        assert_eq!(find_header_end(data, true, 14), HeaderEnd::Capped(10));
        assert_eq!(find_header_end(data, true, 7), HeaderEnd::Capped(5));
        // One huge line: cut at the budget.
        let long = [b'x'; 50];
        assert_eq!(find_header_end(&long, true, 10), HeaderEnd::Capped(10));
        let mut long_nl = long.to_vec();
        long_nl.extend_from_slice(b"\n\n");
        assert_eq!(find_header_end(&long_nl, true, 10), HeaderEnd::Capped(10));
    }

    #[test]
    fn field_lines() {
        assert!(is_field_line(b"Received: from x"));
        assert!(is_field_line(b"Subject :obsolete"));
        assert!(is_field_line(b"X-Weird!#$: y"));
        assert!(!is_field_line(b"no colon here"));
        assert!(!is_field_line(b": empty name"));
        assert!(!is_field_line(b"two words: no"));
        assert!(!is_field_line(b"nul\0name: x"));
        assert!(starts_with_field(b">From a b\nReceived: x\n"));
        assert!(!starts_with_field(b"Hello there\nReceived: x\n"));
    }
}
