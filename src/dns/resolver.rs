//! The network backend: hickory-resolver 0.26 asking the system's name servers
//! (/etc/resolv.conf) or the ones given with `--nameserver`.
//!
//! Set up for SPF's needs: names are always queried as given (fully qualified, no search
//! domains, no /etc/hosts), UDP with TCP when an answer is truncated, one retry, and a hard
//! time limit per question so that a dead server costs at most the configured timeout.
//! Caching is the run's [`super::cache::Cache`]'s job; hickory's cache only keeps the extra
//! queries hickory makes when it follows a CNAME to a name without the records asked.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_resolver::config::{
    NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts, ServerOrderingStrategy,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as NetDnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType as WireType};
use hickory_resolver::{Resolver, TokioResolver};

use super::{Answer, DnsError, Lookup, LookupFuture, Mx, RecordType, SetupError};

/// The timeout used when the configuration says zero.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How queries travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// UDP, and TCP when an answer comes back truncated (RFC 7766 §5): the normal way.
    #[default]
    UdpThenTcp,
    /// TCP only, many queries in flight on one connection. Hickory opens a new UDP socket
    /// for every query; one TCP connection avoids that cost, which can matter against a
    /// local server (figures: `tests/dns_bench.rs`).
    TcpOnly,
}

/// Asks real DNS servers through hickory-resolver.
pub struct ResolverLookup {
    resolver: TokioResolver,
    timeout: Duration,
    /// Questions on the wire at once. Hickory queues at most 32 messages per TCP
    /// connection and fails the rest at once ("channel is full"); an error would be cached
    /// for the run as a temperror, so we never ask more than it can take.
    in_flight: tokio::sync::Semaphore,
}

/// Questions in flight at once over UDP (TCP is used only for truncated answers).
const MAX_IN_FLIGHT_UDP: usize = 256;
/// Questions in flight at once when everything goes over one TCP connection per server.
const MAX_IN_FLIGHT_TCP: usize = 32;

impl ResolverLookup {
    /// Ask these servers (the next one when one fails or times out), over UDP with TCP
    /// for truncated answers.
    pub fn with_nameservers(servers: &[SocketAddr], timeout: Duration) -> Result<Self, SetupError> {
        Self::with_transport(servers, timeout, Transport::UdpThenTcp)
    }

    /// Ask these servers over the given transport.
    pub fn with_transport(
        servers: &[SocketAddr],
        timeout: Duration,
        transport: Transport,
    ) -> Result<Self, SetupError> {
        if servers.is_empty() {
            return Err(SetupError::System("no name server given".into()));
        }
        let configs = servers
            .iter()
            .map(|addr| {
                let mut config = match transport {
                    Transport::UdpThenTcp => NameServerConfig::udp_and_tcp(addr.ip()),
                    Transport::TcpOnly => NameServerConfig::tcp(addr.ip()),
                };
                for connection in &mut config.connections {
                    connection.port = addr.port();
                }
                config
            })
            .collect();
        Self::build(configs, timeout, transport)
    }

    /// Ask the name servers of /etc/resolv.conf (its search domains and options are not
    /// used: SPF names are always fully qualified).
    pub fn from_system(timeout: Duration) -> Result<Self, SetupError> {
        Self::from_resolv_conf(Path::new("/etc/resolv.conf"), timeout)
    }

    /// Ask the name servers listed in a resolv.conf-format file.
    pub fn from_resolv_conf(path: &Path, timeout: Duration) -> Result<Self, SetupError> {
        let data = std::fs::read(path)
            .map_err(|e| SetupError::System(format!("cannot read {}: {e}", path.display())))?;
        let (config, _options) = hickory_resolver::system_conf::parse_resolv_conf(&data)
            .map_err(|e| SetupError::System(format!("{}: {e}", path.display())))?;
        let servers: Vec<IpAddr> = config.name_servers().iter().map(|ns| ns.ip).collect();
        if servers.is_empty() {
            return Err(SetupError::System(format!(
                "{}: no nameserver lines (use --nameserver IP or --zone FILE)",
                path.display()
            )));
        }
        let configs = servers
            .into_iter()
            .map(NameServerConfig::udp_and_tcp)
            .collect();
        Self::build(configs, timeout, Transport::UdpThenTcp)
    }

