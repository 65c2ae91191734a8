//! Every check of `spfsleuth lint`, through `lint::lint_domain` over an in-memory zone, with
//! the exact lines it prints.

use std::net::Ipv4Addr;

use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::dns::{DnsError, RecordType};
use spfsleuth::lint::{Check, Report, Severity, lint_domain};
use spfsleuth::spf::Profile;

fn report(zone: &MemoryZone, domain: &str) -> Report {
    futures::executor::block_on(lint_domain(zone, &Profile::default(), domain))
}

/// Lint `domain` and compare the printed lines; on a difference, print the actual lines as
/// Rust literals.
#[track_caller]
fn expect(zone: &MemoryZone, domain: &str, expected: &[&str]) -> Report {
    let report = report(zone, domain);
    let actual = report.lines();
    if std::env::var_os("LINT_PRINT").is_some() {
        let literals: Vec<String> = actual
            .iter()
            .map(|l| format!("            {l:?},"))
            .collect();
        println!("=== {domain}\n{}", literals.join("\n"));
        return report;
    }
    if actual != expected {
        let literals: Vec<String> = actual.iter().map(|l| format!("        {l:?},")).collect();
        panic!(
            "lines differ for {domain}; actual:\n{}\n",
            literals.join("\n")
        );
    }
    report
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

#[test]
fn clean_record_gives_only_the_summary() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 ip4:192.0.2.0/24 mx -all");
    z.add_mx("example.com", 10, "mail.example.com");
    z.add_a("mail.example.com", ip(192, 0, 2, 10));
    let r = expect(
        &z,
        "Example.COM.",
        &[
            "example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 0 errors, 0 warnings, 0 info; record \"v=spf1 ip4:192.0.2.0/24 mx -all\"",
        ],
    );
    assert!(!r.has_errors());
    assert_eq!(r.dns_lookups, 1);
    assert!(r.counts_exact);
}

#[test]
fn syntax_errors_with_position_and_text() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 ipv4:192.0.2.1 a:museum ip4:192.0.2.0/33 -all",
    );
    let r = expect(
        &z,
        "example.com",
        &[
            "example.com: error: syntax error: unknown mechanism \"ipv4:192.0.2.1\" at position 8 (did you mean \"ip4:\"?)",
            "example.com: error: syntax error: invalid domain \"museum\" (not a fully qualified domain name) in \"a:museum\" at position 25",
            "example.com: error: syntax error: invalid CIDR length \"/33\" in \"ip4:192.0.2.0/33\" (0 to 32, no leading zeros) at position 45",
            "example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 3 errors, 0 warnings, 0 info; record \"v=spf1 ipv4:192.0.2.1 a:museum ip4:192.0.2.0/33 -all\"",
        ],
    );
    assert!(r.of(Check::Syntax).count() == 3);
}

#[test]
fn several_spf_records() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 mx -all");
    z.add_txt("example.com", "v=spf1 include:_spf.example.net ~all");
    z.add_txt("example.com", "google-site-verification=abc");
    let r = expect(
        &z,
        "example.com",
        &[
            "example.com: error: 2 SPF records at example.com (\"v=spf1 mx -all\", \"v=spf1 include:_spf.example.net ~all\"): receivers return permerror (RFC 7208 §4.5); merge them into one",
            "example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; 2 SPF records",
        ],
    );
    assert_eq!(r.record, None);
    assert_eq!(r.spf_records, 2);
}

#[test]
fn no_record_is_said_plainly() {
    let mut z = MemoryZone::new();
    z.add_a("noTXT.example.com", ip(192, 0, 2, 1));
    z.add_txt("other.example.com", "google-site-verification=abc");
    z.add_txt("other.example.com", "MS=ms12345");
    expect(
        &z,
        "nx.example.com",
        &[
            "nx.example.com: error: no SPF record: nx.example.com does not exist (NXDOMAIN); receivers get the result \"none\" and cannot tell forged mail from real",
            "nx.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; no record",
        ],
    );
    expect(
        &z,
        "notxt.example.com",
        &[
            "notxt.example.com: error: no SPF record: notxt.example.com has no TXT records; receivers get the result \"none\" and cannot tell forged mail from real",
            "notxt.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; no record",
        ],
    );
    expect(
        &z,
        "other.example.com",
        &[
            "other.example.com: error: no SPF record: other.example.com has 2 TXT records, and none starts with \"v=spf1\"; receivers get the result \"none\" and cannot tell forged mail from real",
            "other.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; no record",
        ],
    );
}

#[test]
fn txt_lookup_failure_is_a_temperror() {
    let mut z = MemoryZone::new();
    z.fail_name("slow.example.com", DnsError::Timeout);
    z.fail(
        "broken.example.com",
        RecordType::Txt,
        DnsError::ServerFailure("SERVFAIL".into()),
    );
    expect(
        &z,
        "slow.example.com",
        &[
            "slow.example.com: error: cannot check: the DNS TXT query for slow.example.com failed: timed out (receivers return temperror)",
            "slow.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; no record",
        ],
    );
    expect(
        &z,
        "broken.example.com",
        &[
            "broken.example.com: error: cannot check: the DNS TXT query for broken.example.com failed: server failure (SERVFAIL) (receivers return temperror)",
            "broken.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; no record",
        ],
    );
}

