//! Writers: every output format implements [`FindingWriter`] over findings, in input order.

pub mod atomic;
pub mod csv;
pub mod guard;
pub mod jsonl;
pub mod report;
pub mod summary;

use std::io;

use chrono::SecondsFormat;

use crate::classify::Finding;
use crate::extract::Observation;
use crate::extract::address::normalise_envelope_from;
use crate::model::canonical_ip;
use crate::state::History;

/// One row as the writers see it: a finding, and with `--state` what earlier runs knew of
/// its observation.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    pub finding: &'a Finding,
    pub history: Option<&'a History>,
}

impl<'a> Entry<'a> {
    /// A row of a run without `--state`.
    pub fn alone(finding: &'a Finding) -> Entry<'a> {
        Entry {
            finding,
            history: None,
        }
    }
}

/// One output format. Rows arrive in input order; `finish` flushes.
pub trait FindingWriter {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()>;
    fn finish(&mut self) -> io::Result<()>;
}

/// The columns appended after [`SCAN_COLUMNS`] when the run has `--state`.
pub const STATE_COLUMNS: [&str; 2] = ["first_seen", "changed"];

/// The `first_seen` and `changed` cells: when a run first saw the observation (RFC 3339),
/// and what changed since the last run (`class A -> B`, `result A -> B`, `record changed`).
pub fn history_cells(finding: &Finding, history: &History) -> [String; 2] {
    [
        history
            .first_seen
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        history.changed_cell(finding.class, finding.current.as_ref().map(|e| e.result)),
    ]
}

/// The column names of a scan's rows: the contract's twenty, and with `--state` two more.
pub fn columns(with_history: bool) -> Vec<&'static str> {
    let mut columns = SCAN_COLUMNS.to_vec();
    if with_history {
        columns.extend(STATE_COLUMNS);
    }
    columns
}

/// All cells of one row, in [`columns`] order.
pub fn entry_cells(entry: Entry<'_>, with_history: bool) -> Vec<String> {
    let mut cells = finding_cells(entry.finding);
    if with_history {
        match entry.history {
            Some(history) => cells.extend(history_cells(entry.finding, history)),
            None => cells.extend([String::new(), String::new()]),
        }
    }
    cells
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

/// The scan CSV: a header row, then one row per finding (with `--state`, two more
/// columns at the end: [`STATE_COLUMNS`]).
pub struct CsvFindings<W: io::Write> {
    out: W,
    with_history: bool,
}

impl<W: io::Write> CsvFindings<W> {
    pub fn new(mut out: W, with_history: bool) -> io::Result<Self> {
        csv::write_record(&mut out, &columns(with_history))?;
        Ok(CsvFindings { out, with_history })
    }
}

impl<W: io::Write> FindingWriter for CsvFindings<W> {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        csv::write_record(&mut self.out, &entry_cells(entry, self.with_history))
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::RecordedVerdict;
    use crate::extract::VerdictSource;
    use crate::extract::address::normalise_envelope_from as normalize_envelope_from;
    use crate::model::Identity;
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
            observation.spf_domain().as_deref(),
            Some("mx.sender.example")
        );
        observation.envelope_from = Some("bounce@news.example".into());
        assert_eq!(observation.spf_domain().as_deref(), Some("news.example"));
        observation.verdict = Some(RecordedVerdict {
            identity: Some(Identity::Helo),
            ..RecordedVerdict::default()
        });
        assert_eq!(
            observation.spf_domain().as_deref(),
            Some("mx.sender.example")
        );
        observation.verdict = Some(RecordedVerdict {
            domain: Some("named.example".into()),
            ..RecordedVerdict::default()
        });
        assert_eq!(observation.spf_domain().as_deref(), Some("named.example"));
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
