//! The nightly cron mode end to end: `--state` across nights, `--summary` and
//! `--summary-only-changes`, the letters directory swapped whole, a DNS outage that changes
//! nothing (exit 3), outputs that would destroy an input (exit 2), dedupe, the date window,
//! the log time zone, a damaged or busy state file, and a run stopped by SIGTERM.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use spfsleuth::dns::server::{DnsServer, Source};
use spfsleuth::dns::zonefile;

/// The binary, in UTC whatever this machine's zone (`--log-timezone` defaults to local).
fn spfsleuth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
        .args(args)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .output()
        .expect("run spfsleuth")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}\nstdout:\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temporary path")
}

/// Serve `zone_file` on loopback for the duration of `body`.
fn with_server<T>(zone_file: &Path, body: impl FnOnce(SocketAddr) -> T) -> T {
    let zone = zonefile::load(&[zone_file.to_path_buf()]).expect("zone file");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(DnsServer::start(
            Source::from(zone),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let result = body(server.local_addr());
    drop(server);
    result
}

/// Every file under `dir` (recursively) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A snapshot without SQLite's own `-wal` and `-shm` files beside a database.
fn without_sqlite_files(files: BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    files
        .into_iter()
        .filter(|(p, _)| {
            let name = p.to_string_lossy();
            !name.ends_with("-wal") && !name.ends_with("-shm")
        })
        .collect()
}

struct Night<'a> {
    out: &'a Path,
    now: &'a str,
}

impl Night<'_> {
    fn csv(&self) -> PathBuf {
        self.out.join("spam.csv")
    }
    fn summary(&self) -> PathBuf {
        self.out.join("summary.txt")
    }
    fn letters(&self) -> PathBuf {
        self.out.join("letters")
    }
    fn state(&self) -> PathBuf {
        self.out.join("state.db")
    }
    fn run(&self, nameserver: &str, extra: &[&str]) -> Output {
        let (csv, summary, letters, state) =
            (self.csv(), self.summary(), self.letters(), self.state());
        let mut args = vec![
            "scan",
            "samples",
            "--nameserver",
            nameserver,
            "--dns-timeout",
            "1",
            "-q",
            "-o",
            s(&csv),
            "--summary",
            s(&summary),
            "--summary-only-changes",
            "--letter-from",
            "postmaster@compnet.example",
            "--reports",
            s(&letters),
            "--state",
            s(&state),
            "--now",
            self.now,
        ];
        args.extend_from_slice(extra);
        spfsleuth(&args)
    }
}

