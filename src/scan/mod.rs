//! The scan pipeline: observations in input order -> distinct SPF questions evaluated once,
//! concurrently, on one tokio runtime -> classified findings written in input order.
//!
//! Reading and extraction run on their own thread (rayon inside); rows wait in a bounded
//! window for their evaluations, so memory stays flat and reading overlaps DNS.

pub mod cpu;
pub mod key;
pub mod window;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared, join, join_all};
use futures::stream::{FuturesOrdered, StreamExt};
use tokio::sync::Semaphore;

use crate::classify::{self, Evidence, Finding, HopResult, Plan, RelatedResult};
use crate::dns::Lookup;
use crate::extract::Observation;
use crate::input::{self, InputError, InputOptions, InputProblem, InputStats, Item};
use crate::model::SpfResult;
use crate::spf::{self, Evaluation, Problem, ProblemKind, Profile, Request};
use key::{ObservationKey, Seen};
use window::{DateWindow, Placement};

type EvaluationFuture = Shared<BoxFuture<'static, Arc<Evaluation>>>;

/// Evaluates each distinct [`Request`] once (while it is among the last
/// 2 x [`MEMO_GENERATION`] distinct ones); concurrent askers share the answer.
///
/// An evaluation decided by its domain's TXT answer alone (no SPF record, several records,
/// a DNS failure: [`Evaluation::decided_by_domain_alone`]) is kept by domain instead: the
/// related domains of a scan are mostly such domains, asked at every client IP.
pub struct Evaluator {
    lookup: Arc<dyn Lookup>,
    profile: Arc<Profile>,
    memo: Arc<Mutex<Memo>>,
    permits: Arc<Semaphore>,
    requested: AtomicU64,
    evaluated: Arc<AtomicU64>,
    related_requested: AtomicU64,
    hops_requested: AtomicU64,
}

#[derive(Default)]
struct Memo {
    by_request: Generations<Request>,
    /// By [`spf::evaluated_domain`], exactly as written.
    by_domain: Generations<String>,
}

/// Entries per generation of the memo. An evaluation with its trace takes a few kilobytes:
/// two generations bound the memo to some tens of megabytes however many distinct questions
/// a run asks, and a question asked again after two generations is evaluated again (from
/// the run's DNS cache, so with the same answers).
const MEMO_GENERATION: usize = 16_384;

/// A map that keeps its recent entries: when the current generation is full it becomes the
/// previous one and the one before is dropped; a hit in the previous generation moves the
/// entry back to the current one.
struct Generations<K> {
    current: HashMap<K, EvaluationFuture>,
    previous: HashMap<K, EvaluationFuture>,
}

