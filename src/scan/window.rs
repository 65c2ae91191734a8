//! `--since` / `--until`: the arrival dates a run looks at, so that a nightly job can cover
//! yesterday only. Observations outside are skipped and counted; those without a date are
//! kept (and counted), since nothing says they are outside.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

/// A half-open range of arrival times: `since <= date < until`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateWindow {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Where a date falls relative to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Inside,
    Outside,
    /// The observation has no date: kept.
    Undated,
}

impl DateWindow {
    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    pub fn place(&self, date: Option<DateTime<Utc>>) -> Placement {
        let Some(date) = date else {
            return Placement::Undated;
        };
        let after_start = self.since.is_none_or(|since| date >= since);
        let before_end = self.until.is_none_or(|until| date < until);
        if after_start && before_end {
            Placement::Inside
        } else {
            Placement::Outside
        }
    }
}

/// Which end of the window a value is for: a day given to `--since` starts at its first
/// moment, a day given to `--until` ends after its last (so `--since yesterday --until
/// yesterday` is all of yesterday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Since,
    Until,
}

/// Parse a `--since`/`--until` value, with days in the time zone `zone` and durations
/// counted back from `now`:
/// - an RFC 3339 instant (`2026-12-06T00:00:00Z`, `2026-12-06T09:00:00+09:00`);
/// - a date (`2026-12-06`);
/// - `today`, `yesterday`;
/// - a duration back from now: a number and `s`, `m`, `h`, `d` or `w` (`24h`, `7d`).
///
/// Returns the instant the window starts (`Since`) or ends, exclusive (`Until`).
pub fn parse_bound<Tz: TimeZone>(
    text: &str,
    end: End,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let explain = || {
        format!(
            "{text:?} is not a time: give an RFC 3339 time (2026-12-06T00:00:00Z), a date \
             (2026-12-06), today, yesterday, or a duration back from now (24h, 7d)"
        )
    };
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    let today = now.with_timezone(zone).date_naive();
    let day = match text.to_ascii_lowercase().as_str() {
        "today" => Some(today),
        "yesterday" => today.pred_opt(),
        _ => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
    };
    if let Some(day) = day {
        let day = match end {
            End::Since => day,
            End::Until => day.succ_opt().ok_or_else(explain)?,
        };
        return start_of_day(day, zone).ok_or_else(explain);
    }
    let back = parse_duration(text).ok_or_else(explain)?;
    now.checked_sub_signed(back).ok_or_else(explain)
}

/// [`parse_bound`] with days in a log zone (`--log-timezone`: local, UTC or an IANA name).
pub fn parse_bound_in(
    text: &str,
    end: End,
    now: DateTime<Utc>,
    zone: crate::model::LogZone,
) -> Result<DateTime<Utc>, String> {
    use crate::model::LogZone;
    match zone {
        LogZone::Utc => parse_bound(text, end, now, &Utc),
        LogZone::Local => parse_bound(text, end, now, &chrono::Local),
        LogZone::Named(tz) => parse_bound(text, end, now, &tz),
    }
}

/// The first moment of `day` in `zone` (the first one that exists, on a day whose midnight
/// a daylight-saving change skips).
fn start_of_day<Tz: TimeZone>(day: NaiveDate, zone: &Tz) -> Option<DateTime<Utc>> {
    (0..=3).find_map(|hour| {
        let time = NaiveTime::from_hms_opt(hour, 0, 0)?;
        zone.from_local_datetime(&day.and_time(time))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// `24h`, `7d`, `2w`, `90m`, `3600s`.
fn parse_duration(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let n: i64 = number.parse().ok().filter(|n| *n <= 1_000_000)?;
    match unit.to_ascii_lowercase().as_str() {
        "s" => Some(Duration::seconds(n)),
        "m" | "min" => Some(Duration::minutes(n)),
        "h" => Some(Duration::hours(n)),
        "d" => Some(Duration::days(n)),
        "w" => Some(Duration::weeks(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T03:10:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn words_dates_and_durations() {
        let bound = |t: &str, e: End| parse_bound(t, e, now(), &Utc).unwrap();
        assert_eq!(bound("yesterday", End::Since), utc("2026-12-06T00:00:00Z"));
        assert_eq!(bound("yesterday", End::Until), utc("2026-12-07T00:00:00Z"));
        assert_eq!(bound("today", End::Since), utc("2026-12-07T00:00:00Z"));
        assert_eq!(bound("2026-11-30", End::Until), utc("2026-12-01T00:00:00Z"));
        assert_eq!(bound("24h", End::Since), utc("2026-12-06T03:10:00Z"));
        assert_eq!(bound("7d", End::Since), utc("2026-11-30T03:10:00Z"));
        assert_eq!(
            bound("2026-12-06T09:00:00+09:00", End::Until),
            utc("2026-12-06T00:00:00Z")
        );
        for bad in ["", "soon", "7y", "-3d", "2026-13-01", "99999999999d"] {
            assert!(parse_bound(bad, End::Since, now(), &Utc).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_are_in_the_given_zone() {
        let tokyo = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
        // 03:10 UTC is 12:10 in Tokyo: yesterday there began at 15:00 UTC two days ago.
        assert_eq!(
            parse_bound("yesterday", End::Since, now(), &tokyo).unwrap(),
            utc("2026-12-05T15:00:00Z")
        );
    }

    #[test]
    fn the_window_is_half_open_and_keeps_undated_rows() {
        let window = DateWindow {
            since: Some(utc("2026-12-06T00:00:00Z")),
            until: Some(utc("2026-12-07T00:00:00Z")),
        };
        assert_eq!(
            window.place(Some(utc("2026-12-06T00:00:00Z"))),
            Placement::Inside
        );
        assert_eq!(
            window.place(Some(utc("2026-12-06T23:59:59Z"))),
            Placement::Inside
        );
        assert_eq!(
            window.place(Some(utc("2026-12-07T00:00:00Z"))),
            Placement::Outside
        );
        assert_eq!(
            window.place(Some(utc("2026-12-05T23:59:59Z"))),
            Placement::Outside
        );
        assert_eq!(window.place(None), Placement::Undated);
        assert!(DateWindow::default().is_open());
    }
}
