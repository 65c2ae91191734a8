//! Golden tests for MTA log reading: every file in `../shared/formats/mta-logs/` (real-world
//! excerpts, read from there, never copied) and our own synthetic logs in `tests/data/logs/`,
//! against expected observations written by reading the lines, in
//! `tests/data/golden/logs/<file>.expected`.
//!
//! Expected-file format: one observation per line, tab-separated, `-` for "none":
//! `line  result  identity  client_ip  envelope_from  helo  domain  message_id  date  receiver
//! writer` (`domain`: the domain whose policy the verdict is about).
//! `client_ip` is `raw:TEXT` when the log holds text that is no IP; `envelope_from` is `<>` for
//! the null sender. Lines starting with `#` are comments. Every emitted observation must be
//! listed, in order: a line with no usable verdict must produce nothing.
//!
//! `GOLDEN_PRINT=1 cargo test --test golden_logs -- --nocapture` prints what is produced.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::SecondsFormat;
use spfsleuth::extract::{ExtractOptions, Observation};
use spfsleuth::input::Item;
use spfsleuth::input::log::{looks_like_log, read_log};

/// Year given for syslog timestamps (as `--log-year`).
const YEAR: i32 = 2024;

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/formats/mta-logs")
}

fn own_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/logs")
}

fn expected_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/logs")
}

