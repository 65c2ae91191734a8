//! Golden tests for the SPF verdict header parsers: every entry of the real-world corpus in
//! `../shared/formats/` (read from there at test time, never copied) and our synthetic
//! fixtures in `tests/data/headers/`, each compared with the expected values written by hand
//! in `tests/data/golden/headers/*.yaml`; plus a malformed set that must never panic.
//!
//! Golden files list the entries in corpus order with the entry's `# source:` line, so a
//! reordered, added or removed corpus entry fails the test instead of silently shifting
//! expectations. A field missing from an expected verdict means "must be empty".
//!
//! `GOLDEN_DUMP_DIR=dir cargo test --test golden_headers` writes what the parsers produce in
//! the golden format (for reviewing a change, not for blessing it blindly).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use spfsleuth::extract::header_block;
use spfsleuth::extract::{
    RecordedVerdict, VerdictSource, auth_results, other_headers, received_spf,
};

/// One corpus entry: its `# source:` text and the raw header lines.
struct CorpusEntry {
    source: String,
    lines: Vec<String>,
}

/// The header the entry holds: field name (None when the entry is not a header, e.g. a log
/// excerpt) and the unfolded value.
struct Header {
    name: Option<String>,
    value: String,
}

#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct GoldenEntry {
    entry: usize,
    source: String,
    field: Option<String>,
    verdicts: Vec<Expected>,
}

#[derive(Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_ip_raw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    envelope_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    helo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receiver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    writer: Option<String>,
}

impl Expected {
    fn of(v: &RecordedVerdict) -> Expected {
        Expected {
            result: v.result.map(|r| r.to_string()),
            client_ip: v.client_ip.map(|ip| ip.to_string()),
            client_ip_raw: v.client_ip_raw.clone(),
            identity: v.identity.map(|i| i.to_string()),
            envelope_from: v.envelope_from.clone(),
            domain: v.domain.clone(),
            helo: v.helo.clone(),
            receiver: v.receiver.clone(),
            writer: v.writer.clone(),
        }
    }
}

/// Which corpus file an entry comes from decides how a non-`Received-SPF`/AR entry is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ReceivedSpf,
    AuthResults,
    Other,
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Split a corpus file into entries: `# source:` starts one, other `#` lines are metadata,
/// the header lines follow, a blank line ends it.
fn split_corpus(text: &str) -> Vec<CorpusEntry> {
    let mut entries = Vec::new();
    let mut current: Option<CorpusEntry> = None;
    for line in text.lines() {
        if let Some(source) = line.strip_prefix("# source:") {
            if let Some(done) = current.take() {
                entries.push(done);
            }
            current = Some(CorpusEntry {
                source: source.trim().to_string(),
                lines: Vec::new(),
            });
        } else if line.trim().is_empty() {
            if let Some(done) = current.take() {
                entries.push(done);
            }
        } else if let Some(entry) = current.as_mut() {
            if entry.lines.is_empty() && line.starts_with('#') {
                continue;
            }
            entry.lines.push(line.to_string());
        }
    }
    entries.extend(current);
    entries
}

/// Turn an entry's lines into one header. Well-folded entries go through the real header
/// block parser; entries whose continuation lines lost their leading whitespace (the corpus
/// notes say the 2004 web page did that) get one space back per line, as the notes ask.
fn header_of(entry: &CorpusEntry) -> Header {
    let folded_properly = entry
        .lines
        .iter()
        .skip(1)
        .all(|l| l.starts_with(' ') || l.starts_with('\t'));
    let raw = if folded_properly {
        entry.lines.join("\n")
    } else {
        let mut joined = String::new();
        for (i, line) in entry.lines.iter().enumerate() {
            if i > 0 {
                joined.push('\n');
                if !line.starts_with(' ') && !line.starts_with('\t') {
                    joined.push(' ');
                }
            }
            joined.push_str(line);
        }
        joined
    };
    let mut block = raw.clone().into_bytes();
    block.push(b'\n');
    let (fields, skipped) = header_block::parse(&block);
    if let [field] = fields.as_slice()
        && skipped == 0
    {
        return Header {
            name: Some(field.name.clone()),
            value: field.value.clone(),
        };
    }
    Header {
        name: None,
        value: header_block::unfold(&raw),
    }
}

