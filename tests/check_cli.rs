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
