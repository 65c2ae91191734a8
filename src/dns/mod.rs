//! DNS is injected, never global: every SPF evaluation asks through the `Lookup` trait.
//!
//! Implementations: [`memory::MemoryZone`] (tests), [`zonefile`] (`--zone`, RFC 1035 master
//! files, loaded into a `MemoryZone`), [`resolver`] (hickory, system configuration or
//! `--nameserver`), wrapped in the per-run [`cache`] that asks each (name, type) once and
//! merges identical queries in flight. [`server`] serves a zone over UDP and TCP for tests
//! and benchmarks.

pub mod cache;
pub mod memory;
pub mod overlay;
pub mod resolver;
pub mod server;
pub mod zonefile;

use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Arc;

/// The record types SPF needs (RFC 7208 §4.4, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    A,
    Aaaa,
    Mx,
    Txt,
    Ptr,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Ptr => "PTR",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One MX record (RFC 1035 §3.3.9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mx {
    pub preference: u16,
    /// Exchange host name, lower-case, without the trailing dot.
    pub exchange: String,
}

/// The character-strings of one TXT record, in order (RFC 1035 §3.3.14). SPF joins them
/// without separators (RFC 7208 §3.3).
pub type TxtStrings = Vec<Vec<u8>>;

/// A successful answer. An empty list is "no data" (the name exists, but not with this type);
/// NXDOMAIN is [`DnsError::NxDomain`], so the two stay apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    A(Vec<Ipv4Addr>),
    Aaaa(Vec<Ipv6Addr>),
    Mx(Vec<Mx>),
    Txt(Vec<TxtStrings>),
    /// PTR target names, lower-case, without the trailing dot.
    Ptr(Vec<String>),
}

impl Answer {
    /// An empty answer of the given type ("no data").
    pub fn empty(rtype: RecordType) -> Answer {
        match rtype {
            RecordType::A => Answer::A(Vec::new()),
            RecordType::Aaaa => Answer::Aaaa(Vec::new()),
            RecordType::Mx => Answer::Mx(Vec::new()),
            RecordType::Txt => Answer::Txt(Vec::new()),
            RecordType::Ptr => Answer::Ptr(Vec::new()),
        }
    }

    pub fn record_type(&self) -> RecordType {
        match self {
            Answer::A(_) => RecordType::A,
            Answer::Aaaa(_) => RecordType::Aaaa,
            Answer::Mx(_) => RecordType::Mx,
            Answer::Txt(_) => RecordType::Txt,
            Answer::Ptr(_) => RecordType::Ptr,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Answer::A(v) => v.len(),
            Answer::Aaaa(v) => v.len(),
            Answer::Mx(v) => v.len(),
            Answer::Txt(v) => v.len(),
            Answer::Ptr(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a query produced no answer. Timeouts and server failures are their own errors so
/// that SPF can turn them into `temperror` with a reason (RFC 7208 §5, §4.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name does not exist (RCODE 3).
    #[error("NXDOMAIN")]
    NxDomain,
    /// No answer within the configured time.
    #[error("timed out")]
    Timeout,
    /// The server answered SERVFAIL (RCODE 2), or REFUSED and friends.
    #[error("server failure ({0})")]
    ServerFailure(String),
    /// The name cannot be queried at all (empty label, label over 63 octets, name over 253).
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// Anything else: network unreachable, malformed response, ...
    #[error("{0}")]
    Other(String),
}

impl DnsError {
    pub fn is_nx_domain(&self) -> bool {
        matches!(self, DnsError::NxDomain)
    }
    pub fn is_timeout(&self) -> bool {
        matches!(self, DnsError::Timeout)
    }
    /// The resolver itself could not be reached or would not answer: a timeout, a network
    /// error (connection refused, unreachable), or REFUSED. Not NXDOMAIN, not SERVFAIL (a
    /// domain's own servers failing), not a name that cannot be asked.
    pub fn is_unreachable(&self) -> bool {
        match self {
            DnsError::Timeout | DnsError::Other(_) => true,
            DnsError::ServerFailure(code) => code == "REFUSED",
            DnsError::NxDomain | DnsError::InvalidName(_) => false,
        }
    }
    /// Errors that RFC 7208 treats as "the DNS could not answer" (temperror), as opposed to
    /// NXDOMAIN, which is an answer.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DnsError::Timeout | DnsError::ServerFailure(_) | DnsError::Other(_)
        )
    }
}

pub type LookupResult = Result<Arc<Answer>, DnsError>;
pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = LookupResult> + Send + 'a>>;

/// Ask the DNS one question. `name` is compared case-insensitively; a trailing dot is
/// optional. Implementations follow CNAME chains themselves.
pub trait Lookup: Send + Sync {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a>;
}

impl<T: Lookup + ?Sized> Lookup for Arc<T> {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        (**self).lookup(name, rtype)
    }
}

