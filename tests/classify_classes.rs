//! Every class of the contract is reached through the real engine and an in-memory zone,
//! and its reason and fix say what a person needs to know.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use spfsleuth::classify::{Class, Finding};
use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::dns::{DnsError, RecordType};
use spfsleuth::extract::{Hop, Observation, RecordedVerdict, VerdictSource};
use spfsleuth::model::{Identity, SpfResult};
use spfsleuth::scan::{Evaluator, evaluate_observation};
use spfsleuth::spf::Profile;

fn zone() -> MemoryZone {
    let mut z = MemoryZone::new();
    z.add_txt(
        "sub.example.co.jp",
        "v=spf1 ip4:198.51.100.92 ip4:203.0.113.64/27 -all",
    )
    .add_txt("example.co.jp", "v=spf1 +ip4:198.51.100.128/25 ~all")
    .add_txt("fixed.example", "v=spf1 ip4:192.0.2.0/24 -all")
    .add_txt("broken.example", "v=spf1 ip4:192.0.2.1 \u{2013}all")
    .add_txt("bank.example", "v=spf1 ip4:192.0.2.200 -all")
    .add_txt("university.example", "v=spf1 ip4:192.0.2.80/29 -all")
    .add_txt("relay.forward.example", "v=spf1 ip4:198.51.100.40 -all")
    .add_txt("partner.example", "v=spf1 ip4:198.51.100.200 -all")
    .add_txt("neutral.example", "v=spf1 ?all")
    .add_a("nospf.example", Ipv4Addr::new(203, 0, 113, 77));
    z.fail("slow.example", RecordType::Txt, DnsError::Timeout);
    z
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn observation(
    result: Option<SpfResult>,
    client: Option<&str>,
    from: &str,
    helo: &str,
) -> Observation {
    let client_ip = client.map(ip);
    Observation {
        source: Arc::from("test.mbox"),
        header_from: from.rsplit_once('@').map(|(_, d)| d.to_string()),
        verdict: Some(RecordedVerdict {
            result,
            identity: Some(Identity::MailFrom),
            client_ip,
            envelope_from: Some(from.to_string()),
            helo: Some(helo.to_string()),
            receiver: Some("mx.compnet.example".into()),
            source: Some(VerdictSource::ReceivedSpf),
            ..RecordedVerdict::default()
        }),
        envelope_from: Some(from.to_string()),
        helo: Some(helo.to_string()),
        client_ip,
        ..Observation::default()
    }
}

fn run(obs: Observation) -> Finding {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let evaluator = Evaluator::new(Arc::new(zone()), Profile::default(), 8);
        evaluate_observation(&evaluator, obs).await
    })
}

#[test]
fn unverifiable_without_client_ip() {
    let mut obs = observation(
        Some(SpfResult::Fail),
        None,
        "a@sub.example.co.jp",
        "sub.example.co.jp",
    );
    if let Some(v) = obs.verdict.as_mut() {
        v.client_ip_raw = Some("A.B.C.D".into());
    }
    let f = run(obs);
    assert_eq!(f.class, Class::Unverifiable);
    assert!(
        f.reason.contains("\"A.B.C.D\" is not a valid IP address"),
        "{}",
        f.reason
    );
    assert_eq!(f.fix, "");
}

#[test]
fn dns_unavailable_when_dns_times_out_now() {
    let f = run(observation(
        Some(SpfResult::Fail),
        Some("192.0.2.1"),
        "a@slow.example",
        "mx.slow.example",
    ));
    assert_eq!(f.class, Class::DnsUnavailable);
    assert!(
        f.reason
            .starts_with("The DNS could not answer for slow.example now"),
        "{}",
        f.reason
    );
}

#[test]
fn ok_when_pass_then_and_now() {
    let f = run(observation(
        Some(SpfResult::Pass),
        Some("192.0.2.7"),
        "a@fixed.example",
        "mx.fixed.example",
    ));
    assert_eq!(f.class, Class::Ok);
    assert_eq!(
        f.reason,
        "192.0.2.7 is authorized for fixed.example by fixed.example: ip4:192.0.2.0/24."
    );
}

#[test]
fn transient_error_when_temperror_then_pass_now() {
    let f = run(observation(
        Some(SpfResult::TempError),
        Some("192.0.2.7"),
        "a@fixed.example",
        "mx.fixed.example",
    ));
    assert_eq!(f.class, Class::TransientError);
    assert!(
        f.reason
            .contains("the DNS failure at delivery was temporary"),
        "{}",
        f.reason
    );
}

#[test]
fn fixed_since_when_fail_then_pass_now() {
    let f = run(observation(
        Some(SpfResult::SoftFail),
        Some("192.0.2.7"),
        "a@fixed.example",
        "mx.fixed.example",
    ));
    assert_eq!(f.class, Class::FixedSince);
    assert!(
        f.reason
            .starts_with("Recorded softfail, but fixed.example authorizes 192.0.2.7 now"),
        "{}",
        f.reason
    );
}

