//! The hickory backend against our DNS server on 127.0.0.1: every record type, NXDOMAIN vs
//! no data, failures, timeouts, TCP fallback, and the same answers as the zone file gives.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spfsleuth::dns::cache::Cache;
use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::dns::resolver::ResolverLookup;
use spfsleuth::dns::server::{DnsServer, ServerOptions};
use spfsleuth::dns::{
    Answer, DnsConfig, DnsError, Lookup, RecordType, SetupError, open, parse_nameserver, zonefile,
};

const LOOPBACK: &str = "127.0.0.1:0";
/// Generous: the machine is shared; only the timeout tests use short ones.
const TIMEOUT: Duration = Duration::from_secs(5);

fn example_zone() -> MemoryZone {
    let mut zone = zonefile::load(&[PathBuf::from("tests/data/dns/example.zone")]).unwrap();
    // A TXT answer of about 2 KB: over any UDP size, so it must come over TCP.
    let big: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'a' + i; 255]).collect();
    zone.add_txt_strings("big.example.com", big);
    // About 700 bytes: over 512, under the EDNS size.
    let medium: Vec<Vec<u8>> = (0..3u8).map(|i| vec![b'k' + i; 220]).collect();
    zone.add_txt_strings("medium.example.com", medium);
    // One 300-byte string, as the RFC 7208 suite has; served as two strings.
    zone.add_txt("long.example.com", &"v".repeat(300));
    zone.fail(
        "servfail.example.com",
        RecordType::Txt,
        DnsError::ServerFailure("SERVFAIL".into()),
    );
    zone
}

async fn serve(zone: MemoryZone) -> DnsServer {
    DnsServer::start(zone, LOOPBACK.parse().unwrap())
        .await
        .unwrap()
}

fn resolver(server: &DnsServer, timeout: Duration) -> ResolverLookup {
    ResolverLookup::with_nameservers(&[server.local_addr()], timeout).unwrap()
}

/// Record order is the server's business; compare answers as sets.
fn sorted(result: Result<Answer, DnsError>) -> Result<Answer, DnsError> {
    result.map(|answer| match answer {
        Answer::A(mut v) => {
            v.sort();
            Answer::A(v)
        }
        Answer::Aaaa(mut v) => {
            v.sort();
            Answer::Aaaa(v)
        }
        Answer::Mx(mut v) => {
            v.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
            Answer::Mx(v)
        }
        Answer::Txt(mut v) => {
            v.sort();
            Answer::Txt(v)
        }
        Answer::Ptr(mut v) => {
            v.sort();
            Answer::Ptr(v)
        }
    })
}

async fn ask(lookup: &dyn Lookup, name: &str, rtype: RecordType) -> Result<Answer, DnsError> {
    sorted(lookup.lookup(name, rtype).await.map(|a| (*a).clone()))
}

/// Every (name, type) of the example zone's constructs, plus names that do not exist.
const QUESTIONS: &[(&str, RecordType)] = &[
    ("example.com", RecordType::Txt),
    ("example.com", RecordType::Mx),
    ("example.com", RecordType::A),
    ("mail.example.com", RecordType::A),
    ("mail.example.com", RecordType::Aaaa),
    ("mail.example.com", RecordType::Txt),
    ("www.example.com", RecordType::A),
    ("www.example.com", RecordType::Txt),
    ("alias.example.com", RecordType::A),
    ("alias.example.com", RecordType::Aaaa),
    ("dangling.example.com", RecordType::Txt),
    ("multi.example.com", RecordType::Txt),
    ("words.example.com", RecordType::Txt),
    ("escaped.example.com", RecordType::Txt),
    ("paren.example.com", RecordType::Txt),
    ("empty.example.com", RecordType::Txt),
    ("only-hinfo.example.com", RecordType::Txt),
    ("spf-only.example.com", RecordType::Txt),
    ("generic.example.com", RecordType::A),
    ("nullmx.example.com", RecordType::Mx),
    ("10.2.0.192.in-addr.arpa", RecordType::Ptr),
    ("UPPER.example.com", RecordType::A),
    ("upper.EXAMPLE.com.", RecordType::A),
    ("x.wild.example.com", RecordType::Txt),
    ("wild.example.com", RecordType::Txt),
    ("sub.example.com", RecordType::Txt),
    ("host.sub.example.com", RecordType::A),
    ("deeper.sub.example.com", RecordType::Txt),
    ("after.example.com", RecordType::A),
    ("chaos.example.com", RecordType::Txt),
    ("example.org", RecordType::Txt),
    ("rel.example.org", RecordType::A),
    ("broken.example.org", RecordType::Txt),
    ("nothere.example.com", RecordType::Txt),
    ("nothere.example.com", RecordType::A),
    ("com", RecordType::Txt),
    ("big.example.com", RecordType::Txt),
    ("medium.example.com", RecordType::Txt),
    ("servfail.example.com", RecordType::Txt),
];

