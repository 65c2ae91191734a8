//! Split a header block into fields and unfold them (RFC 5322 §2.2.3).
//!
//! Unfolding deletes the CRLF (or bare LF) before a continuation line and keeps the
//! whitespace that follows, exactly as RFC 5322 says: replacing "CRLF + WSP" by one space
//! would corrupt values folded in the middle of a word (`smtp.mail=a\n dmin@...`).

use std::borrow::Cow;

use memchr::memchr;

/// One header field: the name as written and the unfolded value (leading whitespace after
/// the colon removed, trailing whitespace kept as written minus the line break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
    /// Index of the field in the block, 0 = topmost.
    pub index: usize,
}

impl Field {
    /// Case-insensitive name comparison.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Parse a header block (bytes up to the empty line; a body after it is ignored). Invalid
/// UTF-8 is replaced, NUL bytes become U+FFFD, lines that are neither a field nor a
/// continuation are skipped (`skipped` counts them).
pub fn parse(block: &[u8]) -> (Vec<Field>, usize) {
    let mut raw_fields = fields(block);
    let fields: Vec<Field> = raw_fields
        .by_ref()
        .map(|field| Field {
            name: field.name.to_string(),
            value: field.value().into_owned(),
            index: field.index,
        })
        .collect();
    (fields, raw_fields.skipped())
}

/// One header field as it sits in the block: the name and the raw bytes of the value, not
/// yet unfolded or converted. Extraction looks at the name first and only pays for
/// [`RawField::value`] on the fields it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawField<'a> {
    /// The name as written (printable ASCII, trailing whitespace before the colon removed).
    pub name: &'a str,
    /// The value from its first non-blank byte to the end of its last continuation line
    /// (that line's line break excluded), line breaks in between included.
    raw: &'a [u8],
    /// Index of the field in the block, 0 = topmost.
    pub index: usize,
}

impl<'a> RawField<'a> {
    /// Case-insensitive name comparison.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value's bytes as written (folded: line breaks kept).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The unfolded value, as [`parse`] gives it: line breaks (`\n`, and a `\r` right before
    /// one) deleted, invalid UTF-8 replaced, NUL bytes as U+FFFD. Borrowed when nothing needs
    /// changing (a one-line value in valid UTF-8 without NUL: the usual case).
    pub fn value(&self) -> Cow<'a, str> {
        let unfolded: Cow<'a, [u8]> = if memchr(b'\n', self.raw).is_none() {
            Cow::Borrowed(self.raw)
        } else {
            let mut out = Vec::with_capacity(self.raw.len());
            let mut rest = self.raw;
            while let Some(nl) = memchr(b'\n', rest) {
                let line = rest.get(..nl).unwrap_or(rest);
                out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
                rest = rest.get(nl + 1..).unwrap_or(&[]);
            }
            out.extend_from_slice(rest);
            Cow::Owned(out)
        };
        let has_nul = memchr(0, &unfolded).is_some();
        match unfolded {
            Cow::Borrowed(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) if !has_nul => Cow::Borrowed(text),
                _ => Cow::Owned(lossy(bytes)),
            },
            Cow::Owned(bytes) => match String::from_utf8(bytes) {
                Ok(text) if !has_nul => Cow::Owned(text),
                Ok(text) => Cow::Owned(text.replace('\0', "\u{FFFD}")),
                Err(err) => Cow::Owned(lossy(err.as_bytes())),
            },
        }
    }
}

/// Reusable buffers for [`RawField::value_in`]: values that are only looked at (not kept)
/// are unfolded into them instead of into a new string each.
#[derive(Debug, Default)]
pub struct Scratch {
    bytes: Vec<u8>,
    text: String,
}

