//! `spfsleuth lint DOMAIN...`: record problems, one line each, exit 1 on any error.

use std::process::ExitCode;

use clap::Args;

use super::{DnsArgs, ProfileArgs};

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Domains whose SPF records to check.
    #[arg(value_name = "DOMAIN", required = true)]
    pub domains: Vec<String>,
    #[command(flatten)]
    pub dns: DnsArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

pub fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("lint is not implemented yet")
}