#[tokio::test]
async fn served_answers_equal_the_zone_file_answers() {
    let zone = example_zone();
    let expected: Vec<_> = QUESTIONS
        .iter()
        .map(|(name, rtype)| sorted(zone.answer(name, *rtype)))
        .collect();
    let server = serve(zone).await;
    let lookup = resolver(&server, TIMEOUT);
    for ((name, rtype), expected) in QUESTIONS.iter().zip(expected) {
        let got = ask(&lookup, name, *rtype).await;
        assert_eq!(got, expected, "{name} {rtype}");
    }
}

#[tokio::test]
async fn record_types_and_negative_answers() {
    let server = serve(example_zone()).await;
    let lookup = resolver(&server, TIMEOUT);
    assert_eq!(
        ask(&lookup, "mail.example.com", RecordType::A).await,
        Ok(Answer::A(vec![
            "192.0.2.10".parse().unwrap(),
            "192.0.2.11".parse().unwrap()
        ]))
    );
    assert_eq!(
        ask(&lookup, "mail.example.com", RecordType::Aaaa).await,
        Ok(Answer::Aaaa(vec!["2001:db8::10".parse().unwrap()]))
    );
    assert_eq!(
        ask(&lookup, "10.2.0.192.in-addr.arpa.", RecordType::Ptr).await,
        Ok(Answer::Ptr(vec!["mail.example.com".into()]))
    );
    assert_eq!(
        ask(&lookup, "multi.example.com", RecordType::Txt).await,
        Ok(Answer::Txt(vec![vec![
            b"v=spf1 ".to_vec(),
            b"ip4:192.0.2.1 ".to_vec(),
            b"-all".to_vec()
        ]]))
    );
    // CNAME chain: the answer holds only A records, of the final name.
    assert_eq!(
        ask(&lookup, "alias.example.com", RecordType::A).await,
        ask(&lookup, "mail.example.com", RecordType::A).await
    );
    assert_eq!(
        ask(&lookup, "nothere.example.com", RecordType::Txt).await,
        Err(DnsError::NxDomain)
    );
    assert_eq!(
        ask(&lookup, "mail.example.com", RecordType::Txt).await,
        Ok(Answer::Txt(vec![])),
        "no data is an empty answer, not NXDOMAIN"
    );
    assert_eq!(
        ask(&lookup, "servfail.example.com", RecordType::Txt).await,
        Err(DnsError::ServerFailure("SERVFAIL".into()))
    );
    // The server splits the 300-byte string; SPF joins the strings again.
    let long = ask(&lookup, "long.example.com", RecordType::Txt).await;
    assert_eq!(
        long,
        Ok(Answer::Txt(vec![vec![vec![b'v'; 255], vec![b'v'; 45]]]))
    );
}

#[tokio::test]
async fn big_answers_come_over_tcp() {
    let zone = example_zone();
    let expected = sorted(zone.answer("big.example.com", RecordType::Txt));
    let server = serve(zone).await;
    let lookup = resolver(&server, TIMEOUT);
    assert_eq!(
        ask(&lookup, "big.example.com", RecordType::Txt).await,
        expected
    );
    let stats = server.stats();
    assert!(stats.truncated >= 1, "{stats:?}");
    assert!(stats.tcp_queries >= 1, "{stats:?}");
}

