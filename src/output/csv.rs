//! CSV cells as spreadsheets and other tools read them (RFC 4180), with formula
//! neutralisation: header values are attacker-controlled, and a cell that starts with `=`,
//! `+`, `-`, `@`, tab or CR would be run as a formula by a spreadsheet.

use std::io::{self, Write};

/// Make a value safe to open in a spreadsheet: a leading `=`, `+`, `-`, `@`, tab or CR gets
/// a `'` in front of it (the OWASP recommendation).
pub fn neutralize(value: &str) -> std::borrow::Cow<'_, str> {
    match value.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// Write one cell, quoted when needed (comma, quote, CR, LF), after neutralisation.
pub fn write_cell(out: &mut dyn Write, value: &str) -> io::Result<()> {
    let value = neutralize(value);
    if value.contains([',', '"', '\r', '\n']) {
        out.write_all(b"\"")?;
        out.write_all(value.replace('"', "\"\"").as_bytes())?;
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
