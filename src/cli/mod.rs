//! Command line: clap structs hold only what the user typed; each subcommand resolves them
//! into its configuration once and runs. `main` only maps errors to exit codes.

pub mod check;
pub mod extract;
pub mod lint;
pub mod scan;
pub mod serve_dns;
pub mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Re-check the SPF verdicts recorded in spam folders and MTA logs against today's DNS,
/// and explain which senders were misclassified and why.
#[derive(Debug, Parser)]
#[command(name = "spfsleuth", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan mailboxes and MTA logs, re-evaluate every recorded SPF verdict, write a CSV.
    ///
    /// Reads mbox files, Maildir folders (with Maildir++ subfolders such as .Junk), single
    /// .eml and .emlx files, whole directory trees, MTA logs (Postfix/policyd-spf, Exim, rspamd,
    /// Sendmail/smf-spf, amavis, ...), gzip of any of these, and '-' for stdin. For every
    /// recorded SPF verdict (Received-SPF, Authentication-Results, log lines) it checks the
    /// same client IP and identity against the DNS as it is now, tries related domains (header
    /// From, organisational domains, HELO) and earlier Received hops, and writes one row per
    /// message, in input order, with one of these classes:
    ///
    ///   unverifiable     no client IP or no domain to evaluate
    ///   dns_unavailable  the DNS cannot answer now (temperror)
    ///   ok               passes now, and passed (or nothing was recorded)
    ///   transient_error  recorded temperror, passes now
    ///   fixed_since      recorded fail/softfail/..., passes now: the sender fixed its record
    ///   record_broken    the record is broken now (permerror: syntax, >10 lookups, ...)
    ///   regressed        passed at delivery, does not pass now
    ///   forwarded        an earlier hop passes, or SRS/ARC shows forwarding
    ///   misconfigured    the client passes for a related domain: a legitimate sender's record is wrong
    ///   unauthorized     fail/softfail and nothing related authorizes the client: likely forged
    ///   no_policy        neutral or none
    ///
    /// CSV columns: source, locator, message_id, date, header_from, envelope_from, helo,
    /// client_ip, recorded_by, recorded_result, identity, spf_domain, current_result, matched,
    /// record, dns_lookups, class, reason, fix, related_results.
    ///
    /// With --state, two more columns: first_seen (when a run first saw the observation) and
    /// changed (empty, `class A -> B`, `result A -> B`, `record changed`).
    ///
    /// Exit status:
    ///   0        the run completed (per-message problems are reported on stderr and counted)
    ///   1        --fail-on-findings was given and the rows written contain findings
    ///   2        fatal error: bad arguments, missing path, unreadable zone file, an output
    ///            that cannot be written or is an input, a damaged or busy --state file
    ///   3        DNS outage: the resolver could not be reached for most questions; nothing
    ///            was written and the state was not updated
    ///   128+N    stopped by signal N (SIGINT, SIGTERM, SIGHUP); outputs left as they were
    // Verbatim: the class table keeps its lines (clap would reflow it into one paragraph).
    #[command(
        verbatim_doc_comment,
        after_long_help = "Examples:\n  spfsleuth scan ~/Maildir/.Junk -o junk.csv\n  spfsleuth scan spam.mbox /var/log/mail.log.1.gz --reports letters/\n  spfsleuth scan samples --zone samples/dns.zone        # offline, answers from a zone file\n  spfsleuth scan spam.mbox --save-dns today.zone       # keep the DNS answers as evidence\n  spfsleuth scan ~/Maildir/.Junk -q --since 2d --state state.db -o junk.csv --summary - --summary-only-changes   # nightly, for cron"
    )]
    Scan(Box<scan::ScanArgs>),
    /// Evaluate SPF for one client IP and sender, with a trace (like spfquery).
    ///
    /// Prints the result, the record, the directive that decided it, the explanation, the
    /// DNS-lookup and void-lookup counters, and a trace of every record and term tried.
    ///
    /// With --batch, reads lines `ip<TAB>sender<TAB>helo` on stdin (an empty sender is the
    /// null sender, checked as postmaster@HELO) and writes CSV with the columns
    /// ip,sender,helo,result,matched,dns_lookups,void_lookups,explanation — one row per input
    /// line, in input order, evaluated concurrently. A malformed line gets a row with an empty
    /// result and a message on stderr.
    #[command(
        after_long_help = "Examples:\n  spfsleuth check 198.51.100.154 error@sub.example.co.jp --helo sub.example.co.jp\n  spfsleuth check 192.0.2.1 '' --helo mail.example.com           # null sender\n  spfsleuth check 192.0.2.1 x --helo mail.example.com --identity helo\n  spfsleuth check --batch < tuples.tsv > results.csv"
    )]
    Check(check::CheckArgs),
    /// Report problems in the SPF records of domains.
    Lint(lint::LintArgs),
    /// Extract recorded verdicts without DNS (the DNS-free columns of `scan`).
    Extract(extract::ExtractArgs),
    /// Read a `scan --state` database: the runs, a sender domain's SPF record history.
    #[command(
        after_long_help = "Examples:\n  spfsleuth state runs --state /var/lib/spfsleuth/state.db\n  spfsleuth state domain sub.example.co.jp --state /var/lib/spfsleuth/state.db"
    )]
    State(state::StateArgs),
    /// Serve zone files over UDP and TCP on a local address (tests and benchmarks).
    #[command(hide = true)]
    ServeDns(serve_dns::ServeDnsArgs),
}

