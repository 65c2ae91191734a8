//! Writers: every output format implements one trait over findings.
pub mod csv;
