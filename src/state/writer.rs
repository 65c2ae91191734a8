//! The state's writes on their own thread, so that a scan never waits for SQLite.
//!
//! A run's transaction lives on this thread's connection from `BEGIN IMMEDIATE` to `COMMIT`.
//! The thread reads what the run needs to compare against (the stored observations, the
//! domains' records, the previous run) inside that transaction and hands it back; then the
//! run sends its rows in batches and the thread writes them while the scan goes on.
//! Measured with `benches/state.sh` on the 1 GB benchmark mbox: the inserts on the scan's
//! own thread took 0.10-0.12 s of a 0.45 s scan. The run ends with [`Writer::commit`]; a
//! writer dropped without it rolls back and releases the file before the drop returns.

use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{RunInfo, RunTotals, StateError, connect, parse_time, read_runs, rfc3339, sql_error};
use crate::classify::Class;
use crate::model::SpfResult;

/// Rows handed to the thread at a time (one channel message each).
const BATCH: usize = 512;
/// Batches in flight before the scan waits for the writer (memory stays bounded).
const BATCHES_IN_FLIGHT: usize = 8;

/// One write of a run.
enum Write {
    /// An observation no earlier run saw.
    New(NewObservation),
    /// A known observation (by rowid) whose class or result changed.
    Changed {
        id: i64,
        class: Class,
        result: &'static str,
    },
    /// A domain seen with the record stored for it.
    DomainSeen(String),
    /// A domain seen for the first time, or with a record other than the one stored.
    DomainRecord { domain: String, record: String },
}

/// The columns of a new `observations` row, as the run hands them over.
pub(super) struct NewRow<'a> {
    pub key: [u8; 16],
    pub message_id: Option<&'a str>,
    pub spf_domain: Option<&'a str>,
    pub client_ip: Option<&'a dyn Display>,
    pub date: Option<&'a dyn Display>,
    pub source: &'a str,
    pub locator: Option<&'a dyn Display>,
    pub class: Class,
    pub result: &'static str,
}

/// A new row in a [`Batch`]: its text columns are spans of the batch's text.
struct NewObservation {
    key: [u8; 16],
    message_id: Span,
    spf_domain: Span,
    client_ip: Span,
    date: Span,
    source: Span,
    locator: Span,
    class: Class,
    result: &'static str,
}

type Span = Option<Range<usize>>;

/// Writes handed to the thread at once, with the text of their new rows in one buffer: the
/// rows are built on the scan's thread and freed on the writer's, and six strings per row
/// made mimalloc's cross-thread frees a visible part of the writer's profile
/// (`perf record` on `benches/state.sh`'s first night).
struct Batch {
    text: String,
    writes: Vec<Write>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            text: String::with_capacity(BATCH * 160),
            writes: Vec::with_capacity(BATCH),
        }
    }

    fn add(&mut self, value: Option<&dyn Display>) -> Span {
        let value = value?;
        let start = self.text.len();
        // Writing into a String cannot fail.
        let _ = write!(self.text, "{value}");
        Some(start..self.text.len())
    }

    fn add_str(&mut self, value: Option<&str>) -> Span {
        let value = value?;
        let start = self.text.len();
        self.text.push_str(value);
        Some(start..self.text.len())
    }

    fn get(&self, span: &Span) -> Option<&str> {
        span.as_ref().and_then(|span| self.text.get(span.clone()))
    }
}

/// What the state knows of one observation: its rowid, when it was first seen, and its
/// class and result at their last change (`None` when the stored word is not one we know).
pub(super) struct Known {
    pub id: i64,
    pub first_seen: DateTime<Utc>,
    pub class: Option<Class>,
    pub result: Option<SpfResult>,
}

/// A domain's stored record, and when it was first seen.
pub(super) struct StoredRecord {
    pub record: String,
    pub since: DateTime<Utc>,
}

/// What the run compares against, read inside its transaction.
pub(super) struct Snapshot {
    pub run: i64,
    pub previous: Option<RunInfo>,
    pub known: HashMap<[u8; 16], Known>,
    pub records: HashMap<String, StoredRecord>,
}

/// The run's row in `runs`, as the writes name it.
struct RunRow {
    id: i64,
    started: String,
}

enum Message {
    Batch(Batch),
    Commit {
        finished: DateTime<Utc>,
        totals: RunTotals,
    },
}

/// The scan's end of the writer thread.
pub(super) struct Writer {
    path: PathBuf,
    busy_timeout: Duration,
    batch: Batch,
    to_thread: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<rusqlite::Result<()>>>,
}

