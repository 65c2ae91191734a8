//! `extract_message` over whole messages: the real messages of `../shared/formats/mbox/`
//! (expected values written by reading each file), our synthetic golden fixtures in
//! `tests/data/messages/` (input `.eml` + `.expected` dump), and a malformed set that must
//! never panic and must stay linear.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use spfsleuth::extract::{ExtractOptions, Hop, Observation, RecordedVerdict, extract_message};
use spfsleuth::input::{Locator, RawMessage};

/// The header block of a whole message: bytes up to the first empty line (LF or CRLF).
fn header_block(bytes: &[u8]) -> Vec<u8> {
    let mut start = 0usize;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| start + p);
        let line = &bytes[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return bytes[..start].to_vec();
        }
        start = end + 1;
    }
    bytes.to_vec()
}

fn raw_message(source: &str, bytes: &[u8]) -> RawMessage {
    RawMessage {
        source: Arc::from(source),
        locator: Locator::Whole,
        header: header_block(bytes),
        mbox_sender: None,
        mbox_date: None,
    }
}

fn extract(source: &str, bytes: &[u8]) -> Observation {
    extract_message(&raw_message(source, bytes), &ExtractOptions::default())
}

fn text(value: Option<&str>) -> String {
    match value {
        None => "-".to_string(),
        Some("") => "\"\"".to_string(),
        Some(v) => v.to_string(),
    }
}

fn show<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn verdict_line(v: &RecordedVerdict) -> String {
    format!(
        "result={} identity={} client_ip={} client_ip_raw={} helo={} envelope_from={} domain={} receiver={} source={} writer={} position={}",
        show(v.result),
        show(v.identity),
        show(v.client_ip),
        text(v.client_ip_raw.as_deref()),
        text(v.helo.as_deref()),
        text(v.envelope_from.as_deref()),
        text(v.domain.as_deref()),
        text(v.receiver.as_deref()),
        show(v.source.map(|s| s.as_str())),
        text(v.writer.as_deref()),
        v.position,
    )
}

fn hop_line(h: &Hop) -> String {
    format!(
        "helo={} rdns={} ip={} by={} date={} envelope_from={} protocol={}",
        text(h.helo.as_deref()),
        text(h.rdns.as_deref()),
        show(h.ip),
        text(h.by.as_deref()),
        show(h.date.map(|d| d.to_rfc3339())),
        text(h.envelope_from.as_deref()),
        text(h.protocol.as_deref()),
    )
}

/// A stable, human-readable dump of everything an observation holds.
fn dump(o: &Observation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "message_id: {}", text(o.message_id.as_deref()));
    let _ = writeln!(out, "date: {}", show(o.date.map(|d| d.to_rfc3339())));
    let _ = writeln!(out, "header_from: {}", text(o.header_from.as_deref()));
    let _ = writeln!(out, "has_arc: {}", o.has_arc);
    match &o.verdict {
        Some(v) => {
            let _ = writeln!(out, "verdict: {}", verdict_line(v));
        }
        None => {
            let _ = writeln!(out, "verdict: -");
        }
    }
    let _ = writeln!(out, "recorded_by: {}", text(o.recorded_by.as_deref()));
    let _ = writeln!(out, "envelope_from: {}", text(o.envelope_from.as_deref()));
    let _ = writeln!(out, "helo: {}", text(o.helo.as_deref()));
    let _ = writeln!(out, "client_ip: {}", show(o.client_ip));
    for v in &o.other_verdicts {
        let _ = writeln!(out, "other_verdict: {}", verdict_line(v));
    }
    for h in &o.hops {
        let _ = writeln!(out, "hop: {}", hop_line(h));
    }
    for n in &o.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

// ---------------------------------------------------------------------------------------
// Real messages from ../shared/formats/mbox

fn shared_mbox_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/formats/mbox");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing (required when CI=true)", dir.display());
    }
    eprintln!("skipping: {} is missing", dir.display());
    None
}

