//! Engine tests against in-memory zones: results, matched, problem, counters and trace,
//! and hostile input (loops, deep nesting, huge answers, absurd macros, DNS failures).

use std::net::{IpAddr, Ipv4Addr};

use super::trace::Outcome;
use super::*;
use crate::dns::memory::MemoryZone;
use crate::dns::{DnsError, RecordType};

fn request(ip: &str, mail_from: &str, helo: &str) -> Request {
    Request {
        ip: ip.parse().unwrap(),
        mail_from: mail_from.to_string(),
        helo: helo.to_string(),
        identity: Identity::MailFrom,
    }
}

fn check(zone: &MemoryZone, ip: &str, mail_from: &str) -> Evaluation {
    check_with(
        zone,
        &Profile::default(),
        &request(ip, mail_from, "mail.example.org"),
    )
}

fn check_with(zone: &MemoryZone, profile: &Profile, request: &Request) -> Evaluation {
    futures::executor::block_on(check_host(zone, profile, request))
}

use crate::model::Identity;

/// The story of the design document: the envelope domain does not list the client.
fn seed_zone() -> MemoryZone {
    let mut z = MemoryZone::new();
    z.add_txt(
        "sub.example.co.jp",
        "v=spf1 ip4:192.0.2.92 ip4:198.51.100.69/27 -all",
    );
    z.add_txt("example.co.jp", "v=spf1 include:_spf.example.co.jp ~all");
    z.add_txt("_spf.example.co.jp", "v=spf1 ip4:203.0.113.154 -all");
    z
}

#[test]
fn fail_names_the_deciding_directive() {
    let z = seed_zone();
    let e = check(&z, "203.0.113.154", "error@sub.example.co.jp");
    assert_eq!(e.result, SpfResult::Fail);
    assert_eq!(e.domain, "sub.example.co.jp");
    assert_eq!(
        e.record.as_deref(),
        Some("v=spf1 ip4:192.0.2.92 ip4:198.51.100.69/27 -all")
    );
    assert_eq!(
        e.matched.as_ref().unwrap().to_string(),
        "sub.example.co.jp: -all"
    );
    assert_eq!(e.explanation, None);
    assert_eq!(e.problem, None);
    assert_eq!((e.dns_lookups, e.void_lookups), (0, 0));
    let outcomes: Vec<_> = e
        .trace
        .steps
        .iter()
        .map(|s| (s.term.as_str(), &s.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("ip4:192.0.2.92", &Outcome::NotMatched),
            ("ip4:198.51.100.69/27", &Outcome::NotMatched),
            ("-all", &Outcome::Matched),
        ]
    );
    assert_eq!(e.trace.result, Some(SpfResult::Fail));
    assert_eq!(e.trace.lookups.len(), 1);
    assert_eq!(e.trace.lookups[0].rtype, RecordType::Txt);
}

#[test]
fn pass_through_include_is_nested_in_the_trace() {
    let z = seed_zone();
    let e = check(&z, "203.0.113.154", "news@example.co.jp");
    assert_eq!(e.result, SpfResult::Pass);
    assert_eq!(
        e.matched.as_ref().unwrap().to_string(),
        "example.co.jp: include:_spf.example.co.jp"
    );
    assert_eq!(e.dns_lookups, 1);
    let step = &e.trace.steps[0];
    assert_eq!(step.target.as_deref(), Some("_spf.example.co.jp"));
    assert_eq!(step.outcome, Outcome::Matched);
    let nested = step.nested.as_ref().unwrap();
    assert_eq!(nested.domain, "_spf.example.co.jp");
    assert_eq!(
        nested.record.as_deref(),
        Some("v=spf1 ip4:203.0.113.154 -all")
    );
    assert_eq!(nested.result, Some(SpfResult::Pass));
    assert_eq!(nested.steps[0].outcome, Outcome::Matched);
    let text = e.trace.render();
    assert!(
        text.contains("include:_spf.example.co.jp -> _spf.example.co.jp: MATCH"),
        "{text}"
    );
    assert!(
        text.contains("\n    _spf.example.co.jp => pass\n"),
        "{text}"
    );
}

#[test]
fn default_result_is_neutral_and_says_so() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 ip4:192.0.2.1");
    let e = check(&z, "192.0.2.2", "a@example.com");
    assert_eq!(e.result, SpfResult::Neutral);
    assert_eq!(e.matched.unwrap().to_string(), "example.com: default");
}