/// A realistic tree: the count is over every record, with the path where a receiver stops.
fn google_like() -> MemoryZone {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 mx a include:_spf.google.com include:mailgun.org include:spf.protection.outlook.com -all",
    );
    z.add_mx("example.com", 10, "mx1.example.com");
    z.add_mx("example.com", 20, "mx2.example.com");
    z.add_a("mx1.example.com", ip(192, 0, 2, 25));
    z.add_a("mx2.example.com", ip(192, 0, 2, 26));
    z.add_a("example.com", ip(192, 0, 2, 80));
    z.add_txt(
        "_spf.google.com",
        "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com ~all",
    );
    z.add_txt(
        "_netblocks.google.com",
        "v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/24 ~all",
    );
    z.add_txt(
        "_netblocks2.google.com",
        "v=spf1 ip6:2001:db8:4860::/48 ~all",
    );
    z.add_txt("_netblocks3.google.com", "v=spf1 ip4:192.0.2.128/25 ~all");
    z.add_txt("mailgun.org", "v=spf1 include:_spf.mailgun.org ~all");
    z.add_txt(
        "_spf.mailgun.org",
        "v=spf1 ip4:198.51.100.64/26 include:_spf2.mailgun.org ~all",
    );
    z.add_txt("_spf2.mailgun.org", "v=spf1 ip4:203.0.113.64/26 ~all");
    z.add_txt(
        "spf.protection.outlook.com",
        "v=spf1 ip4:192.0.2.0/26 include:spfa.protection.outlook.com -all",
    );
    z.add_txt(
        "spfa.protection.outlook.com",
        "v=spf1 ip4:192.0.2.64/26 -all",
    );
    z
}

#[test]
fn too_many_lookups_with_the_path() {
    let z = google_like();
    let r = expect(
        &z,
        "example.com",
        &[
            "example.com: error: 11 DNS lookups over the include tree (include, a, mx, ptr, exists, redirect), more than the limit of 10 (RFC 7208 §4.6.4); a receiver stops with permerror at lookup 11, \"include:spfa.protection.outlook.com\" in example.com -> include:spf.protection.outlook.com",
            "example.com: info: 5 DNS lookups in example.com: mx a include:_spf.google.com include:mailgun.org include:spf.protection.outlook.com",
            "example.com: info: 3 DNS lookups in example.com -> include:_spf.google.com: include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com",
            "example.com: info: 1 DNS lookup in example.com -> include:mailgun.org: include:_spf.mailgun.org",
            "example.com: info: 1 DNS lookup in example.com -> include:mailgun.org -> include:_spf.mailgun.org: include:_spf2.mailgun.org",
            "example.com: info: 1 DNS lookup in example.com -> include:spf.protection.outlook.com: include:spfa.protection.outlook.com",
            "example.com: summary: 11/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 5 info; record \"v=spf1 mx a include:_spf.google.com include:mailgun.org include:spf.protection.outlook.com -all\"",
        ],
    );
    assert_eq!(r.dns_lookups, 11);
    assert!(r.has_errors());
}

#[test]
fn near_the_lookup_limit_is_a_warning() {
    let mut z = google_like();
    z.add_txt(
        "near.example.com",
        "v=spf1 include:_spf.google.com include:mailgun.org a:example.com -all",
    );
    let r = expect(
        &z,
        "near.example.com",
        &[
            "near.example.com: warning: 8 of 10 DNS lookups used over the include tree (RFC 7208 §4.6.4): 2 more lookups are left",
            "near.example.com: info: 3 DNS lookups in near.example.com: include:_spf.google.com include:mailgun.org a:example.com",
            "near.example.com: info: 3 DNS lookups in near.example.com -> include:_spf.google.com: include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com",
            "near.example.com: info: 1 DNS lookup in near.example.com -> include:mailgun.org: include:_spf.mailgun.org",
            "near.example.com: info: 1 DNS lookup in near.example.com -> include:mailgun.org -> include:_spf.mailgun.org: include:_spf2.mailgun.org",
            "near.example.com: summary: 8/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 4 info; record \"v=spf1 include:_spf.google.com include:mailgun.org a:example.com -all\"",
        ],
    );
    assert_eq!(r.dns_lookups, 8);
    assert!(!r.has_errors());
    // The limits come from the profile.
    let strict = Profile {
        max_dns_mechanisms: 5,
        ..Profile::default()
    };
    let r = futures::executor::block_on(lint_domain(&z, &strict, "near.example.com"));
    assert_eq!(r.of(Check::TooManyLookups).count(), 1, "{:#?}", r.findings);
}

