//! Serving: UDP on one socket per core (SO_REUSEPORT, a thread each, answers from the zone
//! without leaving the thread), TCP through tokio, forwarding and ExternalName chasing as
//! tokio tasks, and `/ready`, `/health`, `/metrics`.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, Record};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::answer::{Outcome, Zone};
use crate::index::Index;
use crate::message::{Handled, handle, outcome_reply, reply, udp_limit};

/// How long one upstream gets to answer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TCP client may stay idle between queries.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// How many CNAMEs an ExternalName chase follows inside the zone.
const CHASE_DEPTH: usize = 8;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Proto {
    proto: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Rcode {
    rcode: &'static str,
}

/// A histogram of request durations that the UDP threads update without a lock (the
/// prometheus-client one takes a mutex per observation, which two threads answering 100,000+
/// queries a second contend on). Bounds 10 µs × 2.5ⁱ, to about 5 s.
#[derive(Debug)]
struct Durations {
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
}

impl Default for Durations {
    fn default() -> Self {
        let bounds: Vec<f64> = (0..15).map(|i| 0.00001 * 2.5f64.powi(i)).collect();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Durations {
            bounds,
            counts,
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl Durations {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.partition_point(|b| *b < secs);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
}

impl TypedMetric for Durations {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Durations {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .zip(counts.iter().copied())
            .collect();
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, counts.iter().sum(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Registers a shared metric (the registry wants an owned one).
#[derive(Debug)]
struct ByRef(Arc<Durations>);

impl TypedMetric for ByRef {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for ByRef {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The server's Prometheus metrics (prefix `knet_dns`).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    udp: Counter,
    tcp: Counter,
    /// NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, other.
    rcodes: [Counter; 7],
    forwarded: Counter,
    duration: Arc<Durations>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("knet_dns");
        let requests = Family::<Proto, Counter>::default();
        let responses = Family::<Rcode, Counter>::default();
        let names = [
            "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other",
        ];
        let rcodes = names.map(|rcode| responses.get_or_create(&Rcode { rcode }).clone());
        let udp = requests.get_or_create(&Proto { proto: "udp" }).clone();
        let tcp = requests.get_or_create(&Proto { proto: "tcp" }).clone();
        let forwarded = Counter::default();
        let duration = Arc::new(Durations::default());
        registry.register("requests", "DNS requests by transport", requests);
        registry.register("responses", "DNS responses by rcode", responses);
        registry.register(
            "forward_requests",
            "Requests forwarded upstream",
            forwarded.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request to its response",
            ByRef(duration.clone()),
        );
        Metrics {
            registry,
            udp,
            tcp,
            rcodes,
            forwarded,
            duration,
        }
    }
}

impl Metrics {
    fn answered(&self, rcode: ResponseCode, started: Instant) {
        let i = match rcode {
            ResponseCode::NoError => 0,
            ResponseCode::FormErr => 1,
            ResponseCode::ServFail => 2,
            ResponseCode::NXDomain => 3,
            ResponseCode::NotImp => 4,
            ResponseCode::Refused => 5,
            _ => 6,
        };
        self.rcodes[i].inc();
        self.duration.observe(started.elapsed());
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// What every part of the server shares.
#[derive(Debug)]
pub struct State {
    /// The zone.
    pub zone: Zone,
    /// Where other names go.
    pub upstreams: Vec<SocketAddr>,
    /// The metrics.
    pub metrics: Metrics,
    index: RwLock<Arc<Index>>,
    generation: AtomicU64,
    stop: AtomicBool,
}

impl State {
    /// A server's state with an empty, not yet synced index.
    pub fn new(zone: Zone, upstreams: Vec<SocketAddr>) -> Arc<State> {
        Arc::new(State {
            zone,
            upstreams,
            metrics: Metrics::default(),
            index: RwLock::new(Arc::new(Index::default())),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        })
    }

    /// Replaces the index.
    pub fn set_index(&self, index: Index) {
        if let Ok(mut guard) = self.index.write() {
            *guard = Arc::new(index);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current index.
    pub fn index(&self) -> Arc<Index> {
        self.index
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Whether the zone is loaded.
    pub fn ready(&self) -> bool {
        self.index().synced
    }

    /// Stops the UDP threads (within their 200 ms poll).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    s.set_reuse_port(true)?;
    s.set_reuse_address(true)?;
    // Room for bursts: a flood should cost drops at the socket, not memory.
    let _ = s.set_recv_buffer_size(4 << 20);
    s.bind(&addr.into())?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(s.into())
}

/// Serves UDP on `addr` with one socket and thread per core; returns the bound address.
pub fn serve_udp(
    state: Arc<State>,
    addr: SocketAddr,
    rt: tokio::runtime::Handle,
) -> io::Result<SocketAddr> {
    // A plain bind first: SO_REUSEPORT would let a second server of the same user share the
    // port silently (the kernel spreads packets over both), so a port in use must fail here.
    let bound = UdpSocket::bind(addr)?.local_addr()?;
    let first = udp_socket(bound)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut sockets = vec![first];
    for _ in 1..threads {
        sockets.push(udp_socket(bound)?);
    }
    for (i, sock) in sockets.into_iter().enumerate() {
        let state = state.clone();
        let rt = rt.clone();
        std::thread::Builder::new()
            .name(format!("dns-udp-{i}"))
            .spawn(move || udp_loop(&state, Arc::new(sock), &rt))?;
    }
    Ok(bound)
}

/// How many replies a UDP thread remembers.
const MEMO_ENTRIES: usize = 16_384;

/// Replies a UDP thread has made, by the request's bytes after its ID. A reply is a function
/// of those bytes and the index, so while the index stays the same, the same request gets the
/// same reply (with its own ID): one hash lookup and a copy instead of decoding and encoding.
/// Emptied when the index changes or the memo fills up. Forwarded and chased answers are not
/// kept (they are upstream's, with upstream's TTLs).
#[derive(Default)]
struct Memo {
    replies: std::collections::HashMap<Box<[u8]>, Remembered>,
}

/// A reply without its ID, and its rcode.
type Remembered = (Box<[u8]>, ResponseCode);

impl Memo {
    /// The reply to `packet` if it was seen, with `packet`'s ID.
    fn reply(&self, packet: &[u8], out: &mut Vec<u8>) -> Option<ResponseCode> {
        let (body, rcode) = self.replies.get(&packet[2..])?;
        out.clear();
        out.extend_from_slice(&packet[..2]);
        out.extend_from_slice(body);
        Some(*rcode)
    }

    fn keep(&mut self, packet: &[u8], reply: &[u8], rcode: ResponseCode) {
        if reply.len() < 2 {
            return;
        }
        if self.replies.len() >= MEMO_ENTRIES {
            self.replies.clear();
        }
        self.replies
            .insert(packet[2..].into(), (reply[2..].into(), rcode));
    }
}

fn udp_loop(state: &Arc<State>, sock: Arc<UdpSocket>, rt: &tokio::runtime::Handle) {
    let mut buf = vec![0u8; 65535];
    let mut seen = u64::MAX;
    let mut index = state.index();
    let mut memo = Memo::default();
    let mut out = Vec::with_capacity(1500);
    while !state.stop.load(Ordering::Acquire) {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!(%e, "dns: udp receive");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let started = Instant::now();
        state.metrics.udp.inc();
        let generation = state.generation.load(Ordering::Acquire);
        if generation != seen {
            index = state.index();
            seen = generation;
            memo.replies.clear();
        }
        let packet = &buf[..n];
        if n >= 12
            && let Some(rcode) = memo.reply(packet, &mut out)
        {
            let _ = sock.send_to(&out, peer);
            state.metrics.answered(rcode, started);
            continue;
        }
        match handle(&state.zone, &index, packet, false) {
            Handled::Reply(bytes, rcode) => {
                let _ = sock.send_to(&bytes, peer);
                memo.keep(packet, &bytes, rcode);
                state.metrics.answered(rcode, started);
            }
            Handled::Drop => {}
            Handled::Forward(request) => {
                let (state, sock, packet) = (state.clone(), sock.clone(), packet.to_vec());
                rt.spawn(async move {
                    let (bytes, rcode) = forward(&state, &request, &packet, false).await;
                    let _ = sock.send_to(&bytes, peer);
                    state.metrics.answered(rcode, started);
                });
            }
            Handled::Chase {
                request,
                cname,
                target,
            } => {
                let (state, sock) = (state.clone(), sock.clone());
                rt.spawn(async move {
                    let limit = Some(udp_limit(&request));
                    let (bytes, rcode) = chase(&state, &request, cname, target, limit).await;
                    let _ = sock.send_to(&bytes, peer);
                    state.metrics.answered(rcode, started);
                });
            }
        }
    }
}

/// Asks the upstreams in turn (UDP, or TCP for a TCP client); `None` if none answered.
async fn ask_upstream(upstreams: &[SocketAddr], packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
    for up in upstreams {
        let attempt = async {
            if tcp {
                let mut s = tokio::net::TcpStream::connect(up).await?;
                let len = u16::try_from(packet.len()).map_err(io::Error::other)?;
                s.write_all(&len.to_be_bytes()).await?;
                s.write_all(packet).await?;
                let len = s.read_u16().await?;
                let mut out = vec![0u8; usize::from(len)];
                s.read_exact(&mut out).await?;
                Ok::<_, io::Error>(out)
            } else {
                let local: SocketAddr = if up.is_ipv4() {
                    "0.0.0.0:0".parse().map_err(io::Error::other)?
                } else {
                    "[::]:0".parse().map_err(io::Error::other)?
                };
                let s = tokio::net::UdpSocket::bind(local).await?;
                s.connect(up).await?;
                s.send(packet).await?;
                let mut out = vec![0u8; 65535];
                loop {
                    let n = s.recv(&mut out).await?;
                    // Only the answer to this question (same ID) counts.
                    if n >= 12 && out[..2] == packet[..2] {
                        out.truncate(n);
                        return Ok(out);
                    }
                }
            }
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, attempt).await {
            Ok(Ok(bytes)) => return Some(bytes),
            Ok(Err(e)) => tracing::debug!(%e, upstream = %up, "dns: upstream failed"),
            Err(_) => tracing::debug!(upstream = %up, "dns: upstream timed out"),
        }
    }
    None
}

/// Forwards `packet` (the raw `request`) upstream; SERVFAIL when no upstream answers.
async fn forward(
    state: &State,
    request: &Message,
    packet: &[u8],
    tcp: bool,
) -> (Vec<u8>, ResponseCode) {
    state.metrics.forwarded.inc();
    match ask_upstream(&state.upstreams, packet, tcp).await {
        Some(bytes) => {
            let rcode = Message::from_vec(&bytes)
                .map(|m| m.metadata.response_code)
                .unwrap_or(ResponseCode::NoError);
            (bytes, rcode)
        }
        None => {
            let limit = (!tcp).then(|| udp_limit(request));
            let rcode = ResponseCode::ServFail;
            (
                reply(request, rcode, false, Default::default(), limit),
                rcode,
            )
        }
    }
}

/// An ExternalName answer: the CNAME and what its target resolves to (inside the zone, or
/// upstream's answer).
async fn chase(
    state: &State,
    request: &Message,
    cname: Box<Record>,
    target: Name,
    limit: Option<usize>,
) -> (Vec<u8>, ResponseCode) {
    let Some(qtype) = request.queries.first().map(Query::query_type) else {
        return outcome_reply(&state.zone, request, Outcome::ServFail, limit);
    };
    let mut answers = vec![*cname];
    let mut target = target;
    let index = state.index();
    for _ in 0..CHASE_DEPTH {
        match state.zone.resolve(&index, &target, qtype) {
            Outcome::Chase {
                cname,
                target: next,
            } => {
                answers.push(*cname);
                target = next;
            }
            Outcome::Answer {
                rcode,
                answers: more,
                ..
            } => {
                answers.extend(more);
                let authority = if answers.len() == 1 {
                    vec![state.zone.soa()]
                } else {
                    Vec::new()
                };
                return (
                    reply(
                        request,
                        rcode,
                        true,
                        (answers, authority, Vec::new()),
                        limit,
                    ),
                    rcode,
                );
            }
            Outcome::ServFail => {
                return outcome_reply(&state.zone, request, Outcome::ServFail, limit);
            }
            Outcome::Forward => {
                let mut q = Message::query();
                q.metadata.recursion_desired = true;
                q.add_query(Query::query(target.clone(), qtype));
                let Ok(packet) = q.to_vec() else { break };
                state.metrics.forwarded.inc();
                let (rcode, more) = match ask_upstream(&state.upstreams, &packet, false)
                    .await
                    .and_then(|b| Message::from_vec(&b).ok())
                {
                    Some(m) => (m.metadata.response_code, m.answers),
                    // Upstream did not answer: the CNAME alone, which a client can follow.
                    None => (ResponseCode::NoError, Vec::new()),
                };
                answers.extend(more);
                return (
                    reply(
                        request,
                        rcode,
                        false,
                        (answers, Vec::new(), Vec::new()),
                        limit,
                    ),
                    rcode,
                );
            }
        }
    }
    outcome_reply(&state.zone, request, Outcome::ServFail, limit)
}

/// Serves TCP on `listener` (length-prefixed messages, several per connection).
pub async fn serve_tcp(state: Arc<State>, listener: tokio::net::TcpListener) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _ = tcp_conn(&state, conn).await;
        });
    }
}

async fn tcp_conn(state: &Arc<State>, mut conn: tokio::net::TcpStream) -> io::Result<()> {
    loop {
        let Ok(len) = tokio::time::timeout(TCP_IDLE, conn.read_u16()).await else {
            return Ok(());
        };
        let mut packet = vec![0u8; usize::from(len?)];
        tokio::time::timeout(TCP_IDLE, conn.read_exact(&mut packet))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let started = Instant::now();
        state.metrics.tcp.inc();
        let index = state.index();
        let (bytes, rcode) = match handle(&state.zone, &index, &packet, true) {
            Handled::Reply(bytes, rcode) => (bytes, rcode),
            Handled::Drop => continue,
            Handled::Forward(request) => forward(state, &request, &packet, true).await,
            Handled::Chase {
                request,
                cname,
                target,
            } => chase(state, &request, cname, target, None).await,
        };
        let len = u16::try_from(bytes.len()).map_err(io::Error::other)?;
        conn.write_all(&len.to_be_bytes()).await?;
        conn.write_all(&bytes).await?;
        state.metrics.answered(rcode, started);
    }
}

/// Serves `/ready` (200 once the zone is loaded, else 503), `/health` and `/metrics`.
pub fn serve_http(
    state: Arc<State>,
    listener: tokio::net::TcpListener,
) -> tokio::task::JoinHandle<()> {
    let handler: obs::Handler = Arc::new(move |path: &str| match path {
        "/ready" if state.ready() => obs::text(hyper::StatusCode::OK, "OK".into(), "text/plain"),
        "/ready" => obs::text(
            hyper::StatusCode::SERVICE_UNAVAILABLE,
            "zone not loaded yet\n".into(),
            "text/plain",
        ),
        "/health" => obs::text(hyper::StatusCode::OK, "OK".into(), "text/plain"),
        "/metrics" => obs::metrics(state.metrics.encode()),
        _ => obs::not_found(),
    });
    tokio::spawn(obs::serve(listener, handler))
}