#[test]
fn redirect_decides_with_the_target_record() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 ip4:192.0.2.1 redirect=_spf.example.net exp=x.example.com",
    );
    z.add_txt("_spf.example.net", "v=spf1 a -all exp=why.example.net");
    z.add_a("_spf.example.net", Ipv4Addr::new(198, 51, 100, 1));
    z.add_txt("why.example.net", "%{i} is not one of %{d}'s servers");
    z.add_txt("x.example.com", "wrong");
    let e = check(&z, "192.0.2.9", "a@example.com");
    assert_eq!(e.result, SpfResult::Fail);
    assert_eq!(e.matched.unwrap().to_string(), "_spf.example.net: -all");
    assert_eq!(
        e.explanation.as_deref(),
        Some("192.0.2.9 is not one of _spf.example.net's servers")
    );
    assert_eq!(e.dns_lookups, 2);
    let redirect = e.trace.steps.last().unwrap();
    assert_eq!(redirect.term, "redirect=_spf.example.net");
    assert_eq!(redirect.outcome, Outcome::Applied);
    let nested = redirect.nested.as_ref().unwrap();
    assert_eq!(nested.steps[0].target.as_deref(), Some("_spf.example.net"));
    assert_eq!(nested.steps[0].lookups[0].answer, "198.51.100.1");
    let exp = nested.steps.last().unwrap();
    assert_eq!(exp.term, "exp=why.example.net");
    assert_eq!(exp.outcome, Outcome::Applied);
}

#[test]
fn explanation_only_for_fail_and_only_when_wanted() {
    let mut z = MemoryZone::new();
    z.add_txt("soft.example.com", "v=spf1 ~all exp=why.example.com");
    z.add_txt("hard.example.com", "v=spf1 -all exp=why.example.com");
    z.add_txt("why.example.com", "see %{r}");
    let e = check(&z, "192.0.2.1", "a@soft.example.com");
    assert_eq!(e.result, SpfResult::SoftFail);
    assert_eq!(e.explanation, None);
    assert!(e.trace.steps.iter().all(|s| !s.term.starts_with("exp=")));
    let profile = Profile {
        receiver: "mx.example.org".into(),
        ..Profile::default()
    };
    let e = check_with(
        &z,
        &profile,
        &request("192.0.2.1", "a@hard.example.com", "h.example"),
    );
    assert_eq!(e.explanation.as_deref(), Some("see mx.example.org"));
    let quiet = Profile {
        explanations: false,
        ..Profile::default()
    };
    let e = check_with(
        &z,
        &quiet,
        &request("192.0.2.1", "a@hard.example.com", "h.example"),
    );
    assert_eq!(e.result, SpfResult::Fail);
    assert_eq!(e.explanation, None);
}

#[test]
fn broken_explanation_is_left_out_with_a_reason() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 -all exp=why.example.com");
    z.add_txt("why.example.com", "one");
    z.add_txt("why.example.com", "two");
    let e = check(&z, "192.0.2.1", "a@example.com");
    assert_eq!(e.result, SpfResult::Fail);
    assert_eq!(e.explanation, None);
    assert_eq!(e.problem, None);
    let exp = e.trace.steps.last().unwrap();
    assert_eq!(
        exp.outcome,
        Outcome::Skipped("2 TXT records instead of one".into())
    );
}

#[test]
fn syntax_error_problem_has_position_and_domain() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 include:_spf.example.net -all");
    z.add_txt("_spf.example.net", "v=spf1 ip4:192.0.2.1 –all");
    let e = check(&z, "192.0.2.1", "a@example.com");
    assert_eq!(e.result, SpfResult::PermError);
    assert_eq!(e.matched, None);
    let p = e.problem.unwrap();
    assert_eq!(p.kind, ProblemKind::Syntax);
    assert_eq!(p.domain, "_spf.example.net");
    assert!(
        p.detail
            .contains("unknown mechanism \"–all\" at position 22"),
        "{}",
        p.detail
    );
    // Nothing of the broken record was evaluated.
    let nested = e.trace.steps[0].nested.as_ref().unwrap();
    assert!(nested.steps.is_empty());
    assert!(nested.note.as_ref().unwrap().contains("syntax error"));
    assert!(matches!(e.trace.steps[0].outcome, Outcome::Error(_)));
}