impl Writer {
    /// Start the thread, begin the run's transaction, and return what it read.
    pub fn start(
        path: &Path,
        busy_timeout: Duration,
        started: DateTime<Utc>,
        inputs: &str,
    ) -> Result<(Writer, Snapshot), StateError> {
        let (to_thread, from_scan) = mpsc::sync_channel(BATCHES_IN_FLIGHT);
        let (reply, snapshot) = mpsc::channel();
        let (thread_path, inputs) = (path.to_path_buf(), inputs.to_string());
        let thread = std::thread::Builder::new()
            .name("spfsleuth-state".into())
            .spawn(move || {
                let (conn, begun) = match begin(&thread_path, busy_timeout, started, &inputs) {
                    Ok(begun) => begun,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return Ok(());
                    }
                };
                let run = RunRow {
                    id: begun.run,
                    started: rfc3339(started),
                };
                // The scan may have given up waiting: then nothing is written.
                if reply.send(Ok(begun)).is_err() {
                    return Ok(());
                }
                write_run(&conn, &run, from_scan)
            })
            .map_err(StateError::Thread)?;
        let mut writer = Writer {
            path: path.to_path_buf(),
            busy_timeout,
            batch: Batch::new(),
            to_thread: Some(to_thread),
            thread: Some(thread),
        };
        match snapshot.recv() {
            Ok(Ok(snapshot)) => Ok((writer, snapshot)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(writer.join_error()),
        }
    }

    /// Queue a new observation.
    pub fn new_observation(&mut self, row: NewRow<'_>) -> Result<(), StateError> {
        let b = &mut self.batch;
        let new = NewObservation {
            key: row.key,
            message_id: b.add_str(row.message_id),
            spf_domain: b.add_str(row.spf_domain),
            client_ip: b.add(row.client_ip),
            date: b.add(row.date),
            source: b.add_str(Some(row.source)),
            locator: b.add(row.locator),
            class: row.class,
            result: row.result,
        };
        self.push(Write::New(new))
    }

    /// Queue a change of a known observation's class or result.
    pub fn changed(
        &mut self,
        id: i64,
        class: Class,
        result: &'static str,
    ) -> Result<(), StateError> {
        self.push(Write::Changed { id, class, result })
    }

    /// Queue that `domain` was seen with the record stored for it.
    pub fn domain_seen(&mut self, domain: &str) -> Result<(), StateError> {
        self.push(Write::DomainSeen(domain.to_string()))
    }

    /// Queue a new version of `domain`'s record (or its first).
    pub fn domain_record(&mut self, domain: &str, record: &str) -> Result<(), StateError> {
        self.push(Write::DomainRecord {
            domain: domain.to_string(),
            record: record.to_string(),
        })
    }

    /// Queue one write; fails when the thread has stopped on an error.
    fn push(&mut self, write: Write) -> Result<(), StateError> {
        self.batch.writes.push(write);
        if self.batch.writes.len() >= BATCH {
            self.send_batch()?;
        }
        Ok(())
    }

    fn send_batch(&mut self) -> Result<(), StateError> {
        let batch = std::mem::replace(&mut self.batch, Batch::new());
        self.send(Message::Batch(batch))
    }

    fn send(&mut self, message: Message) -> Result<(), StateError> {
        let sent = match &self.to_thread {
            Some(to_thread) => to_thread.send(message).is_ok(),
            None => false,
        };
        if sent { Ok(()) } else { Err(self.join_error()) }
    }

    /// Write what is queued, record the totals and commit; returns when it is on disk.
    pub fn commit(mut self, finished: DateTime<Utc>, totals: RunTotals) -> Result<(), StateError> {
        self.send_batch()?;
        self.send(Message::Commit { finished, totals })?;
        self.to_thread = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(sql_error(&self.path, self.busy_timeout, e)),
            _ => Err(self.stopped()),
        }
    }

    /// The thread has stopped: wait for it and say why.
    fn join_error(&mut self) -> StateError {
        self.to_thread = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => sql_error(&self.path, self.busy_timeout, e),
            _ => self.stopped(),
        }
    }

    fn stopped(&self) -> StateError {
        StateError::WriterStopped {
            path: self.path.clone(),
        }
    }
}

