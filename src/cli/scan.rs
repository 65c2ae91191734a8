//! `spfsleuth scan PATH...`: the whole job, from a spam folder to a CSV of findings.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};

use super::{DnsArgs, ProfileArgs};
use crate::classify::Class;
use crate::dns::cache::CacheStats;
use crate::input::OwnFiles;
use crate::letters::locale::Language;
use crate::letters::{LanguageChoice, LetterOptions};
use crate::output::atomic::{Destination, Spooled, StagedDir, commit_phase};
use crate::output::report::EvidenceReports;
use crate::output::summary::{Letters, ReportContext, Summary};
use crate::output::{CsvFindings, Entry, FindingWriter, jsonl::JsonLinesFindings};
use crate::scan::window::{DateWindow, End, parse_bound_in};
use crate::scan::{self, Row, ScanOptions, ScanStats};
use crate::state::{RunTotals, StateError, StateFile};

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
/// Rows come out in input order, one per observation (a message met in two inputs or twice
/// in one is one row: the first wins); a summary goes to stderr.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or directories (mbox, Maildir, .eml, logs, .gz); '-' for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Write the report here (atomically: a temporary file renamed at the end). Default
    /// (or '-'): stdout, written when the run has completed.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    #[command(flatten)]
    pub reading: super::ReadingArgs,
    /// SPF evaluations in flight at once.
    #[arg(long = "dns-concurrency", value_name = "N", default_value_t = 64)]
    pub dns_concurrency: usize,
    /// Also write evidence letters into this directory: one RFC 5322 message (.eml) per
    /// sender domain whose own SPF record made its mail fail, addressed to its postmaster,
    /// ready for `sendmail -t < DIR/domain.eml`, and an index.csv. Its contents are replaced
    /// as a whole at the end of each run (letters no longer needed disappear); a directory
    /// holding files spfsleuth did not write is refused. Needs --letter-from.
    #[arg(
        long,
        value_name = "DIR",
        requires = "letter_from",
        help_heading = "Letters"
    )]
    pub reports: Option<PathBuf>,
    /// The letters' From address (yours, e.g. postmaster@your-domain.example).
    #[arg(long, value_name = "ADDRESS", help_heading = "Letters")]
    pub letter_from: Option<String>,
    /// The letters' language: en, ja, zh, or auto (by the sender domain's country code:
    /// .jp Japanese; .cn, .tw, .hk Chinese; else English). A letter not in English carries
    /// the English text below it.
    #[arg(long, value_name = "LANG", default_value = "auto", value_parser = ["auto", "en", "ja", "zh"], help_heading = "Letters")]
    pub letter_lang: String,
    /// The letters' Date (RFC 3339), also the seed of their Message-IDs and MIME boundaries:
    /// the same run with the same date writes the same bytes. Default: now.
    #[arg(long, value_name = "TIME", help_heading = "Letters")]
    pub letter_date: Option<String>,
    /// Classes that get a letter, comma-separated. Default: misconfigured, record_broken,
    /// regressed, fixed_since (a short notice). unauthorized (a spoof, not the sender's
    /// mistake) only when named here.
    #[arg(
        long,
        value_name = "CLASSES",
        value_delimiter = ',',
        help_heading = "Letters"
    )]
    pub letters_for: Vec<String>,
    /// A domain gets a letter only with at least N affected messages.
    #[arg(long, value_name = "N", default_value_t = 1, help_heading = "Letters")]
    pub min_messages: u64,
    /// No progress bar and no summary on stderr (problems are still reported).
    #[arg(short, long)]
    pub quiet: bool,
    /// Only look at observations that arrived at or after WHEN: an RFC 3339 time, a date
    /// (2026-12-06, its first moment in the --log-timezone zone), today, yesterday, or a
    /// duration back from now (24h, 7d). Those outside are skipped and counted; those
    /// without a date are kept and counted.
    #[arg(long, value_name = "WHEN", help_heading = "Nightly runs")]
    pub since: Option<String>,
    /// Only look at observations that arrived before WHEN (a date: before its end, so
    /// `--since yesterday --until yesterday` is all of yesterday). Same forms as --since.
    #[arg(long, value_name = "WHEN", help_heading = "Nightly runs")]
    pub until: Option<String>,
    /// Remember runs in this SQLite database (created if missing): when each observation was
    /// first seen, its class at each run, each sender domain's SPF record at each run. Adds
    /// the columns first_seen and changed, and makes --summary say what changed. Updated only
    /// when the run completes.
    #[arg(long, value_name = "FILE", help_heading = "Nightly runs")]
    pub state: Option<PathBuf>,
    /// Seconds to wait for another run that holds the --state file before giving up (exit 2).
    #[arg(
        long = "state-timeout",
        value_name = "SECONDS",
        default_value_t = 60.0,
        help_heading = "Nightly runs"
    )]
    pub state_timeout: f64,
    /// Write rows only for observations no earlier run saw (the summary, the letters and the
    /// state still cover all of them). Needs --state.
    #[arg(long = "new-only", requires = "state", help_heading = "Nightly runs")]
    pub new_only: bool,
    /// Write a plain-text summary for a person to FILE ('-': stdout, then -o is needed):
    /// inputs and counts, findings per class, the top sender domains with their fix, and with
    /// --state the records changed, findings fixed and new findings since the last run.
    #[arg(long, value_name = "FILE", help_heading = "Nightly runs")]
    pub summary: Option<PathBuf>,
    /// Write no summary when nothing changed since the last run (no new finding, no verdict
    /// or record changed, no letter added or withdrawn): stdout stays silent, a FILE is left
    /// empty. For cron, which mails only what a job prints. Needs --state and --summary.
    #[arg(
        long = "summary-only-changes",
        requires = "state",
        requires = "summary",
        help_heading = "Nightly runs"
    )]
    pub summary_only_changes: bool,
    /// Exit with status 1 when the rows written contain findings (for scripts and
    /// monitoring).
    #[arg(long = "fail-on-findings", help_heading = "Nightly runs")]
    pub fail_on_findings: bool,
    /// The time the run takes as now (RFC 3339), for tests.
    #[arg(long, value_name = "TIME", hide = true)]
    pub now: Option<String>,
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

