//! The reader thread: walks the paths in order (directory trees sorted, Maildir `cur/` and
//! `new/` but never `tmp/`, Maildir++ subfolders), sniffs each file, and turns it into work
//! units: header blocks of single messages (read up to the empty line, never the body),
//! mboxes (whose chunks the workers read, see [`MboxStream`]), and logs. Files are only
//! ever opened read-only.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::Sender;
use flate2::read::MultiGzDecoder;
use memchr::{memchr, memrchr};

use super::mbox::{BlockEnd, Separator, parse_separator};
use super::pipeline::{Chunk, LogWork, Unit, Work};
use super::sniff::{Kind, SNIFF_LEN, sniff};
use super::split::{HeaderEnd, find_header_end};
use super::{InputProblem, Locator, RawMessage, Tuning};

/// The consumer has stopped listening (the sink asked to stop).
#[derive(Debug)]
pub(crate) struct Stopped;

/// A chunk must hold the longest separator line with its line end.
const MIN_CHUNK: usize = 1024;

/// Flush a batch of single messages when it holds this many...
const BATCH_MESSAGES: usize = 64;
/// ...or this many header bytes.
const BATCH_BYTES: usize = 1 << 20;

/// Where a file was found, which decides its source and locator.
#[derive(Debug, Clone)]
enum Place {
    /// Given on the command line (or stdin): a single message is `Locator::Whole` of it.
    Direct { source: Arc<str> },
    /// Found under a directory: a single message is `dir` + `Locator::File(name)`; an mbox
    /// or log is its own path.
    Tree {
        dir: Arc<str>,
        name: String,
        path: Arc<str>,
    },
    /// In a Maildir's `cur/` or `new/`: always one message (a leading `From ` line is its
    /// separator, as some delivery agents write it).
    Maildir {
        dir: Arc<str>,
        name: String,
        path: Arc<str>,
    },
}

impl Place {
    /// The file itself, for problems about the whole file, mboxes and logs.
    fn file_source(&self) -> Arc<str> {
        match self {
            Place::Direct { source } => source.clone(),
            Place::Tree { path, .. } | Place::Maildir { path, .. } => path.clone(),
        }
    }

    /// Source and locator of the file read as one message.
    fn message_origin(&self) -> (Arc<str>, Locator) {
        match self {
            Place::Direct { source } => (source.clone(), Locator::Whole),
            Place::Tree { dir, name, .. } | Place::Maildir { dir, name, .. } => {
                (dir.clone(), Locator::File(name.clone()))
            }
        }
    }
}

/// Counts bytes read (after decompression) for the summary.
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Stream = Box<dyn Read + Send>;

/// Text files that are not mail, skipped during a directory walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    pub count: u64,
    /// The first few of them, for the summary.
    pub names: Vec<String>,
    /// The run's own outputs and spfsleuth's temporary files met in a walk
    /// ([`super::OwnFiles`]).
    pub own: u64,
    /// Empty files: no messages, and no problem either (a spam folder emptied by the
    /// nightly expunge).
    pub empty: u64,
    pub empty_names: Vec<String>,
}

impl Skipped {
    const NAMED: usize = 5;

    fn add(&mut self, name: &str) {
        self.count += 1;
        if self.names.len() < Self::NAMED {
            self.names.push(name.to_string());
        }
    }

    fn add_empty(&mut self, name: &str) {
        self.empty += 1;
        if self.empty_names.len() < Self::NAMED {
            self.empty_names.push(name.to_string());
        }
    }