/// What we expect of one real message, written by reading the file.
struct Expected {
    file: &'static str,
    result: Option<&'static str>,
    client_ip: Option<&'static str>,
    identity: Option<&'static str>,
    envelope_from: Option<&'static str>,
    helo: Option<&'static str>,
    recorded_by: Option<&'static str>,
    header_from: Option<&'static str>,
    message_id: Option<&'static str>,
    date: Option<&'static str>,
    /// Number of hops in the Received chain.
    hops: usize,
}

const REAL_MESSAGES: &[Expected] = &[
    // AR (test.module) spf=pass smtp.mailfrom=marc@... smtp.helo=... with the client IP in
    // its iprev result; the Received-SPF of the same receiver (receiver=test.module) agrees.
    // Both are complete: the topmost (the AR) is primary.
    Expected {
        file: "authmilter-google_apps_good.eml",
        result: Some("pass"),
        client_ip: Some("74.125.82.171"),
        identity: Some("mailfrom"),
        envelope_from: Some("marc@marcbradshaw.net"),
        helo: Some("mail-we0-f171.google.com"),
        recorded_by: Some("test.module Authentication-Results"),
        header_from: Some("marcbradshaw.net"),
        message_id: Some("CAF298RVOajnkzvO0j_DjBwWbCQBwi1a1Z4FAx_tHLFWfA9CJ8w@mail.gmail.com"),
        // Topmost Received: Thu,  1 Dec 2016 22:35:06 -0500 (EST)
        date: Some("2016-12-02T03:35:06+00:00"),
        hops: 3,
    },
    // Courier at szilassi.eckner.net: SPF=HELO none + SPF=MAILFROM fail (+ SPF=FROM further
    // down, not an SPF identity). MAIL FROM is primary.
    Expected {
        file: "listarchive-dm-devel-courier.eml",
        result: Some("fail"),
        client_ip: Some("141.35.50.156"),
        identity: Some("mailfrom"),
        envelope_from: Some("dm-devel@eckner.net"),
        helo: Some("nlopc43.ioq.uni-jena.de"),
        recorded_by: Some("szilassi.eckner.net Received-SPF"),
        header_from: Some("eckner.net"),
        message_id: Some("alpine.LNX.2.21.9999.1905161101060.2715@nlopc43.ioq.uni-jena.de"),
        // Thu, 16 May 2019 14:23:13 +0200 (CEST)
        date: Some("2019-05-16T12:23:13+00:00"),
        hops: 9,
    },
    // Re-sent by Sven through netcup (mxf9a8): its milter AR spf=pass (sender IP is
    // 77.22.36.133) is the topmost verdict; its "connection is authenticated" Received-SPF
    // is the same receiver's and records no check. The Microsoft 365 SoftFail and the
    // Sophos pass further down belong to the original delivery to anduras.de.
    Expected {
        file: "listarchive-intel-wired-lan-3hop-sophos-m365.eml",
        result: Some("pass"),
        client_ip: Some("77.22.36.133"),
        identity: Some("mailfrom"),
        envelope_from: Some("sven@anderss.de"),
        helo: Some("mail.anderss.intra"),
        recorded_by: Some("mxf9a8 Authentication-Results"),
        header_from: Some("kernel.org"),
        message_id: Some("20220517134550.7c451a83@kernel.org"),
        // Tue, 24 May 2022 10:05:48 +0200 (CEST)
        date: Some("2022-05-24T08:05:48+00:00"),
        hops: 21,
    },
    // Top level: only GMX's dkim-only Authentication-Results. The three forwarded
    // message/rfc822 parts carry mail.mailserver.de verdicts, which are in the body and
    // must not be attributed. Envelope data comes from the top hop and Return-Path.
    Expected {
        file: "mailparser-015-nested-rfc822.eml",
        result: None,
        client_ip: Some("159.195.48.175"),
        identity: None,
        envelope_from: Some("jsterr@proxforge.de"),
        helo: Some("mail.proxdocs.de"),
        recorded_by: None,
        header_from: Some("proxforge.de"),
        message_id: Some("7da78721a8a234894af702fe25fc64a5@proxforge.de"),
        // Fri, 13 Feb 2026 22:40:20 +0100
        date: Some("2026-02-13T21:40:20+00:00"),
        hops: 1,
    },
    // A DMARC failure report: every SPF header is inside the body.
    Expected {
        file: "parsedmarc-exim-failure-report.eml",
        result: None,
        client_ip: Some("198.51.100.176"),
        identity: None,
        envelope_from: Some("no-reply@node01.mailgate.example.net"),
        helo: Some("node04.mailgate.example.net"),
        recorded_by: None,
        header_from: Some("node01.mailgate.example.net"),
        message_id: Some("E1u1tpB-00AA5u-ED@node04.mailgate.example.net"),
        // Mon,  7 Apr 2025 23:16:09 +0200 (CEST)
        date: Some("2025-04-07T21:16:09+00:00"),
        hops: 2,
    },
    // pypolicyd-spf prepended above the relay-twl-01 Received; receiver= is the RCPT
    // address, so the recorder's name comes from that hop's `by`.
    Expected {
        file: "parsedmarc-twilight-pypolicyd.eml",
        result: Some("pass"),
        client_ip: Some("209.85.166.201"),
        identity: Some("mailfrom"),
        envelope_from: Some("noreply-dmarc-support@google.com"),
        helo: Some("mail-it1-f201.google.com"),
        recorded_by: Some("relay-twl-01.twlnet.com Received-SPF"),
        header_from: Some("google.com"),
        message_id: Some("1627703331531660819@google.com"),
        // Mon, 11 Feb 2019 11:23:41 +0100 (CET)
        date: Some("2019-02-11T10:23:41+00:00"),
        hops: 5,
    },
    // Microsoft 365: AR without authserv-id (spf=none, sender IP 89.144.18.118,
    // smtp.mailfrom = a bare domain) beside Received-SPF None (protection.outlook.com).
    // The full MAIL FROM comes from the (folded) Return-Path in the same domain; the HELO
    // from the EOP hop that received from 89.144.18.118. Yahoo's pass below is an earlier
    // hop's.
    Expected {
        file: "phishingpot-2848-yahoo-to-m365.eml",
        result: Some("none"),
        client_ip: Some("89.144.18.118"),
        identity: Some("mailfrom"),
        envelope_from: Some("1246062002-WITPfsJCEl-NV6DJPQE02@5wc0f8nzjobyge527r6jj3qOJX6eI6.cuk"),
        helo: Some("redactioometyne.com"),
        recorded_by: Some("protection.outlook.com Authentication-Results"),
        header_from: Some("secaccinfoacesseesp.com"),
        message_id: Some("0.0.4.AEA.p0umhpv883.0@mta-2d56742f.ip4.emsmtp.us"),
        // Mon, 19 Feb 2024 03:13:20 +0000
        date: Some("2024-02-19T03:13:20+00:00"),
        hops: 6,
    },
];

