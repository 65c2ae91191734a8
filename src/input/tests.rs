//! The chunked, parallel mbox reader must give exactly what a naive line-by-line reading
//! gives, whatever the chunk size and thread count.

use std::ops::ControlFlow;
use std::path::PathBuf;

use super::mbox::parse_separator;
use super::*;

/// What one item says, with the header block the pipeline read (recorded in the notes in
/// test builds).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Message { locator: String, header: String },
    Problem { locator: String, message: String },
}

fn read_all(paths: &[PathBuf], threads: usize, tuning: &Tuning) -> (Vec<Seen>, InputStats) {
    let options = InputOptions {
        threads: Some(threads),
        ..InputOptions::default()
    };
    let mut seen = Vec::new();
    let stats = read_inputs_tuned(paths, &options, tuning, &mut |item| {
        seen.push(match item {
            Item::Observation(o) => Seen::Message {
                locator: o
                    .locator
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                header: o
                    .notes
                    .iter()
                    .find_map(|n| n.strip_prefix("header:"))
                    .unwrap_or_default()
                    .to_string(),
            },
            Item::Problem(p) => Seen::Problem {
                locator: p
                    .locator
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                message: p.message,
            },
        });
        ControlFlow::Continue(())
    })
    .expect("read");
    (seen, stats)
}

/// A naive reading: every line, one at a time.
fn reference(data: &[u8]) -> Vec<Seen> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    // (offset, header, still in the header block)
    let mut current: Option<(usize, Vec<u8>, bool)> = None;
    let finish = |current: Option<(usize, Vec<u8>, bool)>, eof: bool, out: &mut Vec<Seen>| {
        if let Some((at, header, open)) = current {
            let locator = format!("offset {at}");
            if eof && open {
                out.push(Seen::Problem {
                    locator: locator.clone(),
                    message: "the file ends inside this message's header block (truncated?)".into(),
                });
            }
            out.push(Seen::Message {
                locator,
                header: String::from_utf8_lossy(&header).into_owned(),
            });
        }
    };
    for line in data.split_inclusive(|&b| b == b'\n') {
        if parse_separator(line, offset == 0).is_some() {
            finish(current.take(), false, &mut out);
            current = Some((offset, Vec::new(), true));
        } else if let Some((_, header, open)) = current.as_mut().filter(|c| c.2) {
            if line == b"\n" || line == b"\r\n" {
                *open = false;
            } else {
                header.extend_from_slice(line);
            }
        }
        offset += line.len();
    }
    finish(current, true, &mut out);
    out
}

/// A small deterministic generator (xorshift), so the test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

fn generated_mbox(seed: u64, messages: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for i in 0..messages {
        let eol: &[u8] = if rng.below(4) == 0 { b"\r\n" } else { b"\n" };
        let line = |out: &mut Vec<u8>, text: &str| {
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(eol);
        };
        let separator = match rng.below(4) {
            0 => format!("From MAILER-DAEMON Fri Jul  8 12:08:{:02} 2011", i % 60),
            1 => "From - Mon Jan  1 00:00:00 2001".to_string(),
            2 => format!("From a{i}@b.example Sat, 1 Jan 2022 10:00:00 +0000"),
            _ => format!("From a{i}@b.example Sat Jan  1 10:00:00 2022"),
        };
        line(&mut out, &separator);
        for h in 0..1 + rng.below(30) {
            line(&mut out, &format!("X-Field-{h}: value {i} {h}"));
            if rng.below(5) == 0 {
                line(
                    &mut out,
                    &format!("\tcontinued {}", "c".repeat(rng.below(200))),
                );
            }
            if rng.below(60) == 0 {
                // A line longer than a small chunk.
                line(
                    &mut out,
                    &format!("X-Long: {}", "L".repeat(1000 + rng.below(3000))),
                );
            }
        }
        if rng.below(15) == 0 && i + 1 < messages {
            continue; // no body, not even the empty line: the next separator ends it
        }
        line(&mut out, "");
        for _ in 0..rng.below(60) {
            let text = match rng.below(12) {
                0 => String::new(),
                1 => "From the desk of nobody, without a date".to_string(),
                2 => ">From a@b Sat Jan  1 10:00:00 2022".to_string(),
                3 => "Received-SPF: fail (body text)".to_string(),
                4 => "B".repeat(rng.below(3000)),
                _ => format!("body line {}", "b".repeat(rng.below(80))),
            };
            line(&mut out, &text);
        }
    }
    out
}

