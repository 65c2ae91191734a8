//! Hostile input for `lint`: include loops, huge fan-out, 1,000-term records, 64 KB TXT
//! records, junk bytes, DNS that times out everywhere. Every case must end with a report
//! (no panic, no endless walk), with printable, bounded lines.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::dns::{Answer, DnsError, Lookup, LookupFuture, RecordType};
use spfsleuth::lint::{Check, Report, lint_domain};
use spfsleuth::spf::Profile;

fn lint(lookup: &dyn Lookup, domain: &str) -> Report {
    let report = futures::executor::block_on(lint_domain(lookup, &Profile::default(), domain));
    assert_sane(&report);
    if std::env::var_os("LINT_PRINT").is_some() {
        print!("{}", report.render());
    }
    report
}

/// Every line is one printable line of bounded length; the summary comes last.
fn assert_sane(report: &Report) {
    let lines = report.lines();
    assert_eq!(lines.len(), report.findings.len() + 1);
    for line in &lines {
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.len() < 3000, "line of {} bytes", line.len());
        assert!(line.starts_with(&format!("{}: ", report.domain)));
    }
    assert!(lines.last().unwrap().contains(": summary: "));
}

#[test]
fn include_loops_of_every_shape() {
    let mut z = MemoryZone::new();
    // A ring of 40 domains, and one of 1,000 (longer than the walk follows).
    for i in 0..40 {
        z.add_txt(
            &format!("r{i}.example.com"),
            &format!("v=spf1 include:r{}.example.com -all", (i + 1) % 40),
        );
    }
    for i in 0..1000 {
        z.add_txt(
            &format!("ring{i}.example.com"),
            &format!("v=spf1 include:ring{}.example.com -all", (i + 1) % 1000),
        );
    }
    // Redirects to each other, and to themselves through a macro.
    z.add_txt("p.example.com", "v=spf1 redirect=q.example.com");
    z.add_txt("q.example.com", "v=spf1 redirect=p.example.com");
    z.add_txt("m.example.com", "v=spf1 include:%{d} redirect=%{o}");
    // A loop through a CNAME.
    z.add_cname("alias.example.com", "c.example.com");
    z.add_txt("c.example.com", "v=spf1 include:alias.example.com -all");

    let r = lint(&z, "r0.example.com");
    assert_eq!(r.of(Check::Loop).count(), 1);
    assert_eq!(r.of(Check::TooManyLookups).count(), 1);
    assert!(r.of(Check::Loop).next().unwrap().message.contains(
        "\"include:r0.example.com\" leads back to r0.example.com: an include/redirect loop (r0.example.com -> include:r1.example.com -> "
    ));
    let r = lint(&z, "ring0.example.com");
    assert_eq!(r.of(Check::Loop).count(), 0);
    assert_eq!(r.of(Check::NotFollowed).count(), 1);
    assert!(!r.counts_exact);
    let r = lint(&z, "p.example.com");
    assert_eq!(r.of(Check::Loop).count(), 1);
    let r = lint(&z, "m.example.com");
    assert_eq!(r.of(Check::Loop).count(), 2, "{:#?}", r.findings);
    // The alias is another name: the loop shows as c -> alias -> alias (found one level on).
    let r = lint(&z, "c.example.com");
    assert_eq!(r.of(Check::Loop).count(), 1, "{:#?}", r.findings);
}

