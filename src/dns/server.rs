//! A small authoritative DNS server over UDP and TCP, for tests and benchmarks: it serves a
//! [`MemoryZone`] (or any [`Lookup`]) on a loopback address, so that the network backend can
//! be checked against the same data the zone-file backend answers from.
//!
//! - Answers are authoritative; CNAME links are put in the answer section before the
//!   records they lead to (RFC 1034 §4.3.2).
//! - NXDOMAIN vs NOERROR with an empty answer ("no data") as the zone says (RFC 2308).
//! - Failure injection from the zone: a (name, type) that fails with `Timeout` is silently
//!   dropped (the client times out); `ServerFailure` and other errors answer SERVFAIL.
//! - UDP answers larger than the client's EDNS size (512 bytes without EDNS, RFC 1035
//!   §4.2.1; RFC 6891 §6.2.5) are truncated with the TC bit, and the client retries over
//!   TCP (RFC 7766).
//! - An optional artificial delay before each answer.
//! - A counter of queries received per (name, type), so benchmarks can show that a run asks
//!   no more questions than distinct pairs.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, TXT};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType as WireType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

use super::memory::{MemoryZone, Resolution};
use super::resolver::{from_wire_name, to_wire_name};
use super::{Answer, DnsError, Lookup, RecordType};

/// TTL of every record served.
const TTL: u32 = 300;
/// The largest UDP answer we send to an EDNS client (the DNS flag day 2020 size).
const MAX_EDNS_PAYLOAD: u16 = 1232;

/// What the server answers from.
#[derive(Clone)]
pub enum Source {
    /// A zone: CNAME chains appear in answers as they would from BIND.
    Zone(Arc<MemoryZone>),
    /// Any lookup (CNAMEs, if any, are already followed: answers appear under the name asked).
    Lookup(Arc<dyn Lookup>),
}

impl From<MemoryZone> for Source {
    fn from(zone: MemoryZone) -> Self {
        Source::Zone(Arc::new(zone))
    }
}

impl From<Arc<MemoryZone>> for Source {
    fn from(zone: Arc<MemoryZone>) -> Self {
        Source::Zone(zone)
    }
}

/// How the server behaves beyond the zone's data.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Wait this long before answering each query.
    pub delay: Duration,
    /// Largest UDP answer; `None` means the client's EDNS size (at most 1232), or 512
    /// bytes without EDNS.
    pub max_udp_payload: Option<u16>,
}

/// Counters of what the server received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Queries received (UDP and TCP).
    pub queries: u64,
    /// Distinct (name, type) pairs asked.
    pub distinct: u64,
    /// Queries received over TCP.
    pub tcp_queries: u64,
    /// UDP answers sent truncated (TC bit).
    pub truncated: u64,
    /// Queries dropped on purpose (a zone `Timeout`).
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    per_pair: Mutex<HashMap<(String, String), u64>>,
    queries: AtomicU64,
    tcp_queries: AtomicU64,
    truncated: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn pairs(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), u64>> {
        self.per_pair
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Shared {
    source: Source,
    options: ServerOptions,
    counters: Counters,
}

/// A running server; it stops when dropped.
pub struct DnsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

impl DnsServer {
    /// Serve `zone` on `addr` (UDP and TCP on the same port; port 0 picks a free one).
    /// Must be called inside a tokio runtime; the server runs on it.
    pub async fn start(zone: impl Into<Source>, addr: SocketAddr) -> io::Result<DnsServer> {
        Self::start_with(zone, addr, ServerOptions::default()).await
    }

    pub async fn start_with(
        source: impl Into<Source>,
        addr: SocketAddr,
        options: ServerOptions,
    ) -> io::Result<DnsServer> {
        let (udp, tcp) = bind_pair(addr).await?;
        let addr = udp.local_addr()?;
        let shared = Arc::new(Shared {
            source: source.into(),
            options,
            counters: Counters::default(),
        });
        let udp = Arc::new(udp);
        let tasks = vec![
            tokio::spawn(serve_udp(udp, shared.clone())),
            tokio::spawn(serve_tcp(tcp, shared.clone())),
        ];
        Ok(DnsServer {
            addr,
            shared,
            tasks,
        })
    }

    /// The address the server listens on (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.counters;
        ServerStats {
            queries: c.queries.load(Ordering::Relaxed),
            distinct: c.pairs().len() as u64,
            tcp_queries: c.tcp_queries.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }

    /// Queries received for (`name`, `rtype`) so far.
    pub fn queries_for(&self, name: &str, rtype: RecordType) -> u64 {
        let key = (super::normalize_name(name), rtype.as_str().to_owned());
        self.shared.counters.pairs().get(&key).copied().unwrap_or(0)
    }

    /// Queries received per (name, type), sorted; the type is its mnemonic (`TXT`, ...).
    pub fn query_counts(&self) -> BTreeMap<(String, String), u64> {
        self.shared
            .counters
            .pairs()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// Bind UDP and TCP on the same port. With port 0 the UDP port is chosen first; if TCP
/// cannot have it, try again with another.
async fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last_error = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(addr).await?;
        let bound = udp.local_addr()?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                last_error = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("cannot bind UDP and TCP together")))
}

