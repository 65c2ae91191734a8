use std::sync::Arc;

use super::*;
use crate::classify::Finding;
use crate::extract::Observation;
use crate::scan::key::ObservationKey;
use crate::spf::trace::Trace;
use rusqlite::params;

fn at(text: &str) -> DateTime<Utc> {
    parse_time(text).unwrap()
}

fn evaluation(result: SpfResult, record: Option<&str>) -> Arc<Evaluation> {
    Arc::new(Evaluation {
        result,
        domain: "sub.example.co.jp".into(),
        record: record.map(String::from),
        matched: None,
        explanation: None,
        problem: None,
        dns_lookups: 0,
        void_lookups: 0,
        trace: Trace::default(),
    })
}

fn finding(
    id: &str,
    class: Class,
    result: SpfResult,
    record: Option<&str>,
) -> (ObservationKey, Finding) {
    let observation = Observation {
        source: Arc::from("spam.mbox"),
        message_id: Some(id.into()),
        client_ip: "198.51.100.154".parse().ok(),
        ..Observation::default()
    };
    let key = ObservationKey::of(&observation);
    let finding = Finding {
        observation,
        spf_domain: Some("sub.example.co.jp".into()),
        current: Some(evaluation(result, record)),
        class,
        reason: String::new(),
        fix: String::new(),
        related: Vec::new(),
    };
    (key, finding)
}

const OLD: &str = "v=spf1 ip4:198.51.100.92 -all";
const NEW: &str = "v=spf1 ip4:198.51.100.92 ip4:198.51.100.154 -all";

#[test]
fn nights_new_then_unchanged_then_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (key, night1) = finding("a@x", Class::Misconfigured, SpfResult::Fail, Some(OLD));

    let mut state = StateFile::open(&path, Duration::from_secs(1)).unwrap();
    let mut run = state
        .begin_run(at("2026-12-07T03:10:00Z"), "spam.mbox")
        .unwrap();
    assert!(run.previous().is_none());
    let h = run.observe(&key, &night1).unwrap();
    assert!(h.new && !h.is_change());
    run.commit(at("2026-12-07T03:10:05Z"), RunTotals::default())
        .unwrap();

    let mut run = state
        .begin_run(at("2026-12-08T03:10:00Z"), "spam.mbox")
        .unwrap();
    assert_eq!(run.previous().map(|r| r.id), Some(1));
    let h = run.observe(&key, &night1).unwrap();
    assert!(!h.new && !h.is_change());
    assert_eq!(h.first_seen, at("2026-12-07T03:10:00Z"));
    run.commit(at("2026-12-08T03:10:05Z"), RunTotals::default())
        .unwrap();

    // The DNS was down for this one: no news, nothing stored.
    let (_, down) = finding("a@x", Class::DnsUnavailable, SpfResult::TempError, None);
    let mut run = state
        .begin_run(at("2026-12-09T03:10:00Z"), "spam.mbox")
        .unwrap();
    let h = run.observe(&key, &down).unwrap();
    assert!(!h.is_change(), "{h:?}");
    run.commit(at("2026-12-09T03:10:05Z"), RunTotals::default())
        .unwrap();

    let (_, fixed) = finding("a@x", Class::FixedSince, SpfResult::Pass, Some(NEW));
    let mut run = state
        .begin_run(at("2026-12-10T03:10:00Z"), "spam.mbox")
        .unwrap();
    let h = run.observe(&key, &fixed).unwrap();
    assert_eq!(h.class_before, Some(Class::Misconfigured));
    assert!(h.record_changed);
    assert_eq!(
        h.changed_cell(Class::FixedSince, Some(SpfResult::Pass)),
        "class misconfigured -> fixed_since; record changed"
    );
    assert_eq!(run.record_changes().len(), 1);
    assert_eq!(run.record_changes()[0].before, OLD);
    assert_eq!(
        run.record_changes()[0].before_seen,
        at("2026-12-07T03:10:00Z")
    );
    run.commit(at("2026-12-10T03:10:05Z"), RunTotals::default())
        .unwrap();

    let history = state.record_history("Sub.Example.co.jp.").unwrap();
    let records: Vec<(i64, &str)> = history.iter().map(|v| (v.run, v.record.as_str())).collect();
    assert_eq!(records, [(1, OLD), (4, NEW)]);
    assert_eq!(state.runs().unwrap().len(), 4);

    // The row keeps its first class beside the latest; the history holds the change.
    let conn = Connection::open(&path).unwrap();
    let row: (String, String, i64) = conn
        .query_row(
            "SELECT first_class, class, last_run FROM observations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(row, ("misconfigured".into(), "fixed_since".into(), 4));
    let changes: Vec<(i64, String)> = conn
        .prepare("SELECT run, class FROM observation_history")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(changes, [(4, "fixed_since".to_string())]);
}

