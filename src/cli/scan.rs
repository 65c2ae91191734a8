//! `spfsleuth scan PATH...`: the whole job, from a spam folder to a CSV of findings.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::{DnsArgs, ProfileArgs};
use crate::extract::ExtractOptions;
use crate::input::InputOptions;
use crate::output::atomic::Destination;
use crate::output::report::EvidenceReports;
use crate::output::summary::Summary;
use crate::output::{CsvFindings, FindingWriter, jsonl::JsonLinesFindings};
use crate::scan::{self, Row, ScanOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// CSV with a header row (columns listed above).
    Csv,
    /// One JSON object per row, same keys as the CSV columns.
    Jsonl,
}

/// Scan mailboxes (mbox, Maildir, .eml, directory trees, .gz, '-' for stdin) and MTA logs,
/// re-evaluate every recorded SPF verdict against today's DNS and classify it.
///
/// Rows come out in input order; a summary (rows per class, findings per sender domain,
/// input problems) goes to stderr. Exit status 0 when the run completed (even with
/// per-message problems), 2 on a fatal error.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or directories (mbox, Maildir, .eml, logs, .gz); '-' for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Write the report here (atomically: a temporary file renamed at the end). Default: stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
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
    /// Threads for reading and extraction (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// SPF evaluations in flight at once.
    #[arg(long = "dns-concurrency", value_name = "N", default_value_t = 64)]
    pub dns_concurrency: usize,
    /// Also write evidence reports, one letter per sender domain whose own SPF record made
    /// its mail fail (misconfigured, record_broken, regressed), into this directory.
    #[arg(long, value_name = "DIR")]
    pub reports: Option<PathBuf>,
    /// No progress bar and no summary on stderr (problems are still reported).
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub dns: DnsArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// A progress bar on stderr when it is a terminal.
struct Bar(indicatif::ProgressBar);

impl scan::Progress for Bar {
    fn update(&mut self, read: u64, written: u64, evaluations: u64) {
        let secs = self.0.elapsed().as_secs_f64().max(0.001);
        self.0.set_message(format!(
            "{read} messages read ({:.0}/s), {written} rows written, {evaluations} SPF evaluations",
            read as f64 / secs
        ));
        self.0.tick();
    }
}

pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let dns_config = args.dns.config()?;
    let options = ScanOptions {
        paths: args.paths.clone(),
        input: InputOptions {
            extract: ExtractOptions {
                authserv_ids: args.authserv_ids.clone(),
                log_year: args.log_year,
            },
            threads: args.threads.map(usize::from),
        },
        profile: args.profile.profile(),
        concurrency: args.dns_concurrency.max(1),
        window: 4096,
    };
    crate::input::check_paths(&args.paths)?;
    let mut destination = Destination::open(args.output.as_deref()).with_context(|| {
        format!(
            "cannot create {}",
            args.output.as_deref().unwrap_or(Path::new("-")).display()
        )
    })?;
    let save_dns = super::SaveDns::open(args.dns.save_dns.as_deref())?;
    let runtime = super::runtime()?;
    let show_progress = !args.quiet && io::stderr().is_terminal();
    let (stats, summary, cache) = runtime.block_on(async {
        let cache = crate::dns::open(&dns_config).context("cannot set up DNS")?;
        let lookup: Arc<dyn crate::dns::Lookup> = cache.clone();
        // Before the CSV header: an unusable --reports path is fatal with nothing on stdout.
        let mut reports = match &args.reports {
            Some(dir) => Some(
                EvidenceReports::new(dir, chrono::Utc::now(), args.profile.max_lookups)
                    .with_context(|| format!("cannot create {}", dir.display()))?,
            ),
            None => None,
        };
        let mut writer: Box<dyn FindingWriter + Send + '_> = match args.format {
            Format::Csv => Box::new(CsvFindings::new(&mut destination)?),
            Format::Jsonl => Box::new(JsonLinesFindings::new(&mut destination)),
        };
        let mut summary = Summary::default();
        let mut emit = |row: Row| -> io::Result<()> {
            match row {
                Row::Finding(finding) => {
                    summary.write(&finding)?;
                    if let Some(reports) = reports.as_mut() {
                        reports.write(&finding)?;
                    }
                    writer.write(&finding)
                }
                Row::Problem(problem) => {
                    eprintln!("spfsleuth: {problem}");
                    Ok(())
                }
            }
        };
        let stats = if show_progress {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(200));
            let mut progress = Bar(bar);
            let stats = scan::scan(options, lookup, &mut emit, &mut progress).await;
            progress.0.finish_and_clear();
            stats
        } else {
            scan::scan(options, lookup, &mut emit, &mut ()).await
        }?;
        writer.finish()?;
        drop(writer);
        if let Some(reports) = reports.as_mut() {
            reports
                .finish()
                .context("cannot write the evidence reports")?;
            if !args.quiet {
                eprintln!(
                    "spfsleuth: wrote {} evidence report(s) to {}",
                    reports.written().len(),
                    args.reports.as_deref().unwrap_or(Path::new(".")).display()
                );
            }
        }
        anyhow::Ok((stats, summary, cache))
    })?;
    destination.commit().context("cannot write the report")?;
    if let Some(save_dns) = save_dns {
        save_dns.write(&cache)?;
    }
    if !args.quiet {
        let dns = cache.stats();
        let input = &stats.input;
        eprint!(
            "spfsleuth: {} messages and {} log lines from {} files ({:.1} MB) in {:.2} s (reading done at {:.2} s); {} input problems{}\n{}\
             DNS: {} questions from the SPF engine, {} sent upstream for {} distinct (name, type); {} SPF evaluations for {} requests ({} for related domains, {} for earlier hops)\n",
            input.messages,
            input.log_lines,
            input.files,
            input.bytes as f64 / 1e6,
            stats.total.as_secs_f64(),
            stats.reading.as_secs_f64(),
            stats.problems,
            match input.skipped.describe() {
                d if d.is_empty() => d,
                d => format!("; {d}"),
            },
            summary.render(),
            dns.requests,
            dns.upstream,
            dns.distinct,
            stats.evaluations_distinct,
            stats.evaluations_requested,
            stats.related_requested,
            stats.hops_requested,
        );
        if let Some(cpu) = stats.cpu {
            eprintln!(
                "CPU: {:.2} s reading and extraction, {:.2} s evaluation, classification and output",
                cpu.reading.as_secs_f64(),
                cpu.evaluation.as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
