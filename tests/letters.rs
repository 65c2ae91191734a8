//! Evidence letters (`scan --reports`): RFC 5322 messages parsed back with mail-parser, the
//! text compared with golden files per language, and every proposed record proven with the
//! engine and lint. Regenerate the golden texts with `UPDATE_GOLDEN=1 cargo test --test letters`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mail_parser::{MessageParser, MimeHeaders};
use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::dns::overlay::TxtOverlay;
use spfsleuth::letters::proposal::propose;
use spfsleuth::model::{Identity, SpfResult};
use spfsleuth::spf::{Profile, Request};

const DATE: &str = "2026-12-08T09:00:00Z";

fn spfsleuth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spfsleuth"))
        .args(args)
        .output()
        .unwrap()
}

/// Scan the samples with letters (dated `DATE`) and `extra` options into a fresh directory.
fn scan_letters(extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let letters = dir.path().join("letters");
    let rows = dir.path().join("rows.csv");
    let mut args = vec![
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "-q",
        "-o",
        rows.to_str().unwrap(),
        "--reports",
        letters.to_str().unwrap(),
        "--letter-from",
        "postmaster@compnet.example",
        "--letter-date",
        DATE,
    ];
    args.extend_from_slice(extra);
    let out = spfsleuth(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, letters)
}

/// Scan the samples with letters in `lang`.
fn letters(lang: &str) -> (tempfile::TempDir, PathBuf) {
    scan_letters(&["--letter-lang", lang])
}

fn golden(name: &str, actual: &str) {
    let path = Path::new("tests/golden/letters").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{} differs", path.display());
}

/// The letter parsed back: its headers are there, its text is UTF-8, the evidence is attached.
fn check_letter(bytes: &[u8], domain: &str) -> String {
    let message = MessageParser::default().parse(bytes).unwrap();
    assert_eq!(
        message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some(format!("postmaster@{domain}").as_str())
    );
    assert_eq!(
        message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some("postmaster@compnet.example")
    );
    assert!(message.date().is_some());
    assert!(
        message
            .message_id()
            .is_some_and(|id| id.ends_with("@compnet.example"))
    );
    assert!(message.subject().is_some_and(|s| s.contains(domain)));
    let text_part = message.part(message.text_body[0]).unwrap();
    assert_eq!(
        text_part
            .content_type()
            .and_then(|c| c.attribute("charset")),
        Some("utf-8")
    );
    let names: Vec<String> = message
        .attachments()
        .map(|a| a.attachment_name().unwrap_or_default().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "dns-answers.zone"), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("message-1-")),
        "{names:?}"
    );
    for attachment in message.attachments() {
        if attachment.attachment_name() == Some("message-1-headers.txt") {
            assert_eq!(attachment.content_type().map(|c| c.ctype()), Some("text"));
            assert_eq!(
                attachment.content_type().and_then(|c| c.subtype()),
                Some("rfc822-headers")
            );
        }
    }
    message.body_text(0).unwrap().replace("\r\n", "\n")
}

#[test]
fn the_seed_story_letter_in_each_language() {
    for lang in ["en", "ja", "zh"] {
        let (_dir, letters) = letters(lang);
        let bytes = std::fs::read(letters.join("sub.example.co.jp.eml")).unwrap();
        let text = check_letter(&bytes, "sub.example.co.jp");
        // The seed story in plain words, with the corrected record, and English below.
        assert!(
            text.contains(
                "Your mail with the envelope sender error@sub.example.co.jp is sent from 198.51.100.154, which the record of example.co.jp covers (+ip4:198.51.100.128/25) but the record of sub.example.co.jp does not."
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "sub.example.co.jp. IN TXT \"v=spf1 ip4:198.51.100.92 ip4:203.0.113.64/27 ip4:198.51.100.154 -all\""
            ),
            "{text}"
        );
        for internal in ["misconfigured", "related_results", "reached us"] {
            assert!(!text.contains(internal), "{lang}: {internal:?} in {text}");
        }
        golden(&format!("{lang}/sub.example.co.jp.txt"), &text);
    }
}

