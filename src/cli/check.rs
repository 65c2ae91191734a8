//! `spfsleuth check`: one evaluation with its trace, or `--batch` from stdin to CSV.
//!
//! The batch core, [`run_batch`], is a library function over any [`Lookup`], so tests drive
//! it with an in-memory zone; `run` only wires the command line, the DNS and stdio to it.

use std::io::{self, BufRead, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use futures::StreamExt;

use super::{DnsArgs, ProfileArgs};
use crate::dns::Lookup;
use crate::model::Identity;
use crate::output::csv::write_record;
use crate::spf::{Evaluation, Profile, Request, check_host};

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
    /// Which identity to check: the MAIL FROM domain, or the HELO name.
    #[arg(long, value_name = "IDENTITY", default_value = "mailfrom", value_parser = parse_identity)]
    pub identity: Identity,
    /// Read lines `ip<TAB>sender<TAB>helo` from stdin and write one CSV row per line.
    #[arg(long)]
    pub batch: bool,
    #[command(flatten)]
    pub dns: DnsArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

fn parse_identity(text: &str) -> Result<Identity, String> {
    text.parse()
}

/// The CSV header of `check --batch` (contract).
pub const BATCH_HEADER: [&str; 8] = [
    "ip",
    "sender",
    "helo",
    "result",
    "matched",
    "dns_lookups",
    "void_lookups",
    "explanation",
];

/// Evaluations in flight at once in `--batch` (they mostly wait for DNS).
pub const BATCH_CONCURRENCY: usize = 256;

/// How `--batch` evaluates its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Which identity every line is checked for.
    pub identity: Identity,
    /// Evaluations in flight at once.
    pub concurrency: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            identity: Identity::MailFrom,
            concurrency: BATCH_CONCURRENCY,
        }
    }
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    // Mistakes in what the user typed are reported before any DNS is set up.
    let single = if args.batch {
        None
    } else {
        Some(single_request(&args)?)
    };
    let config = args.dns.config()?;
    let profile = Arc::new(args.profile.profile());
    let save_dns = super::SaveDns::open(args.dns.save_dns.as_deref())?;
    let runtime = super::runtime()?;
    let cache = {
        let _guard = runtime.enter();
        crate::dns::open(&config)?
    };
    let lookup: Arc<dyn Lookup> = cache.clone();

    if let Some(request) = single {
        let evaluation = runtime.block_on(check_host(&*lookup, &profile, &request));
        let mut out = io::stdout().lock();
        out.write_all(render_evaluation(&request, &profile, &evaluation).as_bytes())?;
        out.flush()?;
    } else {
        let stdin = io::stdin();
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        let mut err = io::stderr();
        let summary = runtime.block_on(run_batch(
            lookup,
            profile,
            stdin.lock(),
            &mut out,
            &mut err,
            BatchOptions {
                identity: args.identity,
                concurrency: BATCH_CONCURRENCY,
            },
        ))?;
        out.flush()?;
        if summary.malformed > 0 {
            eprintln!(
                "spfsleuth: {} of {} lines were malformed (rows with an empty result)",
                summary.malformed, summary.rows
            );
        }
    }

    if let Some(save_dns) = save_dns {
        save_dns.write(&cache)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn single_request(args: &CheckArgs) -> anyhow::Result<Request> {
    let ip_text = args.ip.as_deref().unwrap_or_default();
    let ip = parse_ip(ip_text)
        .ok_or_else(|| anyhow::anyhow!("{ip_text:?} is not an IPv4 or IPv6 address"))?;
    let sender = clean_sender(args.sender.as_deref().unwrap_or_default());
    let helo = args.helo.clone().unwrap_or_default();
    if helo.is_empty() {
        if args.identity == Identity::Helo {
            anyhow::bail!("--identity helo needs --helo NAME");
        }
        if sender.is_empty() {
            anyhow::bail!("the null sender (\"\") is checked as postmaster@HELO: give --helo NAME");
        }
    }
    Ok(Request {
        ip,
        mail_from: sender,
        helo,
        identity: args.identity,
    })
}

/// An IP address as people write it: plain, or IPv6 in brackets.
fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    let bare = bare.strip_prefix("IPv6:").unwrap_or(bare);
    bare.parse().ok()
}

