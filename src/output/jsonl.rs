//! JSON Lines: one object per finding with the CSV's columns as keys (no formula
//! neutralisation: JSON consumers are programs, not spreadsheets).

use std::io;

use super::{FindingWriter, SCAN_COLUMNS, finding_cells};
use crate::classify::Finding;

pub struct JsonLinesFindings<W: io::Write> {
    out: W,
}

impl<W: io::Write> JsonLinesFindings<W> {
    pub fn new(out: W) -> Self {
        JsonLinesFindings { out }
    }
}

impl<W: io::Write> FindingWriter for JsonLinesFindings<W> {
    fn write(&mut self, finding: &Finding) -> io::Result<()> {
        let cells = finding_cells(finding);
        let mut map = serde_json::Map::new();
        for (key, value) in SCAN_COLUMNS.iter().zip(cells) {
            map.insert((*key).to_string(), serde_json::Value::String(value));
        }
        serde_json::to_writer(&mut self.out, &map).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
