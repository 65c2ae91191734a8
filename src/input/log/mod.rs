//! MTA logs (Postfix + policyd-spf, Exim, rspamd, Sendmail + smf-spf, ...): lines that record
//! SPF verdicts, correlated into one observation per transaction.
//!
//! Families read (see `../shared/formats/NOTES.md` §4): pypolicyd-spf (`prepend Received-SPF`,
//! `prepend Authentication-Results`, `Result; identity=...` info lines, `550 5.7.23` and
//! `defer_if_permit` rejects, `Action: ... Text:` debug lines), postfix-policyd-spf-perl,
//! Postfix `NOQUEUE: reject` / `milter-reject` with SPF reasons, OpenDMARC `SPF(mailfrom)`,
//! Exim `<=`/reject lines with `SPF=` and `logwrite` texts, Sendmail + smf-spf, rspamd and
//! rmilter `R_SPF_*` symbols and milter header texts, amavis/SpamAssassin `SPF_*` rules, maddy
//! `check.spf`, Cisco ESA CEF, JSON events with an `spf` result (Defender, Vade, Proofpoint),
//! `spf=... smtp.mailfrom=...` texts (Retarus). A line that names no SPF result yields
//! nothing (Mimecast's `"allow":true` is no result).
//!
//! Each observation has `Locator::Line` of the first line of its check, `VerdictSource::Log`,
//! `writer` the program that decided (`policyd-spf`, `exim`, `rspamd`, ...) and `receiver`
//! the syslog host (else the authserv-id or receiver the text names). Notes carry the queue
//! id, reject texts and correlation remarks. `--authserv-id` does not filter log verdicts.
//!
//! Reading is a three-stage pipeline over batches of records: the calling thread reads batch
//! N+1 and correlates batch N-1 while rayon workers parse batch N. Parsing a line needs
//! nothing but the line (`parse`); correlation (`correlate`) is sequential, in file order, and
//! keeps only what open sessions and waiting verdicts need, so memory stays flat.

mod correlate;
mod exim;
mod headers;
mod lines;
mod others;
mod parse;
mod postfix;
mod prefix;
mod sniff;
mod text;

use std::io::BufRead;
use std::sync::Arc;

use rayon::prelude::*;

use super::{InputProblem, Item, Locator};
use crate::extract::ExtractOptions;

pub use sniff::looks_like_log;

/// Records per batch handed to the parser threads.
const BATCH_RECORDS: usize = 16 * 1024;
/// Bytes (about) per batch.
const BATCH_BYTES: usize = 4 << 20;
/// Records per parallel work unit.
const CHUNK: usize = 1024;

