//! Engine benchmark: the cost of `check_host()` itself, DNS answered from memory.
//!
//! Builds the same kind of world as `benches/gen_zone.py` (1,000 sender domains with
//! includes of shared ESP records, mx, a, redirect, exists with macros, ip4/ip6) in a
//! `MemoryZone`, then evaluates 10,000 tuples: sequentially on one thread, and through
//! `check --batch`'s `run_batch` on a 2-worker runtime. Prints evaluations per second.
//!
//! cargo run --release --example spf_bench [-- DOMAINS TUPLES]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use spfsleuth::cli::check::{BatchOptions, run_batch};
use spfsleuth::dns::memory::MemoryZone;
use spfsleuth::model::Identity;
use spfsleuth::spf::{Profile, Request, check_host};

/// A small deterministic generator (no dependency needed for a benchmark).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn world(domains: usize, tuples: usize) -> (MemoryZone, Vec<(String, String, String)>) {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut z = MemoryZone::new();
    let mut esp_first = Vec::new();
    for k in 0..20 {
        let nets: Vec<String> = (0..3)
            .map(|j| format!("198.18.{}.0/24", 100 + k * 4 + j))
            .collect();
        esp_first.push(format!("198.18.{}.9", 100 + k * 4));
        z.add_txt(
            &format!("_spf.esp{k}.example"),
            &format!("v=spf1 include:_net.esp{k}.example ip6:2001:db8:{k:x}::/48 ~all"),
        );
        let ip4s: Vec<String> = nets.iter().map(|n| format!("ip4:{n}")).collect();
        z.add_txt(
            &format!("_net.esp{k}.example"),
            &format!("v=spf1 {} -all", ip4s.join(" ")),
        );
    }
    for k in 0..10u8 {
        z.add_txt(
            &format!("_spf.hosting{k}.example"),
            &format!(
                "v=spf1 a:out.hosting{k}.example mx:hosting{k}.example ip4:198.18.{}.0/24 -all",
                200 + k
            ),
        );
        z.add_a(
            &format!("out.hosting{k}.example"),
            Ipv4Addr::new(198, 18, 210 + k, 1),
        );
        z.add_mx(
            &format!("hosting{k}.example"),
            10,
            &format!("mx1.hosting{k}.example"),
        );
        z.add_mx(
            &format!("hosting{k}.example"),
            20,
            &format!("mx2.hosting{k}.example"),
        );
        z.add_a(
            &format!("mx1.hosting{k}.example"),
            Ipv4Addr::new(198, 18, 220 + k, 1),
        );
        z.add_a(
            &format!("mx2.hosting{k}.example"),
            Ipv4Addr::new(198, 18, 220 + k, 2),
        );
    }
    let mut names = Vec::new();
    let mut good: Vec<Vec<String>> = Vec::new();
    for i in 0..domains {
        let d = format!("d{i}.bench.example");
        let host_ip = |n: usize| format!("198.18.{}.{}", i / 16, (i % 16) * 16 + n);
        let own = format!("198.18.{}.{}/28", i / 16, (i % 16) * 16);
        let esp = rng.below(20);
        let host = rng.below(10);
        z.add_mx(&d, 10, &format!("mail.{d}"));
        z.add_a(&format!("mail.{d}"), host_ip(1).parse().unwrap());
        let (rec, ips) = match i % 5 {
            0 => (
                format!("v=spf1 mx include:_spf.esp{esp}.example -all"),
                vec![host_ip(1), esp_first[esp].clone()],
            ),
            1 => {
                z.add_a(&d, host_ip(2).parse().unwrap());
                (
                    format!("v=spf1 a mx ip4:{own} ~all"),
                    vec![host_ip(2), host_ip(5)],
                )
            }
            2 => (
                format!("v=spf1 redirect=_spf.hosting{host}.example"),
                vec![
                    format!("198.18.{}.1", 210 + host),
                    format!("198.18.{}.2", 220 + host),
                ],
            ),
            3 => {
                let allowed = format!("198.18.{}.{}", 150 + i % 50, i / 50);
                z.add_a(&format!("{allowed}._ip.{d}"), Ipv4Addr::new(127, 0, 0, 2));
                (
                    format!(
                        "v=spf1 ip4:{own} exists:%{{i}}._ip.{d} include:_spf.esp{esp}.example -all"
                    ),
                    vec![allowed, host_ip(3)],
                )
            }
            _ => (
                format!(
                    "v=spf1 ip4:{own} ip6:2001:db8:ff{:02x}::/48 include:_spf.esp{esp}.example include:_spf.esp{}.example ?all",
                    i % 256,
                    (esp + 1) % 20
                ),
                vec![host_ip(4), format!("2001:db8:ff{:02x}::25", i % 256)],
            ),
        };
        z.add_txt(&d, &rec);
        names.push(d);
        good.push(ips);
    }
    let mut list = Vec::new();
    for t in 0..tuples {
        let i = rng.below(names.len());
        let ip = if rng.below(10) < 6 {
            good[i][rng.below(good[i].len())].clone()
        } else {
            format!("198.19.{}.{}", rng.below(256), rng.below(256))
        };
        let users = ["news", "info", "billing", "noreply"];
        let user = if rng.below(5) == 4 {
            format!("u{t}")
        } else {
            users[rng.below(4)].to_string()
        };
        list.push((
            ip,
            format!("{user}@{}", names[i]),
            format!("mail.{}", names[i]),
        ));
    }
    (z, list)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let domains = args.first().copied().unwrap_or(1000);
    let tuples = args.get(1).copied().unwrap_or(10_000);
    let (zone, list) = world(domains, tuples);
    let profile = Profile::default();
    let requests: Vec<Request> = list
        .iter()
        .map(|(ip, sender, helo)| Request {
            ip: ip.parse::<IpAddr>().unwrap(),
            mail_from: sender.clone(),
            helo: helo.clone(),
            identity: Identity::MailFrom,
        })
        .collect();

    // One thread, one evaluation after the other.
    let start = Instant::now();
    let mut lookups = 0u64;
    let mut results = std::collections::BTreeMap::new();
    for request in &requests {
        let e = futures::executor::block_on(check_host(&zone, &profile, request));
        lookups += u64::from(e.dns_lookups);
        *results.entry(e.result.as_str()).or_insert(0u32) += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "engine, 1 thread: {tuples} evaluations over {domains} domains in {:.3} s = {:.0} evaluations/s ({:.1} lookup terms each)",
        secs,
        tuples as f64 / secs,
        lookups as f64 / tuples as f64
    );
    println!("results: {results:?}");

    // check --batch's core on a 2-worker runtime, CSV to memory.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let input: String = list
        .iter()
        .map(|(ip, s, h)| format!("{ip}\t{s}\t{h}\n"))
        .collect();
    let zone = Arc::new(zone);
    for round in 0..2 {
        let mut out = Vec::with_capacity(tuples * 100);
        let mut err = Vec::new();
        let start = Instant::now();
        let summary = runtime
            .block_on(run_batch(
                zone.clone(),
                Arc::new(Profile::default()),
                input.as_bytes(),
                &mut out,
                &mut err,
                BatchOptions::default(),
            ))
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "run_batch, 2 workers (round {}): {} rows in {:.3} s = {:.0} rows/s",
            round + 1,
            summary.rows,
            secs,
            summary.rows as f64 / secs
        );
    }
}