/// Where DNS answers come from. Shared by every subcommand that touches DNS.
#[derive(Debug, Clone, Args)]
pub struct DnsArgs {
    /// Answer DNS from this RFC 1035 zone (master) file instead of the network; repeatable.
    /// A name in none of the files does not exist (NXDOMAIN).
    #[arg(long = "zone", value_name = "FILE")]
    pub zones: Vec<PathBuf>,

    /// Use this DNS server (IP or IP:PORT, default port 53) instead of /etc/resolv.conf;
    /// repeatable.
    #[arg(long = "nameserver", value_name = "IP[:PORT]")]
    pub nameservers: Vec<String>,

    /// Seconds to wait for one DNS answer before it counts as a timeout (temperror).
    #[arg(long = "dns-timeout", value_name = "SECONDS", default_value_t = 5.0)]
    pub dns_timeout: f64,

    /// Write every DNS answer used to FILE, as a zone file that --zone replays.
    #[arg(long = "save-dns", value_name = "FILE")]
    pub save_dns: Option<PathBuf>,
}

impl DnsArgs {
    /// Resolve what the user typed into the DNS configuration.
    pub fn config(&self) -> anyhow::Result<crate::dns::DnsConfig> {
        crate::dns::DnsConfig::from_options(self.zones.clone(), &self.nameservers, self.dns_timeout)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// On SIGINT, SIGTERM or SIGHUP (Ctrl-C, a cron job's `timeout`, a closed terminal) remove
/// the temporary files of `-o`, `--summary`, `--save-dns` and `--reports` before exiting
/// with 128 + the signal's number, as the default action would: the targets stay as they
/// were, no `.NAME.PID.tmp` is left beside them, and the `--state` transaction is never
/// committed (SQLite rolls it back). A signal during the commit phase waits for it to end. Without a handler (it could not be installed) the
/// default action stays.
pub fn stop_cleanly_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let _ = std::thread::Builder::new()
        .name("spfsleuth-signals".into())
        .spawn(|| {
            let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            else {
                return;
            };
            if let Some(signal) = signals.forever().next() {
                // Waits for a commit phase in progress; no other starts after this.
                let _no_commit = crate::output::atomic::remove_temporaries();
                std::process::exit(128 + signal);
            }
        });
}

/// The `--save-dns` file: every DNS answer the run used, written atomically to a regular
/// file, in place to a device or pipe (a rename would replace `/dev/null` itself).
pub struct SaveDns {
    path: std::path::PathBuf,
    file: crate::output::atomic::Destination,
}

impl SaveDns {
    /// Open the `--save-dns` destination before the run, so that an unusable path is fatal
    /// before any work is done (not after a whole night's scan).
    pub fn open(path: Option<&std::path::Path>) -> anyhow::Result<Option<SaveDns>> {
        use anyhow::Context;
        let Some(path) = path else {
            return Ok(None);
        };
        let file = crate::output::atomic::Destination::open(Some(path))
            .with_context(|| format!("cannot create --save-dns file {}", path.display()))?;
        Ok(Some(SaveDns {
            path: path.to_path_buf(),
            file,
        }))
    }

