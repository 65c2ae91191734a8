//! Evidence reports: one plain-text letter per sender domain whose mail was misjudged
//! because of its own SPF record, that an administrator can send to that domain's
//! postmaster: what was seen, what the DNS says today, and exactly what to change.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Entry, FindingWriter};
use crate::classify::{Class, Finding, RelatedResult};
use crate::spf::Evaluation;

/// Examples kept per domain (all are counted).
const MAX_EXAMPLES: usize = 20;

/// The classes a sender can act on.
fn is_reportable(class: Class) -> bool {
    matches!(
        class,
        Class::Misconfigured | Class::RecordBroken | Class::Regressed
    )
}

#[derive(Default)]
struct DomainEvidence {
    count: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    classes: BTreeMap<Class, u64>,
    examples: Vec<Finding>,
    /// One evaluation per distinct client IP (the first seen), with its related results.
    evaluations: BTreeMap<String, (Arc<Evaluation>, Vec<RelatedResult>, String)>,
}

/// Collects findings per sender domain and writes `DIR/<domain>.txt` at the end.
pub struct EvidenceReports {
    dir: PathBuf,
    now: DateTime<Utc>,
    /// The receiver profile's lookup limit, to put the counts in context.
    max_lookups: u32,
    domains: BTreeMap<String, DomainEvidence>,
    written: Vec<String>,
}

impl EvidenceReports {
    /// Reports go to `dir` (created if missing); in a scan it is the temporary directory of
    /// [`super::atomic::StagedDir`], swapped in as a whole when the run completes.
    pub fn new(dir: &Path, now: DateTime<Utc>, max_lookups: u32) -> io::Result<Self> {
        if std::fs::metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "it exists and is not a directory",
            ));
        }
        std::fs::create_dir_all(dir)?;
        Ok(EvidenceReports {
            dir: dir.to_path_buf(),
            now,
            max_lookups,
            domains: BTreeMap::new(),
            written: Vec::new(),
        })
    }

    /// The names of the files written by `finish`, in domain order.
    pub fn written(&self) -> &[String] {
        &self.written
    }
}

/// A file name that cannot escape the directory: the domain's own characters only.
fn file_name(domain: &str) -> String {
    let clean: String = domain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = clean.trim_start_matches('.');
    format!("{}.txt", if clean.is_empty() { "unknown" } else { clean })
}

fn render_evaluation(
    s: &mut String,
    ip: &str,
    evaluation: &Evaluation,
    related: &[RelatedResult],
    max_lookups: u32,
) {
    let _ = writeln!(
        s,
        "  check_host({ip}, {}) = {}",
        evaluation.domain, evaluation.result
    );
    if let Some(m) = &evaluation.matched {
        let _ = writeln!(s, "    decided by: {m}");
    }
    if let Some(p) = &evaluation.problem {
        let _ = writeln!(s, "    problem: {p}");
    }
    let _ = writeln!(
        s,
        "    DNS lookups used: {} of {max_lookups} allowed",
        evaluation.dns_lookups
    );
    let trace = crate::spf::render_trace(&evaluation.trace);
    if !trace.trim().is_empty() {
        let _ = writeln!(s, "    trace:");
        for line in trace.lines() {
            let _ = writeln!(s, "      {line}");
        }
    }
    for rel in related {
        let decided = rel
            .evaluation
            .matched
            .as_ref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  related domain {}: {}{decided}",
            rel.domain, rel.evaluation.result
        );
    }
}