#[tokio::test]
async fn answers_over_512_bytes_use_tcp_when_udp_is_limited() {
    let zone = example_zone();
    let expected = sorted(zone.answer("medium.example.com", RecordType::Txt));
    let options = ServerOptions {
        max_udp_payload: Some(512),
        ..ServerOptions::default()
    };
    let server = DnsServer::start_with(zone, LOOPBACK.parse().unwrap(), options)
        .await
        .unwrap();
    let lookup = resolver(&server, TIMEOUT);
    assert_eq!(
        ask(&lookup, "medium.example.com", RecordType::Txt).await,
        expected
    );
    let stats = server.stats();
    assert_eq!(stats.truncated, 1, "{stats:?}");
    assert_eq!(stats.tcp_queries, 1, "{stats:?}");
    // Small answers stay on UDP.
    assert!(
        ask(&lookup, "example.com", RecordType::Txt)
            .await
            .is_ok_and(|a| a.len() == 1)
    );
    assert_eq!(server.stats().tcp_queries, 1);
}

#[tokio::test]
async fn a_silent_server_times_out_within_the_timeout() {
    let server = serve(example_zone()).await;
    let timeout = Duration::from_millis(600);
    let lookup = resolver(&server, timeout);
    let started = Instant::now();
    let result = lookup.lookup("slow.example.org", RecordType::Txt).await;
    let elapsed = started.elapsed();
    assert_eq!(result, Err(DnsError::Timeout));
    // A bound against hanging, not a speed target: the timeout plus scheduling slack.
    assert!(
        elapsed < timeout + Duration::from_secs(2),
        "took {elapsed:?}"
    );
    assert!(server.stats().dropped >= 1);
}

#[tokio::test]
async fn nobody_listening_is_an_error_not_a_hang() {
    // Bind a port and close it again: nothing listens there.
    let addr = std::net::UdpSocket::bind(LOOPBACK)
        .unwrap()
        .local_addr()
        .unwrap();
    let lookup = ResolverLookup::with_nameservers(&[addr], Duration::from_millis(600)).unwrap();
    let started = Instant::now();
    let result = lookup.lookup("example.com", RecordType::Txt).await;
    assert!(
        result.as_ref().is_err_and(DnsError::is_transient),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_next_server_answers_when_the_first_is_silent() {
    // A socket that receives and never answers.
    let silent = tokio::net::UdpSocket::bind(LOOPBACK).await.unwrap();
    let server = serve(example_zone()).await;
    let servers = [silent.local_addr().unwrap(), server.local_addr()];
    let lookup = ResolverLookup::with_nameservers(&servers, Duration::from_secs(4)).unwrap();
    assert!(
        lookup
            .lookup("example.com", RecordType::Txt)
            .await
            .is_ok_and(|a| a.len() == 1)
    );
}

#[tokio::test]
async fn cache_merges_concurrent_identical_lookups() {
    let options = ServerOptions {
        delay: Duration::from_millis(100),
        ..ServerOptions::default()
    };
    let server = DnsServer::start_with(example_zone(), LOOPBACK.parse().unwrap(), options)
        .await
        .unwrap();
    let cache = Cache::new(Box::new(resolver(&server, TIMEOUT)));
    let lookups = (0..50).map(|i| {
        let name = if i % 2 == 0 {
            "example.com"
        } else {
            "EXAMPLE.com."
        };
        cache.lookup(name, RecordType::Txt)
    });
    let results = futures::future::join_all(lookups).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|a| a.len() == 1))
    );
    assert_eq!(server.queries_for("example.com", RecordType::Txt), 1);
    let stats = cache.stats();
    assert_eq!((stats.requests, stats.upstream, stats.distinct), (50, 1, 1));
}

#[tokio::test]
async fn no_more_queries_than_distinct_pairs() {
    let server = serve(example_zone()).await;
    let cache = Arc::new(Cache::new(Box::new(resolver(&server, TIMEOUT))));
    // Left out: SERVFAIL (hickory retries it once), and CNAMEs that end without the type
    // asked (hickory asks the target again, see resolver.rs).
    let questions: Vec<_> = QUESTIONS
        .iter()
        .filter(|(name, rtype)| {
            let skipped = name.contains("servfail")
                || name.contains("broken")
                || name.contains("dangling")
                || (name.starts_with("www.") && *rtype == RecordType::Txt);
            !skipped
        })
        .collect();
    // Every question asked five times, interleaved, all at once.
    let lookups = (0..5)
        .flat_map(|_| questions.iter())
        .map(|(name, rtype)| cache.lookup(name, *rtype));
    futures::future::join_all(lookups).await;
    let cache_stats = cache.stats();
    let server_stats = server.stats();
    assert_eq!(cache_stats.requests, 5 * questions.len() as u64);
    // Two spellings of upper.example.com are one pair.
    assert_eq!(cache_stats.distinct, questions.len() as u64 - 1);
    // Each pair reached the server once (plus one TCP retry for each truncated answer).
    assert_eq!(
        server_stats.queries - server_stats.tcp_queries,
        cache_stats.distinct,
        "{server_stats:?}"
    );
    for ((name, rtype), count) in server.query_counts() {
        let expected = if name == "big.example.com" { 2 } else { 1 };
        assert_eq!(count, expected, "{name} {rtype}");
    }
}

