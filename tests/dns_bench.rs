//! Figures for the DNS layer (not timed asserts; ignored by default). Run:
//! `cargo test --release --test dns_bench -- --ignored --nocapture --test-threads 1`
//!
//! - cache hits per second (what a scan does for every repeated question);
//! - first-time questions per second over loopback UDP through hickory to our server, and
//!   the server's count of queries against the distinct (name, type) pairs asked.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use spfsleuth::dns::cache::Cache;
use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::dns::resolver::{ResolverLookup, Transport};
use spfsleuth::dns::server::DnsServer;
use spfsleuth::dns::{Lookup, RecordType};

const DOMAINS: usize = 1000;

fn zone() -> MemoryZone {
    let mut zone = MemoryZone::new();
    for i in 0..DOMAINS {
        let domain = format!("d{i}.bench.example");
        zone.add_txt(
            &domain,
            &format!(
                "v=spf1 ip4:198.51.{}.0/24 include:_spf.{domain} mx a -all",
                i % 250
            ),
        );
        zone.add_txt(&format!("_spf.{domain}"), "v=spf1 ip4:203.0.113.0/24 ~all");
        zone.add_a(&domain, Ipv4Addr::new(192, 0, 2, (i % 250) as u8));
        zone.add_mx(&domain, 10, &format!("mx.{domain}"));
        zone.add_a(&format!("mx.{domain}"), Ipv4Addr::new(192, 0, 2, 1));
    }
    zone
}

fn questions() -> Vec<(String, RecordType)> {
    let mut questions = Vec::new();
    for i in 0..DOMAINS {
        let domain = format!("d{i}.bench.example");
        questions.push((domain.clone(), RecordType::Txt));
        questions.push((format!("_spf.{domain}"), RecordType::Txt));
        questions.push((domain.clone(), RecordType::A));
        questions.push((domain.clone(), RecordType::Mx));
        questions.push((format!("mx.{domain}"), RecordType::A));
        questions.push((format!("nx.{domain}"), RecordType::A));
    }
    questions
}

#[test]
#[ignore]
fn cache_hits_per_second() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = Arc::new(Cache::new(Box::new(zone())));
    let questions = Arc::new(questions());
    runtime.block_on(async {
        for (name, rtype) in questions.iter() {
            let _ = cache.lookup(name, *rtype).await;
        }
        let rounds = 50;
        let started = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                let questions = questions.clone();
                tokio::spawn(async move {
                    for round in 0..rounds {
                        for (i, (name, rtype)) in questions.iter().enumerate() {
                            if (i + round + t) % 4 == 0 {
                                let _ = cache.lookup(name, *rtype).await;
                            }
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = started.elapsed();
        let stats = cache.stats();
        let hits = stats.requests - questions.len() as u64;
        println!(
            "cache: {hits} hits in {:.3} s = {:.0} lookups/s (2 worker threads); upstream {} for {} distinct",
            elapsed.as_secs_f64(),
            hits as f64 / elapsed.as_secs_f64(),
            stats.upstream,
            stats.distinct
        );
    });
}

#[test]
#[ignore]
fn loopback_questions_per_second() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = DnsServer::start(zone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let questions = questions();
        for (concurrency, transport) in [
            (64usize, Transport::UdpThenTcp),
            (256, Transport::UdpThenTcp),
            (64, Transport::TcpOnly),
            (256, Transport::TcpOnly),
        ] {
            // A fresh cache each time, so that every question goes to the server again.
            let lookup = ResolverLookup::with_transport(
                &[server.local_addr()],
                Duration::from_secs(5),
                transport,
            )
            .unwrap();
            let cache = Arc::new(Cache::new(Box::new(lookup)));
            let before = server.stats().queries;
            let started = Instant::now();
            // Every question twice, the second time mostly from the cache or merged.
            let results: Vec<_> = futures::stream::iter(questions.iter().chain(questions.iter()))
                .map(|(name, rtype)| {
                    let cache = cache.clone();
                    async move {
                        let result = cache.lookup(name, *rtype).await;
                        if let Err(e) = &result
                            && !e.is_nx_domain()
                        {
                            eprintln!("  {name} {rtype}: {e}");
                        }
                        result.is_ok()
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            let elapsed = started.elapsed();
            let stats = cache.stats();
            let sent = server.stats().queries - before;
            let failed = results.iter().filter(|ok| !**ok).count();
            println!(
                "loopback ({transport:?}, concurrency {concurrency}): {} distinct questions in {:.3} s = {:.0}/s; \
                 server got {sent} queries for {} distinct pairs; {} requests; {failed} not ok (NXDOMAIN expected: {})",
                stats.distinct,
                elapsed.as_secs_f64(),
                stats.distinct as f64 / elapsed.as_secs_f64(),
                stats.distinct,
                stats.requests,
                2 * DOMAINS,
            );
        }
    });
}

/// The server alone, with a raw UDP client keeping 64 queries in flight: shows whether the
/// server or the client limits the loopback figure.
#[test]
#[ignore]
fn server_queries_per_second() {
    use spfsleuth::dns::server::query_message;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = DnsServer::start(zone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        socket.connect(server.local_addr()).await.unwrap();
        let total = 20_000u32;
        let window = Arc::new(tokio::sync::Semaphore::new(64));
        let reader = {
            let socket = socket.clone();
            let window = window.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut received = 0u32;
                while received < total {
                    let wait =
                        tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buf));
                    if wait.await.is_err() {
                        break; // a lost datagram: stop counting
                    }
                    received += 1;
                    window.add_permits(1);
                }
                received
            })
        };
        let started = Instant::now();
        for i in 0..total {
            let permit = tokio::time::timeout(Duration::from_millis(500), window.acquire()).await;
            let Ok(Ok(permit)) = permit else { break };
            permit.forget();
            let name = format!("d{}.bench.example", i as usize % DOMAINS);
            let Some(mut message) = query_message(&name, hickory_proto::rr::RecordType::TXT) else {
                continue;
            };
            message.metadata.id = i as u16;
            let _ = socket.send(&message.to_vec().unwrap()).await;
        }
        let received = reader.await.unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "server: {received} answers in {elapsed:.3} s = {:.0}/s (raw client, 64 in flight)",
            f64::from(received) / elapsed
        );
    });
}
