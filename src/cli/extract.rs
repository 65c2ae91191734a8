//! `spfsleuth extract PATH...`: the DNS-free columns of the scan CSV, for trying extraction
//! by hand. [`observation_cells`] is the one mapping from an observation to those columns,
//! which `scan` reuses.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use chrono::SecondsFormat;
use clap::Args;

use crate::extract::{ExtractOptions, Observation, VerdictSource};
use crate::input::{InputOptions, InputStats, Item, read_inputs_until};
use crate::model::{Identity, canonical_ip};
use crate::output::csv::write_record;

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Files or directories (mbox, Maildir, .eml, logs, .gz); '-' for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Worker threads for parsing and extraction (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Trust only verdicts recorded by this receiver (matched against `receiver=`, the
    /// comment host or the authserv-id); repeatable. Default: the topmost verdict.
    #[arg(long = "authserv-id", value_name = "NAME")]
    pub authserv_ids: Vec<String>,
    /// Year of syslog timestamps, which carry none (default: the log file's modification
    /// time).
    #[arg(long = "log-year", value_name = "YYYY")]
    pub log_year: Option<i32>,
    /// Write the CSV here (atomically: a temporary file renamed at the end). Default: stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The DNS-free columns of the scan CSV contract (DESIGN.md), in order.
pub const EXTRACT_COLUMNS: [&str; 12] = [
    "source",
    "locator",
    "message_id",
    "date",
    "header_from",
    "envelope_from",
    "helo",
    "client_ip",
    "recorded_by",
    "recorded_result",
    "identity",
    "spf_domain",
];

/// The DNS-free cells of one observation, normalised as the scan CSV contract says:
/// Message-ID without angle brackets, RFC 3339 UTC dates, envelope-from without brackets or
/// quotes and empty for the null sender, IPv4-mapped IPv6 written as IPv4 and IPv6 in
/// RFC 5952 form, result and identity as lower-case words.
pub fn observation_cells(observation: &Observation) -> [String; 12] {
    let verdict = observation.verdict.as_ref();
    let text = |value: Option<&String>| value.map(|s| s.trim().to_string()).unwrap_or_default();
    let identity = verdict.and_then(|v| match (v.identity, v.result) {
        (Some(identity), _) => Some(identity),
        // A verdict that names no identity is the MAIL FROM check (RFC 7208 §2.4).
        (None, Some(_)) => Some(Identity::MailFrom),
        (None, None) => None,
    });
    [
        observation.source.to_string(),
        observation
            .locator
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        observation
            .message_id
            .as_deref()
            .map(strip_message_id)
            .unwrap_or_default(),
        observation
            .date
            .map(|date| date.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default(),
        text(observation.header_from.as_ref()),
        observation
            .envelope_from
            .as_deref()
            .map(normalize_envelope_from)
            .unwrap_or_default(),
        text(observation.helo.as_ref()),
        observation
            .client_ip
            .map(|ip| canonical_ip(ip).to_string())
            .unwrap_or_default(),
        verdict.map(recorded_by).unwrap_or_default(),
        verdict
            .and_then(|v| v.result)
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        identity.map(|i| i.as_str().to_string()).unwrap_or_default(),
        spf_domain(observation).unwrap_or_default(),
    ]
}

/// Which receiver recorded the verdict and how, e.g. `mx.example.net Received-SPF`.
fn recorded_by(verdict: &crate::extract::RecordedVerdict) -> String {
    let how = match verdict.source {
        Some(VerdictSource::Log | VerdictSource::OtherHeader) | None => verdict
            .writer
            .clone()
            .or_else(|| verdict.source.map(|s| s.as_str().to_string())),
        Some(source) => Some(source.as_str().to_string()),
    };
    [verdict.receiver.clone(), how]
        .into_iter()
        .flatten()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The domain whose SPF policy is evaluated: what the verdict names, else the HELO name for
/// a HELO verdict, else the domain of the envelope-from, else (null sender) the HELO name
/// (RFC 7208 §2.4: the check then uses `postmaster@` the HELO domain).
pub fn spf_domain(observation: &Observation) -> Option<String> {
    let verdict = observation.verdict.as_ref();
    if let Some(domain) = verdict
        .and_then(|v| v.domain.as_deref())
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        return Some(domain.to_string());
    }
    let helo = observation
        .helo
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string);
    if verdict.and_then(|v| v.identity) == Some(Identity::Helo) {
        return helo;
    }
    let sender = observation
        .envelope_from
        .as_deref()
        .map(normalize_envelope_from)
        .unwrap_or_default();
    let domain = match sender.rsplit_once('@') {
        Some((_, domain)) => domain.trim_end_matches('>').to_string(),
        None => sender,
    };
    if domain.is_empty() {
        helo
    } else {
        Some(domain)
    }
}

/// MAIL FROM as recorded, without angle brackets or enclosing quotes; empty for the null
/// sender (`<>`).
pub fn normalize_envelope_from(value: &str) -> String {
    let mut s = value.trim();
    if let Some(inner) = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
        s = inner.trim();
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') && s[1..s.len() - 1].contains('@') {
        s = s[1..s.len() - 1].trim();
    }
    if s == "<>" {
        String::new()
    } else {
        s.to_string()
    }
}

fn strip_message_id(value: &str) -> String {
    let s = value.trim();
    s.strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or(s)
        .trim()
        .to_string()
}

/// Where the CSV goes: stdout, or a temporary file beside FILE renamed over it at the end.
enum Output {
    Stdout(BufWriter<io::Stdout>),
    Special(BufWriter<File>),
    File {
        writer: BufWriter<File>,
        temp: PathBuf,
        target: PathBuf,
    },
}

impl Output {
    fn open(target: Option<&Path>) -> anyhow::Result<Output> {
        let Some(target) = target else {
            return Ok(Output::Stdout(BufWriter::with_capacity(
                1 << 16,
                io::stdout(),
            )));
        };
        if fs::metadata(target).is_ok_and(|meta| !meta.is_file()) {
            // A device or pipe (`-o /dev/null`, `-o >(gzip ...)`): written in place, never
            // replaced by a rename.
            let file = File::options()
                .write(true)
                .open(target)
                .with_context(|| format!("cannot open {}", target.display()))?;
            return Ok(Output::Special(BufWriter::with_capacity(1 << 16, file)));
        }
        let dir = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .with_context(|| format!("{}: not a file name", target.display()))?;
        let temp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("cannot create {}", temp.display()))?;
        Ok(Output::File {
            writer: BufWriter::with_capacity(1 << 16, file),
            temp,
            target: target.to_path_buf(),
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Stdout(w) => w,
            Output::Special(w) => w,
            Output::File { writer, .. } => writer,
        }
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Output::Stdout(mut w) => Ok(w.flush()?),
            Output::Special(mut w) => Ok(w.flush()?),
            Output::File {
                writer,
                temp,
                target,
            } => {
                let result = writer
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|file| file.sync_all())
                    .and_then(|()| fs::rename(&temp, &target));
                if let Err(err) = result {
                    let _ = fs::remove_file(&temp);
                    return Err(err).with_context(|| format!("cannot write {}", target.display()));
                }
                Ok(())
            }
        }
    }

    fn abandon(self) {
        if let Output::File { temp, .. } = self {
            let _ = fs::remove_file(temp);
        }
    }
}

