//! Turn what the administrator points us at (mbox, Maildir, .eml/.emlx, trees, stdin, .gz, MTA logs)
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

pub mod log;
pub mod mbox;
mod pipeline;
mod reader;
pub use reader::Skipped;
mod sniff;
mod split;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod own_files_tests {
    use super::OwnFiles;

    #[test]
    fn temporary_names() {
        assert!(OwnFiles::is_temporary_name(".report.csv.1234.tmp"));
        assert!(OwnFiles::is_temporary_name(".letters.99.tmp"));
        assert!(!OwnFiles::is_temporary_name("report.csv.1234.tmp"));
        assert!(!OwnFiles::is_temporary_name(".1234.tmp"));
        assert!(!OwnFiles::is_temporary_name(".notes.tmp"));
        assert!(!OwnFiles::is_temporary_name(".x.12a.tmp"));
    }
}

pub use split::DEFAULT_HEADER_CAP;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::extract::{ExtractOptions, Observation};

/// A per-item problem: reported on stderr and counted, and the run goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    pub source: Arc<str>,
    pub locator: Option<Locator>,
    pub message: String,
}

impl fmt::Display for InputProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.locator {
            Some(loc) if *loc != Locator::Whole => {
                write!(f, "{} ({}): {}", self.source, loc, self.message)
            }
            _ => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

/// What the input stage yields, in input order.
#[derive(Debug, Clone)]
pub enum Item {
    Observation(Box<Observation>),
    Problem(InputProblem),
}

/// How to read the inputs.
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    pub extract: ExtractOptions,
    /// Worker threads for parsing and extraction (default: all cores).
    pub threads: Option<usize>,
    /// The run's own outputs, skipped when a directory walk meets them.
    pub own_files: Arc<OwnFiles>,
}

/// The files and directories a run writes (its report, summary, state database and their
/// temporaries, its letters): a directory walk that meets one skips it, by device and
/// inode, as it skips any file named like one of spfsleuth's temporaries
/// (`.NAME.PID.tmp`), so that an output kept inside a scanned folder is never read as mail.
#[derive(Debug, Clone, Default)]
pub struct OwnFiles {
    identities: std::collections::HashSet<(u64, u64)>,
}

impl OwnFiles {
    /// Remember `path` if it exists now (call after the outputs are created).
    pub fn add(&mut self, path: &std::path::Path) {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata(path) {
            self.identities.insert((meta.dev(), meta.ino()));
        }
    }

    /// Is this one of the run's own files?
    pub fn contains(&self, meta: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        !self.identities.is_empty() && self.identities.contains(&(meta.dev(), meta.ino()))
    }

    /// Named like a temporary file or directory of spfsleuth's (`.report.csv.1234.tmp`).
    pub fn is_temporary_name(name: &str) -> bool {
        let Some(rest) = name.strip_prefix('.') else {
            return false;
        };
        let Some(rest) = rest.strip_suffix(".tmp") else {
            return false;
        };
        rest.rsplit_once('.').is_some_and(|(stem, pid)| {
            !stem.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
        })
    }
}

/// Counts for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputStats {
    pub files: u64,
    pub messages: u64,
    pub log_lines: u64,
    pub bytes: u64,
    pub problems: u64,
    /// Files met in directory walks that are not mail.
    pub skipped: reader::Skipped,
}

/// A problem that stops the run (exit status 2), e.g. a path given on the command line that
/// does not exist.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The worker threads could not be started.
    #[error("cannot start worker threads: {0}")]
    Threads(String),
}

impl InputError {
    /// A path given on the command line cannot be opened (missing, permission).
    pub fn is_open(&self) -> bool {
        matches!(self, InputError::Open { .. })
    }
}

/// Sizes of the pipeline. Not user options: the defaults are what the benchmark measured;
/// tests make them small to cross chunk boundaries everywhere.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Tuning {
    /// mbox chunk size (at least 1024 bytes, so that a separator line always fits in one
    /// chunk): a stream is read this much at a time and cut after a line end; a file is cut
    /// every `chunk_size` bytes, moved to the next line start.
    pub chunk_size: usize,
    /// Longest header block kept; longer ones are cut and reported.
    pub header_cap: usize,
    /// Work units (chunks, batches) in flight at once; `None`: from the thread count.
    pub max_in_flight: Option<usize>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            chunk_size: 1 << 20,
            header_cap: DEFAULT_HEADER_CAP,
            max_in_flight: None,
        }
    }
}

