//! `spfsleuth extract PATH...`: the DNS-free columns of the scan CSV, for trying extraction
//! by hand (the same cells as the first twelve columns of `scan`).

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use crate::extract::ExtractOptions;
use crate::input::{InputOptions, InputStats, Item, read_inputs_until};
use crate::output::atomic::Destination;
use crate::output::csv::write_record;
use crate::output::{SCAN_COLUMNS, observation_cells};

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Files or directories (mbox, Maildir, .eml, logs, .gz); '-' for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Worker threads for parsing and extraction (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// In messages, trust only SPF headers recorded by this receiver (matched against
    /// `receiver=`, the comment host or the authserv-id); repeatable. Default: the topmost
    /// verdict. Log lines are the MTA's own records and always count.
    #[arg(long = "authserv-id", value_name = "NAME")]
    pub authserv_ids: Vec<String>,
    /// Year of the first syslog timestamp (they carry none); the year moves on at each
    /// December -> January step. Default: each line is dated in the latest year that does not
    /// put it after the log file's modification time (today for stdin).
    #[arg(long = "log-year", value_name = "YYYY", value_parser = clap::value_parser!(i32).range(1..=9999))]
    pub log_year: Option<i32>,
    /// Write the CSV here (atomically: a temporary file renamed at the end). Default: stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: ExtractArgs) -> anyhow::Result<ExitCode> {
    let options = InputOptions {
        extract: ExtractOptions {
            authserv_ids: args.authserv_ids.clone(),
            log_year: args.log_year,
        },
        threads: args.threads.map(usize::from),
    };
    let started = Instant::now();
    crate::input::check_paths(&args.paths)?;
    let mut output = Destination::open(args.output.as_deref()).with_context(|| {
        format!(
            "cannot create {}",
            args.output.as_deref().unwrap_or(Path::new("-")).display()
        )
    })?;
    let mut write_error: Option<io::Error> = None;
    let mut rows = 0u64;
    if let Err(err) = write_record(&mut output, &SCAN_COLUMNS[..12]) {
        drop(output);
        return Err(err).context("cannot write the output");
    }
    let stderr = io::stderr();
    let result = read_inputs_until(&args.paths, &options, &mut |item| match item {
        Item::Observation(observation) => {
            match write_record(&mut output, &observation_cells(&observation)) {
                Ok(()) => {
                    rows += 1;
                    ControlFlow::Continue(())
                }
                Err(err) => {
                    write_error = Some(err);
                    ControlFlow::Break(())
                }
            }
        }
        Item::Problem(problem) => {
            let _ = writeln!(stderr.lock(), "spfsleuth: {problem}");
            ControlFlow::Continue(())
        }
    });
    let stats = match result {
        Ok(stats) => stats,
        Err(err) => {
            drop(output);
            return Err(err.into());
        }
    };
    if let Some(err) = write_error {
        drop(output);
        if err.kind() == io::ErrorKind::BrokenPipe {
            // The reader of our output went away (`| head`): nothing more to say.
            return Ok(ExitCode::SUCCESS);
        }
        return Err(err).context("cannot write the output");
    }
    output.commit().context("cannot write the output")?;
    eprintln!(
        "spfsleuth: {}",
        summary(&stats, rows, started.elapsed().as_secs_f64())
    );
    Ok(ExitCode::SUCCESS)
}

fn summary(stats: &InputStats, rows: u64, seconds: f64) -> String {
    let megabytes = stats.bytes as f64 / 1e6;
    let rate = if seconds > 0.0 {
        megabytes / seconds
    } else {
        0.0
    };
    let skipped = match stats.skipped.describe() {
        d if d.is_empty() => d,
        d => format!("; {d}"),
    };
    format!(
        "extract: {} files, {} messages, {} log lines, {} rows, {} problems{skipped}; \
         {megabytes:.1} MB in {seconds:.2} s ({rate:.0} MB/s)",
        stats.files, stats.messages, stats.log_lines, rows, stats.problems
    )
}
