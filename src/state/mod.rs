//! `--state FILE`: what earlier runs saw, so that a nightly run can say what is new, what
//! changed (a finding fixed, a record edited) and when a sender changed its record.
//!
//! A SQLite database (WAL mode) with a schema version and migrations ([`schema`]). A run is
//! one transaction, begun before any input is read (`BEGIN IMMEDIATE`: a second run on the
//! same file waits up to the busy timeout, then stops with a message) and committed only
//! when the run completed; a run that fails, is stopped or meets a DNS outage leaves the
//! database as it was. The file is never replaced or reset: one that is not ours, is
//! corrupt, or was written by a newer spfsleuth is an error.
//!
//! Stored per observation ([`crate::scan::key::ObservationKey`]): when it was first seen,
//! its class and current result then and now, and each run at which they changed. Stored
//! per sender domain: its published SPF record at each run (as the runs at which it
//! changed). A temperror (DNS unavailable) changes neither: it is not news about the sender.

mod run;
pub mod schema;
mod writer;

pub use run::Run;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

use crate::classify::Class;
use crate::model::SpfResult;
use crate::spf::{Evaluation, ProblemKind};

/// Why the state file cannot be used (fatal: exit status 2). The file is left as it is.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open the state file {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the state file {} is not an spfsleuth state database or is damaged ({detail}); it was left as it is: move it away to start a new one",
        path.display()
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the state file {} was written by a newer spfsleuth (schema version {found}; this one knows up to {known}); it was left as it is",
        path.display()
    )]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "the state file {} is in use by another spfsleuth run (waited {} s); try again when it has finished",
        path.display(),
        waited.as_secs()
    )]
    Locked { path: PathBuf, waited: Duration },
    #[error("the state file {} does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("cannot start the state file's writer thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the state file {} was not written: its writer stopped unexpectedly", path.display())]
    WriterStopped { path: PathBuf },
    #[error("cannot use the state file {}: {source}", path.display())]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

impl StateError {
    pub fn is_locked(&self) -> bool {
        matches!(self, StateError::Locked { .. })
    }
}

/// One earlier (or the current) run as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub id: i64,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub inputs: String,
    pub rows: u64,
    pub new_rows: u64,
    pub findings: u64,
    pub duplicates: u64,
    pub outside_window: u64,
    pub problems: u64,
}

/// A sender domain's published record as of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordVersion {
    pub run: i64,
    pub seen: DateTime<Utc>,
    pub record: String,
}

/// What the state knew of one observation before this run, and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// When a run first saw it (that run's start).
    pub first_seen: DateTime<Utc>,
    /// Not seen by an earlier run.
    pub new: bool,
    /// The class it had at the last run, when different now.
    pub class_before: Option<Class>,
    /// The current result it had at the last run, when different now.
    pub result_before: Option<SpfResult>,
    /// The SPF record of its domain differs from the one the last run saw.
    pub record_changed: bool,
}

impl History {
    /// The CSV `changed` cell: empty, `class A -> B` (or `result A -> B` when only the result
    /// moved), and `record changed`, `; `-separated.
    pub fn changed_cell(&self, class_now: Class, result_now: Option<SpfResult>) -> String {
        let mut parts = Vec::new();
        if let Some(before) = self.class_before {
            parts.push(format!("class {before} -> {class_now}"));
        } else if let (Some(before), Some(now)) = (self.result_before, result_now) {
            parts.push(format!("result {before} -> {now}"));
        }
        if self.record_changed {
            parts.push("record changed".to_string());
        }
        parts.join("; ")
    }

    /// Anything a person would call news: new, or something changed.
    pub fn is_change(&self) -> bool {
        self.class_before.is_some() || self.result_before.is_some() || self.record_changed
    }
}

/// A sender domain whose record differs from the one the previous run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordChange {
    pub domain: String,
    pub before: String,
    /// When the record `before` was first seen.
    pub before_seen: DateTime<Utc>,
    pub after: String,
}

/// The totals a run records when it completes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunTotals {
    pub rows: u64,
    pub new_rows: u64,
    pub findings: u64,
    pub duplicates: u64,
    pub outside_window: u64,
    pub problems: u64,
}

/// An open state database.
pub struct StateFile {
    conn: Connection,
    path: PathBuf,
    busy_timeout: Duration,
}

/// The text of the record a domain publishes, as stored for comparisons between runs: the
/// record, or a word for none or several; `None` when the DNS did not say (temperror), which
/// is no news about the record.
pub fn published_record(evaluation: &Evaluation) -> Option<String> {
    if evaluation.result == SpfResult::TempError {
        return None;
    }
    if let Some(record) = &evaluation.record {
        return Some(record.clone());
    }
    match evaluation.problem.as_ref().map(|p| p.kind) {
        Some(ProblemKind::NoRecord) => Some("(no SPF record)".into()),
        Some(ProblemKind::MultipleRecords) => Some("(several SPF records)".into()),
        _ => None,
    }
}

