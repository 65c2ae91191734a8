//! Split a header block into fields and unfold them (RFC 5322 §2.2.3).
//!
//! Unfolding deletes the CRLF (or bare LF) before a continuation line and keeps the
//! whitespace that follows, exactly as RFC 5322 says: replacing "CRLF + WSP" by one space
//! would corrupt values folded in the middle of a word (`smtp.mail=a\n dmin@...`).

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
            // End of the header block.
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

    #[test]
    fn unfold_keeps_whitespace() {
        assert_eq!(unfold("a\n\tb\r\n c"), "a\tb c");
    }
}
