//! Assemble one message's top-level header block into an [`Observation`].

use super::{ExtractOptions, Observation};
use crate::input::RawMessage;

/// Extract the observation from one message's header block. Never fails: what cannot be
/// read becomes a note on the observation.
pub fn extract_message(message: &RawMessage, options: &ExtractOptions) -> Observation {
    let _ = options;
    Observation {
        source: message.source.clone(),
        locator: Some(message.locator.clone()),
        ..Observation::default()
    }
}