fn temp_file(name: &str, data: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, data).expect("write");
    (dir, path)
}

#[test]
fn chunked_reading_matches_line_by_line_reading() {
    for seed in [1u64, 2, 3] {
        let mut data = generated_mbox(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 300);
        if seed == 3 {
            // End inside a header block.
            data.extend_from_slice(b"From z@z Sat Jan  1 10:00:00 2022\nX-Cut: yes\nX-Cu");
        }
        let expected = reference(&data);
        assert!(expected.len() >= 300, "{}", expected.len());
        let (_dir, path) = temp_file("gen.mbox", &data);
        for chunk_size in [1024, 1025, 1031, 1500, 2048, 4099, 65_536, 2 << 20] {
            for threads in [1, 3] {
                let tuning = Tuning {
                    chunk_size,
                    max_in_flight: Some(1 + threads),
                    ..Tuning::default()
                };
                let (seen, stats) = read_all(std::slice::from_ref(&path), threads, &tuning);
                assert_eq!(
                    seen, expected,
                    "seed {seed}, chunk {chunk_size}, {threads} threads"
                );
                assert_eq!(stats.bytes, data.len() as u64);
            }
        }
    }
}

/// A regular file is read at offsets by the workers in parallel; a stream (here gzip) in
/// turns with carried line ends. Both must give the naive reading.
#[test]
fn stream_reading_matches_line_by_line_reading_too() {
    use std::io::Write;
    let data = generated_mbox(0x5DEE_CE66_D1CE_4E5B, 200);
    let expected = reference(&data);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&data).expect("gzip");
    let (_dir, path) = temp_file("gen.mbox.gz", &encoder.finish().expect("gzip"));
    for chunk_size in [1024, 1031, 4099, 1 << 20] {
        for threads in [1, 2] {
            let tuning = Tuning {
                chunk_size,
                max_in_flight: Some(1 + threads),
                ..Tuning::default()
            };
            let (seen, stats) = read_all(std::slice::from_ref(&path), threads, &tuning);
            assert_eq!(seen, expected, "chunk {chunk_size}, {threads} threads");
            assert_eq!(stats.bytes, data.len() as u64);
        }
    }
}

#[test]
fn crlf_and_lf_fixtures_match_reference() {
    for name in ["lf.mbox", "crlf.mbox"] {
        let path = PathBuf::from("tests/data/input/mbox").join(name);
        let data = std::fs::read(&path).expect("fixture");
        let (seen, _) = read_all(std::slice::from_ref(&path), 2, &Tuning::default());
        assert_eq!(seen, reference(&data), "{name}");
        assert_eq!(seen.len(), 3);
        // Only top-level headers: the forwarded message's verdict stays in the body.
        for item in &seen {
            let Seen::Message { header, .. } = item else {
                panic!("{item:?}");
            };
            assert!(!header.contains("inner verdict"), "{header}");
            assert!(!header.contains("body text"), "{header}");
        }
    }
}

