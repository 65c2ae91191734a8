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
//! and its class and current result at each run (as the runs at which they changed). Stored
//! per sender domain: its published SPF record at each run (as the runs at which it
//! changed). A temperror (DNS unavailable) changes neither: it is not news about the sender.

pub mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::classify::{Class, Finding};
use crate::model::SpfResult;
use crate::scan::key::ObservationKey;
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

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
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
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| StateError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut state = StateFile {
            conn,
            path: path.to_path_buf(),
            busy_timeout,
        };
        state
            .conn
            .busy_timeout(busy_timeout)
            .map_err(|e| state.error(e))?;
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
        state
            .conn
            .execute_batch(
                "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; PRAGMA cache_size=-65536;",
            )
            .map_err(|e| state.error(e))?;
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
        use rusqlite::ErrorCode;
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StateError::Locked {
                path: self.path.clone(),
                waited: self.busy_timeout,
            },
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StateError::Corrupt {
                path: self.path.clone(),
                detail: source.to_string(),
            },
            _ => StateError::Sql {
                path: self.path.clone(),
                source,
            },
        }
    }

    /// The last completed run, if any.
    pub fn last_run(&self) -> Result<Option<RunInfo>, StateError> {
        Ok(self.runs()?.pop())
    }

    /// Every completed run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunInfo>, StateError> {
        let read = || -> rusqlite::Result<Vec<RunInfo>> {
            let mut stmt = self.conn.prepare(
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
        };
        read().map_err(|e| self.error(e))
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

    /// How many observations of `domain` the state holds, per class at their last run.
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

    /// Begin this run's transaction. Fails with [`StateError::Locked`] when another run
    /// holds the database for longer than the busy timeout.
    pub fn begin_run(
        &mut self,
        started: DateTime<Utc>,
        inputs: &str,
    ) -> Result<Run<'_>, StateError> {
        let previous = self.last_run()?;
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            return Err(self.error(e));
        }
        let inserted = self.conn.execute(
            "INSERT INTO runs (started, spfsleuth, inputs) VALUES (?1, ?2, ?3)",
            params![rfc3339(started), env!("CARGO_PKG_VERSION"), inputs],
        );
        if let Err(e) = inserted {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(self.error(e));
        }
        let id = self.conn.last_insert_rowid();
        let known = match self.known_observations() {
            Ok(known) => known,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(self.error(e));
            }
        };
        Ok(Run {
            state: self,
            id,
            known,
            started,
            started_text: rfc3339(started),
            previous,
            domains: HashMap::new(),
            record_changes: Vec::new(),
            committed: false,
        })
    }
}

/// What the state knows of one observation: first seen, and class and result at their last
/// change.
struct Known {
    first_seen: String,
    class: String,
    result: String,
}

impl StateFile {
    /// Every stored observation, read in one pass at the start of a run: a lookup per row
    /// in a hash map instead of a SELECT per row (measured with `benches/state.sh`: the
    /// per-row SELECT and the per-row UPDATE of unchanged rows were most of `--state`'s cost).
    fn known_observations(&self) -> rusqlite::Result<HashMap<[u8; 16], Known>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, first_seen, class, result FROM observations")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                Known {
                    first_seen: row.get(1)?,
                    class: row.get(2)?,
                    result: row.get(3)?,
                },
            ))
        })?;
        let mut known = HashMap::new();
        for row in rows {
            let (key, observation) = row?;
            // A key of another length is not one of ours: it never matches.
            if let Ok(key) = <[u8; 16]>::try_from(key.as_slice()) {
                known.insert(key, observation);
            }
        }
        Ok(known)
    }
}

fn normalise_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// One run's open transaction. Dropped without [`Run::commit`], it is rolled back.
pub struct Run<'a> {
    state: &'a mut StateFile,
    id: i64,
    /// The observations stored before this run.
    known: HashMap<[u8; 16], Known>,
    started: DateTime<Utc>,
    started_text: String,
    previous: Option<RunInfo>,
    /// Domains met in this run: whether their record changed since the last run.
    domains: HashMap<String, bool>,
    record_changes: Vec<RecordChange>,
    committed: bool,
}

