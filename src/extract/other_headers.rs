//! Vendor headers that carry an SPF verdict (X-Spam-Status SPF_* rules, X-SPF-Result, ...).

use super::RecordedVerdict;

/// Parse one header (name as written, unfolded value). `None` when the header is not one we
/// know or carries no SPF verdict.
pub fn parse(name: &str, value: &str) -> Option<RecordedVerdict> {
    let _ = (name, value);
    None
}