#[test]
fn invalid_ip_in_record_is_a_permerror() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 ip4:192.0.2.1 ip4:300.1.1.1 ip6:2001:db8::zz -all",
    );
    let e = check(&z, "192.0.2.1", "a@example.com");
    assert_eq!(e.result, SpfResult::PermError);
    let p = e.problem.unwrap();
    assert!(p.detail.contains("\"300.1.1.1\""), "{}", p.detail);
    assert!(p.detail.contains("and 1 more error"), "{}", p.detail);
}

#[test]
fn none_results_say_why() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "google-site-verification=abc");
    z.add_a("mail.example.com", Ipv4Addr::new(192, 0, 2, 1));
    let e = check(&z, "192.0.2.1", "a@example.com");
    assert_eq!(e.result, SpfResult::None);
    assert_eq!(e.problem.as_ref().unwrap().kind, ProblemKind::NoRecord);
    assert!(
        e.problem.as_ref().unwrap().detail
            == "no SPF record: its one TXT record does not start with \"v=spf1\""
    );
    let e = check(&z, "192.0.2.1", "a@nowhere.example.com");
    assert_eq!(e.result, SpfResult::None);
    assert_eq!(e.problem.unwrap().kind, ProblemKind::NoRecord);
    for bad in [
        "a@[192.0.2.1]",
        "a@localhost",
        "a@192.0.2.1",
        "a@a..example.com",
        "a@exämple.com",
    ] {
        let e = check(&z, "192.0.2.1", bad);
        assert_eq!(e.result, SpfResult::None, "{bad}");
        assert_eq!(e.problem.unwrap().kind, ProblemKind::InvalidDomain, "{bad}");
        assert_eq!(e.trace.lookups.len(), 0, "{bad}: nothing asked");
    }
}

#[test]
fn multiple_records_are_a_permerror() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 -all");
    z.add_txt("example.com", "v=spf1 +all");
    let e = check(&z, "192.0.2.1", "a@example.com");
    assert_eq!(e.result, SpfResult::PermError);
    assert_eq!(e.problem.unwrap().kind, ProblemKind::MultipleRecords);
}

#[test]
fn include_without_record_is_a_permerror_of_the_including_record() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 include:gone.example.net -all");
    let e = check(&z, "192.0.2.1", "a@example.com");
    assert_eq!(e.result, SpfResult::PermError);
    let p = e.problem.unwrap();
    assert_eq!(p.kind, ProblemKind::IncludeWithoutRecord);
    assert_eq!(p.domain, "example.com");
    assert!(p.detail.contains("gone.example.net"), "{}", p.detail);
}

#[test]
fn include_loops_stop_at_the_lookup_limit() {
    let mut z = MemoryZone::new();
    z.add_txt("a.example.com", "v=spf1 include:b.example.com -all");
    z.add_txt("b.example.com", "v=spf1 include:a.example.com -all");
    let e = check(&z, "192.0.2.1", "x@a.example.com");
    assert_eq!(e.result, SpfResult::PermError);
    assert_eq!(e.problem.unwrap().kind, ProblemKind::TooManyLookups);
    assert_eq!(e.dns_lookups, 11);
    // A self-redirect too.
    z.add_txt("self.example.com", "v=spf1 redirect=self.example.com");
    let e = check(&z, "192.0.2.1", "x@self.example.com");
    assert_eq!(e.result, SpfResult::PermError);
    assert_eq!(e.problem.unwrap().kind, ProblemKind::TooManyLookups);
}

#[test]
fn deep_nesting_is_cut_even_with_generous_limits() {
    let mut z = MemoryZone::new();
    for i in 0..300 {
        z.add_txt(
            &format!("d{i}.example.com"),
            &format!("v=spf1 include:d{}.example.com -all", i + 1),
        );
    }
    let profile = Profile {
        max_dns_mechanisms: 100_000,
        ..Profile::default()
    };
    let e = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            check_with(
                &z,
                &profile,
                &request("192.0.2.1", "x@d0.example.com", "h.example"),
            )
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(e.result, SpfResult::PermError);
    assert!(e.problem.unwrap().detail.contains("nested more than"));
}

