//! `spfsleuth lint DOMAIN...`: record problems, one line each, exit 1 on any error.
//!
//! The analysis is [`crate::lint::lint_domain`]; this only wires the command line, the DNS
//! and stdout to it.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use futures::StreamExt;

use super::{DnsArgs, ProfileArgs};
use crate::dns::Lookup;
use crate::lint::{CHECKS, lint_domain};

#[derive(Debug, Args)]
#[command(after_help = "Run with --help for the list of checks.", after_long_help = CHECKS)]
pub struct LintArgs {
    /// Domains whose SPF records to check.
    #[arg(value_name = "DOMAIN", required = true)]
    pub domains: Vec<String>,
    #[command(flatten)]
    pub dns: DnsArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// Domains linted at once (they mostly wait for DNS).
pub const LINT_CONCURRENCY: usize = 16;

pub fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    let config = args.dns.config()?;
    let profile = args.profile.profile();
    let save_dns = super::SaveDns::open(args.dns.save_dns.as_deref())?;
    let runtime = super::runtime()?;
    let cache = {
        let _guard = runtime.enter();
        crate::dns::open(&config)?
    };
    let lookup: &dyn Lookup = &*cache;
    // Reports come out in the order the domains were given, each as soon as it is ready.
    let any_error = runtime.block_on(async {
        let mut reports = futures::stream::iter(&args.domains)
            .map(|domain| lint_domain(lookup, &profile, domain))
            .buffered(LINT_CONCURRENCY);
        let mut out = std::io::stdout().lock();
        let mut any_error = false;
        while let Some(report) = reports.next().await {
            any_error |= report.has_errors();
            out.write_all(report.render().as_bytes())?;
        }
        out.flush()?;
        anyhow::Ok(any_error)
    })?;

    if let Some(save_dns) = save_dns {
        save_dns.write(&cache)?;
    }
    Ok(if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