fn rows_of(csv: &str, needle: &str) -> Vec<String> {
    csv.lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

#[test]
fn four_nights_new_unchanged_fixed_and_a_dns_outage() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let fixed_zone = dir.path().join("fixed.zone");
    std::fs::write(
        &fixed_zone,
        std::fs::read_to_string("samples/dns.zone")
            .unwrap()
            .replace(
                "\"v=spf1 ip4:198.51.100.92 ip4:203.0.113.64/27 -all\"",
                "\"v=spf1 ip4:198.51.100.92 ip4:198.51.100.154 ip4:203.0.113.64/27 -all\"",
            ),
    )
    .unwrap();
    let samples_zone = Path::new("samples/dns.zone");

    // Night 1: everything is new.
    let night1 = Night {
        out: &out,
        now: "2026-12-01T03:00:00Z",
    };
    let run = with_server(samples_zone, |addr| night1.run(&addr.to_string(), &[]));
    ok(&run);
    let csv = std::fs::read_to_string(night1.csv()).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(",related_results,first_seen,changed"),
        "{header}"
    );
    let summary = std::fs::read_to_string(night1.summary()).unwrap();
    assert!(
        summary.contains("First run on this state file"),
        "{summary}"
    );
    assert!(
        summary.contains("sub.example.co.jp (misconfigured 4)"),
        "{summary}"
    );
    assert!(summary.contains("fix: Add ip4:198.51.100.154"), "{summary}");
    assert!(summary.contains("sub.example.co.jp.eml (new)"), "{summary}");
    for row in rows_of(&csv, "error@sub.example.co.jp") {
        assert!(row.ends_with(",2026-12-01T03:00:00Z,"), "{row}");
    }
    assert!(night1.letters().join("sub.example.co.jp.eml").exists());

    // Night 2: nothing changed, so cron gets nothing to mail.
    let night2 = Night {
        out: &out,
        now: "2026-12-02T03:00:00Z",
    };
    let run = with_server(samples_zone, |addr| night2.run(&addr.to_string(), &[]));
    assert_eq!(ok(&run), "");
    assert_eq!(std::fs::read_to_string(night2.summary()).unwrap(), "");
    let csv2 = std::fs::read_to_string(night2.csv()).unwrap();
    for row in rows_of(&csv2, "error@sub.example.co.jp") {
        assert!(
            row.ends_with(",2026-12-01T03:00:00Z,"),
            "first seen stays: {row}"
        );
    }
    // --new-only on the same inputs: the header and no row.
    let new_only = with_server(samples_zone, |addr| {
        spfsleuth(&[
            "scan",
            "samples",
            "--nameserver",
            &addr.to_string(),
            "-q",
            "--state",
            s(&night2.state()),
            "--new-only",
            "--now",
            "2026-12-02T04:00:00Z",
        ])
    });
    assert_eq!(ok(&new_only).lines().count(), 1);

    // Night 3: the sender added its server to the record.
    let night3 = Night {
        out: &out,
        now: "2026-12-03T03:00:00Z",
    };
    let run = with_server(&fixed_zone, |addr| night3.run(&addr.to_string(), &[]));
    ok(&run);
    let csv3 = std::fs::read_to_string(night3.csv()).unwrap();
    let newsletter = rows_of(&csv3, "error@sub.example.co.jp");
    assert_eq!(newsletter.len(), 4, "{csv3}");
    for row in &newsletter {
        assert!(
            row.ends_with(
                ",2026-12-01T03:00:00Z,class misconfigured -> fixed_since; record changed"
            ),
            "{row}"
        );
    }
    let summary = std::fs::read_to_string(night3.summary()).unwrap();
    assert!(
        summary.contains("SPF records changed since the last run: 1"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "before (seen since 2026-12-01T03:00:00Z): v=spf1 ip4:198.51.100.92 ip4:203.0.113.64/27 -all"
        ),
        "{summary}"
    );
    assert!(
        summary
            .contains("now: v=spf1 ip4:198.51.100.92 ip4:198.51.100.154 ip4:203.0.113.64/27 -all"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "Fixed since the last run (their mail passes SPF now):\n  sub.example.co.jp: 4"
        ),
        "{summary}"
    );
    // The letter to the sender is now a short notice that the problem is gone.
    let index = std::fs::read_to_string(night3.letters().join("index.csv")).unwrap();
    assert!(index.contains(",sub.example.co.jp,fixed_since,"), "{index}");

    // The record history says when the sender changed it.
    let history = ok(&spfsleuth(&[
        "state",
        "domain",
        "sub.example.co.jp",
        "--state",
        s(&night3.state()),
    ]));
    assert!(history.contains("2026-12-01T03:00:00Z"), "{history}");
    assert!(history.contains("2026-12-03T03:00:00Z"), "{history}");
    assert!(history.contains("ip4:198.51.100.154"), "{history}");
    let runs = ok(&spfsleuth(&[
        "state",
        "runs",
        "--state",
        s(&night3.state()),
    ]));
    assert_eq!(
        runs.lines().filter(|l| l.contains("2026-12-0")).count(),
        4,
        "{runs}"
    );

    // Night 4: the resolver is gone. Exit 3 and every output as night 3 left it.
    let before = snapshot(&out);
    let dead = with_server(&fixed_zone, |addr| addr.to_string());
    let night4 = Night {
        out: &out,
        now: "2026-12-04T03:00:00Z",
    };
    let run = night4.run(&dead, &[]);
    assert_eq!(run.status.code(), Some(3), "stderr:\n{}", text(&run.stderr));
    assert!(
        text(&run.stderr).contains("DNS outage"),
        "{}",
        text(&run.stderr)
    );
    assert_eq!(text(&run.stdout), "");
    let after = snapshot(&out);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &before {
        assert!(after[path] == *bytes, "{} changed", path.display());
    }
}

