//! mbox (mboxo/mboxrd, LF or CRLF): recognise `From SENDER DATE` separator lines and split
//! a chunk of a mailbox into messages, keeping only each message's header block.
//!
//! The format has no length fields (RFC 4155 §2 describes the family): a message starts at a
//! line beginning `From ` that is followed by an envelope sender and a date. Bodies are
//! supposed to escape their own `From ` lines as `>From `, but real mailboxes do not always,
//! so a line only counts as a separator when it looks like one.

use std::sync::{Arc, LazyLock};

use memchr::memchr;
use memchr::memmem::Finder;

use super::split::{HeaderEnd, find_header_end, trim_eol};

/// What a separator line says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Separator {
    /// The envelope sender as written (`MAILER-DAEMON`, `-`, an address); `None` when absent.
    pub sender: Option<String>,
    /// The date as written.
    pub date: Option<String>,
}

/// A separator line longer than this is not a separator (real ones are under 200 bytes).
const MAX_SEPARATOR_LINE: usize = 1000;

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Parse a `From ` line. With `lenient` (the first line of a file that starts like an mbox)
/// any `From ` line is accepted; otherwise the rest of the line must be a sender token and
/// something that looks like a date (asctime as written by most MDAs, RFC 5322 dates, ISO
/// 8601), so that a stray `From the desk of...` in an unescaped body does not split.
pub fn parse_separator(line: &[u8], lenient: bool) -> Option<Separator> {
    let line = trim_eol(line);
    let rest = line.strip_prefix(b"From ")?;
    if !lenient && line.len() > MAX_SEPARATOR_LINE {
        return None;
    }
    let text = String::from_utf8_lossy(rest);
    let (sender, date) = split_sender(&text);
    let date = date.trim();
    if !lenient && !looks_like_date(date) {
        return None;
    }
    Some(Separator {
        sender: sender.filter(|s| !s.is_empty()).map(str::to_string),
        date: (!date.is_empty()).then(|| date.to_string()),
    })
}

/// Split the text after `From ` into the sender token and the rest. An empty sender shows as
/// a second space (`From  Fri Jul ...`); a missing one as a weekday followed by a month.
fn split_sender(text: &str) -> (Option<&str>, &str) {
    if text.starts_with([' ', '\t']) || text.is_empty() {
        return (None, text);
    }
    let end = if let Some(quoted) = text.strip_prefix('"') {
        // A quoted local part may hold spaces: `"john smith"@example.com`.
        match quoted.find('"') {
            Some(close) => {
                let after = 1 + close + 1;
                after
                    + text[after..]
                        .find([' ', '\t'])
                        .unwrap_or(text.len() - after)
            }
            None => text.find([' ', '\t']).unwrap_or(text.len()),
        }
    } else {
        text.find([' ', '\t']).unwrap_or(text.len())
    };
    let (sender, rest) = text.split_at(end);
    let bare_weekday = WEEKDAYS.iter().any(|d| sender.eq_ignore_ascii_case(d));
    let next_is_month = rest
        .split_ascii_whitespace()
        .next()
        .is_some_and(|t| MONTHS.iter().any(|m| t.eq_ignore_ascii_case(m)));
    if bare_weekday && next_is_month {
        return (None, text);
    }
    (Some(sender), rest)
}

/// Does this look like the date part of a separator line: it starts with a weekday, a month
/// or a digit, and it holds a time (`H:MM`) and a four-digit year?
fn looks_like_date(date: &str) -> bool {
    if date.is_empty() || date.len() > 200 {
        return false;
    }
    let mut tokens = date
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|t| !t.is_empty());
    let Some(first) = tokens.next() else {
        return false;
    };
    let first_ok = first.starts_with(|c: char| c.is_ascii_digit())
        || (first.len() == 3
            && (WEEKDAYS.iter().any(|d| first.eq_ignore_ascii_case(d))
                || MONTHS.iter().any(|m| first.eq_ignore_ascii_case(m))));
    if !first_ok {
        return false;
    }
    let has_year = std::iter::once(first)
        .chain(tokens)
        .any(|t| leading_year(t).is_some_and(|y| (1900..=2199).contains(&y)));
    has_year && has_time(date.as_bytes())
}

/// The number made by a token's leading digits, when there are exactly four of them.
fn leading_year(token: &str) -> Option<u32> {
    let digits = token.bytes().take_while(u8::is_ascii_digit).count();
    if digits != 4 {
        return None;
    }
    token.get(..4)?.parse().ok()
}

