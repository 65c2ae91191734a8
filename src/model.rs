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
    fn mapped_ipv6_becomes_ipv4() {
        let ip: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(canonical_ip(ip).to_string(), "192.0.2.1");
    }
}
