//! CSV cells as spreadsheets and other tools read them (RFC 4180), with formula
//! neutralisation: header values are attacker-controlled, and a cell that starts with `=`,
//! `+`, `-`, `@`, tab or CR would be run as a formula by a spreadsheet.

use std::io::{self, Write};

/// Write one cell, quoted when needed (comma, quote, CR, LF), without copying the value. A
/// leading `=`, `+`, `-`, `@`, tab or CR gets a `'` in front (the OWASP recommendation).
pub fn write_cell(out: &mut dyn Write, value: &str) -> io::Result<()> {
    let formula = matches!(
        value.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    let quoted = value
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if quoted {
        out.write_all(b"\"")?;
    }
    if formula {
        out.write_all(b"'")?;
    }
    if quoted {
        for (i, part) in value.split('"').enumerate() {
            if i > 0 {
                out.write_all(b"\"\"")?;
            }
            out.write_all(part.as_bytes())?;
        }
        out.write_all(b"\"")
    } else {
        out.write_all(value.as_bytes())
    }
}

/// Write one record: cells separated by commas, terminated by CRLF-free `\n`.
pub fn write_record<S: AsRef<str>>(out: &mut dyn Write, cells: &[S]) -> io::Result<()> {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_cell(out, cell.as_ref())?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cells: &[&str]) -> String {
        let mut out = Vec::new();
        write_record(&mut out, cells).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(
            record(&["=HYPERLINK(\"x\")", "-all", "ok"]),
            "\"'=HYPERLINK(\"\"x\"\")\",'-all,ok\n"
        );
        assert_eq!(record(&["@SUM(A1)", "+1", "\tx"]), "'@SUM(A1),'+1,'\tx\n");
    }

    #[test]
    fn separators_are_quoted() {
        assert_eq!(
            record(&["a,b", "say \"hi\"", "line\nbreak"]),
            "\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\"\n"
        );
    }
}