fn parse_header(kind: Kind, header: &Header) -> Vec<RecordedVerdict> {
    match header.name.as_deref() {
        Some(name) if name.eq_ignore_ascii_case("received-spf") => {
            let v = received_spf::parse(&header.value);
            assert_eq!(v.source, Some(VerdictSource::ReceivedSpf));
            vec![v]
        }
        Some(name) => match auth_results::source_for_field(name) {
            Some(source) => {
                let verdicts = auth_results::parse(&header.value, source);
                assert!(verdicts.iter().all(|v| v.source == Some(source)));
                verdicts
            }
            None => other_headers::parse(name, &header.value)
                .into_iter()
                .inspect(|v| assert_eq!(v.source, Some(VerdictSource::OtherHeader)))
                .collect(),
        },
        None => match kind {
            Kind::ReceivedSpf => vec![received_spf::parse(&header.value)],
            Kind::AuthResults => {
                auth_results::parse(&header.value, VerdictSource::AuthenticationResults)
            }
            Kind::Other => Vec::new(),
        },
    }
}

/// Compare one corpus/fixture file with its golden file; returns the list of differences.
fn check_file(corpus: &Path, golden: &Path, kind: Kind) -> Vec<String> {
    let text = match std::fs::read_to_string(corpus) {
        Ok(text) => text,
        Err(e) => return vec![format!("{}: {e}", corpus.display())],
    };
    let entries = split_corpus(&text);
    let actual: Vec<GoldenEntry> = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let header = header_of(entry);
            GoldenEntry {
                entry: i + 1,
                source: entry.source.clone(),
                field: header.name.clone(),
                verdicts: parse_header(kind, &header)
                    .iter()
                    .map(Expected::of)
                    .collect(),
            }
        })
        .collect();
    if let Some(dir) = std::env::var_os("GOLDEN_DUMP_DIR") {
        let name = golden.file_name().unwrap_or_default();
        let yaml = serde_yaml::to_string(&actual).unwrap_or_default();
        let _ = std::fs::write(Path::new(&dir).join(name), yaml);
    }
    let expected: Vec<GoldenEntry> = match std::fs::read_to_string(golden)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_yaml::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(expected) => expected,
        Err(e) => return vec![format!("{}: {e}", golden.display())],
    };
    let mut problems = Vec::new();
    if expected.len() != actual.len() {
        problems.push(format!(
            "{}: corpus has {} entries, golden file {} (entries added or removed?)",
            corpus.display(),
            actual.len(),
            expected.len()
        ));
    }
    for (i, (want, got)) in expected.iter().zip(&actual).enumerate() {
        let at = format!("{} entry {} ({})", corpus.display(), i + 1, got.source);
        if want.entry != i + 1 || want.source != got.source {
            problems.push(format!(
                "{at}: golden entry {} is for `{}`: corpus reordered or changed",
                want.entry, want.source
            ));
            continue;
        }
        if want.field != got.field {
            problems.push(format!(
                "{at}: field {:?}, expected {:?}",
                got.field, want.field
            ));
        }
        if want.verdicts.len() != got.verdicts.len() {
            problems.push(format!(
                "{at}: {} verdicts, expected {}: got {:#?}",
                got.verdicts.len(),
                want.verdicts.len(),
                got.verdicts
            ));
            continue;
        }
        for (n, (w, g)) in want.verdicts.iter().zip(&got.verdicts).enumerate() {
            if w != g {
                problems.push(format!(
                    "{at} verdict {}:\n  expected {w:?}\n  got      {g:?}",
                    n + 1
                ));
            }
        }
    }
    problems
}

fn shared_formats() -> Option<PathBuf> {
    let dir = crate_dir().join("../shared/formats");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{} is missing: the real-world corpus is required in CI",
            dir.display()
        );
    }
    eprintln!(
        "skipping: {} not found (the shared real-world corpus)",
        dir.display()
    );
    None
}

