//! The ordered parallel pipeline: work units (batches of header blocks, mboxes, logs) come
//! from the reader thread in input order and are extracted on a rayon pool; an mbox is cut
//! into chunks that the workers and this (the consumer's) thread read, split and extract
//! together. Items reach the sink strictly in input order. At most `max_in_flight` units or
//! chunks exist at a time (being worked on, or done and waiting for an earlier one), so
//! memory stays flat.

use std::collections::VecDeque;
use std::io::BufRead;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};
use memchr::memchr;

use super::mbox::{BlockEnd, OpenMessage, continue_open, split_chunk};
use super::reader::{MboxStream, ReadChunk};
use super::split::starts_with_field;
use super::{InputProblem, InputStats, Item, Locator, RawMessage};
use crate::extract::{ExtractOptions, extract_message};

/// One unit of work, in input order.
pub(crate) enum Work {
    /// Header blocks already read (single messages) and problems met while reading.
    Units(Vec<Unit>),
    /// A log, read in order by `crate::input::log::read_log` when its turn comes.
    Log(LogWork),
    /// An mbox, read and split by the workers together when its turn comes.
    Mbox(Box<MboxStream>),
}

pub(crate) enum Unit {
    Message { raw: RawMessage, end: BlockEnd },
    Problem(InputProblem),
}

/// A piece of an mbox, cut after a line end.
pub(crate) struct Chunk {
    pub source: Arc<str>,
    /// Offset of `buf[start]` in the (decompressed) file.
    pub base: u64,
    /// A recycled buffer; only `buf[start..start + len]` is data.
    pub buf: Vec<u8>,
    pub start: usize,
    pub len: usize,
    /// The previous chunk was cut inside a line (only for lines longer than a chunk).
    pub starts_mid_line: bool,
    pub at_file_start: bool,
    pub at_eof: bool,
}

pub(crate) struct LogWork {
    pub source: Arc<str>,
    pub reader: Box<dyn BufRead + Send>,
    pub modified: Option<chrono::NaiveDate>,
}

/// What a worker hands back.
enum Done {
    Items {
        items: Vec<Item>,
        messages: u64,
    },
    Chunk {
        source: Arc<str>,
        items: Vec<Item>,
        messages: u64,
        first_separator: usize,
        open: Option<OpenMessage>,
        buf: Vec<u8>,
        start: usize,
        len: usize,
        at_file_start: bool,
        at_eof: bool,
    },
}

enum Slot {
    Waiting,
    Ready(Done),
    Log(LogWork),
    Mbox(Box<MboxStream>),
}

/// Settings shared by the workers.
pub(crate) struct Shared {
    pub extract: ExtractOptions,
    pub header_cap: usize,
}