/// Where `--summary` goes.
enum SummaryTo {
    Stdout,
    File(PathBuf),
}

/// The `--since`/`--until` window, with days in the log zone.
fn date_window(
    since: Option<&str>,
    until: Option<&str>,
    now: DateTime<Utc>,
    zone: crate::model::LogZone,
) -> anyhow::Result<DateWindow> {
    let bound = |text: Option<&str>, end: End, option: &str| {
        text.map(|t| parse_bound_in(t, end, now, zone))
            .transpose()
            .map_err(|e| anyhow::anyhow!("{option}: {e}"))
    };
    let window = DateWindow {
        since: bound(since, End::Since, "--since")?,
        until: bound(until, End::Until, "--until")?,
    };
    if let (Some(since), Some(until)) = (window.since, window.until)
        && since >= until
    {
        anyhow::bail!(
            "--since {} is not before --until {}: no observation could be in the window",
            rfc3339(since),
            rfc3339(until)
        );
    }
    Ok(window)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The path of a file SQLite keeps beside the state database (`-wal`, `-shm`, `-journal`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The counts of the summary's "Inputs" part.
fn input_lines(stats: &ScanStats, dns: &CacheStats, dates: &DateWindow) -> Vec<String> {
    let input = &stats.input;
    let mut lines = vec![format!(
        "{} messages and {} log lines from {} files ({:.1} MB)",
        input.messages,
        input.log_lines,
        input.files,
        input.bytes as f64 / 1e6
    )];
    if stats.duplicates > 0 {
        lines.push(format!(
            "{} duplicates (met again in another input or twice in one; one row each, the first wins)",
            stats.duplicates
        ));
    }
    if !dates.is_open() {
        let since = dates
            .since
            .map(rfc3339)
            .unwrap_or_else(|| "the beginning".into());
        let until = dates.until.map(rfc3339).unwrap_or_else(|| "now".into());
        lines.push(format!(
            "date window {since} to {until}: {} observations outside it skipped",
            stats.outside_window
        ));
    }
    if stats.undated > 0 {
        lines.push(format!(
            "{} observations without a date (kept)",
            stats.undated
        ));
    }
    let skipped = input.skipped.describe();
    if !skipped.is_empty() {
        lines.push(skipped);
    }
    lines.push(format!(
        "DNS: {} questions sent, {} of them unanswered (timeouts, refused)",
        dns.upstream, dns.unreachable
    ));
    lines
}

/// Run `scan`: check the paths, open the state and the outputs (as temporaries), scan, and
/// when the run completed without a DNS outage put every output in place in one commit
/// phase, the state last.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let dns_config = args.dns.config()?;
    let zone = args.reading.log_timezone;
    let now = match &args.now {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| anyhow::anyhow!("--now {text:?}: {e}"))?,
        None => Utc::now(),
    };
    let dates = date_window(args.since.as_deref(), args.until.as_deref(), now, zone)?;
    let letter_options = letter_options(&args, now)?;
    let output = args.output.clone().filter(|p| p.as_os_str() != "-");
    let summary_to = args.summary.as_ref().map(|p| {
        if p.as_os_str() == "-" {
            SummaryTo::Stdout
        } else {
            SummaryTo::File(p.clone())
        }
    });
    if matches!(summary_to, Some(SummaryTo::Stdout)) && output.is_none() {
        anyhow::bail!(
            "--summary - and the rows would both go to stdout: give the rows a file (-o FILE) or the summary one (--summary FILE)"
        );
    }
    let summary_file = match &summary_to {
        Some(SummaryTo::File(path)) => Some(path.as_path()),
        _ => None,
    };
    if !(args.state_timeout.is_finite() && (0.0..=86400.0).contains(&args.state_timeout)) {
        anyhow::bail!("--state-timeout must be between 0 and 86400 seconds");
    }
    // Before anything is read or created: an output is never an input.
    super::refuse_clashes(
        &args.paths,
        &args.dns.zones,
        &[
            ("-o", output.as_deref()),
            ("--summary", summary_file),
            ("--save-dns", args.dns.save_dns.as_deref()),
            ("--state", args.state.as_deref()),
        ],
        args.reports.as_deref(),
    )?;
    crate::input::check_paths(&args.paths)?;

    // The state first: a locked, damaged or newer state file stops the run before any work.
    let mut state_file = args
        .state
        .as_deref()
        .map(|path| StateFile::open(path, Duration::from_secs_f64(args.state_timeout)))
        .transpose()?;
    let inputs_text = args
        .paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let mut run = match state_file.as_mut() {
        Some(file) => Some(file.begin_run(now, &inputs_text)?),
        None => None,
    };

    // Every output as a temporary now, so that an unusable path is fatal before the scan.
    let mut destination = Spooled::open(output.as_deref()).with_context(|| {
        format!(
            "cannot create {}",
            output.as_deref().unwrap_or(Path::new("-")).display()
        )
    })?;
    let summary_out = summary_file
        .map(|path| {
            Destination::open(Some(path))
                .with_context(|| format!("cannot create --summary file {}", path.display()))
        })
        .transpose()?;
    let save_dns = super::SaveDns::open(args.dns.save_dns.as_deref())?;
    let staged = args
        .reports
        .as_deref()
        .map(|dir| {
            StagedDir::create(dir)
                .with_context(|| format!("cannot use --reports directory {}", dir.display()))
        })
        .transpose()?;
    let mut reports = staged
        .as_ref()
        .map(|staged| {
            EvidenceReports::new(
                staged.path(),
                letter_options.clone(),
                args.profile.profile(),
            )
        })
        .transpose()
        .context("cannot create the evidence reports")?;

    // A directory walk skips the run's own files (an output kept inside the spam folder).
    let mut own = OwnFiles::default();
    for path in [
        output.as_deref(),
        summary_file,
        args.dns.save_dns.as_deref(),
        args.reports.as_deref(),
        staged.as_ref().map(StagedDir::path),
    ]
    .into_iter()
    .flatten()
    {
        own.add(path);
    }
    if let Some(state) = &args.state {
        own.add(state);
        for suffix in ["-wal", "-shm", "-journal"] {
            own.add(&beside(state, suffix));
        }
    }

    let options = ScanOptions {
        paths: args.paths.clone(),
        input: args.reading.input_options(Arc::new(own)),
        profile: args.profile.profile(),
        concurrency: args.dns_concurrency.max(1),
        window: 4096,
        dates,
    };
    let runtime = super::runtime()?;
    let cache = runtime
        .block_on(async { crate::dns::open(&dns_config) })
        .context("cannot set up DNS")?;
    let lookup: Arc<dyn crate::dns::Lookup> = cache.clone();
    let show_progress = !args.quiet && io::stderr().is_terminal();
    let with_history = run.is_some();

    let mut writer: Box<dyn FindingWriter + Send + '_> = match args.format {
        Format::Csv => Box::new(CsvFindings::new(&mut destination, with_history)?),
        Format::Jsonl => Box::new(JsonLinesFindings::new(&mut destination, with_history)),
    };
    let mut summary = Summary::default();
    let mut rows_written = 0u64;
    let mut findings_written = 0u64;
    let mut state_error: Option<StateError> = None;
    let new_only = args.new_only;
    let mut emit = |row: Row| -> io::Result<()> {
        match row {
            Row::Finding(finding, key) => {
                let history = match run.as_mut() {
                    Some(run) => match run.observe(&key, &finding) {
                        Ok(history) => Some(history),
                        Err(err) => {
                            state_error = Some(err);
                            return Err(io::Error::other("the state file failed"));
                        }
                    },
                    None => None,
                };
                let entry = Entry {
                    finding: &finding,
                    history: history.as_ref(),
                };
                summary.write(entry)?;
                if let Some(reports) = reports.as_mut() {
                    reports.write(entry)?;
                }
                if new_only && !history.as_ref().is_some_and(|h| h.new) {
                    return Ok(());
                }
                rows_written += 1;
                if finding.class.is_finding() {
                    findings_written += 1;
                }
                writer.write(entry)
            }
            Row::Problem(problem) => {
                eprintln!("spfsleuth: {problem}");
                summary.problem(&problem);
                Ok(())
            }
        }
    };
    let scanned = runtime.block_on(async {
        if show_progress {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(200));
            let mut progress = Bar(bar);
            let stats = scan::scan(options, lookup, &mut emit, &mut progress).await;
            progress.0.finish_and_clear();
            stats
        } else {
            scan::scan(options, lookup, &mut emit, &mut ()).await
        }
    });
    let stats = match scanned {
        Ok(stats) => stats,
        Err(err) => {
            return match state_error {
                Some(state) => Err(state.into()),
                None => Err(err.into()),
            };
        }
    };

    // A run that could not reach its resolver says nothing about the senders: it changes
    // nothing (the temporaries are removed and the state rolled back as they are dropped).
    let dns = cache.stats();
    if dns.is_outage() {
        eprintln!(
            "spfsleuth: DNS outage: {} of the {} questions sent to the resolver got no answer (timeouts or refused connections), so today's results would say nothing about the senders. Nothing was written, the state was not updated, and the outputs of the last run are as they were. Check the resolver (--nameserver, /etc/resolv.conf) and run again.",
            dns.unreachable, dns.upstream
        );
        return Ok(ExitCode::from(EXIT_DNS_OUTAGE));
    }
    writer.finish().context("cannot write the report")?;
    drop(writer);
    if let Some(reports) = reports.as_mut() {
        runtime
            .block_on(reports.write_letters(&*cache, &cache))
            .context("cannot write the evidence letters")?;
    }

    let finished = now + chrono::Duration::from_std(stats.total).unwrap_or_default();
    let letters = match (&staged, &reports, &args.reports) {
        (Some(staged), Some(reports), Some(dir)) => Some(Letters {
            dir: dir.display().to_string(),
            written: reports.written().to_vec(),
            // The index is rewritten every run: not a letter, never withdrawn.
            previous: staged
                .previous()
                .iter()
                .filter(|name| name.as_str() != "index.csv")
                .cloned()
                .collect(),
        }),
        _ => None,
    };
    let context = ReportContext {
        finished,
        with_state: with_history,
        previous_run: run.as_ref().and_then(|r| r.previous().cloned()),
        inputs: args.paths.iter().map(|p| p.display().to_string()).collect(),
        input_lines: input_lines(&stats, &dns, &dates),
        record_changes: run
            .as_ref()
            .map(|r| r.record_changes().to_vec())
            .unwrap_or_default(),
        letters,
    };
    let news = context.has_news(&summary);
    let summary_text = if summary_to.is_none() || (args.summary_only_changes && !news) {
        String::new()
    } else {
        summary.report(&context)
    };
    let totals = RunTotals {
        rows: stats.rows,
        new_rows: summary.new_rows,
        findings: summary.findings(),
        duplicates: stats.duplicates,
        outside_window: stats.outside_window,
        problems: stats.problems,
    };

    {
        // All outputs, then the state: a signal now waits for the phase to end.
        let _commit = commit_phase();
        destination.commit().context("cannot write the report")?;
        if let Some(mut file) = summary_out {
            let path = summary_file.unwrap_or(Path::new("-"));
            io::Write::write_all(&mut file, summary_text.as_bytes())
                .and_then(|()| file.commit())
                .with_context(|| format!("cannot write --summary file {}", path.display()))?;
        }
        if matches!(summary_to, Some(SummaryTo::Stdout)) && !summary_text.is_empty() {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            io::Write::write_all(&mut out, summary_text.as_bytes())
                .and_then(|()| io::Write::flush(&mut out))
                .context("cannot write the summary")?;
        }
        if let Some(save_dns) = save_dns {
            save_dns.write(&cache)?;
        }
        if let Some(staged) = staged {
            let dir = args.reports.as_deref().unwrap_or(Path::new("."));
            staged
                .commit()
                .with_context(|| format!("cannot put the letters in place in {}", dir.display()))?;
        }
        if let Some(run) = run {
            run.commit(finished, totals)?;
        }
    }

    if !args.quiet {
        print_summary(&args, &stats, &dns, &summary, &context, with_history);
    }
    if args.fail_on_findings && findings_written > 0 {
        return Ok(ExitCode::from(EXIT_FINDINGS));
    }
    let _ = rows_written;
    Ok(ExitCode::SUCCESS)
}