fn report(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} difference(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn golden_dir() -> PathBuf {
    crate_dir().join("tests/data/golden/headers")
}

#[test]
fn corpus_received_spf() {
    let Some(formats) = shared_formats() else {
        return;
    };
    report(check_file(
        &formats.join("received-spf.txt"),
        &golden_dir().join("received-spf.yaml"),
        Kind::ReceivedSpf,
    ));
}

#[test]
fn corpus_auth_results() {
    let Some(formats) = shared_formats() else {
        return;
    };
    report(check_file(
        &formats.join("auth-results.txt"),
        &golden_dir().join("auth-results.yaml"),
        Kind::AuthResults,
    ));
}

#[test]
fn corpus_other_spf_headers() {
    let Some(formats) = shared_formats() else {
        return;
    };
    report(check_file(
        &formats.join("other-spf-headers.txt"),
        &golden_dir().join("other-spf-headers.yaml"),
        Kind::Other,
    ));
}

fn fixtures() -> PathBuf {
    crate_dir().join("tests/data/headers")
}

#[test]
fn synthetic_received_spf() {
    report(check_file(
        &fixtures().join("received-spf.txt"),
        &golden_dir().join("synthetic-received-spf.yaml"),
        Kind::ReceivedSpf,
    ));
}

#[test]
fn synthetic_auth_results() {
    report(check_file(
        &fixtures().join("auth-results.txt"),
        &golden_dir().join("synthetic-auth-results.yaml"),
        Kind::AuthResults,
    ));
}

#[test]
fn synthetic_other_headers() {
    report(check_file(
        &fixtures().join("other-headers.txt"),
        &golden_dir().join("synthetic-other-headers.yaml"),
        Kind::Other,
    ));
}

#[test]
fn synthetic_malformed() {
    report(check_file(
        &fixtures().join("malformed.txt"),
        &golden_dir().join("synthetic-malformed.yaml"),
        Kind::ReceivedSpf,
    ));
}

/// Run every parser over a value; must not panic.
fn parse_everything(value: &str) -> usize {
    let mut n = 0;
    n += usize::from(received_spf::parse(value).result.is_some());
    n += auth_results::parse(value, VerdictSource::AuthenticationResults).len();
    for name in [
        "X-Spamd-Result",
        "X-Spam-Status",
        "X-SPF-Result",
        "X-FEAS-SPF",
        "X-XM-SPF",
        "X-Comment",
        "X-Proofpoint-SPF-Result",
    ] {
        n += usize::from(other_headers::parse(name, value).is_some());
    }
    n
}

/// Generated hostile values: each must parse without panicking.
fn hostile_values() -> Vec<(String, String)> {
    let mb = 1 << 20;
    let mut values: Vec<(String, String)> = vec![
        ("only semicolons".into(), ";".repeat(mb)),
        ("open parentheses".into(), "(".repeat(mb)),
        ("close parentheses".into(), ")".repeat(mb)),
        ("quotes".into(), "\"".repeat(mb)),
        ("escaped quotes".into(), "\"\\\"".repeat(mb / 3)),
        ("backslashes".into(), "\\".repeat(mb)),
        ("equals".into(), "=".repeat(mb)),
        ("NUL bytes".into(), "\0".repeat(mb)),
        ("colons and dots".into(), ":.".repeat(mb / 2)),
        ("hex and colons".into(), "fe80::1:".repeat(mb / 8)),
        ("at signs".into(), "a @b ".repeat(mb / 5)),
        (
            "keys".into(),
            "client-ip= envelope-from= helo=".repeat(mb / 32),
        ),
        (
            "comment words".into(),
            format!("pass ({})", "domain of a designates ".repeat(mb / 23)),
        ),
        (
            "nested comments".into(),
            format!("pass {}{}", "(".repeat(mb / 2), ")".repeat(mb / 2)),
        ),
        (
            "many results".into(),
            format!("x;{}", " spf=pass smtp.mailfrom=a@b;".repeat(mb / 30)),
        ),
        (
            "long address".into(),
            format!("pass envelope-from={}@example.com", "a".repeat(mb)),
        ),
        (
            "multibyte".into(),
            "pass (é: domaine de ü désigne 1.2.3.4 ) ü=é; ".repeat(mb / 48),
        ),
    ];
    for (name, value) in [
        ("unbalanced", "pass (domain of a@b designates 1.2.3.4 as"),
        (
            "unterminated quote",
            "pass envelope-from=\"a@b; client-ip=1.2.3.4",
        ),
        ("NUL inside", "pass client-ip=1.2.3.4\0; helo=\0"),
        ("empty", ""),
        ("space", " \t "),
    ] {
        values.push((name.to_string(), value.to_string()));
    }
    values
}

#[test]
fn malformed_never_panics() {
    for (name, value) in hostile_values() {
        let parsed = std::panic::catch_unwind(|| parse_everything(&value));
        assert!(parsed.is_ok(), "{name}: a parser panicked");
    }
}

/// Figures, not a timed assert: parse time of growing hostile values. Linear parsers take
/// about twice as long for twice the input. Run with
/// `cargo test --release --test golden_headers -- --ignored --nocapture scaling`.
#[test]
#[ignore = "prints figures; run by hand"]
fn scaling_figures() {
    let mut out = String::new();
    for (name, unit) in [
        ("semicolons", ";"),
        ("open parentheses", "("),
        ("quotes", "\""),
        ("keys", "client-ip= "),
        ("prose", "domain of a designates "),
        ("results", " spf=pass smtp.mailfrom=a@b;"),
        ("words", "a @b "),
    ] {
        let _ = write!(out, "{name:>18}:");
        for megabytes in [1usize, 2, 4] {
            let value = unit.repeat((megabytes << 20) / unit.len());
            let started = Instant::now();
            let _ = parse_everything(&value);
            let _ = write!(
                out,
                "  {megabytes} MB {:>7.1} ms",
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        out.push('\n');
    }
    println!("{out}");
}
