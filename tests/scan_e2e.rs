//! `spfsleuth scan` end to end: the bundled samples give the golden CSV through a zone file,
//! through a real DNS server on loopback, and through a `--save-dns` replay; bad input and a
//! DNS server that stops answering give rows and messages, never a failed run.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spfsleuth::dns::server::{DnsServer, Source};
use spfsleuth::dns::{DnsError, Lookup, LookupFuture, RecordType, zonefile};

const GOLDEN: &str = "tests/data/scan/samples.csv";

fn spfsleuth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run spfsleuth")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 CSV")
}

/// Compare with the golden file; `BLESS=1` rewrites it.
fn assert_golden(actual: &str) {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(GOLDEN, actual).unwrap();
    }
    let expected = std::fs::read_to_string(GOLDEN).expect("golden CSV (BLESS=1 writes it)");
    if actual != expected {
        for (i, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
            if a != e {
                panic!("line {} differs:\n  got:      {a}\n  expected: {e}", i + 1);
            }
        }
        panic!(
            "line counts differ: got {}, expected {}",
            actual.lines().count(),
            expected.lines().count()
        );
    }
}

fn run_server<T>(source: Source, body: impl FnOnce(SocketAddr) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(DnsServer::start(source, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let result = body(server.local_addr());
    drop(server);
    result
}

#[test]
fn samples_with_zone_file_match_the_golden_csv() {
    let out = spfsleuth(&["scan", "samples", "--zone", "samples/dns.zone", "--quiet"]);
    assert_golden(&stdout(&out));
}

#[test]
fn samples_through_a_loopback_dns_server_give_the_same_rows() {
    let zone = zonefile::load(&["samples/dns.zone".into()]).unwrap();
    let csv = run_server(Source::from(zone), |addr| {
        let out = spfsleuth(&[
            "scan",
            "samples",
            "--nameserver",
            &addr.to_string(),
            "--quiet",
        ]);
        stdout(&out)
    });
    assert_golden(&csv);
}

#[test]
fn save_dns_replays_to_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved.zone");
    let saved = saved.to_str().unwrap();
    let first = stdout(&spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "--save-dns",
        saved,
        "-q",
    ]));
    let replay = stdout(&spfsleuth(&["scan", "samples", "--zone", saved, "-q"]));
    assert_eq!(first, replay);
    let text = std::fs::read_to_string(saved).unwrap();
    assert!(text.contains("sub.example.co.jp."), "{text}");
}

#[test]
fn output_file_is_written_atomically_with_a_summary_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("report.csv");
    let out = spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nothing on stdout with -o");
    let csv = std::fs::read_to_string(&target).unwrap();
    assert_golden(&csv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("misconfigured"), "{stderr}");
    assert!(stderr.contains("sub.example.co.jp"), "{stderr}");
    // Only the report in the directory: no temporary left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn evidence_reports_tell_the_sender_what_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let out = spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "-q",
        "--letter-from",
        "postmaster@compnet.example",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    stdout(&out);
    // The letters themselves are checked in tests/letters.rs.
    let letter = std::fs::read_to_string(reports.join("sub.example.co.jp.eml")).unwrap();
    assert!(
        letter.contains("To: <postmaster@sub.example.co.jp>"),
        "{letter}"
    );
    // Spoofed and ordinary senders get no letter.
    assert!(!reports.join("bank.example.eml").exists());
    assert!(!reports.join("friend.example.eml").exists());
}

#[test]
fn bad_input_is_reported_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("broken.mbox");
    let mut f = std::fs::File::create(&mbox).unwrap();
    f.write_all(
        b"From a@b.example Mon Nov  2 09:15:02 2026\n\
          Received-SPF: fail (x) client-ip=203.0.113.250; envelope-from=security@bank.example; helo=h.example\n\
          From: security@bank.example\n\nbody\n\
          From nobody Mon Nov  2 09:16:02 2026\n\x00\x01\x02 junk without headers\n\n\
          From c@d.example Mon Nov  2 09:17:02 2026\nSubject: no verdict at all\n\nbody\n",
    )
    .unwrap();
    drop(f);
    std::fs::write(
        dir.path().join("junk.bin"),
        [0u8, 159, 146, 150, 0, 1, 2, 3],
    )
    .unwrap();
    let out = spfsleuth(&[
        "scan",
        dir.path().to_str().unwrap(),
        "--zone",
        "samples/dns.zone",
    ]);
    let csv = stdout(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert!(rows.iter().any(|r| r.contains(",unauthorized,")), "{csv}");
    assert!(rows.iter().any(|r| r.contains(",unverifiable,")), "{csv}");
    assert!(stderr.contains("junk.bin"), "{stderr}");
    assert!(!stderr.contains("input problems: 0"), "{stderr}");
}