    /// Write every answer the run used and put the file in place.
    pub fn write(mut self, cache: &crate::dns::cache::Cache) -> anyhow::Result<()> {
        use anyhow::Context;
        cache
            .write_zone(&mut self.file)
            .and_then(|()| self.file.commit())
            .with_context(|| format!("cannot write --save-dns file {}", self.path.display()))
    }
}

/// The one tokio runtime of a run.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spfsleuth-dns")
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

/// How inputs are read. Shared by `scan` and `extract`.
#[derive(Debug, Clone, Args)]
pub struct ReadingArgs {
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
    /// Time zone of log timestamps that carry none (classic syslog `Dec  7 03:12:09`, Exim's
    /// `2026-12-07 03:12:09`): `local` (this machine's zone, from TZ or /etc/localtime),
    /// `UTC`, or an IANA name such as Europe/Berlin or Asia/Tokyo. Timestamps with an offset
    /// (RFC 5424, RFC 3339) keep their own. Also the zone of the days given to --since and
    /// --until.
    #[arg(long = "log-timezone", value_name = "ZONE", default_value = "local", value_parser = parse_log_zone)]
    pub log_timezone: crate::model::LogZone,
    /// Threads for reading and extraction (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

fn parse_log_zone(text: &str) -> Result<crate::model::LogZone, String> {
    crate::model::LogZone::parse(text)
}

impl ReadingArgs {
    /// The input options these arguments ask for; `own_files` are the run's outputs.
    pub fn input_options(
        &self,
        own_files: std::sync::Arc<crate::input::OwnFiles>,
    ) -> crate::input::InputOptions {
        crate::input::InputOptions {
            extract: crate::extract::ExtractOptions {
                authserv_ids: self.authserv_ids.clone(),
                log_year: self.log_year,
                log_zone: self.log_timezone,
            },
            threads: self.threads.map(usize::from),
            own_files,
        }
    }
}

/// Refuse, before anything is read, an output that is an input or a `--zone` file, two
/// outputs that are one file, and a `--reports` directory that holds anything else the run
/// reads or writes (see [`crate::output::guard`]).
pub fn refuse_clashes(
    inputs: &[PathBuf],
    zones: &[PathBuf],
    outputs: &[(&'static str, Option<&std::path::Path>)],
    reports: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use crate::output::guard::{Named, Role};
    let stdin = std::path::Path::new("-");
    let mut reads: Vec<Named> = inputs
        .iter()
        .filter(|p| p.as_path() != stdin)
        .map(|p| Named {
            role: Role::Input,
            path: p.clone(),
        })
        .collect();
    reads.extend(zones.iter().map(|p| Named {
        role: Role::Zone,
        path: p.clone(),
    }));
    let writes: Vec<Named> = outputs
        .iter()
        .filter_map(|(option, path)| {
            path.map(|path| Named {
                role: Role::Output(option),
                path: path.to_path_buf(),
            })
        })
        .collect();
    let stdin_read = inputs.iter().any(|p| p.as_path() == stdin);
    crate::output::guard::check(&reads, &writes, reports, stdin_read)?;
    Ok(())
}

/// Receiver profile: the RFC 7208 §4.6.4 processing limits, which some receivers change.
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// Maximum number of DNS-querying terms (include, a, mx, ptr, exists, redirect).
    #[arg(long = "max-lookups", value_name = "N", default_value_t = 10)]
    pub max_lookups: u32,

    /// Maximum number of void lookups (NXDOMAIN or empty answers).
    #[arg(long = "max-void-lookups", value_name = "N", default_value_t = 2)]
    pub max_void_lookups: u32,
}

impl ProfileArgs {
    pub fn profile(&self) -> crate::spf::Profile {
        crate::spf::Profile {
            max_dns_mechanisms: self.max_lookups,
            max_void_lookups: self.max_void_lookups,
            ..crate::spf::Profile::default()
        }
    }
}

/// Run the parsed command line. Errors are fatal (exit status 2 in `main`).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => scan::run(*args),
        Command::Check(args) => check::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Extract(args) => extract::run(args),
        Command::State(args) => state::run(args),
        Command::ServeDns(args) => serve_dns::run(args),
    }
}
