//! `spfsleuth extract PATH...`: the DNS-free columns of the scan CSV, for trying extraction
//! by hand (the same cells as the first twelve columns of `scan`).

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use crate::input::{InputStats, Item, read_inputs_until};
use crate::output::atomic::Destination;
use crate::output::csv::write_record;
use crate::output::{SCAN_COLUMNS, observation_cells};

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Files or directories (mbox, Maildir, .eml, logs, .gz); '-' for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub reading: super::ReadingArgs,
    /// Write the CSV here (atomically: a temporary file renamed at the end). Default: stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: ExtractArgs) -> anyhow::Result<ExitCode> {
    super::refuse_clashes(&args.paths, &[], &[("-o", args.output.as_deref())], None)?;
    let started = Instant::now();
    crate::input::check_paths(&args.paths)?;
    let mut output = Destination::open(args.output.as_deref()).with_context(|| {
        format!(
            "cannot create {}",
            args.output.as_deref().unwrap_or(Path::new("-")).display()
        )
    })?;
    let mut own = crate::input::OwnFiles::default();
    if let Some(path) = &args.output {
        own.add(path);
    }
    let options = args.reading.input_options(std::sync::Arc::new(own));
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