#[test]
fn void_lookups_warn_then_fail() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "one.example.com",
        "v=spf1 a:gone.example.com ip4:192.0.2.1 -all",
    );
    z.add_txt(
        "three.example.com",
        "v=spf1 a:gone.example.com mx:nomx.example.com exists:nothing.example.com a:v6only.example.com -all",
    );
    z.add_txt("nomx.example.com", "v=spf1 -all");
    z.add_aaaa("v6only.example.com", "2001:db8::1".parse().unwrap());
    expect(
        &z,
        "one.example.com",
        &[
            "one.example.com: warning: \"a:gone.example.com\": gone.example.com does not exist (NXDOMAIN), a void lookup (RFC 7208 §4.6.4 allows 2 in one evaluation)",
            "one.example.com: summary: 1/10 DNS lookups, 1/2 void lookups, 0 errors, 1 warning, 0 info; record \"v=spf1 a:gone.example.com ip4:192.0.2.1 -all\"",
        ],
    );
    let r = expect(
        &z,
        "three.example.com",
        &[
            "three.example.com: error: 4 void lookups over the include tree, more than the limit of 2 (RFC 7208 §4.6.4): receivers return permerror",
            "three.example.com: warning: \"a:gone.example.com\": gone.example.com does not exist (NXDOMAIN), a void lookup (RFC 7208 §4.6.4 allows 2 in one evaluation)",
            "three.example.com: warning: \"mx:nomx.example.com\": nomx.example.com has no MX records, a void lookup (RFC 7208 §4.6.4 allows 2 in one evaluation)",
            "three.example.com: warning: \"exists:nothing.example.com\": nothing.example.com does not exist (NXDOMAIN), a void lookup (RFC 7208 §4.6.4 allows 2 in one evaluation)",
            "three.example.com: warning: \"a:v6only.example.com\": v6only.example.com has no A record, only AAAA (void for IPv4 clients), a void lookup (RFC 7208 §4.6.4 allows 2 in one evaluation)",
            "three.example.com: summary: 4/10 DNS lookups, 4/2 void lookups, 1 error, 4 warnings, 0 info; record \"v=spf1 a:gone.example.com mx:nomx.example.com exists:nothing.example.com a:v6only.example.com -all\"",
        ],
    );
    assert_eq!(r.void_lookups, 4);
}

#[test]
fn too_many_mx_names_and_hosts_without_address() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 mx -all");
    for i in 0..12u8 {
        z.add_mx("example.com", u16::from(i), &format!("mx{i}.example.com"));
        if i != 3 {
            z.add_a(&format!("mx{i}.example.com"), ip(192, 0, 2, i));
        }
    }
    z.add_txt("small.example.com", "v=spf1 mx mx:null.example.com -all");
    z.add_mx("small.example.com", 10, "mx3.example.com");
    z.add_mx("small.example.com", 20, "mx4.example.com");
    z.add_mx("null.example.com", 0, ".");
    expect(
        &z,
        "example.com",
        &[
            "example.com: error: \"mx\": example.com has 12 MX names, more than 10 (RFC 7208 §4.6.4): receivers return permerror",
            "example.com: warning: \"mx\" (MX host of example.com): mx3.example.com does not exist (NXDOMAIN), so that MX entry never matches",
            "example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 1 error, 1 warning, 0 info; record \"v=spf1 mx -all\"",
        ],
    );
    expect(
        &z,
        "small.example.com",
        &[
            "small.example.com: warning: \"mx\" (MX host of small.example.com): mx3.example.com does not exist (NXDOMAIN), so that MX entry never matches",
            "small.example.com: info: \"mx:null.example.com\": null.example.com publishes a null MX (RFC 7505), so the term matches nothing",
            "small.example.com: summary: 2/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 1 info; record \"v=spf1 mx mx:null.example.com -all\"",
        ],
    );
}

#[test]
fn include_and_redirect_without_record() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 include:nx.example.net include:nospf.example.net -all",
    );
    z.add_txt("nospf.example.net", "some other text");
    z.add_txt("redir.example.com", "v=spf1 redirect=gone.example.net");
    expect(
        &z,
        "example.com",
        &[
            "example.com: error: \"include:nx.example.net\": no SPF record at nx.example.net, which does not exist (NXDOMAIN); receivers return permerror (RFC 7208 §5.2)",
            "example.com: error: \"include:nospf.example.net\": no SPF record at nospf.example.net, which has one TXT record, and it does not start with \"v=spf1\"; receivers return permerror (RFC 7208 §5.2)",
            "example.com: summary: 2/10 DNS lookups, 0/2 void lookups, 2 errors, 0 warnings, 0 info; record \"v=spf1 include:nx.example.net include:nospf.example.net -all\"",
        ],
    );
    expect(
        &z,
        "redir.example.com",
        &[
            "redir.example.com: error: \"redirect=gone.example.net\": no SPF record at gone.example.net, which does not exist (NXDOMAIN); receivers return permerror (RFC 7208 §6.1)",
            "redir.example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; record \"v=spf1 redirect=gone.example.net\"",
        ],
    );
}