#[test]
fn exponential_fan_out_is_walked_once_per_record() {
    // Level i includes level i+1 twice: 2^40 lookups, walked once per record.
    let mut z = MemoryZone::new();
    for i in 0..40 {
        z.add_txt(
            &format!("l{i}.example.com"),
            &format!(
                "v=spf1 include:l{n}.example.com include:l{n}.example.com -all",
                n = i + 1
            ),
        );
    }
    z.add_txt("l40.example.com", "v=spf1 ip4:192.0.2.1 -all");
    let counter = Counting::new(z.clone());
    let r = lint(&counter, "l0.example.com");
    assert_eq!(r.dns_lookups, u32::MAX, "the count saturates");
    assert!(r.counts_exact);
    assert_eq!(r.of(Check::TooManyLookups).count(), 1);
    assert_eq!(r.of(Check::DuplicateInclude).count(), 40);
    assert_eq!(counter.queries(), 41, "one TXT query per record");

    // The same under two names per level: twice the records, so the budget ends the walk.
    for i in 0..40 {
        z.add_txt(
            &format!("m{i}.example.com"),
            &format!(
                "v=spf1 include:m{n}.example.com include:k{n}.example.com -all",
                n = i + 1
            ),
        );
        z.add_txt(
            &format!("k{}.example.com", i + 1),
            &format!("v=spf1 include:m{}.example.com -all", i + 1),
        );
    }
    let r = lint(&z, "m0.example.com");
    assert!(!r.counts_exact);
    assert!(r.dns_lookups > 1000);
}

#[test]
fn thousand_term_records() {
    let mut z = MemoryZone::new();
    let mut includes = String::from("v=spf1");
    let mut voids = String::from("v=spf1");
    let mut addresses = String::from("v=spf1");
    for i in 0..1000 {
        includes.push_str(&format!(" include:i{i}.example.com"));
        voids.push_str(&format!(" a:gone{i}.example.com"));
        addresses.push_str(&format!(" ip4:10.{}.{}.0/24", i / 256, i % 256));
        z.add_txt(
            &format!("i{i}.example.com"),
            &format!("v=spf1 include:i{}.example.com mx a -all", (i + 1) % 1000),
        );
    }
    includes.push_str(" -all");
    voids.push_str(" -all");
    addresses.push_str(" -all");
    z.add_txt("includes.example.com", &includes);
    z.add_txt("voids.example.com", &voids);
    z.add_txt("addresses.example.com", &addresses);

    let r = lint(&z, "includes.example.com");
    assert!(!r.counts_exact);
    assert!(r.dns_lookups >= 1000);
    assert_eq!(r.of(Check::NotFollowed).count(), 1);
    assert!(r.summary().contains("+/10 DNS lookups"), "{}", r.summary());

    let r = lint(&z, "voids.example.com");
    assert_eq!(r.dns_lookups, 1000);
    assert_eq!(r.of(Check::TooManyVoidLookups).count(), 1);
    // The walk's budget bounds the DNS work, not the lookup count.
    assert!(r.void_lookups >= 2 && r.void_lookups <= 1000);

    let r = lint(&z, "addresses.example.com");
    assert_eq!(r.dns_lookups, 0);
    assert_eq!(r.of(Check::PrivateAddress).count(), 1000);
    assert!(r.summary().len() < 700, "the record is cut in the summary");
}

#[test]
fn sixty_four_kilobyte_txt_records() {
    let mut z = MemoryZone::new();
    // One 64 KB character-string (impossible on the wire, possible in a broken zone).
    let mut big = String::from("v=spf1");
    while big.len() < 65_000 {
        big.push_str(" ip4:192.0.2.1");
    }
    big.push_str(" -all");
    z.add_txt("one.example.com", &big);
    // The same split into 255-byte strings: legal, but far over 512 bytes.
    let strings: Vec<Vec<u8>> = big.as_bytes().chunks(255).map(<[u8]>::to_vec).collect();
    z.add_txt_strings("split.example.com", strings);
    // 64 KB of junk bytes after "v=spf1 ", and one 64 KB term.
    let mut junk = b"v=spf1 ".to_vec();
    junk.extend((0..65_536u32).map(|i| (i % 256) as u8));
    z.add_txt_strings("junk.example.com", vec![junk]);
    z.add_txt(
        "term.example.com",
        &format!("v=spf1 include:{}.example.com -all", "a".repeat(65_536)),
    );

    let r = lint(&z, "one.example.com");
    assert_eq!(r.of(Check::StringTooLong).count(), 1);
    assert_eq!(r.of(Check::AnswerTooLarge).count(), 1);
    let r = lint(&z, "split.example.com");
    assert_eq!(r.of(Check::StringTooLong).count(), 0);
    assert_eq!(r.of(Check::AnswerTooLarge).count(), 1);
    assert!(r.of(Check::SplitInsideTerm).count() > 100);
    let r = lint(&z, "junk.example.com");
    assert!(r.has_errors());
    let r = lint(&z, "term.example.com");
    assert!(r.of(Check::Syntax).count() == 1 || r.of(Check::IncludeWithoutRecord).count() == 1);
}