async fn serve_udp(socket: Arc<UdpSocket>, shared: Arc<Shared>) {
    // Answers in progress; dropped (aborted) with this task when the server stops.
    let mut answering = JoinSet::new();
    let mut buf = vec![0u8; 65_535];
    loop {
        while answering.try_join_next().is_some() {}
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(_) => {
                // ICMP errors from earlier sends surface here on some systems; keep serving.
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        let packet = buf.get(..len).unwrap_or_default().to_vec();
        let socket = socket.clone();
        let shared = shared.clone();
        answering.spawn(async move {
            if let Some(reply) = handle(&shared, &packet, Transport::Udp).await {
                let _ = socket.send_to(&reply, peer).await;
            }
        });
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    // Open connections; dropped (aborted) with this task when the server stops.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        connections.spawn(serve_tcp_connection(stream, shared.clone()));
    }
}

/// RFC 7766 §8: two-byte length, then the message; several queries may be in flight on one
/// connection, answered as they are ready.
async fn serve_tcp_connection(stream: TcpStream, shared: Arc<Shared>) {
    let (mut reader, writer) = stream.into_split();
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    let mut answering = JoinSet::new();
    loop {
        while answering.try_join_next().is_some() {}
        let mut len = [0u8; 2];
        if reader.read_exact(&mut len).await.is_err() {
            break;
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if reader.read_exact(&mut packet).await.is_err() {
            break;
        }
        let shared = shared.clone();
        let writer = writer.clone();
        answering.spawn(async move {
            if let Some(reply) = handle(&shared, &packet, Transport::Tcp).await {
                let Ok(len) = u16::try_from(reply.len()) else {
                    return;
                };
                let mut framed = Vec::with_capacity(reply.len() + 2);
                framed.extend_from_slice(&len.to_be_bytes());
                framed.extend_from_slice(&reply);
                let _ = writer.lock().await.write_all(&framed).await;
            }
        });
    }
    // The client may have closed its side only: finish the answers it is waiting for.
    while answering.join_next().await.is_some() {}
}

/// One query in, the bytes of the answer out (`None`: say nothing).
async fn handle(shared: &Shared, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let request = match Message::from_vec(packet) {
        Ok(request) => request,
        Err(_) => {
            // Answer FORMERR if at least the ID is there.
            let id = u16::from_be_bytes([*packet.first()?, *packet.get(1)?]);
            return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                .to_vec()
                .ok();
        }
    };
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let counters = &shared.counters;
    counters.queries.fetch_add(1, Ordering::Relaxed);
    if transport == Transport::Tcp {
        counters.tcp_queries.fetch_add(1, Ordering::Relaxed);
    }
    let mut response = match build_response(shared, &request).await {
        Some(response) => response,
        None => {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
    };
    if !shared.options.delay.is_zero() {
        tokio::time::sleep(shared.options.delay).await;
    }
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_EDNS_PAYLOAD);
        response.set_edns(edns);
    }
    let bytes = response.to_vec().ok()?;
    if transport == Transport::Udp {
        let client_limit = match &request.edns {
            Some(edns) => edns.max_payload().clamp(512, MAX_EDNS_PAYLOAD),
            None => 512,
        };
        let limit = shared
            .options
            .max_udp_payload
            .map_or(client_limit, |cap| cap.min(client_limit));
        if bytes.len() > usize::from(limit) {
            counters.truncated.fetch_add(1, Ordering::Relaxed);
            return response.truncate().to_vec().ok();
        }
    }
    Some(bytes)
}

async fn build_response(shared: &Shared, request: &Message) -> Option<Message> {
    let id = request.metadata.id;
    if request.metadata.op_code != OpCode::Query {
        return Some(Message::error_msg(
            id,
            request.metadata.op_code,
            ResponseCode::NotImp,
        ));
    }
    let Some(query) = request.queries.first() else {
        return Some(Message::error_msg(id, OpCode::Query, ResponseCode::FormErr));
    };
    let name = from_wire_name(query.name());
    let wire_type = query.query_type();
    shared
        .counters
        .pairs()
        .entry((name.clone(), wire_type.to_string()))
        .and_modify(|n| *n += 1)
        .or_insert(1);

    let our_type = match wire_type {
        WireType::A => Some(RecordType::A),
        WireType::AAAA => Some(RecordType::Aaaa),
        WireType::MX => Some(RecordType::Mx),
        WireType::TXT => Some(RecordType::Txt),
        WireType::PTR => Some(RecordType::Ptr),
        _ => None,
    };
    let mut response = Message::response(id, OpCode::Query);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.add_query(query.clone());
    if query.query_class() != DNSClass::IN {
        response.metadata.response_code = ResponseCode::Refused;
        return Some(response);
    }

    // Other types: only whether the name exists matters (NXDOMAIN or no data); a CNAME
    // query gets the CNAME itself.
    let resolution = resolve(&shared.source, &name, our_type.unwrap_or(RecordType::A)).await;
    let Some(rtype) = our_type else {
        match resolution.result {
            Err(DnsError::Timeout) => return None,
            Err(DnsError::NxDomain) if resolution.cnames.is_empty() => {
                response.metadata.response_code = ResponseCode::NXDomain;
            }
            Err(DnsError::NxDomain) => {}
            Err(_) => response.metadata.response_code = ResponseCode::ServFail,
            Ok(_) => {}
        }
        if wire_type == WireType::CNAME
            && let Some((owner, target)) = resolution.cnames.first()
        {
            response.metadata.response_code = ResponseCode::NoError;
            response.add_answer(cname_record(owner, target)?);
        }
        return Some(response);
    };

    match resolution.result {
        Err(DnsError::Timeout) => return None,
        Err(DnsError::NxDomain) => {
            response.metadata.response_code = ResponseCode::NXDomain;
        }
        Err(_) => {
            response.metadata.response_code = ResponseCode::ServFail;
            return Some(response);
        }
        Ok(answer) => {
            let owner = to_wire_name(&resolution.final_name).ok()?;
            for rdata in wire_rdata(&answer, rtype)? {
                response.add_answer(Record::from_rdata(owner.clone(), TTL, rdata));
            }
        }
    }
    let cnames: Vec<Record> = resolution
        .cnames
        .iter()
        .map(|(owner, target)| cname_record(owner, target))
        .collect::<Option<_>>()?;
    let answers = std::mem::take(&mut response.answers);
    response.answers = cnames.into_iter().chain(answers).collect();
    Some(response)
}

async fn resolve(source: &Source, name: &str, rtype: RecordType) -> Resolution {
    match source {
        Source::Zone(zone) => zone.resolve(name, rtype),
        Source::Lookup(lookup) => Resolution {
            cnames: Vec::new(),
            final_name: name.to_owned(),
            result: lookup.lookup(name, rtype).await.map(|a| Answer::clone(&a)),
        },
    }
}

fn cname_record(owner: &str, target: &str) -> Option<Record> {
    Some(Record::from_rdata(
        to_wire_name(owner).ok()?,
        TTL,
        RData::CNAME(CNAME(to_wire_name(target).ok()?)),
    ))
}

/// The answer's records on the wire. TXT strings over 255 bytes (possible only in an
/// in-memory zone) are split into 255-byte strings, which SPF joins back (RFC 7208 §3.3).
fn wire_rdata(answer: &Answer, rtype: RecordType) -> Option<Vec<RData>> {
    if answer.record_type() != rtype {
        return Some(Vec::new());
    }
    Some(match answer {
        Answer::A(ips) => ips.iter().map(|ip| RData::A(A(*ip))).collect(),
        Answer::Aaaa(ips) => ips.iter().map(|ip| RData::AAAA(AAAA(*ip))).collect(),
        Answer::Mx(mxs) => mxs
            .iter()
            .map(|mx| {
                Some(RData::MX(MX::new(
                    mx.preference,
                    to_wire_name(&mx.exchange).ok()?,
                )))
            })
            .collect::<Option<_>>()?,
        Answer::Ptr(names) => names
            .iter()
            .map(|n| Some(RData::PTR(PTR(to_wire_name(n).ok()?))))
            .collect::<Option<_>>()?,
        Answer::Txt(records) => records
            .iter()
            .map(|strings| {
                let mut parts: Vec<&[u8]> = strings
                    .iter()
                    .flat_map(|s| {
                        if s.is_empty() {
                            vec![s.as_slice()]
                        } else {
                            s.chunks(255).collect()
                        }
                    })
                    .collect();
                if parts.is_empty() {
                    parts.push(b"");
                }
                RData::TXT(TXT::from_bytes(parts))
            })
            .collect(),
    })
}

/// Build a query message (for tests that talk to the server directly).
pub fn query_message(name: &str, rtype: WireType) -> Option<Message> {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(to_wire_name(name).ok()?, rtype));
    Some(message)
}
