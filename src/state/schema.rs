//! The state database's schema and its migrations: version N of the schema is what the first
//! N entries of [`MIGRATIONS`] make. A database at an older version is brought up to date
//! in one transaction; one at a newer version is refused (an older spfsleuth must not write
//! to what it does not understand); a database that is not ours is refused.

use rusqlite::{Connection, OptionalExtension};

/// Each entry takes the schema from version `index` to `index + 1`. Never edit one that has
/// been released: add a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs, observations with their class history, domains with their record history.
    "CREATE TABLE runs (
         id INTEGER PRIMARY KEY,
         started TEXT NOT NULL,
         finished TEXT,
         spfsleuth TEXT NOT NULL,
         inputs TEXT NOT NULL,
         rows INTEGER,
         new_rows INTEGER,
         findings INTEGER,
         duplicates INTEGER,
         outside_window INTEGER,
         problems INTEGER
     );
     CREATE TABLE observations (
         key BLOB PRIMARY KEY,
         message_id TEXT,
         spf_domain TEXT,
         client_ip TEXT,
         date TEXT,
         source TEXT NOT NULL,
         locator TEXT,
         first_run INTEGER NOT NULL REFERENCES runs(id),
         first_seen TEXT NOT NULL,
         last_run INTEGER NOT NULL REFERENCES runs(id),
         class TEXT NOT NULL,
         result TEXT NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX observations_by_domain ON observations (spf_domain);
     CREATE TABLE observation_history (
         key BLOB NOT NULL REFERENCES observations(key),
         run INTEGER NOT NULL REFERENCES runs(id),
         class TEXT NOT NULL,
         result TEXT NOT NULL,
         PRIMARY KEY (key, run)
     ) WITHOUT ROWID;
     CREATE TABLE domains (
         domain TEXT PRIMARY KEY,
         record TEXT NOT NULL,
         since_run INTEGER NOT NULL REFERENCES runs(id),
         last_run INTEGER NOT NULL REFERENCES runs(id)
     ) WITHOUT ROWID;
     CREATE TABLE domain_records (
         domain TEXT NOT NULL,
         run INTEGER NOT NULL REFERENCES runs(id),
         record TEXT NOT NULL,
         PRIMARY KEY (domain, run)
     ) WITHOUT ROWID;",
    // 2: observations in insertion order (a rowid table, no index: a run reads every key
    // into memory at its start and names rows by rowid), their class and result when first
    // seen kept beside the latest, and the history holding the later changes only. Measured
    // with `benches/state.sh`: the random B-tree inserts into the key, the domain index and
    // the history (three per new row) were most of a first night's --state cost. A key stays
    // unique because a run holds the write lock from reading the keys until it commits.
    "CREATE TABLE observations_v2 (
         id INTEGER PRIMARY KEY,
         key BLOB NOT NULL,
         message_id TEXT,
         spf_domain TEXT,
         client_ip TEXT,
         date TEXT,
         source TEXT NOT NULL,
         locator TEXT,
         first_run INTEGER NOT NULL REFERENCES runs(id),
         first_seen TEXT NOT NULL,
         first_class TEXT NOT NULL,
         first_result TEXT NOT NULL,
         last_run INTEGER NOT NULL REFERENCES runs(id),
         class TEXT NOT NULL,
         result TEXT NOT NULL
     );
     INSERT INTO observations_v2 (key, message_id, spf_domain, client_ip, date, source, locator,
             first_run, first_seen, first_class, first_result, last_run, class, result)
         SELECT o.key, o.message_id, o.spf_domain, o.client_ip, o.date, o.source, o.locator,
             o.first_run, o.first_seen, coalesce(h.class, o.class), coalesce(h.result, o.result),
             o.last_run, o.class, o.result
         FROM observations o
         LEFT JOIN observation_history h ON h.key = o.key AND h.run = o.first_run
         ORDER BY o.first_run;
     CREATE TABLE observation_history_v2 (
         observation INTEGER NOT NULL REFERENCES observations(id),
         run INTEGER NOT NULL REFERENCES runs(id),
         class TEXT NOT NULL,
         result TEXT NOT NULL
     );
     INSERT INTO observation_history_v2 (observation, run, class, result)
         SELECT o.id, h.run, h.class, h.result
         FROM observation_history h JOIN observations_v2 o ON o.key = h.key
         WHERE h.run <> o.first_run
         ORDER BY h.run, o.id;
     DROP TABLE observation_history;
     DROP INDEX observations_by_domain;
     DROP TABLE observations;
     ALTER TABLE observations_v2 RENAME TO observations;
     ALTER TABLE observation_history_v2 RENAME TO observation_history;",
];

/// The schema version this build writes.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

#[derive(Debug)]
pub enum MigrateError {
    Sql(rusqlite::Error),
    NotOurs(String),
    Newer { found: i64, known: i64 },
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// The version recorded in the database: `None` for a database without our version table.
fn recorded_version(conn: &Connection) -> Result<Option<i64>, MigrateError> {
    let has_table: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if has_table.is_none() {
        return Ok(None);
    }
    let version: Option<i64> =
        conn.query_row("SELECT max(version) FROM schema_version", [], |row| {
            row.get(0)
        })?;
    Ok(Some(version.unwrap_or(0)))
}

fn other_tables(conn: &Connection) -> Result<i64, MigrateError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
        [],
        |row| row.get(0),
    )?)
}

/// Bring the schema up to date (creating it in a new, empty database).
pub fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let known = current_version();
    // Read first without a write lock: a newer or foreign database is refused untouched.
    let version = match recorded_version(conn)? {
        Some(v) => v,
        None if other_tables(conn)? > 0 => {
            return Err(MigrateError::NotOurs(
                "it is an SQLite database with other tables and no spfsleuth schema version".into(),
            ));
        }
        None => 0,
    };
    if version > known {
        return Err(MigrateError::Newer {
            found: version,
            known,
        });
    }
    if version == known {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Another run may have migrated meanwhile.
    let version = recorded_version(&tx)?.unwrap_or(0);
    if version == 0 {
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [index as i64 + 1],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// For read-only use: the database must be ours and not newer.
pub fn check_read_only(conn: &Connection) -> Result<(), MigrateError> {
    let known = current_version();
    match recorded_version(conn)? {
        None => Err(MigrateError::NotOurs(
            "it has no spfsleuth schema version".into(),
        )),
        Some(v) if v > known => Err(MigrateError::Newer { found: v, known }),
        Some(_) => Ok(()),
    }
}