#[test]
fn real_messages_from_shared_formats() {
    let Some(dir) = shared_mbox_dir() else {
        return;
    };
    let mut failures = Vec::new();
    for e in REAL_MESSAGES {
        let path = dir.join(e.file);
        let bytes = fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let o = extract(e.file, &bytes);
        let v = o.verdict.as_ref();
        let got = [
            ("result", v.and_then(|v| v.result).map(|r| r.to_string())),
            ("client_ip", o.client_ip.map(|ip| ip.to_string())),
            (
                "identity",
                v.and_then(|v| v.identity).map(|i| i.to_string()),
            ),
            ("envelope_from", o.envelope_from.clone()),
            ("helo", o.helo.clone()),
            ("recorded_by", o.recorded_by.clone()),
            ("header_from", o.header_from.clone()),
            ("message_id", o.message_id.clone()),
            ("date", o.date.map(|d| d.to_rfc3339())),
        ];
        let want = [
            e.result,
            e.client_ip,
            e.identity,
            e.envelope_from,
            e.helo,
            e.recorded_by,
            e.header_from,
            e.message_id,
            e.date,
        ];
        for ((what, got), want) in got.iter().zip(want) {
            if got.as_deref() != want {
                failures.push(format!("{}: {what}: got {got:?}, want {want:?}", e.file));
            }
        }
        if o.hops.len() != e.hops {
            failures.push(format!(
                "{}: hops: got {}, want {}",
                e.file,
                o.hops.len(),
                e.hops
            ));
        }
        if e.result.is_none() && !o.notes.iter().any(|n| n.contains("no SPF verdict")) {
            failures.push(format!("{}: no note saying there is no verdict", e.file));
        }
    }
    // Every .eml in the directory has an expectation.
    let mut files: Vec<String> = fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    for file in files {
        if !REAL_MESSAGES.iter().any(|e| e.file == file) {
            failures.push(format!("{file}: no expectation written for this message"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn nested_rfc822_verdicts_are_not_attributed() {
    let Some(dir) = shared_mbox_dir() else {
        return;
    };
    for file in [
        "mailparser-015-nested-rfc822.eml",
        "parsedmarc-exim-failure-report.eml",
    ] {
        let bytes = fs::read(dir.join(file)).expect("readable");
        let o = extract(file, &bytes);
        assert!(o.verdict.is_none(), "{file}: {:?}", o.verdict);
        assert!(
            o.other_verdicts.is_empty(),
            "{file}: {:?}",
            o.other_verdicts
        );
        let whole = String::from_utf8_lossy(&bytes);
        // The body does hold verdicts: the test means something.
        assert!(whole.contains("Received-SPF:") || whole.contains("spf="));
    }
}

#[test]
fn same_message_with_authserv_id() {
    let Some(dir) = shared_mbox_dir() else {
        return;
    };
    let bytes =
        fs::read(dir.join("listarchive-intel-wired-lan-3hop-sophos-m365.eml")).expect("readable");
    let message = raw_message("3hop", &bytes);
    // Trust Microsoft 365 (suffix match on protection.outlook.com).
    let options = ExtractOptions {
        authserv_ids: vec!["protection.outlook.com".to_string()],
        ..ExtractOptions::default()
    };
    let o = extract_message(&message, &options);
    let v = o.verdict.as_ref().expect("a verdict");
    assert_eq!(v.result.map(|r| r.to_string()).as_deref(), Some("softfail"));
    assert_eq!(
        o.client_ip.map(|ip| ip.to_string()).as_deref(),
        Some("52.58.166.242")
    );
    assert_eq!(
        o.helo.as_deref(),
        Some("inbound-52-58-166-242-eu-central-1.prod.hydra.sophos.com")
    );
    assert_eq!(
        o.recorded_by.as_deref(),
        Some("protection.outlook.com Authentication-Results")
    );
    // Verdicts of later hops (netcup, above) are not "earlier hops".
    assert!(
        o.other_verdicts
            .iter()
            .all(|v| v.receiver.as_deref() != Some("mxf9a8")),
        "{:?}",
        o.other_verdicts
    );
    // Trust Sophos.
    let options = ExtractOptions {
        authserv_ids: vec!["hydra.sophos.com".to_string()],
        ..ExtractOptions::default()
    };
    let o = extract_message(&message, &options);
    assert_eq!(
        o.verdict
            .as_ref()
            .and_then(|v| v.result)
            .map(|r| r.to_string())
            .as_deref(),
        Some("pass")
    );
    assert_eq!(
        o.client_ip.map(|ip| ip.to_string()).as_deref(),
        Some("145.40.68.75")
    );
    assert_eq!(o.envelope_from.as_deref(), Some("kuba@kernel.org"));
    assert_eq!(o.helo.as_deref(), Some("ams.source.kernel.org"));
    // Nobody by that name.
    let options = ExtractOptions {
        authserv_ids: vec!["mx.nowhere.example".to_string()],
        ..ExtractOptions::default()
    };
    let o = extract_message(&message, &options);
    assert!(o.verdict.is_none());
    assert!(
        o.notes
            .iter()
            .any(|n| n.contains("--authserv-id mx.nowhere.example"))
    );
}

// ---------------------------------------------------------------------------------------
// Synthetic golden fixtures

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/messages")
}

/// Options for a fixture: a first line `X-Test-Authserv-Id: a, b` in the fixture sets
/// `--authserv-id` (the field is an ordinary header otherwise and ignored).
fn fixture_options(bytes: &[u8]) -> ExtractOptions {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    let mut options = ExtractOptions::default();
    if let Some(rest) = head.strip_prefix("X-Test-Authserv-Id:") {
        let line = rest.lines().next().unwrap_or("");
        options.authserv_ids = line
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    options
}

/// Mbox envelope for a fixture: `X-Test-Mbox-From: SENDER DATE...` (a test-only field).
fn fixture_mbox(bytes: &[u8], message: &mut RawMessage) {
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some(rest) = line.strip_prefix("X-Test-Mbox-From: ") {
            let mut parts = rest.splitn(2, ' ');
            message.mbox_sender = parts.next().map(str::to_string);
            message.mbox_date = parts.next().map(str::to_string);
        }
    }
}

#[test]
fn golden_fixtures() {
    let dir = data_dir();
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/data/messages exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "fixtures missing in {}", dir.display());
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for input in inputs {
        let bytes = fs::read(&input).expect("readable fixture");
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut message = raw_message(&name, &bytes);
        fixture_mbox(&bytes, &mut message);
        let got = dump(&extract_message(&message, &fixture_options(&bytes)));
        let expected_path = input.with_extension("expected");
        if bless {
            fs::write(&expected_path, &got).expect("writable");
            continue;
        }
        let want = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{}:\n--- expected\n{want}--- got\n{got}",
                input.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Malformed input: never a panic, never quadratic work. Figures are printed, not asserted.

fn timed(what: &str, header: Vec<u8>) -> Observation {
    let bytes = header.len();
    let message = RawMessage {
        source: Arc::from(what),
        locator: Locator::Whole,
        header,
        mbox_sender: Some("\u{0}<>".to_string()),
        mbox_date: Some("garbage \u{FFFD}".to_string()),
    };
    let start = Instant::now();
    let o = extract_message(&message, &ExtractOptions::default());
    let options = ExtractOptions {
        authserv_ids: vec!["mx.example.net".to_string()],
        ..ExtractOptions::default()
    };
    let _ = extract_message(&message, &options);
    eprintln!(
        "malformed {what}: {bytes} bytes extracted twice in {:?}",
        start.elapsed()
    );
    o
}

#[test]
fn malformed_files_never_panic() {
    let dir = data_dir().join("malformed");
    let mut count = 0;
    for entry in fs::read_dir(&dir)
        .expect("malformed dir")
        .filter_map(Result::ok)
    {
        let bytes = fs::read(entry.path()).expect("readable");
        let name = entry.file_name().to_string_lossy().into_owned();
        let o = timed(&name, header_block(&bytes));
        assert_eq!(o.source.as_ref(), name);
        count += 1;
    }
    assert!(count >= 5);
}

#[test]
fn malformed_generated_inputs() {
    // No headers at all.
    let o = timed("empty", Vec::new());
    assert!(o.verdict.is_none());
    assert!(o.notes.iter().any(|n| n.contains("no header fields")));

    // Only continuation lines.
    let o = timed("continuations", b" a\n\tb\n c: d\n".to_vec());
    assert!(o.notes.iter().any(|n| n.contains("3 header line(s)")));

    // NUL bytes and invalid UTF-8 everywhere.
    let mut nasty = Vec::new();
    nasty.extend_from_slice(b"Received-SPF: pass\x00 (mx\xff.example: x) client-ip=192.0.2.\xc3\x28; envelope-from=a\x00@b\n");
    nasty.extend_from_slice(b"Received: from \xfe\xff ([192.0.2.1\x00]) by \x00\n");
    nasty
        .extend_from_slice(b"From: \"\xff\" <\x00@\xff>\nMessage-ID: <\x00\xff>\nDate: \xff\xfe\n");
    nasty.extend_from_slice(b"Return-Path: <\xff\n");
    let _ = timed("nul-and-invalid-utf8", nasty);

    // One 1 MB header line of each interesting kind.
    let mb = 1 << 20;
    let o = {
        let mut header = b"Authentication-Results: mx; ".to_vec();
        while header.len() < mb {
            header.extend_from_slice(b"spf=pass ");
        }
        timed("1mb-auth-results-cap", header)
    };
    assert_eq!(o.other_verdicts.len() + 1, 1_000);
    for (name, prefix, filler) in [
        ("1mb-received-spf", "Received-SPF: pass (", "a"),
        ("1mb-received-comments", "Received: from x ", "("),
        ("1mb-received-words", "Received: from x by ", "y "),
        (
            "1mb-auth-results",
            "Authentication-Results: mx; ",
            "spf=pass ",
        ),
        ("1mb-from", "From: ", "a@b, "),
        ("1mb-date", "Date: ", "1 "),
        ("1mb-message-id", "Message-ID: <", "x"),
    ] {
        let mut header = prefix.as_bytes().to_vec();
        while header.len() < mb {
            header.extend_from_slice(filler.as_bytes());
        }
        header.push(b'\n');
        let _ = timed(name, header);
    }

    // 10,000 headers: Plesk-style identical Received-SPF per recipient, Received hops,
    // and unrelated fields.
    let mut many = Vec::new();
    for i in 0..10_000 {
        let line = match i % 4 {
            0 => "Received-SPF: pass (mx.example.net: connection is authenticated)\n".to_string(),
            1 => format!(
                "Received: from h{i}.example (h{i}.example [192.0.2.{}]) by mx.example.net; 1 Jan 2024 10:00:00 +0000\n",
                i % 250
            ),
            2 => format!(
                "Received-SPF: fail (mx.example.net: domain of a@b.example does not designate 192.0.2.{} as permitted sender) client-ip=192.0.2.{};\n",
                i % 250,
                i % 250
            ),
            _ => format!("X-Filler-{i}: value {i}\n"),
        };
        many.extend_from_slice(line.as_bytes());
    }
    let o = timed("10000-headers", many);
    // Kept: the first 1,000 hops and verdicts (topmost), with a note for the rest.
    assert_eq!(o.hops.len(), 1_000);
    assert_eq!(o.other_verdicts.len() + 1, 1_000);
    assert!(o.notes.iter().any(|n| n.contains("1500 Received field(s)")));
    assert!(o.notes.iter().any(|n| n.contains("4000 more SPF")));
    // The authenticated headers of mx.example.net yield to its real verdicts.
    assert_eq!(
        o.verdict
            .as_ref()
            .and_then(|v| v.result)
            .map(|r| r.to_string())
            .as_deref(),
        Some("fail")
    );

    // 10,000 single-line continuations of one field.
    let mut folded = b"Received-SPF: pass".to_vec();
    for _ in 0..10_000 {
        folded.extend_from_slice(b"\n (x)");
    }
    let _ = timed("10000-folds", folded);
}

/// Throughput figure (not a test of speed: it only prints). Run with
/// `cargo test --release --test extract_messages -- --ignored --nocapture throughput`.
#[test]
#[ignore]
fn throughput_of_real_headers() {
    let Some(dir) = shared_mbox_dir() else {
        return;
    };
    let mut messages = Vec::new();
    for e in REAL_MESSAGES {
        let bytes = fs::read(dir.join(e.file)).expect("readable");
        messages.push(raw_message(e.file, &bytes));
    }
    let bytes_per_round: usize = messages.iter().map(|m| m.header.len()).sum();
    let rounds = 2_000;
    let options = ExtractOptions::default();
    let start = Instant::now();
    let mut verdicts = 0usize;
    for _ in 0..rounds {
        for m in &messages {
            verdicts += usize::from(extract_message(m, &options).verdict.is_some());
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let total = (bytes_per_round * rounds) as f64;
    eprintln!(
        "extract_message: {} header blocks ({:.1} MB) in {elapsed:.2} s: {:.0} headers/s, {:.1} MB/s of header ({verdicts} verdicts)",
        messages.len() * rounds,
        total / 1e6,
        (messages.len() * rounds) as f64 / elapsed,
        total / 1e6 / elapsed
    );
}
