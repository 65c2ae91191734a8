//! Dates as mail software writes them: RFC 5322 §3.3 `date-time` with the obsolete forms of
//! §4.3 (alphabetic and military zones, 2- and 3-digit years, missing weekday or seconds,
//! comments such as `(PST)`), and the asctime-style date of an mbox `From ` separator line.
//!
//! Parsing is lenient and order-tolerant: the value is cut into tokens (comments removed),
//! each token is classified (weekday, month name, number, time, zone) and the pieces are
//! put together. A value that does not yield a day, month, year and time gives `None`;
//! nothing here can panic, and the work is linear in the length of the value.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

use super::text::whitespace_len;

/// Parse an RFC 5322 date (`Thu, 16 May 2019 11:04:37 +0200 (CEST)`), its obsolete forms
/// (`1 Jan 96 12:00 EST`), or an asctime/mbox separator date (`Mon Jan  1 00:00:00 2024`).
///
/// Zones (RFC 5322 §4.3): `UT`, `GMT`, `Z` are +0000; `EST`/`EDT`/`CST`/`CDT`/`MST`/`MDT`/
/// `PST`/`PDT` have their US offsets; other single-letter military zones and unknown
/// alphabetic zones "SHOULD all be considered equivalent to -0000", i.e. UTC, and so is a
/// date without any zone. A 2-digit year is 2000+ below 50 and 1900+ otherwise, a 3-digit
/// year is 1900+ (RFC 5322 §4.3). A date whose UTC year falls outside 1-9999 (`31 Dec 9999
/// 23:59:59 -2359`) is `None`: RFC 3339, which the CSV writes, has four-digit years.
pub fn parse_date(value: &str) -> Option<DateTime<Utc>> {
    match parse_canonical(value) {
        Some(parsed) => parsed,
        None => parse_lenient(value),
    }
    .filter(|date| (1..=9999).contains(&date.year()))
}

/// The form nearly every receiver writes (RFC 5322 §3.3 with a numeric zone):
/// `[Wkd, ]D Mon YYYY HH:MM:SS +ZZZZ[ (comment)]`, read directly. `None` when the value is
/// not exactly that shape (then [`parse_lenient`] reads it); `Some(None)` when it is but
/// names no real date or time. Gives what [`parse_lenient`] gives for the same value.
fn parse_canonical(value: &str) -> Option<Option<DateTime<Utc>>> {
    let bytes = value.as_bytes();
    let mut at = 0usize;
    let blanks = |at: &mut usize| -> Option<()> {
        let start = *at;
        while matches!(bytes.get(*at), Some(b' ' | b'\t')) {
            *at += 1;
        }
        (*at > start).then_some(())
    };
    let digits = |at: &mut usize, min: usize, max: usize| -> Option<u32> {
        let start = *at;
        let mut n = 0u32;
        while let Some(&b) = bytes.get(*at).filter(|b| b.is_ascii_digit()) {
            if *at - start == max {
                return None;
            }
            n = n * 10 + u32::from(b - b'0');
            *at += 1;
        }
        (*at - start >= min).then_some(n)
    };
    let word3 = |at: &mut usize| -> Option<&str> {
        let word = value.get(*at..*at + 3)?;
        if !word.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        *at += 3;
        Some(word)
    };
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if bytes.first().is_some_and(u8::is_ascii_alphabetic) {
        let weekday = word3(&mut at)?;
        if !DAYS.iter().any(|d| weekday.eq_ignore_ascii_case(d)) || bytes.get(at) != Some(&b',') {
            return None;
        }
        at += 1;
        blanks(&mut at)?;
    }
    let day = digits(&mut at, 1, 2)?;
    blanks(&mut at)?;
    let month_word = word3(&mut at)?;
    let month = (1u32..)
        .zip(MONTHS)
        .find(|(_, m)| month_word.eq_ignore_ascii_case(m))
        .map(|(n, _)| n)?;
    blanks(&mut at)?;
    let year = digits(&mut at, 4, 4)?;
    blanks(&mut at)?;
    let hour = digits(&mut at, 2, 2)?;
    (bytes.get(at) == Some(&b':')).then_some(())?;
    at += 1;
    let minute = digits(&mut at, 2, 2)?;
    (bytes.get(at) == Some(&b':')).then_some(())?;
    at += 1;
    let second = digits(&mut at, 2, 2)?;
    blanks(&mut at)?;
    let sign = match bytes.get(at) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    at += 1;
    let zone = digits(&mut at, 4, 4)?;
    let (zone_hours, zone_minutes) = (zone / 100, zone % 100);
    // The rest: nothing, or one simple comment, with blanks around.
    let _ = blanks(&mut at);
    if bytes.get(at) == Some(&b'(') {
        let close = at + 1 + bytes.get(at + 1..)?.iter().position(|&b| b == b')')?;
        if bytes
            .get(at + 1..close)?
            .iter()
            .any(|&b| b == b'(' || b == b'\\')
        {
            return None;
        }
        at = close + 1;
        let _ = blanks(&mut at);
    }
    if at != bytes.len() {
        return None;
    }
    Some((|| {
        let time = NaiveTime::from_hms_opt(hour, minute, second.min(59))?;
        if zone_hours > 23 || zone_minutes > 59 {
            return None;
        }
        let offset = sign * i32::try_from(zone_hours * 3600 + zone_minutes * 60).ok()?;
        let year = i32::try_from(year).ok()?;
        let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_time(time);
        let local = FixedOffset::east_opt(offset)?
            .from_local_datetime(&naive)
            .single()?;
        Some(local.with_timezone(&Utc))
    })())
}

