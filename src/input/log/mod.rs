//! MTA logs (Postfix + policyd-spf, Exim, rspamd, Sendmail + smf-spf, ...): lines that record
//! SPF verdicts, correlated into one observation per transaction.

use std::io::BufRead;
use std::sync::Arc;

use super::Item;
use crate::extract::ExtractOptions;

/// Does this start of a file look like an MTA log (rather than a message or mailbox)?
pub fn looks_like_log(head: &[u8]) -> bool {
    let _ = head;
    false
}

/// Read one log (already decompressed) and emit one item per recorded SPF verdict, in log
/// order. `mtime_year` is the year of the file's modification time (for syslog timestamps
/// without a year) when `options.log_year` is not set.
pub fn read_log(
    source: Arc<str>,
    reader: &mut dyn BufRead,
    options: &ExtractOptions,
    mtime_year: Option<i32>,
    sink: &mut dyn FnMut(Item),
) -> std::io::Result<u64> {
    let _ = (source, reader, options, mtime_year, sink);
    Ok(0)
}