/// Exit status with `--fail-on-findings` when the rows written hold findings.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit status when the resolver could not be reached for the run.
pub const EXIT_DNS_OUTAGE: u8 = 3;

/// The end-of-run lines on stderr.
fn print_summary(
    args: &ScanArgs,
    stats: &ScanStats,
    dns: &CacheStats,
    summary: &Summary,
    context: &ReportContext,
    with_history: bool,
) {
    let input = &stats.input;
    let mut extra = Vec::new();
    if stats.duplicates > 0 {
        extra.push(format!("{} duplicates", stats.duplicates));
    }
    if stats.outside_window > 0 {
        extra.push(format!("{} outside the date window", stats.outside_window));
    }
    let skipped = input.skipped.describe();
    if !skipped.is_empty() {
        extra.push(skipped);
    }
    let extra: String = extra.iter().map(|e| format!("; {e}")).collect();
    eprint!(
        "spfsleuth: {} messages and {} log lines from {} files ({:.1} MB) in {:.2} s (reading done at {:.2} s); {} input problems{extra}\n{}\
         DNS: {} questions from the SPF engine, {} sent upstream for {} distinct (name, type); {} SPF evaluations for {} requests ({} for related domains, {} for earlier hops)\n",
        input.messages,
        input.log_lines,
        input.files,
        input.bytes as f64 / 1e6,
        stats.total.as_secs_f64(),
        stats.reading.as_secs_f64(),
        stats.problems,
        summary.render(),
        dns.requests,
        dns.upstream,
        dns.distinct,
        stats.evaluations_distinct,
        stats.evaluations_requested,
        stats.related_requested,
        stats.hops_requested,
    );
    if with_history {
        eprintln!(
            "state: {} new rows, {} changed, {} record change(s) since the last run",
            summary.new_rows,
            summary.changed,
            context.record_changes.len()
        );
    }
    if let Some(letters) = &context.letters {
        eprintln!(
            "spfsleuth: wrote {} evidence report(s) to {}{}",
            letters.written.len(),
            letters.dir,
            match letters.withdrawn().len() {
                0 => String::new(),
                n => format!(" ({n} withdrawn since the last run)"),
            }
        );
    }
    let _ = args;
    if let Some(cpu) = stats.cpu {
        eprintln!(
            "CPU: {:.2} s reading and extraction, {:.2} s evaluation, classification and output",
            cpu.reading.as_secs_f64(),
            cpu.evaluation.as_secs_f64()
        );
    }
}