#[tokio::test]
async fn invalid_names_are_not_sent() {
    let server = serve(example_zone()).await;
    let lookup = resolver(&server, TIMEOUT);
    for name in [
        "a..example.com",
        &format!("{}.example.com", "x".repeat(64)),
        &format!("{}.example.com", "abcdefgh.".repeat(31)),
    ] {
        let result = lookup.lookup(name, RecordType::Txt).await;
        assert!(
            matches!(result, Err(DnsError::InvalidName(_))),
            "{name}: {result:?}"
        );
    }
    assert_eq!(server.stats().queries, 0);
}

#[tokio::test]
async fn unusual_bytes_in_names_survive_the_round_trip() {
    let mut zone = MemoryZone::new();
    zone.add_txt("under_score.example.com", "u");
    zone.add_txt("plus+sign.example.com", "p");
    zone.add_txt("sp ace.example.com", "s");
    let server = serve(zone).await;
    let lookup = resolver(&server, TIMEOUT);
    for name in [
        "under_score.example.com",
        "plus+sign.example.com",
        "sp ace.example.com",
    ] {
        assert!(
            lookup
                .lookup(name, RecordType::Txt)
                .await
                .is_ok_and(|a| a.len() == 1),
            "{name}"
        );
    }
}

#[tokio::test]
async fn open_picks_zone_files_then_name_servers() {
    let server = serve(example_zone()).await;
    let from_zone = open(&DnsConfig {
        zones: vec![PathBuf::from("tests/data/dns/example.zone")],
        nameservers: vec![server.local_addr()],
        timeout: Duration::ZERO,
    })
    .unwrap();
    assert!(
        from_zone
            .lookup("example.com", RecordType::Txt)
            .await
            .is_ok()
    );
    assert_eq!(server.stats().queries, 0, "zone files mean no network");

    let from_server = open(&DnsConfig {
        zones: vec![],
        nameservers: vec![server.local_addr()],
        timeout: TIMEOUT,
    })
    .unwrap();
    assert!(
        from_server
            .lookup("example.com", RecordType::Txt)
            .await
            .is_ok()
    );
    assert_eq!(server.stats().queries, 1);

    let bad_zone = open(&DnsConfig {
        zones: vec![PathBuf::from("tests/data/dns/malformed/bad_ipv4.zone")],
        ..DnsConfig::default()
    });
    assert!(
        matches!(&bad_zone, Err(SetupError::Zone(m)) if m.starts_with("tests/data/dns/malformed/bad_ipv4.zone:3: ")),
        "{:?}",
        bad_zone.err()
    );
}

#[tokio::test]
async fn unusable_resolv_conf_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("resolv.conf");
    std::fs::write(&empty, "search example.com\noptions ndots:2\n").unwrap();
    let err = ResolverLookup::from_resolv_conf(&empty, TIMEOUT)
        .err()
        .unwrap();
    assert!(
        matches!(&err, SetupError::System(m) if m.contains("nameserver")),
        "{err}"
    );
    let missing = dir.path().join("missing.conf");
    let err = ResolverLookup::from_resolv_conf(&missing, TIMEOUT)
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot read"), "{err}");

    let good = dir.path().join("good.conf");
    std::fs::write(&good, "nameserver 127.0.0.1\nsearch example.com\n").unwrap();
    assert!(ResolverLookup::from_resolv_conf(&good, TIMEOUT).is_ok());
}

