//! The per-run cache: every (name, type) is asked upstream once, identical queries in flight
//! are merged, and every answer used can be written out as a zone file (`--save-dns`).
//!
//! Errors are cached for the run like answers: a (name, type) that timed out or got
//! SERVFAIL is not asked again, and every later question for it gets the same error at once.
//! A scan asks the same names thousands of times; retrying a dead server each time would
//! turn one slow domain into hours, and the verdict (temperror) would be the same. One run
//! sees one consistent DNS, which is also what `--save-dns` records and `--zone` replays.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::OnceCell;

use super::zonefile::{DIRECTIVE_PREFIX, format_name, format_txt_string};
use super::{Answer, DnsError, Lookup, LookupFuture, LookupResult, RecordType, normalize_name};

/// Query counters for the summary and the benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Questions asked by the SPF engine.
    pub requests: u64,
    /// Questions sent upstream (distinct (name, type) pairs, plus retries).
    pub upstream: u64,
    /// Distinct (name, type) pairs seen.
    pub distinct: u64,
    /// Of the questions sent upstream: those the resolver could not be reached for
    /// ([`DnsError::is_unreachable`]: timeouts, refused connections, REFUSED).
    pub unreachable: u64,
}

impl CacheStats {
    /// The resolver could not be reached for the run: more than half of the questions sent
    /// upstream got no answer at all (timeouts, refused connections), as opposed to some
    /// domains' own servers failing. A run in an outage writes nothing (exit status 3).
    pub fn is_outage(&self) -> bool {
        self.upstream > 0 && self.unreachable.saturating_mul(2) > self.upstream
    }
}

/// One answer as the run used it, with the time it was asked upstream.
#[derive(Debug, Clone)]
struct Resolved {
    result: LookupResult,
    queried_at: SystemTime,
}

type Key = (String, RecordType);

type Slot = Arc<OnceCell<Resolved>>;

/// The cells of one name, at most one per record type (SPF asks a name for one or two).
/// Keyed by name alone so that a question is looked up by `&str`, without building a key.
type NameSlots = Vec<(RecordType, Slot)>;

/// A caching, merging wrapper around any [`Lookup`].
pub struct Cache {
    inner: Arc<dyn Lookup>,
    /// One cell per (normalised name, type). The first asker fills it; everyone else who
    /// asks meanwhile waits on the same cell (merged in flight). If the asker is cancelled,
    /// a waiter takes over.
    slots: Mutex<HashMap<String, NameSlots>>,
    requests: AtomicU64,
    upstream: AtomicU64,
    unreachable: AtomicU64,
}

impl Cache {
    pub fn new(inner: Box<dyn Lookup>) -> Self {
        Self::from_arc(Arc::from(inner))
    }

    /// Wrap a lookup that is shared elsewhere too (e.g. a test keeps the zone).
    pub fn from_arc(inner: Arc<dyn Lookup>) -> Self {
        Cache {
            inner,
            slots: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            upstream: AtomicU64::new(0),
            unreachable: AtomicU64::new(0),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, NameSlots>> {
        // A panic elsewhere while holding the lock cannot leave the map half-updated (each
        // operation is a single insert or read), so a poisoned lock is still usable.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            requests: self.requests.load(Ordering::Relaxed),
            upstream: self.upstream.load(Ordering::Relaxed),
            distinct: self.slots().values().map(|v| v.len() as u64).sum(),
            unreachable: self.unreachable.load(Ordering::Relaxed),
        }
    }

    /// Every (name, type) answered so far, sorted, with its result.
    fn answered(&self) -> BTreeMap<Key, Resolved> {
        self.slots()
            .iter()
            .flat_map(|(name, cells)| {
                cells.iter().filter_map(move |(rtype, cell)| {
                    cell.get().map(|r| ((name.clone(), *rtype), r.clone()))
                })
            })
            .collect()
    }

    /// `--save-dns FILE`: write [`Cache::write_zone`] to a temporary file beside `path`,
    /// then rename it, so that an interrupted run never leaves half a snapshot.
    pub fn save_zone_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        let directory = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => std::path::Path::new("."),
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dns.zone".to_owned());
        let temporary = directory.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&temporary)?);
            self.write_zone(&mut file)?;
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&temporary, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        result
    }

    /// Write every answer used as an RFC 1035 zone file that `--zone` replays.
    ///
    /// - Records carry absolute names and are sorted (names, then types, then data), so the
    ///   same answers give the same bytes; each entry has a comment with its query time.
    /// - NXDOMAIN: the name is left out (a comment says so). If the name exists in the file
    ///   for another reason, a `;; spfsleuth: NXDOMAIN NAME TYPE` line keeps it NXDOMAIN.
    /// - No data: an `HINFO` record (a type SPF never asks) makes the name exist.
    /// - Timeouts and failures: `;; spfsleuth: TIMEOUT|SERVFAIL|ERROR|INVALID NAME TYPE`
    ///   lines, comments to BIND, honoured by our loader.
    ///
    /// Answers reached through a CNAME are written under the name that was asked.
    /// TXT strings longer than 255 bytes (possible only from an in-memory zone) are split.
    pub fn write_zone(&self, out: &mut dyn Write) -> std::io::Result<()> {
        self.write_zone_of(&|_, _| true, out)
    }

    /// [`Cache::write_zone`] for the questions `wanted` accepts (a letter's DNS evidence:
    /// the names one domain's evaluations asked).
    pub fn write_zone_of(
        &self,
        wanted: &dyn Fn(&str, RecordType) -> bool,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let mut answered = self.answered();
        answered.retain(|(name, rtype), _| wanted(name, *rtype));
        let existing: std::collections::HashSet<&str> = answered
            .iter()
            .filter(|(_, r)| !matches!(r.result, Err(DnsError::NxDomain)))
            .map(|((name, _), _)| name.as_str())
            .collect();
        writeln!(
            out,
            "; spfsleuth DNS snapshot: {} answers; replay with --zone FILE.",
            answered.len()
        )?;
        writeln!(
            out,
            "; NXDOMAIN names are left out; \"no data\" is an HINFO record; failed queries are"
        )?;
        writeln!(
            out,
            "; \"{DIRECTIVE_PREFIX}\" lines (comments to other DNS software)."
        )?;
        writeln!(out, "$TTL 300")?;
        for ((name, rtype), resolved) in &answered {
            let owner = format_name(name);
            let when = chrono::DateTime::<chrono::Utc>::from(resolved.queried_at)
                .format("%Y-%m-%dT%H:%M:%SZ");
            writeln!(out)?;
            match &resolved.result {
                Ok(answer) if answer.is_empty() => {
                    writeln!(out, "; {owner} {rtype} queried {when}: no data")?;
                    writeln!(out, "{owner} IN HINFO \"spfsleuth\" \"no {rtype} records\"")?;
                }
                Ok(answer) => {
                    writeln!(out, "; {owner} {rtype} queried {when}")?;
                    for rdata in rdata_lines(answer) {
                        writeln!(out, "{owner} IN {rtype} {rdata}")?;
                    }
                }
                Err(DnsError::NxDomain) if !existing.contains(name.as_str()) => {
                    writeln!(out, "; {owner} {rtype} queried {when}: NXDOMAIN (left out)")?;
                }
                Err(error) => {
                    let shown: String = error
                        .to_string()
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect();
                    writeln!(out, "; {owner} {rtype} queried {when}: {shown}")?;
                    let (kind, detail) = match error {
                        DnsError::NxDomain => ("NXDOMAIN", None),
                        DnsError::Timeout => ("TIMEOUT", None),
                        DnsError::ServerFailure(d) => ("SERVFAIL", Some(d)),
                        DnsError::InvalidName(d) => ("INVALID", Some(d)),
                        DnsError::Other(d) => ("ERROR", Some(d)),
                    };
                    match detail {
                        Some(d) => writeln!(
                            out,
                            "{DIRECTIVE_PREFIX} {kind} {owner} {rtype} {}",
                            format_txt_string(d.as_bytes())
                        )?,
                        None => writeln!(out, "{DIRECTIVE_PREFIX} {kind} {owner} {rtype}")?,
                    }
                }
            }
        }
        Ok(())
    }
}