pub fn run(args: ExtractArgs) -> anyhow::Result<ExitCode> {
    let options = InputOptions {
        extract: ExtractOptions {
            authserv_ids: args.authserv_ids.clone(),
            log_year: args.log_year,
        },
        threads: args.threads.map(usize::from),
    };
    let started = Instant::now();
    let mut output = Output::open(args.output.as_deref())?;
    let mut write_error: Option<io::Error> = None;
    let mut rows = 0u64;
    if let Err(err) = write_record(output.writer(), &EXTRACT_COLUMNS) {
        output.abandon();
        return Err(err).context("cannot write the output");
    }
    let stderr = io::stderr();
    let result = read_inputs_until(&args.paths, &options, &mut |item| match item {
        Item::Observation(observation) => {
            match write_record(output.writer(), &observation_cells(&observation)) {
                Ok(()) => {
                    rows += 1;
                    ControlFlow::Continue(())
                }
                Err(err) => {
                    write_error = Some(err);
                    ControlFlow::Break(())
                }
            }
        }
        Item::Problem(problem) => {
            let _ = writeln!(stderr.lock(), "spfsleuth: {problem}");
            ControlFlow::Continue(())
        }
    });
    let stats = match result {
        Ok(stats) => stats,
        Err(err) => {
            output.abandon();
            return Err(err.into());
        }
    };
    if let Some(err) = write_error {
        output.abandon();
        if err.kind() == io::ErrorKind::BrokenPipe {
            // The reader of our output went away (`| head`): nothing more to say.
            return Ok(ExitCode::SUCCESS);
        }
        return Err(err).context("cannot write the output");
    }
    output.finish()?;
    eprintln!(
        "spfsleuth: {}",
        summary(&stats, rows, started.elapsed().as_secs_f64())
    );
    Ok(ExitCode::SUCCESS)
}