/// A sender as logs write it: `<a@b>` and `<>` are taken without the brackets.
fn clean_sender(text: &str) -> String {
    let t = text.trim();
    t.strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(t)
        .trim()
        .to_string()
}

/// The human-readable report of one evaluation: result, explanation, counters, trace.
pub fn render_evaluation(request: &Request, profile: &Profile, e: &Evaluation) -> String {
    use crate::spf::trace::printable;
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "result: {}", e.result);
    let sender = if request.mail_from.is_empty() {
        "<> (null sender)".to_string()
    } else {
        printable(&request.mail_from).into_owned()
    };
    let _ = writeln!(
        out,
        "checked: {} for client {} (identity {}, sender {}, helo {})",
        if e.domain.is_empty() {
            "(nothing)"
        } else {
            &e.domain
        },
        request.ip,
        request.identity,
        sender,
        if request.helo.is_empty() {
            "(none)"
        } else {
            &request.helo
        }
    );
    if let Some(record) = &e.record {
        let _ = writeln!(out, "record: {}", printable(record));
    }
    if let Some(matched) = &e.matched {
        let _ = writeln!(out, "matched: {matched}");
    }
    if let Some(explanation) = &e.explanation {
        let _ = writeln!(out, "explanation: {}", printable(explanation));
    }
    if let Some(problem) = &e.problem {
        let _ = writeln!(out, "problem: {}", printable(&problem.to_string()));
    }
    let _ = writeln!(
        out,
        "dns lookups: {} of {}, void lookups: {} of {}",
        e.dns_lookups, profile.max_dns_mechanisms, e.void_lookups, profile.max_void_lookups
    );
    out.push_str("\ntrace:\n");
    e.trace.render_into(&mut out, 1);
    out
}

/// Counts from one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Rows written (one per input line).
    pub rows: u64,
    /// Lines that could not be evaluated (empty result, message on `err`).
    pub malformed: u64,
}

/// One input line, split and checked.
struct Line {
    number: u64,
    ip: String,
    sender: String,
    helo: String,
    request: Result<Request, String>,
}

fn parse_line(number: u64, raw: &[u8], identity: Identity) -> Line {
    let text = String::from_utf8_lossy(raw);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    // A byte order mark, as editors on Windows put at the start of a file.
    let text = match number {
        1 => text.strip_prefix('\u{feff}').unwrap_or(text),
        _ => text,
    };
    let fields: Vec<&str> = text.split('\t').collect();
    let field = |i: usize| {
        fields
            .get(i)
            .map_or_else(String::new, |f| f.trim().to_string())
    };
    let (ip, sender, helo) = (field(0), field(1), field(2));
    let request = if text.trim().is_empty() {
        Err("empty line".to_string())
    } else if fields.len() < 2 || fields.len() > 3 {
        Err(format!(
            "expected ip<TAB>sender<TAB>helo, found {} field{}",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" }
        ))
    } else {
        match parse_ip(&ip) {
            None => Err(format!("{ip:?} is not an IP address")),
            Some(addr) => Ok(Request {
                ip: addr,
                mail_from: clean_sender(&sender),
                helo: helo.clone(),
                identity,
            }),
        }
    };
    Line {
        number,
        ip,
        sender,
        helo,
        request,
    }
}