#[test]
fn all_qualifiers_ptr_and_term_order() {
    let mut z = MemoryZone::new();
    z.add_txt("plus.example.com", "v=spf1 ip4:192.0.2.1 +all");
    z.add_txt("bare.example.com", "v=spf1 all");
    z.add_txt("neutral.example.com", "v=spf1 ip4:192.0.2.1 ?all");
    z.add_txt("noall.example.com", "v=spf1 ip4:192.0.2.1");
    z.add_txt(
        "order.example.com",
        "v=spf1 ip4:192.0.2.1 -all include:_spf.example.net ip4:192.0.2.2 redirect=other.example.net",
    );
    z.add_txt("ptr.example.com", "v=spf1 ptr ptr:example.net ~all");
    // In an included record, "?all" and a missing "all" are normal; "+all" is not.
    z.add_txt(
        "inc.example.com",
        "v=spf1 include:open.example.net include:partial.example.net -all",
    );
    z.add_txt("open.example.net", "v=spf1 +all");
    z.add_txt("partial.example.net", "v=spf1 ip4:192.0.2.9 ?all");
    expect(
        &z,
        "plus.example.com",
        &[
            "plus.example.com: error: \"+all\" lets every IP address on the Internet pass; anyone can send mail as plus.example.com: use \"-all\" or \"~all\"",
            "plus.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; record \"v=spf1 ip4:192.0.2.1 +all\"",
        ],
    );
    expect(
        &z,
        "bare.example.com",
        &[
            "bare.example.com: error: \"all\" without a qualifier means \"+all\": every IP address on the Internet passes; anyone can send mail as bare.example.com: use \"-all\" or \"~all\"",
            "bare.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; record \"v=spf1 all\"",
        ],
    );
    expect(
        &z,
        "neutral.example.com",
        &[
            "neutral.example.com: warning: \"?all\": senders not listed get neutral, which receivers treat like no policy; use \"~all\" or \"-all\"",
            "neutral.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 0 info; record \"v=spf1 ip4:192.0.2.1 ?all\"",
        ],
    );
    expect(
        &z,
        "noall.example.com",
        &[
            "noall.example.com: warning: no \"all\" and no \"redirect=\": senders not listed get neutral (RFC 7208 §4.7), which receivers treat like no policy; end the record with \"-all\" or \"~all\"",
            "noall.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 0 info; record \"v=spf1 ip4:192.0.2.1\"",
        ],
    );
    expect(
        &z,
        "order.example.com",
        &[
            "order.example.com: warning: \"include:_spf.example.net\", \"ip4:192.0.2.2\" come after \"-all\" and are never evaluated: move them before it",
            "order.example.com: warning: \"redirect=other.example.net\" is ignored because the record has \"-all\" (RFC 7208 §6.1): remove one of them",
            "order.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 2 warnings, 0 info; record \"v=spf1 ip4:192.0.2.1 -all include:_spf.example.net ip4:192.0.2.2 redirect=other.example.net\"",
        ],
    );
    expect(
        &z,
        "ptr.example.com",
        &[
            "ptr.example.com: warning: \"ptr\" is slow and unreliable, and RFC 7208 §5.5 says it SHOULD NOT be used: list the sending addresses with ip4:/ip6:, or use a/mx",
            "ptr.example.com: warning: \"ptr:example.net\" is slow and unreliable, and RFC 7208 §5.5 says it SHOULD NOT be used: list the sending addresses with ip4:/ip6:, or use a/mx",
            "ptr.example.com: summary: 2/10 DNS lookups, 0/2 void lookups, 0 errors, 2 warnings, 0 info; record \"v=spf1 ptr ptr:example.net ~all\"",
        ],
    );
    expect(
        &z,
        "inc.example.com",
        &[
            "inc.example.com: error: in inc.example.com -> include:open.example.net: \"+all\" lets every IP address on the Internet pass; the include matches every address, so whoever includes open.example.net passes everyone",
            "inc.example.com: summary: 2/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; record \"v=spf1 include:open.example.net include:partial.example.net -all\"",
        ],
    );
}

