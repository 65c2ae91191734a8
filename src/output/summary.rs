//! The summary: counts of what went by, for the short end-of-run lines on stderr and for the
//! `--summary` report a person reads in the morning (in the spirit of `pflogsumm -d
//! yesterday`): inputs and counts, findings per class, the sender domains to write to with
//! their fix in one line, and with `--state` what changed since the last run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Entry, FindingWriter};
use crate::classify::{Class, Finding};
use crate::input::InputProblem;
use crate::model::SpfResult;
use crate::state::{RecordChange, RunInfo};

/// Problems listed one by one in the report (all are counted).
const PROBLEMS_LISTED: usize = 10;
/// Sender domains listed with their fix.
const DOMAINS_LISTED: usize = 10;
/// Changed observations listed one by one.
const CHANGES_LISTED: usize = 20;

/// Per sender domain: its findings per class and the fix proposed for them.
#[derive(Debug, Default, Clone)]
pub struct DomainFindings {
    pub per_class: BTreeMap<Class, u64>,
    /// The most frequent non-empty fix (first met on ties).
    fixes: HashMap<String, (u64, usize)>,
}

impl DomainFindings {
    pub fn total(&self) -> u64 {
        self.per_class.values().sum()
    }

    /// The fix proposed most often for this domain's findings.
    pub fn fix(&self) -> Option<&str> {
        self.fixes
            .iter()
            .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))
            .map(|(fix, _)| fix.as_str())
    }
}

/// An observation whose class or result changed since the last run.
#[derive(Debug, Clone)]
pub struct Change {
    pub what: String,
    pub domain: String,
    pub cell: String,
}

/// Counts what went by; [`Summary::render`] turns them into the stderr lines and
/// [`Summary::report`] into the `--summary` report.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub rows: u64,
    pub by_class: BTreeMap<Class, u64>,
    /// spf_domain -> its findings
    pub findings_by_domain: HashMap<String, DomainFindings>,
    /// With `--state`: rows first seen in this run, and of them findings, per domain.
    pub new_rows: u64,
    pub new_findings: BTreeMap<String, u64>,
    /// With `--state`: observations whose class or result changed since the last run.
    pub changes: Vec<Change>,
    pub changed: u64,
    /// With `--state`: domains whose earlier finding passes now, with the number of
    /// observations.
    pub fixed: BTreeMap<String, u64>,
    /// Input problems: all counted, the first few kept.
    pub problems: u64,
    pub problems_kept: Vec<String>,
    order: usize,
}

/// Passes now, after a class that said the verdict or the record was wrong.
fn is_fixed(before: Class, finding: &Finding) -> bool {
    let passes = finding
        .current
        .as_ref()
        .is_some_and(|e| e.result == SpfResult::Pass);
    passes
        && matches!(
            before,
            Class::Misconfigured | Class::RecordBroken | Class::Regressed | Class::Unauthorized
        )
}

impl Summary {
    pub fn findings(&self) -> u64 {
        self.by_class
            .iter()
            .filter(|(c, _)| c.is_finding())
            .map(|(_, n)| n)
            .sum()
    }

    /// Count an input problem (and keep its text when among the first).
    pub fn problem(&mut self, problem: &InputProblem) {
        self.problems += 1;
        if self.problems_kept.len() < PROBLEMS_LISTED {
            self.problems_kept.push(problem.to_string());
        }
    }

    /// Anything new since the last run for a person: a new finding, an observation whose
    /// class or result changed, a finding fixed (record changes and letters are added by
    /// the caller, [`ReportContext::has_news`]).
    pub fn has_news(&self) -> bool {
        !self.new_findings.is_empty() || self.changed > 0 || !self.fixed.is_empty()
    }

