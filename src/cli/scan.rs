//! `spfsleuth scan PATH...`: the whole job, from a spam folder to a CSV of findings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{DnsArgs, ProfileArgs};

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or directories (mbox, Maildir, .eml, logs, .gz); '-' for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Write the CSV here (atomically: a temporary file renamed at the end). Default: stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub dns: DnsArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("scan is not implemented yet")
}