#[test]
fn modifiers() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 ip4:192.0.2.1 -all moo=cow default=deny redirct=other.example.net v=spf1",
    );
    z.add_txt(
        "dup.example.com",
        "v=spf1 redirect=a.example.net redirect=b.example.net exp=x.example.net exp=y.example.net",
    );
    expect(
        &z,
        "example.com",
        &[
            "example.com: warning: \"default=deny\" is not part of SPF (it comes from a draft before RFC 4408); receivers ignore it: end the record with \"-all\" or \"~all\" instead",
            "example.com: warning: unknown modifier \"redirct=other.example.net\": did you mean \"redirect=\"? receivers ignore it (RFC 7208 §6)",
            "example.com: warning: \"v=spf1\" inside the record: two records run together? receivers ignore it as an unknown modifier",
            "example.com: info: unknown modifier \"moo=cow\" is ignored by receivers (RFC 7208 §6)",
            "example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 3 warnings, 1 info; record \"v=spf1 ip4:192.0.2.1 -all moo=cow default=deny redirct=other.example.net v=spf1\"",
        ],
    );
    expect(
        &z,
        "dup.example.com",
        &[
            "dup.example.com: error: syntax error: \"redirect=\" appears more than once (\"redirect=b.example.net\") at position 31 (RFC 7208 §6 allows each of redirect= and exp= once)",
            "dup.example.com: error: syntax error: \"exp=\" appears more than once (\"exp=y.example.net\") at position 72 (RFC 7208 §6 allows each of redirect= and exp= once)",
            "dup.example.com: error: \"redirect=a.example.net\": no SPF record at a.example.net, which does not exist (NXDOMAIN); receivers return permerror (RFC 7208 §6.1)",
            "dup.example.com: info: \"exp=x.example.net\" is never used: \"redirect=a.example.net\" hands the evaluation to a.example.net, whose own exp= applies (RFC 7208 §6.1)",
            "dup.example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 3 errors, 0 warnings, 1 info; record \"v=spf1 redirect=a.example.net redirect=b.example.net exp=x.example.net exp=y.example.net\"",
        ],
    );
    // RFC 6652 reporting modifiers are known extensions.
    z.add_txt(
        "report.example.com",
        "v=spf1 -all ra=postmaster rp=100 rr=e:f",
    );
    expect(
        &z,
        "report.example.com",
        &[
            "report.example.com: info: \"ra=postmaster\" is an RFC 6652 reporting modifier: receivers that do not support it ignore it",
            "report.example.com: info: \"rp=100\" is an RFC 6652 reporting modifier: receivers that do not support it ignore it",
            "report.example.com: info: \"rr=e:f\" is an RFC 6652 reporting modifier: receivers that do not support it ignore it",
            "report.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 0 warnings, 3 info; record \"v=spf1 -all ra=postmaster rp=100 rr=e:f\"",
        ],
    );
}

#[test]
fn explanation_problems() {
    let mut z = MemoryZone::new();
    z.add_txt("none.example.com", "v=spf1 -all exp=nx.example.com");
    z.add_txt("two.example.com", "v=spf1 -all exp=explain.two.example.com");
    z.add_txt("explain.two.example.com", "first");
    z.add_txt("explain.two.example.com", "second");
    z.add_txt("spf.example.com", "v=spf1 -all exp=spf.example.com");
    z.add_txt(
        "macro.example.com",
        "v=spf1 -all exp=explain.macro.example.com",
    );
    z.add_txt("explain.macro.example.com", "%{z} is not allowed");
    z.add_txt(
        "good.example.com",
        "v=spf1 -all exp=explain.good.example.com",
    );
    z.add_txt(
        "explain.good.example.com",
        "%{i} is not one of %{d}'s senders",
    );
    z.add_txt(
        "redir.example.com",
        "v=spf1 exp=explain.good.example.com redirect=good.example.com",
    );
    z.add_txt("inc.example.com", "v=spf1 include:good.example.com -all");
    expect(
        &z,
        "none.example.com",
        &[
            "none.example.com: warning: \"exp=nx.example.com\": nx.example.com does not exist (NXDOMAIN), so receivers send no explanation with a fail",
            "none.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 0 info; record \"v=spf1 -all exp=nx.example.com\"",
        ],
    );
    expect(
        &z,
        "two.example.com",
        &[
            "two.example.com: warning: \"exp=explain.two.example.com\": explain.two.example.com has 2 TXT records (there must be exactly one), so receivers send no explanation with a fail",
            "two.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 0 info; record \"v=spf1 -all exp=explain.two.example.com\"",
        ],
    );
    expect(
        &z,
        "spf.example.com",
        &[
            "spf.example.com: warning: \"exp=spf.example.com\": spf.example.com holds an SPF record, not an explanation text (exp= names a TXT record with a sentence for the rejected sender), so receivers send no explanation with a fail",
            "spf.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 0 info; record \"v=spf1 -all exp=spf.example.com\"",
        ],
    );
    expect(
        &z,
        "macro.example.com",
        &[
            "macro.example.com: warning: \"exp=explain.macro.example.com\": the text at explain.macro.example.com has a macro error: unknown macro letter in \"%{z}\" (letters are s l o d i p h v, and c r t in explanations) at position 1, so receivers send no explanation with a fail",
            "macro.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 0 info; record \"v=spf1 -all exp=explain.macro.example.com\"",
        ],
    );
    expect(
        &z,
        "good.example.com",
        &[
            "good.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 0 warnings, 0 info; record \"v=spf1 -all exp=explain.good.example.com\"",
        ],
    );
    expect(
        &z,
        "redir.example.com",
        &[
            "redir.example.com: info: \"exp=explain.good.example.com\" is never used: \"redirect=good.example.com\" hands the evaluation to good.example.com, whose own exp= applies (RFC 7208 §6.1)",
            "redir.example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 0 errors, 0 warnings, 1 info; record \"v=spf1 exp=explain.good.example.com redirect=good.example.com\"",
        ],
    );
    expect(
        &z,
        "inc.example.com",
        &[
            "inc.example.com: info: in inc.example.com -> include:good.example.com: \"exp=explain.good.example.com\" in an included record is never used: only the record that decides the result gives the explanation (RFC 7208 §6.2)",
            "inc.example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 0 errors, 0 warnings, 1 info; record \"v=spf1 include:good.example.com -all\"",
        ],
    );
}

