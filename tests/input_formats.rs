//! Every input format and locator, read through the public API: mbox (LF, CRLF, separator
//! edge cases, multi-member gzip), single .eml, Maildir++ trees (tmp/ ignored), mixed trees,
//! symlink loops, order with many threads, and the malformed set (problems, never panics).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use spfsleuth::input::{
    InputOptions, InputStats, Item, Tuning, read_inputs, read_inputs_tuned, read_inputs_until,
};

const DATA: &str = "tests/data/input";

/// One delivered item: `M source | locator` or `P source | locator | message`.
fn read(paths: &[&str], threads: usize) -> (Vec<String>, InputStats) {
    let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    let options = InputOptions {
        threads: Some(threads),
        ..InputOptions::default()
    };
    let mut seen = Vec::new();
    let stats = read_inputs(&paths, &options, &mut |item| seen.push(describe(&item)))
        .expect("inputs exist");
    (seen, stats)
}

fn describe(item: &Item) -> String {
    match item {
        Item::Observation(o) => format!(
            "M {} | {}",
            o.source,
            o.locator
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
        Item::Problem(p) => format!(
            "P {} | {} | {}",
            p.source,
            p.locator
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            p.message
        ),
    }
}

fn data(rel: &str) -> String {
    format!("{DATA}/{rel}")
}

#[test]
fn mbox_lf_crlf_and_gzip_give_separator_offsets() {
    let (seen, stats) = read(
        &[
            &data("mbox/lf.mbox"),
            &data("mbox/crlf.mbox"),
            &data("mbox/two-members.mbox.gz"),
        ],
        2,
    );
    let lf = data("mbox/lf.mbox");
    let crlf = data("mbox/crlf.mbox");
    let gz = data("mbox/two-members.mbox.gz");
    assert_eq!(
        seen,
        vec![
            format!("M {lf} | offset 0"),
            format!("M {lf} | offset 798"),
            format!("M {lf} | offset 1581"),
            format!("M {crlf} | offset 0"),
            format!("M {crlf} | offset 816"),
            format!("M {crlf} | offset 1620"),
            // Offsets are in the decompressed stream, across both gzip members.
            format!("M {gz} | offset 0"),
            format!("M {gz} | offset 798"),
            format!("M {gz} | offset 1581"),
        ]
    );
    assert_eq!(stats.files, 3);
    assert_eq!(stats.messages, 9);
    assert_eq!(stats.problems, 0);
    let lf_len = std::fs::metadata(&lf).unwrap().len();
    let crlf_len = std::fs::metadata(&crlf).unwrap().len();
    assert_eq!(stats.bytes, 2 * lf_len + crlf_len);
}

#[test]
fn single_eml_given_directly_is_a_whole_file() {
    let single = data("eml/single.eml");
    let headers_only = data("eml/headers-only.eml");
    let (seen, stats) = read(&[&single, &headers_only], 1);
    assert_eq!(
        seen,
        vec![format!("M {single} | "), format!("M {headers_only} | ")]
    );
    assert_eq!(stats.problems, 0);
}

/// Apple Mail's `.emlx`: the byte count on the first line is not a header, the message
/// after it is read like an .eml.
#[test]
fn apple_mail_emlx_is_read_after_its_length_line() {
    let emlx = data("eml/apple-mail.emlx");
    let paths = [PathBuf::from(&emlx)];
    let mut observations = Vec::new();
    let stats = read_inputs(&paths, &InputOptions::default(), &mut |item| match item {
        Item::Observation(o) => observations.push(*o),
        Item::Problem(p) => panic!("{p}"),
    })
    .expect("inputs exist");
    assert_eq!(stats.messages, 1);
    let obs = &observations[0];
    assert_eq!(obs.message_id.as_deref(), Some("emlx-1@apple-user.example"));
    assert_eq!(obs.header_from.as_deref(), Some("apple-user.example"));
    assert_eq!(
        obs.client_ip.map(|ip| ip.to_string()).as_deref(),
        Some("192.0.2.77")
    );
}

#[test]
fn maildir_plus_plus_reads_cur_new_and_subfolders_never_tmp() {
    let root = data("maildir/Maildir");
    let (seen, stats) = read(&[&root], 4);
    assert_eq!(
        seen,
        vec![
            format!("M {root}/cur | 1700000001.M1P1.host:2,S"),
            format!("M {root}/cur | 1700000002.M2P1.host:2,RS"),
            format!("M {root}/new | 1700000003.M3P1.host"),
            // gzip-compressed (Dovecot zlib), recognised by its magic bytes.
            format!("M {root}/.INBOX.Spam/cur | 1700000008.M8P1.host:2,S"),
            // A Maildir file that starts with an mbox From_ line is still one message.
            format!("M {root}/.INBOX.Spam/new | 1700000009.M9P1.host"),
            format!("M {root}/.Junk/cur | 1700000005.M5P1.host:2,"),
            format!("M {root}/.Junk/new | 1700000006.M6P1.host"),
        ]
    );
    assert!(seen.iter().all(|s| !s.contains("/tmp")));
    assert_eq!(stats.files, 7);
    assert_eq!(stats.problems, 0);
}

#[test]
fn maildir_subfolder_given_directly() {
    let junk = data("maildir/Maildir/.Junk");
    let (seen, _) = read(&[&junk], 2);
    assert_eq!(
        seen,
        vec![
            format!("M {junk}/cur | 1700000005.M5P1.host:2,"),
            format!("M {junk}/new | 1700000006.M6P1.host"),
        ]
    );
}

#[test]
fn directory_tree_is_sorted_and_sniffed_by_content() {
    let tree = data("tree");
    let (seen, stats) = read(&[&tree], 3);
    assert_eq!(
        seen,
        vec![
            format!("M {tree} | a.eml"),
            format!("M {tree}/b | c.eml.gz"),
            format!("M {tree}/b/inbox.mbox | offset 0"),
            format!("M {tree}/b/inbox.mbox | offset 622"),
            format!("P {tree}/junk.bin |  | not a mail file (binary data); skipped"),
            format!("M {tree} | z-noext"),
        ]
    );
    assert_eq!(stats.files, 6);
    assert_eq!(stats.messages, 5);
    assert_eq!(stats.problems, 1);
    assert_eq!(stats.skipped.names, vec![format!("{tree}/notes.txt")]);
}

#[test]
fn malformed_inputs_become_problems_and_never_panic() {
    let dir = data("malformed");
    let (seen, stats) = read(&[&dir], 2);
    let expected = vec![
        format!("P {dir}/binary-junk.bin |  | not a mail file (binary data); skipped"),
        format!(
            "P {dir}/endless-line.mbox.gz | offset 0 | header block longer than 1048576 bytes: \
             only the first 1048576 bytes were read"
        ),
        format!("M {dir}/endless-line.mbox.gz | offset 0"),
        format!(
            "P {dir} | huge-header-line.eml.gz | header block longer than 1048576 bytes: only \
             the first 571 bytes were read"
        ),
        format!("M {dir} | huge-header-line.eml.gz"),
        format!("M {dir} | invalid-utf8.eml"),
        format!("M {dir}/junk-between.mbox | offset 0"),
        format!(
            "P {dir}/junk-between.mbox | offset 622 | not a message: its first line is not a \
             header field"
        ),
        format!(
            "P {dir}/junk-between.mbox | offset 727 | no header block: the message is empty or \
             starts with an empty line"
        ),
        format!("M {dir}/junk-between.mbox | offset 793"),
        format!("P {dir} | nul-bytes.eml | the header block contains NUL bytes"),
        format!("M {dir} | nul-bytes.eml"),
        format!("M {dir} | ten-thousand-headers.eml.gz"),
        format!("M {dir}/truncated.mbox | offset 0"),
        format!(
            "P {dir}/truncated.mbox | offset 622 | the file ends inside this message's header \
             block (truncated?)"
        ),
        format!("M {dir}/truncated.mbox | offset 622"),
    ];
    assert_eq!(seen, expected);
    assert_eq!(stats.problems, 7);
    assert_eq!(stats.messages, 9);
    // An empty file is said, not a problem.
    assert_eq!(stats.skipped.empty, 1);
    assert_eq!(stats.skipped.empty_names, vec![format!("{dir}/empty.eml")]);
}

#[test]
fn corrupt_and_truncated_gzip_are_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(data("mbox/two-members.mbox.gz")).unwrap();
    let truncated = tmp.path().join("truncated.mbox.gz");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let corrupt = tmp.path().join("corrupt.gz");
    let mut bad = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    bad.extend_from_slice(&[0xff; 64]);
    std::fs::write(&corrupt, &bad).unwrap();
    let t = truncated.to_string_lossy().into_owned();
    let c = corrupt.to_string_lossy().into_owned();
    let (seen, _) = read(&[&t, &c], 2);
    assert!(
        seen.first()
            .is_some_and(|s| s.starts_with(&format!("M {t} | offset 0")))
    );
    assert!(
        seen.iter()
            .any(|s| s.starts_with(&format!("P {t} | offset "))
                && s.contains("truncated or corrupt gzip")),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.starts_with(&format!("P {c} |  | cannot decompress (gzip)"))),
        "{seen:#?}"
    );
}