#[test]
fn an_output_that_is_an_input_is_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("spam.mbox");
    std::fs::copy("samples/spam.mbox", &mbox).unwrap();
    let zone = dir.path().join("dns.zone");
    std::fs::copy("samples/dns.zone", &zone).unwrap();
    let link = dir.path().join("link.mbox");
    std::os::unix::fs::symlink(&mbox, &link).unwrap();
    let mbox_bytes = std::fs::read(&mbox).unwrap();
    let zone_bytes = std::fs::read(&zone).unwrap();
    let other = dir.path().join("report.csv");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-o", s(&mbox)], "-o"),
        (vec!["-o", s(&link)], "-o"),
        (vec!["--save-dns", s(&zone)], "--save-dns"),
        (vec!["--summary", s(&mbox)], "--summary"),
        (vec!["--state", s(&mbox)], "--state"),
        (vec!["-o", s(&other), "--summary", s(&other)], "--summary"),
    ];
    for (extra, option) in cases {
        let mut args = vec!["scan", s(&mbox), "--zone", s(&zone)];
        args.extend(extra.iter().copied());
        let run = spfsleuth(&args);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(option), "{args:?}: {stderr}");
        assert!(stderr.contains("same file"), "{args:?}: {stderr}");
        assert_eq!(text(&run.stdout), "");
        assert_eq!(std::fs::read(&mbox).unwrap(), mbox_bytes);
        assert_eq!(std::fs::read(&zone).unwrap(), zone_bytes);
        assert!(!other.exists());
    }
    // The letters directory may not hold another output or an input.
    let letters = dir.path().join("letters");
    let run = spfsleuth(&[
        "scan",
        s(&mbox),
        "--zone",
        s(&zone),
        "--letter-from",
        "postmaster@compnet.example",
        "--reports",
        s(&letters),
        "-o",
        s(&letters.join("spam.csv")),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("--reports"),
        "{}",
        text(&run.stderr)
    );
    // A directory of someone else's files is not taken over.
    std::fs::create_dir(&letters).unwrap();
    std::fs::write(letters.join("notes.txt"), "mine").unwrap();
    let run = spfsleuth(&[
        "scan",
        s(&mbox),
        "--zone",
        s(&zone),
        "--letter-from",
        "postmaster@compnet.example",
        "--reports",
        s(&letters),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("did not write"),
        "{}",
        text(&run.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(letters.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn outputs_inside_the_scanned_folder_are_not_read_as_mail() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    std::fs::copy("samples/spam.mbox", spool.join("spam.mbox")).unwrap();
    let csv = spool.join("report.csv");
    let summary = spool.join("summary.txt");
    let state = spool.join("state.db");
    let letters = spool.join("letters");
    let args = [
        "scan",
        s(&spool),
        "--zone",
        "samples/dns.zone",
        "-o",
        s(&csv),
        "--summary",
        s(&summary),
        "--state",
        s(&state),
        "--letter-from",
        "postmaster@compnet.example",
        "--reports",
        s(&letters),
    ];
    ok(&spfsleuth(&args));
    let first = std::fs::read_to_string(&csv).unwrap();
    let second_run = spfsleuth(&args);
    ok(&second_run);
    let second = std::fs::read_to_string(&csv).unwrap();
    let rows = |csv: &str| csv.lines().count();
    assert_eq!(rows(&first), rows(&second), "{second}");
    assert!(
        !text(&second_run.stderr).contains("not mail"),
        "{}",
        text(&second_run.stderr)
    );
}

#[test]
fn the_same_mailbox_twice_gives_the_rows_of_once() {
    let once = ok(&spfsleuth(&[
        "scan",
        "samples/spam.mbox",
        "--zone",
        "samples/dns.zone",
        "-q",
    ]));
    let twice = spfsleuth(&[
        "scan",
        "samples/spam.mbox",
        "samples/spam.mbox",
        "--zone",
        "samples/dns.zone",
    ]);
    assert_eq!(ok(&twice), once);
    let stderr = text(&twice.stderr);
    let messages = once.lines().count() - 1;
    assert!(
        stderr.contains(&format!("{messages} duplicates")),
        "{stderr}"
    );
    // The same message delivered to two Maildir folders is one row too.
    let dir = tempfile::tempdir().unwrap();
    for folder in ["a/cur", "a/new", "a/tmp", "b/cur", "b/new", "b/tmp"] {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
    }
    let message = "Received-SPF: fail (mx.example.net: domain of a@bank.example does not designate 203.0.113.250 as permitted sender) client-ip=203.0.113.250; envelope-from=a@bank.example; helo=h.example;\nMessage-ID: <one@bank.example>\nFrom: a@bank.example\nDate: Mon, 2 Nov 2026 09:15:02 +0000\n\nbody\n";
    std::fs::write(dir.path().join("a/cur/1.mx:2,S"), message).unwrap();
    std::fs::write(dir.path().join("b/new/2.mx"), message).unwrap();
    let csv = ok(&spfsleuth(&[
        "scan",
        s(dir.path()),
        "--zone",
        "samples/dns.zone",
        "-q",
    ]));
    assert_eq!(csv.lines().count(), 2, "{csv}");
}

fn dated_mbox(dir: &Path) -> PathBuf {
    let mut mbox = String::new();
    let dates = [
        ("early", "Sat, 5 Dec 2026 23:59:59 +0000"),
        ("first", "Sun, 6 Dec 2026 00:00:00 +0000"),
        ("last", "Sun, 6 Dec 2026 23:59:59 +0000"),
        ("late", "Mon, 7 Dec 2026 00:00:00 +0000"),
    ];
    for (id, date) in dates {
        mbox.push_str(&format!(
            "From a@bank.example Mon Dec  7 09:00:00 2026\nReceived: from h.example ([203.0.113.250]) by mx.example.net; {date}\nReceived-SPF: fail client-ip=203.0.113.250; envelope-from=a@bank.example; helo=h.example;\nMessage-ID: <{id}@bank.example>\nDate: {date}\nFrom: a@bank.example\n\nbody\n\n"
        ));
    }
    // No Date, no dated Received, no mbox separator: a message without a date.
    std::fs::write(
        dir.join("undated.eml"),
        "Received-SPF: fail client-ip=203.0.113.250; envelope-from=a@bank.example; helo=h.example;\nMessage-ID: <undated@bank.example>\nFrom: a@bank.example\n\nbody\n",
    )
    .unwrap();
    let path = dir.join("dated.mbox");
    std::fs::write(&path, mbox).unwrap();
    path
}

#[test]
fn since_and_until_bound_the_window_and_undated_mail_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dated_mbox(dir.path());
    let ids = |extra: &[&str]| -> (Vec<String>, String) {
        let undated = dir.path().join("undated.eml");
        let mut args = vec!["scan", s(&mbox), s(&undated), "--zone", "samples/dns.zone"];
        args.extend_from_slice(extra);
        let run = spfsleuth(&args);
        let csv = ok(&run);
        let ids = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap_or_default().to_string())
            .collect();
        (ids, text(&run.stderr))
    };
    let (day, stderr) = ids(&["--since", "2026-12-06", "--until", "2026-12-06"]);
    assert_eq!(
        day,
        [
            "first@bank.example",
            "last@bank.example",
            "undated@bank.example"
        ],
        "{stderr}"
    );
    assert!(stderr.contains("2 outside the date window"), "{stderr}");
    let (instants, _) = ids(&[
        "--since",
        "2026-12-06T00:00:00Z",
        "--until",
        "2026-12-06T23:59:59Z",
    ]);
    assert_eq!(instants, ["first@bank.example", "undated@bank.example"]);
    let (relative, _) = ids(&["--since", "yesterday", "--now", "2026-12-07T12:00:00Z"]);
    assert_eq!(
        relative,
        [
            "first@bank.example",
            "last@bank.example",
            "late@bank.example",
            "undated@bank.example"
        ]
    );
    let (hours, _) = ids(&["--since", "12h", "--now", "2026-12-07T12:00:00Z"]);
    assert_eq!(
        hours,
        ["late@bank.example", "undated@bank.example"],
        "since 2026-12-07T00:00:00Z"
    );
    let (exclusive, _) = ids(&["--until", "36h", "--now", "2026-12-07T12:00:00Z"]);
    assert_eq!(
        exclusive,
        ["early@bank.example", "undated@bank.example"],
        "until 2026-12-06T00:00:00Z, exclusive"
    );
    // A day in Tokyo starts at 15:00 UTC the day before.
    let (tokyo, _) = ids(&["--since", "2026-12-07", "--log-timezone", "Asia/Tokyo"]);
    assert_eq!(
        tokyo,
        [
            "last@bank.example",
            "late@bank.example",
            "undated@bank.example"
        ]
    );
    for bad in [["--since", "last week"], ["--until", "2026-13-01"]] {
        let mut args = vec!["scan", s(&mbox), "--zone", "samples/dns.zone"];
        args.extend_from_slice(&bad);
        let run = spfsleuth(&args);
        assert_eq!(run.status.code(), Some(2));
        assert!(text(&run.stderr).contains(bad[0]), "{}", text(&run.stderr));
    }
}

#[test]
fn syslog_times_are_read_in_the_log_timezone() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    std::fs::write(
        &log,
        "Dec  6 23:30:00 mx policyd-spf[1]: prepend Received-SPF: Fail (mailfrom) identity=mailfrom; client-ip=203.0.113.250; helo=h.example; envelope-from=a@bank.example; receiver=mx.example.net\n",
    )
    .unwrap();
    let date_in = |zone: &str, tz_env: &str| -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
            .args(["extract", s(&log), "--log-year", "2026"])
            .args(if zone.is_empty() {
                vec![]
            } else {
                vec!["--log-timezone", zone]
            })
            .env("TZ", tz_env)
            .output()
            .unwrap();
        let csv = ok(&out);
        let row = csv.lines().nth(1).unwrap_or_default().to_string();
        row.split(',').nth(3).unwrap_or_default().to_string()
    };
    assert_eq!(date_in("UTC", "UTC"), "2026-12-06T23:30:00Z");
    assert_eq!(date_in("Asia/Tokyo", "UTC"), "2026-12-06T14:30:00Z");
    assert_eq!(date_in("america/new_york", "UTC"), "2026-12-07T04:30:00Z");
    // The default is this machine's zone.
    assert_eq!(date_in("", "Asia/Tokyo"), "2026-12-06T14:30:00Z");
    assert_eq!(date_in("", "UTC"), "2026-12-06T23:30:00Z");
    let bad = spfsleuth(&["extract", s(&log), "--log-timezone", "Mars/Olympus"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("Mars/Olympus"));
}

#[test]
fn a_damaged_newer_or_busy_state_file_is_an_error_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let scan_with = |state: &Path, extra: &[&str]| {
        let mut args = vec![
            "scan",
            "samples/spam.mbox",
            "--zone",
            "samples/dns.zone",
            "-q",
            "--state",
            s(state),
        ];
        args.extend_from_slice(extra);
        spfsleuth(&args)
    };
    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not SQLite, it is somebody's notes\n".repeat(200),
    )
    .unwrap();
    let junk_bytes = std::fs::read(&junk).unwrap();
    let run = scan_with(&junk, &[]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("junk.db"),
        "{}",
        text(&run.stderr)
    );
    assert_eq!(text(&run.stdout), "");
    assert_eq!(std::fs::read(&junk).unwrap(), junk_bytes);

    // A good state damaged in the middle.
    let good = dir.path().join("good.db");
    ok(&scan_with(&good, &[]));
    let mut bytes = std::fs::read(&good).unwrap();
    assert!(bytes.len() > 4096);
    for b in &mut bytes[100..4096] {
        *b = 0xA5;
    }
    let damaged = dir.path().join("damaged.db");
    std::fs::write(&damaged, &bytes).unwrap();
    let run = scan_with(&damaged, &[]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    assert_eq!(std::fs::read(&damaged).unwrap(), bytes);

    // Written by a newer spfsleuth.
    let newer = dir.path().join("newer.db");
    ok(&scan_with(&newer, &[]));
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.execute("UPDATE schema_version SET version = 999", [])
            .unwrap();
    }
    let run = scan_with(&newer, &[]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("newer"), "{}", text(&run.stderr));

    // Held by another run: wait, then give up with a message.
    let busy = dir.path().join("busy.db");
    ok(&scan_with(&busy, &[]));
    let holder = rusqlite::Connection::open(&busy).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let run = scan_with(&busy, &["--state-timeout", "1"]);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("in use"),
        "{}",
        text(&run.stderr)
    );
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    ok(&scan_with(&busy, &[]));
}