/// Any date shape: tokens are classified and put together (see the module documentation).
fn parse_lenient(value: &str) -> Option<DateTime<Utc>> {
    let mut day: Option<u32> = None;
    let mut month: Option<u32> = None;
    let mut year: Option<i32> = None;
    let mut time: Option<NaiveTime> = None;
    let mut numeric_zone: Option<i32> = None;
    let mut alpha_zone: Option<i32> = None;
    // Bare numbers in order of appearance: day and year (RFC 5322 "day month year",
    // asctime "month day time year").
    let mut numbers = Numbers::default();

    for token in tokens(value) {
        if token.contains(':') && token.starts_with(|c: char| c.is_ascii_digit()) {
            if time.is_none() {
                time = Some(parse_time(token)?);
            }
            continue;
        }
        if looks_like_numeric_zone(token) {
            // An out-of-range zone makes the whole date meaningless.
            numeric_zone.get_or_insert(parse_numeric_zone(token)?);
            continue;
        }
        if let Some((y, m, d)) = parse_iso_date(token) {
            year.get_or_insert(y);
            month.get_or_insert(m);
            day.get_or_insert(d);
            continue;
        }
        if token.bytes().all(|b| b.is_ascii_digit()) {
            if token.len() > 4 {
                return None;
            }
            let n: u32 = token.parse().ok()?;
            if !numbers.push((n, token.len())) {
                // Far more numbers than a date has: not a date.
                return None;
            }
            continue;
        }
        if let Some(m) = month_number(token) {
            month.get_or_insert(m);
            continue;
        }
        if is_weekday(token) {
            continue;
        }
        if let Some(offset) = alphabetic_zone(token) {
            alpha_zone.get_or_insert(offset);
        }
        // Anything else (unknown words) is ignored.
    }

    if year.is_none() || day.is_none() {
        let (d, y) = day_and_year(numbers.as_slice())?;
        day.get_or_insert(d);
        year.get_or_insert(y);
    }
    let date = NaiveDate::from_ymd_opt(year?, month?, day?)?;
    let naive = date.and_time(time?);
    let offset_seconds = numeric_zone.or(alpha_zone).unwrap_or(0);
    let zone = FixedOffset::east_opt(offset_seconds)?;
    let local = zone.from_local_datetime(&naive).single()?;
    Some(local.with_timezone(&Utc))
}

/// The bare numbers of a date, in order: at most four (a fifth means it is not a date).
#[derive(Default)]
struct Numbers {
    found: [(u32, usize); 4],
    len: usize,
}