impl Drop for Writer {
    /// Without a commit the thread rolls back; waiting for it releases the file now.
    fn drop(&mut self) {
        self.to_thread = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Open the connection, begin the transaction, record the run, read the snapshot.
fn begin(
    path: &Path,
    busy_timeout: Duration,
    started: DateTime<Utc>,
    inputs: &str,
) -> Result<(Connection, Snapshot), StateError> {
    let conn = connect(path, busy_timeout)?;
    let snapshot =
        begin_on(&conn, started, inputs).map_err(|e| sql_error(path, busy_timeout, e))?;
    Ok((conn, snapshot))
}

fn begin_on(conn: &Connection, started: DateTime<Utc>, inputs: &str) -> rusqlite::Result<Snapshot> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let previous = read_runs(conn)?.pop();
    conn.execute(
        "INSERT INTO runs (started, spfsleuth, inputs) VALUES (?1, ?2, ?3)",
        params![rfc3339(started), env!("CARGO_PKG_VERSION"), inputs],
    )?;
    let run = conn.last_insert_rowid();
    let snapshot = Snapshot {
        run,
        previous,
        known: known_observations(conn)?,
        records: stored_records(conn)?,
    };
    Ok(snapshot)
}

/// Every stored observation, read in one pass at the start of a run: a lookup per row
/// in a hash map instead of a SELECT per row.
fn known_observations(conn: &Connection) -> rusqlite::Result<HashMap<[u8; 16], Known>> {
    let mut stmt = conn.prepare("SELECT key, id, first_seen, class, result FROM observations")?;
    let mut rows = stmt.query([])?;
    let mut known = HashMap::new();
    while let Some(row) = rows.next()? {
        // A key of another length is not one of ours: it never matches.
        let Ok(key) = <[u8; 16]>::try_from(row.get_ref(0)?.as_blob()?) else {
            continue;
        };
        let first_seen = parse_time(row.get_ref(2)?.as_str()?).unwrap_or_default();
        known.insert(
            key,
            Known {
                id: row.get(1)?,
                first_seen,
                class: row.get_ref(3)?.as_str()?.parse().ok(),
                result: row.get_ref(4)?.as_str()?.parse().ok(),
            },
        );
    }
    Ok(known)
}

/// Every domain's stored record with the start of the run that first saw it.
fn stored_records(conn: &Connection) -> rusqlite::Result<HashMap<String, StoredRecord>> {
    let mut stmt = conn.prepare(
        "SELECT d.domain, d.record, r.started FROM domains d JOIN runs r ON r.id = d.since_run",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            StoredRecord {
                record: row.get(1)?,
                since: parse_time(&row.get::<_, String>(2)?).unwrap_or_default(),
            },
        ))
    })?;
    rows.collect()
}

/// The thread's loop: write each batch, commit at the end. The scan going away without a
/// commit (an error, a signal, a DNS outage) rolls everything back.
fn write_run(
    conn: &Connection,
    run: &RunRow,
    from_scan: Receiver<Message>,
) -> rusqlite::Result<()> {
    for message in from_scan {
        match message {
            Message::Batch(batch) => {
                for write in &batch.writes {
                    apply(conn, run, &batch, write)?;
                }
            }
            Message::Commit { finished, totals } => {
                let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                conn.execute(
                    "UPDATE runs SET finished = ?2, rows = ?3, new_rows = ?4, findings = ?5,
                         duplicates = ?6, outside_window = ?7, problems = ?8 WHERE id = ?1",
                    params![
                        run.id,
                        rfc3339(finished),
                        n(totals.rows),
                        n(totals.new_rows),
                        n(totals.findings),
                        n(totals.duplicates),
                        n(totals.outside_window),
                        n(totals.problems),
                    ],
                )?;
                return conn.execute_batch("COMMIT");
            }
        }
    }
    conn.execute_batch("ROLLBACK")
}

fn apply(conn: &Connection, run: &RunRow, batch: &Batch, write: &Write) -> rusqlite::Result<()> {
    match write {
        Write::New(obs) => conn
            .prepare_cached(
                "INSERT INTO observations (key, message_id, spf_domain, client_ip, date, source,
                     locator, first_run, first_seen, first_class, first_result, last_run, class,
                     result)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?8, ?10, ?11)",
            )?
            .execute(params![
                &obs.key[..],
                batch.get(&obs.message_id),
                batch.get(&obs.spf_domain),
                batch.get(&obs.client_ip),
                batch.get(&obs.date),
                batch.get(&obs.source).unwrap_or_default(),
                batch.get(&obs.locator),
                run.id,
                run.started,
                obs.class.as_str(),
                obs.result,
            ])
            .map(|_| ()),
        Write::Changed { id, class, result } => {
            conn.prepare_cached(
                "UPDATE observations SET last_run = ?2, class = ?3, result = ?4 WHERE id = ?1",
            )?
            .execute(params![id, run.id, class.as_str(), result])?;
            history(conn, *id, run.id, *class, result)
        }
        Write::DomainSeen(domain) => conn
            .prepare_cached("UPDATE domains SET last_run = ?2 WHERE domain = ?1")?
            .execute(params![domain, run.id])
            .map(|_| ()),
        Write::DomainRecord { domain, record } => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO domains (domain, record, since_run, last_run) VALUES (?1, ?2, ?3, ?3)",
            )?
            .execute(params![domain, record, run.id])?;
            conn.prepare_cached(
                "INSERT OR REPLACE INTO domain_records (domain, run, record) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![domain, run.id, record])
            .map(|_| ())
        }
    }
}

/// A change of an observation's class or result at this run (its first ones are in its row).
fn history(
    conn: &Connection,
    observation: i64,
    run: i64,
    class: Class,
    result: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO observation_history (observation, run, class, result) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![observation, run, class.as_str(), result])
    .map(|_| ())
}
