//! One run against the state: what it knew of each observation and domain, and what this
//! run changes. The comparisons happen here, on the scan's thread, against what the run
//! read at its start; the writes go to the [`writer`](super::writer) thread.

use std::collections::HashMap;
use std::fmt::Display;

use chrono::{DateTime, Utc};

use super::writer::{Known, NewRow, StoredRecord, Writer};
use super::{
    History, RFC3339_SECONDS, RecordChange, RunInfo, RunTotals, StateError, StateFile,
    published_record,
};
use crate::classify::Finding;
use crate::model::SpfResult;
use crate::scan::key::ObservationKey;
use crate::spf::Evaluation;

/// One run's open transaction. Dropped without [`Run::commit`], it is rolled back.
pub struct Run<'a> {
    /// The file, held for the length of the run.
    _state: &'a mut StateFile,
    writer: Writer,
    /// The observations stored before this run.
    known: HashMap<[u8; 16], Known>,
    /// The domains' records stored before this run.
    records: HashMap<String, StoredRecord>,
    started: DateTime<Utc>,
    previous: Option<RunInfo>,
    /// Domains met in this run: whether their record changed since the last run.
    domains: HashMap<String, bool>,
    record_changes: Vec<RecordChange>,
}

impl<'a> Run<'a> {
    pub(super) fn begin(
        state: &'a mut StateFile,
        started: DateTime<Utc>,
        inputs: &str,
    ) -> Result<Run<'a>, StateError> {
        let (writer, snapshot) = Writer::start(&state.path, state.busy_timeout, started, inputs)?;
        Ok(Run {
            _state: state,
            writer,
            known: snapshot.known,
            records: snapshot.records,
            started,
            previous: snapshot.previous,
            domains: HashMap::new(),
            record_changes: Vec::new(),
        })
    }

    /// The last completed run before this one.
    pub fn previous(&self) -> Option<&RunInfo> {
        self.previous.as_ref()
    }

    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    /// Domains whose record changed since the last run, in the order met.
    pub fn record_changes(&self) -> &[RecordChange] {
        &self.record_changes
    }

    /// Record that this run saw `finding` (with `key`), and say what the state knew of it.
    /// Each key is given at most once per run (the scan drops duplicates before this).
    pub fn observe(
        &mut self,
        key: &ObservationKey,
        finding: &Finding,
    ) -> Result<History, StateError> {
        let record_changed = match (&finding.spf_domain, &finding.current) {
            (Some(domain), Some(current)) => self.domain_record(domain, current)?,
            _ => false,
        };
        let class = finding.class;
        let result = finding.current.as_ref().map(|e| e.result);
        let result_text = result.map(SpfResult::as_str).unwrap_or("");
        let Some(known) = self.known.get(&key.0) else {
            let obs = &finding.observation;
            let client_ip = obs.client_ip.map(crate::model::canonical_ip);
            let date = obs.date.map(|date| date.format(RFC3339_SECONDS));
            self.writer.new_observation(NewRow {
                key: key.0,
                message_id: obs.message_id.as_deref(),
                spf_domain: finding.spf_domain.as_deref(),
                client_ip: client_ip.as_ref().map(|ip| ip as &dyn Display),
                date: date.as_ref().map(|date| date as &dyn Display),
                source: &obs.source,
                locator: obs.locator.as_ref().map(|l| l as &dyn Display),
                class,
                result: result_text,
            })?;
            return Ok(History {
                first_seen: self.started,
                new: true,
                class_before: None,
                result_before: None,
                record_changed: false,
            });
        };
        // A temperror (DNS unavailable) is no news about the sender: nothing changes.
        let definitive = result != Some(SpfResult::TempError);
        let class_before = known.class.filter(|c| *c != class && definitive);
        let result_before = known.result.filter(|r| Some(*r) != result && definitive);
        let history = History {
            first_seen: known.first_seen,
            new: false,
            class_before,
            result_before,
            record_changed,
        };
        if class_before.is_some() || result_before.is_some() {
            self.writer.changed(known.id, class, result_text)?;
        }
        // Unchanged: nothing to write (last_run is the run of the last change).
        Ok(history)
    }

    /// Compare `domain`'s record now with the one stored, once per run; store a new version
    /// when it changed. True when it changed since the last run that saw the domain.
    fn domain_record(&mut self, domain: &str, current: &Evaluation) -> Result<bool, StateError> {
        if let Some(&changed) = self.domains.get(domain) {
            return Ok(changed);
        }
        // The record of the domain that was evaluated (an SRS or HELO evaluation names its
        // own), as published now; nothing to compare when the DNS did not answer.
        if current.domain != domain {
            return Ok(false);
        }
        let Some(record) = published_record(current) else {
            return Ok(false);
        };
        let stored = self.records.get(domain);
        let changed = stored.is_some_and(|stored| stored.record != record);
        match stored {
            Some(stored) if changed => {
                self.record_changes.push(RecordChange {
                    domain: domain.to_string(),
                    before: stored.record.clone(),
                    before_seen: stored.since,
                    after: record.clone(),
                });
                self.writer.domain_record(domain, &record)?;
            }
            Some(_) => self.writer.domain_seen(domain)?,
            None => self.writer.domain_record(domain, &record)?,
        }
        self.domains.insert(domain.to_string(), changed);
        Ok(changed)
    }

    /// Record the run's totals and commit everything it recorded.
    pub fn commit(self, finished: DateTime<Utc>, totals: RunTotals) -> Result<(), StateError> {
        self.writer.commit(finished, totals)
    }
}