    /// `skipped 3 files that are not mail (a/README, a/zone, b/x.png); 1 empty file (x)`,
    /// or empty.
    pub fn describe(&self) -> String {
        let named = |count: u64, names: &[String]| {
            let more = if count as usize > names.len() {
                ", ..."
            } else {
                ""
            };
            format!("{}{more}", names.join(", "))
        };
        let mut parts = Vec::new();
        if self.count > 0 {
            let noun = if self.count == 1 {
                "file that is"
            } else {
                "files that are"
            };
            parts.push(format!(
                "skipped {} {noun} not mail ({})",
                self.count,
                named(self.count, &self.names)
            ));
        }
        match self.own {
            0 => {}
            1 => parts.push(
                "skipped 1 file of spfsleuth's own (an output or temporary file)".to_string(),
            ),
            n => parts.push(format!(
                "skipped {n} files of spfsleuth's own (outputs or temporary files)"
            )),
        }
        if self.empty > 0 {
            let noun = if self.empty == 1 { "file" } else { "files" };
            parts.push(format!(
                "{} empty {noun}, no messages ({})",
                self.empty,
                named(self.empty, &self.empty_names)
            ));
        }
        parts.join("; ")
    }
}

pub(crate) struct Reader<'a> {
    tuning: &'a Tuning,
    own_files: &'a super::OwnFiles,
    work_tx: Sender<Work>,
    batch: Vec<Unit>,
    batch_bytes: usize,
    pub bytes: Arc<AtomicU64>,
    pub files: u64,
    /// Text files met while walking a directory that are not mail (a zone file, a
    /// README): counted and named in the summary, not reported as problems.
    pub skipped: Skipped,
    visited_dirs: HashSet<PathBuf>,
}

impl<'a> Reader<'a> {
    pub fn new(
        tuning: &'a Tuning,
        own_files: &'a super::OwnFiles,
        work_tx: Sender<Work>,
        bytes: Arc<AtomicU64>,
    ) -> Self {
        Reader {
            tuning,
            own_files,
            work_tx,
            batch: Vec::new(),
            batch_bytes: 0,
            bytes,
            files: 0,
            skipped: Skipped::default(),
            visited_dirs: HashSet::new(),
        }
    }

