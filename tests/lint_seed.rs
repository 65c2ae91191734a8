//! The broken records of a real guide to SPF (`../shared/seeds/003_17ae7f637deb48f0.txt`,
//! a Chinese article that publishes `–all` with an en dash and `include: spf.icoremail.net`
//! with a space), read at test time and linted as published.

use std::path::PathBuf;

use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::lint::{Check, lint_domain};
use spfsleuth::spf::Profile;

fn seed() -> Option<String> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds/003_17ae7f637deb48f0.txt");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            let msg = format!("cannot read the seed {}: {e}", path.display());
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg} (required in CI)");
            }
            eprintln!("{msg}: skipped");
            None
        }
    }
}

#[test]
fn the_guides_records_are_reported_with_position_and_text() {
    let Some(text) = seed() else {
        return;
    };
    let records: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("v=spf1"))
        .collect();
    assert_eq!(records.len(), 3, "{records:#?}");

    let mut zone = MemoryZone::new();
    let domains = [
        "plain.example.com",
        "coremail.example.com",
        "relay.example.com",
    ];
    for (domain, record) in domains.iter().zip(&records) {
        zone.add_txt(domain, record);
    }
    // The include target exists: the problem is the space, not the target.
    zone.add_txt(
        "spf.icoremail.net",
        "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 -all",
    );

    let lines: Vec<Vec<String>> = domains
        .iter()
        .map(|d| futures::executor::block_on(lint_domain(&zone, &Profile::default(), d)).lines())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec![
                "plain.example.com: error: syntax error: invalid IPv4 address \"xxx.xxx.xx.xx\" in \"ip4:xxx.xxx.xx.xx\" at position 28",
                "plain.example.com: error: syntax error: unknown mechanism \"–all\" at position 42 (it starts with \"–\" (U+2013 EN DASH), not \"-\")",
                "plain.example.com: info: \"ip4:192.168.0.1\" is a private address range (RFC 1918): mail from the Internet never comes from it",
                "plain.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 2 errors, 0 warnings, 1 info; record \"v=spf1 ip4:192.168.0.1 ip4:xxx.xxx.xx.xx –all\"",
            ],
            vec![
                "coremail.example.com: error: syntax error: space after \"include:\" in \"include: spf.icoremail.net\" at position 8 (write \"include:spf.icoremail.net\")",
                "coremail.example.com: error: syntax error: unknown mechanism \"–all\" at position 35 (it starts with \"–\" (U+2013 EN DASH), not \"-\")",
                "coremail.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 2 errors, 0 warnings, 0 info; record \"v=spf1 include: spf.icoremail.net –all\"",
            ],
            vec![
                "relay.example.com: error: syntax error: space after \"include:\" in \"include: spf.icoremail.net\" at position 24 (write \"include:spf.icoremail.net\")",
                "relay.example.com: error: syntax error: unknown mechanism \"–all\" at position 51 (it starts with \"–\" (U+2013 EN DASH), not \"-\")",
                "relay.example.com: info: \"ip4:192.168.0.1\" is a private address range (RFC 1918): mail from the Internet never comes from it",
                "relay.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 2 errors, 0 warnings, 1 info; record \"v=spf1 ip4:192.168.0.1 include: spf.icoremail.net –all\"",
            ],
        ]
    );

    // The fixed records are clean (apart from the private address).
    let mut fixed = MemoryZone::new();
    fixed.add_txt(
        "coremail.example.com",
        &records[1]
            .replace("include: ", "include:")
            .replace('–', "-"),
    );
    fixed.add_txt("spf.icoremail.net", "v=spf1 ip4:192.0.2.0/24 -all");
    let report = futures::executor::block_on(lint_domain(
        &fixed,
        &Profile::default(),
        "coremail.example.com",
    ));
    assert_eq!(
        report.lines(),
        vec![
            "coremail.example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 0 errors, 0 warnings, 0 info; record \"v=spf1 include:spf.icoremail.net -all\""
        ]
    );
    assert_eq!(report.of(Check::Syntax).count(), 0);
}
