//! knet's cluster DNS: the Kubernetes DNS-Based Service Discovery specification (schema
//! 1.1.0), answered the way CoreDNS's `kubernetes` plugin does, from kube-rs reflectors of
//! Services, EndpointSlices and Pods; every other name is forwarded upstream.
//!
//! - [`index`]: the zone's contents, an immutable snapshot rebuilt after changes.
//! - [`answer`]: the pure function from a question to records (A/AAAA, headless A per ready
//!   endpoint and per hostname, SRV with additional addresses, PTR, ExternalName CNAME, pod
//!   A records, `dns-version` TXT, SOA for NXDOMAIN and NODATA).
//! - [`message`]: packet in, packet out: FORMERR for what does not decode, NOTIMP for other
//!   opcodes and classes, EDNS0, truncation with TC over UDP.
//! - [`server`]: UDP (a SO_REUSEPORT socket and thread per core), TCP, forwarding, chasing
//!   ExternalName targets, `/ready` `/health` `/metrics`.
//! - [`watch`]: the reflectors.
//!
//! hickory-proto does the wire format. The serving loop is ours rather than hickory-server's:
//! a query the zone answers never leaves its UDP thread (no task, no channel), which is what
//! the throughput goal needs (docs/benchmarks.md, "Cluster DNS").

pub mod answer;
pub mod index;
pub mod message;
pub mod server;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;

pub use answer::Zone;
pub use server::State;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An address could not be bound.
    #[error("dns: binding {what} {addr}: {source}")]
    Bind {
        /// `udp`, `tcp` or `http`.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The default TTL (CoreDNS's).
pub const DEFAULT_TTL: u32 = 5;

/// What to serve, where.
#[derive(Debug, Clone)]
pub struct Config {
    /// UDP and TCP addresses (port 0 picks one, the same for both).
    pub addrs: Vec<SocketAddr>,
    /// `/ready`, `/health` and `/metrics`.
    pub http_addr: Option<SocketAddr>,
    /// The cluster domain.
    pub domain: String,
    /// TTL of the zone's answers.
    pub ttl: u32,
    /// Where other names go (empty: the host's resolv.conf nameservers).
    pub upstreams: Vec<SocketAddr>,
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct Running {
    /// The bound DNS addresses, in `Config::addrs` order.
    pub addrs: Vec<SocketAddr>,
    /// The bound HTTP address.
    pub http_addr: Option<SocketAddr>,
    /// The shared state (for tests and embedding).
    pub state: Arc<State>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.state.stop();
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The nameservers of the host's `/etc/resolv.conf`, on port 53.
pub fn host_upstreams() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Binds UDP and TCP on `addr`, on the same port when `addr` asks for any.
fn bind_pair(
    state: &Arc<State>,
    addr: SocketAddr,
    rt: &tokio::runtime::Handle,
) -> Result<(SocketAddr, tokio::net::TcpListener), StartError> {
    let mut last = std::io::Error::from(std::io::ErrorKind::AddrInUse);
    for _ in 0..20 {
        let udp = server::serve_udp(state.clone(), addr, rt.clone()).map_err(|source| {
            StartError::Bind {
                what: "udp",
                addr,
                source,
            }
        })?;
        match obs::bind(udp) {
            Ok(tcp) => return Ok((udp, tcp)),
            // Port 0 gave a UDP port whose TCP twin is taken: try another.
            Err(e) if addr.port() == 0 => last = e,
            Err(source) => {
                return Err(StartError::Bind {
                    what: "tcp",
                    addr,
                    source,
                });
            }
        }
    }
    Err(StartError::Bind {
        what: "tcp",
        addr,
        source: last,
    })
}

/// Starts the server: binds everything (so errors come back at once), then watches.
pub async fn start(client: kube::Client, config: Config) -> Result<Running, StartError> {
    let domain = config.domain.trim_end_matches('.').to_ascii_lowercase();
    let mut upstreams = if config.upstreams.is_empty() {
        host_upstreams()
    } else {
        config.upstreams.clone()
    };
    let state_zone = Zone {
        domain,
        ttl: config.ttl,
    };
    let rt = tokio::runtime::Handle::current();
    // The UDP threads start at bind, so the state must know its upstreams first; our own
    // addresses are no upstream (a loop).
    upstreams.retain(|u| !config.addrs.contains(u) || u.port() == 0);
    let state = State::new(state_zone, upstreams);
    let mut addrs = Vec::new();
    let mut tasks = Vec::new();
    for addr in &config.addrs {
        let (bound, tcp) = bind_pair(&state, *addr, &rt)?;
        addrs.push(bound);
        tasks.push(tokio::spawn(server::serve_tcp(state.clone(), tcp)));
    }
    let http_addr = match config.http_addr {
        Some(a) => {
            let bind_err = |source| StartError::Bind {
                what: "http",
                addr: a,
                source,
            };
            let l = obs::bind(a).map_err(bind_err)?;
            let bound = l.local_addr().map_err(bind_err)?;
            tasks.push(server::serve_http(state.clone(), l));
            Some(bound)
        }
        None => None,
    };
    tasks.extend(watch::start(client, state.clone()));
    Ok(Running {
        addrs,
        http_addr,
        state,
        tasks,
    })
}