/// The letters' settings from the command line (checked even without --reports, so that a
/// mistake shows before the nightly run that needs it).
fn letter_options(args: &ScanArgs, now: DateTime<Utc>) -> anyhow::Result<LetterOptions> {
    let from = args.letter_from.clone().unwrap_or_default();
    if args.letter_from.is_some() {
        LetterOptions::check_from(&from).map_err(anyhow::Error::msg)?;
    }
    let language = match args.letter_lang.as_str() {
        "en" => LanguageChoice::Fixed(Language::En),
        "ja" => LanguageChoice::Fixed(Language::Ja),
        "zh" => LanguageChoice::Fixed(Language::Zh),
        _ => LanguageChoice::Auto,
    };
    let date = match &args.letter_date {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                anyhow::anyhow!("--letter-date {text:?}: {e} (write e.g. 2026-12-08T09:00:00Z)")
            })?,
        None => now,
    };
    let classes = if args.letters_for.is_empty() {
        LetterOptions::DEFAULT_CLASSES.to_vec()
    } else {
        args.letters_for
            .iter()
            .map(|name| {
                name.trim().parse::<Class>().map_err(|_| {
                    anyhow::anyhow!(
                        "--letters-for: unknown class {name:?} (one of: {})",
                        Class::ALL.map(Class::as_str).join(", ")
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    Ok(LetterOptions {
        from,
        language,
        date,
        classes,
        min_messages: args.min_messages.max(1),
    })
}
