//! `spfsleuth check` as a program: mistakes in the arguments are fatal (exit status 2) with
//! a message a person understands, before any DNS is touched.

use std::process::Command;

fn check(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
        .arg("check")
        .args(args)
        .output()
        .expect("run spfsleuth");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    for (args, message) in [
        (
            &["not-an-ip", "a@example.com"][..],
            "\"not-an-ip\" is not an IPv4 or IPv6 address",
        ),
        (&["192.0.2.1", ""][..], "give --helo NAME"),
        (
            &["192.0.2.1", "a@example.com", "--identity", "helo"][..],
            "--identity helo needs --helo NAME",
        ),
        (
            &["192.0.2.1", "a@example.com", "--identity", "bogus"][..],
            "not an SPF identity",
        ),
        (
            &["192.0.2.1", "a@example.com", "--nameserver", "ns.example"][..],
            "is not an IP address or IP:PORT",
        ),
        (
            &["192.0.2.1", "a@example.com", "--dns-timeout", "0"][..],
            "--dns-timeout",
        ),
    ] {
        let (code, stdout, stderr) = check(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
    }
}

#[test]
fn ip_and_sender_are_required_without_batch() {
    let (code, _, stderr) = check(&[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("IP"), "{stderr}");
}

/// `--save-dns /dev/stdout` (or any device or pipe) is written in place: renaming a temporary
/// file over it, as for a regular file, would replace the device node itself (as root, the
/// system's `/dev/null`). A FIFO in a temporary directory stands in for the device.
#[test]
fn save_dns_to_a_pipe_writes_into_it_instead_of_replacing_it() {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("answers.fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    // Open for reading and writing: on Linux this does not block, and keeps the pipe open
    // so that spfsleuth's own open for writing does not block either.
    let mut pipe = std::fs::File::options()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let zone = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/dns.zone");
    let fifo_arg = fifo.to_str().unwrap();
    let (code, _, stderr) = check(&[
        "192.0.2.10",
        "a@friend.example",
        "--zone",
        zone,
        "--save-dns",
        fifo_arg,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");
    let mut buffer = vec![0; 1 << 16];
    let read = pipe.read(&mut buffer).unwrap();
    let text = String::from_utf8_lossy(&buffer[..read]);
    assert!(text.contains("friend.example."), "{text}");
}
