//! Vocabulary shared by every stage: SPF result words and identities.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The seven results of `check_host()` (RFC 7208 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpfResult {
    None,
    Neutral,
    Pass,
    Fail,
    SoftFail,
    TempError,
    PermError,
}

impl SpfResult {
    /// The lower-case word used in headers and in our CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::None => "none",
            SpfResult::Neutral => "neutral",
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }

    /// Parse a result word as real writers spell it: any case, legacy RFC 4408 words
    /// `unknown` (-> permerror) and `error` (-> temperror), and `soft-fail`/`soft_fail`.
    pub fn parse_lenient(word: &str) -> Option<SpfResult> {
        let w = word.trim().trim_matches(|c: char| c == '"' || c == '\'');
        let lower = w.to_ascii_lowercase();
        Some(match lower.as_str() {
            "pass" => SpfResult::Pass,
            "fail" | "hardfail" => SpfResult::Fail,
            "softfail" | "soft-fail" | "soft_fail" => SpfResult::SoftFail,
            "neutral" => SpfResult::Neutral,
            "none" => SpfResult::None,
            "temperror" | "temp-error" | "temp_error" | "error" => SpfResult::TempError,
            "permerror" | "perm-error" | "perm_error" | "unknown" => SpfResult::PermError,
            _ => return None,
        })
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SpfResult {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpfResult::parse_lenient(s).ok_or_else(|| format!("not an SPF result: {s:?}"))
    }
}

/// Which identity an SPF check is about (RFC 7208 §2.3 HELO, §2.4 MAIL FROM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Identity {
    MailFrom,
    Helo,
}

impl Identity {
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::MailFrom => "mailfrom",
            Identity::Helo => "helo",
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Identity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mailfrom" | "mfrom" | "mail-from" | "mail_from" => Ok(Identity::MailFrom),
            "helo" | "ehlo" => Ok(Identity::Helo),
            other => Err(format!(
                "not an SPF identity: {other:?} (expected mailfrom or helo)"
            )),
        }
    }
}

/// The time zone of log timestamps that carry none (classic syslog `Mmm dd hh:mm:ss`, ISO
/// 8601 without an offset, ctime): the zone of the machine that wrote the log, which is
/// usually the machine reading it (`Local`, the command line's default), or a named zone
/// (`--log-timezone Asia/Tokyo`, `UTC`). The library's default is UTC, so that a result does
/// not depend on the machine it is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogZone {
    #[default]
    Utc,
    /// The zone of this machine (`TZ`, else `/etc/localtime`).
    Local,
    /// An IANA zone (tz database name).
    Named(chrono_tz::Tz),
}

impl LogZone {
    /// `UTC`, `local`, or an IANA name such as `Europe/Berlin` (any case).
    pub fn parse(text: &str) -> Result<LogZone, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("utc") || text.eq_ignore_ascii_case("z") {
            return Ok(LogZone::Utc);
        }
        if text.eq_ignore_ascii_case("local") {
            return Ok(LogZone::Local);
        }
        chrono_tz::Tz::from_str_insensitive(text)
            .map(LogZone::Named)
            .map_err(|_| {
                format!(
                    "{text:?} is not a time zone: give UTC, local, or an IANA name such as Europe/Berlin or Asia/Tokyo"
                )
            })
    }

    /// The instant a wall-clock time in this zone stands for. A time that occurs twice (the
    /// hour after a daylight-saving change back) is the first; one that a change forward
    /// skipped is read an hour later, as the clock then said. Years outside 1-9999 (which
    /// RFC 3339 cannot write) give no date.
    pub fn to_utc(self, naive: chrono::NaiveDateTime) -> Option<chrono::DateTime<chrono::Utc>> {
        use chrono::{TimeZone, Utc};
        fn convert<Tz: TimeZone>(
            zone: &Tz,
            naive: chrono::NaiveDateTime,
        ) -> Option<chrono::DateTime<Utc>> {
            zone.from_local_datetime(&naive)
                .earliest()
                .or_else(|| {
                    let later = naive.checked_add_signed(chrono::Duration::hours(1))?;
                    zone.from_local_datetime(&later).earliest()
                })
                .map(|t| t.with_timezone(&Utc))
        }
        let utc = match self {
            LogZone::Utc => Some(Utc.from_utc_datetime(&naive)),
            LogZone::Local => convert(&chrono::Local, naive),
            LogZone::Named(tz) => convert(&tz, naive),
        }?;
        use chrono::Datelike;
        (1..=9999).contains(&utc.year()).then_some(utc)
    }

    /// The `--log-timezone` value that names this zone.
    pub fn name(self) -> String {
        match self {
            LogZone::Utc => "UTC".into(),
            LogZone::Local => "local".into(),
            LogZone::Named(tz) => tz.name().into(),
        }
    }
}

/// Treat an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it carries
/// (RFC 7208 §5: "IPv4-mapped IPv6 addresses ... MUST be treated as IPv4").
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_words_normalise() {
        assert_eq!(
            SpfResult::parse_lenient("Unknown"),
            Some(SpfResult::PermError)
        );
        assert_eq!(
            SpfResult::parse_lenient("ERROR"),
            Some(SpfResult::TempError)
        );
        assert_eq!(
            SpfResult::parse_lenient("SoftFail"),
            Some(SpfResult::SoftFail)
        );
        assert_eq!(SpfResult::parse_lenient("bogus"), None);
    }

    #[test]
    fn log_zones() {
        let naive = chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let tokyo = LogZone::parse("asia/tokyo").unwrap();
        assert_eq!(tokyo.name(), "Asia/Tokyo");
        assert_eq!(
            tokyo.to_utc(naive).unwrap().to_rfc3339(),
            "2026-12-07T00:00:00+00:00"
        );
        assert_eq!(
            LogZone::parse("UTC")
                .unwrap()
                .to_utc(naive)
                .unwrap()
                .to_rfc3339(),
            "2026-12-07T09:00:00+00:00"
        );
        assert!(LogZone::parse("Mars/Olympus").is_err());
        // 02:30 on 29 March 2026 does not exist in Berlin (clocks go 02:00 -> 03:00).
        let gap = chrono::NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        let berlin = LogZone::parse("Europe/Berlin").unwrap();
        assert_eq!(
            berlin.to_utc(gap).unwrap().to_rfc3339(),
            "2026-03-29T01:30:00+00:00"
        );
    }

    #[test]
    fn mapped_ipv6_becomes_ipv4() {
        let ip: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(canonical_ip(ip).to_string(), "192.0.2.1");
    }
}