/// SIGTERM in the middle of a nightly run: exit 143, the outputs and the state as the last
/// run left them, no temporary file anywhere.
#[test]
fn sigterm_during_a_run_finishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let csv = out.join("spam.csv");
    let summary = out.join("summary.txt");
    let state = out.join("state.db");
    let letters = out.join("letters");
    let args = |input: &str| -> Vec<String> {
        [
            "scan",
            input,
            "--zone",
            "samples/dns.zone",
            "-q",
            "-o",
            s(&csv),
            "--summary",
            s(&summary),
            "--state",
            s(&state),
            "--letter-from",
            "postmaster@compnet.example",
            "--reports",
            s(&letters),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    ok(&spfsleuth(
        &args("samples")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    let before = snapshot(&out);
    let mut child = Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
        .args(args("-"))
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Under way once its temporaries exist (the stdin pipe never ends).
    let started = std::time::Instant::now();
    let temporaries = || {
        std::fs::read_dir(&out)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            })
            .count()
    };
    while temporaries() < 3 && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(temporaries() >= 3, "the run's temporaries");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(143));
    // SQLite's -wal and -shm files may stay beside the database after a kill (they hold
    // no committed transaction; the next open discards them): the database itself and every
    // other file are as they were.
    let after = without_sqlite_files(snapshot(&out));
    let before = without_sqlite_files(before);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "no file added or removed"
    );
    for (path, bytes) in &before {
        assert!(after[path] == *bytes, "{} changed", path.display());
    }
}