    /// Read every path in order. The paths were checked to exist before.
    pub fn run(&mut self, paths: &[PathBuf]) -> Result<(), Stopped> {
        for path in paths {
            // Loops are looked for within one path; a path given twice is read twice.
            self.visited_dirs.clear();
            let source: Arc<str> = if path.as_os_str() == "-" {
                Arc::from("<stdin>")
            } else {
                Arc::from(path.to_string_lossy().as_ref())
            };
            if path.as_os_str() == "-" {
                self.files += 1;
                self.read_stream(Box::new(io::stdin()), Place::Direct { source }, None, None)?;
            } else if path.is_dir() {
                self.walk_dir(path)?;
            } else {
                self.read_file(path, Place::Direct { source })?;
            }
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch_bytes = 0;
        let batch = std::mem::take(&mut self.batch);
        self.work_tx.send(Work::Units(batch)).map_err(|_| Stopped)
    }

    fn send(&mut self, work: Work) -> Result<(), Stopped> {
        self.flush()?;
        self.work_tx.send(work).map_err(|_| Stopped)
    }

    fn push(&mut self, unit: Unit) -> Result<(), Stopped> {
        if let Unit::Message { raw, .. } = &unit {
            self.batch_bytes += raw.header.len();
        }
        self.batch.push(unit);
        if self.batch.len() >= BATCH_MESSAGES || self.batch_bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn problem(
        &mut self,
        source: Arc<str>,
        locator: Option<Locator>,
        message: String,
    ) -> Result<(), Stopped> {
        self.push(Unit::Problem(InputProblem {
            source,
            locator,
            message,
        }))
    }

    fn path_problem(&mut self, path: &Path, message: String) -> Result<(), Stopped> {
        self.problem(Arc::from(path.to_string_lossy().as_ref()), None, message)
    }

    /// Walk a directory: a Maildir gives its `cur/` and `new/` messages and then its
    /// subfolders (Maildir++ `.Junk`, ...); any other directory gives its entries sorted by
    /// name. A directory already visited (symlink loop, second path to it) is skipped.
    fn walk_dir(&mut self, dir: &Path) -> Result<(), Stopped> {
        match fs::canonicalize(dir) {
            Ok(canonical) => {
                if !self.visited_dirs.insert(canonical) {
                    return Ok(());
                }
            }
            Err(err) => return self.path_problem(dir, format!("cannot read directory: {err}")),
        }
        let maildir = is_maildir(dir);
        if maildir {
            for sub in ["cur", "new"] {
                self.read_maildir_messages(&dir.join(sub))?;
            }
        }
        let names = match sorted_entries(dir) {
            Ok(names) => names,
            Err(err) => return self.path_problem(dir, format!("cannot read directory: {err}")),
        };
        for name in names {
            if maildir && (name == "cur" || name == "new" || name == "tmp") {
                continue;
            }
            let path = dir.join(&name);
            if super::OwnFiles::is_temporary_name(&name.to_string_lossy()) {
                self.skipped.own += 1;
                continue;
            }
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(err) => {
                    self.path_problem(&path, format!("cannot read: {err}"))?;
                    continue;
                }
            };
            if self.own_files.contains(&meta) {
                self.skipped.own += 1;
                continue;
            }
            if meta.is_dir() {
                self.walk_dir(&path)?;
            } else if maildir {
                // Files at a Maildir's root are its metadata (dovecot-uidlist,
                // maildirfolder, subscriptions, ...), never messages.
                continue;
            } else if meta.is_file() {
                let place = Place::Tree {
                    dir: Arc::from(dir.to_string_lossy().as_ref()),
                    name: name.to_string_lossy().into_owned(),
                    path: Arc::from(path.to_string_lossy().as_ref()),
                };
                self.read_file(&path, place)?;
            } else {
                self.path_problem(&path, "not a regular file; skipped".into())?;
            }
        }
        Ok(())
    }

    fn read_maildir_messages(&mut self, sub: &Path) -> Result<(), Stopped> {
        let names = match sorted_entries(sub) {
            Ok(names) => names,
            Err(err) => return self.path_problem(sub, format!("cannot read directory: {err}")),
        };
        let dir: Arc<str> = Arc::from(sub.to_string_lossy().as_ref());
        for name in names {
            let name_text = name.to_string_lossy().into_owned();
            if name_text.starts_with('.') {
                continue;
            }
            let path = sub.join(&name);
            match fs::metadata(&path) {
                Ok(meta) if self.own_files.contains(&meta) => {
                    self.skipped.own += 1;
                    continue;
                }
                Ok(meta) if meta.is_file() => {}
                Ok(_) => continue,
                Err(err) => {
                    self.path_problem(&path, format!("cannot read: {err}"))?;
                    continue;
                }
            }
            let place = Place::Maildir {
                dir: dir.clone(),
                name: name_text,
                path: Arc::from(path.to_string_lossy().as_ref()),
            };
            self.read_file(&path, place)?;
        }
        Ok(())
    }

    fn read_file(&mut self, path: &Path, place: Place) -> Result<(), Stopped> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) => {
                return self.problem(place.file_source(), None, format!("cannot open: {err}"));
            }
        };
        self.files += 1;
        let meta = file.metadata().ok();
        let modified = meta
            .as_ref()
            .and_then(|meta| meta.modified().ok())
            .map(|time| chrono::DateTime::<chrono::Local>::from(time).date_naive());
        // A regular file can be read at any offset: an mbox in one is read by the workers
        // in parallel (see MboxStream). Pipes and devices are read in order.
        let positional = meta
            .filter(|meta| meta.is_file())
            .and_then(|_| file.try_clone().ok());
        self.read_stream(Box::new(file), place, modified, positional)
    }

    /// Sniff a stream (decompressing gzip first) and read it as what it is.
    fn read_stream(
        &mut self,
        mut raw: Stream,
        place: Place,
        modified: Option<chrono::NaiveDate>,
        positional: Option<File>,
    ) -> Result<(), Stopped> {
        let source = place.file_source();
        let (head, error) = read_up_to(&mut raw, SNIFF_LEN);
        if let Some(err) = error.filter(|_| head.is_empty()) {
            return self.problem(source, None, format!("read error: {err}"));
        }
        let (stream, head, gzip): (Stream, Vec<u8>, bool) = if sniff(&head) == Kind::Gzip {
            let mut decoder: Stream = Box::new(MultiGzDecoder::new(Cursor::new(head).chain(raw)));
            let (head, error) = read_up_to(&mut decoder, SNIFF_LEN);
            match error {
                Some(err) if head.is_empty() => {
                    return self.problem(source, None, format!("cannot decompress (gzip): {err}"));
                }
                // What was decoded is read; the error comes again after it.
                Some(err) => (Box::new(Failed(Some(err))) as Stream, head, true),
                None => (decoder, head, true),
            }
        } else {
            (raw, head, false)
        };
        self.bytes.fetch_add(head.len() as u64, Ordering::Relaxed);
        let stream: Stream = Box::new(Counting {
            inner: stream,
            bytes: self.bytes.clone(),
        });
        let gz = if gzip {
            " (after gzip decompression)"
        } else {
            ""
        };
        match sniff(&head) {
            Kind::Empty => {
                self.skipped.add_empty(&source);
                Ok(())
            }
            Kind::Gzip => self.problem(
                source,
                None,
                "gzip inside gzip: not read (decompress it once first)".into(),
            ),
            // A text file that is not mail, met in a directory walk (a README, a zone file):
            // named in the summary. Binary data might be a damaged mailbox: a problem.
            Kind::Text if matches!(place, Place::Tree { .. }) => {
                self.skipped.add(&source);
                Ok(())
            }
            Kind::Binary => self.problem(
                source,
                None,
                format!("not a mail file (binary data{gz}); skipped"),
            ),
            Kind::Text => self.problem(
                source,
                None,
                format!(
                    "not a mail file{gz}: it starts with neither an mbox 'From ' line, a header \
                     field nor a log line; skipped"
                ),
            ),
            Kind::Log => {
                let reader = BufReader::with_capacity(256 * 1024, Cursor::new(head).chain(stream));
                self.send(Work::Log(LogWork {
                    source,
                    reader: Box::new(reader),
                    modified,
                }))
            }
            Kind::Mbox if !matches!(place, Place::Maildir { .. }) => match positional {
                Some(file) if !gzip => self.read_mbox_file(source, head.len(), file),
                _ => self.read_mbox(source, head, stream, gzip),
            },
            Kind::Mbox | Kind::Message | Kind::Emlx => {
                self.read_single_message(head, stream, &place, gzip)
            }
        }
    }

    /// One message per file: read its header block only, in growing reads.
    fn read_single_message(
        &mut self,
        mut buf: Vec<u8>,
        mut stream: Stream,
        place: &Place,
        gzip: bool,
    ) -> Result<(), Stopped> {
        let cap = self.tuning.header_cap;
        let mut at_eof = false;
        let mut read_error = None;
        let mut more = |buf: &mut Vec<u8>, at_eof: &mut bool| {
            let want = buf.len().max(SNIFF_LEN);
            match read_more(&mut stream, buf, want) {
                Ok(n) => *at_eof = n < want,
                Err(err) => {
                    read_error = Some(err);
                    *at_eof = true;
                }
            }
        };
        // A leading `From ` line (Maildir files written by some delivery agents), or the
        // byte count of an Apple Mail `.emlx` file.
        let mut start = super::sniff::emlx_length_line(&buf).unwrap_or(0);
        let mut separator = Separator::default();
        let first = buf
            .iter()
            .position(|&b| b != b'\n' && b != b'\r')
            .unwrap_or(buf.len());
        if buf[first..].starts_with(b"From ") {
            loop {
                if let Some(i) = memchr(b'\n', &buf[first..]) {
                    start = first + i + 1;
                    break;
                }
                if at_eof || buf.len() > cap {
                    start = buf.len();
                    break;
                }
                more(&mut buf, &mut at_eof);
            }
            separator = parse_separator(&buf[first..start], true).unwrap_or_default();
        }
        let (len, end) = loop {
            match find_header_end(&buf[start..], true, cap) {
                HeaderEnd::Blank(n) => break (n, BlockEnd::Blank),
                HeaderEnd::Capped(n) => break (n, BlockEnd::Capped),
                HeaderEnd::Open if at_eof => break (buf.len() - start, BlockEnd::WholeFile),
                HeaderEnd::Open => more(&mut buf, &mut at_eof),
            }
        };
        buf.truncate(start + len);
        let header = buf.split_off(start);
        let (source, locator) = place.message_origin();
        if let Some(err) = read_error {
            let gz = if gzip {
                " (truncated or corrupt gzip?)"
            } else {
                ""
            };
            self.problem(
                source.clone(),
                Some(locator.clone()),
                format!("read error inside the header block{gz}: {err}"),
            )?;
        }
        let raw = RawMessage {
            source,
            locator,
            header,
            mbox_sender: separator.sender,
            mbox_date: separator.date,
        };
        self.push(Unit::Message { raw, end })
    }

    /// Hand an mbox to the workers, which read it in big chunks, each cut after its last
    /// line end (see [`MboxStream`]): reading is shared out among them instead of being one
    /// thread's job, so it scales with them.
    fn read_mbox(
        &mut self,
        source: Arc<str>,
        head: Vec<u8>,
        stream: Stream,
        gzip: bool,
    ) -> Result<(), Stopped> {
        let stream = MboxStream::new(
            source,
            Box::new(Cursor::new(head).chain(stream)),
            gzip,
            self.tuning.chunk_size.max(MIN_CHUNK),
        );
        self.send(Work::Mbox(Box::new(stream)))
    }

    /// An mbox in a regular file: the workers read its chunks at their offsets, in
    /// parallel (`counted` bytes from its start were counted already, when it was sniffed).
    fn read_mbox_file(
        &mut self,
        source: Arc<str>,
        counted: usize,
        file: File,
    ) -> Result<(), Stopped> {
        let size = match file.metadata() {
            Ok(meta) => meta.len(),
            Err(err) => return self.problem(source, None, format!("read error: {err}")),
        };
        let chunk_size = self.tuning.chunk_size.max(MIN_CHUNK);
        let stream = MboxStream {
            source,
            gzip: false,
            chunk_size,
            finished: false,
            buffers: Vec::new(),
            reading: Reading::Positional(Arc::new(PositionalFile {
                file,
                size,
                chunk_size: chunk_size as u64,
                // At least MIN_CHUNK: a separator line (at most 1000 bytes) that crosses a
                // nominal start always ends within the window, so it is never cut. Small
                // beside the chunk: the window is read twice (by both neighbours).
                lookahead: (chunk_size / 16).max(MIN_CHUNK).min(chunk_size) as u64,
                counted: counted as u64,
                bytes: self.bytes.clone(),
            })),
            next_index: 0,
        };
        self.send(Work::Mbox(Box::new(stream)))
    }
}