fn summary(stats: &InputStats, rows: u64, seconds: f64) -> String {
    let megabytes = stats.bytes as f64 / 1e6;
    let rate = if seconds > 0.0 {
        megabytes / seconds
    } else {
        0.0
    };
    format!(
        "extract: {} files, {} messages, {} log lines, {} rows, {} problems; \
         {megabytes:.1} MB in {seconds:.2} s ({rate:.0} MB/s)",
        stats.files, stats.messages, stats.log_lines, rows, stats.problems
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::RecordedVerdict;
    use crate::model::SpfResult;

    #[test]
    fn cells_follow_the_contract() {
        let observation = Observation {
            source: "spam.mbox".into(),
            locator: Some(crate::input::Locator::Offset(42)),
            message_id: Some("<abc@example.com>".into()),
            date: chrono::DateTime::parse_from_rfc3339("2024-05-01T12:00:00+02:00")
                .ok()
                .map(|d| d.with_timezone(&chrono::Utc)),
            header_from: Some("example.co.jp".into()),
            envelope_from: Some("<error@sub.example.co.jp>".into()),
            helo: Some("mail.example.co.jp".into()),
            client_ip: "::ffff:192.0.2.154".parse().ok(),
            verdict: Some(RecordedVerdict {
                result: Some(SpfResult::Fail),
                receiver: Some("mx.example.net".into()),
                source: Some(VerdictSource::ReceivedSpf),
                ..RecordedVerdict::default()
            }),
            ..Observation::default()
        };
        assert_eq!(
            observation_cells(&observation),
            [
                "spam.mbox",
                "offset 42",
                "abc@example.com",
                "2024-05-01T10:00:00Z",
                "example.co.jp",
                "error@sub.example.co.jp",
                "mail.example.co.jp",
                "192.0.2.154",
                "mx.example.net Received-SPF",
                "fail",
                "mailfrom",
                "sub.example.co.jp",
            ]
        );
    }

    #[test]
    fn empty_observation_gives_empty_cells() {
        let observation = Observation {
            source: "-".into(),
            locator: Some(crate::input::Locator::Whole),
            ..Observation::default()
        };
        let cells = observation_cells(&observation);
        assert_eq!(cells[0], "-");
        assert!(cells[1..].iter().all(String::is_empty), "{cells:?}");
    }

    #[test]
    fn envelope_from_forms() {
        assert_eq!(normalize_envelope_from("<>"), "");
        assert_eq!(normalize_envelope_from(" <a@b.c> "), "a@b.c");
        assert_eq!(normalize_envelope_from("\"a@b.c\""), "a@b.c");
        assert_eq!(normalize_envelope_from("b.c"), "b.c");
        assert_eq!(normalize_envelope_from("\"x y\"@b.c"), "\"x y\"@b.c");
    }

    #[test]
    fn spf_domain_choices() {
        let mut observation = Observation {
            envelope_from: Some("".into()),
            helo: Some("mx.sender.example".into()),
            ..Observation::default()
        };
        assert_eq!(
            spf_domain(&observation).as_deref(),
            Some("mx.sender.example")
        );
        observation.envelope_from = Some("bounce@news.example".into());
        assert_eq!(spf_domain(&observation).as_deref(), Some("news.example"));
        observation.verdict = Some(RecordedVerdict {
            identity: Some(Identity::Helo),
            ..RecordedVerdict::default()
        });
        assert_eq!(
            spf_domain(&observation).as_deref(),
            Some("mx.sender.example")
        );
        observation.verdict = Some(RecordedVerdict {
            domain: Some("named.example".into()),
            ..RecordedVerdict::default()
        });
        assert_eq!(spf_domain(&observation).as_deref(), Some("named.example"));
    }

    #[test]
    fn ipv6_is_rfc5952() {
        let observation = Observation {
            client_ip: "2001:0db8:0000:0000:0000:0000:0000:0001".parse().ok(),
            ..Observation::default()
        };
        assert_eq!(observation_cells(&observation)[7], "2001:db8::1");
    }
}
