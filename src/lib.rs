//! spfsleuth: batch SPF forensics for mail administrators.
//!
//! Data flows one way (see `../shared/DESIGN.md`):
//! `input` (raw messages, log lines) -> `extract` (observations) -> `spf` (evaluations over
//! `dns`) -> `classify` (findings) -> `output` (CSV, JSON Lines, summary, evidence reports).
//! `cli` turns what the user typed into a resolved `Config` and runs the pipeline.

pub mod classify;
pub mod cli;
pub mod dns;
pub mod extract;
pub mod input;
pub mod letters;
pub mod lint;
pub mod model;
pub mod output;
pub mod scan;
pub mod spf;
pub mod state;