#[test]
fn dns_that_times_out_everywhere() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 a mx include:slow.example.net exists:slow.example.net a:slow.example.net -all exp=slow.example.net",
    );
    z.fail("example.com", RecordType::A, DnsError::Timeout);
    z.fail("example.com", RecordType::Mx, DnsError::Timeout);
    z.fail_name("slow.example.net", DnsError::Timeout);
    let r = lint(&z, "example.com");
    assert_eq!(r.of(Check::DnsFailure).count(), 5, "{:#?}", r.findings);
    assert_eq!(r.of(Check::Explanation).count(), 1);

    let mut z = MemoryZone::new();
    z.fail_name("example.com", DnsError::ServerFailure("SERVFAIL".into()));
    let r = lint(&z, "example.com");
    assert_eq!(r.of(Check::DnsFailure).count(), 1);
    assert!(r.has_errors());
}

#[test]
fn huge_mx_answers() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 mx -all");
    for i in 0..1000u16 {
        z.add_mx("example.com", i, &format!("mx{i}.example.com"));
        z.add_a(&format!("mx{i}.example.com"), Ipv4Addr::new(192, 0, 2, 1));
    }
    let counter = Counting::new(z);
    let r = lint(&counter, "example.com");
    assert_eq!(r.of(Check::TooManyMxNames).count(), 1);
    // Only the first 10 hosts are looked up.
    assert!(counter.queries() <= 2 + 10, "{} queries", counter.queries());
}

/// An endless generated zone: every record includes two new names.
struct Endless {
    queries: AtomicUsize,
}

impl Lookup for Endless {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let answer = match rtype {
            RecordType::Txt => Answer::Txt(vec![vec![
                format!("v=spf1 include:a.{name} include:b.{name} a:c.{name} ~all").into_bytes(),
            ]]),
            _ => Answer::empty(rtype),
        };
        Box::pin(async move { Ok(Arc::new(answer)) })
    }
}

#[test]
fn an_endless_tree_stops_within_the_budget() {
    let endless = Endless {
        queries: AtomicUsize::new(0),
    };
    let r = lint(&endless, "example.com");
    assert!(!r.counts_exact);
    assert!(r.has_errors());
    let queries = endless.queries.load(Ordering::Relaxed);
    assert!(queries < 500, "{queries} queries");
}

/// Counts the queries that reach the zone.
struct Counting {
    zone: MemoryZone,
    queries: AtomicUsize,
}

impl Counting {
    fn new(zone: MemoryZone) -> Self {
        Counting {
            zone,
            queries: AtomicUsize::new(0),
        }
    }
    fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Lookup for Counting {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.zone.lookup(name, rtype)
    }
}

#[test]
fn control_characters_never_reach_the_output() {
    let mut z = MemoryZone::new();
    z.add_txt_strings(
        "example.com",
        vec![b"v=spf1 a:x\r\n.example.com include:\x1b[31mred.example.com\x07 -all".to_vec()],
    );
    z.add_txt_strings("nul.example.com", vec![b"v=spf1\0 -all".to_vec()]);
    z.add_txt_strings("nul.example.com", vec![b"\"v=spf1\x1b -all".to_vec()]);
    let r = lint(&z, "example.com");
    assert!(r.has_errors());
    let r = lint(&z, "nul.example.com");
    assert_eq!(r.of(Check::LookalikeRecord).count(), 2, "{:#?}", r.findings);
    let r = lint(&z, "bad\nname.example.com");
    assert_eq!(r.of(Check::InvalidDomain).count(), 1);
}