/// Is there an `H:MM` or `HH:MM` somewhere (not part of a longer number)?
fn has_time(s: &[u8]) -> bool {
    s.iter().enumerate().any(|(i, &b)| {
        if b != b':' {
            return false;
        }
        let before = s[..i]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let after = s
            .get(i + 1..)
            .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count());
        (1..=2).contains(&before) && after == 2
    })
}

static SEPARATOR_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\nFrom "));

/// One separator line found in a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeparatorAt {
    /// Offset of the `F` of `From ` in the chunk.
    pub pos: usize,
    /// Offset just past the line (after its `\n`, or the chunk's end at end of file).
    pub line_end: usize,
    pub separator: Separator,
}

/// Find every separator line in `data`. `data[0]` starts a line unless `starts_mid_line`;
/// `at_file_start` means `data[0]` is the first byte of the file (the first `From ` line
/// there is taken whatever follows it, after optional blank lines); `at_eof` means the last
/// line may lack its `\n`.
pub(crate) fn find_separators(
    data: &[u8],
    starts_mid_line: bool,
    at_file_start: bool,
    at_eof: bool,
) -> Vec<SeparatorAt> {
    let mut found: Vec<SeparatorAt> = Vec::new();
    let consider = |pos: usize, found: &mut Vec<SeparatorAt>| {
        let Some(rest) = data.get(pos..) else {
            return;
        };
        let line_end = match memchr(b'\n', rest) {
            Some(i) => pos + i + 1,
            None if at_eof => data.len(),
            // The line goes on in the next chunk: only absurdly long lines get here.
            None => return,
        };
        let lenient = at_file_start
            && found.is_empty()
            && data[..pos].iter().all(|b| b.is_ascii_whitespace());
        if let Some(separator) = parse_separator(&data[pos..line_end], lenient) {
            found.push(SeparatorAt {
                pos,
                line_end,
                separator,
            });
        }
    };
    if !starts_mid_line && data.starts_with(b"From ") {
        consider(0, &mut found);
    }
    for hit in SEPARATOR_FINDER.find_iter(data) {
        consider(hit + 1, &mut found);
    }
    found
}

/// How a message's header block came to an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockEnd {
    /// At the empty line (the normal case).
    Blank,
    /// At the next separator line: a message without a body.
    Separator,
    /// Cut at the header cap.
    Capped,
    /// At the end of the file, inside the header block.
    EndOfFile,
    /// A file that is one message ended before any empty line: a message without a body.
    WholeFile,
}

/// One message whose header block is complete within a chunk.
#[derive(Debug)]
pub(crate) struct FoundMessage<'a> {
    pub offset: u64,
    pub separator: Separator,
    pub header: &'a [u8],
    pub end: BlockEnd,
}

/// A message whose header block reaches the end of its chunk and goes on in the next.
#[derive(Debug, Clone)]
pub(crate) struct OpenMessage {
    pub source: Arc<str>,
    pub offset: u64,
    pub separator: Separator,
    pub header: Vec<u8>,
}

/// What splitting one chunk gives.
#[derive(Debug)]
pub(crate) struct ChunkSplit<'a> {
    /// Where the first separator starts (the chunk's length when there is none). The bytes
    /// before it belong to the message before (its body, or the rest of its header block).
    pub first_separator: usize,
    pub messages: Vec<FoundMessage<'a>>,
    /// The last message, when its header block goes on past the chunk.
    pub open: Option<(u64, Separator, &'a [u8])>,
}

/// Split one chunk (`base` = its offset in the file) into messages. Bodies are skipped:
/// the only work done on them is the separator search.
pub(crate) fn split_chunk(
    data: &[u8],
    base: u64,
    starts_mid_line: bool,
    at_file_start: bool,
    at_eof: bool,
    header_cap: usize,
) -> ChunkSplit<'_> {
    let separators = find_separators(data, starts_mid_line, at_file_start, at_eof);
    let first_separator = separators.first().map_or(data.len(), |s| s.pos);
    let mut messages = Vec::with_capacity(separators.len());
    let mut open = None;
    for (i, sep) in separators.iter().enumerate() {
        let next = separators.get(i + 1).map(|s| s.pos);
        let region = data
            .get(sep.line_end..next.unwrap_or(data.len()))
            .unwrap_or(&[]);
        let offset = base + sep.pos as u64;
        let (header, end) = match find_header_end(region, true, header_cap) {
            HeaderEnd::Blank(n) => (&region[..n], BlockEnd::Blank),
            HeaderEnd::Capped(n) => (&region[..n], BlockEnd::Capped),
            HeaderEnd::Open if next.is_some() => (region, BlockEnd::Separator),
            HeaderEnd::Open if at_eof => (region, BlockEnd::EndOfFile),
            HeaderEnd::Open => {
                open = Some((offset, sep.separator.clone(), region));
                continue;
            }
        };
        messages.push(FoundMessage {
            offset,
            separator: sep.separator.clone(),
            header,
            end,
        });
    }
    ChunkSplit {
        first_separator,
        messages,
        open,
    }
}