#[test]
fn nameserver_arguments() {
    let cases: [(&str, SocketAddr); 5] = [
        ("192.0.2.1", "192.0.2.1:53".parse().unwrap()),
        ("192.0.2.1:5353", "192.0.2.1:5353".parse().unwrap()),
        ("::1", "[::1]:53".parse().unwrap()),
        ("[::1]", "[::1]:53".parse().unwrap()),
        ("[2001:db8::1]:5300", "[2001:db8::1]:5300".parse().unwrap()),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_nameserver(text), Ok(expected), "{text}");
    }
    assert!(parse_nameserver("dns.example.com").is_err());
    assert!(parse_nameserver("192.0.2.1:99999").is_err());
}

#[test]
fn the_resolver_can_be_built_outside_a_runtime_and_used_inside_one() {
    let addr = "127.0.0.1:9".parse().unwrap();
    let lookup = ResolverLookup::with_nameservers(&[addr], Duration::from_millis(300)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(lookup.lookup("example.com", RecordType::Txt));
    assert!(result.is_err_and(|e| e.is_transient()));
}

#[tokio::test]
async fn any_lookup_can_be_served() {
    let zone = Arc::new(example_zone());
    let source = spfsleuth::dns::server::Source::Lookup(zone.clone());
    let server = DnsServer::start(source, LOOPBACK.parse().unwrap())
        .await
        .unwrap();
    let lookup = resolver(&server, Duration::from_secs(2));
    for (name, rtype) in [
        ("example.com", RecordType::Txt),
        ("alias.example.com", RecordType::A),
        ("nothere.example.com", RecordType::Txt),
        ("mail.example.com", RecordType::Txt),
        ("servfail.example.com", RecordType::Txt),
        ("slow.example.org", RecordType::Txt),
    ] {
        assert_eq!(
            ask(&lookup, name, rtype).await,
            sorted(zone.answer(name, rtype)),
            "{name} {rtype}"
        );
    }
}

#[test]
fn dns_options_become_a_config() {
    let config = DnsConfig::from_options(
        vec![PathBuf::from("z.zone")],
        &["192.0.2.1".to_owned(), "[::1]:5353".to_owned()],
        2.5,
    )
    .unwrap();
    assert_eq!(config.timeout, Duration::from_millis(2500));
    assert_eq!(config.nameservers.len(), 2);
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
        assert!(DnsConfig::from_options(vec![], &[], bad).is_err(), "{bad}");
    }
    let err = DnsConfig::from_options(vec![], &["dns.example".to_owned()], 5.0).unwrap_err();
    assert!(err.contains("dns.example"), "{err}");
}

#[tokio::test]
async fn garbage_packets_do_not_stop_the_server() {
    let server = serve(example_zone()).await;
    let socket = tokio::net::UdpSocket::bind(LOOPBACK).await.unwrap();
    for packet in [
        &b""[..],
        &b"\x00"[..],
        &b"\x12\x34\x01\x00\x00\x01"[..],
        &[0xffu8; 12][..],
        &[0u8; 600][..],
    ] {
        socket.send_to(packet, server.local_addr()).await.unwrap();
    }
    // A TCP client that announces more than it sends, then goes away.
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, b"\x00\x40\x12")
        .await
        .unwrap();
    drop(tcp);
    let lookup = resolver(&server, TIMEOUT);
    assert!(
        lookup
            .lookup("example.com", RecordType::Txt)
            .await
            .is_ok_and(|a| a.len() == 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_questions_at_once_over_tcp_all_get_answers() {
    let mut zone = MemoryZone::new();
    for i in 0..300 {
        zone.add_txt(&format!("d{i}.example"), "v=spf1 -all");
    }
    let server = serve(zone).await;
    let lookup = Arc::new(
        ResolverLookup::with_transport(
            &[server.local_addr()],
            TIMEOUT,
            spfsleuth::dns::resolver::Transport::TcpOnly,
        )
        .unwrap(),
    );
    // Hickory queues at most 32 messages per TCP connection; more must wait, not fail.
    let names: Vec<String> = (0..300).map(|i| format!("d{i}.example")).collect();
    let results =
        futures::future::join_all(names.iter().map(|n| lookup.lookup(n, RecordType::Txt))).await;
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(server.stats().queries, 300);
    assert_eq!(server.stats().tcp_queries, 300);
}