#[test]
fn lookup_limit_is_configurable() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 a a a ip4:192.0.2.1 -all");
    z.add_a("example.com", Ipv4Addr::new(198, 51, 100, 1));
    let profile = Profile {
        max_dns_mechanisms: 2,
        ..Profile::default()
    };
    let e = check_with(
        &z,
        &profile,
        &request("192.0.2.1", "x@example.com", "h.example"),
    );
    assert_eq!(e.result, SpfResult::PermError);
    assert_eq!(e.dns_lookups, 3);
    let e = check(&z, "192.0.2.1", "x@example.com");
    assert_eq!(e.result, SpfResult::Pass);
}

#[test]
fn void_lookups_are_counted_and_limited() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 a:nx1.example.com mx:nx2.example.com exists:nx3.example.com -all",
    );
    let e = check(&z, "192.0.2.1", "x@example.com");
    assert_eq!(e.result, SpfResult::PermError);
    assert_eq!(e.void_lookups, 3);
    let p = e.problem.unwrap();
    assert_eq!(p.kind, ProblemKind::TooManyVoidLookups);
    assert!(p.detail.contains("exists:nx3.example.com"), "{}", p.detail);
    assert_eq!(e.trace.steps[0].lookups[0].answer, "NXDOMAIN (void)");
}

#[test]
fn too_many_mx_names_is_a_permerror() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 mx -all");
    for i in 0..11 {
        z.add_mx("example.com", i, &format!("mx{i}.example.com"));
    }
    let e = check(&z, "192.0.2.1", "x@example.com");
    assert_eq!(e.result, SpfResult::PermError);
    assert_eq!(e.problem.unwrap().kind, ProblemKind::TooManyMxNames);
}

#[test]
fn dns_failures_are_temperrors_with_a_reason() {
    let mut z = MemoryZone::new();
    z.fail_name("slow.example.com", DnsError::Timeout);
    z.add_txt("example.com", "v=spf1 a:broken.example.net -all");
    z.fail(
        "broken.example.net",
        RecordType::A,
        DnsError::ServerFailure("SERVFAIL".into()),
    );
    let e = check(&z, "192.0.2.1", "x@slow.example.com");
    assert_eq!(e.result, SpfResult::TempError);
    let p = e.problem.unwrap();
    assert_eq!(p.kind, ProblemKind::Dns);
    assert_eq!(p.detail, "DNS TXT query for slow.example.com: timed out");
    let e = check(&z, "192.0.2.1", "x@example.com");
    assert_eq!(e.result, SpfResult::TempError);
    let p = e.problem.unwrap();
    assert_eq!(p.domain, "broken.example.net");
    assert!(
        p.detail.contains("server failure (SERVFAIL)"),
        "{}",
        p.detail
    );
    assert!(matches!(e.trace.steps[0].outcome, Outcome::Error(_)));
}

#[test]
fn ptr_dns_errors_mean_no_match() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 ptr -all");
    z.fail("1.2.0.192.in-addr.arpa", RecordType::Ptr, DnsError::Timeout);
    let e = check(&z, "192.0.2.1", "x@example.com");
    assert_eq!(e.result, SpfResult::Fail);
    z.add_ptr("2.2.0.192.in-addr.arpa", "host.example.com");
    z.fail("host.example.com", RecordType::A, DnsError::Timeout);
    let e = check(&z, "192.0.2.2", "x@example.com");
    assert_eq!(e.result, SpfResult::Fail);
    z.add_ptr("3.2.0.192.in-addr.arpa", "ok.example.com");
    z.add_a("ok.example.com", Ipv4Addr::new(192, 0, 2, 3));
    let e = check(&z, "192.0.2.3", "x@example.com");
    assert_eq!(e.result, SpfResult::Pass);
}

#[test]
fn huge_txt_answers_are_handled() {
    let mut z = MemoryZone::new();
    let filler = "x".repeat(4000);
    for _ in 0..200 {
        z.add_txt("example.com", &filler);
    }
    let mut record = String::from("v=spf1");
    for i in 0..20_000u32 {
        record.push_str(&format!(" ip4:10.{}.{}.0/24", (i >> 8) & 0xff, i & 0xff));
    }
    record.push_str(" ip4:192.0.2.1 -all");
    // Split into 255-byte strings, as DNS would carry it.
    let strings: Vec<Vec<u8>> = record.as_bytes().chunks(255).map(<[u8]>::to_vec).collect();
    z.add_txt_strings("example.com", strings);
    let e = check(&z, "192.0.2.1", "x@example.com");
    assert_eq!(e.result, SpfResult::Pass);
    assert_eq!(e.matched.unwrap().directive, "ip4:192.0.2.1");
    assert!(e.trace.lookups[0].answer.contains("(201 in all)"));
}