impl Run<'_> {
    /// The last completed run before this one.
    pub fn previous(&self) -> Option<&RunInfo> {
        self.previous.as_ref()
    }

    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    /// Domains whose record changed since the last run, in the order met.
    pub fn record_changes(&self) -> &[RecordChange] {
        &self.record_changes
    }

    /// Record that this run saw `finding` (with `key`), and say what the state knew of it.
    pub fn observe(
        &mut self,
        key: &ObservationKey,
        finding: &Finding,
    ) -> Result<History, StateError> {
        let record_changed = match (&finding.spf_domain, &finding.current) {
            (Some(domain), Some(current)) => self.domain_record(domain, current)?,
            _ => false,
        };
        let class = finding.class;
        let result = finding.current.as_ref().map(|e| e.result);
        let result_text = result.map(SpfResult::as_str).unwrap_or("");
        let definitive = result != Some(SpfResult::TempError);
        let conn = &self.state.conn;
        let known = self
            .known
            .get(&key.0)
            .map(|k| (k.first_seen.clone(), k.class.clone(), k.result.clone()));
        let history = match known {
            None => {
                let obs = &finding.observation;
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO observations (key, message_id, spf_domain, client_ip, date,
                             source, locator, first_run, first_seen, last_run, class, result)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?10, ?11)",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            &key.0[..],
                            obs.message_id.as_deref(),
                            finding.spf_domain.as_deref(),
                            obs.client_ip
                                .map(|ip| crate::model::canonical_ip(ip).to_string()),
                            obs.date.map(rfc3339),
                            &*obs.source,
                            obs.locator.as_ref().map(|l| l.to_string()),
                            self.id,
                            &self.started_text,
                            class.as_str(),
                            result_text,
                        ])
                    })
                    .and_then(|_| self.history_row(key, class, result_text));
                inserted.map_err(|e| self.state.error(e))?;
                self.known.insert(
                    key.0,
                    Known {
                        first_seen: self.started_text.clone(),
                        class: class.as_str().to_string(),
                        result: result_text.to_string(),
                    },
                );
                History {
                    first_seen: self.started,
                    new: true,
                    class_before: None,
                    result_before: None,
                    record_changed: false,
                }
            }
            Some((first_seen, class_then, result_then)) => {
                let class_before = class_then.parse::<Class>().ok().filter(|c| *c != class);
                let result_before = result_then
                    .parse::<SpfResult>()
                    .ok()
                    .filter(|r| Some(*r) != result);
                let changed = definitive && (class_before.is_some() || result_before.is_some());
                let update = if changed {
                    conn.prepare_cached(
                        "UPDATE observations SET last_run = ?2, class = ?3, result = ?4 WHERE key = ?1",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![&key.0[..], self.id, class.as_str(), result_text])
                    })
                    .and_then(|_| self.history_row(key, class, result_text))
                } else {
                    // Unchanged: nothing to write (last_run is the run of the last change).
                    Ok(())
                };
                update.map_err(|e| self.state.error(e))?;
                History {
                    first_seen: parse_time(&first_seen).unwrap_or(self.started),
                    new: false,
                    class_before: class_before.filter(|_| definitive),
                    result_before: result_before.filter(|_| definitive),
                    record_changed,
                }
            }
        };
        Ok(history)
    }

    fn history_row(
        &self,
        key: &ObservationKey,
        class: Class,
        result: &str,
    ) -> rusqlite::Result<()> {
        self.state
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO observation_history (key, run, class, result) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&key.0[..], self.id, class.as_str(), result])
            .map(|_| ())
    }

    /// Compare `domain`'s record now with the one stored, once per run; store a new version
    /// when it changed. True when it changed since the last run that saw the domain.
    fn domain_record(&mut self, domain: &str, current: &Evaluation) -> Result<bool, StateError> {
        if let Some(&changed) = self.domains.get(domain) {
            return Ok(changed);
        }
        // The record of the domain that was evaluated (an SRS or HELO evaluation names its
        // own), as published now; nothing to compare when the DNS did not answer.
        if current.domain != domain {
            return Ok(false);
        }
        let Some(record) = published_record(current) else {
            return Ok(false);
        };
        let conn = &self.state.conn;
        let stored = conn
            .prepare_cached(
                "SELECT d.record, r.started FROM domains d JOIN runs r ON r.id = d.since_run WHERE d.domain = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([domain], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .optional()
            })
            .map_err(|e| self.state.error(e))?;
        let changed = match &stored {
            Some((before, _)) => *before != record,
            None => false,
        };
        let write = match (&stored, changed) {
            (Some(_), false) => conn
                .prepare_cached("UPDATE domains SET last_run = ?2 WHERE domain = ?1")
                .and_then(|mut stmt| stmt.execute(params![domain, self.id]))
                .map(|_| ()),
            _ => conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO domains (domain, record, since_run, last_run) VALUES (?1, ?2, ?3, ?3)",
                )
                .and_then(|mut stmt| stmt.execute(params![domain, &record, self.id]))
                .and_then(|_| {
                    conn.prepare_cached(
                        "INSERT OR REPLACE INTO domain_records (domain, run, record) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![domain, self.id, &record])
                })
                .map(|_| ()),
        };
        write.map_err(|e| self.state.error(e))?;
        if let (Some((before, since)), true) = (stored, changed) {
            self.record_changes.push(RecordChange {
                domain: domain.to_string(),
                before,
                before_seen: parse_time(&since).unwrap_or_default(),
                after: record,
            });
        }
        self.domains.insert(domain.to_string(), changed);
        Ok(changed)
    }

    /// Record the run's totals and commit everything it recorded.
    pub fn commit(mut self, finished: DateTime<Utc>, totals: RunTotals) -> Result<(), StateError> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let conn = &self.state.conn;
        let done = conn
            .execute(
                "UPDATE runs SET finished = ?2, rows = ?3, new_rows = ?4, findings = ?5,
                     duplicates = ?6, outside_window = ?7, problems = ?8 WHERE id = ?1",
                params![
                    self.id,
                    rfc3339(finished),
                    n(totals.rows),
                    n(totals.new_rows),
                    n(totals.findings),
                    n(totals.duplicates),
                    n(totals.outside_window),
                    n(totals.problems),
                ],
            )
            .and_then(|_| conn.execute_batch("COMMIT"));
        match done {
            Ok(()) => {
                self.committed = true;
                Ok(())
            }
            Err(e) => Err(self.state.error(e)),
        }
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.state.conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests;
