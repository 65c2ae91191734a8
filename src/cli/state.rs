//! `spfsleuth state`: read what `scan --state` recorded — the runs, and a sender domain's
//! SPF record history (the seed story's question: when did the sender add the server?).

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};

use crate::state::{RunInfo, StateFile};

#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the completed runs: when, on what, and what they found.
    Runs {
        /// The state database written by `scan --state`.
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
    },
    /// Show a sender domain's SPF record as each run saw it (one line per change), and its
    /// observations per class.
    Domain {
        /// The sender domain (the spf_domain column).
        #[arg(value_name = "DOMAIN")]
        domain: String,
        /// The state database written by `scan --state`.
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
    },
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn run(args: StateArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        StateCommand::Runs { state } => {
            let file = StateFile::open_read_only(&state)?;
            let runs = file.runs()?;
            if runs.is_empty() {
                println!("no completed run in {}", state.display());
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:>5}  {:<20}  {:<20}  {:>7} {:>7} {:>8} {:>10} {:>8}  inputs",
                "run", "started", "finished", "rows", "new", "findings", "duplicates", "problems"
            );
            for run in runs {
                println!(
                    "{:>5}  {:<20}  {:<20}  {:>7} {:>7} {:>8} {:>10} {:>8}  {}",
                    run.id,
                    rfc3339(run.started),
                    run.finished.map(rfc3339).unwrap_or_default(),
                    run.rows,
                    run.new_rows,
                    run.findings,
                    run.duplicates,
                    run.problems,
                    run.inputs
                );
            }
        }
        StateCommand::Domain { domain, state } => {
            let file = StateFile::open_read_only(&state)?;
            let versions = file.record_history(&domain)?;
            let runs = file.runs()?;
            if versions.is_empty() {
                println!(
                    "{domain}: no SPF record recorded in {} (no run saw mail from it, or the DNS never answered for it)",
                    state.display()
                );
            } else {
                println!(
                    "{domain}: SPF record as seen by the runs ({} version(s))",
                    versions.len()
                );
                for (i, version) in versions.iter().enumerate() {
                    let changed = if i == 0 {
                        "first seen".to_string()
                    } else {
                        match run_before(&runs, version.run) {
                            Some(before) => format!(
                                "changed between {} (run {}) and {} (run {})",
                                rfc3339(before.started),
                                before.id,
                                rfc3339(version.seen),
                                version.run
                            ),
                            None => format!("changed by {}", rfc3339(version.seen)),
                        }
                    };
                    println!(
                        "  {}  run {:<4} {changed}",
                        rfc3339(version.seen),
                        version.run
                    );
                    println!("      {}", version.record);
                }
            }
            let classes = file.classes_of_domain(&domain)?;
            if !classes.is_empty() {
                let detail: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
                println!(
                    "observations, by class at their last run: {}",
                    detail.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The last completed run before run `id`.
fn run_before(runs: &[RunInfo], id: i64) -> Option<&RunInfo> {
    runs.iter().rev().find(|r| r.id < id)
}