#[test]
fn auto_picks_the_language_by_country_code_and_writes_an_index() {
    let (_dir, letters) = letters("auto");
    let index = std::fs::read_to_string(letters.join("index.csv")).unwrap();
    assert!(
        index.contains("2026-12-08,sub.example.co.jp,misconfigured,4,ja,sub.example.co.jp.eml"),
        "{index}"
    );
    assert!(
        index.contains(",trade.example.cn,record_broken,1,zh,trade.example.cn.eml"),
        "{index}"
    );
    // One letter per domain with a finding a sender can act on; none for a spoof.
    assert!(!letters.join("bank.example.eml").exists());
    assert!(!letters.join("friend.example.eml").exists());
    let bytes = std::fs::read(letters.join("trade.example.cn.eml")).unwrap();
    let text = check_letter(&bytes, "trade.example.cn");
    assert!(
        text.contains("trade.example.cn 的 SPF 记录有错误"),
        "{text}"
    );
    // The broken include's target does not exist: it is removed, never proposed.
    assert!(
        text.contains("trade.example.cn. IN TXT \"v=spf1 ip4:192.0.2.0/28 -all\""),
        "{text}"
    );
    assert!(
        text.contains("spf.mail.example.cn does not exist (NXDOMAIN)"),
        "{text}"
    );
    golden("auto/trade.example.cn.txt", &text);
}

#[test]
fn a_mistyped_or_missing_letter_from_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let letters = dir.path().join("letters");
    let out = spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "--reports",
        letters.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--letter-from"));
    let out = spfsleuth(&[
        "scan",
        "samples",
        "--zone",
        "samples/dns.zone",
        "--reports",
        letters.to_str().unwrap(),
        "--letter-from",
        "me@example.net\nBcc: victim@example.org",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!letters.exists());
}

#[test]
fn min_messages_and_letters_for_choose_the_letters() {
    let (_dir, letters) = scan_letters(&[
        "--min-messages",
        "2",
        "--letters-for",
        "misconfigured,unauthorized",
    ]);
    let mut names: Vec<String> = std::fs::read_dir(&letters)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names, ["index.csv", "sub.example.co.jp.eml"]);
}

async fn passes(zone: &MemoryZone, domain: &str, record: &str, ip: IpAddr) -> bool {
    let overlay = TxtOverlay::new(zone, domain, record);
    let request = Request {
        ip,
        mail_from: format!("news@{domain}"),
        helo: domain.to_string(),
        identity: Identity::MailFrom,
    };
    spfsleuth::spf::check_host(&overlay, &Profile::default(), &request)
        .await
        .result
        == SpfResult::Pass
}

#[tokio::test]
async fn every_proposal_passes_check_and_lint() {
    let mut zone = MemoryZone::new();
    // The related domain covers the IP, but its record includes a name that does not
    // exist: "include:example.org" would be a permerror, so it must not be proposed.
    zone.add_txt(
        "example.org",
        "v=spf1 ip4:192.0.2.0/24 include:gone.example.net -all",
    );
    zone.add_txt("news.example.org", "v=spf1 ip4:198.51.100.1 -all");
    zone.add_txt("_spf.example.com", "v=spf1 ip4:203.0.113.0/24 -all");
    let ip: IpAddr = "192.0.2.77".parse().unwrap();
    let v6: IpAddr = "2001:db8::25".parse().unwrap();
    let cases = [
        ("news.example.org", "v=spf1 ip4:198.51.100.1 -all", vec![ip]),
        (
            "news.example.org",
            "v=spf1 include:_spf.example.com include: gone.example.net ~all",
            vec![ip, v6],
        ),
        (
            "news.example.org",
            "v=spf1 ipv4:198.51.100.1 \u{2013}all",
            vec![ip],
        ),
        (
            "news.example.org",
            "v=spf1 redirect=_spf.example.com",
            vec![ip],
        ),
    ];
    for (domain, record, ips) in cases {
        let proposal = propose(&zone, &Profile::default(), domain, record, &ips).await;
        let proposed = proposal
            .record
            .clone()
            .unwrap_or_else(|| panic!("{record}: {proposal:?}"));
        assert!(!proposed.contains("include:example.org"), "{proposed}");
        assert!(!proposed.contains("gone.example.net"), "{proposed}");
        for ip in &ips {
            assert!(
                passes(&zone, domain, &proposed, *ip).await,
                "{proposed} for {ip}"
            );
        }
        let overlay = TxtOverlay::new(&zone, domain, &proposed);
        let report = spfsleuth::lint::lint_domain(&overlay, &Profile::default(), domain).await;
        assert!(!report.has_errors(), "{proposed}: {}", report.render());
        // What the record already authorised stays, with its `all` qualifier.
        if record.contains("~all") {
            assert!(proposed.ends_with("~all"), "{proposed}");
        }
    }
}
