//! Per-row cost of a scan without reading: observations are read into memory first, then
//! planned, evaluated (through the run's memo), classified and written out on one thread,
//! `PASSES` times (default 2): the first pass pays for the distinct evaluations, the next
//! ones (every evaluation memoised) are the cost per row alone. Prints figures; a profiler can be pointed at it.
//!
//! usage: cargo run --release --example row_bench -- ZONE PATH...

use std::sync::Arc;
use std::time::Instant;

use spfsleuth::dns::{self, DnsConfig};
use spfsleuth::input::{self, InputOptions, Item};
use spfsleuth::output::summary::Summary;
use spfsleuth::output::{CsvFindings, FindingWriter};
use spfsleuth::scan::{Evaluator, evaluate_observation};
use spfsleuth::spf::Profile;

/// The binary's allocator, so that the figures are the scan's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let zone = args.next().ok_or("usage: row_bench ZONE PATH...")?;
    let paths: Vec<_> = args.map(std::path::PathBuf::from).collect();
    let mut observations = Vec::new();
    input::read_inputs(&paths, &InputOptions::default(), &mut |item| {
        if let Item::Observation(obs) = item {
            observations.push(*obs);
        }
    })?;
    let config = DnsConfig::from_options(vec![zone.into()], &[], 5.0)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let cache = dns::open(&config)?;
        let lookup: Arc<dyn dns::Lookup> = cache;
        let evaluator = Evaluator::new(lookup, Profile::default(), 64);
        let passes: usize = std::env::var("PASSES")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(2);
        for pass in 1..=passes.max(1) {
            let pass = match pass {
                1 => "pass 1 (evaluations)".to_string(),
                n => format!("pass {n} (memoised)"),
            };
            let mut csv = CsvFindings::new(std::io::sink(), false)?;
            let mut summary = Summary::default();
            let start = Instant::now();
            for obs in &observations {
                let finding = evaluate_observation(&evaluator, obs.clone()).await;
                csv.write(spfsleuth::output::Entry::alone(&finding))?;
                summary.write(spfsleuth::output::Entry::alone(&finding))?;
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{pass}: {} rows in {secs:.3} s = {:.2} us per row",
                observations.len(),
                secs * 1e6 / observations.len().max(1) as f64
            );
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