impl<K> Default for Generations<K> {
    fn default() -> Self {
        Generations {
            current: HashMap::new(),
            previous: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq> Generations<K> {
    fn get<Q>(&mut self, key: &Q) -> Option<EvaluationFuture>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        if let Some(found) = self.current.get(key) {
            return Some(found.clone());
        }
        if self.previous.is_empty() {
            return None;
        }
        let (key, found) = self.previous.remove_entry(key)?;
        self.insert(key, found.clone());
        Some(found)
    }

    fn insert(&mut self, key: K, value: EvaluationFuture) {
        if self.current.len() >= MEMO_GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }

    fn remove<Q>(&mut self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.current.remove(key);
        self.previous.remove(key);
    }
}

fn lock(memo: &Mutex<Memo>) -> std::sync::MutexGuard<'_, Memo> {
    // Every change to the memo is one insert or remove: a panic elsewhere cannot leave it
    // half-updated, so a poisoned lock is still usable.
    memo.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Evaluator {
    /// `concurrency` bounds the evaluations in flight at once.
    pub fn new(lookup: Arc<dyn Lookup>, profile: Profile, concurrency: usize) -> Arc<Self> {
        Arc::new(Evaluator {
            lookup,
            profile: Arc::new(profile),
            memo: Arc::new(Mutex::new(Memo::default())),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            requested: AtomicU64::new(0),
            evaluated: Arc::new(AtomicU64::new(0)),
            related_requested: AtomicU64::new(0),
            hops_requested: AtomicU64::new(0),
        })
    }

    /// The evaluation of `request`, started now or shared with an earlier asker. Must be
    /// awaited inside a tokio runtime.
    pub fn evaluate(&self, request: Request) -> EvaluationFuture {
        self.evaluate_ref(&request)
    }

    /// [`Evaluator::evaluate`] that copies the request only when it is new.
    pub fn evaluate_ref(&self, request: &Request) -> EvaluationFuture {
        self.requested.fetch_add(1, Ordering::Relaxed);
        let mut memo = lock(&self.memo);
        if let Some(existing) = memo.by_request.get(request) {
            return existing;
        }
        if let Some(existing) = memo.by_domain.get(spf::evaluated_domain(request)) {
            return existing;
        }
        let request = request.clone();
        let lookup = Arc::clone(&self.lookup);
        let profile = Arc::clone(&self.profile);
        let permits = Arc::clone(&self.permits);
        let evaluated = Arc::clone(&self.evaluated);
        let shared_memo = Arc::clone(&self.memo);
        let request_key = request.clone();
        // Evaluated inline by whoever polls the shared future first (the scan's own task):
        // a spawned task per evaluation cost more in wake-ups and hand-offs between threads
        // than the evaluation itself. A panic is caught and becomes a temperror row.
        let future = async move {
            let _permit = permits.acquire_owned().await.ok();
            evaluated.fetch_add(1, Ordering::Relaxed);
            let evaluation =
                std::panic::AssertUnwindSafe(spf::check_host(&*lookup, &profile, &request))
                    .catch_unwind()
                    .await;
            match evaluation {
                Ok(evaluation) => {
                    let evaluation = Arc::new(evaluation);
                    if evaluation.decided_by_domain_alone() {
                        let domain = spf::evaluated_domain(&request).to_string();
                        let ready = futures::future::ready(Arc::clone(&evaluation))
                            .boxed()
                            .shared();
                        let mut memo = lock(&shared_memo);
                        memo.by_request.remove(&request);
                        memo.by_domain.insert(domain, ready);
                    }
                    evaluation
                }
                Err(panic) => Arc::new(internal_error(&request, &panic_text(&*panic))),
            }
        }
        .boxed()
        .shared();
        memo.by_request.insert(request_key, future.clone());
        future
    }

    /// (requests asked, distinct evaluations run)
    pub fn counts(&self) -> (u64, u64) {
        (
            self.requested.load(Ordering::Relaxed),
            self.evaluated.load(Ordering::Relaxed),
        )
    }
}

/// An evaluation that could not run (a bug, not input): reported as temperror with a reason.
fn internal_error(request: &Request, detail: &str) -> Evaluation {
    let domain = request.helo.clone();
    Evaluation {
        result: SpfResult::TempError,
        domain: domain.clone(),
        record: None,
        matched: None,
        explanation: None,
        problem: Some(Problem {
            kind: ProblemKind::Dns,
            domain,
            detail: format!("internal error: {detail}"),
        }),
        dns_lookups: 0,
        void_lookups: 0,
        trace: spf::trace::Trace::default(),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => format!("the evaluation panicked: {text}"),
        (_, Some(text)) => format!("the evaluation panicked: {text}"),
        _ => "the evaluation panicked".to_string(),
    }
}

/// Answer one observation's plan and classify it.
pub async fn evaluate_observation(evaluator: &Evaluator, observation: Observation) -> Finding {
    evaluate_boxed(evaluator, Box::new(observation)).await
}

/// [`evaluate_observation`] of an observation on the heap, as the reader hands them over: the
/// future (one per row in the window) stays small enough for the allocator's thread cache.
async fn evaluate_boxed(evaluator: &Evaluator, observation: Box<Observation>) -> Finding {
    // Related domains and hops are planned only when the primary result asks for them.
    let mut plan = classify::plan::primary(&observation);
    let Some(request) = plan.primary.as_ref() else {
        return classify::classify(*observation, &plan, Evidence::default());
    };
    let current = evaluator.evaluate_ref(request).await;
    let mut evidence = Evidence::default();
    if Plan::needs_context(current.result) {
        classify::plan::add_context(&mut plan, &observation);
        evaluator
            .related_requested
            .fetch_add(plan.related.len() as u64, Ordering::Relaxed);
        evaluator
            .hops_requested
            .fetch_add(plan.hops.len() as u64, Ordering::Relaxed);
        let related = join_all(
            plan.related
                .iter()
                .map(|q| evaluator.evaluate_ref(&q.request)),
        );
        let hops = join_all(plan.hops.iter().map(|q| evaluator.evaluate_ref(&q.request)));
        let (related, hops) = join(related, hops).await;
        evidence.related = plan
            .related
            .iter()
            .zip(related)
            .map(|(q, evaluation)| RelatedResult {
                domain: q.domain.clone(),
                relation: q.relation,
                evaluation,
            })
            .collect();
        evidence.hops = plan
            .hops
            .iter()
            .zip(hops)
            .map(|(q, evaluation)| HopResult {
                question: q.clone(),
                evaluation,
            })
            .collect();
    }
    evidence.current = Some(current);
    classify::classify(*observation, &plan, evidence)
}

/// What the scan hands its caller, in input order.
pub enum Row {
    /// A classified observation, with the key that makes it this one ([`key`]).
    Finding(Box<Finding>, ObservationKey),
    Problem(InputProblem),
}

/// How the scan runs.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub paths: Vec<PathBuf>,
    pub input: InputOptions,
    pub profile: Profile,
    /// Evaluations in flight at once.
    pub concurrency: usize,
    /// Rows waiting for evaluations at once (bounds memory).
    pub window: usize,
    /// Arrival dates to look at (`--since`/`--until`); observations outside are skipped.
    pub dates: DateWindow,
}

/// Figures for the summary and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct ScanStats {
    pub input: InputStats,
    pub rows: u64,
    pub problems: u64,
    /// Observations met again (same [`ObservationKey`]) after the first: not rows.
    pub duplicates: u64,
    /// Observations dated outside `--since`/`--until`: not rows.
    pub outside_window: u64,
    /// Rows without a date (kept whatever the window).
    pub undated: u64,
    pub evaluations_requested: u64,
    pub evaluations_distinct: u64,
    /// Of the requests: for related domains, and for earlier hops (the rest are the
    /// observations' own questions).
    pub related_requested: u64,
    pub hops_requested: u64,
    /// When the reader finished, from the start.
    pub reading: Duration,
    pub total: Duration,
    /// CPU seconds of reading vs the rest (Linux only).
    pub cpu: Option<cpu::CpuSplit>,
}