/// Evaluate lines `ip<TAB>sender<TAB>helo` (empty sender = null sender, helo optional)
/// and write the CSV of `check --batch` to `out`: the header, then one row per line in
/// input order. Evaluations run concurrently (at most `options.concurrency` at once,
/// spawned on the current tokio runtime). A malformed line gets a row with an empty result and a
/// message on `err`; the batch goes on. Must be called inside a tokio runtime.
pub async fn run_batch(
    lookup: Arc<dyn Lookup>,
    profile: Arc<Profile>,
    mut input: impl BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
    options: BatchOptions,
) -> io::Result<BatchSummary> {
    write_record(out, &BATCH_HEADER)?;
    let mut read_error: Option<io::Error> = None;
    let lines = std::iter::from_fn(|| {
        if read_error.is_some() {
            return None;
        }
        let mut buf = Vec::new();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => Some(buf),
            Err(e) => {
                read_error = Some(e);
                None
            }
        }
    });
    let mut rows = futures::stream::iter(lines.zip(1u64..))
        .map(|(raw, number)| {
            let line = parse_line(number, &raw, options.identity);
            let task = match &line.request {
                Ok(request) => {
                    let lookup = Arc::clone(&lookup);
                    let profile = Arc::clone(&profile);
                    let request = request.clone();
                    Some(tokio::spawn(async move {
                        check_host(&*lookup, &profile, &request).await
                    }))
                }
                Err(_) => None,
            };
            async move {
                let evaluation = match task {
                    Some(handle) => Some(handle.await),
                    None => None,
                };
                (line, evaluation)
            }
        })
        .buffered(options.concurrency.max(1));

    let mut summary = BatchSummary::default();
    while let Some((line, evaluation)) = rows.next().await {
        summary.rows += 1;
        let evaluation = match (evaluation, &line.request) {
            (Some(Ok(e)), _) => Ok(e),
            (Some(Err(join)), _) => Err(format!("evaluation failed: {join}")),
            (None, Err(why)) => Err(why.clone()),
            (None, Ok(_)) => Err("not evaluated".to_string()),
        };
        match evaluation {
            Ok(e) => {
                let matched = e
                    .matched
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                // The explanation for fail; for none/permerror/temperror, why.
                let explanation = e
                    .explanation
                    .clone()
                    .or_else(|| e.problem.as_ref().map(|p| p.to_string()))
                    .unwrap_or_default();
                write_record(
                    out,
                    &[
                        line.ip.as_str(),
                        line.sender.as_str(),
                        line.helo.as_str(),
                        e.result.as_str(),
                        matched.as_str(),
                        &e.dns_lookups.to_string(),
                        &e.void_lookups.to_string(),
                        explanation.as_str(),
                    ],
                )?;
            }
            Err(why) => {
                summary.malformed += 1;
                writeln!(err, "spfsleuth: stdin line {}: {why}", line.number)?;
                write_record(
                    out,
                    &[
                        line.ip.as_str(),
                        line.sender.as_str(),
                        line.helo.as_str(),
                        "",
                        "",
                        "",
                        "",
                        "",
                    ],
                )?;
            }
        }
    }
    drop(rows);
    match read_error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::parse_nameserver;

    #[test]
    fn nameservers_parse_with_default_port() {
        assert_eq!(
            parse_nameserver("127.0.0.1").unwrap().to_string(),
            "127.0.0.1:53"
        );
        assert_eq!(
            parse_nameserver("127.0.0.1:5353").unwrap().to_string(),
            "127.0.0.1:5353"
        );
        assert_eq!(parse_nameserver("::1").unwrap().to_string(), "[::1]:53");
        assert_eq!(
            parse_nameserver("[::1]:5353").unwrap().to_string(),
            "[::1]:5353"
        );
        assert!(parse_nameserver("dns.example").is_err());
    }

    #[test]
    fn a_byte_order_mark_before_the_first_line_is_not_part_of_the_ip() {
        let l = parse_line(
            1,
            "\u{feff}192.0.2.1\ta@example.com\n".as_bytes(),
            Identity::MailFrom,
        );
        assert_eq!(l.request.unwrap().ip.to_string(), "192.0.2.1");
    }

    #[test]
    fn lines_split_into_requests() {
        let l = parse_line(
            1,
            b"192.0.2.1\t<a@example.com>\tmail.example.com\r\n",
            Identity::MailFrom,
        );
        let r = l.request.unwrap();
        assert_eq!(r.mail_from, "a@example.com");
        assert_eq!(r.helo, "mail.example.com");
        let l = parse_line(2, b"192.0.2.1\t\tmail.example.com", Identity::MailFrom);
        assert_eq!(l.request.unwrap().mail_from, "");
        let l = parse_line(3, b"2001:db8::1\ta@example.com", Identity::MailFrom);
        assert_eq!(l.request.unwrap().helo, "");
        assert!(
            parse_line(4, b"192.0.2.1", Identity::MailFrom)
                .request
                .is_err()
        );
        assert!(
            parse_line(5, b"a\tb\tc\td", Identity::MailFrom)
                .request
                .is_err()
        );
        assert!(
            parse_line(6, b"999.1.1.1\ta@b.example\th", Identity::MailFrom)
                .request
                .is_err()
        );
        assert!(parse_line(7, b"\n", Identity::MailFrom).request.is_err());
        assert!(
            parse_line(8, b"192.0.2.1\t\xff\xfe@x.example\th", Identity::MailFrom)
                .request
                .is_ok()
        );
    }
}