/// The data part of each record of an answer, sorted, in master-file syntax.
fn rdata_lines(answer: &Answer) -> Vec<String> {
    let mut lines: Vec<String> = match answer {
        Answer::A(ips) => {
            let mut ips = ips.clone();
            ips.sort();
            ips.dedup();
            return ips.iter().map(ToString::to_string).collect();
        }
        Answer::Aaaa(ips) => {
            let mut ips = ips.clone();
            ips.sort();
            ips.dedup();
            return ips.iter().map(ToString::to_string).collect();
        }
        Answer::Mx(mxs) => {
            let mut mxs: Vec<_> = mxs.iter().collect();
            mxs.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
            return mxs
                .iter()
                .map(|mx| format!("{} {}", mx.preference, format_name(&mx.exchange)))
                .collect();
        }
        Answer::Txt(records) => records
            .iter()
            .map(|strings| {
                let parts: Vec<String> = strings
                    .iter()
                    .flat_map(|s| {
                        if s.is_empty() {
                            vec![format_txt_string(s)]
                        } else {
                            s.chunks(255).map(format_txt_string).collect()
                        }
                    })
                    .collect();
                if parts.is_empty() {
                    "\"\"".to_owned()
                } else {
                    parts.join(" ")
                }
            })
            .collect(),
        Answer::Ptr(names) => names.iter().map(|n| format_name(n)).collect(),
    };
    lines.sort();
    lines.dedup();
    lines
}

impl Lookup for Cache {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        Box::pin(async move {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let name = normalized(name);
            let cell = {
                let mut slots = self.slots();
                let cells = match slots.get_mut(name.as_ref()) {
                    Some(cells) => cells,
                    None => slots.entry(name.clone().into_owned()).or_default(),
                };
                match cells.iter().find(|(t, _)| *t == rtype) {
                    Some((_, cell)) => cell.clone(),
                    None => {
                        let cell = Arc::new(OnceCell::new());
                        cells.push((rtype, cell.clone()));
                        cell
                    }
                }
            };
            if let Some(resolved) = cell.get() {
                return resolved.result.clone();
            }
            let resolved = cell
                .get_or_init(|| async {
                    self.upstream.fetch_add(1, Ordering::Relaxed);
                    let queried_at = SystemTime::now();
                    let result = self.inner.lookup(&name, rtype).await;
                    if result.as_ref().is_err_and(DnsError::is_unreachable) {
                        self.unreachable.fetch_add(1, Ordering::Relaxed);
                    }
                    Resolved { result, queried_at }
                })
                .await;
            resolved.result.clone()
        })
    }
}

/// [`normalize_name`] without a copy when the name is already normal (the common case).
fn normalized(name: &str) -> Cow<'_, str> {
    let trimmed = name.trim_end_matches('.');
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(normalize_name(trimmed))
    } else {
        Cow::Borrowed(trimmed)
    }
}