    fn domains_by_findings(&self) -> Vec<(&String, &DomainFindings)> {
        let mut domains: Vec<(&String, &DomainFindings)> = self.findings_by_domain.iter().collect();
        domains.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then_with(|| a.0.cmp(b.0)));
        domains
    }

    fn class_line(&self) -> String {
        let classes: Vec<String> = Class::ALL
            .iter()
            .filter_map(|c| self.by_class.get(c).map(|n| format!("{c} {n}")))
            .collect();
        if classes.is_empty() {
            "none".to_string()
        } else {
            classes.join(", ")
        }
    }

    /// The per-class and per-domain lines of the end-of-run summary on stderr.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "rows: {} ({})", self.rows, self.class_line());
        let domains = self.domains_by_findings();
        if domains.is_empty() {
            let _ = writeln!(s, "findings: none");
        } else {
            let _ = writeln!(s, "findings: {} (top sender domains)", self.findings());
            for (domain, found) in domains.into_iter().take(DOMAINS_LISTED) {
                let detail: Vec<String> = found
                    .per_class
                    .iter()
                    .map(|(c, n)| format!("{c} {n}"))
                    .collect();
                let _ = writeln!(
                    s,
                    "  {domain:<40} {:>6}  ({})",
                    found.total(),
                    detail.join(", ")
                );
            }
        }
        s
    }

    /// The `--summary` report.
    pub fn report(&self, context: &ReportContext) -> String {
        let mut s = String::new();
        let now = rfc3339(context.finished);
        let _ = writeln!(s, "spfsleuth summary, {now}");
        let _ = writeln!(s);
        match (&context.previous_run, context.with_state) {
            (Some(previous), _) => {
                let _ = writeln!(
                    s,
                    "Changes are since the last run, {} (run {}).",
                    rfc3339(previous.started),
                    previous.id
                );
            }
            (None, true) => {
                let _ = writeln!(s, "First run on this state file: everything is new.");
            }
            (None, false) => {
                let _ = writeln!(
                    s,
                    "This run only (no --state: nothing is compared with earlier runs)."
                );
            }
        }
        let _ = writeln!(s);

        let _ = writeln!(s, "Inputs");
        for input in &context.inputs {
            let _ = writeln!(s, "  {input}");
        }
        for line in &context.input_lines {
            let _ = writeln!(s, "  {line}");
        }
        let _ = writeln!(s);

        let _ = writeln!(s, "Rows: {}", self.rows);
        for class in Class::ALL {
            if let Some(n) = self.by_class.get(&class) {
                let mark = if class.is_finding() { " (finding)" } else { "" };
                let _ = writeln!(s, "  {:<16} {n:>7}{mark}", class.as_str());
            }
        }
        let _ = writeln!(s);

        let domains = self.domains_by_findings();
        if domains.is_empty() {
            let _ = writeln!(s, "Findings: none");
        } else {
            let _ = writeln!(
                s,
                "Findings: {} from {} sender domain(s); the top ones, with what to change:",
                self.findings(),
                domains.len()
            );
            for (domain, found) in domains.iter().take(DOMAINS_LISTED) {
                let detail: Vec<String> = found
                    .per_class
                    .iter()
                    .map(|(c, n)| format!("{c} {n}"))
                    .collect();
                let _ = writeln!(s, "  {domain} ({})", detail.join(", "));
                if let Some(fix) = found.fix() {
                    let _ = writeln!(s, "    fix: {fix}");
                }
            }
            if domains.len() > DOMAINS_LISTED {
                let _ = writeln!(s, "  ... and {} more", domains.len() - DOMAINS_LISTED);
            }
        }
        let _ = writeln!(s);

        if context.with_state {
            if context.record_changes.is_empty() {
                let _ = writeln!(s, "SPF records changed since the last run: none");
            } else {
                let _ = writeln!(
                    s,
                    "SPF records changed since the last run: {}",
                    context.record_changes.len()
                );
                for change in &context.record_changes {
                    let _ = writeln!(s, "  {}", change.domain);
                    let _ = writeln!(
                        s,
                        "    before (seen since {}): {}",
                        rfc3339(change.before_seen),
                        change.before
                    );
                    let _ = writeln!(s, "    now: {}", change.after);
                }
            }
            let _ = writeln!(s);
            if self.fixed.is_empty() {
                let _ = writeln!(s, "Fixed since the last run: none");
            } else {
                let _ = writeln!(s, "Fixed since the last run (their mail passes SPF now):");
                for (domain, n) in &self.fixed {
                    let _ = writeln!(s, "  {domain}: {n} observation(s)");
                }
            }
            let _ = writeln!(s);
            let new_findings: u64 = self.new_findings.values().sum();
            if new_findings == 0 {
                let _ = writeln!(
                    s,
                    "New findings: none ({} new row(s) in all)",
                    self.new_rows
                );
            } else {
                let _ = writeln!(
                    s,
                    "New findings: {new_findings} ({} new row(s) in all)",
                    self.new_rows
                );
                let mut new: Vec<(&String, &u64)> = self.new_findings.iter().collect();
                new.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
                for (domain, n) in new.iter().take(DOMAINS_LISTED) {
                    let _ = writeln!(s, "  {domain}: {n}");
                }
                if new.len() > DOMAINS_LISTED {
                    let _ = writeln!(s, "  ... and {} more domain(s)", new.len() - DOMAINS_LISTED);
                }
            }
            let _ = writeln!(s);
            if self.changed > 0 {
                let _ = writeln!(
                    s,
                    "Verdicts that changed since the last run: {}",
                    self.changed
                );
                for change in &self.changes {
                    let _ = writeln!(s, "  {} ({}): {}", change.what, change.domain, change.cell);
                }
                if self.changed as usize > self.changes.len() {
                    let _ = writeln!(
                        s,
                        "  ... and {} more (see the changed column of the CSV)",
                        self.changed as usize - self.changes.len()
                    );
                }
                let _ = writeln!(s);
            }
        }

        if let Some(letters) = &context.letters {
            let _ = writeln!(
                s,
                "Evidence letters in {}: {}",
                letters.dir,
                letters.written.len()
            );
            for name in &letters.written {
                let new = if letters.previous.contains(name) {
                    ""
                } else {
                    " (new)"
                };
                let _ = writeln!(s, "  {name}{new}");
            }
            let withdrawn = letters.withdrawn();
            if !withdrawn.is_empty() {
                let _ = writeln!(
                    s,
                    "  withdrawn since the last run (no longer needed): {}",
                    withdrawn.join(", ")
                );
            }
            let _ = writeln!(s);
        }

        if self.problems == 0 {
            let _ = writeln!(s, "Input problems: none");
        } else {
            let _ = writeln!(s, "Input problems: {}", self.problems);
            for problem in &self.problems_kept {
                let _ = writeln!(s, "  {problem}");
            }
            if self.problems as usize > self.problems_kept.len() {
                let _ = writeln!(
                    s,
                    "  ... and {} more (all are on stderr)",
                    self.problems as usize - self.problems_kept.len()
                );
            }
        }
        s
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The letters of `--reports`: this run's and the previous run's names.
#[derive(Debug, Clone, Default)]
pub struct Letters {
    pub dir: String,
    pub written: Vec<String>,
    pub previous: BTreeSet<String>,
}

impl Letters {
    /// Letters of the previous run that this run did not write again.
    pub fn withdrawn(&self) -> Vec<String> {
        let written: BTreeSet<&String> = self.written.iter().collect();
        self.previous
            .iter()
            .filter(|name| !written.contains(name))
            .cloned()
            .collect()
    }

    /// Letters this run wrote that the previous run did not.
    pub fn added(&self) -> Vec<String> {
        self.written
            .iter()
            .filter(|name| !self.previous.contains(*name))
            .cloned()
            .collect()
    }
}

/// What the report says beyond the rows: the run, its inputs, what the state knew.
#[derive(Debug, Clone, Default)]
pub struct ReportContext {
    pub finished: DateTime<Utc>,
    pub with_state: bool,
    pub previous_run: Option<RunInfo>,
    /// The paths given, one per line.
    pub inputs: Vec<String>,
    /// Counts: messages, log lines, duplicates, outside the window, undated, DNS.
    pub input_lines: Vec<String>,
    pub record_changes: Vec<RecordChange>,
    pub letters: Option<Letters>,
}

impl ReportContext {
    /// News for `--summary-only-changes`: the summary's own, a record changed, a letter
    /// added or withdrawn.
    pub fn has_news(&self, summary: &Summary) -> bool {
        summary.has_news()
            || !self.record_changes.is_empty()
            || self
                .letters
                .as_ref()
                .is_some_and(|l| !l.withdrawn().is_empty() || !l.added().is_empty())
    }
}

impl FindingWriter for Summary {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        let finding = entry.finding;
        self.rows += 1;
        self.order += 1;
        *self.by_class.entry(finding.class).or_default() += 1;
        let domain = || {
            finding
                .spf_domain
                .clone()
                .unwrap_or_else(|| "(unknown)".to_string())
        };
        if finding.class.is_finding() {
            let found = self.findings_by_domain.entry(domain()).or_default();
            *found.per_class.entry(finding.class).or_default() += 1;
            if !finding.fix.is_empty() {
                let order = self.order;
                found
                    .fixes
                    .entry(finding.fix.clone())
                    .or_insert((0, order))
                    .0 += 1;
            }
        }
        if let Some(history) = entry.history {
            if history.new {
                self.new_rows += 1;
                if finding.class.is_finding() {
                    *self.new_findings.entry(domain()).or_default() += 1;
                }
            }
            let result_now = finding.current.as_ref().map(|e| e.result);
            if history.class_before.is_some() || history.result_before.is_some() {
                self.changed += 1;
                if self.changes.len() < CHANGES_LISTED {
                    let obs = &finding.observation;
                    let what = match (&obs.message_id, obs.client_ip) {
                        (Some(id), _) => format!("<{}>", id.trim_matches(|c| c == '<' || c == '>')),
                        (None, Some(ip)) => format!("{} from {ip}", obs.source),
                        (None, None) => obs.source.to_string(),
                    };
                    let mut without_record = history.clone();
                    without_record.record_changed = false;
                    self.changes.push(Change {
                        what,
                        domain: domain(),
                        cell: without_record.changed_cell(finding.class, result_now),
                    });
                }
            }
            if let Some(before) = history.class_before
                && is_fixed(before, finding)
            {
                *self.fixed.entry(domain()).or_default() += 1;
            }
        }
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