#[test]
fn record_broken_names_the_en_dash() {
    let f = run(observation(
        Some(SpfResult::PermError),
        Some("192.0.2.9"),
        "a@broken.example",
        "mx.broken.example",
    ));
    assert_eq!(f.class, Class::RecordBroken);
    assert!(
        f.reason
            .starts_with("The SPF record of broken.example is broken:"),
        "{}",
        f.reason
    );
    assert_eq!(
        f.fix,
        "Correct the SPF record of broken.example: unknown mechanism \"–all\" at position 22 (it starts with \"–\" (U+2013 EN DASH), not \"-\")."
    );
}

#[test]
fn regressed_when_pass_then_fail_now() {
    let f = run(observation(
        Some(SpfResult::Pass),
        Some("198.51.100.201"),
        "inv@partner.example",
        "mail2.partner.example",
    ));
    assert_eq!(f.class, Class::Regressed);
    assert!(
        f.reason
            .contains("partner.example no longer authorizes 198.51.100.201"),
        "{}",
        f.reason
    );
    assert!(
        f.fix
            .starts_with("Add ip4:198.51.100.201 to the SPF record of partner.example"),
        "{}",
        f.fix
    );
}

#[test]
fn forwarded_when_an_earlier_hop_passes() {
    let mut obs = observation(
        Some(SpfResult::Fail),
        Some("198.51.100.33"),
        "prof@university.example",
        "mail.alumni-forward.example",
    );
    obs.hops = vec![
        Hop {
            helo: Some("mail.alumni-forward.example".into()),
            ip: Some(ip("198.51.100.33")),
            ..Hop::default()
        },
        Hop {
            helo: Some("smtp.university.example".into()),
            ip: Some(ip("192.0.2.82")),
            ..Hop::default()
        },
    ];
    let f = run(obs);
    assert_eq!(f.class, Class::Forwarded);
    assert!(
        f.reason.contains("an earlier hop 192.0.2.82"),
        "{}",
        f.reason
    );
    assert!(f.fix.contains("SRS"), "{}", f.fix);
}

#[test]
fn forwarded_when_the_envelope_is_srs() {
    let from = "SRS0=AbCd=ZY=club.example=jane@relay.forward.example";
    let f = run(observation(
        Some(SpfResult::Fail),
        Some("198.51.100.41"),
        from,
        "out2.relay.forward.example",
    ));
    assert_eq!(f.class, Class::Forwarded);
    assert!(
        f.reason
            .contains("SRS address of relay.forward.example for club.example"),
        "{}",
        f.reason
    );
    assert!(f.fix.contains("ip4:198.51.100.41"), "{}", f.fix);
}

#[test]
fn misconfigured_is_the_seed_story() {
    let mut obs = observation(
        Some(SpfResult::Fail),
        Some("198.51.100.154"),
        "error@sub.example.co.jp",
        "sub.example.co.jp",
    );
    obs.header_from = Some("example.co.jp".into());
    let f = run(obs);
    assert_eq!(f.class, Class::Misconfigured);
    assert!(
        f.reason.contains(
            "198.51.100.154 is not authorized by sub.example.co.jp (sub.example.co.jp: -all"
        ),
        "{}",
        f.reason
    );
    assert!(
        f.reason.contains("example.co.jp authorizes it"),
        "{}",
        f.reason
    );
    assert_eq!(
        f.fix,
        "Add ip4:198.51.100.154 (or include:example.co.jp) to the SPF record of sub.example.co.jp, send from a server sub.example.co.jp lists, or use an envelope-from in example.co.jp."
    );
    assert!(
        f.related_results().contains("example.co.jp=pass"),
        "{}",
        f.related_results()
    );
}

#[test]
fn unauthorized_spoof() {
    let f = run(observation(
        Some(SpfResult::Fail),
        Some("203.0.113.250"),
        "security@bank.example",
        "bank-secure-login.example",
    ));
    assert_eq!(f.class, Class::Unauthorized);
    assert!(
        f.reason.contains(
            "203.0.113.250 is not authorized to send for bank.example (bank.example: -all)"
        ),
        "{}",
        f.reason
    );
    assert_eq!(f.fix, "");
}

#[test]
fn no_policy_without_record() {
    let f = run(observation(
        Some(SpfResult::Neutral),
        Some("203.0.113.77"),
        "promo@nospf.example",
        "mta.nospf.example",
    ));
    assert_eq!(f.class, Class::NoPolicy);
    assert!(
        f.reason.contains("nospf.example publishes no SPF record"),
        "{}",
        f.reason
    );
    assert!(
        f.fix.starts_with("Publish an SPF record for nospf.example"),
        "{}",
        f.fix
    );
    let f = run(observation(
        Some(SpfResult::Neutral),
        Some("203.0.113.77"),
        "promo@neutral.example",
        "mta.neutral.example",
    ));
    assert_eq!(f.class, Class::NoPolicy);
    assert!(
        f.reason.contains("neither authorizes nor refuses"),
        "{}",
        f.reason
    );
}

#[test]
fn an_internal_client_ip_is_called_out() {
    let f = run(observation(
        Some(SpfResult::Fail),
        Some("172.18.0.1"),
        "security@bank.example",
        "mail.bank.example",
    ));
    assert_eq!(f.class, Class::Unauthorized);
    assert!(f.reason.ends_with("Note: 172.18.0.1 is not a public address, so the receiver checked SPF against an internal hop, not the sending server."), "{}", f.reason);
}