/// An mbox being cut into chunks, in file order; the workers split and extract them in
/// parallel. A stream (stdin, gzip, a pipe) is read in turns under a lock, each chunk cut
/// after its last line end and the rest carried over. A regular file is cut at fixed
/// offsets instead, moved to the next line start (see [`PositionalFile`]), so that the
/// workers also read in parallel: under the lock they only take the next chunk's number.
pub(crate) struct MboxStream {
    source: Arc<str>,
    gzip: bool,
    chunk_size: usize,
    finished: bool,
    /// Chunk buffers given back after delivery, for reuse.
    pub buffers: Vec<Vec<u8>>,
    reading: Reading,
    /// The next chunk's number (positional reading).
    next_index: u64,
}

enum Reading {
    Sequential(Sequential),
    Positional(Arc<PositionalFile>),
}

struct Sequential {
    src: Stream,
    /// The bytes after the last line end of the previous chunk.
    carry: Vec<u8>,
    /// Offset of the next chunk's first byte.
    base: u64,
    at_file_start: bool,
    starts_mid_line: bool,
}

/// One chunk read from an [`MboxStream`].
pub(crate) struct ReadChunk {
    pub chunk: Chunk,
    /// A read error after this chunk: reported after its messages; nothing more is read.
    pub problem: Option<InputProblem>,
}

