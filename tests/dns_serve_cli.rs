//! The hidden `spfsleuth serve-dns` command, as benchmark scripts use it: it prints the
//! address it listens on, answers from the zone files, and keeps a stats file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spfsleuth::dns::resolver::ResolverLookup;
use spfsleuth::dns::{Lookup, RecordType};

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_dns_prints_its_address_and_counts_queries() {
    let dir = tempfile::tempdir().unwrap();
    let stats_path = dir.path().join("stats.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
        .args([
            "serve-dns",
            "--zone",
            "tests/data/dns/example.zone",
            "--listen",
            "127.0.0.1:0",
            "--stats-file",
        ])
        .arg(&stats_path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line.trim().parse().unwrap_or_else(|_| panic!("{line:?}"));

    let lookup = ResolverLookup::with_nameservers(&[addr], Duration::from_secs(5)).unwrap();
    let answer = lookup.lookup("example.com", RecordType::Txt).await.unwrap();
    assert_eq!(answer.len(), 1);
    assert!(
        lookup
            .lookup("nothere.example.com", RecordType::A)
            .await
            .is_err_and(|e| e.is_nx_domain())
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let text = std::fs::read_to_string(&stats_path).unwrap_or_default();
        if text.starts_with("queries 2\n") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(stats.starts_with("queries 2\ndistinct 2\n"), "{stats}");
    assert!(stats.contains("1 example.com TXT\n"), "{stats}");
    drop(server);
}

#[test]
fn serve_dns_rejects_a_bad_zone() {
    let output = Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
        .args([
            "serve-dns",
            "--zone",
            "tests/data/dns/malformed/bad_ipv4.zone",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tests/data/dns/malformed/bad_ipv4.zone:3: bad IPv4 address"),
        "{stderr}"
    );
}
