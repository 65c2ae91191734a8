//! CPU seconds of the scan split between reading (reader and extraction threads) and the
//! rest (evaluation, classification, output), for the summary and the benchmark.
//!
//! Linux only, from `/proc/self/stat` and `/proc/self/task/*/stat`; elsewhere there are no
//! figures. The reading threads have exited when the scan ends, so their share is the
//! process's CPU time minus that of the threads still alive.

use std::collections::HashMap;
use std::time::Duration;

/// Clock ticks per second of `/proc` times (`USER_HZ`, 100 on every Linux ABI).
const TICKS_PER_SECOND: u64 = 100;

/// Names (as `/proc` shows them, 15 bytes at most) of the reading threads.
const READING_THREADS: [&str; 2] = ["spfsleuth-extr", "spfsleuth-read"];

/// CPU times when the scan started.
pub struct CpuMark {
    process: u64,
    threads: HashMap<u32, u64>,
}

/// CPU seconds of one scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuSplit {
    /// Reader and extraction threads.
    pub reading: Duration,
    /// Everything else: evaluation, classification, output.
    pub evaluation: Duration,
}

impl CpuMark {
    pub fn now() -> Option<CpuMark> {
        Some(CpuMark {
            process: process_ticks()?,
            threads: thread_ticks()?
                .into_iter()
                .map(|(tid, (_, ticks))| (tid, ticks))
                .collect(),
        })
    }

    /// The split since this mark. Call after the reading threads are joined.
    pub fn split(&self) -> Option<CpuSplit> {
        let process = process_ticks()?.saturating_sub(self.process);
        let evaluation: u64 = thread_ticks()?
            .into_iter()
            .filter(|(_, (name, _))| !READING_THREADS.iter().any(|r| name.starts_with(r)))
            .map(|(tid, (_, ticks))| ticks.saturating_sub(*self.threads.get(&tid).unwrap_or(&0)))
            .sum();
        let evaluation = evaluation.min(process);
        Some(CpuSplit {
            reading: ticks(process - evaluation),
            evaluation: ticks(evaluation),
        })
    }
}

fn ticks(n: u64) -> Duration {
    Duration::from_millis(n * 1000 / TICKS_PER_SECOND)
}

/// utime + stime of a `stat` line (fields 14 and 15, counted after the `(comm)`).
fn stat_ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let mut fields = stat.get(close + 1..)?.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((name, user + system))
}

fn process_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat_ticks(&stat).map(|(_, t)| t)
}

fn thread_ticks() -> Option<HashMap<u32, (String, u64)>> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A thread may exit between the listing and the read.
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat"))
            && let Some(found) = stat_ticks(&stat)
        {
            out.insert(tid, found);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_odd_thread_name() {
        let line = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0 1 0";
        assert_eq!(stat_ticks(line), Some(("a (b) c".to_string(), 280)));
        assert_eq!(stat_ticks("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn figures_on_linux() {
        let mark = CpuMark::now().expect("proc is mounted");
        assert!(mark.split().is_some());
    }
}
