//! `--reports DIR`: collects, per sender domain, the findings a letter is about, and at the
//! end of the run writes one letter per domain ([`crate::letters`]) and `index.csv`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use super::{Entry, FindingWriter};
use crate::classify::Finding;
use crate::dns::cache::Cache;
use crate::dns::{Lookup, RecordType, normalize_name};
use crate::letters::{self, Case, LetterOptions, evidence};
use crate::spf::{Evaluation, Profile};

/// Collects findings per sender domain; [`EvidenceReports::write_letters`] writes them.
pub struct EvidenceReports {
    dir: PathBuf,
    options: LetterOptions,
    /// The receiver profile (lookup limits) the proposals are proven under.
    profile: Profile,
    cases: BTreeMap<String, Case>,
    /// The DNS questions each domain's evaluations asked, for its letter's zone excerpt.
    questions: BTreeMap<String, BTreeSet<(String, RecordType)>>,
    written: Vec<String>,
    /// Domains with findings but fewer messages than `--min-messages`.
    below_threshold: u64,
}

impl EvidenceReports {
    /// Letters go to `dir` (created if missing); in a scan it is the temporary directory of
    /// [`super::atomic::StagedDir`], swapped in as a whole when the run completes.
    pub fn new(dir: &Path, options: LetterOptions, profile: Profile) -> io::Result<Self> {
        if std::fs::metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "it exists and is not a directory",
            ));
        }
        std::fs::create_dir_all(dir)?;
        Ok(EvidenceReports {
            dir: dir.to_path_buf(),
            options,
            profile,
            cases: BTreeMap::new(),
            questions: BTreeMap::new(),
            written: Vec::new(),
            below_threshold: 0,
        })
    }

    /// The names of the letters written, in domain order.
    pub fn written(&self) -> &[String] {
        &self.written
    }

    /// Domains left without a letter for having fewer messages than `--min-messages`.
    pub fn below_threshold(&self) -> u64 {
        self.below_threshold
    }

    /// Prove each domain's proposal against `lookup` (the run's cache), then write the
    /// letters and `index.csv`. The directory is a temporary one as a whole: plain writes.
    pub async fn write_letters(&mut self, lookup: &dyn Lookup, cache: &Cache) -> io::Result<()> {
        let mut index = csv::Writer::from_path(self.dir.join("index.csv"))?;
        index.write_record(["date", "domain", "class", "messages", "language", "file"])?;
        for (domain, case) in &self.cases {
            if case.count < self.options.min_messages {
                self.below_threshold += 1;
                continue;
            }
            let proposal = match (case.wants_fix(), &case.current) {
                (true, Some(current)) => {
                    let record = current.record.clone().unwrap_or_else(|| "v=spf1".into());
                    let ips: Vec<_> = case.ips.iter().copied().collect();
                    Some(
                        letters::proposal::propose(lookup, &self.profile, domain, &record, &ips)
                            .await,
                    )
                }
                _ => None,
            };
            let evidence: Vec<_> = case
                .examples
                .iter()
                .filter_map(|(source, locator)| evidence::read(source, locator.as_ref()))
                .collect();
            let asked = self.questions.get(domain);
            let mut excerpt = Vec::new();
            cache.write_zone_of(
                &|name, rtype| {
                    normalize_name(name) == *domain
                        || asked.is_some_and(|a| a.contains(&(name.to_string(), rtype)))
                        || proposal
                            .as_ref()
                            .is_some_and(|p| p.targets_checked.iter().any(|t| t == name))
                },
                &mut excerpt,
            )?;
            let letter = letters::compose(
                case,
                proposal.as_ref(),
                &evidence,
                &String::from_utf8_lossy(&excerpt),
                &self.options,
                self.profile.max_dns_mechanisms,
            )?;
            std::fs::write(self.dir.join(&letter.file_name), &letter.bytes)?;
            index.write_record([
                self.options.date.format("%Y-%m-%d").to_string(),
                domain.clone(),
                case.class
                    .map(|c| c.as_str())
                    .unwrap_or_default()
                    .to_string(),
                case.count.to_string(),
                letter.language.code().to_string(),
                letter.file_name.clone(),
            ])?;
            self.written.push(letter.file_name);
        }
        index.flush()?;
        Ok(())
    }
}

/// Every DNS question an evaluation asked, its includes and redirects too.
fn questions_of(evaluation: &Evaluation, into: &mut BTreeSet<(String, RecordType)>) {
    for record in evaluation.trace.records() {
        for step in &record.lookups {
            into.insert((normalize_name(&step.name), step.rtype));
        }
        for term in &record.steps {
            for step in &term.lookups {
                into.insert((normalize_name(&step.name), step.rtype));
            }
        }
    }
}

fn add(case: &mut Case, finding: &Finding) {
    let obs = &finding.observation;
    case.count += 1;
    let rank = letters::Case::rank(finding.class);
    if case.class.is_none_or(|c| rank < letters::Case::rank(c)) {
        case.class = Some(finding.class);
    }
    if let Some(d) = obs.date {
        case.first = Some(case.first.map_or(d, |f| f.min(d)));
        case.last = Some(case.last.map_or(d, |l| l.max(d)));
    }
    if let Some(sender) = obs.envelope_from.as_deref().filter(|s| !s.is_empty())
        && case.senders.len() < 3
    {
        case.senders.insert(sender.to_ascii_lowercase());
    }
    if let Some(ip) = obs.client_ip {
        case.ips.insert(crate::model::canonical_ip(ip));
    }
    if let Some(result) = obs.verdict.as_ref().and_then(|v| v.result) {
        case.recorded.insert(result);
    }
    if case.current.is_none() {
        case.current = finding.current.clone();
    }
    if case.related.is_none() {
        case.related = finding
            .related
            .iter()
            .filter(|r| r.evaluation.result == crate::model::SpfResult::Pass)
            .find_map(|r| {
                let matched = r.evaluation.matched.as_ref()?;
                Some((r.domain.clone(), matched.directive.clone()))
            });
    }
    if matches!(obs.locator, Some(crate::input::Locator::Line(_))) {
        case.logged += 1;
    }
    if case.examples.len() < letters::MAX_ATTACHED {
        case.examples
            .push((obs.source.clone(), obs.locator.clone()));
    }
}

impl FindingWriter for EvidenceReports {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        let finding = entry.finding;
        if !self.options.classes.contains(&finding.class) {
            return Ok(());
        }
        let Some(domain) = finding.spf_domain.as_deref().map(normalize_name) else {
            return Ok(());
        };
        if let Some(current) = &finding.current {
            questions_of(current, self.questions.entry(domain.clone()).or_default());
            for related in &finding.related {
                questions_of(
                    &related.evaluation,
                    self.questions.entry(domain.clone()).or_default(),
                );
            }
        }
        let case = self.cases.entry(domain.clone()).or_insert_with(|| Case {
            domain,
            ..Case::default()
        });
        add(case, finding);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        // The letters need the DNS: see `write_letters`.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::letters::file_name;

    #[test]
    fn file_names_stay_inside_the_directory() {
        assert_eq!(file_name("../../etc/passwd"), "_.._etc_passwd.eml");
        assert_eq!(file_name("sub.example.co.jp"), "sub.example.co.jp.eml");
        assert_eq!(file_name(""), "unknown.eml");
    }
}
