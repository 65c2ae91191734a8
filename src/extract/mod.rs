//! Find the SPF verdict a receiver recorded, and the envelope data to check it again.

pub mod observation;

pub use observation::{Hop, Observation, RecordedVerdict, VerdictSource};
