//! `check --batch` and the single-check report, through the library functions with an
//! in-memory zone. Golden files live in `tests/data/spf/`; set `UPDATE_GOLDEN=1` to rewrite
//! them after a deliberate change (and review the diff).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spfsleuth::cli::check::{
    BATCH_HEADER, BatchOptions, BatchSummary, render_evaluation, run_batch,
};
use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::dns::{DnsError, Lookup, LookupFuture, RecordType};
use spfsleuth::model::Identity;
use spfsleuth::spf::{Profile, Request, check_host};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/spf")
        .join(name)
}

fn golden(name: &str, actual: &str) {
    let path = data(name);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

/// The zone behind the golden files.
fn zone() -> MemoryZone {
    let mut z = MemoryZone::new();
    z.add_txt(
        "sub.example.co.jp",
        "v=spf1 ip4:192.0.2.92 ip4:198.51.100.69/27 -all exp=explain.example.co.jp",
    );
    z.add_txt(
        "explain.example.co.jp",
        "%{i} is not allowed to send mail for %{d}; see https://example.co.jp/spf",
    );
    z.add_txt("example.co.jp", "v=spf1 include:_spf.example.co.jp ~all");
    z.add_txt("_spf.example.co.jp", "v=spf1 ip4:203.0.113.154 -all");
    z.add_txt("mx1.example.co.jp", "v=spf1 a -all");
    z.add_a("mx1.example.co.jp", Ipv4Addr::new(198, 51, 100, 70));
    z.add_txt("v6.example.net", "v=spf1 mx -all");
    z.add_mx("v6.example.net", 10, "mail.example.net");
    z.add_aaaa("mail.example.net", "2001:db8::25".parse().unwrap());
    z.add_txt(
        "broken.example.org",
        "v=spf1 ip4:192.0.2.1 include: _spf.example.org -all",
    );
    z.fail_name("slow.example.org", DnsError::Timeout);
    z.add_txt("evil.example.org", "v=spf1 -all");
    z
}

async fn batch(
    lookup: Arc<dyn Lookup>,
    input: &[u8],
    concurrency: usize,
) -> (String, String, BatchSummary) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let summary = run_batch(
        lookup,
        Arc::new(Profile::default()),
        input,
        &mut out,
        &mut err,
        BatchOptions {
            identity: Identity::MailFrom,
            concurrency,
        },
    )
    .await
    .unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        summary,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_matches_golden() {
    let input = std::fs::read(data("batch/input.tsv")).unwrap();
    let (out, err, summary) = batch(Arc::new(zone()), &input, 4).await;
    assert_eq!(err, "");
    assert_eq!(
        summary,
        BatchSummary {
            rows: 10,
            malformed: 0
        }
    );
    assert!(out.starts_with(&(BATCH_HEADER.join(",") + "\n")));
    golden("batch/expected.csv", &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lines_get_empty_rows_and_the_batch_goes_on() {
    let input = std::fs::read(data("malformed/batch.tsv")).unwrap();
    let (out, err, summary) = batch(Arc::new(zone()), &input, 4).await;
    assert_eq!(
        summary,
        BatchSummary {
            rows: 7,
            malformed: 6
        }
    );
    golden("malformed/batch.csv", &out);
    golden("malformed/batch.stderr", &err);
    // The good line after the bad ones was evaluated.
    assert!(out.lines().last().unwrap().contains(",pass,"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_keep_input_order_under_concurrency() {
    let mut z = MemoryZone::new();
    let mut input = String::new();
    for i in 0..2000u32 {
        let domain = format!("d{i}.example.com");
        z.add_txt(
            &domain,
            &format!("v=spf1 ip4:10.0.{}.{} -all", i / 256, i % 256),
        );
        input.push_str(&format!(
            "10.0.{}.{}\tuser@{domain}\thelo.example\n",
            i / 256,
            i % 256
        ));
    }
    let (out, _, summary) = batch(Arc::new(z), input.as_bytes(), 64).await;
    assert_eq!(summary.rows, 2000);
    for (i, row) in out.lines().skip(1).enumerate() {
        assert!(
            row.contains(&format!("user@d{i}.example.com,")),
            "row {i}: {row}"
        );
        assert!(row.contains(",pass,"), "row {i}: {row}");
    }
}

/// A DNS that answers only after a while, then times out: the batch ends, with temperror.
struct SlowDns;

impl Lookup for SlowDns {
    fn lookup<'a>(&'a self, _name: &'a str, _rtype: RecordType) -> LookupFuture<'a> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(DnsError::Timeout)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_become_temperror_rows_without_hanging() {
    let mut input = String::new();
    for i in 0..100 {
        input.push_str(&format!("192.0.2.{i}\tuser@example.com\thelo.example\n"));
    }
    let start = Instant::now();
    let (out, _, summary) = batch(Arc::new(SlowDns), input.as_bytes(), 100).await;
    assert_eq!(summary.rows, 100);
    assert!(
        out.lines().skip(1).all(|r| r.contains(",temperror,")),
        "{out}"
    );
    assert!(out.contains("DNS TXT query for example.com: timed out"));
    // Evaluated concurrently: far less than 100 x 50 ms.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn single_check_report_matches_golden() {
    let z = zone();
    let profile = Profile::default();
    let mut text = String::new();
    for (ip, sender, helo, identity) in [
        (
            "203.0.113.154",
            "error@sub.example.co.jp",
            "mx1.example.co.jp",
            Identity::MailFrom,
        ),
        (
            "203.0.113.154",
            "news@example.co.jp",
            "mx1.example.co.jp",
            Identity::MailFrom,
        ),
        ("198.51.100.70", "", "mx1.example.co.jp", Identity::MailFrom),
        (
            "198.51.100.71",
            "news@example.co.jp",
            "mx1.example.co.jp",
            Identity::Helo,
        ),
        (
            "192.0.2.1",
            "user@broken.example.org",
            "helo.example",
            Identity::MailFrom,
        ),
        (
            "192.0.2.1",
            "user@slow.example.org",
            "helo.example",
            Identity::MailFrom,
        ),
    ] {
        let request = Request {
            ip: ip.parse().unwrap(),
            mail_from: sender.into(),
            helo: helo.into(),
            identity,
        };
        let evaluation = futures::executor::block_on(check_host(&z, &profile, &request));
        text.push_str(&format!(
            "$ spfsleuth check {ip} '{sender}' --helo {helo} --identity {identity}\n"
        ));
        text.push_str(&render_evaluation(&request, &profile, &evaluation));
        text.push('\n');
    }
    golden("check_report.txt", &text);
}
