//! Read a log as records: one physical line each, except that a header value a milter logged
//! with embedded newlines (an indented line while a double quote is still open) is joined to
//! the line it continues. Lines are capped in length, bytes that are not UTF-8 are replaced,
//! NUL bytes are dropped or replaced, and nothing here can fail on content, only on I/O.
//!
//! Records are read in batches into one buffer (one allocation per batch, not per line).

use std::io::{self, BufRead};

/// Longest physical line kept; the rest of a longer line is skipped (and reported).
pub(crate) const MAX_LINE: usize = 1 << 20;
/// Longest record built from continuation lines.
const MAX_RECORD: usize = 64 * 1024;
/// Most physical lines joined into one record.
const MAX_JOINED: usize = 64;

/// Records read together: their text in one buffer, and where each starts and ends.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    text: String,
    /// (first physical line number, start, end) per record.
    records: Vec<(u64, usize, usize)>,
}

impl Batch {
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The text of record `index`.
    pub(crate) fn text(&self, index: u32) -> &str {
        self.records
            .get(index as usize)
            .and_then(|&(_, s, e)| self.text.get(s..e))
            .unwrap_or("")
    }

    /// The records `from..to` as (line number, text).
    pub(crate) fn range(&self, from: usize, to: usize) -> impl Iterator<Item = (u64, &str)> {
        self.records
            .get(from..to.min(self.records.len()))
            .unwrap_or(&[])
            .iter()
            .map(|&(line, s, e)| (line, self.text.get(s..e).unwrap_or("")))
    }
}

/// Reads records from a `BufRead`.
pub(crate) struct RecordReader<'r> {
    reader: &'r mut dyn BufRead,
    next_line: u64,
    ahead: Option<(u64, Vec<u8>)>,
    /// Lines that were longer than [`MAX_LINE`] (line number), to be reported.
    pub truncated: Vec<u64>,
    eof: bool,
}

impl<'r> RecordReader<'r> {
    pub(crate) fn new(reader: &'r mut dyn BufRead) -> RecordReader<'r> {
        RecordReader {
            reader,
            next_line: 1,
            ahead: None,
            truncated: Vec::new(),
            eof: false,
        }
    }

    /// Physical lines read so far.
    pub(crate) fn lines_read(&self) -> u64 {
        self.next_line - 1 - u64::from(self.ahead.is_some())
    }

    /// Append one physical line (without its line end, at most [`MAX_LINE`] bytes of it) to
    /// `buf`; its line number, or `None` at the end of the input.
    fn physical(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<u64>> {
        if let Some((n, line)) = self.ahead.take() {
            buf.extend_from_slice(&line);
            return Ok(Some(n));
        }
        if self.eof {
            return Ok(None);
        }
        let start = buf.len();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                self.eof = true;
                break;
            }
            any = true;
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(pos) => (pos, true),
                None => (chunk.len(), false),
            };
            let room = MAX_LINE.saturating_sub(buf.len() - start);
            if take > room {
                too_long = true;
            }
            buf.extend_from_slice(&chunk[..take.min(room)]);
            let consumed = if done { take + 1 } else { take };
            self.reader.consume(consumed);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        if buf.len() > start && buf.last() == Some(&b'\r') {
            buf.pop();
        }
        let n = self.next_line;
        self.next_line += 1;
        if too_long {
            self.truncated.push(n);
        }
        Ok(Some(n))
    }