#[test]
fn header_cap_cuts_and_reports() {
    let header: String = (0..100)
        .map(|i| format!("X-H{i}: {}\n", "v".repeat(20)))
        .collect();
    let data = format!(
        "From a@b Sat Jan  1 10:00:00 2022\n{header}\nbody\nFrom a@b Sat Jan  1 10:00:01 2022\nA: 1\n\n"
    );
    let (_dir, path) = temp_file("cap.mbox", data.as_bytes());
    for chunk_size in [1024, 1500, 1 << 20] {
        let tuning = Tuning {
            chunk_size,
            header_cap: 1000,
            max_in_flight: None,
        };
        let (seen, _) = read_all(std::slice::from_ref(&path), 2, &tuning);
        assert_eq!(seen.len(), 3, "{seen:?}");
        match &seen[0] {
            Seen::Problem { locator, message } => {
                assert_eq!(locator, "offset 0");
                assert!(
                    message.starts_with("header block longer than 1000 bytes"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        match &seen[1] {
            Seen::Message { header: kept, .. } => {
                assert!(kept.len() <= 1000 && kept.len() > 900, "{}", kept.len());
                assert!(header.starts_with(kept.as_str()));
                assert!(
                    kept.ends_with('\n'),
                    "chunk {chunk_size}: kept {} bytes",
                    kept.len()
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&seen[2], Seen::Message { header, .. } if header == "A: 1\n"));
    }
}

#[test]
fn single_message_header_only_is_read() {
    let body = "x".repeat(200_000);
    let data = format!("Subject: big body\nFrom: a@b\n\n{body}");
    let (_dir, path) = temp_file("m.eml", data.as_bytes());
    let (seen, stats) = read_all(std::slice::from_ref(&path), 1, &Tuning::default());
    assert_eq!(
        seen,
        vec![Seen::Message {
            locator: String::new(),
            header: "Subject: big body\nFrom: a@b\n".into()
        }]
    );
    // The body was not read beyond the first sniffing read.
    assert!(stats.bytes < 64 * 1024, "{}", stats.bytes);
}

#[test]
fn blank_lines_before_the_first_separator_are_fine() {
    let data = b"\n\r\nFrom whoever\nA: 1\n\nbody\n";
    let (_dir, path) = temp_file("lead.mbox", data);
    let (seen, stats) = read_all(std::slice::from_ref(&path), 1, &Tuning::default());
    assert_eq!(
        seen,
        vec![Seen::Message {
            locator: "offset 3".into(),
            header: "A: 1\n".into()
        }]
    );
    assert_eq!(stats.problems, 0);
}

#[test]
fn text_before_the_first_separator_is_reported() {
    // Sniffed as an mbox only when it starts with `From `; a chunk that does not is junk.
    let data = b"From x\nA: 1\n\n";
    let (_dir, path) = temp_file("ok.mbox", data);
    let (seen, _) = read_all(std::slice::from_ref(&path), 1, &Tuning::default());
    assert_eq!(seen.len(), 1);
    // A first line too long for a chunk cannot be a separator: its bytes are reported.
    let mut long = b"From ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 5000));
    long.extend_from_slice(b"\nA: 1\n\n");
    let (_dir2, path2) = temp_file("long.mbox", &long);
    let tuning = Tuning {
        chunk_size: 1024,
        ..Tuning::default()
    };
    let (seen, _) = read_all(std::slice::from_ref(&path2), 1, &tuning);
    assert_eq!(
        seen,
        vec![Seen::Problem {
            locator: "offset 0".into(),
            message: "1024 bytes before the first message were skipped (no mbox 'From ' line)"
                .into()
        }]
    );
}

#[test]
fn the_same_directory_given_twice_is_read_twice() {
    let dir = PathBuf::from("tests/data/input/eml");
    let files = std::fs::read_dir(&dir).unwrap().count();
    let (seen, _) = read_all(&[dir.clone(), dir], 2, &Tuning::default());
    assert_eq!(seen.len(), 2 * files);
}

#[test]
fn separator_sender_and_date_reach_the_message() {
    let path = PathBuf::from("tests/data/input/mbox/crlf.mbox");
    let options = InputOptions::default();
    let mut separators = Vec::new();
    read_inputs(std::slice::from_ref(&path), &options, &mut |item| {
        if let Item::Observation(o) = item {
            separators.extend(
                o.notes
                    .iter()
                    .filter_map(|n| n.strip_prefix("separator:"))
                    .map(str::to_string),
            );
        }
    })
    .expect("read");
    assert_eq!(
        separators,
        vec![
            r#"Some("MAILER-DAEMON") Some("Fri Jul  8 12:08:34 2011")"#,
            r#"Some("-") Some("Mon Jan  1 00:00:00 2001")"#,
            r#"Some("bounce3@sender3.example") Some("Sat, 1 Jan 2022 10:00:03 +0000")"#,
        ]
    );
}
