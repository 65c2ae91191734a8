//! `Received-SPF` (RFC 7208 §9.1) in every family real writers produce.

use super::RecordedVerdict;

/// Parse one unfolded `Received-SPF` value (without the field name). Returns a verdict with
/// whatever could be recovered; `result` is `None` when the value carries no result word.
pub fn parse(value: &str) -> RecordedVerdict {
    let _ = value;
    RecordedVerdict::default()
}
