//! Read a log as records: one physical line each, except that a header value a milter logged
//! with embedded newlines (an indented line while a double quote is still open) is joined to
//! the line it continues. Lines are capped in length, bytes that are not UTF-8 are replaced,
//! and nothing here can fail on content, only on I/O.

use std::io::{self, BufRead};

/// Longest physical line kept; the rest of a longer line is skipped (and reported).
pub(crate) const MAX_LINE: usize = 1 << 20;
/// Longest record built from continuation lines.
const MAX_RECORD: usize = 64 * 1024;
/// Most physical lines joined into one record.
const MAX_JOINED: usize = 64;

/// One log record: its first physical line number (1-based) and its text.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub line: u64,
    pub text: String,
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

    /// Read one physical line (without its line end), at most [`MAX_LINE`] bytes of it.
    fn physical(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        if let Some(line) = self.ahead.take() {
            return Ok(Some(line));
        }
        if self.eof {
            return Ok(None);
        }
        let mut buf = Vec::new();
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
            let room = MAX_LINE.saturating_sub(buf.len());
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
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        let n = self.next_line;
        self.next_line += 1;
        if too_long {
            self.truncated.push(n);
        }
        Ok(Some((n, buf)))
    }

    /// The next record, or `None` at the end of the input.
    pub(crate) fn record(&mut self) -> io::Result<Option<Record>> {
        let Some((line, mut bytes)) = self.physical()? else {
            return Ok(None);
        };
        let mut joined = 1;
        while open_quote(&bytes) && joined < MAX_JOINED && bytes.len() < MAX_RECORD {
            let Some((n, next)) = self.physical()? else {
                break;
            };
            let continues = matches!(next.first(), Some(b' ') | Some(b'\t'))
                && bytes.len() + next.len() < MAX_RECORD;
            if !continues {
                self.ahead = Some((n, next));
                break;
            }
            bytes.push(b'\n');
            bytes.extend_from_slice(&next);
            joined += 1;
        }
        // NUL bytes are junk in a text log (runs of them precede the next line after an
        // unclean shutdown): dropped at the start of a line, marked as invalid elsewhere.
        if memchr::memchr(0, &bytes).is_some() {
            let lead = bytes.iter().take_while(|&&b| b == 0).count();
            bytes.drain(..lead);
            for b in bytes.iter_mut().filter(|b| **b == 0) {
                *b = 0xFF;
            }
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(Some(Record { line, text }))
    }

    /// Up to `max_records` records or about `max_bytes` of text.
    pub(crate) fn batch(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> io::Result<Vec<Record>> {
        let mut out = Vec::new();
        let mut bytes = 0;
        while out.len() < max_records && bytes < max_bytes {
            match self.record()? {
                Some(r) => {
                    bytes += r.text.len();
                    out.push(r);
                }
                None => break,
            }
        }
        Ok(out)
    }
}

/// Does the line leave a double-quoted string open (an odd number of unescaped `"`)?
fn open_quote(bytes: &[u8]) -> bool {
    let mut open = false;
    let mut escaped = false;
    for &b in bytes {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' => escaped = true,
            b'"' => open = !open,
            _ => {}
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &[u8]) -> Vec<(u64, String)> {
        let mut cursor = std::io::Cursor::new(input.to_vec());
        let mut reader = RecordReader::new(&mut cursor);
        let mut out = Vec::new();
        while let Some(r) = reader.record().unwrap() {
            out.push((r.line, r.text));
        }
        out
    }

    #[test]
    fn joins_open_quoted_header_values() {
        let input = b"a \"x\"=\"v;\n\tb=1;\n\tc=2\"\n  indented but closed\nlast";
        let r = records(input);
        assert_eq!(r.len(), 3, "{r:?}");
        assert_eq!(r[0], (1, "a \"x\"=\"v;\n\tb=1;\n\tc=2\"".to_string()));
        assert_eq!(r[1], (4, "  indented but closed".to_string()));
        assert_eq!(r[2], (5, "last".to_string()));
    }

    #[test]
    fn crlf_invalid_utf8_and_long_lines() {
        let mut input = b"one\r\n\xff\xfe two\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend_from_slice(b"\nend");
        let mut cursor = std::io::Cursor::new(input);
        let mut reader = RecordReader::new(&mut cursor);
        let a = reader.record().unwrap().unwrap();
        assert_eq!(a.text, "one");
        let b = reader.record().unwrap().unwrap();
        assert!(b.text.ends_with(" two"));
        let c = reader.record().unwrap().unwrap();
        assert_eq!(c.text.len(), MAX_LINE);
        let d = reader.record().unwrap().unwrap();
        assert_eq!((d.line, d.text.as_str()), (4, "end"));
        assert_eq!(reader.truncated, vec![3]);
        assert!(reader.record().unwrap().is_none());
        assert_eq!(reader.lines_read(), 4);
    }
}
