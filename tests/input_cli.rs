//! `spfsleuth extract` end to end: stdin (plain and gzip), the CSV header and rows in input
//! order, problems and the summary on stderr, `-o` written atomically, exit status 2 for a
//! missing path.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const HEADER: &str = "source,locator,message_id,date,header_from,envelope_from,helo,client_ip,\
recorded_by,recorded_result,identity,spf_domain";

fn extract(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
        .arg("extract")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run spfsleuth");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.unwrap_or_default().to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait");
    feeder.join().expect("feed stdin");
    output
}

/// The first two cells (source, locator) of each data row.
fn rows(stdout: &[u8]) -> Vec<String> {
    let text = String::from_utf8(stdout.to_vec()).expect("UTF-8 CSV");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HEADER));
    lines
        .map(|line| {
            let cells: Vec<&str> = line.splitn(3, ',').collect();
            format!("{},{}", cells[0], cells[1])
        })
        .collect()
}

#[test]
fn stdin_mbox() {
    let mbox = std::fs::read("tests/data/input/mbox/crlf.mbox").unwrap();
    let out = extract(&["-", "--threads", "2"], Some(&mbox));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // stdin is named "<stdin>" in the source column.
    assert_eq!(
        rows(&out.stdout),
        vec![
            "<stdin>,offset 0",
            "<stdin>,offset 816",
            "<stdin>,offset 1620"
        ]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("extract: 1 files, 3 messages, 0 log lines, 3 rows, 0 problems"),
        "{stderr}"
    );
}

#[test]
fn stdin_gzip_single_message() {
    let gz =
        std::fs::read("tests/data/input/maildir/Maildir/.INBOX.Spam/cur/1700000008.M8P1.host:2,S")
            .unwrap();
    let out = extract(&["-"], Some(&gz));
    assert!(out.status.success());
    assert_eq!(rows(&out.stdout), vec!["<stdin>,"]);
}

#[test]
fn empty_stdin_is_said_but_not_a_problem() {
    let out = extract(&["-"], Some(b""));
    assert!(out.status.success());
    assert!(rows(&out.stdout).is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 empty file, no messages (<stdin>)"),
        "{stderr}"
    );
    assert!(stderr.contains("0 problems"), "{stderr}");
}

#[test]
fn rows_follow_input_order_and_problems_go_to_stderr() {
    let out = extract(
        &[
            "tests/data/input/tree",
            "tests/data/input/eml/single.eml",
            "--threads",
            "3",
            "--authserv-id",
            "mx.example.net",
            "--log-year",
            "2024",
        ],
        None,
    );
    assert!(out.status.success());
    assert_eq!(
        rows(&out.stdout),
        vec![
            "tests/data/input/tree,a.eml",
            "tests/data/input/tree/b,c.eml.gz",
            "tests/data/input/tree/b/inbox.mbox,offset 0",
            "tests/data/input/tree/b/inbox.mbox,offset 622",
            "tests/data/input/tree,z-noext",
            "tests/data/input/eml/single.eml,",
        ]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "spfsleuth: tests/data/input/tree/junk.bin: not a mail file (binary data); skipped"
        ),
        "{stderr}"
    );
    // A text file that is not mail, met in a directory walk, is named in the summary.
    assert!(
        stderr.contains(
            "1 problems; skipped 1 file that is not mail (tests/data/input/tree/notes.txt)"
        ),
        "{stderr}"
    );
}

#[test]
fn output_file_is_written_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out.csv");
    let out = extract(
        &[
            "tests/data/input/mbox/lf.mbox",
            "-o",
            target.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let written = std::fs::read(&target).unwrap();
    assert_eq!(rows(&written).len(), 3);
    // No temporary file left beside it.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("out.csv")]);
}

#[test]
fn missing_path_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out.csv");
    let out = extract(
        &[
            "tests/data/input/mbox/lf.mbox",
            "no/such/dir",
            "-o",
            target.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no/such/dir: No such file or directory"),
        "{stderr}"
    );
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn threads_must_be_positive() {
    let out = extract(&["-", "--threads", "0"], Some(b""));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn output_to_a_device_is_written_in_place() {
    let out = extract(&["tests/data/input/mbox/lf.mbox", "-o", "/dev/null"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(!meta.is_file(), "/dev/null must stay a device");
}
