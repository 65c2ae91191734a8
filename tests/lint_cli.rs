//! `spfsleuth lint` as a user runs it: the binary over the zone file
//! `tests/data/lint/example.zone`, checking stdout, stderr and the exit status. The expected
//! output is `tests/data/lint/example.golden.txt`; set `UPDATE_GOLDEN=1` to rewrite it after
//! a deliberate change (and review the diff).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/lint")
        .join(name)
}

fn lint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
        .arg("lint")
        .args(args)
        .output()
        .expect("run spfsleuth")
}

fn lint_zone(args: &[&str]) -> Output {
    let zone = data("example.zone");
    let zone = zone.to_str().expect("UTF-8 path");
    let mut all = vec!["--zone", zone];
    all.extend_from_slice(args);
    lint(&all)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const DOMAINS: [&str; 7] = [
    "good.example.com",
    "soft.example.com",
    "guide.example.com",
    "twice.example.com",
    "glued.example.com",
    "big.example.com",
    "flaky.example.com",
];

#[test]
fn every_domain_of_the_fixture_matches_the_golden_output() {
    let out = lint_zone(&DOMAINS);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let actual = stdout(&out);
    let path = data("example.golden.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(actual, expected, "output differs from {}", path.display());
    // Grouped per domain, in the order given, each group ending with its summary.
    let summaries: Vec<&str> = actual
        .lines()
        .filter(|l| l.contains(": summary: "))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(summaries, DOMAINS);
}

#[test]
fn a_clean_domain_exits_0_with_its_summary() {
    let out = lint_zone(&["good.example.com."]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "good.example.com: summary: 2/10 DNS lookups, 0/2 void lookups, 0 errors, 0 warnings, 0 info; record \"v=spf1 ip4:192.0.2.0/24 mx include:_spf.good.example.com -all\"\n"
    );
}

#[test]
fn warnings_alone_exit_0() {
    let out = lint_zone(&["soft.example.com"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out).lines().count(), 3);
}

#[test]
fn one_error_among_clean_domains_exits_1() {
    let out = lint_zone(&["good.example.com", "twice.example.com"]);
    assert_eq!(out.status.code(), Some(1));
    let out = lint_zone(&["not a domain"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "not a domain: error: \"not a domain\" is not a domain SPF can be checked for: it contains U+0020 (space)\nnot a domain: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; no record\n"
    );
}

#[test]
fn the_profile_sets_the_limits() {
    let out = lint_zone(&["--max-lookups", "12", "big.example.com"]);
    let text = stdout(&out);
    assert!(
        text.contains("big.example.com: warning: 11 of 12 DNS lookups used over the include tree (RFC 7208 §4.6.4): one more lookup is left\n"),
        "{text}"
    );
    assert!(
        text.contains("summary: 11/12 DNS lookups, 1/2 void lookups"),
        "{text}"
    );
    let out = lint_zone(&["--max-void-lookups", "0", "big.example.com"]);
    assert!(stdout(&out).contains(
        "big.example.com: error: 1 void lookups over the include tree, more than the limit of 0"
    ));
}

#[test]
fn fatal_errors_exit_2() {
    // A zone file that cannot be read.
    let out = lint(&["--zone", "/nonexistent/spfsleuth.zone", "example.com"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("/nonexistent/spfsleuth.zone"),
        "{}",
        stderr(&out)
    );
    // A zone file with a syntax error.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.zone");
    std::fs::write(&bad, "$ORIGIN example.com.\n@ TXT \"unterminated\n").unwrap();
    let out = lint(&["--zone", bad.to_str().unwrap(), "example.com"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("bad.zone"), "{}", stderr(&out));
    // Bad arguments.
    assert_eq!(lint(&[]).status.code(), Some(2));
    assert_eq!(
        lint_zone(&["--max-lookups", "ten", "example.com"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        lint_zone(&["--dns-timeout", "-1", "example.com"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn help_says_what_is_checked() {
    let out = lint(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for needle in [
        "What is checked",
        "several v=spf1 records",
        "--max-lookups",
        "void lookups",
        "ptr (RFC 7208 §5.5",
        "+all",
        "255 bytes",
        "loops",
        "Exit status: 1 when any error",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn save_dns_replays_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved.zone");
    let first = lint_zone(&[
        "--save-dns",
        saved.to_str().unwrap(),
        "big.example.com",
        "flaky.example.com",
    ]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let replay = lint(&[
        "--zone",
        saved.to_str().unwrap(),
        "big.example.com",
        "flaky.example.com",
    ]);
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    assert_eq!(stdout(&replay), stdout(&first));
}

/// The same fixture served by a DNS server on 127.0.0.1 and read through `--nameserver`:
/// the strings of each TXT record survive the wire, and the report is the same as with
/// `--zone` (the timeout directive of the zone makes the server drop those queries).
#[test]
fn nameserver_gives_the_same_report_as_the_zone_file() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let zone = spfsleuth::dns::zonefile::load(&[data("example.zone")]).unwrap();
    let server = runtime
        .block_on(spfsleuth::dns::server::DnsServer::start(
            zone,
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let addr = server.local_addr().to_string();
    let over_dns = lint(
        &[
            &["--nameserver", addr.as_str(), "--dns-timeout", "0.5"],
            &DOMAINS[..],
        ]
        .concat(),
    );
    drop(server);
    let from_zone = lint_zone(&DOMAINS);
    assert_eq!(over_dns.status.code(), Some(1), "{}", stderr(&over_dns));
    assert_eq!(stdout(&over_dns), stdout(&from_zone));
}

/// Malformed records as published in the wild (`tests/data/lint/malformed.zone`): each is
/// reported with its position and text, and the golden output is
/// `tests/data/lint/malformed.golden.txt`.
#[test]
fn malformed_records_match_the_golden_output() {
    let zone = data("malformed.zone");
    let domains: Vec<String> = (1..=15).map(|i| format!("m{i:02}.example.org")).collect();
    let mut args = vec!["--zone", zone.to_str().unwrap()];
    args.extend(domains.iter().map(String::as_str));
    let out = lint(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let actual = stdout(&out);
    let path = data("malformed.golden.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(actual, expected, "output differs from {}", path.display());
    // Every domain but the one with a correct split has an error.
    for domain in &domains {
        let has_error = actual
            .lines()
            .any(|l| l.starts_with(&format!("{domain}: error: ")));
        assert_eq!(has_error, domain != "m12.example.org", "{domain}");
    }
}