/// What taking the next chunk under the lock gives: a chunk read already (stream), or the
/// chunk to read now, without the lock (regular file).
pub(crate) enum NextChunk {
    Read(ReadChunk),
    ReadAt(ChunkAt),
}

impl NextChunk {
    /// The chunk, read if it was not yet.
    pub fn read(self) -> ReadChunk {
        match self {
            NextChunk::Read(read) => read,
            NextChunk::ReadAt(at) => at.read(),
        }
    }
}

/// An mbox file read at offsets. The file is read up to the size it had when it was
/// opened. Chunk `k` nominally covers `[k * S, (k + 1) * S)`; its real start is moved to
/// just after the first line end at or after offset `k * S - 1` (so a chunk always starts
/// a line, as the splitter needs), looked for within `lookahead` bytes; a line longer than
/// that is cut at `k * S` and the chunk starts in mid-line, as a stream's chunk does after a
/// line longer than a chunk. Both neighbours compute the same boundary from the same bytes,
/// so every byte belongs to exactly one chunk.
pub(crate) struct PositionalFile {
    file: File,
    size: u64,
    chunk_size: u64,
    lookahead: u64,
    /// Bytes already counted for the summary (the sniffed head).
    counted: u64,
    bytes: Arc<AtomicU64>,
}

/// The chunk with this number, to be read.
pub(crate) struct ChunkAt {
    file: Arc<PositionalFile>,
    index: u64,
    source: Arc<str>,
    buf: Vec<u8>,
}

