//! Turn what the administrator points us at (mbox, Maildir, .eml, trees, stdin, .gz, MTA logs)
//! into raw messages and log lines, streaming, reading only header blocks.

use std::fmt;
use std::sync::Arc;

/// Where in a source an item came from (the CSV `locator` column).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Locator {
    /// Byte offset of the mbox `From ` separator line.
    Offset(u64),
    /// A Maildir file name (or the file name of a single .eml in a tree).
    File(String),
    /// 1-based line number in a log.
    Line(u64),
    /// A whole file that is one message (single .eml given directly, or stdin).
    Whole,
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locator::Offset(n) => write!(f, "offset {n}"),
            Locator::File(name) => f.write_str(name),
            Locator::Line(n) => write!(f, "line {n}"),
            Locator::Whole => Ok(()),
        }
    }
}

/// One message's header block, as bytes, with where it came from.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// The input path as the user gave it (or as found under a directory), `-` for stdin.
    pub source: Arc<str>,
    pub locator: Locator,
    /// The header block only (up to, not including, the empty line). Never the body.
    pub header: Vec<u8>,
    /// mbox only: the envelope sender from the `From SENDER DATE` separator line.
    pub mbox_sender: Option<String>,
    /// mbox only: the date on the separator line, as written.
    pub mbox_date: Option<String>,
}
