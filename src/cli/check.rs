//! `spfsleuth check`: one evaluation with its trace, or `--batch` from stdin to CSV.

use std::process::ExitCode;

use clap::Args;

use super::{DnsArgs, ProfileArgs};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The SMTP client's IP address.
    #[arg(value_name = "IP", required_unless_present = "batch")]
    pub ip: Option<String>,
    /// The MAIL FROM address (or domain); use "" for the null sender.
    #[arg(value_name = "SENDER", required_unless_present = "batch")]
    pub sender: Option<String>,
    /// The HELO/EHLO name the client gave.
    #[arg(long, value_name = "NAME")]
    pub helo: Option<String>,
    /// Read lines `ip<TAB>sender<TAB>helo` from stdin and write one CSV row per line.
    #[arg(long)]
    pub batch: bool,
    #[command(flatten)]
    pub dns: DnsArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("check is not implemented yet")
}