/// Read every path (files, directories, `-` for stdin, `.gz`), extract observations in
/// parallel, and hand each item to `sink` in input order. Memory stays flat: files are
/// streamed and only header blocks are kept.
///
/// Every path is checked first: one that does not exist or cannot be opened is an
/// [`InputError`] before anything is read. Problems inside trees and files are items.
pub fn read_inputs(
    paths: &[PathBuf],
    options: &InputOptions,
    sink: &mut dyn FnMut(Item),
) -> Result<InputStats, InputError> {
    read_inputs_until(paths, options, &mut |item| {
        sink(item);
        ControlFlow::Continue(())
    })
}

/// Like [`read_inputs`], but the sink can stop the run early (e.g. the output is a closed
/// pipe): after `ControlFlow::Break` no more items are delivered and reading stops.
pub fn read_inputs_until(
    paths: &[PathBuf],
    options: &InputOptions,
    sink: &mut dyn FnMut(Item) -> ControlFlow<()>,
) -> Result<InputStats, InputError> {
    read_inputs_tuned(paths, options, &Tuning::default(), sink)
}

#[doc(hidden)]
pub fn read_inputs_tuned(
    paths: &[PathBuf],
    options: &InputOptions,
    tuning: &Tuning,
    sink: &mut dyn FnMut(Item) -> ControlFlow<()>,
) -> Result<InputStats, InputError> {
    for path in paths {
        check_path(path)?;
    }
    let threads = options
        .threads
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("spfsleuth-extract-{i}"))
        .build()
        .map_err(|err| InputError::Threads(err.to_string()))?;
    // The consumer (this thread, which also feeds the sink) shares the cores with the
    // workers: when it is descheduled for a time slice, the workers must be able to go on.
    // A 1 MB chunk is about half a millisecond of work, so 8 per worker (plus 16) give them
    // several milliseconds of slack; 64 at most keeps memory flat (about 1 MB each).
    let max_in_flight = tuning
        .max_in_flight
        .unwrap_or_else(|| (8 * threads + 16).min(64));
    let shared = std::sync::Arc::new(pipeline::Shared {
        extract: options.extract.clone(),
        header_cap: tuning.header_cap.max(1),
    });
    let bytes = std::sync::Arc::new(AtomicU64::new(0));
    // Two units wait in the channel while the workers are busy: enough to keep them fed.
    let (work_tx, work_rx) = crossbeam_channel::bounded(2);
    let mut consumer = pipeline::Consumer::new(&pool, shared, max_in_flight, sink);
    let own_files = options.own_files.clone();
    let (files, skipped) = std::thread::scope(|scope| {
        let reader_bytes = bytes.clone();
        let own_files = &own_files;
        let reader = std::thread::Builder::new()
            .name("spfsleuth-read".into())
            .spawn_scoped(scope, move || {
                let mut reader = reader::Reader::new(tuning, own_files, work_tx, reader_bytes);
                let _stopped = reader.run(paths);
                (reader.files, reader.skipped)
            })
            .map_err(|err| InputError::Threads(err.to_string()))?;
        consumer.run(work_rx);
        reader
            .join()
            .map_err(|_| InputError::Threads("the reader thread failed".into()))
    })?;
    let mut stats = consumer.stats;
    stats.files = files;
    stats.skipped = skipped;
    stats.bytes = bytes.load(Ordering::Relaxed);
    Ok(stats)
}

/// Every path given on the command line must exist and be readable: otherwise the run
/// stops before it starts (a typo should not give an empty report). Callers that write a
/// header before reading call this first.
pub fn check_paths(paths: &[PathBuf]) -> Result<(), InputError> {
    paths.iter().try_for_each(|p| check_path(p))
}

/// One path of [`check_paths`].
fn check_path(path: &std::path::Path) -> Result<(), InputError> {
    if path.as_os_str() == "-" {
        return Ok(());
    }
    let open_error = |source| InputError::Open {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(open_error)?;
    if meta.is_dir() {
        std::fs::read_dir(path).map_err(open_error)?;
    } else if meta.is_file() {
        std::fs::File::open(path).map_err(open_error)?;
    }
    Ok(())
}
