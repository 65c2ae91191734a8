//! `spfsleuth check` through a real DNS server on 127.0.0.1 (`--nameserver`) gives the same
//! answers as the same zone read with `--zone`; a server that times out or answers SERVFAIL
//! gives temperror rows with a reason, within the timeout.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use spfsleuth::dns::server::{DnsServer, Source};
use spfsleuth::dns::zonefile;

const ZONES: [&str; 2] = ["samples/dns.zone", "tests/data/spf/dns-failures.zone"];

fn check(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
        .arg("check")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn with_server<T>(body: impl FnOnce(SocketAddr) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let zone = zonefile::load(&ZONES.map(Into::into)).unwrap();
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

fn zone_args() -> Vec<&'static str> {
    ZONES.iter().flat_map(|z| ["--zone", *z]).collect()
}

#[test]
fn batch_over_loopback_dns_equals_batch_over_zone_files() {
    let input = std::fs::read("tests/data/spf/dns-batch.tsv").unwrap();
    let mut args = vec!["--batch"];
    args.extend(zone_args());
    let from_zone = check(&args, &input);
    assert!(from_zone.status.success());
    let started = Instant::now();
    let from_dns = with_server(|addr| {
        check(
            &[
                "--batch",
                "--nameserver",
                &addr.to_string(),
                "--dns-timeout",
                "0.5",
            ],
            &input,
        )
    });
    assert!(from_dns.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a timeout must not hang the batch"
    );
    let csv = String::from_utf8(from_zone.stdout).unwrap();
    assert_eq!(csv, String::from_utf8(from_dns.stdout).unwrap());

    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + 13, "{csv}");
    assert!(
        rows[1].starts_with(
            "198.51.100.154,error@sub.example.co.jp,sub.example.co.jp,fail,sub.example.co.jp: -all,"
        ),
        "{csv}"
    );
    assert!(
        rows[2].contains(",pass,example.co.jp: +ip4:198.51.100.128/25,"),
        "{csv}"
    );
    assert!(
        rows[4].contains(",pass,shop.example.net: include:_spf.esp.example,"),
        "{csv}"
    );
    assert!(rows[6].contains(",permerror,"), "{csv}");
    assert!(rows[7].contains(",permerror,"), "{csv}");
    assert!(
        rows[9].starts_with("192.0.2.120,,mail.status.example.org,none,"),
        "null sender checks postmaster@HELO: {csv}"
    );
    assert!(
        rows[11].starts_with("192.0.2.1,x@slow.example,mx.slow.example,temperror,"),
        "{csv}"
    );
    assert!(
        rows[12].starts_with("192.0.2.1,x@broken-dns.example,mx.broken-dns.example,temperror,"),
        "{csv}"
    );
    assert!(
        rows[13].starts_with("not-an-ip,x@friend.example,mail.friend.example,,"),
        "{csv}"
    );
    assert!(String::from_utf8_lossy(&from_dns.stderr).contains("not-an-ip"));
}

#[test]
fn single_check_over_loopback_dns_prints_the_trace() {
    let out = with_server(|addr| {
        check(
            &[
                "198.51.100.154",
                "news@example.co.jp",
                "--nameserver",
                &addr.to_string(),
            ],
            b"",
        )
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("result: pass\n"), "{text}");
    assert!(
        text.contains("matched: example.co.jp: +ip4:198.51.100.128/25"),
        "{text}"
    );
    assert!(text.contains("trace:"), "{text}");
}

#[test]
fn a_timeout_is_a_temperror_within_the_timeout() {
    let started = Instant::now();
    let out = with_server(|addr| {
        check(
            &[
                "192.0.2.1",
                "x@slow.example",
                "--nameserver",
                &addr.to_string(),
                "--dns-timeout",
                "0.5",
            ],
            b"",
        )
    });
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("result: temperror\n"), "{text}");
    assert!(text.contains("slow.example"), "{text}");
}