#[test]
fn absurd_macro_expansions_are_bounded() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 exists:%{l}%{l}%{l}%{l}.%{s}.%{h}.%{d} a:%{l1r}.%{d} -all exp=why.example.com",
    );
    z.add_txt("why.example.com", &"%{s}".repeat(100));
    let local = "x".repeat(50_000);
    let req = request(
        "192.0.2.1",
        &format!("{local}@example.com"),
        &"h.".repeat(10_000),
    );
    let e = check_with(&z, &Profile::default(), &req);
    assert_eq!(e.result, SpfResult::Fail);
    let target = e.trace.steps[0].target.as_ref().unwrap();
    assert!(target.len() <= 253, "{}", target.len());
    assert!(e.explanation.unwrap().len() <= 2048);
}

#[test]
fn mapped_ipv6_client_is_ipv4() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 ip6:::ffff:0:0/96 ip4:192.0.2.1 -all");
    let e = check(&z, "::ffff:192.0.2.1", "x@example.com");
    assert_eq!(e.result, SpfResult::Pass);
    assert_eq!(e.matched.unwrap().directive, "ip4:192.0.2.1");
}

#[test]
fn null_sender_and_helo_identity_use_postmaster_at_helo() {
    let mut z = MemoryZone::new();
    z.add_txt("mail.example.org", "v=spf1 -all exp=why.example.org");
    z.add_txt("why.example.org", "%{s} %{l} %{o} %{d} %{h}");
    z.add_txt("example.net", "v=spf1 +all");
    let e = check(&z, "192.0.2.1", "");
    assert_eq!(e.domain, "mail.example.org");
    assert_eq!(e.result, SpfResult::Fail);
    assert_eq!(
        e.explanation.as_deref(),
        Some(
            "postmaster@mail.example.org postmaster mail.example.org mail.example.org mail.example.org"
        )
    );
    let mut req = request("192.0.2.1", "someone@example.net", "mail.example.org");
    req.identity = Identity::Helo;
    let e = check_with(&z, &Profile::default(), &req);
    assert_eq!(e.domain, "mail.example.org");
    assert_eq!(e.result, SpfResult::Fail);
    let e = check(&z, "192.0.2.1", "@example.net");
    assert_eq!(e.result, SpfResult::Pass);
    let e = check(&z, "192.0.2.1", "example.net");
    assert_eq!(e.domain, "example.net");
}

#[test]
fn ipv6_clients_use_aaaa_and_ip6_cidr() {
    let mut z = MemoryZone::new();
    z.add_txt("example.com", "v=spf1 a/24//64 mx//48 -all");
    z.add_aaaa("example.com", "2001:db8:1:2::1".parse().unwrap());
    z.add_a("example.com", Ipv4Addr::new(192, 0, 2, 1));
    let e = check(&z, "2001:db8:1:2::ffff", "x@example.com");
    assert_eq!(e.result, SpfResult::Pass);
    let e = check(&z, "192.0.2.200", "x@example.com");
    assert_eq!(e.result, SpfResult::Pass);
    let e = check(&z, "2001:db8:1:3::1", "x@example.com");
    assert_eq!(e.result, SpfResult::Fail);
    assert_eq!(e.trace.steps[0].lookups[0].rtype, RecordType::Aaaa);
}

#[test]
fn reverse_names() {
    let v4: IpAddr = "192.0.2.3".parse().unwrap();
    assert_eq!(reverse_name(v4), "3.2.0.192.in-addr.arpa");
    let v6: IpAddr = "2001:db8::cb01".parse().unwrap();
    assert_eq!(
        reverse_name(v6),
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    );
}

#[test]
fn check_host_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let z = MemoryZone::new();
    let profile = Profile::default();
    let req = request("192.0.2.1", "x@example.com", "h.example");
    let fut = check_host(&z, &profile, &req);
    assert_send(&fut);
    drop(fut);
}

/// Answers from a zone, but names under `slow.example` wait, then time out.
struct SlowNames(MemoryZone);