fn render(domain: &str, ev: &DomainEvidence, now: DateTime<Utc>, max_lookups: u32) -> String {
    let mut s = String::new();
    let span = match (ev.first, ev.last) {
        (Some(a), Some(b)) if a.date_naive() != b.date_naive() => {
            format!(
                " between {} and {}",
                a.format("%Y-%m-%d"),
                b.format("%Y-%m-%d")
            )
        }
        (Some(a), _) => format!(" on {}", a.format("%Y-%m-%d")),
        _ => String::new(),
    };
    let receivers: Vec<String> = {
        let mut r: Vec<String> = ev
            .examples
            .iter()
            .map(|f| f.observation.recorder())
            .filter(|r| !r.is_empty())
            .collect();
        r.sort();
        r.dedup();
        r
    };
    let classes: Vec<String> = ev
        .classes
        .iter()
        .map(|(c, n)| format!("{c}: {n}"))
        .collect();
    let _ = writeln!(s, "Subject: SPF problem with mail from {domain}");
    let _ = writeln!(s);
    let _ = writeln!(s, "To the postmaster of {domain},");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{} message(s) using {domain} as the envelope sender reached us{span} with an SPF result that does not reflect your intent ({}).",
        ev.count,
        classes.join(", ")
    );
    if !receivers.is_empty() {
        let _ = writeln!(
            s,
            "The verdicts were recorded by: {}.",
            receivers.join(", ")
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "What we saw:");
    let mut examples: Vec<&Finding> = ev.examples.iter().collect();
    examples.sort_by_key(|f| (f.observation.date.is_none(), f.observation.date));
    for f in examples {
        let o = &f.observation;
        let date = o
            .date
            .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_else(|| "(no date)".into());
        let _ = writeln!(
            s,
            "  {date}  client {}  envelope-from {}  recorded {}{}",
            o.client_ip.map(|i| i.to_string()).unwrap_or_default(),
            o.envelope_from
                .as_deref()
                .filter(|e| !e.is_empty())
                .unwrap_or("<>"),
            o.verdict
                .as_ref()
                .and_then(|v| v.result)
                .map_or("-".to_string(), |r| r.to_string()),
            o.message_id
                .as_deref()
                .map(|m| format!("  message-id <{m}>"))
                .unwrap_or_default(),
        );
    }
    if ev.count as usize > ev.examples.len() {
        let _ = writeln!(
            s,
            "  ... and {} more",
            ev.count as usize - ev.examples.len()
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "What the DNS says now ({}):",
        now.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let record = ev
        .evaluations
        .values()
        .find_map(|(e, _, _)| e.record.clone());
    match record {
        Some(r) => {
            let _ = writeln!(s, "  {domain} TXT \"{r}\"");
        }
        None => {
            let _ = writeln!(s, "  {domain} has no usable SPF record");
        }
    }
    for (ip, (evaluation, related, _)) in &ev.evaluations {
        render_evaluation(&mut s, ip, evaluation, related, max_lookups);
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "What to change:");
    let mut fixes: Vec<&String> = ev
        .evaluations
        .values()
        .map(|(_, _, fix)| fix)
        .filter(|f| !f.is_empty())
        .collect();
    fixes.sort();
    fixes.dedup();
    for fix in fixes {
        let _ = writeln!(s, "  - {fix}");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "(Written by spfsleuth from the headers of the messages above and the DNS as it is now.)"
    );
    s
}

impl FindingWriter for EvidenceReports {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        let finding = entry.finding;
        if !is_reportable(finding.class) {
            return Ok(());
        }
        let Some(domain) = finding.spf_domain.clone() else {
            return Ok(());
        };
        let ev = self.domains.entry(domain).or_default();
        ev.count += 1;
        *ev.classes.entry(finding.class).or_default() += 1;
        if let Some(d) = finding.observation.date {
            ev.first = Some(ev.first.map_or(d, |f| f.min(d)));
            ev.last = Some(ev.last.map_or(d, |l| l.max(d)));
        }
        if let (Some(current), Some(ip)) = (&finding.current, finding.observation.client_ip) {
            ev.evaluations.entry(ip.to_string()).or_insert_with(|| {
                (
                    current.clone(),
                    finding.related.clone(),
                    finding.fix.clone(),
                )
            });
        }
        if ev.examples.len() < MAX_EXAMPLES {
            ev.examples.push(finding.clone());
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        // The directory is a temporary one as a whole: plain writes suffice.
        for (domain, ev) in &self.domains {
            let name = file_name(domain);
            std::fs::write(
                self.dir.join(&name),
                render(domain, ev, self.now, self.max_lookups).as_bytes(),
            )?;
            self.written.push(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_inside_the_directory() {
        assert_eq!(file_name("../../etc/passwd"), "_.._etc_passwd.txt");
        assert_eq!(file_name("sub.example.co.jp"), "sub.example.co.jp.txt");
        assert_eq!(file_name(""), "unknown.txt");
    }
}
