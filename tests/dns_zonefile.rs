//! `--zone` files: every master-file construct, the answers they give, and the `file:line:`
//! error of each malformed file (golden `.err` files beside them in
//! `tests/data/dns/malformed/`; `BLESS=1` rewrites them).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::dns::zonefile::{self, format_name, format_txt_string};
use spfsleuth::dns::{Answer, DnsError, Mx, RecordType, SetupError};

const DATA: &str = "tests/data/dns";

fn example() -> MemoryZone {
    match zonefile::load(&[PathBuf::from(DATA).join("example.zone")]) {
        Ok(zone) => zone,
        Err(e) => panic!("example.zone does not load: {e}"),
    }
}

fn txt(zone: &MemoryZone, name: &str) -> Result<Vec<Vec<Vec<u8>>>, DnsError> {
    match zone.answer(name, RecordType::Txt)? {
        Answer::Txt(records) => Ok(records),
        other => panic!("TXT query answered {other:?}"),
    }
}

fn strings(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn origin_at_and_soa_ns_make_the_apex_exist() {
    let zone = example();
    assert_eq!(
        txt(&zone, "example.com"),
        Ok(vec![strings(&[
            "v=spf1 ip4:192.0.2.0/24 include:_spf.example.net -all"
        ])])
    );
    assert_eq!(
        zone.answer("example.com.", RecordType::Mx),
        Ok(Answer::Mx(vec![
            Mx {
                preference: 10,
                exchange: "mail.example.com".into()
            },
            Mx {
                preference: 20,
                exchange: "mail.example.net".into()
            },
        ])),
        "relative and absolute exchanges; the duplicate MX is dropped"
    );
    // ns1 only appears inside NS/SOA data: it is not an owner, so it does not exist.
    assert_eq!(
        zone.answer("ns1.example.com", RecordType::A),
        Err(DnsError::NxDomain)
    );
}

#[test]
fn blank_owner_ttl_and_class_in_either_order() {
    let zone = example();
    assert_eq!(
        zone.answer("mail.example.com", RecordType::A),
        Ok(Answer::A(vec![
            Ipv4Addr::new(192, 0, 2, 10),
            Ipv4Addr::new(192, 0, 2, 11)
        ]))
    );
    assert_eq!(
        zone.answer("mail.example.com", RecordType::Aaaa),
        Ok(Answer::Aaaa(vec![
            "2001:db8::10".parse::<Ipv6Addr>().unwrap()
        ]))
    );
    assert_eq!(
        zone.answer("mail.example.com", RecordType::Txt),
        Ok(Answer::Txt(vec![])),
        "an owner without TXT is no data"
    );
}

#[test]
fn cname_chains_are_followed() {
    let zone = example();
    let mail = Ok(Answer::A(vec![
        Ipv4Addr::new(192, 0, 2, 10),
        Ipv4Addr::new(192, 0, 2, 11),
    ]));
    assert_eq!(zone.answer("www.example.com", RecordType::A), mail);
    assert_eq!(zone.answer("alias.example.com", RecordType::A), mail);
    let resolution = zone.resolve("alias.example.com", RecordType::A);
    assert_eq!(
        resolution.cnames,
        vec![
            ("alias.example.com".to_owned(), "www.example.com".to_owned()),
            ("www.example.com".to_owned(), "mail.example.com".to_owned()),
        ]
    );
    assert_eq!(
        zone.answer("www.example.com", RecordType::Txt),
        Ok(Answer::Txt(vec![]))
    );
    assert_eq!(
        zone.answer("dangling.example.com", RecordType::Txt),
        Err(DnsError::NxDomain),
        "a CNAME to a name that does not exist is NXDOMAIN"
    );
}

#[test]
fn txt_strings_quotes_escapes_and_parentheses() {
    let zone = example();
    assert_eq!(
        txt(&zone, "multi.example.com"),
        Ok(vec![strings(&["v=spf1 ", "ip4:192.0.2.1 ", "-all"])])
    );
    assert_eq!(
        txt(&zone, "words.example.com"),
        Ok(vec![strings(&["v=spf1", "-all"])]),
        "unquoted words are separate strings"
    );
    assert_eq!(
        txt(&zone, "escaped.example.com"),
        Ok(vec![strings(&[
            "a \"quoted\" word; not a comment",
            "back\\slash",
            "ABC",
            "semi;colon"
        ])])
    );
    assert_eq!(
        txt(&zone, "paren.example.com"),
        Ok(vec![strings(&["first", "second"])])
    );
    assert_eq!(txt(&zone, "empty.example.com"), Ok(vec![vec![vec![]]]));
}

#[test]
fn other_types_make_the_name_exist() {
    let zone = example();
    for name in [
        "only-hinfo.example.com",
        "spf-only.example.com",
        "generic.example.com",
    ] {
        assert_eq!(
            zone.answer(name, RecordType::Txt),
            Ok(Answer::Txt(vec![])),
            "{name}"
        );
    }
}

#[test]
fn null_mx_ptr_and_case() {
    let zone = example();
    assert_eq!(
        zone.answer("nullmx.example.com", RecordType::Mx),
        Ok(Answer::Mx(vec![Mx {
            preference: 0,
            exchange: String::new()
        }]))
    );
    assert_eq!(
        zone.answer("10.2.0.192.in-addr.arpa", RecordType::Ptr),
        Ok(Answer::Ptr(vec!["mail.example.com".into()]))
    );
    assert_eq!(
        zone.answer("upper.example.com", RecordType::A),
        Ok(Answer::A(vec![Ipv4Addr::new(192, 0, 2, 12)]))
    );
}

#[test]
fn include_with_origin_and_origin_restored() {
    let zone = example();
    assert_eq!(
        txt(&zone, "sub.example.com"),
        Ok(vec![strings(&["v=spf1 redirect=example.com"])])
    );
    assert_eq!(
        zone.answer("host.sub.example.com", RecordType::A),
        Ok(Answer::A(vec![Ipv4Addr::new(192, 0, 2, 50)]))
    );
    assert_eq!(
        zone.answer("x.deeper.sub.example.com", RecordType::A),
        Ok(Answer::A(vec![Ipv4Addr::new(192, 0, 2, 51)]))
    );
    assert_eq!(
        zone.answer("after.example.com", RecordType::A),
        Ok(Answer::A(vec![Ipv4Addr::new(192, 0, 2, 99)]))
    );
    assert_eq!(
        zone.answer("rel.example.org", RecordType::A),
        Ok(Answer::A(vec![Ipv4Addr::new(198, 51, 100, 2)]))
    );
}

#[test]
fn nxdomain_empty_non_terminals_and_wildcards() {
    let zone = example();
    assert_eq!(
        zone.answer("nothere.example.com", RecordType::Txt),
        Err(DnsError::NxDomain)
    );
    assert_eq!(zone.answer("com", RecordType::Txt), Err(DnsError::NxDomain));
    assert_eq!(
        zone.answer("deeper.sub.example.com", RecordType::Txt),
        Ok(Answer::Txt(vec![])),
        "a name with names under it exists below the SOA (empty non-terminal)"
    );
    assert_eq!(
        txt(&zone, "anything.wild.example.com"),
        Ok(vec![strings(&["wildcard"])])
    );
    assert_eq!(
        txt(&zone, "a.b.wild.example.com"),
        Ok(vec![strings(&["wildcard"])])
    );
    assert_eq!(
        zone.answer("wild.example.com", RecordType::Txt),
        Ok(Answer::Txt(vec![]))
    );
}

#[test]
fn spfsleuth_failure_directives() {
    let zone = example();
    assert_eq!(
        zone.answer("slow.example.org", RecordType::Txt),
        Err(DnsError::Timeout)
    );
    assert_eq!(
        zone.answer("broken.example.org", RecordType::Txt),
        Err(DnsError::ServerFailure("SERVFAIL".into())),
        "relative names resolve against $ORIGIN"
    );
    let zone = zonefile::parse_str(
        "inline",
        ";; spfsleuth: ERROR a.example. A \"network unreachable\"\n\
         ;; spfsleuth: INVALID b.example. MX \"empty label\"\n\
         ;; spfsleuth: NXDOMAIN c.example. A\n\
         c.example. TXT \"exists\"\n\
         ;; spfsleuth: timeout d.example. ANY\n",
    )
    .unwrap();
    assert_eq!(
        zone.answer("a.example", RecordType::A),
        Err(DnsError::Other("network unreachable".into()))
    );
    assert_eq!(
        zone.answer("b.example", RecordType::Mx),
        Err(DnsError::InvalidName("empty label".into()))
    );
    assert_eq!(
        zone.answer("c.example", RecordType::A),
        Err(DnsError::NxDomain)
    );
    assert!(zone.answer("c.example", RecordType::Txt).is_ok());
    assert_eq!(
        zone.answer("d.example", RecordType::Ptr),
        Err(DnsError::Timeout)
    );
}

#[test]
fn small_inline_cases() {
    let zone = zonefile::parse_str(
        "inline",
        "$ORIGIN Example.NET.\n\
         $TTL 1d2h\n\
         @ 60 IN A 203.0.113.1\n\
         \tIN 60 TXT \"v=spf1\" \"-all\"\n\
         host.other.test. IN A 203.0.113.2\n\
         \tA 203.0.113.3\n\
         \\@odd A 203.0.113.4\n\
         sp\\032ace TXT x\n\
         \\100\\101f TXT y ; \\DDD in a name\n",
    )
    .unwrap();
    assert_eq!(
        zone.answer("example.net", RecordType::A),
        Ok(Answer::A(vec![Ipv4Addr::new(203, 0, 113, 1)]))
    );
    assert!(
        matches!(zone.answer("example.net", RecordType::Txt), Ok(Answer::Txt(v)) if v.len() == 1)
    );
    assert_eq!(
        zone.answer("host.other.test", RecordType::A),
        Ok(Answer::A(vec![
            Ipv4Addr::new(203, 0, 113, 2),
            Ipv4Addr::new(203, 0, 113, 3)
        ]))
    );
    assert!(zone.answer("@odd.example.net", RecordType::A).is_ok());
    assert!(zone.answer("sp ace.example.net", RecordType::Txt).is_ok());
    assert!(zone.answer("def.example.net", RecordType::Txt).is_ok());
}

#[test]
fn several_files_are_one_zone() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.zone");
    let b = dir.path().join("b.zone");
    std::fs::write(&a, "a.test. TXT \"from a\"\n").unwrap();
    std::fs::write(&b, "b.test. TXT \"from b\"\na.test. A 192.0.2.1\n").unwrap();
    let zone = zonefile::load(&[a, b]).unwrap();
    assert!(zone.answer("a.test", RecordType::Txt).is_ok());
    assert!(zone.answer("a.test", RecordType::A).is_ok());
    assert!(zone.answer("b.test", RecordType::Txt).is_ok());
    assert_eq!(
        zone.answer("c.test", RecordType::Txt),
        Err(DnsError::NxDomain)
    );
}