/// Turn one header block into items: problems about the block, then the observation.
/// Returns whether an observation was made.
pub(crate) fn finish_message(
    raw: RawMessage,
    end: BlockEnd,
    shared: &Shared,
    items: &mut Vec<Item>,
) -> bool {
    let problem = |message: String| {
        Item::Problem(InputProblem {
            source: raw.source.clone(),
            locator: Some(raw.locator.clone()),
            message,
        })
    };
    if raw.header.iter().all(u8::is_ascii_whitespace) {
        items.push(problem(
            "no header block: the message is empty or starts with an empty line".into(),
        ));
        return false;
    }
    if !starts_with_field(&raw.header) {
        items.push(problem(
            "not a message: its first line is not a header field".into(),
        ));
        return false;
    }
    match end {
        BlockEnd::Capped => items.push(problem(format!(
            "header block longer than {} bytes: only the first {} bytes were read",
            shared.header_cap,
            raw.header.len()
        ))),
        BlockEnd::EndOfFile => items.push(problem(
            "the file ends inside this message's header block (truncated?)".into(),
        )),
        BlockEnd::Blank | BlockEnd::Separator | BlockEnd::WholeFile => {}
    }
    if memchr(0, &raw.header).is_some() {
        items.push(problem("the header block contains NUL bytes".into()));
    }
    match catch_unwind(AssertUnwindSafe(|| extract_message(&raw, &shared.extract))) {
        #[allow(unused_mut)]
        Ok(mut observation) => {
            // Unit tests check what was read (the extractor's output aside).
            #[cfg(test)]
            observation
                .notes
                .push(format!("header:{}", String::from_utf8_lossy(&raw.header)));
            #[cfg(test)]
            observation.notes.push(format!(
                "separator:{:?} {:?}",
                raw.mbox_sender, raw.mbox_date
            ));
            items.push(Item::Observation(Box::new(observation)));
            true
        }
        Err(panic) => {
            items.push(problem(format!(
                "internal error while extracting ({}); please report it",
                panic_text(&*panic)
            )));
            false
        }
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

fn process_units(units: Vec<Unit>, shared: &Shared) -> Done {
    let mut items = Vec::with_capacity(units.len());
    let mut messages = 0;
    for unit in units {
        match unit {
            Unit::Message { raw, end } => {
                if finish_message(raw, end, shared, &mut items) {
                    messages += 1;
                }
            }
            Unit::Problem(problem) => items.push(Item::Problem(problem)),
        }
    }
    Done::Items { items, messages }
}

fn process_chunk(chunk: Chunk, shared: &Shared) -> Done {
    let Chunk {
        source,
        base,
        buf,
        start,
        len,
        starts_mid_line,
        at_file_start,
        at_eof,
    } = chunk;
    let data = chunk_data(&buf, start, len);
    let split = split_chunk(
        data,
        base,
        starts_mid_line,
        at_file_start,
        at_eof,
        shared.header_cap,
    );
    let mut items = Vec::with_capacity(split.messages.len());
    let mut messages = 0;
    for found in split.messages {
        let raw = RawMessage {
            source: source.clone(),
            locator: Locator::Offset(found.offset),
            header: found.header.to_vec(),
            mbox_sender: found.separator.sender,
            mbox_date: found.separator.date,
        };
        if finish_message(raw, found.end, shared, &mut items) {
            messages += 1;
        }
    }
    let open = split.open.map(|(offset, separator, header)| OpenMessage {
        source: source.clone(),
        offset,
        separator,
        header: header.to_vec(),
    });
    let first_separator = split.first_separator;
    Done::Chunk {
        source,
        items,
        messages,
        first_separator,
        open,
        buf,
        start,
        len,
        at_file_start,
        at_eof,
    }
}

/// The data of a chunk: `buf[start..start + len]`.
fn chunk_data(buf: &[u8], start: usize, len: usize) -> &[u8] {
    buf.get(start..start.saturating_add(len))
        .unwrap_or_default()
}

fn process(work: Work, shared: &Shared) -> Done {
    match work {
        Work::Units(units) => process_units(units, shared),
        // Logs and mboxes never reach the pool this way (the consumer runs them in order).
        Work::Log(LogWork { source, .. }) => internal_error(source, "log handed to a worker"),
        Work::Mbox(mbox) => internal_error(mbox.source().clone(), "mbox handed to a worker"),
    }
}

fn internal_error(source: Arc<str>, what: &str) -> Done {
    Done::Items {
        items: vec![Item::Problem(InputProblem {
            source,
            locator: None,
            message: format!("internal error: {what}"),
        })],
        messages: 0,
    }
}

/// What a worker hands back for one chunk of an mbox it read and split.
struct MboxDone {
    done: Done,
    /// A read error after the chunk.
    problem: Option<InputProblem>,
    /// The chunk was the stream's last.
    last: bool,
}

/// An mbox shared by the workers while they read it: the stream and the next chunk's
/// sequence number, under one lock so that chunks are read and numbered in file order.
struct SharedMbox {
    stream: Box<MboxStream>,
    next_seq: u64,
}

/// Take the next chunk of a shared mbox (under its lock), read it (a file's without the
/// lock) and split and extract it. `None` when everything has been read.
fn read_and_process(shared_mbox: &Mutex<SharedMbox>, shared: &Shared) -> Option<(u64, MboxDone)> {
    let (seq, next) = {
        let mut mbox = shared_mbox.lock().ok()?;
        let next = mbox.stream.next()?;
        let seq = mbox.next_seq;
        mbox.next_seq += 1;
        (seq, next)
    };
    // A file's chunk is read here, without the lock, in parallel with the other workers.
    let ReadChunk { chunk, problem } = next.read();
    let last = chunk.at_eof;
    let chunk_source = chunk.source.clone();
    let done =
        catch_unwind(AssertUnwindSafe(|| process_chunk(chunk, shared))).unwrap_or_else(|panic| {
            internal_error(
                chunk_source,
                &format!(
                    "while splitting input ({}); please report it",
                    panic_text(&*panic)
                ),
            )
        });
    Some((
        seq,
        MboxDone {
            done,
            problem,
            last,
        },
    ))
}

/// The consumer side, on the caller's thread: hands work to the pool, puts results back in
/// order, finishes header blocks that span chunks, runs logs in turn, feeds the sink.
pub(crate) struct Consumer<'s> {
    pub pool: &'s rayon::ThreadPool,
    pub shared: Arc<Shared>,
    pub max_in_flight: usize,
    pub sink: &'s mut dyn FnMut(Item) -> ControlFlow<()>,
    pub stats: InputStats,
    pub stopped: bool,
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    front_seq: u64,
    open: Option<OpenMessage>,
    done_tx: Sender<(u64, Done)>,
    done_rx: Receiver<(u64, Done)>,
}

impl<'s> Consumer<'s> {
    pub fn new(
        pool: &'s rayon::ThreadPool,
        shared: Arc<Shared>,
        max_in_flight: usize,
        sink: &'s mut dyn FnMut(Item) -> ControlFlow<()>,
    ) -> Self {
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        Consumer {
            pool,
            shared,
            max_in_flight: max_in_flight.max(1),
            sink,
            stats: InputStats::default(),
            stopped: false,
            slots: VecDeque::new(),
            front_seq: 0,
            open: None,
            done_tx,
            done_rx,
        }
    }

    /// Run until the reader is done and every item is delivered, or the sink says stop.
    pub fn run(&mut self, work_rx: Receiver<Work>) {
        let mut reader_done = false;
        loop {
            self.deliver_ready();
            if self.stopped || (reader_done && self.slots.is_empty()) {
                return;
            }
            if !reader_done && self.slots.len() < self.max_in_flight {
                crossbeam_channel::select! {
                    recv(work_rx) -> work => match work {
                        Ok(work) => self.dispatch(work),
                        Err(_) => reader_done = true,
                    },
                    recv(self.done_rx) -> done => {
                        if let Ok((seq, done)) = done {
                            self.complete(seq, done);
                        }
                    },
                }
            } else if let Ok((seq, done)) = self.done_rx.recv() {
                self.complete(seq, done);
            }
        }
    }

    fn dispatch(&mut self, work: Work) {
        let seq = self.front_seq + self.slots.len() as u64;
        match work {
            Work::Log(log) => self.slots.push_back(Slot::Log(log)),
            Work::Mbox(mbox) => self.slots.push_back(Slot::Mbox(mbox)),
            work => {
                self.slots.push_back(Slot::Waiting);
                let shared = Arc::clone(&self.shared);
                let done_tx = self.done_tx.clone();
                self.pool.spawn(move || {
                    let done = catch_unwind(AssertUnwindSafe(|| process(work, &shared)))
                        .unwrap_or_else(|panic| Done::Items {
                            items: vec![Item::Problem(InputProblem {
                                source: Arc::from("spfsleuth"),
                                locator: None,
                                message: format!(
                                    "internal error while splitting input ({}); please report it",
                                    panic_text(&*panic)
                                ),
                            })],
                            messages: 0,
                        });
                    let _ = done_tx.send((seq, done));
                });
            }
        }
    }

    fn complete(&mut self, seq: u64, done: Done) {
        let index = seq.saturating_sub(self.front_seq) as usize;
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Slot::Ready(done);
        }
    }

    fn deliver_ready(&mut self) {
        while !self.stopped {
            match self.slots.front() {
                None | Some(Slot::Waiting) => return,
                Some(_) => {}
            }
            let Some(slot) = self.slots.pop_front() else {
                return;
            };
            self.front_seq += 1;
            match slot {
                Slot::Ready(done) => {
                    // Chunks only come from mboxes, which recycle their own buffers.
                    let _ = self.deliver(done);
                }
                Slot::Log(log) => self.run_log(log),
                Slot::Mbox(mbox) => self.run_mbox(mbox),
                Slot::Waiting => {}
            }
        }
    }

    fn emit(&mut self, item: Item) {
        if self.stopped {
            return;
        }
        if matches!(item, Item::Problem(_)) {
            self.stats.problems += 1;
        }
        if (self.sink)(item).is_break() {
            self.stopped = true;
        }
    }

    /// Deliver one unit's items; a chunk's buffer is given back for reuse.
    fn deliver(&mut self, done: Done) -> Option<Vec<u8>> {
        match done {
            Done::Items { items, messages } => {
                self.stats.messages += messages;
                for item in items {
                    self.emit(item);
                }
                None
            }
            Done::Chunk {
                source,
                items,
                messages,
                first_separator,
                open,
                buf,
                start,
                len,
                at_file_start,
                at_eof,
            } => {
                let data = chunk_data(&buf, start, len);
                let prefix = data.get(..first_separator).unwrap_or(data);
                if let Some(mut pending) = self.open.take() {
                    let separator_follows = first_separator < data.len();
                    match continue_open(
                        &mut pending,
                        prefix,
                        separator_follows,
                        at_eof,
                        self.shared.header_cap,
                    ) {
                        Some(end) => self.finish_open(pending, end),
                        None => self.open = Some(pending),
                    }
                } else if at_file_start && !prefix.iter().all(u8::is_ascii_whitespace) {
                    self.emit(Item::Problem(InputProblem {
                        source: source.clone(),
                        locator: Some(Locator::Offset(0)),
                        message: format!(
                            "{} bytes before the first message were skipped (no mbox 'From ' line)",
                            prefix.len()
                        ),
                    }));
                }
                self.stats.messages += messages;
                for item in items {
                    self.emit(item);
                }
                if open.is_some() {
                    self.open = open;
                }
                Some(buf)
            }
        }
    }

    /// Read an mbox now that everything before it has been delivered. `threads - 1` pool
    /// workers and this thread share the work: each takes the lock, reads the next chunk
    /// (in file order, numbered), lets go, and splits and extracts it. This thread also
    /// puts the chunks back in order and delivers them, between chunks of its own, so that
    /// `--threads N` keeps N threads busy (not N workers plus a consumer fighting for the
    /// cores and waking each other up). At most `max_in_flight` chunks are read and not
    /// yet delivered, so memory stays flat.
    fn run_mbox(&mut self, stream: Box<MboxStream>) {
        let source = stream.source().clone();
        let shared_mbox = Arc::new(Mutex::new(SharedMbox {
            stream,
            next_seq: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        // A permit is sent before a chunk is read and taken back when it has been delivered.
        // When this thread returns (done, or the sink said stop), the permits' receiver goes
        // and a worker waiting for a permit stops.
        let (permit_tx, permit_rx) = crossbeam_channel::bounded::<()>(self.max_in_flight);
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<(u64, MboxDone)>();
        let helpers = self.pool.current_num_threads().saturating_sub(1);
        for _ in 0..helpers {
            let shared_mbox = Arc::clone(&shared_mbox);
            let stop = Arc::clone(&stop);
            let permit_tx = permit_tx.clone();
            let done_tx = done_tx.clone();
            let shared = Arc::clone(&self.shared);
            self.pool.spawn(move || {
                while !stop.load(Ordering::Relaxed) && permit_tx.send(()).is_ok() {
                    // At the end a worker leaves with its permit: nothing more is read.
                    let Some((seq, outcome)) = read_and_process(&shared_mbox, &shared) else {
                        break;
                    };
                    if done_tx.send((seq, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut waiting: BTreeMap<u64, MboxDone> = BTreeMap::new();
        let mut next = 0u64;
        let mut finished = false;
        let mut all_read = false;
        while !self.stopped {
            while let Ok((seq, outcome)) = done_rx.try_recv() {
                waiting.insert(seq, outcome);
            }
            while let Some(outcome) = waiting.remove(&next) {
                next += 1;
                finished |= outcome.last;
                if let Some(buf) = self.deliver(outcome.done)
                    && let Ok(mut mbox) = shared_mbox.lock()
                {
                    mbox.stream.buffers.push(buf);
                }
                if let Some(problem) = outcome.problem {
                    self.emit(Item::Problem(problem));
                }
                let _ = permit_rx.try_recv();
            }
            if finished || self.stopped {
                break;
            }
            // Work on a chunk of our own when there is one to read and room for it...
            if !all_read && permit_tx.try_send(()).is_ok() {
                match read_and_process(&shared_mbox, &self.shared) {
                    Some((seq, outcome)) => {
                        waiting.insert(seq, outcome);
                    }
                    None => {
                        all_read = true;
                        let _ = permit_rx.try_recv();
                    }
                }
                continue;
            }
            // ...else the next chunk to deliver is with a worker: wait for it.
            match done_rx.recv() {
                Ok((seq, outcome)) => {
                    waiting.insert(seq, outcome);
                }
                Err(_) => {
                    // No worker left and the next chunk never came: only after a panic.
                    self.emit(Item::Problem(InputProblem {
                        source: source.clone(),
                        locator: None,
                        message: "internal error: the mbox workers stopped early; please report it"
                            .into(),
                    }));
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
    }

    fn finish_open(&mut self, open: OpenMessage, end: BlockEnd) {
        let raw = RawMessage {
            source: open.source,
            locator: Locator::Offset(open.offset),
            header: open.header,
            mbox_sender: open.separator.sender,
            mbox_date: open.separator.date,
        };
        let mut items = Vec::new();
        if finish_message(raw, end, &self.shared, &mut items) {
            self.stats.messages += 1;
        }
        for item in items {
            self.emit(item);
        }
    }

    /// Read a log now that everything before it has been delivered. `read_log` runs on the
    /// pool (it parallelises internally) while this thread forwards its items to the sink.
    fn run_log(&mut self, log: LogWork) {
        let LogWork {
            source,
            mut reader,
            modified,
        } = log;
        let (tx, rx) = crossbeam_channel::bounded::<Item>(1024);
        let pool = self.pool;
        let extract = self.shared.extract.clone();
        let log_source = source.clone();
        let outcome = std::thread::scope(|scope| {
            let handle = scope.spawn(move || {
                pool.install(move || {
                    let mut forward = |item: Item| {
                        let _ = tx.send(item);
                    };
                    super::log::read_log(log_source, &mut *reader, &extract, modified, &mut forward)
                })
            });
            for item in rx.iter() {
                self.emit(item);
                if self.stopped {
                    break;
                }
            }
            drop(rx);
            handle.join()
        });
        match outcome {
            Ok(Ok(lines)) => self.stats.log_lines += lines,
            Ok(Err(err)) => self.emit(Item::Problem(InputProblem {
                source,
                locator: None,
                message: format!("read error: {err}"),
            })),
            Err(panic) => self.emit(Item::Problem(InputProblem {
                source,
                locator: None,
                message: format!(
                    "internal error while reading the log ({}); please report it",
                    panic_text(&*panic)
                ),
            })),
        }
    }
}
