//! The per-run cache: one upstream question per (name, type), merged in flight, errors kept
//! for the run; and `--save-dns` snapshots that `--zone` replays to the same answers,
//! including no data and failures.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spfsleuth::dns::cache::Cache;
use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::dns::{Answer, DnsError, Lookup, LookupFuture, RecordType, zonefile};

/// A zone that counts the questions it gets and answers after a delay.
struct Counting {
    zone: MemoryZone,
    delay: Duration,
    calls: AtomicU64,
}

impl Counting {
    fn new(zone: MemoryZone, delay: Duration) -> Arc<Self> {
        Arc::new(Counting {
            zone,
            delay,
            calls: AtomicU64::new(0),
        })
    }
}

impl Lookup for Counting {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.zone.answer(name, rtype).map(Arc::new)
        })
    }
}

fn small_zone() -> MemoryZone {
    let mut zone = MemoryZone::new();
    zone.add_txt("example.com", "v=spf1 -all");
    zone.fail("slow.example.com", RecordType::Txt, DnsError::Timeout);
    zone
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_lookups_are_one_upstream_question() {
    let source = Counting::new(small_zone(), Duration::from_millis(50));
    let cache = Arc::new(Cache::from_arc(source.clone()));
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let name = if i % 3 == 0 {
                    "EXAMPLE.COM."
                } else {
                    "example.com"
                };
                cache.lookup(name, RecordType::Txt).await
            })
        })
        .collect();
    for task in tasks {
        let answer = task.await.unwrap().unwrap();
        assert_eq!(answer.len(), 1);
    }
    assert_eq!(source.calls.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!(
        (stats.requests, stats.upstream, stats.distinct),
        (100, 1, 1)
    );
}

#[tokio::test]
async fn errors_are_kept_for_the_run() {
    let source = Counting::new(small_zone(), Duration::ZERO);
    let cache = Cache::from_arc(source.clone());
    for _ in 0..5 {
        assert_eq!(
            cache.lookup("slow.example.com", RecordType::Txt).await,
            Err(DnsError::Timeout)
        );
        assert_eq!(
            cache.lookup("nope.example.com", RecordType::A).await,
            Err(DnsError::NxDomain)
        );
    }
    assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    let stats = cache.stats();
    assert_eq!((stats.requests, stats.upstream, stats.distinct), (10, 2, 2));
}

#[tokio::test]
async fn types_are_separate_questions() {
    let source = Counting::new(small_zone(), Duration::ZERO);
    let cache = Cache::from_arc(source.clone());
    for rtype in [
        RecordType::Txt,
        RecordType::A,
        RecordType::Mx,
        RecordType::Txt,
    ] {
        cache.lookup("example.com", rtype).await.unwrap();
    }
    assert_eq!(cache.stats().distinct, 3);
    assert_eq!(source.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_cancelled_asker_does_not_block_the_others() {
    let source = Counting::new(small_zone(), Duration::from_millis(50));
    let cache = Cache::from_arc(source.clone());
    // Start a lookup and drop it before it finishes.
    let first = cache.lookup("example.com", RecordType::Txt);
    let _ = tokio::time::timeout(Duration::from_millis(5), first).await;
    let answer = cache.lookup("example.com", RecordType::Txt).await.unwrap();
    assert_eq!(answer.len(), 1);
}

/// A zone with every kind of answer a run can record.
fn rich_zone() -> MemoryZone {
    let mut zone = MemoryZone::new();
    zone.add_a("a.example", Ipv4Addr::new(192, 0, 2, 2))
        .add_a("a.example", Ipv4Addr::new(192, 0, 2, 1))
        .add_aaaa("a.example", "2001:db8::1".parse::<Ipv6Addr>().unwrap())
        .add_mx("mx.example", 20, "b.mx.example")
        .add_mx("mx.example", 10, "a.mx.example")
        .add_mx("nullmx.example", 0, ".")
        .add_txt_strings(
            "txt.example",
            vec![b"v=spf1 ".to_vec(), b"include:x.example -all".to_vec()],
        )
        .add_txt("txt.example", "second \"record\" with \\ and ; and (")
        .add_txt_strings("binary.example", vec![vec![0, 1, 2, 0xff, b'"', b'\n']])
        .add_txt_strings("empty-string.example", vec![vec![]])
        .add_txt("long.example", &"x".repeat(300))
        .add_ptr("1.2.0.192.in-addr.arpa", "a.example")
        .add_cname("alias.example", "txt.example")
        .add_empty_name("nodata.example")
        .add_txt("sp ace.example", "space")
        .add_txt("semi;colon.example", "semi")
        .add_txt("utf8-é.example", "accent")
        .add_txt("exists.example", "exists")
        .fail("exists.example", RecordType::A, DnsError::NxDomain)
        .fail("slow.example", RecordType::Txt, DnsError::Timeout)
        .fail(
            "broken.example",
            RecordType::Txt,
            DnsError::ServerFailure("SERVFAIL".into()),
        )
        .fail(
            "refused.example",
            RecordType::Mx,
            DnsError::ServerFailure("REFUSED".into()),
        )
        .fail(
            "unreachable.example",
            RecordType::A,
            DnsError::Other("io error: connection refused".into()),
        )
        .fail(
            "invalid.example",
            RecordType::Txt,
            DnsError::InvalidName("empty label in a..b".into()),
        );
    zone
}

const RICH_QUESTIONS: &[(&str, RecordType)] = &[
    ("a.example", RecordType::A),
    ("a.example", RecordType::Aaaa),
    ("a.example", RecordType::Txt),
    ("mx.example", RecordType::Mx),
    ("nullmx.example", RecordType::Mx),
    ("txt.example", RecordType::Txt),
    ("binary.example", RecordType::Txt),
    ("empty-string.example", RecordType::Txt),
    ("long.example", RecordType::Txt),
    ("1.2.0.192.in-addr.arpa", RecordType::Ptr),
    ("alias.example", RecordType::Txt),
    ("nodata.example", RecordType::Txt),
    ("nodata.example", RecordType::Mx),
    ("missing.example", RecordType::Txt),
    ("missing.example", RecordType::A),
    ("sp ace.example", RecordType::Txt),
    ("semi;colon.example", RecordType::Txt),
    ("utf8-é.example", RecordType::Txt),
    ("exists.example", RecordType::Txt),
    ("exists.example", RecordType::A),
    ("slow.example", RecordType::Txt),
    ("broken.example", RecordType::Txt),
    ("refused.example", RecordType::Mx),
    ("unreachable.example", RecordType::A),
    ("invalid.example", RecordType::Txt),
];

/// Answers as a snapshot keeps them: records sorted, TXT strings at most 255 bytes.
fn canonical(result: Result<Answer, DnsError>) -> Result<Answer, DnsError> {
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
        Answer::Txt(v) => {
            let mut v: Vec<Vec<Vec<u8>>> = v
                .into_iter()
                .map(|strings| {
                    strings
                        .into_iter()
                        .flat_map(|s| {
                            if s.is_empty() {
                                vec![s]
                            } else {
                                s.chunks(255).map(<[u8]>::to_vec).collect()
                            }
                        })
                        .collect()
                })
                .collect();
            v.sort();
            Answer::Txt(v)
        }
        Answer::Ptr(mut v) => {
            v.sort();
            Answer::Ptr(v)
        }
    })
}

