//! The end-of-run summary on stderr: rows per class, findings per sender domain, problems.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io;

use super::FindingWriter;
use crate::classify::{Class, Finding};

/// Counts what went by; [`Summary::render`] turns them into text.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub rows: u64,
    pub by_class: BTreeMap<Class, u64>,
    /// spf_domain -> (findings, per class)
    pub findings_by_domain: HashMap<String, BTreeMap<Class, u64>>,
}

impl Summary {
    pub fn findings(&self) -> u64 {
        self.by_class
            .iter()
            .filter(|(c, _)| c.is_finding())
            .map(|(_, n)| n)
            .sum()
    }

    /// The per-class and per-domain part of the summary.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let classes: Vec<String> = Class::ALL
            .iter()
            .filter_map(|c| self.by_class.get(c).map(|n| format!("{c} {n}")))
            .collect();
        let _ = writeln!(
            s,
            "rows: {} ({})",
            self.rows,
            if classes.is_empty() {
                "none".to_string()
            } else {
                classes.join(", ")
            }
        );
        let mut domains: Vec<(&String, u64, &BTreeMap<Class, u64>)> = self
            .findings_by_domain
            .iter()
            .map(|(d, per)| (d, per.values().sum(), per))
            .collect();
        domains.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        if domains.is_empty() {
            let _ = writeln!(s, "findings: none");
        } else {
            let _ = writeln!(s, "findings: {} (top sender domains)", self.findings());
            for (domain, total, per) in domains.into_iter().take(10) {
                let detail: Vec<String> = per.iter().map(|(c, n)| format!("{c} {n}")).collect();
                let _ = writeln!(s, "  {domain:<40} {total:>6}  ({})", detail.join(", "));
            }
        }
        s
    }
}

impl FindingWriter for Summary {
    fn write(&mut self, finding: &Finding) -> io::Result<()> {
        self.rows += 1;
        *self.by_class.entry(finding.class).or_default() += 1;
        if finding.class.is_finding() {
            let domain = finding
                .spf_domain
                .clone()
                .unwrap_or_else(|| "(unknown)".to_string());
            *self
                .findings_by_domain
                .entry(domain)
                .or_default()
                .entry(finding.class)
                .or_default() += 1;
        }
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