#[test]
fn unreadable_file_is_a_setup_error() {
    let err = zonefile::load(&[PathBuf::from("tests/data/dns/no-such-file.zone")]).unwrap_err();
    assert!(
        matches!(&err, SetupError::Zone(m) if m.starts_with("tests/data/dns/no-such-file.zone: cannot read zone file")),
        "{err}"
    );
}

#[test]
fn written_names_and_strings_read_back() {
    let names = [
        "plain.example",
        "sp ace.example",
        "semi;colon.example",
        "quo\"te.example",
        "at@.example",
        "$dollar.example",
        "tab\t.example",
        "utf8-é.example",
        "paren(.example",
    ];
    for name in names {
        let text = format!(
            "{} TXT {}\n",
            format_name(name),
            format_txt_string(b"v=spf1 \"\\ \x01\xff;(")
        );
        let zone = zonefile::parse_str("inline", &text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            zone.answer(name, RecordType::Txt),
            Ok(Answer::Txt(vec![vec![b"v=spf1 \"\\ \x01\xff;(".to_vec()]])),
            "{text}"
        );
    }
    assert_eq!(format_name(""), ".");
}

#[test]
fn malformed_files_report_file_and_line() {
    let dir = Path::new(DATA).join("malformed");
    let bless = std::env::var_os("BLESS").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "malformed set is missing");
    let mut failures = Vec::new();
    for file in &files {
        let message = match zonefile::load(std::slice::from_ref(file)) {
            Ok(_) => "(loaded without error)".to_owned(),
            Err(SetupError::Zone(m)) => m,
            Err(other) => format!("(wrong error kind) {other}"),
        };
        let expected_path = file.with_extension("err");
        if bless {
            std::fs::write(&expected_path, format!("{message}\n")).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected.trim_end() != message {
            failures.push(format!(
                "{}:\n  expected {}\n  got      {message}",
                file.display(),
                expected.trim_end()
            ));
        }
        let prefix = format!("{}:", file.display());
        assert!(
            message.starts_with(&prefix),
            "{message} does not start with {prefix}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every prefix of a real zone, and the zone with bytes swapped for awkward ones, loads or
/// fails with a message: never a panic.
#[test]
fn truncated_and_mangled_zones_never_panic() {
    let text = std::fs::read(Path::new(DATA).join("example.zone")).unwrap();
    let mut loader_runs = 0;
    for end in 0..=text.len() {
        let prefix = String::from_utf8_lossy(&text[..end]).into_owned();
        let _ = zonefile::parse_str("prefix", &prefix);
        loader_runs += 1;
    }
    let awkward = [
        b'"', b'(', b')', b';', b'\\', b'\n', b' ', b'@', b'$', b'.', 0xff,
    ];
    for (n, position) in (0..text.len()).step_by(7).enumerate() {
        let mut mangled = text.clone();
        mangled[position] = awkward[n % awkward.len()];
        let _ = zonefile::parse_str("mangled", &String::from_utf8_lossy(&mangled));
        loader_runs += 1;
    }
    assert!(loader_runs > text.len());
}