#[test]
fn macros_in_odd_places() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 include:%{l}.users.example.com a:%{p}.example.com exists:%{i}._spf.%{d} include:_spf.%{d} -all",
    );
    z.add_txt("_spf.example.com", "v=spf1 ip4:192.0.2.0/24 -all");
    let r = expect(
        &z,
        "example.com",
        &[
            "example.com: warning: \"a:%{p}.example.com\" uses %{p}, which RFC 7208 §7.3 says SHOULD NOT be used (slow, unreliable, and extra DNS queries)",
            "example.com: info: \"include:%{l}.users.example.com\" depends on the message (%{l}): lint cannot follow it; it counts as one DNS lookup, and what it leads to is not checked",
            "example.com: info: \"a:%{p}.example.com\" depends on the message (%{p}): lint cannot follow it; it counts as one DNS lookup, and what it leads to is not checked",
            "example.com: summary: 4+/10 DNS lookups, 0+/2 void lookups, 0 errors, 1 warning, 2 info; record \"v=spf1 include:%{l}.users.example.com a:%{p}.example.com exists:%{i}._spf.%{d} include:_spf.%{d} -all\"",
        ],
    );
    assert!(!r.counts_exact);
}

#[test]
fn txt_strings() {
    let mut z = MemoryZone::new();
    // One string over 255 bytes: only an in-memory zone (or a broken server) holds that.
    let mut long = String::from("v=spf1");
    for i in 0..30 {
        long.push_str(&format!(" ip4:192.0.2.{i}"));
    }
    long.push_str(" -all");
    z.add_txt("long.example.com", &long);
    // A correct split inside a term, and one that glues two terms together.
    z.add_txt_strings(
        "split.example.com",
        vec![b"v=spf1 ip4:192.0.2.".to_vec(), b"1 -all".to_vec()],
    );
    z.add_txt_strings(
        "glued.example.com",
        vec![
            b"v=spf1 include:a.example.net".to_vec(),
            b"include:b.example.net".to_vec(),
            b" ip4:192.0.2.1".to_vec(),
            b"-all".to_vec(),
        ],
    );
    z.add_txt("a.example.net", "v=spf1 -all");
    z.add_txt("b.example.net", "v=spf1 -all");
    // A big TXT answer (many records at one name).
    z.add_txt("big.example.com", "v=spf1 ip4:192.0.2.0/24 -all");
    for i in 0..3 {
        z.add_txt(
            "big.example.com",
            &format!("verification-{i}={}", "x".repeat(150)),
        );
    }
    // Records that look like SPF but are not selected.
    z.add_txt_strings(
        "nospace.example.com",
        vec![b"v=spf1".to_vec(), b"ip4:192.0.2.1 -all".to_vec()],
    );
    z.add_txt("quoted.example.com", "\"v=spf1 ip4:192.0.2.1 -all\"");
    z.add_txt("quoted.example.com", "v=spf1 ip4:192.0.2.1 -all");
    expect(
        &z,
        "long.example.com",
        &[
            "long.example.com: error: the record is one string of 451 bytes, but a DNS character-string holds at most 255 (RFC 1035 §3.3): the zone was built wrongly, and servers reject or cut it; split the record into strings of at most 255 bytes",
            "long.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; record \"v=spf1 ip4:192.0.2.0 ip4:192.0.2.1 ip4:192.0.2.2 ip4:192.0.2.3 ip4:192.0.2.4 ip4:192.0.2.5 ip4:192.0.2.6 ip4:192.0.2.7 ip4:192.0.2.8 ip4:192.0.2.9 ip4:192.0.2.10 ip4:192.0.2.11 ip4:192.0.2.12 ip4:192.0.2.13 ip4:192.0.2.14 ip4:192.0.2.15 ip4:192.0.2.16 ip4:192.0.2.17 ip4:192.0.2.18 ip4:192.0.2.19 ip4:192.0.2.20 ip4:192.0.2.21 ip4:192.0.2.22 ip4:192.0.2.23 ip4:192.0.2.24 ip4:192.0.2.25 ip4:192.0.2.26 ip4:192.0.2.27 ip4:192.0.2.28 ip4:192.0.2.29 -all\"",
        ],
    );
    expect(
        &z,
        "split.example.com",
        &[
            "split.example.com: info: strings 1 and 2 of the TXT record are split inside the term \"ip4:192.0.2.1\" (\"ip4:192.0.2.\" + \"1\"): receivers join them correctly, but the record is easy to break when edited",
            "split.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 0 warnings, 1 info; record \"v=spf1 ip4:192.0.2.1 -all\"",
        ],
    );
    expect(
        &z,
        "glued.example.com",
        &[
            "glued.example.com: error: strings 1 and 2 of the TXT record are joined without a space: \"...include:a.example.net\" + \"include:b.example.net...\" gives \"include:a.example.netinclude:b.example.net\" (receivers join the strings as they are, RFC 7208 §3.3); end string 1 with a space",
            "glued.example.com: error: strings 3 and 4 of the TXT record are joined without a space: \"...ip4:192.0.2.1\" + \"-all...\" gives \"ip4:192.0.2.1-all\" (receivers join the strings as they are, RFC 7208 §3.3); end string 3 with a space",
            "glued.example.com: error: syntax error: invalid IPv4 address \"192.0.2.1-all\" in \"ip4:192.0.2.1-all\" at position 55",
            "glued.example.com: error: \"include:a.example.netinclude:b.example.net\": no SPF record at a.example.netinclude:b.example.net, which does not exist (NXDOMAIN); receivers return permerror (RFC 7208 §5.2)",
            "glued.example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 4 errors, 0 warnings, 0 info; record \"v=spf1 include:a.example.netinclude:b.example.net ip4:192.0.2.1-all\"",
        ],
    );
    expect(
        &z,
        "big.example.com",
        &[
            "big.example.com: warning: the TXT answer for big.example.com is about 608 bytes (4 records), more than 512: over UDP without EDNS it is truncated and must be retried over TCP, which some receivers do not do (temperror)",
            "big.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 0 info; record \"v=spf1 ip4:192.0.2.0/24 -all\"",
        ],
    );
    expect(
        &z,
        "nospace.example.com",
        &[
            "nospace.example.com: error: a TXT record at nospace.example.com looks like SPF, but receivers ignore it: strings 1 and 2 are joined without a space (\"v=spf1\" + \"ip4:192.0.2.1 -all\"); the text is: v=spf1ip4:192.0.2.1 -all",
            "nospace.example.com: error: no SPF record: nospace.example.com has no TXT record that receivers take for SPF (\"v=spf1\" exactly, then a space or the end); receivers get the result \"none\" and cannot tell forged mail from real",
            "nospace.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 2 errors, 0 warnings, 0 info; no record",
        ],
    );
    expect(
        &z,
        "quoted.example.com",
        &[
            "quoted.example.com: warning: a TXT record at quoted.example.com looks like SPF, but receivers ignore it: it starts with a quotation mark (\") before \"v=spf1\" (quotes typed into a DNS control panel become part of the text); the text is: \"v=spf1 ip4:192.0.2.1 -all\"",
            "quoted.example.com: summary: 0/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 0 info; record \"v=spf1 ip4:192.0.2.1 -all\"",
        ],
    );
}