impl<T: Lookup + ?Sized> Lookup for &T {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        (**self).lookup(name, rtype)
    }
}

/// Normalise a query name to the form every implementation keys on: lower-case ASCII,
/// no trailing dot.
pub fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// How the run gets its DNS answers (resolved from `--zone`, `--nameserver`, ...).
#[derive(Debug, Clone, Default)]
pub struct DnsConfig {
    /// Zone files to answer from; when non-empty, no network is used.
    pub zones: Vec<std::path::PathBuf>,
    /// Servers to ask instead of the system configuration (`IP` or `IP:PORT`).
    pub nameservers: Vec<std::net::SocketAddr>,
    /// Time to wait for one answer.
    pub timeout: std::time::Duration,
}

impl DnsConfig {
    /// Build the configuration from what the user typed (`--zone`, `--nameserver`,
    /// `--dns-timeout` in seconds). The message of an error names the bad value.
    pub fn from_options(
        zones: Vec<std::path::PathBuf>,
        nameservers: &[String],
        timeout_seconds: f64,
    ) -> Result<DnsConfig, String> {
        let nameservers = nameservers
            .iter()
            .map(|text| parse_nameserver(text))
            .collect::<Result<Vec<_>, _>>()?;
        let timeout = std::time::Duration::try_from_secs_f64(timeout_seconds)
            .ok()
            .filter(|t| !t.is_zero() && *t <= std::time::Duration::from_secs(3600))
            .ok_or_else(|| {
                format!("--dns-timeout must be a number of seconds more than 0 and at most 3600, not {timeout_seconds}")
            })?;
        Ok(DnsConfig {
            zones,
            nameservers,
            timeout,
        })
    }
}

/// Why the run's DNS could not be set up (fatal: exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Zone(String),
    #[error("cannot use the system resolver configuration: {0}")]
    System(String),
}

/// Build the run's DNS from the configuration: zone files if any were given, else the
/// configured nameservers, else the system resolver; always behind the per-run cache.
/// Opening needs no runtime; lookups through the network backend must run inside a tokio
/// runtime with time and I/O enabled. A zero `timeout` means the default, 5 seconds.
pub fn open(config: &DnsConfig) -> Result<std::sync::Arc<cache::Cache>, SetupError> {
    let inner: Box<dyn Lookup> = if !config.zones.is_empty() {
        Box::new(zonefile::load(&config.zones)?)
    } else if !config.nameservers.is_empty() {
        Box::new(resolver::ResolverLookup::with_nameservers(
            &config.nameservers,
            config.timeout,
        )?)
    } else {
        Box::new(resolver::ResolverLookup::from_system(config.timeout)?)
    };
    Ok(Arc::new(cache::Cache::new(inner)))
}

/// Parse a `--nameserver` value: `IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address;
/// the port defaults to 53.
pub fn parse_nameserver(text: &str) -> Result<std::net::SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
        return Ok(addr);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<std::net::IpAddr>()
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .map_err(|_| format!("--nameserver \"{text}\" is not an IP address or IP:PORT"))
}