impl<'a> RawField<'a> {
    /// The same text as [`RawField::value`], unfolded (when it must be) into `scratch`.
    pub fn value_in<'s>(&self, scratch: &'s mut Scratch) -> &'s str
    where
        'a: 's,
    {
        let bytes: &'s [u8] = if memchr(b'\n', self.raw).is_none() {
            self.raw
        } else {
            scratch.bytes.clear();
            let mut rest = self.raw;
            while let Some(nl) = memchr(b'\n', rest) {
                let line = rest.get(..nl).unwrap_or(rest);
                scratch
                    .bytes
                    .extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
                rest = rest.get(nl + 1..).unwrap_or(&[]);
            }
            scratch.bytes.extend_from_slice(rest);
            &scratch.bytes
        };
        match std::str::from_utf8(bytes) {
            Ok(text) if memchr(0, bytes).is_none() => text,
            _ => {
                scratch.text = lossy(bytes);
                &scratch.text
            }
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{FFFD}")
}

/// The fields of a header block, topmost first, without copying (see [`parse`] for what
/// counts as a field, a continuation and a skipped line).
pub fn fields(block: &[u8]) -> Fields<'_> {
    Fields {
        block,
        pos: 0,
        index: 0,
        skipped: 0,
        done: false,
    }
}

/// Iterator of [`RawField`]s; [`Fields::skipped`] counts the lines that were neither a field
/// nor a continuation, once the iterator is exhausted.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    block: &'a [u8],
    pos: usize,
    index: usize,
    skipped: usize,
    done: bool,
}

impl Fields<'_> {
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The line starting at `start`: (end of its content without the line break and one
    /// `\r` before it, start of the next line).
    fn line_at(&self, start: usize) -> (usize, usize) {
        let rest = self.block.get(start..).unwrap_or(&[]);
        let (end, next) = match memchr(b'\n', rest) {
            Some(nl) => (start + nl, start + nl + 1),
            None => (self.block.len(), self.block.len()),
        };
        let content_end = if end > start && self.block.get(end - 1) == Some(&b'\r') {
            end - 1
        } else {
            end
        };
        (content_end, next)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = RawField<'a>;

    fn next(&mut self) -> Option<RawField<'a>> {
        let block = self.block;
        while !self.done && self.pos < block.len() {
            let start = self.pos;
            let (content_end, next) = self.line_at(start);
            let line = block.get(start..content_end).unwrap_or(&[]);
            self.pos = next;
            let Some(&first) = line.first() else {
                // The empty line: end of the header block.
                self.done = true;
                break;
            };
            if first == b' ' || first == b'\t' {
                // A continuation with no field to continue.
                self.skipped += 1;
                continue;
            }
            let Some(colon) = memchr(b':', line).filter(|&c| c > 0) else {
                self.skipped += 1;
                continue;
            };
            let name_bytes = line.get(..colon).unwrap_or(&[]);
            if !is_field_name(name_bytes) {
                self.skipped += 1;
                continue;
            }
            let name_len = name_bytes
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(0, |i| i + 1);
            let name = std::str::from_utf8(name_bytes.get(..name_len).unwrap_or(&[])).unwrap_or("");
            let rest = line.get(colon + 1..).unwrap_or(&[]);
            let blanks = rest
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(rest.len());
            let value_start = start + colon + 1 + blanks;
            let mut value_end = content_end;
            // Continuation lines.
            while matches!(block.get(self.pos), Some(b' ' | b'\t')) {
                let (end, after) = self.line_at(self.pos);
                value_end = end;
                self.pos = after;
            }
            let index = self.index;
            self.index += 1;
            return Some(RawField {
                name,
                raw: block.get(value_start..value_end).unwrap_or(&[]),
                index,
            });
        }
        None
    }
}

/// RFC 5322 ftext is printable ASCII except ':'; we also allow trailing whitespace before
/// the colon (obsolete syntax, RFC 5322 §4.5).
fn is_field_name(name: &[u8]) -> bool {
    let trimmed = name
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(&name[..0], |end| &name[..=end]);
    !trimmed.is_empty()
        && trimmed
            .iter()
            .all(|&b| (33..=126).contains(&b) && b != b':')
}