fn read(path: &Path, year: Option<i32>) -> (Vec<Observation>, Vec<String>, u64) {
    let options = ExtractOptions {
        log_year: year,
        ..ExtractOptions::default()
    };
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = std::io::Cursor::new(bytes);
    let mut obs = Vec::new();
    let mut problems = Vec::new();
    let lines = read_log(
        Arc::from(path.display().to_string()),
        &mut reader,
        &options,
        chrono::NaiveDate::from_ymd_opt(1999, 12, 31),
        &mut |item| match item {
            Item::Observation(o) => obs.push(*o),
            Item::Problem(p) => problems.push(p.to_string()),
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (obs, problems, lines)
}

fn cell(v: Option<&str>) -> String {
    match v {
        None => "-".to_string(),
        Some("") => "<>".to_string(),
        Some(s) => s.to_string(),
    }
}

fn row(o: &Observation) -> String {
    let v = o
        .verdict
        .as_ref()
        .expect("a log observation carries a verdict");
    let line = match &o.locator {
        Some(l) => l.to_string().trim_start_matches("line ").to_string(),
        None => "-".to_string(),
    };
    let ip = match (v.client_ip, &v.client_ip_raw) {
        (Some(ip), _) => ip.to_string(),
        (None, Some(raw)) => format!("raw:{raw}"),
        (None, None) => "-".to_string(),
    };
    [
        line,
        cell(v.result.map(|r| r.as_str())),
        cell(v.identity.map(|i| i.as_str())),
        ip,
        match &v.envelope_from {
            None => "-".to_string(),
            Some(e) if e.is_empty() => "<>".to_string(),
            Some(e) => e.clone(),
        },
        cell(v.helo.as_deref()),
        cell(v.domain.as_deref()),
        cell(o.message_id.as_deref()),
        cell(
            o.date
                .map(|d| d.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                .as_deref(),
        ),
        cell(v.receiver.as_deref()),
        cell(v.writer.as_deref()),
    ]
    .join("\t")
}

fn expected(name: &str) -> Vec<String> {
    let path = expected_dir().join(format!("{name}.expected"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').map(str::trim).collect::<Vec<_>>().join("\t"))
        .collect()
}

fn check(path: &Path, year: Option<i32>) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    check_as(path, year, &name);
}

fn check_as(path: &Path, year: Option<i32>, name: &str) {
    let name = name.to_string();
    let (obs, problems, _) = read(path, year);
    let got: Vec<String> = obs.iter().map(row).collect();
    if std::env::var_os("GOLDEN_PRINT").is_some() {
        println!("== {name}");
        for (o, r) in obs.iter().zip(&got) {
            println!("{r}");
            for n in &o.notes {
                println!("#   {n}");
            }
        }
    }
    assert!(problems.is_empty(), "{name}: problems {problems:?}");
    if std::env::var_os("GOLDEN_PRINT").is_some()
        && !expected_dir().join(format!("{name}.expected")).exists()
    {
        return;
    }
    let want = expected(&name);
    let mut diffs = Vec::new();
    for i in 0..got.len().max(want.len()) {
        let g = got.get(i).map(String::as_str).unwrap_or("(nothing)");
        let w = want.get(i).map(String::as_str).unwrap_or("(nothing)");
        if g != w {
            diffs.push(format!("  want {w}\n   got {g}"));
        }
    }
    assert!(diffs.is_empty(), "{name}:\n{}", diffs.join("\n"));
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

#[test]
fn shared_real_world_logs() {
    let dir = shared_dir();
    if !dir.is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is missing (required in CI)",
            dir.display()
        );
        eprintln!("skipping: {} not found", dir.display());
        return;
    }
    let files = log_files(&dir);
    assert!(!files.is_empty(), "no logs in {}", dir.display());
    for path in files {
        check(&path, Some(YEAR));
    }
}

#[test]
fn own_synthetic_logs() {
    for path in log_files(&own_dir()) {
        check(&path, Some(YEAR));
    }
}

#[test]
fn every_log_is_sniffed_as_a_log() {
    let mut dirs = vec![own_dir()];
    if shared_dir().is_dir() {
        dirs.push(shared_dir());
    }
    for dir in dirs {
        for path in log_files(&dir) {
            let head = fs::read(&path).unwrap();
            let head = &head[..head.len().min(8192)];
            assert!(
                looks_like_log(head),
                "{} not taken for a log",
                path.display()
            );
        }
    }
}

fn malformed_dir() -> PathBuf {
    own_dir().join("malformed")
}

/// Binary junk, NUL bytes, invalid UTF-8, a truncated last line, an unclosed quote with many
/// continuation lines, impossible timestamps: never a panic, never an error, and the verdicts
/// that are still readable come out (expected files `malformed-<file>.expected`).
#[test]
fn malformed_logs() {
    let mut files: Vec<PathBuf> = fs::read_dir(malformed_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".log") {
            check_as(&path, Some(YEAR), &format!("malformed-{name}"));
        } else {
            let (obs, problems, _) = read(&path, Some(YEAR));
            assert!(obs.is_empty(), "{name}: {obs:?}");
            assert!(problems.is_empty(), "{name}: {problems:?}");
            let head = fs::read(&path).unwrap();
            assert!(!looks_like_log(&head), "{name} taken for a log");
        }
    }
}

fn read_bytes(bytes: Vec<u8>) -> (Vec<Observation>, Vec<String>, u64) {
    let options = ExtractOptions {
        log_year: Some(YEAR),
        ..ExtractOptions::default()
    };
    let mut reader = std::io::Cursor::new(bytes);
    let mut obs = Vec::new();
    let mut problems = Vec::new();
    let lines = read_log(
        Arc::from("mem"),
        &mut reader,
        &options,
        None,
        &mut |item| match item {
            Item::Observation(o) => obs.push(*o),
            Item::Problem(p) => problems.push(p.to_string()),
        },
    )
    .expect("reading from memory does not fail");
    (obs, problems, lines)
}

/// A 1 MB line is read whole; a 3 MB line is cut (reported), and the lines after it still
/// count and parse.
#[test]
fn very_long_lines() {
    let mut log = Vec::new();
    log.extend_from_slice(
        b"Mar  4 10:00:00 mx1 policyd-spf[1]: Fail; identity=mailfrom; client-ip=192.0.2.1; helo=",
    );
    log.extend(std::iter::repeat_n(b'h', 1_000_000));
    log.extend_from_slice(b"; envelope-from=a@b.example; receiver=r \n");
    log.extend(std::iter::repeat_n(b'x', 3_000_000));
    log.extend_from_slice(b"\nMar  4 10:00:01 mx1 policyd-spf[2]: Pass; identity=mailfrom; client-ip=192.0.2.2; helo=h.example; envelope-from=c@d.example; receiver=r \n");
    let (obs, problems, lines) = read_bytes(log);
    assert_eq!(lines, 3);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("line 2"), "{problems:?}");
    assert_eq!(obs.len(), 2);
    let v = obs[0].verdict.as_ref().unwrap();
    assert_eq!(v.envelope_from.as_deref(), Some("a@b.example"));
    assert_eq!(v.helo.as_ref().map(String::len), Some(1_000_000));
    assert_eq!(
        obs[1].locator.as_ref().map(|l| l.to_string()).as_deref(),
        Some("line 3")
    );
}

/// Deterministic mutations (byte flips, cuts, splices, inserted NULs and high bytes) of every
/// log sample: reading never panics.
#[test]
fn mutated_logs_never_panic() {
    let mut samples = Vec::new();
    let mut dirs = vec![own_dir()];
    if shared_dir().is_dir() {
        dirs.push(shared_dir());
    }
    for dir in dirs {
        for path in log_files(&dir) {
            samples.push(fs::read(path).unwrap());
        }
    }
    let mut state: u64 = 0x5eed_7208;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for round in 0..400 {
        let base = &samples[round % samples.len()];
        let mut bytes = base.clone();
        for _ in 0..(1 + next() % 8) {
            if bytes.is_empty() {
                break;
            }
            let at = next() % bytes.len();
            match next() % 6 {
                0 => bytes[at] = (next() % 256) as u8,
                1 => bytes.truncate(at),
                2 => {
                    let other = &samples[next() % samples.len()];
                    let from = next() % other.len().max(1);
                    let tail: Vec<u8> = other[from.min(other.len())..].to_vec();
                    bytes.splice(at..at, tail);
                }
                3 => bytes.insert(at, 0),
                4 => bytes.insert(at, 0xC3),
                _ => {
                    let end = (at + next() % 64).min(bytes.len());
                    bytes.drain(at..end);
                }
            }
        }
        let _ = looks_like_log(&bytes);
        let _ = read_bytes(bytes);
    }
}

/// Without `--log-year` each line is in the latest year that does not put it after the
/// log's modification date (a log from December into January is dated right), and without
/// a modification time (a stream) not after today; with `--log-year` the first line is in
/// that year and the year moves on at the turn of the year.
#[test]
fn year_sources() {
    let path = own_dir().join("year-rollover.log");
    let bytes = fs::read(&path).unwrap();
    let dates = |log_year: Option<i32>, modified: Option<chrono::NaiveDate>| {
        let options = ExtractOptions {
            log_year,
            ..ExtractOptions::default()
        };
        let mut reader = std::io::Cursor::new(bytes.clone());
        let mut dates = Vec::new();
        read_log(
            Arc::from("y"),
            &mut reader,
            &options,
            modified,
            &mut |item| {
                if let Item::Observation(o) = item {
                    dates.push(o.date.unwrap());
                }
            },
        )
        .unwrap();
        dates
    };
    let years = |dates: Vec<chrono::DateTime<chrono::Utc>>| {
        dates
            .iter()
            .map(|d| d.format("%Y").to_string())
            .collect::<Vec<_>>()
    };
    let written = chrono::NaiveDate::from_ymd_opt(2031, 1, 2);
    assert_eq!(
        years(dates(None, written)),
        ["2030", "2031", "2030", "2031"]
    );
    assert_eq!(
        years(dates(Some(2020), written)),
        ["2020", "2021", "2020", "2021"]
    );
    let now = chrono::Utc::now();
    for date in dates(None, None) {
        assert!(
            date <= now + chrono::Duration::days(2),
            "{date} is in the future"
        );
        assert!(
            date > now - chrono::Duration::days(367),
            "{date} is over a year ago"
        );
    }
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Write a busy Postfix + pypolicyd-spf log: `messages` transactions, several sessions open
/// at once, about 11 lines per message.
fn write_busy_postfix_log(path: &Path, messages: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let results = [
        "Pass",
        "Fail",
        "Softfail",
        "Neutral",
        "None",
        "Permerror",
        "Temperror",
    ];
    for i in 0..messages {
        let secs = i / 50;
        let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
        let day = 1 + secs / 86_400 % 28;
        let ts = format!("Mar {day:2} {h:02}:{m:02}:{s:02}");
        let pid = 10_000 + i % 400;
        let ip = format!("198.51.{}.{}", i / 250 % 250, i % 250);
        let qid = format!("{:010X}", 0x1_0000_0000u64 + i as u64 * 7919);
        let res = results[i % results.len()];
        let dom = format!("sender{}.example", i % 997);
        let lines = [
            format!("{ts} mx1 postfix/smtpd[{pid}]: connect from mail.{dom}[{ip}]"),
            format!(
                "{ts} mx1 policyd-spf[{}]: {res}; identity=mailfrom; client-ip={ip}; helo=mail.{dom}; envelope-from=news{i}@{dom}; receiver=user{}@mx1.example ",
                50_000 + i,
                i % 100
            ),
            format!(
                "{ts} mx1 policyd-spf[{}]: prepend Received-SPF: {res} (mailfrom) identity=mailfrom; client-ip={ip}; helo=mail.{dom}; envelope-from=news{i}@{dom}; receiver=user{}@mx1.example ",
                50_000 + i,
                i % 100
            ),
            format!("{ts} mx1 postfix/smtpd[{pid}]: {qid}: client=mail.{dom}[{ip}]"),
            format!("{ts} mx1 postfix/cleanup[900]: {qid}: message-id=<{i}.{qid}@{dom}>"),
            format!("{ts} mx1 opendkim[800]: {qid}: DKIM-Signature field added (s=mail, d={dom})"),
            format!(
                "{ts} mx1 postfix/qmgr[700]: {qid}: from=<news{i}@{dom}>, size={}, nrcpt=1 (queue active)",
                3000 + i % 5000
            ),
            format!(
                "{ts} mx1 postfix/smtpd[{pid}]: disconnect from mail.{dom}[{ip}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5"
            ),
            format!(
                "{ts} mx1 postfix/local[600]: {qid}: to=<user{}@mx1.example>, relay=local, delay=0.5, delays=0.1/0/0/0.4, dsn=2.0.0, status=sent (delivered to mailbox)",
                i % 100
            ),
            format!("{ts} mx1 postfix/qmgr[700]: {qid}: removed"),
            format!(
                "{ts} mx1 dovecot: lmtp(user{}): msgid=<{i}.{qid}@{dom}>: saved mail to INBOX",
                i % 100
            ),
        ];
        for l in lines {
            writeln!(out, "{l}").unwrap();
        }
    }
    out.flush().unwrap();
}

/// Throughput and memory of log reading, with 1 and 2 worker threads. Figures, not asserts:
/// `cargo test --release --test golden_logs -- --ignored --nocapture log_reading_figures`
/// (`BENCH_MESSAGES` sets the size; default 200,000 messages, about 2.2 M lines).
#[test]
#[ignore]
fn log_reading_figures() {
    let messages: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.log");
    write_busy_postfix_log(&path, messages);
    let size = fs::metadata(&path).unwrap().len() as f64 / (1 << 20) as f64;
    let rss_before = peak_rss_mib().unwrap_or(0.0);
    // warm the page cache (streaming: the test's own memory stays small)
    let _ = std::io::copy(&mut fs::File::open(&path).unwrap(), &mut std::io::sink());
    let mut seconds = Vec::new();
    let thread_counts: Vec<usize> = match std::env::var("BENCH_THREADS") {
        Ok(v) => v.split(',').filter_map(|t| t.trim().parse().ok()).collect(),
        Err(_) => vec![1, 2],
    };
    for threads in thread_counts {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let start = std::time::Instant::now();
        let cpu_start = cpu_seconds();
        let (count, lines, with_mid) = pool.install(|| {
            let file = fs::File::open(&path).unwrap();
            let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
            let options = ExtractOptions {
                log_year: Some(YEAR),
                ..ExtractOptions::default()
            };
            let mut count = 0u64;
            let mut with_mid = 0u64;
            let lines = read_log(
                Arc::from("busy.log"),
                &mut reader,
                &options,
                None,
                &mut |item| {
                    if let Item::Observation(o) = item {
                        count += 1;
                        with_mid += u64::from(o.message_id.is_some());
                    }
                },
            )
            .unwrap();
            (count, lines, with_mid)
        });
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_start;
        seconds.push(secs);
        assert_eq!(count as usize, messages);
        assert_eq!(with_mid as usize, messages);
        println!(
            "threads={threads}: {lines} lines, {size:.0} MiB, {count} observations in {secs:.2} s ({cpu:.2} s CPU) = {:.0} MiB/s, {:.0} k lines/s",
            size / secs,
            lines as f64 / secs / 1000.0
        );
    }
    if let [one, two, ..] = seconds[..] {
        println!("speed-up 2 threads vs 1: {:.2}x", one / two);
    }
    println!(
        "peak RSS {:.0} MiB (before reading: {rss_before:.0} MiB)",
        peak_rss_mib().unwrap_or(0.0)
    );
}