fn parse_batch(batch: &lines::Batch) -> Vec<parse::ParsedLine> {
    let chunks = batch.len().div_ceil(CHUNK);
    (0..chunks)
        .into_par_iter()
        .map(|c| {
            batch
                .range(c * CHUNK, (c + 1) * CHUNK)
                .enumerate()
                .filter_map(|(i, (line, text))| {
                    let index = u32::try_from(c * CHUNK + i).ok()?;
                    parse::parse_record(line, index, text)
                })
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect()
}

/// Read one log (already decompressed) and emit one item per recorded SPF verdict, in log
/// order. `modified` is the local date of the file's modification time, if it has one.
///
/// Syslog timestamps carry no year and no zone: with `options.log_year` the first line is in
/// that year and the year moves on at each December -> January step; otherwise each line is
/// in the latest year that does not put it after `modified` (today for a stream), see
/// [`prefix::YearRule`]. Times without a zone are in `options.log_zone`. Returns the number of lines
/// read.
pub fn read_log(
    source: Arc<str>,
    reader: &mut dyn BufRead,
    options: &ExtractOptions,
    modified: Option<chrono::NaiveDate>,
    sink: &mut dyn FnMut(Item),
) -> std::io::Result<u64> {
    let year = match options.log_year {
        Some(year) => prefix::YearRule::StartingIn(year),
        None => prefix::YearRule::WrittenBy(modified.unwrap_or_else(prefix::today)),
    };
    let mut records = lines::RecordReader::new(reader);
    let mut correlator = correlate::Correlator::new(source.clone(), year, options.log_zone);
    let mut reported = 0;

    let mut batch = records.batch(BATCH_RECORDS, BATCH_BYTES)?;
    // the batch parsed last time, with its parsed lines (they point into its text)
    let mut parsed_prev: Option<(lines::Batch, Vec<parse::ParsedLine>)> = None;
    let mut read_error = None;
    loop {
        if batch.is_empty() && parsed_prev.is_none() {
            break;
        }
        let mut parsed = Vec::new();
        let mut next = lines::Batch::default();
        rayon::in_place_scope(|scope| {
            let current = &batch;
            let parsed_ref = &mut parsed;
            scope.spawn(move |_| *parsed_ref = parse_batch(current));
            if !batch.is_empty() && read_error.is_none() {
                match records.batch(BATCH_RECORDS, BATCH_BYTES) {
                    Ok(b) => next = b,
                    Err(e) => read_error = Some(e),
                }
            }
            if let Some((prev_batch, prev)) = parsed_prev.take() {
                for pl in prev {
                    let text = prev_batch.text(pl.record);
                    correlator.feed(pl, text, &mut |obs| sink(Item::Observation(Box::new(obs))));
                }
            }
        });
        for &line in &records.truncated[reported..] {
            sink(Item::Problem(InputProblem {
                source: source.clone(),
                locator: Some(Locator::Line(line)),
                message: format!(
                    "line longer than {} bytes; only its start was read",
                    lines::MAX_LINE
                ),
            }));
        }
        reported = records.truncated.len();
        let done = std::mem::replace(&mut batch, next);
        parsed_prev = if done.is_empty() {
            None
        } else {
            Some((done, parsed))
        };
    }
    correlator.finish(&mut |obs| sink(Item::Observation(Box::new(obs))));
    match read_error {
        Some(e) => Err(e),
        None => Ok(records.lines_read()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Observation;

    fn run(text: &str, year: i32) -> Vec<Observation> {
        let options = ExtractOptions {
            log_year: Some(year),
            ..ExtractOptions::default()
        };
        let mut out = Vec::new();
        let mut reader = std::io::Cursor::new(text.as_bytes().to_vec());
        read_log(
            Arc::from("t.log"),
            &mut reader,
            &options,
            None,
            &mut |item| {
                if let Item::Observation(o) = item {
                    out.push(*o);
                }
            },
        )
        .unwrap();
        out
    }

    #[test]
    fn policyd_joined_to_queue_and_message_id() {
        let log = "\
Sep 27 23:06:19 mail postfix/smtpd[5702]: connect from mail.carpar.monster[194.5.94.216]
Sep 27 23:06:20 mail policyd-spf[5735]: Pass; identity=mailfrom; client-ip=194.5.94.216; helo=mail.carpar.monster; envelope-from=a@carpar.monster; receiver=r@x.example
Sep 27 23:06:20 mail policyd-spf[5735]: prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=194.5.94.216; helo=mail.carpar.monster; envelope-from=a@carpar.monster; receiver=r@x.example
Sep 27 23:06:22 mail postfix/smtpd[5702]: 061421408BC: client=mail.carpar.monster[194.5.94.216]
Sep 27 23:06:22 mail postfix/cleanup[5740]: 061421408BC: message-id=<m1@carpar.monster>
Sep 27 23:06:22 mail postfix/qmgr[27607]: 061421408BC: from=<a@carpar.monster>, size=6138, nrcpt=1 (queue active)
Sep 27 23:06:22 mail postfix/smtpd[5702]: disconnect from mail.carpar.monster[194.5.94.216]
";
        let obs = run(log, 2019);
        assert_eq!(obs.len(), 1, "{obs:#?}");
        let o = &obs[0];
        assert_eq!(o.locator, Some(Locator::Line(2)));
        assert_eq!(o.message_id.as_deref(), Some("m1@carpar.monster"));
        assert_eq!(
            o.client_ip.map(|i| i.to_string()).as_deref(),
            Some("194.5.94.216")
        );
        assert_eq!(
            o.date.map(|d| d.to_rfc3339()).as_deref(),
            Some("2019-09-27T23:06:20+00:00")
        );
        let v = o.verdict.as_ref().unwrap();
        assert_eq!(v.receiver.as_deref(), Some("mail"));
        assert_eq!(v.writer.as_deref(), Some("policyd-spf"));
    }
}

#[cfg(test)]
mod stage_figures {
    use super::*;

    /// CPU seconds used by this process so far (user + system), from /proc/self/stat.
    fn cpu_seconds() -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
            + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        ticks / 100.0
    }

    /// Where the time goes, stage by stage, on the log in `LOG_STAGES` (one thread):
    /// `LOG_STAGES=/path/busy.log cargo test --release --lib stage_figures -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn stages() {
        let Some(path) = std::env::var_os("LOG_STAGES") else {
            return;
        };
        let open =
            || std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).unwrap());
        let c0 = cpu_seconds();
        let mut reader = open();
        let mut records = lines::RecordReader::new(&mut reader);
        let mut n = 0;
        let mut all = Vec::new();
        loop {
            let b = records.batch(BATCH_RECORDS, BATCH_BYTES).unwrap();
            if b.is_empty() {
                break;
            }
            n += b.len();
            all.push(b);
        }
        let c1 = cpu_seconds();
        let mut parsed = Vec::new();
        for b in &all {
            parsed.push(
                b.range(0, b.len())
                    .enumerate()
                    .filter_map(|(i, (line, text))| parse::parse_record(line, i as u32, text))
                    .collect::<Vec<_>>(),
            );
        }
        let c2 = cpu_seconds();
        let mut correlator = correlate::Correlator::new(
            Arc::from("x"),
            prefix::YearRule::StartingIn(2024),
            crate::model::LogZone::Utc,
        );
        let mut count = 0;
        for (b, p) in all.iter().zip(parsed) {
            for pl in p {
                let text = b.text(pl.record);
                correlator.feed(pl, text, &mut |_| count += 1);
            }
        }
        correlator.finish(&mut |_| count += 1);
        let c3 = cpu_seconds();
        println!(
            "{n} records: read {:.2} s, parse {:.2} s, correlate {:.2} s CPU; {count} observations",
            c1 - c0,
            c2 - c1,
            c3 - c2
        );
    }
}