#[test]
fn loops_and_duplicates() {
    let mut z = MemoryZone::new();
    z.add_txt("self.example.com", "v=spf1 include:self.example.com -all");
    z.add_txt("a.example.com", "v=spf1 include:b.example.com -all");
    z.add_txt(
        "b.example.com",
        "v=spf1 ip4:192.0.2.1 include:a.example.com ~all",
    );
    z.add_txt("r.example.com", "v=spf1 redirect=%{d}");
    z.add_txt(
        "dup.example.com",
        "v=spf1 include:_spf.example.net include:other.example.net -all",
    );
    z.add_txt("other.example.net", "v=spf1 include:_spf.example.net ~all");
    z.add_txt("_spf.example.net", "v=spf1 a:mail.example.net ~all");
    z.add_a("mail.example.net", ip(192, 0, 2, 1));
    expect(
        &z,
        "self.example.com",
        &[
            "self.example.com: error: \"include:self.example.com\" leads back to self.example.com: an include/redirect loop (self.example.com -> include:self.example.com); receivers count lookups until the limit and return permerror",
            "self.example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; record \"v=spf1 include:self.example.com -all\"",
        ],
    );
    expect(
        &z,
        "a.example.com",
        &[
            "a.example.com: error: in a.example.com -> include:b.example.com: \"include:a.example.com\" leads back to a.example.com: an include/redirect loop (a.example.com -> include:b.example.com -> include:a.example.com); receivers count lookups until the limit and return permerror",
            "a.example.com: summary: 2/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; record \"v=spf1 include:b.example.com -all\"",
        ],
    );
    expect(
        &z,
        "r.example.com",
        &[
            "r.example.com: error: \"redirect=%{d}\" leads back to r.example.com: an include/redirect loop (r.example.com -> redirect=%{d}); receivers count lookups until the limit and return permerror",
            "r.example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; record \"v=spf1 redirect=%{d}\"",
        ],
    );
    expect(
        &z,
        "dup.example.com",
        &[
            "dup.example.com: warning: in dup.example.com -> include:other.example.net: \"include:_spf.example.net\" reaches _spf.example.net a second time (first via dup.example.com -> include:_spf.example.net): the 2 DNS lookups it costs here are wasted",
            "dup.example.com: summary: 5/10 DNS lookups, 0/2 void lookups, 0 errors, 1 warning, 0 info; record \"v=spf1 include:_spf.example.net include:other.example.net -all\"",
        ],
    );
}