impl ChunkAt {
    fn read(self) -> ReadChunk {
        let ChunkAt {
            file,
            index,
            source,
            mut buf,
        } = self;
        let f = &*file;
        let nominal = index * f.chunk_size;
        let last = nominal + f.chunk_size >= f.size;
        // From the byte before the nominal start (to see whether it ends a line) to the end
        // of the next chunk's boundary window.
        // Reading from a page boundary (`nominal` is a multiple of the chunk size, which is
        // a multiple of 4096 in practice) keeps the kernel's copy aligned: from one byte
        // before it, the copy of every page was misaligned and took twice as long.
        let from = nominal.saturating_sub(PAGE);
        let to = if last {
            f.size
        } else {
            (nominal + f.chunk_size - 1 + f.lookahead).min(f.size)
        };
        let want = usize::try_from(to - from).unwrap_or(0);
        // A recycled buffer is overwritten, not zeroed first.
        if buf.len() < want {
            buf.resize(want, 0);
        }
        buf.truncate(want);
        let read = read_exact_at(&f.file, &mut buf, from);
        let problem_at = |offset: u64, err: io::Error| InputProblem {
            source: source.clone(),
            locator: Some(Locator::Offset(offset)),
            message: format!("read error after {offset} bytes: {err}; the rest is not read"),
        };
        // Where a chunk whose nominal start is `start` really starts, from bytes `window`
        // that begin at offset `start - 1`.
        let boundary = |start: u64, window: &[u8]| -> u64 {
            let window = window
                .get(
                    ..usize::try_from(f.lookahead)
                        .unwrap_or(usize::MAX)
                        .min(window.len()),
                )
                .unwrap_or(window);
            match memchr(b'\n', window) {
                Some(i) => start - 1 + i as u64 + 1,
                None => start,
            }
        };
        if let Err(err) = read {
            let start = if index == 0 { 0 } else { nominal };
            buf.clear();
            return ReadChunk {
                chunk: Chunk {
                    source: source.clone(),
                    base: start,
                    buf,
                    start: 0,
                    len: 0,
                    starts_mid_line: false,
                    at_file_start: index == 0,
                    at_eof: true,
                },
                problem: Some(problem_at(start, err)),
            };
        }
        let start = if index == 0 {
            0
        } else {
            let at = usize::try_from(nominal - 1 - from).unwrap_or(usize::MAX);
            boundary(nominal, buf.get(at..).unwrap_or_default())
        };
        let end = if last {
            f.size
        } else {
            let next = nominal + f.chunk_size;
            let at = usize::try_from(next - 1 - from).unwrap_or(usize::MAX);
            boundary(next, buf.get(at..).unwrap_or_default())
        };
        let offset_in_buf = |offset: u64| usize::try_from(offset - from).unwrap_or(usize::MAX);
        let starts_mid_line = start > 0
            && buf
                .get(offset_in_buf(start - 1))
                .is_some_and(|&b| b != b'\n');
        let count = end.saturating_sub(start.max(f.counted));
        f.bytes.fetch_add(count, Ordering::Relaxed);
        ReadChunk {
            chunk: Chunk {
                source,
                base: start,
                start: offset_in_buf(start).min(buf.len()),
                len: usize::try_from(end - start).unwrap_or(0),
                buf,
                starts_mid_line,
                at_file_start: index == 0,
                at_eof: last,
            },
            problem: None,
        }
    }
}