/// Map a SQLite error on the state file at `path` to what it means for the user.
fn sql_error(path: &Path, busy_timeout: Duration, source: rusqlite::Error) -> StateError {
    use rusqlite::ErrorCode;
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StateError::Locked {
            path: path.to_path_buf(),
            waited: busy_timeout,
        },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StateError::Corrupt {
            path: path.to_path_buf(),
            detail: source.to_string(),
        },
        _ => StateError::Sql {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// A read-write connection to the state file at `path`, set up for a run's writes.
fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection, StateError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|source| StateError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    conn.busy_timeout(busy_timeout)
        .and_then(|()| conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;"))
        .map_err(|e| sql_error(path, busy_timeout, e))?;
    Ok(conn)
}

/// Every completed run, oldest first.
fn read_runs(conn: &Connection) -> rusqlite::Result<Vec<RunInfo>> {
    let mut stmt = conn.prepare(
        "SELECT id, started, finished, inputs, rows, new_rows, findings, duplicates,
                outside_window, problems
         FROM runs WHERE finished IS NOT NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], |row| {
        let count = |i: usize| row.get::<_, Option<i64>>(i).map(|n| n.unwrap_or(0) as u64);
        Ok(RunInfo {
            id: row.get(0)?,
            started: parse_time(&row.get::<_, String>(1)?).unwrap_or_default(),
            finished: row
                .get::<_, Option<String>>(2)?
                .as_deref()
                .and_then(parse_time),
            inputs: row.get(3)?,
            rows: count(4)?,
            new_rows: count(5)?,
            findings: count(6)?,
            duplicates: count(7)?,
            outside_window: count(8)?,
            problems: count(9)?,
        })
    })?;
    rows.collect()
}

/// RFC 3339 in UTC to the second (`2026-12-07T03:10:00Z`): every time the state stores.
const RFC3339_SECONDS: &str = "%Y-%m-%dT%H:%M:%SZ";

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format(RFC3339_SECONDS).to_string()
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl StateFile {
    /// Open (or create) the state database for a run. `busy_timeout` is how long to wait for
    /// another run that holds it.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<StateFile, StateError> {
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(StateError::Corrupt {
                path: path.to_path_buf(),
                detail: "it is a directory".into(),
            });
        }
        let conn = connect(path, busy_timeout)?;
        let mut state = StateFile {
            conn,
            path: path.to_path_buf(),
            busy_timeout,
        };
        let mode: String = state
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(|e| state.error(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::Corrupt {
                path: state.path.clone(),
                detail: format!("cannot switch it to WAL mode (journal mode {mode})"),
            });
        }
        schema::migrate(&mut state.conn).map_err(|e| state.schema_error(e))?;
        Ok(state)
    }

    /// Open an existing state database without changing it (`spfsleuth state ...`).
    pub fn open_read_only(path: &Path) -> Result<StateFile, StateError> {
        if !path.exists() {
            return Err(StateError::Missing {
                path: path.to_path_buf(),
            });
        }
        // Read-write when allowed, though only read: the last connection to close removes
        // the -wal and -shm files, which a read-only one cannot (they would stay beside the
        // database after a mere look).
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .or_else(|_| {
            Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        })
        .map_err(|source| StateError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let state = StateFile {
            conn,
            path: path.to_path_buf(),
            busy_timeout: Duration::from_secs(5),
        };
        state
            .conn
            .busy_timeout(state.busy_timeout)
            .map_err(|e| state.error(e))?;
        schema::check_read_only(&state.conn).map_err(|e| state.schema_error(e))?;
        Ok(state)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Map a schema check's error to what it means for the user.
    fn schema_error(&self, error: schema::MigrateError) -> StateError {
        match error {
            schema::MigrateError::Sql(e) => self.error(e),
            schema::MigrateError::NotOurs(detail) => StateError::Corrupt {
                path: self.path.clone(),
                detail,
            },
            schema::MigrateError::Newer { found, known } => StateError::Newer {
                path: self.path.clone(),
                found,
                known,
            },
        }
    }

    /// Map a SQLite error to what it means for the user.
    fn error(&self, source: rusqlite::Error) -> StateError {
        sql_error(&self.path, self.busy_timeout, source)
    }

    /// The last completed run, if any.
    pub fn last_run(&self) -> Result<Option<RunInfo>, StateError> {
        Ok(self.runs()?.pop())
    }

    /// Every completed run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunInfo>, StateError> {
        read_runs(&self.conn).map_err(|e| self.error(e))
    }

    /// The versions of a domain's published record, oldest first (one entry per change).
    pub fn record_history(&self, domain: &str) -> Result<Vec<RecordVersion>, StateError> {
        let domain = normalise_domain(domain);
        let read = || -> rusqlite::Result<Vec<RecordVersion>> {
            let mut stmt = self.conn.prepare(
                "SELECT d.run, r.started, d.record FROM domain_records d JOIN runs r ON r.id = d.run
                 WHERE d.domain = ?1 ORDER BY d.run",
            )?;
            let rows = stmt.query_map([&domain], |row| {
                Ok(RecordVersion {
                    run: row.get(0)?,
                    seen: parse_time(&row.get::<_, String>(1)?).unwrap_or_default(),
                    record: row.get(2)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| self.error(e))
    }

    /// How many observations of `domain` the state holds, per class at their last run. A
    /// scan of the table: this is asked rarely, and an index would cost every new row.
    pub fn classes_of_domain(&self, domain: &str) -> Result<Vec<(String, u64)>, StateError> {
        let domain = normalise_domain(domain);
        let read = || -> rusqlite::Result<Vec<(String, u64)>> {
            let mut stmt = self.conn.prepare(
                "SELECT class, count(*) FROM observations WHERE spf_domain = ?1
                 GROUP BY class ORDER BY count(*) DESC, class",
            )?;
            let rows = stmt.query_map([&domain], |row| {
                Ok((row.get(0)?, row.get::<_, i64>(1)? as u64))
            })?;
            rows.collect()
        };
        read().map_err(|e| self.error(e))
    }

    /// Begin this run's transaction (on the state's writer thread, see [`writer`]). Fails
    /// with [`StateError::Locked`] when another run holds the database for longer than the
    /// busy timeout.
    pub fn begin_run(
        &mut self,
        started: DateTime<Utc>,
        inputs: &str,
    ) -> Result<Run<'_>, StateError> {
        Run::begin(self, started, inputs)
    }
}

fn normalise_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests;
