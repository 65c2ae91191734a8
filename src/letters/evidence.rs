//! The evidence a letter carries, read again from the inputs at the end of the run: the
//! header block of an affected message (by its source and locator) or the log line that
//! recorded it. Only headers are read, never a body; the bytes are kept as they are.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::input::Locator;

/// The most read of one header block or log line (the attachment stays small whatever the
/// input holds).
const MAX_EVIDENCE: u64 = 64 * 1024;

/// One affected message's evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// Its header block, as received (`text/rfc822-headers`).
    Headers(Vec<u8>),
    /// The log line that recorded it.
    LogLine(Vec<u8>),
}

impl Evidence {
    /// The log line says the receiver refused the message (`reject`, a 5xx reply).
    pub fn says_rejected(&self) -> bool {
        match self {
            Evidence::LogLine(line) => {
                let text = String::from_utf8_lossy(line).to_ascii_lowercase();
                text.contains("reject") || text.contains(" 550 ") || text.contains(" 5.7.")
            }
            Evidence::Headers(_) => false,
        }
    }
}

/// Read the evidence of the item at `locator` in `source`; `None` when it cannot be read
/// again (standard input, a file gone or changed).
pub fn read(source: &str, locator: Option<&Locator>) -> Option<Evidence> {
    if source == "-" {
        return None;
    }
    let result = match locator? {
        Locator::Offset(offset) => open(Path::new(source)).and_then(|mut r| {
            io::copy(&mut (&mut r).take(*offset), &mut io::sink())?;
            let mut reader = BufReader::new(r);
            let mut separator = Vec::new();
            reader.read_until(b'\n', &mut separator)?;
            if !separator.starts_with(b"From ") {
                return Err(io::Error::other("not a message separator"));
            }
            header_block(reader)
        }),
        Locator::File(name) => {
            let path = PathBuf::from(source).join(name);
            let path = if path.is_file() {
                path
            } else {
                PathBuf::from(source)
            };
            open(&path).and_then(|r| header_block(BufReader::new(r)))
        }
        Locator::Whole => open(Path::new(source)).and_then(|r| header_block(BufReader::new(r))),
        Locator::Line(number) => open(Path::new(source)).and_then(|r| {
            let mut reader = BufReader::new(r);
            let mut line = Vec::new();
            for _ in 0..*number {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    return Err(io::Error::other("the log is shorter now"));
                }
            }
            line.truncate(MAX_EVIDENCE as usize);
            Ok(Evidence::LogLine(line))
        }),
    };
    result.ok()
}

/// The file, decompressed when it is gzip.
fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let file = File::open(path)?;
    Ok(if gzip {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

/// Lines up to the empty line that ends the header block (the empty line not included).
fn header_block(reader: impl BufRead) -> io::Result<Evidence> {
    let mut block = Vec::new();
    for line in reader.take(MAX_EVIDENCE).split(b'\n') {
        let line = line?;
        let content = line.strip_suffix(b"\r").unwrap_or(&line);
        if content.is_empty() {
            break;
        }
        block.extend_from_slice(content);
        block.push(b'\n');
    }
    if block.is_empty() {
        return Err(io::Error::other("no header block"));
    }
    Ok(Evidence::Headers(block))
}