/// Go on with a header block that was open at the end of the previous chunk, over the
/// bytes before this chunk's first separator. Returns how it ended, or `None` when it is
/// still open (the whole chunk was header and no separator came).
pub(crate) fn continue_open(
    open: &mut OpenMessage,
    prefix: &[u8],
    separator_follows: bool,
    at_eof: bool,
    header_cap: usize,
) -> Option<BlockEnd> {
    let at_line_start = open.header.is_empty() || open.header.ends_with(b"\n");
    let budget = header_cap.saturating_sub(open.header.len());
    // The block so far ends with whole lines: a cap that falls inside this piece's first
    // line keeps none of it (as it would if the block were in one piece), instead of the
    // cut-at-the-budget that `find_header_end` falls back to without an earlier line.
    let whole_lines_so_far = at_line_start && !open.header.is_empty();
    let (taken, end) = match find_header_end(prefix, at_line_start, budget) {
        HeaderEnd::Blank(n) => (n, Some(BlockEnd::Blank)),
        HeaderEnd::Capped(n) => {
            let ends_line = n == 0 || prefix.get(n - 1) == Some(&b'\n');
            let n = if whole_lines_so_far && !ends_line {
                0
            } else {
                n
            };
            (n, Some(BlockEnd::Capped))
        }
        HeaderEnd::Open if separator_follows => (prefix.len(), Some(BlockEnd::Separator)),
        HeaderEnd::Open if at_eof => (prefix.len(), Some(BlockEnd::EndOfFile)),
        HeaderEnd::Open => (prefix.len(), None),
    };
    open.header.extend_from_slice(&prefix[..taken]);
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sep(line: &str) -> Option<Separator> {
        parse_separator(line.as_bytes(), false)
    }

    #[test]
    fn real_world_separators() {
        let s = sep("From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n").unwrap();
        assert_eq!(s.sender.as_deref(), Some("MAILER-DAEMON"));
        assert_eq!(s.date.as_deref(), Some("Fri Jul  8 12:08:34 2011"));
        let s = sep("From - Mon Jan 1 00:00:00 2001\r\n").unwrap();
        assert_eq!(s.sender.as_deref(), Some("-"));
        assert_eq!(s.date.as_deref(), Some("Mon Jan 1 00:00:00 2001"));
        let s = sep("From a@b.c Sat, 1 Jan 2022 10:00:00 +0000").unwrap();
        assert_eq!(s.sender.as_deref(), Some("a@b.c"));
        assert_eq!(s.date.as_deref(), Some("Sat, 1 Jan 2022 10:00:00 +0000"));
        for ok in [
            "From a@b.c Sat Jan  1 10:00:00 +0000 2022",
            "From a@b.c Sat Jan 01 10:00:00 EST 2022",
            "From a@b.c Sat Jan  1 10:00 2022",
            "From a@b.c  Sat Jan  1 10:00:00 2022",
            "From a@b.c Sat Jan  1 10:00:00 2022 remote from uucphost",
            "From a@b.c 2022-01-01T10:00:00Z",
            "From a@b.c 1 Jan 2022 10:00:00 +0000",
            "From <> Sat Jan  1 10:00:00 2022",
            "From \"john smith\"@example.com Sat Jan  1 10:00:00 2022",
        ] {
            assert!(sep(ok).is_some(), "{ok}");
        }
        let s = sep("From \"john smith\"@example.com Sat Jan  1 10:00:00 2022").unwrap();
        assert_eq!(s.sender.as_deref(), Some("\"john smith\"@example.com"));
    }

    #[test]
    fn missing_sender() {
        let s = sep("From  Fri Jul  8 12:08:34 2011").unwrap();
        assert_eq!(s.sender, None);
        assert_eq!(s.date.as_deref(), Some("Fri Jul  8 12:08:34 2011"));
        let s = sep("From Fri Jul  8 12:08:34 2011").unwrap();
        assert_eq!(s.sender, None);
        assert_eq!(s.date.as_deref(), Some("Fri Jul  8 12:08:34 2011"));
    }

    #[test]
    fn body_lines_are_not_separators() {
        for body in [
            "From the desk of the president",
            "From here on, call me at 10:30 in 2022",
            "From me Monday at 10:30 2022",
            "From: someone@example.com",
            "From a@b.c",
            "From a@b.c Sat Jan  1 2022",
            "From a@b.c Sat Jan  1 10:00:00",
            "From 2 to 3 pm, 10:30 2022",
            ">From a@b.c Sat Jan  1 10:00:00 2022",
            "from a@b.c Sat Jan  1 10:00:00 2022",
        ] {
            assert_eq!(sep(body), None, "{body}");
        }
        let long = format!("From a@b.c Sat Jan  1 10:00:00 2022 {}", "x".repeat(2000));
        assert_eq!(sep(&long), None);
    }

    #[test]
    fn lenient_takes_any_from_line() {
        let s = parse_separator(b"From somebody\n", true).unwrap();
        assert_eq!(s.sender.as_deref(), Some("somebody"));
        assert_eq!(s.date, None);
        assert!(parse_separator(b"From \xff\xfe\0 junk", true).is_some());
    }

    #[test]
    fn split_keeps_headers_and_skips_bodies() {
        let mbox = b"From a@b Sat Jan  1 10:00:00 2022\nA: 1\n\nbody\nFrom the desk\n>From x\n\
From c@d Sat Jan  1 10:00:01 2022\nB: 2\nFrom e@f Sat Jan  1 10:00:02 2022\nC: 3\n";
        let split = split_chunk(mbox, 100, false, true, true, 1000);
        assert_eq!(split.first_separator, 0);
        let found: Vec<(u64, &[u8], BlockEnd)> = split
            .messages
            .iter()
            .map(|m| (m.offset, m.header, m.end))
            .collect();
        assert_eq!(
            found,
            vec![
                (100, &b"A: 1\n"[..], BlockEnd::Blank),
                (167, &b"B: 2\n"[..], BlockEnd::Separator),
                (206, &b"C: 3\n"[..], BlockEnd::EndOfFile),
            ]
        );
        assert!(split.open.is_none());
    }

    #[test]
    fn open_header_at_chunk_end() {
        let chunk = b"tail of body\nFrom a@b Sat Jan  1 10:00:00 2022\nA: 1\nB: 2\n";
        let split = split_chunk(chunk, 0, false, false, false, 1000);
        assert_eq!(split.first_separator, 13);
        assert!(split.messages.is_empty());
        let (offset, _, header) = split.open.unwrap();
        assert_eq!(offset, 13);
        assert_eq!(header, b"A: 1\nB: 2\n");

        let mut open = OpenMessage {
            source: Arc::from("x"),
            offset,
            separator: Separator::default(),
            header: header.to_vec(),
        };
        assert_eq!(
            continue_open(&mut open, b"C: 3\n", false, false, 1000),
            None
        );
        assert_eq!(
            continue_open(&mut open, b"D: 4\n\nbody", true, false, 1000),
            Some(BlockEnd::Blank)
        );
        assert_eq!(open.header, b"A: 1\nB: 2\nC: 3\nD: 4\n");
    }

    #[test]
    fn continue_open_caps_at_a_line_end() {
        // The cap falls inside the first line of the next piece: that line is not taken.
        let mut open = OpenMessage {
            source: Arc::from("x"),
            offset: 0,
            separator: Separator::default(),
            header: b"A: 1\n".to_vec(),
        };
        assert_eq!(
            continue_open(&mut open, b"B: 22222\nC: 3\n\n", false, false, 8),
            Some(BlockEnd::Capped)
        );
        assert_eq!(open.header, b"A: 1\n");
    }

    #[test]
    fn continue_open_caps() {
        let mut open = OpenMessage {
            source: Arc::from("x"),
            offset: 0,
            separator: Separator::default(),
            header: b"A: 1\n".to_vec(),
        };
        assert_eq!(
            continue_open(&mut open, b"B: 2\nC: 3\n\n", false, false, 12),
            Some(BlockEnd::Capped)
        );
        assert_eq!(open.header, b"A: 1\nB: 2\n");
    }
}