impl crate::dns::Lookup for SlowNames {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> crate::dns::LookupFuture<'a> {
        Box::pin(async move {
            if name.ends_with("slow.example") {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                return Err(DnsError::Timeout);
            }
            self.0.lookup(name, rtype).await
        })
    }
}

#[tokio::test]
async fn ptr_names_timing_out_cost_one_timeout_not_ten() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "example.com",
        "v=spf1 ptr:slow.example exists:%{p}.example.com -all",
    );
    for i in 0..12 {
        z.add_ptr("1.2.0.192.in-addr.arpa", &format!("h{i}.slow.example"));
    }
    let lookup = SlowNames(z);
    let start = std::time::Instant::now();
    let e = check_host(
        &lookup,
        &Profile::default(),
        &request("192.0.2.1", "x@example.com", "h"),
    )
    .await;
    let elapsed = start.elapsed();
    assert_eq!(e.result, SpfResult::Fail);
    // ptr: 10 names validated at once; %{p}: again 10 at once. Sequentially it would be 4 s.
    assert!(
        elapsed < std::time::Duration::from_millis(1500),
        "{elapsed:?}"
    );
    let ptr = &e.trace.steps[0];
    assert_eq!(
        ptr.lookups.len(),
        11,
        "PTR query + 10 address queries (12th, 11th ignored)"
    );
    assert_eq!(ptr.lookups[1].name, "h0.slow.example");
    assert_eq!(ptr.lookups[10].name, "h9.slow.example");
    assert_eq!(
        e.trace.steps[1].target.as_deref(),
        Some("unknown.example.com")
    );
}

#[test]
fn control_characters_never_reach_the_rendered_trace_or_explanation() {
    let mut z = MemoryZone::new();
    z.add_txt(
        "evil.example.com",
        "v=spf1 a:%{l}.example.com -all exp=why.example.com",
    );
    z.add_txt("why.example.com", "bad %{l}");
    z.add_txt("worse.example.com", "v=spf1 \u{1b}[2J -all");
    let e = check(&z, "192.0.2.1", "x\u{1b}[31m\r\ny@evil.example.com");
    assert_eq!(e.result, SpfResult::Fail);
    assert_eq!(e.explanation.as_deref(), Some("bad x?[31m??y"));
    let text = e.trace.render();
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    let e = check(&z, "192.0.2.1", "x@worse.example.com");
    assert_eq!(e.result, SpfResult::PermError);
    let text = e.trace.render();
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    assert!(text.contains("\\u{1b}[2J"), "{text}");
}

/// What the scan's memo relies on: an evaluation without a record is the same whatever the
/// IP, sender and HELO, and [`evaluated_domain`] names the domain as check_host() sees it.
#[test]
fn decided_by_domain_alone_is_the_same_for_every_request() {
    let mut z = seed_zone();
    z.add_txt("two.example", "v=spf1 -all");
    z.add_txt("two.example", "v=spf1 +all");
    z.add_a("host.example", "192.0.2.1".parse().unwrap());
    let profile = Profile::default();
    for domain in [
        "nowhere.example",
        "host.example",
        "two.example",
        "Single",
        "[1.2.3.4]",
    ] {
        let first = request("192.0.2.1", &format!("a@{domain}"), "h.example");
        let mut second = request("2001:db8::1", &format!("other@{domain}."), "x.example");
        let a = check_with(&z, &profile, &first);
        let b = check_with(&z, &profile, &second);
        assert!(a.decided_by_domain_alone(), "{domain}");
        assert_eq!(evaluated_domain(&first), evaluated_domain(&second));
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{domain}");
        // The null sender and the HELO identity evaluate the HELO name.
        second.mail_from = String::new();
        second.helo = format!(" {domain}. ");
        assert_eq!(evaluated_domain(&second), domain);
        second.identity = Identity::Helo;
        second.mail_from = "x@y.example".into();
        assert_eq!(evaluated_domain(&second), domain);
    }
    let with_record = check(&z, "203.0.113.154", "error@sub.example.co.jp");
    assert!(!with_record.decided_by_domain_alone());
    assert_eq!(
        evaluated_domain(&request("192.0.2.1", "Error@Sub.Example.co.jp..", "h")),
        "Sub.Example.co.jp"
    );
    assert_eq!(
        evaluated_domain(&request("192.0.2.1", "bare.example", "h")),
        "bare.example"
    );
}