#[test]
fn missing_command_line_path_is_fatal() {
    let paths = vec![
        PathBuf::from(data("eml/single.eml")),
        PathBuf::from("no/such/file"),
    ];
    let mut items = 0;
    let err = read_inputs(&paths, &InputOptions::default(), &mut |_| items += 1).unwrap_err();
    assert!(err.is_open());
    assert_eq!(err.to_string(), "no/such/file");
    // Checked before anything is read.
    assert_eq!(items, 0);
}

#[cfg(unix)]
#[test]
fn symlink_loops_are_not_followed_and_dangling_links_are_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::copy(data("eml/single.eml"), root.join("sub/m.eml")).unwrap();
    std::os::unix::fs::symlink("..", root.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
    let r = root.to_string_lossy().into_owned();
    let (seen, _) = read(&[&r], 2);
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert!(
        seen[0].starts_with(&format!("P {r}/dangling |  | cannot read: ")),
        "{seen:#?}"
    );
    assert_eq!(seen[1], format!("M {r}/sub | m.eml"));
}

#[cfg(unix)]
#[test]
fn unreadable_file_in_a_tree_is_a_problem() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let locked = tmp.path().join("a-locked.eml");
    std::fs::copy(data("eml/single.eml"), &locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::copy(data("eml/single.eml"), tmp.path().join("b.eml")).unwrap();
    if std::fs::File::open(&locked).is_ok() {
        return; // running as root: permissions do not apply
    }
    let d = tmp.path().to_string_lossy().into_owned();
    let (seen, stats) = read(&[&d], 2);
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert!(seen[0].starts_with(&format!("P {d}/a-locked.eml |  | cannot open: ")));
    assert_eq!(seen[1], format!("M {d} | b.eml"));
    assert_eq!(stats.problems, 1);
}