#[test]
fn dns_failures_below_the_top() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 include:slow.example.net a:broken.example.net mx -all",
    );
    z.fail_name("slow.example.net", DnsError::Timeout);
    z.fail(
        "broken.example.net",
        RecordType::A,
        DnsError::ServerFailure("SERVFAIL".into()),
    );
    z.add_mx("example.com", 10, "mx.example.net");
    z.fail("mx.example.net", RecordType::A, DnsError::Timeout);
    expect(
        &z,
        "example.com",
        &[
            "example.com: error: \"include:slow.example.net\": the DNS TXT query for slow.example.net failed: timed out (receivers return temperror)",
            "example.com: error: \"a:broken.example.net\": the DNS A query for broken.example.net failed: server failure (SERVFAIL) (receivers return temperror)",
            "example.com: error: \"mx\" (MX host of example.com): the DNS A query for mx.example.net failed: timed out (receivers return temperror)",
            "example.com: summary: 3/10 DNS lookups, 0/2 void lookups, 3 errors, 0 warnings, 0 info; record \"v=spf1 include:slow.example.net a:broken.example.net mx -all\"",
        ],
    );
}

#[test]
fn problems_in_included_records_name_their_path() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 include:_spf.example.com -all");
    z.add_txt(
        "_spf.example.com",
        "v=spf1 include:bad.example.net ip4:192.0.2.0/24 ~all",
    );
    z.add_txt("bad.example.net", "v=spf1 ipv4:198.51.100.1 –all");
    expect(
        &z,
        "example.com",
        &[
            "example.com: error: in example.com -> include:_spf.example.com -> include:bad.example.net: syntax error: unknown mechanism \"ipv4:198.51.100.1\" at position 8 (did you mean \"ip4:\"?)",
            "example.com: error: in example.com -> include:_spf.example.com -> include:bad.example.net: syntax error: unknown mechanism \"–all\" at position 26 (it starts with \"–\" (U+2013 EN DASH), not \"-\")",
            "example.com: summary: 2/10 DNS lookups, 0/2 void lookups, 2 errors, 0 warnings, 0 info; record \"v=spf1 include:_spf.example.com -all\"",
        ],
    );
}

#[test]
fn address_ranges() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 ip4:10.1.0.0/16 ip6:fd00::/8 ip4:0.0.0.0/0 a/0 -all",
    );
    z.add_a("example.com", ip(192, 0, 2, 1));
    expect(
        &z,
        "example.com",
        &[
            "example.com: error: \"ip4:0.0.0.0/0\" covers every IPv4 address: every IP address on the Internet passes",
            "example.com: error: \"a/0\": a /0 prefix covers every address of that family as soon as the name has one: every IP address on the Internet passes",
            "example.com: info: \"ip4:10.1.0.0/16\" is a private address range (RFC 1918): mail from the Internet never comes from it",
            "example.com: info: \"ip6:fd00::/8\" is a unique local address range (RFC 4193): mail from the Internet never comes from it",
            "example.com: summary: 1/10 DNS lookups, 0/2 void lookups, 2 errors, 0 warnings, 2 info; record \"v=spf1 ip4:10.1.0.0/16 ip6:fd00::/8 ip4:0.0.0.0/0 a/0 -all\"",
        ],
    );
}

#[test]
fn names_that_are_not_domains() {
    let z = MemoryZone::new();
    for name in [
        "localhost",
        "192.0.2.1",
        "exa mple.com",
        "",
        "ex\u{e4}mple.com",
    ] {
        let r = report(&z, name);
        assert_eq!(r.findings.len(), 1, "{name:?}: {:#?}", r.findings);
        assert_eq!(r.findings[0].check, Check::InvalidDomain);
        assert_eq!(r.findings[0].severity, Severity::Error);
    }
    expect(
        &z,
        "192.0.2.1",
        &[
            "192.0.2.1: error: \"192.0.2.1\" is not a domain SPF can be checked for: it is an IP address, not a domain name",
            "192.0.2.1: summary: 0/10 DNS lookups, 0/2 void lookups, 1 error, 0 warnings, 0 info; no record",
        ],
    );
}