/// A positional read starts this much before a chunk's nominal start (see `ChunkAt::read`).
const PAGE: u64 = 4096;

/// `read_exact` at an offset, without moving the file's position (several workers read one
/// file at once).
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file became shorter while it was read",
                ));
            }
            Ok(n) => {
                buf = buf.get_mut(n..).unwrap_or_default();
                offset += n as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

impl MboxStream {
    fn new(source: Arc<str>, src: Stream, gzip: bool, chunk_size: usize) -> Self {
        MboxStream {
            source,
            gzip,
            chunk_size,
            finished: false,
            buffers: Vec::new(),
            reading: Reading::Sequential(Sequential {
                src,
                carry: Vec::new(),
                base: 0,
                at_file_start: true,
                starts_mid_line: false,
            }),
            next_index: 0,
        }
    }

    pub fn source(&self) -> &Arc<str> {
        &self.source
    }

    /// Take the next chunk (under the lock that guards the stream): read it from a stream,
    /// or hand out the next offset of a file. `None` once everything was handed out.
    pub fn next(&mut self) -> Option<NextChunk> {
        if self.finished {
            return None;
        }
        match &self.reading {
            Reading::Sequential(_) => self.next_chunk().map(NextChunk::Read),
            Reading::Positional(file) => {
                let index = self.next_index;
                if index > 0 && index * file.chunk_size >= file.size {
                    self.finished = true;
                    return None;
                }
                self.next_index += 1;
                if (index + 1) * file.chunk_size >= file.size {
                    self.finished = true;
                }
                Some(NextChunk::ReadAt(ChunkAt {
                    file: Arc::clone(file),
                    index,
                    source: self.source.clone(),
                    buf: self.buffers.pop().unwrap_or_default(),
                }))
            }
        }
    }

    /// Read the next chunk: the carried bytes, then up to `chunk_size` in all, cut after the
    /// last line end (or not cut, at the end of the stream). `None` once the end (or a read
    /// error) was reached. Every stream gives at least one chunk, maybe empty.
    fn next_chunk(&mut self) -> Option<ReadChunk> {
        let Reading::Sequential(seq) = &mut self.reading else {
            return None;
        };
        if self.finished {
            return None;
        }
        let chunk_size = self.chunk_size;
        let mut buf = self.buffers.pop().unwrap_or_default();
        if buf.len() != chunk_size {
            buf.resize(chunk_size, 0);
        }
        let carried = seq.carry.len().min(chunk_size);
        if let (Some(dst), Some(src)) = (buf.get_mut(..carried), seq.carry.get(..carried)) {
            dst.copy_from_slice(src);
        }
        let mut filled = carried;
        let mut at_eof = false;
        let mut error = None;
        while filled < buf.len() {
            match seq.src.read(buf.get_mut(filled..).unwrap_or_default()) {
                Ok(0) => {
                    at_eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    error = Some(err);
                    at_eof = true;
                    break;
                }
            }
        }
        let data = buf.get(..filled).unwrap_or_default();
        let cut = if at_eof {
            filled
        } else {
            memrchr(b'\n', data).map_or(filled, |i| i + 1)
        };
        seq.carry.clear();
        seq.carry
            .extend_from_slice(data.get(cut..).unwrap_or_default());
        let next_starts_mid_line = cut > 0 && data.get(cut - 1) != Some(&b'\n');
        let chunk = Chunk {
            source: self.source.clone(),
            base: seq.base,
            buf,
            start: 0,
            len: cut,
            starts_mid_line: seq.starts_mid_line,
            at_file_start: seq.at_file_start,
            at_eof,
        };
        seq.base += cut as u64;
        seq.at_file_start = false;
        seq.starts_mid_line = next_starts_mid_line;
        self.finished = at_eof;
        let problem = error.map(|err| {
            let base = seq.base;
            let gz = if self.gzip {
                " (truncated or corrupt gzip?)"
            } else {
                ""
            };
            InputProblem {
                source: self.source.clone(),
                locator: Some(Locator::Offset(base)),
                message: format!("read error after {base} bytes{gz}: {err}; the rest is not read"),
            }
        });
        Some(ReadChunk { chunk, problem })
    }
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let mut names = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// Read until `n` bytes or the end of the stream; on an error, what was read before it.
fn read_up_to(reader: &mut dyn Read, n: usize) -> (Vec<u8>, Option<io::Error>) {
    let mut buf = Vec::new();
    let error = read_more(reader, &mut buf, n).err();
    (buf, error)
}

/// A stream that failed: gives its error once, then ends.
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(err) => Err(err),
            None => Ok(0),
        }
    }
}