#[test]
fn a_version_1_state_is_migrated_with_what_it_knew() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (key, night1) = finding("a@x", Class::Misconfigured, SpfResult::Fail, Some(OLD));
    let (other, _) = finding("b@x", Class::Ok, SpfResult::Pass, Some(OLD));
    {
        // A state written by the version-1 schema: two runs, `a@x` changed at the second.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1);
             INSERT INTO runs (id, started, finished, spfsleuth, inputs)
                 VALUES (1, '2026-12-01T03:10:00Z', '2026-12-01T03:10:05Z', '0.1.0', 'spam.mbox'),
                        (2, '2026-12-02T03:10:00Z', '2026-12-02T03:10:05Z', '0.1.0', 'spam.mbox');",
        )
        .unwrap();
        for (k, class, result, last) in [(&key, "ok", "pass", 2), (&other, "ok", "pass", 1)] {
            conn.execute(
                "INSERT INTO observations (key, source, first_run, first_seen, last_run, class, result)
                 VALUES (?1, 'spam.mbox', 1, '2026-12-01T03:10:00Z', ?2, ?3, ?4)",
                params![&k.0[..], last, class, result],
            )
            .unwrap();
        }
        conn.execute_batch(&format!(
            "INSERT INTO observation_history VALUES (X'{a}', 1, 'misconfigured', 'fail'),
                                                    (X'{a}', 2, 'ok', 'pass'),
                                                    (X'{b}', 1, 'ok', 'pass');",
            a = hex(&key.0),
            b = hex(&other.0),
        ))
        .unwrap();
    }
    let mut state = StateFile::open(&path, Duration::from_secs(1)).unwrap();
    let mut run = state
        .begin_run(at("2026-12-03T03:10:00Z"), "spam.mbox")
        .unwrap();
    assert_eq!(run.previous().map(|r| r.id), Some(2));
    let h = run.observe(&key, &night1).unwrap();
    assert!(!h.new);
    assert_eq!(h.first_seen, at("2026-12-01T03:10:00Z"));
    assert_eq!(h.class_before, Some(Class::Ok));
    run.commit(at("2026-12-03T03:10:05Z"), RunTotals::default())
        .unwrap();
    drop(state);

    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::current_version());
    let first: Vec<String> = conn
        .prepare("SELECT first_class FROM observations ORDER BY first_class")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(first, ["misconfigured", "ok"]);
    let changes: Vec<(i64, String)> = conn
        .prepare("SELECT run, class FROM observation_history ORDER BY run")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        changes,
        [(2, "ok".to_string()), (3, "misconfigured".to_string())]
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn a_run_not_committed_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (key, f) = finding("a@x", Class::Misconfigured, SpfResult::Fail, Some(OLD));
    let mut state = StateFile::open(&path, Duration::from_secs(1)).unwrap();
    {
        let mut run = state.begin_run(at("2026-12-07T03:10:00Z"), "x").unwrap();
        run.observe(&key, &f).unwrap();
    }
    assert!(state.runs().unwrap().is_empty());
    let mut run = state.begin_run(at("2026-12-08T03:10:00Z"), "x").unwrap();
    assert!(run.observe(&key, &f).unwrap().new);
}

#[test]
fn foreign_newer_and_damaged_files_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let err = StateFile::open(&garbage, Duration::from_secs(1))
        .err()
        .unwrap();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x5a; 8192]);

    let foreign = dir.path().join("foreign.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE mine (x); INSERT INTO mine VALUES (1);")
        .unwrap();
    let err = StateFile::open(&foreign, Duration::from_secs(1))
        .err()
        .unwrap();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err}");

    let newer = dir.path().join("newer.db");
    drop(StateFile::open(&newer, Duration::from_secs(1)).unwrap());
    Connection::open(&newer)
        .unwrap()
        .execute("INSERT INTO schema_version VALUES (99)", [])
        .unwrap();
    let err = StateFile::open(&newer, Duration::from_secs(1))
        .err()
        .unwrap();
    assert!(matches!(err, StateError::Newer { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer spfsleuth"), "{err}");
}

#[test]
fn a_second_run_on_a_busy_state_is_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut first = StateFile::open(&path, Duration::from_secs(1)).unwrap();
    let _run = first.begin_run(at("2026-12-07T03:10:00Z"), "x").unwrap();
    let mut second = StateFile::open(&path, Duration::from_millis(200)).unwrap();
    let err = second
        .begin_run(at("2026-12-07T03:10:01Z"), "x")
        .err()
        .unwrap();
    assert!(err.is_locked(), "{err}");
    // Reading is still possible meanwhile (WAL).
    assert!(
        StateFile::open_read_only(&path)
            .unwrap()
            .runs()
            .unwrap()
            .is_empty()
    );
}