#[test]
fn a_missing_path_is_fatal_with_exit_status_2() {
    let out = spfsleuth(&["scan", "no/such/dir", "--zone", "samples/dns.zone"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/dir"));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unusable_reports_path_is_fatal_before_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let reports = file.to_str().unwrap();
    let out = spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "--letter-from",
        "postmaster@compnet.example",
        "--reports",
        reports,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(reports));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}

/// An unusable `--save-dns` or `-o` path is found before the scan, not after a whole
/// night's work: exit 2, nothing on stdout, no file left behind.
#[test]
fn unusable_output_paths_are_fatal_before_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("answers.zone");
    let out = spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "--save-dns",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--save-dns"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");

    let out = spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "-o",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("directory"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A run stopped by SIGTERM (a cron job's `timeout`) or Ctrl-C exits 128 + the signal,
/// leaves the old report in place and no temporary file beside it.
#[test]
fn a_stopped_run_leaves_the_old_report_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("report.csv");
    std::fs::write(&target, "yesterday\n").unwrap();
    for signal in ["TERM", "INT"] {
        // Reading a stdin that never ends: the run is under way until it is stopped.
        let mut child = Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
            .args(["scan", "-", "--zone", "samples/dns.zone", "-o"])
            .arg(&target)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let files = || std::fs::read_dir(dir.path()).unwrap().count();
        let started = std::time::Instant::now();
        while files() < 2 && started.elapsed() < std::time::Duration::from_secs(20) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(files(), 2, "the temporary file beside the report");
        // The handler is installed right after the command line is parsed, long before
        // the output is opened; a little more time for the thread to register it.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let killed = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        let number = if signal == "TERM" { 15 } else { 2 };
        assert_eq!(status.code(), Some(128 + number), "SIG{signal}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "yesterday\n");
        assert_eq!(files(), 1, "SIG{signal} left a temporary file");
    }
}

/// Answers the first `budget` questions from the zone, then stops answering (the server
/// drops the queries, as a dead server would).
struct Dying {
    zone: Arc<dyn Lookup>,
    budget: AtomicU64,
}

impl Lookup for Dying {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        if self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
            .is_ok()
        {
            self.zone.lookup(name, rtype)
        } else {
            Box::pin(async { Err(DnsError::Timeout) })
        }
    }
}

#[test]
fn a_dns_server_that_stops_answering_halfway_gives_dns_unavailable_rows() {
    let zone: Arc<dyn Lookup> = Arc::new(zonefile::load(&["samples/dns.zone".into()]).unwrap());
    let dying = Dying {
        zone,
        budget: AtomicU64::new(8),
    };
    let out = run_server(Source::Lookup(Arc::new(dying)), |addr| {
        spfsleuth(&[
            "scan",
            "samples/spam.mbox",
            "--nameserver",
            &addr.to_string(),
            "--dns-timeout",
            "0.3",
            "--dns-concurrency",
            "1",
        ])
    });
    let csv = stdout(&out);
    assert!(csv.contains(",dns_unavailable,"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 8, "one row per message:\n{csv}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dns_unavailable"), "{stderr}");
}

#[test]
fn the_nightly_run_notices_when_the_sender_fixes_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("fixed.zone");
    let zone = std::fs::read_to_string("samples/dns.zone")
        .unwrap()
        .replace(
            "\"v=spf1 ip4:198.51.100.92 ip4:203.0.113.64/27 -all\"",
            "\"v=spf1 ip4:198.51.100.92 ip4:198.51.100.154 ip4:203.0.113.64/27 -all\"",
        );
    std::fs::write(&fixed, zone).unwrap();
    let reports = dir.path().join("letters");
    let csv = stdout(&spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        fixed.to_str().unwrap(),
        "-q",
        "--letter-from",
        "postmaster@compnet.example",
        "--reports",
        reports.to_str().unwrap(),
    ]));
    let newsletter: Vec<&str> = csv
        .lines()
        .filter(|l| l.contains("error@sub.example.co.jp"))
        .collect();
    assert_eq!(newsletter.len(), 4, "{csv}");
    for row in newsletter {
        assert!(
            row.contains(",fixed_since,\"Recorded fail on 2026-11-"),
            "{row}"
        );
        assert!(row.contains("sub.example.co.jp authorizes 198.51.100.154 now (sub.example.co.jp: ip4:198.51.100.154)"), "{row}");
    }
    // Once fixed, the letter is a short notice that nothing needs changing.
    let index = std::fs::read_to_string(reports.join("index.csv")).unwrap();
    assert!(
        index.contains(",sub.example.co.jp,fixed_since,4,"),
        "{index}"
    );
}