#[test]
fn fail_on_findings_and_the_summary_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("r.csv");
    let run = spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "-q",
        "--fail-on-findings",
        "-o",
        s(&csv),
        "--summary",
        "-",
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let summary = text(&run.stdout);
    assert!(summary.starts_with("spfsleuth summary, "), "{summary}");
    assert!(summary.contains("This run only"), "{summary}");
    assert!(summary.contains("misconfigured"), "{summary}");
    // Both on stdout: refused.
    let run = spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "--summary",
        "-",
    ]);
    assert_eq!(run.status.code(), Some(2));
    // No finding: exit 0 with --fail-on-findings.
    let run = spfsleuth(&[
        "scan",
        "samples/Maildir/.Junk",
        "--zone",
        "samples/dns.zone",
        "-q",
        "--fail-on-findings",
        "--since",
        "2100-01-01",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    // --summary-only-changes needs --state.
    let run = spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "--summary",
        "-",
        "-o",
        s(&csv),
        "--summary-only-changes",
    ]);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn an_empty_mailbox_or_folder_is_not_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.mbox"), "").unwrap();
    for folder in ["Maildir/cur", "Maildir/new", "Maildir/tmp"] {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
    }
    for input in [dir.path().join("empty.mbox"), dir.path().join("Maildir")] {
        let run = spfsleuth(&["scan", s(&input), "--zone", "samples/dns.zone"]);
        assert_eq!(ok(&run).lines().count(), 1);
        assert!(
            text(&run.stderr).contains("0 input problems"),
            "{}",
            text(&run.stderr)
        );
    }
}