/// Progress reports while the scan runs (for a progress bar).
pub trait Progress {
    fn update(&mut self, read: u64, written: u64, evaluations: u64);
}

impl Progress for () {
    fn update(&mut self, _: u64, _: u64, _: u64) {}
}

/// Run the whole scan on the current tokio runtime, handing rows to `emit` in input order.
pub async fn scan(
    options: ScanOptions,
    lookup: Arc<dyn Lookup>,
    emit: &mut (dyn FnMut(Row) -> std::io::Result<()> + Send),
    progress: &mut (dyn Progress + Send),
) -> Result<ScanStats, ScanError> {
    let start = Instant::now();
    let cpu_mark = cpu::CpuMark::now();
    let evaluator = Evaluator::new(lookup, options.profile.clone(), options.concurrency);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(options.window.clamp(16, 4096));
    let paths = options.paths.clone();
    let input_options = options.input.clone();
    let reader = std::thread::Builder::new()
        .name("spfsleuth-reader".into())
        .spawn(move || {
            let result = input::read_inputs(&paths, &input_options, &mut |item| {
                // The receiver only goes away when the scan is abandoned.
                let _ = tx.blocking_send(item);
            });
            (result, start.elapsed())
        })
        .map_err(ScanError::Thread)?;

    let mut pending = FuturesOrdered::new();
    let mut seen = Seen::default();
    let mut input_open = true;
    let mut read = 0u64;
    let mut stats = ScanStats::default();
    let window = options.window.max(1);
    let evaluator_ref = &evaluator;
    loop {
        tokio::select! {
            biased;
            Some(row) = pending.next(), if !pending.is_empty() => {
                let row: Row = row;
                match &row {
                    Row::Finding(..) => stats.rows += 1,
                    Row::Problem(_) => stats.problems += 1,
                }
                emit(row).map_err(ScanError::Output)?;
                if (stats.rows + stats.problems) % 256 == 0 {
                    progress.update(read, stats.rows, evaluator.counts().1);
                }
            }
            item = rx.recv(), if input_open && pending.len() < window => {
                match item {
                    Some(Item::Observation(obs)) => {
                        read += 1;
                        match options.dates.place(obs.date) {
                            Placement::Outside => {
                                stats.outside_window += 1;
                                continue;
                            }
                            Placement::Undated => stats.undated += 1,
                            Placement::Inside => {}
                        }
                        let key = ObservationKey::of(&obs);
                        if !seen.first(key) {
                            stats.duplicates += 1;
                            continue;
                        }
                        pending.push_back(async move {
                            Row::Finding(Box::new(evaluate_boxed(evaluator_ref, obs).await), key)
                        }.boxed());
                    }
                    Some(Item::Problem(problem)) => {
                        pending.push_back(futures::future::ready(Row::Problem(problem)).boxed());
                    }
                    None => input_open = false,
                }
            }
            else => break,
        }
    }
    progress.update(read, stats.rows, evaluator.counts().1);
    let (result, reading) = reader.join().map_err(|_| ScanError::ReaderPanicked)?;
    stats.input = result.map_err(ScanError::Input)?;
    stats.reading = reading;
    (stats.evaluations_requested, stats.evaluations_distinct) = evaluator.counts();
    stats.related_requested = evaluator.related_requested.load(Ordering::Relaxed);
    stats.hops_requested = evaluator.hops_requested.load(Ordering::Relaxed);
    stats.total = start.elapsed();
    stats.cpu = cpu_mark.and_then(|mark| mark.split());
    Ok(stats)
}

