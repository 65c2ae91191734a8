//! Writers: every output format implements [`FindingWriter`] over findings, in input order.

pub mod atomic;
pub mod csv;
pub mod jsonl;
pub mod report;
pub mod summary;

use std::io;

use chrono::SecondsFormat;

use crate::classify::Finding;
use crate::extract::Observation;
use crate::extract::address::normalise_envelope_from;
use crate::model::canonical_ip;

/// One output format. Rows arrive in input order; `finish` flushes.
pub trait FindingWriter {
    fn write(&mut self, finding: &Finding) -> io::Result<()>;
    fn finish(&mut self) -> io::Result<()>;
}

/// The scan CSV columns (DESIGN.md contract), in order.
pub const SCAN_COLUMNS: [&str; 20] = [
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
    "current_result",
    "matched",
    "record",
    "dns_lookups",
    "class",
    "reason",
    "fix",
    "related_results",
];

/// The first twelve columns: what the input says, no DNS needed (also `extract`'s output).
pub fn observation_cells(obs: &Observation) -> [String; 12] {
    let verdict = obs.verdict.as_ref();
    [
        obs.source.to_string(),
        obs.locator
            .as_ref()
            .map(|l| l.to_string())
            .unwrap_or_default(),
        obs.message_id
            .as_deref()
            .map(|m| {
                m.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
            .unwrap_or_default(),
        obs.date
            .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default(),
        obs.header_from
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string(),
        obs.envelope_from
            .as_deref()
            .map(normalise_envelope_from)
            .unwrap_or_default(),
        obs.helo
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string(),
        obs.client_ip
            .map(|ip| canonical_ip(ip).to_string())
            .unwrap_or_default(),
        obs.recorder(),
        verdict
            .and_then(|v| v.result)
            .map(|r| r.to_string())
            .unwrap_or_default(),
        if verdict.is_some() || obs.client_ip.is_some() {
            obs.identity().to_string()
        } else {
            String::new()
        },
        obs.spf_domain().unwrap_or_default(),
    ]
}

/// All twenty columns of one finding.
pub fn finding_cells(finding: &Finding) -> Vec<String> {
    let mut cells: Vec<String> = observation_cells(&finding.observation).into();
    let current = finding.current.as_deref();
    cells.extend([
        current.map(|e| e.result.to_string()).unwrap_or_default(),
        current
            .and_then(|e| e.matched.as_ref())
            .map(|m| m.to_string())
            .unwrap_or_default(),
        current.and_then(|e| e.record.clone()).unwrap_or_default(),
        current
            .map(|e| e.dns_lookups.to_string())
            .unwrap_or_default(),
        finding.class.to_string(),
        finding.reason.clone(),
        finding.fix.clone(),
        finding.related_results(),
    ]);
    cells
}

/// The scan CSV: a header row, then one row per finding.
pub struct CsvFindings<W: io::Write> {
    out: W,
}

impl<W: io::Write> CsvFindings<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        csv::write_record(&mut out, &SCAN_COLUMNS)?;
        Ok(CsvFindings { out })
    }
}

impl<W: io::Write> FindingWriter for CsvFindings<W> {
    fn write(&mut self, finding: &Finding) -> io::Result<()> {
        csv::write_record(&mut self.out, &finding_cells(finding))
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
