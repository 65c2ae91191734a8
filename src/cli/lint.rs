//! `spfsleuth lint DOMAIN...`: record problems, one line each, exit 1 on any error.
//!
//! The analysis is [`crate::lint::lint_domain`]; this only wires the command line, the DNS
//! and stdout to it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::{DnsArgs, ProfileArgs};
use crate::dns::Lookup;
use crate::lint::{CHECKS, Report, lint_domain};

#[derive(Debug, Args)]
#[command(after_long_help = CHECKS)]
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
    let config = args.dns.config()?;
    let profile = args.profile.profile();
    let runtime = super::runtime()?;
    let cache = {
        let _guard = runtime.enter();
        crate::dns::open(&config)?
    };
    let lookup: &dyn Lookup = &*cache;
    let reports: Vec<Report> = runtime.block_on(futures::future::join_all(
        args.domains
            .iter()
            .map(|domain| lint_domain(lookup, &profile, domain)),
    ));

    let mut out = std::io::stdout().lock();
    for report in &reports {
        out.write_all(report.render().as_bytes())?;
    }
    out.flush()?;

    if let Some(path) = &args.dns.save_dns {
        let mut file = std::fs::File::create(path)
            .with_context(|| format!("cannot write --save-dns file {}", path.display()))?;
        cache
            .write_zone(&mut file)
            .and_then(|()| file.flush())
            .with_context(|| format!("cannot write --save-dns file {}", path.display()))?;
    }
    Ok(if reports.iter().any(Report::has_errors) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