    /// Append the next record to `buf`: (line number, start, end), or `None` at the end.
    fn record(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<(u64, usize, usize)>> {
        let start = buf.len();
        let Some(line) = self.physical(buf)? else {
            return Ok(None);
        };
        let mut joined = 1;
        while open_quote(&buf[start..]) && joined < MAX_JOINED && buf.len() - start < MAX_RECORD {
            let mut next = Vec::new();
            let Some(n) = self.physical(&mut next)? else {
                break;
            };
            let continues = matches!(next.first(), Some(b' ') | Some(b'\t'))
                && buf.len() - start + next.len() < MAX_RECORD;
            if !continues {
                self.ahead = Some((n, next));
                break;
            }
            buf.push(b'\n');
            buf.extend_from_slice(&next);
            joined += 1;
        }
        // NUL bytes are junk in a text log (runs of them precede the next line after an
        // unclean shutdown): dropped at the start of a line, marked as invalid elsewhere.
        if memchr::memchr(0, &buf[start..]).is_some() {
            let lead = buf[start..].iter().take_while(|&&b| b == 0).count();
            buf.drain(start..start + lead);
            for b in buf[start..].iter_mut().filter(|b| **b == 0) {
                *b = 0xFF;
            }
        }
        if std::str::from_utf8(&buf[start..]).is_err() {
            let fixed = String::from_utf8_lossy(&buf[start..]).into_owned();
            buf.truncate(start);
            buf.extend_from_slice(fixed.as_bytes());
        }
        Ok(Some((line, start, buf.len())))
    }

    /// Up to `max_records` records or about `max_bytes` of text.
    pub(crate) fn batch(&mut self, max_records: usize, max_bytes: usize) -> io::Result<Batch> {
        let mut buf = Vec::with_capacity(max_bytes.min(1 << 22) + 4096);
        let mut records = Vec::with_capacity(max_records.min(1 << 16));
        while records.len() < max_records && buf.len() < max_bytes {
            match self.record(&mut buf)? {
                Some(r) => records.push(r),
                None => break,
            }
        }
        // Every record was checked (or repaired) one by one, so this cannot fail.
        let text = String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Ok(Batch { text, records })
    }
}

/// Does the line leave a double-quoted string open (an odd number of unescaped `"`)?
fn open_quote(bytes: &[u8]) -> bool {
    let mut open = false;
    for pos in memchr::memchr_iter(b'"', bytes) {
        // escaped when preceded by an odd number of backslashes
        let backslashes = bytes[..pos]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            open = !open;
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &[u8]) -> (Vec<(u64, String)>, Vec<u64>, u64) {
        let mut cursor = std::io::Cursor::new(input.to_vec());
        let mut reader = RecordReader::new(&mut cursor);
        let mut out = Vec::new();
        loop {
            // small batches, to cross batch boundaries
            let batch = reader.batch(2, 1 << 30).unwrap();
            if batch.is_empty() {
                break;
            }
            out.extend(batch.range(0, batch.len()).map(|(l, t)| (l, t.to_string())));
        }
        (out, reader.truncated.clone(), reader.lines_read())
    }

    #[test]
    fn joins_open_quoted_header_values() {
        let input = b"a \"x\"=\"v;\n\tb=1;\n\tc=2\"\n  indented but closed\nlast";
        let (r, _, lines) = records(input);
        assert_eq!(r.len(), 3, "{r:?}");
        assert_eq!(r[0], (1, "a \"x\"=\"v;\n\tb=1;\n\tc=2\"".to_string()));
        assert_eq!(r[1], (4, "  indented but closed".to_string()));
        assert_eq!(r[2], (5, "last".to_string()));
        assert_eq!(lines, 5);
        // escaped quotes do not count
        let (r, _, _) = records(b"a \\\"b\n c\n");
        assert_eq!(r.len(), 2);
        // an open quote followed by a line that does not continue it
        let (r, _, _) = records(b"a \"open\n\"next\"\n");
        assert_eq!(r, vec![(1, "a \"open".into()), (2, "\"next\"".into())]);
    }

    #[test]
    fn crlf_invalid_utf8_nul_and_long_lines() {
        let mut input = b"one\r\n\xff\xfe two\n\0\0x\0y\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend_from_slice(b"\nend");
        let (r, truncated, lines) = records(&input);
        assert_eq!(r[0].1, "one");
        assert!(r[1].1.ends_with(" two"));
        assert_eq!(r[2].1, "x\u{FFFD}y");
        assert_eq!(r[3].1.len(), MAX_LINE);
        assert_eq!((r[4].0, r[4].1.as_str()), (5, "end"));
        assert_eq!(truncated, vec![4]);
        assert_eq!(lines, 5);
    }
}
