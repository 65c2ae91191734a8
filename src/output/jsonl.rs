//! JSON Lines: one object per finding with the CSV's columns as keys (no formula
//! neutralisation: JSON consumers are programs, not spreadsheets).

use std::io;

use super::{Entry, FindingWriter, columns, entry_cells};

pub struct JsonLinesFindings<W: io::Write> {
    out: W,
    columns: Vec<&'static str>,
    with_history: bool,
}

impl<W: io::Write> JsonLinesFindings<W> {
    pub fn new(out: W, with_history: bool) -> Self {
        JsonLinesFindings {
            out,
            columns: columns(with_history),
            with_history,
        }
    }
}

impl<W: io::Write> FindingWriter for JsonLinesFindings<W> {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        let cells = entry_cells(entry, self.with_history);
        let mut map = serde_json::Map::new();
        for (key, value) in self.columns.iter().zip(cells) {
            map.insert((*key).to_string(), serde_json::Value::String(value));
        }
        serde_json::to_writer(&mut self.out, &map).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