/// An mbox of `n` messages with varied sizes; returns the separator offsets.
fn write_big_mbox(path: &Path, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for i in 0..n {
        offsets.push(out.len() as u64);
        out.extend_from_slice(
            format!("From a{i}@b.example Sat Jan  1 10:00:00 2022\nMessage-ID: <{i}@x>\n")
                .as_bytes(),
        );
        for h in 0..(i % 17) {
            out.extend_from_slice(format!("X-H{h}: {}\n", "h".repeat(i % 300)).as_bytes());
        }
        out.extend_from_slice(b"\n");
        for l in 0..(i * 7919 % 40) {
            out.extend_from_slice(format!("line {l} {}\n", "b".repeat((i + l) % 500)).as_bytes());
        }
        if i % 5 == 0 {
            out.extend_from_slice(b"From the desk of nobody\n\n");
        }
    }
    std::fs::write(path, out).unwrap();
    offsets
}

#[test]
fn order_is_kept_with_many_threads_and_small_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.mbox");
    let offsets = write_big_mbox(&path, 4000);
    let expected: Vec<String> = offsets.iter().map(|o| format!("offset {o}")).collect();
    for (threads, chunk_size) in [(8, 4096), (3, 1024), (1, 1 << 20)] {
        let options = InputOptions {
            threads: Some(threads),
            ..InputOptions::default()
        };
        let tuning = Tuning {
            chunk_size,
            ..Tuning::default()
        };
        let mut seen = Vec::new();
        let stats = read_inputs_tuned(
            std::slice::from_ref(&path),
            &options,
            &tuning,
            &mut |item| {
                match item {
                    Item::Observation(o) => seen.push(
                        o.locator
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                    ),
                    Item::Problem(p) => panic!("{p}"),
                }
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        assert_eq!(seen, expected, "{threads} threads, chunk {chunk_size}");
        assert_eq!(stats.messages, 4000);
    }
}

#[test]
fn order_is_kept_across_many_files() {
    let tmp = tempfile::tempdir().unwrap();
    let cur = tmp.path().join("Maildir/cur");
    std::fs::create_dir_all(&cur).unwrap();
    std::fs::create_dir_all(tmp.path().join("Maildir/new")).unwrap();
    let message = std::fs::read(data("eml/single.eml")).unwrap();
    let mut names: Vec<String> = (0..700)
        .map(|i| format!("{:05}.M{i}.host:2,S", i * 37 % 1000))
        .collect();
    for name in &names {
        std::fs::write(cur.join(name), &message).unwrap();
    }
    names.sort();
    let root = tmp.path().join("Maildir").to_string_lossy().into_owned();
    let (seen, stats) = read(&[&root], 8);
    let expected: Vec<String> = names
        .iter()
        .map(|n| format!("M {root}/cur | {n}"))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(stats.messages, 700);
}

#[test]
fn sink_can_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.mbox");
    write_big_mbox(&path, 2000);
    let mut count = 0;
    read_inputs_until(
        std::slice::from_ref(&path),
        &InputOptions::default(),
        &mut |_| {
            count += 1;
            if count == 10 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .unwrap();
    assert_eq!(count, 10);
}

#[cfg(unix)]
#[test]
fn special_files_in_a_tree_are_skipped_with_a_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("a-fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return; // no mkfifo here
    }
    std::fs::copy(data("eml/single.eml"), tmp.path().join("b.eml")).unwrap();
    let d = tmp.path().to_string_lossy().into_owned();
    let (seen, _) = read(&[&d], 2);
    assert_eq!(
        seen,
        vec![
            format!("P {d}/a-fifo |  | not a regular file; skipped"),
            format!("M {d} | b.eml"),
        ]
    );
}