async fn ask_all(cache: &Cache) -> Vec<Result<Answer, DnsError>> {
    let mut answers = Vec::new();
    for (name, rtype) in RICH_QUESTIONS {
        let result = cache.lookup(name, *rtype).await.map(|a| (*a).clone());
        answers.push(canonical(result));
    }
    answers
}

fn snapshot(cache: &Cache) -> String {
    let mut out = Vec::new();
    cache.write_zone(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The snapshot without its query times ("queried YYYY-MM-DDTHH:MM:SSZ").
fn without_times(text: &str) -> String {
    text.lines()
        .map(|line| match line.find(" queried ") {
            Some(at) => {
                let time_start = at + " queried ".len();
                let rest = line.get(time_start + 20..).unwrap_or("");
                format!("{} queried TIME{rest}", &line[..at])
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn saved_answers_replay_identically() {
    let original = Cache::new(Box::new(rich_zone()));
    let first = ask_all(&original).await;
    let text = snapshot(&original);

    let replayed_zone = zonefile::parse_str("snapshot", &text)
        .unwrap_or_else(|e| panic!("snapshot does not load: {e}\n{text}"));
    let replay = Cache::new(Box::new(replayed_zone));
    let second = ask_all(&replay).await;
    for (((name, rtype), a), b) in RICH_QUESTIONS.iter().zip(&first).zip(&second) {
        assert_eq!(a, b, "{name} {rtype}\n{text}");
    }

    // Saving the replay gives the same file, but for the query times.
    assert_eq!(without_times(&snapshot(&replay)), without_times(&text));
}

#[tokio::test]
async fn snapshot_is_deterministic_and_matches_the_golden_file() {
    let cache = Cache::new(Box::new(rich_zone()));
    // Ask in reverse order: the file must not depend on it.
    for (name, rtype) in RICH_QUESTIONS.iter().rev() {
        let _ = cache.lookup(name, *rtype).await;
    }
    let text = snapshot(&cache);
    assert_eq!(text, snapshot(&cache));
    let golden_path = "tests/data/dns/snapshot.golden.zone";
    let got = without_times(&text) + "\n";
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(golden_path, &got).unwrap();
    }
    let golden = std::fs::read_to_string(golden_path).unwrap();
    assert_eq!(got, golden);
}

#[tokio::test]
async fn unanswered_questions_are_not_saved() {
    let source = Counting::new(small_zone(), Duration::from_secs(30));
    let cache = Cache::from_arc(source);
    let pending = cache.lookup("example.com", RecordType::Txt);
    let _ = tokio::time::timeout(Duration::from_millis(5), pending).await;
    let text = snapshot(&cache);
    assert!(!text.contains("example.com."), "{text}");
    assert_eq!(cache.stats().distinct, 1);
}

#[tokio::test]
async fn save_zone_file_writes_atomically_and_loads_back() {
    let cache = Cache::new(Box::new(rich_zone()));
    let _ = ask_all(&cache).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dns.zone");
    cache.save_zone_file(&path).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("dns.zone")],
        "no temporary left"
    );
    let replay = Cache::new(Box::new(zonefile::load(&[path]).unwrap()));
    assert_eq!(ask_all(&replay).await, ask_all(&cache).await);
    // A directory that does not exist: an error, nothing written.
    assert!(
        cache
            .save_zone_file(&dir.path().join("no/such/dir/dns.zone"))
            .is_err()
    );
}
