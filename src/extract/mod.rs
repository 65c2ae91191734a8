//! Find the SPF verdict a receiver recorded, and the envelope data to check it again.
//!
//! Header parsers (`received_spf`, `auth_results`, `other_headers`) turn one unfolded header
//! value into recorded verdicts; `message` assembles one message's header block into an
//! [`Observation`] (Received chain, From, Message-ID, Date, Return-Path, which verdict counts).

pub mod address;
pub mod auth_results;
pub mod date;
pub mod header_block;
pub mod message;
pub mod observation;
pub mod other_headers;
pub mod received;
pub mod received_spf;
pub mod text;

pub use message::extract_message;
pub use observation::{Hop, Observation, RecordedVerdict, VerdictSource};

/// What the user told us about extraction.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Trust only verdicts recorded by these receivers (`--authserv-id`, repeatable), matched
    /// case-insensitively against `receiver=`, the comment host or the authserv-id.
    /// Empty: the topmost verdict counts.
    pub authserv_ids: Vec<String>,
    /// Year for syslog timestamps that carry none (`--log-year`); default: the file's
    /// modification time.
    pub log_year: Option<i32>,
    /// Zone of log timestamps that carry none (`--log-timezone`; the command line's
    /// default is the local zone, the library's UTC).
    pub log_zone: crate::model::LogZone,
}
