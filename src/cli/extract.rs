//! `spfsleuth extract PATH...`: the DNS-free columns of the scan CSV, for trying extraction
//! by hand.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Files or directories (mbox, Maildir, .eml, logs, .gz); '-' for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
}

pub fn run(args: ExtractArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("extract is not implemented yet")
}