/// Append up to `n` more bytes; fewer only at the end of the stream. Returns how many.
fn read_more(reader: &mut dyn Read, buf: &mut Vec<u8>, n: usize) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + n, 0);
    let mut filled = start;
    let result = loop {
        if filled == buf.len() {
            break Ok(());
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break Ok(()),
            Ok(k) => filled += k,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => break Err(err),
        }
    };
    buf.truncate(filled);
    result.map(|()| filled - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_at(data: &[u8], size: u64, chunk_size: u64, index: u64) -> ReadChunk {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m");
        std::fs::write(&path, data).expect("write");
        let file = Arc::new(PositionalFile {
            file: File::open(&path).expect("open"),
            size,
            chunk_size,
            lookahead: chunk_size / 2,
            counted: 0,
            bytes: Arc::new(AtomicU64::new(0)),
        });
        ChunkAt {
            file,
            index,
            source: Arc::from("m"),
            buf: Vec::new(),
        }
        .read()
    }

    fn text(read: &ReadChunk) -> String {
        let c = &read.chunk;
        String::from_utf8_lossy(&c.buf[c.start..c.start + c.len]).into_owned()
    }

    #[test]
    fn chunks_start_after_a_line_end_and_share_their_boundaries() {
        let data = b"aaaa\nbbbbbbbbbb\ncc\ndddd\n";
        let size = data.len() as u64;
        // Chunks of 8, line ends looked for within 4 bytes of offsets 7 and 15: the first
        // is not found (cut in mid-line at 8), the second moves the start to 16.
        let pieces: Vec<String> = (0..3).map(|k| text(&chunk_at(data, size, 8, k))).collect();
        assert_eq!(pieces, ["aaaa\nbbb", "bbbbbbb\n", "cc\ndddd\n"]);
        let second = chunk_at(data, size, 8, 1);
        assert!(second.chunk.starts_mid_line && !second.chunk.at_eof);
        let last = chunk_at(data, size, 8, 2);
        assert!(last.chunk.at_eof && !last.chunk.starts_mid_line);
        assert_eq!(last.chunk.base, 16);
    }

    #[test]
    fn a_line_longer_than_the_window_is_cut_at_the_nominal_start() {
        let data = b"xxxxxxxxxxxxxxxxxxxxxxxx\nyy\n";
        let size = data.len() as u64;
        let second = chunk_at(data, size, 8, 1);
        assert_eq!(second.chunk.base, 8);
        assert!(second.chunk.starts_mid_line);
        assert_eq!(text(&chunk_at(data, size, 8, 0)), "xxxxxxxx");
    }

    #[test]
    fn a_file_that_shrank_is_a_read_error_not_a_crash() {
        let data = b"From a@b Sat Jan  1 10:00:00 2022\nA: 1\n";
        let read = chunk_at(data, 4096, 1024, 1);
        assert!(read.chunk.at_eof);
        assert_eq!(read.chunk.len, 0);
        let problem = read.problem.expect("problem");
        assert!(
            problem.message.contains("read error after 1024 bytes"),
            "{}",
            problem.message
        );
    }
}