/// Unfold one header value given with its line breaks (as copied from a file): delete every
/// CR/LF that is followed by whitespace, keep the whitespace.
pub fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    out.extend(value.chars().filter(|&c| c != '\r' && c != '\n'));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_unfolded_without_inventing_spaces() {
        let block = b"Received-SPF: pass (x)\r\n client-ip=192.0.2.1;\r\nAuthentication-Results: a; spf=pass smtp.mail=a\n dmin@example.com\nSubject:\tx\n\nbody: no\n";
        let (fields, skipped) = parse(block);
        assert_eq!(skipped, 0);
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0].value, "pass (x) client-ip=192.0.2.1;");
        assert!(fields[1].is("authentication-results"));
        assert_eq!(fields[1].value, "a; spf=pass smtp.mail=a dmin@example.com");
        assert_eq!(fields[2].value, "x");
    }

    #[test]
    fn junk_lines_are_counted_not_fatal() {
        let (fields, skipped) = parse(b"\x00\x01junk\n continuation of nothing\nFrom: a@b\n");
        assert_eq!(fields.len(), 1);
        assert_eq!(skipped, 2);
    }

    /// The straightforward field splitter `fields` replaced (one String per field), kept
    /// to check that the zero-copy one gives the same fields, values and skipped count.
    fn parse_reference(block: &[u8]) -> (Vec<Field>, usize) {
        let mut fields: Vec<Field> = Vec::new();
        let mut skipped = 0usize;
        let mut current: Option<(String, Vec<u8>)> = None;
        let finish = |current: &mut Option<(String, Vec<u8>)>, fields: &mut Vec<Field>| {
            if let Some((name, raw)) = current.take() {
                let value = String::from_utf8_lossy(&raw).replace('\0', "\u{FFFD}");
                let index = fields.len();
                fields.push(Field { name, value, index });
            }
        };
        for line in block.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                match current.as_mut() {
                    Some((_, raw)) => raw.extend_from_slice(line),
                    None => skipped += 1,
                }
                continue;
            }
            finish(&mut current, &mut fields);
            match line.iter().position(|&b| b == b':') {
                Some(colon) if colon > 0 && is_field_name(&line[..colon]) => {
                    let name = String::from_utf8_lossy(&line[..colon])
                        .trim_end()
                        .to_string();
                    let rest = &line[colon + 1..];
                    let start = rest
                        .iter()
                        .position(|&b| b != b' ' && b != b'\t')
                        .unwrap_or(rest.len());
                    current = Some((name, rest[start..].to_vec()));
                }
                _ => skipped += 1,
            }
        }
        finish(&mut current, &mut fields);
        (fields, skipped)
    }

    #[test]
    fn zero_copy_fields_match_the_reference() {
        let cases: &[&[u8]] = &[
            b"",
            b"\n",
            b"\r\n",
            b"A: 1",
            b"A: 1\r",
            b"A:\r\n\tx\r\n",
            b"A: \r\r\n b\r\r\n\r\nB: no",
            b"A:   \n\n",
            b"A : spaced name\nB\t: tab\n",
            b"A: x\xc3\n \xa9 y\n",
            b"A: \x00nul\n \x00\n",
            b"A: \xff\xfe\n",
            b" orphan\nA: 1\njunk line\n continuation of junk\nB: 2\n",
            b":no name\nA:b:c\n",
            b"A: 1\n\t\n \nB:\n",
            b"A: x\rmid\r\n y\r",
        ];
        let check = |block: &[u8]| {
            let (want, want_skipped) = parse_reference(block);
            let (got, got_skipped) = parse(block);
            let mut scratch = Scratch::default();
            for field in fields(block) {
                assert_eq!(field.value_in(&mut scratch), field.value());
            }
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(block));
            assert_eq!(
                got_skipped,
                want_skipped,
                "{:?}",
                String::from_utf8_lossy(block)
            );
        };
        for case in cases {
            check(case);
        }
        // Pseudo-random blocks over the bytes that matter.
        let alphabet = b"A: \t\r\n\x00\xc3\xa9x;";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let block: Vec<u8> = (0..len)
                .map(|i| {
                    let k = (state.rotate_left(i as u32 * 5) % alphabet.len() as u64) as usize;
                    alphabet[k]
                })
                .collect();
            check(&block);
        }
    }

    #[test]
    fn unfold_keeps_whitespace() {
        assert_eq!(unfold("a\n\tb\r\n c"), "a\tb c");
    }
}