/// Fatal scan errors (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Input(InputError),
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
    #[error("cannot start the reader thread: {0}")]
    Thread(std::io::Error),
    #[error("the reader thread crashed")]
    ReaderPanicked,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::memory::MemoryZone;
    use crate::model::Identity;

    fn request(ip: &str, mail_from: &str) -> Request {
        Request {
            ip: ip.parse().unwrap(),
            mail_from: mail_from.into(),
            helo: "mail.example.org".into(),
            identity: Identity::MailFrom,
        }
    }

    #[test]
    fn memo_keeps_two_generations() {
        let ready = |n: u32| {
            futures::future::ready(Arc::new(internal_error(
                &request("192.0.2.1", "a@x.example"),
                &n.to_string(),
            )))
            .boxed()
            .shared()
        };
        let mut memo = Generations::<u32>::default();
        for n in 0..MEMO_GENERATION as u32 {
            memo.insert(n, ready(n));
        }
        // A new generation starts; 0 moves back from the previous one when asked for.
        memo.insert(u32::MAX, ready(0));
        assert!(memo.get(&0).is_some());
        assert!(memo.current.contains_key(&0) && !memo.previous.contains_key(&0));
        for n in 0..MEMO_GENERATION as u32 {
            memo.insert(MEMO_GENERATION as u32 + n, ready(n));
        }
        // Two generations later, 1 is gone; the recently asked 0 is still there.
        assert!(memo.get(&1).is_none());
        assert!(memo.get(&0).is_some());
        memo.remove(&0);
        assert!(memo.get(&0).is_none());
    }

    #[test]
    fn each_request_once_and_record_less_domains_once() {
        let mut zone = MemoryZone::new();
        zone.add_txt("listed.example", "v=spf1 ip4:192.0.2.0/24 -all");
        let evaluator = Evaluator::new(Arc::new(zone), Profile::default(), 4);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let a = evaluator
                .evaluate(request("192.0.2.1", "a@listed.example"))
                .await;
            let again = evaluator
                .evaluate(request("192.0.2.1", "a@listed.example"))
                .await;
            let other_ip = evaluator
                .evaluate(request("192.0.2.2", "a@listed.example"))
                .await;
            assert!(Arc::ptr_eq(&a, &again));
            assert!(!Arc::ptr_eq(&a, &other_ip));
            assert_eq!(evaluator.counts(), (3, 2));
            let none = evaluator
                .evaluate(request("192.0.2.1", "a@nowhere.example"))
                .await;
            let none_elsewhere = evaluator
                .evaluate(request("198.51.100.7", "b@nowhere.example."))
                .await;
            assert_eq!(none.result, SpfResult::None);
            assert!(Arc::ptr_eq(&none, &none_elsewhere));
            assert_eq!(evaluator.counts(), (5, 3));
        });
    }
}