    fn build(
        servers: Vec<NameServerConfig>,
        timeout: Duration,
        transport: Transport,
    ) -> Result<Self, SetupError> {
        let timeout = if timeout.is_zero() {
            DEFAULT_TIMEOUT
        } else {
            timeout
        };
        // The whole question gets `timeout`. With several servers, each try gets half of it,
        // so that a silent first server leaves time to ask the next one.
        let per_try = if servers.len() > 1 {
            timeout / 2
        } else {
            timeout
        };
        let config = ResolverConfig::from_parts(None, Vec::new(), servers);
        let mut options = ResolverOpts::default();
        options.ndots = 0;
        options.timeout = per_try;
        // One retry after a failure (the next server, when there are several); UDP itself
        // retransmits within a try.
        options.attempts = 1;
        // The run's cache asks each question once. Hickory's cache only serves the queries
        // hickory makes itself: when a CNAME chain ends without records of the type asked,
        // hickory asks the target again (whatever the first answer said); kept for the whole
        // run, such a target is asked once even if the run also asks it directly.
        options.cache_size = 4096;
        options.positive_min_ttl = Some(Duration::from_secs(86_400));
        options.negative_min_ttl = Some(Duration::from_secs(86_400));
        options.use_hosts_file = ResolveHosts::Never;
        // One server at a time: parallel requests would double the queries.
        options.num_concurrent_reqs = 1;
        // Servers that failed or timed out go to the back of the line.
        options.server_ordering_strategy = ServerOrderingStrategy::QueryStatistics;
        options.max_active_requests = 512;
        options.edns0 = true;
        let resolver = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|e| SetupError::System(format!("cannot set up the resolver: {e}")))?;
        let in_flight = match transport {
            Transport::UdpThenTcp => MAX_IN_FLIGHT_UDP,
            Transport::TcpOnly => MAX_IN_FLIGHT_TCP,
        };
        Ok(ResolverLookup {
            resolver,
            timeout,
            in_flight: tokio::sync::Semaphore::new(in_flight),
        })
    }

    async fn ask(&self, name: &str, rtype: RecordType) -> Result<Answer, DnsError> {
        let query_name = to_wire_name(name)?;
        let wire_type = match rtype {
            RecordType::A => WireType::A,
            RecordType::Aaaa => WireType::AAAA,
            RecordType::Mx => WireType::MX,
            RecordType::Txt => WireType::TXT,
            RecordType::Ptr => WireType::PTR,
        };
        // Waiting for a turn is not part of the timeout: the question was not sent yet.
        let _turn = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| DnsError::Other("resolver shut down".into()))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let lookup = loop {
            let attempt = self.resolver.lookup(query_name.clone(), wire_type);
            match tokio::time::timeout_at(deadline, attempt).await {
                Err(_) => return Err(DnsError::Timeout),
                Ok(Err(error)) if is_local_congestion(&error) => {
                    // Our side was busy, the question never left: ask again shortly.
                    let pause = tokio::time::Instant::now() + Duration::from_millis(5);
                    if pause >= deadline {
                        return Err(DnsError::Timeout);
                    }
                    tokio::time::sleep_until(pause).await;
                }
                Ok(Err(error)) => return map_error(&error, rtype),
                Ok(Ok(lookup)) => break lookup,
            }
        };
        // CNAME records that led here are in the answer too: keep only the type asked.
        let mut answer = Answer::empty(rtype);
        for record in lookup.answers() {
            match (&mut answer, &record.data) {
                (Answer::A(v), RData::A(a)) => v.push(a.0),
                (Answer::Aaaa(v), RData::AAAA(a)) => v.push(a.0),
                (Answer::Mx(v), RData::MX(mx)) => v.push(Mx {
                    preference: mx.preference,
                    exchange: from_wire_name(&mx.exchange),
                }),
                (Answer::Txt(v), RData::TXT(txt)) => {
                    v.push(txt.txt_data.iter().map(|s| s.to_vec()).collect())
                }
                (Answer::Ptr(v), RData::PTR(ptr)) => v.push(from_wire_name(&ptr.0)),
                _ => {}
            }
        }
        Ok(answer)
    }
}

impl Lookup for ResolverLookup {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        Box::pin(async move { self.ask(name, rtype).await.map(std::sync::Arc::new) })
    }
}

/// RFC 2308: NXDOMAIN is an answer, NOERROR without records is "no data"; RFC 7208 §5
/// turns SERVFAIL, timeouts and the rest into temperror.
fn map_error(error: &NetError, rtype: RecordType) -> Result<Answer, DnsError> {
    match error {
        NetError::Dns(NetDnsError::NoRecordsFound(NoRecords { response_code, .. })) => {
            match *response_code {
                ResponseCode::NXDomain => Err(DnsError::NxDomain),
                ResponseCode::NoError => Ok(Answer::empty(rtype)),
                code => Err(DnsError::ServerFailure(rcode_name(code))),
            }
        }
        NetError::Dns(NetDnsError::ResponseCode(code)) => {
            Err(DnsError::ServerFailure(rcode_name(*code)))
        }
        NetError::Timeout => Err(DnsError::Timeout),
        other => Err(DnsError::Other(other.to_string())),
    }
}

/// Errors that mean hickory's own queues were full, not that a server failed.
fn is_local_congestion(error: &NetError) -> bool {
    match error {
        NetError::Busy => true,
        NetError::Msg(message) => message.starts_with("mpsc::SendError"),
        _ => false,
    }
}

/// The RFC 1035 §4.1.1 mnemonic of a response code, as `dig` prints it.
fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        other => format!("RCODE {}", u16::from(other)),
    }
}

/// Our normalised name (no trailing dot) as a fully qualified wire name. Labels are taken
/// as raw bytes: SPF macros can put any character in a name.
pub(crate) fn to_wire_name(name: &str) -> Result<Name, DnsError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Ok(Name::root());
    }
    if name.len() > 253 {
        return Err(DnsError::InvalidName(format!(
            "name longer than 253 bytes: {name}"
        )));
    }
    let labels: Vec<&[u8]> = name.split('.').map(str::as_bytes).collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err(DnsError::InvalidName(format!("empty label in {name}")));
    }
    if labels.iter().any(|l| l.len() > 63) {
        return Err(DnsError::InvalidName(format!(
            "label longer than 63 bytes in {name}"
        )));
    }
    Name::from_labels(labels).map_err(|e| DnsError::InvalidName(format!("{name}: {e}")))
}

/// A wire name in our normalised form: lower-case, no trailing dot, the root is "".
pub(crate) fn from_wire_name(name: &Name) -> String {
    let labels: Vec<String> = name
        .iter()
        .map(|label| String::from_utf8_lossy(label).to_ascii_lowercase())
        .collect();
    labels.join(".")
}