impl Numbers {
    /// Add one; `false` when there would be more than four.
    fn push(&mut self, number: (u32, usize)) -> bool {
        match self.found.get_mut(self.len) {
            Some(slot) => {
                *slot = number;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn as_slice(&self) -> &[(u32, usize)] {
        self.found.get(..self.len).unwrap_or(&[])
    }
}

/// Split into tokens on whitespace and commas, with comments (nested, with quoted-pairs)
/// removed. Only ASCII bytes are special apart from non-ASCII whitespace, which is decoded
/// where it may start (see `text::whitespace_len`).
fn tokens(value: &str) -> impl Iterator<Item = &str> {
    let bytes = value.as_bytes();
    let mut i = 0usize;
    let mut depth = 0usize;
    let mut escaped = false;
    std::iter::from_fn(move || {
        let mut start: Option<usize> = None;
        while let Some(&b) = bytes.get(i) {
            if depth > 0 {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'(' {
                    depth += 1;
                } else if b == b')' {
                    depth -= 1;
                }
                i += 1;
                continue;
            }
            let space = whitespace_len(value, i);
            if space > 0 || b == b',' || b == b'(' {
                if b == b'(' {
                    depth = 1;
                }
                let end = i;
                i += space.max(1);
                if let Some(s) = start {
                    return value.get(s..end);
                }
                continue;
            }
            if start.is_none() {
                start = Some(i);
            }
            i += 1;
        }
        start.and_then(|s| value.get(s..))
    })
}

/// The day and the year among the bare numbers. RFC 5322 and asctime both give the day
/// first; a 4-digit first number is a year ("2024 Jan 5").
fn day_and_year(numbers: &[(u32, usize)]) -> Option<(u32, i32)> {
    let (&(first, first_len), &(second, second_len)) = (numbers.first()?, numbers.get(1)?);
    let (day, (year, year_len)) = if first_len >= 3 && second_len <= 2 {
        (second, (first, first_len))
    } else {
        (first, (second, second_len))
    };
    Some((day, expand_year(year, year_len)?))
}

/// RFC 5322 §4.3: 2-digit years 00-49 are 2000-2049, 50-99 are 1950-1999; 3-digit years
/// add 1900.
fn expand_year(year: u32, digits: usize) -> Option<i32> {
    let year = i32::try_from(year).ok()?;
    Some(match digits {
        1 | 2 if year < 50 => 2000 + year,
        1 | 2 => 1900 + year,
        3 => 1900 + year,
        _ => year,
    })
}

/// `hh:mm`, `hh:mm:ss`, and `hh:mm:ss.fraction` (fraction ignored). A leap second (60)
/// becomes 59.
fn parse_time(token: &str) -> Option<NaiveTime> {
    let mut parts = token.split(':');
    let hour: u32 = parse_small(parts.next()?)?;
    let minute: u32 = parse_small(parts.next()?)?;
    let second: u32 = match parts.next() {
        Some(s) => {
            let whole = s.split('.').next().unwrap_or(s);
            parse_small(whole)?
        }
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    NaiveTime::from_hms_opt(hour, minute, second.min(59))
}

fn parse_small(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn looks_like_numeric_zone(token: &str) -> bool {
    let bytes = token.as_bytes();
    matches!(bytes.first(), Some(b'+' | b'-')) && bytes.get(1).is_some_and(u8::is_ascii_digit)
}

/// `+hhmm`, `-hhmm` (RFC 5322 §3.3), also `+hh:mm` and `+hh`. Returns seconds east of UTC.
fn parse_numeric_zone(token: &str) -> Option<i32> {
    let (sign, rest) = match token.as_bytes().first()? {
        b'+' => (1, token.get(1..)?),
        b'-' => (-1, token.get(1..)?),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|&c| c != ':').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits.get(..2)?.parse::<i32>().ok()?,
            digits.get(2..)?.parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

/// `YYYY-MM-DD` (some mbox writers), optionally followed by `T...` which is ignored here
/// (the time part is a separate token only when written with a space).
fn parse_iso_date(token: &str) -> Option<(i32, u32, u32)> {
    let date = token.split(['T', 't']).next()?;
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() > 2 || d.len() > 2 {
        return None;
    }
    if ![y, m, d]
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some((y.parse().ok()?, m.parse().ok()?, d.parse().ok()?))
}

fn month_number(token: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    // "Jan", "January", "Sept": at least three letters, all of them the month name's start
    // (the first three tell the months apart).
    let token = token.trim_end_matches('.');
    if token.len() < 3 {
        return None;
    }
    (1u32..)
        .zip(MONTHS)
        .find(|(_, name)| starts_with_ignore_case(name, token))
        .map(|(n, _)| n)
}

fn is_weekday(token: &str) -> bool {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let token = token.trim_end_matches('.');
    token.len() >= 3 && DAYS.iter().any(|day| starts_with_ignore_case(day, token))
}

/// `name` (lower-case ASCII) starts with `token`, ignoring ASCII case.
fn starts_with_ignore_case(name: &str, token: &str) -> bool {
    name.as_bytes()
        .get(..token.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(token.as_bytes()))
}

/// RFC 5322 §4.3 obsolete zones, in seconds east of UTC.
fn alphabetic_zone(token: &str) -> Option<i32> {
    const ZONES: [(&str, i32); 12] = [
        ("UT", 0),
        ("UTC", 0),
        ("GMT", 0),
        ("Z", 0),
        ("EDT", -4),
        ("EST", -5),
        ("CDT", -5),
        ("CST", -6),
        ("MDT", -6),
        ("MST", -7),
        ("PDT", -7),
        ("PST", -8),
    ];
    let hours = if let Some(&(_, hours)) = ZONES
        .iter()
        .find(|(zone, _)| token.eq_ignore_ascii_case(zone))
    {
        hours
    } else if token.len() == 1 && token.bytes().all(|b| b.is_ascii_alphabetic()) {
        // Military zones: RFC 5322 says to treat them as -0000 (RFC 822 had the sign
        // backwards, so their values cannot be trusted).
        0
    } else {
        return None;
    };
    Some(hours * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(value: &str) -> Option<String> {
        parse_date(value).map(|d| d.to_rfc3339())
    }

    /// The char-by-char tokenizer `tokens` replaced, as the reference.
    fn tokens_reference(value: &str) -> Vec<&str> {
        let mut depth = 0usize;
        let mut escaped = false;
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut start: Option<usize> = None;
        for (i, c) in value.char_indices() {
            if depth > 0 {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '(' {
                    depth += 1;
                } else if c == ')' {
                    depth -= 1;
                }
                continue;
            }
            if c.is_whitespace() || c == ',' || c == '(' {
                if let Some(s) = start.take() {
                    spans.push((s, i));
                }
                if c == '(' {
                    depth = 1;
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            spans.push((s, value.len()));
        }
        spans.into_iter().map(|(s, e)| &value[s..e]).collect()
    }

    #[test]
    fn canonical_fast_path_agrees_with_the_lenient_reader() {
        let pieces: [&[&str]; 9] = [
            &[
                "",
                "Wed, ",
                "wed,  ",
                "Thu,\t",
                "Xyz, ",
                "Wed ",
                "Wednesday, ",
            ],
            &["6", "06", "31", "0", "123", "29"],
            &[" ", "  ", "\t"],
            &["May", "FEB", "jan", "Sept", "Foo"],
            &[" 2024 ", " 1999 ", " 24 ", " 2024"],
            &[
                "05:49:53", "23:59:60", "24:00:00", "5:49:53", "05:49", "00:00:00",
            ],
            &[" ", "\t"],
            &[
                "+0000", "-0800", "+2400", "+0060", "+00", "-0000", "+01:00", "EST",
            ],
            &[
                "", " (UTC)", " (CEST) ", "(x)", " (a (b))", " (\\))", " (open", " )", " (UTC) x",
            ],
        ];
        let mut state = 0x5851_f42d_4c95_7f2du64;
        let mut fast = 0;
        for _ in 0..50_000 {
            let mut value = String::new();
            for (k, options) in pieces.iter().enumerate() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                value.push_str(
                    options[(state.rotate_left(k as u32) % options.len() as u64) as usize],
                );
            }
            if let Some(parsed) = parse_canonical(&value) {
                fast += 1;
                assert_eq!(parsed, parse_lenient(&value), "{value:?}");
            }
        }
        assert!(fast > 1_000, "{fast}");
        assert!(parse_canonical("Wed, 6 May 2024 05:49:53 +0000 (UTC)").is_some());
    }

    #[test]
    fn byte_tokenizer_matches_char_tokenizer() {
        let alphabet = [
            "a", "1", " ", "\t", ",", "(", ")", "\\", ":", "\u{a0}", "\u{2003}", "é", "\u{85}",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut value = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for k in 0..(state % 24) {
                let pick = state.rotate_left(k as u32 * 7) % alphabet.len() as u64;
                value.push_str(alphabet[pick as usize]);
            }
            assert_eq!(
                tokens(&value).collect::<Vec<_>>(),
                tokens_reference(&value),
                "{value:?}"
            );
        }
        for word in ["jan", "JANUARY", "Sept.", "ja", "janx", "mayo", "DEC"] {
            let reference = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ]
            .iter()
            .position(|m| word.to_ascii_lowercase().starts_with(m))
            .filter(|&n| {
                let full = [
                    "january",
                    "february",
                    "march",
                    "april",
                    "may",
                    "june",
                    "july",
                    "august",
                    "september",
                    "october",
                    "november",
                    "december",
                ];
                full[n].starts_with(word.trim_end_matches('.').to_ascii_lowercase().as_str())
            })
            .map(|n| n as u32 + 1);
            assert_eq!(month_number(word), reference, "{word}");
        }
        assert_eq!(alphabetic_zone("pst"), Some(-8 * 3600));
        assert_eq!(alphabetic_zone("q"), Some(0));
        assert_eq!(alphabetic_zone("CEST"), None);
        assert!(is_weekday("THU") && is_weekday("thursday.") && !is_weekday("th"));
    }

    #[test]
    fn rfc5322_dates() {
        assert_eq!(
            utc("Thu, 16 May 2019 11:04:37 +0200 (CEST)").as_deref(),
            Some("2019-05-16T09:04:37+00:00")
        );
        assert_eq!(
            utc("Thu,  1 Dec 2016 22:35:06 -0500 (EST)").as_deref(),
            Some("2016-12-02T03:35:06+00:00")
        );
        assert_eq!(
            utc("Mon, 19 Feb\n 2024 03:13:19 +0000").as_deref(),
            Some("2024-02-19T03:13:19+00:00")
        );
    }

    #[test]
    fn obsolete_forms() {
        // No weekday, no seconds, 2-digit year, alphabetic zone.
        assert_eq!(
            utc("1 Jan 96 12:00 EST").as_deref(),
            Some("1996-01-01T17:00:00+00:00")
        );
        assert_eq!(
            utc("Sat, 24 Jan 15 19:35:19 PDT").as_deref(),
            Some("2015-01-25T02:35:19+00:00")
        );
        assert_eq!(
            utc("24 Jan 115 19:35:19 GMT").as_deref(),
            Some("2015-01-24T19:35:19+00:00")
        );
        assert_eq!(
            utc("24 Jan 2015 19:35:19 UT").as_deref(),
            Some("2015-01-24T19:35:19+00:00")
        );
        // Military zone: treated as -0000.
        assert_eq!(
            utc("24 Jan 2015 19:35:19 Q").as_deref(),
            Some("2015-01-24T19:35:19+00:00")
        );
        // Comment in the middle, numeric zone wins over a bare alphabetic one.
        assert_eq!(
            utc("Tue, (comment (nested)) 17 May 2022 13:45:50 -0700 PDT").as_deref(),
            Some("2022-05-17T20:45:50+00:00")
        );
        assert_eq!(
            utc("Sat, 24 Jan 2015 19:35:19 -0800 (PST)").as_deref(),
            Some("2015-01-25T03:35:19+00:00")
        );
    }

    #[test]
    fn mbox_separator_dates() {
        assert_eq!(
            utc("Mon Jan  1 00:00:00 2024").as_deref(),
            Some("2024-01-01T00:00:00+00:00")
        );
        assert_eq!(
            utc("Sat Jan 24 19:35:19 +0100 2015").as_deref(),
            Some("2015-01-24T18:35:19+00:00")
        );
        assert_eq!(
            utc("2024-03-05 10:11:12").as_deref(),
            Some("2024-03-05T10:11:12+00:00")
        );
    }

    #[test]
    fn unparsable_is_none() {
        for bad in [
            "",
            "yesterday",
            "31 Feb 2024 10:00:00 +0000",
            "1 Jan 2024 25:00:00 +0000",
            "1 Jan 2024",
            "1 Foo 2024 10:00:00",
            "1 Jan 2024 10:00:00 +9999",
            "1 2 3 4 5 6 7 Jan 10:00",
            "((((unterminated",
            "99999999999999999999 Jan 2024 10:00",
            // The zone moves these out of the four-digit years of RFC 3339.
            "31 Dec 9999 23:59:59 -2359",
            "Fri, 31 Dec 9999 23:00 PST",
            "1 Jan 0000 00:00:00 +0001",
            "Sat, 1 Jan 0001 00:00:00 +0100",
        ] {
            assert_eq!(utc(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn long_input_is_linear() {
        let long = "(".repeat(1 << 20);
        assert_eq!(utc(&long), None);
        let words = "x ".repeat(1 << 19);
        assert_eq!(utc(&words), None);
    }
}
