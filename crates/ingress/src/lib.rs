//! knet's ingress controller: Ingress v1 as the spec and ingress-nginx read it.
//!
//! - [`routes`]: the route table (hosts, paths, precedence, defaults, rewrite-target).
//! - [`build`]: which Ingresses are ours (IngressClass) and what they contribute.
//! - [`upstreams`]: Service ports to endpoint addresses, from EndpointSlices.
//! - [`server`]: the HTTP server and the proxy (keep-alive pool, forwarded headers, retries).
//! - [`watch`]: reflectors, snapshot swaps, `status.loadBalancer`.
//!
//! - [`guard`]: refuses requests with both Content-Length and Transfer-Encoding (smuggling).
//! - [`tls`]: certificates by SNI from `kubernetes.io/tls` Secrets, a generated fallback.
//!
//! Not yet: the ingress-nginx annotations beyond rewrite-target, use-regex and ssl-redirect,
//! and the hardening limits.

pub mod annotations;
pub mod balance;
pub mod build;
pub mod guard;
pub mod routes;
pub mod server;
pub mod tls;
pub mod upstreams;
pub mod watch;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An address could not be bound.
    #[error("ingress: binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// TLS could not be set up.
    #[error("ingress: tls: {0}")]
    Tls(String),
}

/// A running controller; dropping it stops it.
#[derive(Debug)]
pub struct Running {
    /// The bound plain-HTTP address.
    pub http_addr: SocketAddr,
    /// The bound HTTPS address.
    pub https_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: Arc<tokio::sync::Notify>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        // Every worker waits on this; their runtimes end with their connections.
        self.stop.notify_waiters();
    }
}

/// One listener per worker on `addr`, all on one port (SO_REUSEPORT; the kernel spreads
/// connections over them). A plain bind first, so a port already in use fails here rather
/// than being shared with another process.
fn listeners(addr: SocketAddr, n: usize) -> Result<Vec<std::net::TcpListener>, StartError> {
    let err = |source| StartError::Bind { addr, source };
    let bound = std::net::TcpListener::bind(addr)
        .and_then(|l| l.local_addr())
        .map_err(err)?;
    (0..n)
        .map(|_| {
            let domain = if bound.is_ipv4() {
                socket2::Domain::IPV4
            } else {
                socket2::Domain::IPV6
            };
            let s = socket2::Socket::new(domain, socket2::Type::STREAM, None).map_err(err)?;
            s.set_reuse_address(true).map_err(err)?;
            s.set_reuse_port(true).map_err(err)?;
            s.set_nonblocking(true).map_err(err)?;
            s.bind(&bound.into()).map_err(err)?;
            s.listen(1024).map_err(err)?;
            Ok(s.into())
        })
        .collect()
}

/// Binds `http_addr` and `https_addr`, then watches; `address` is what `status.loadBalancer`
/// shows. Requests are served by one worker thread per core, each with its own single-thread
/// runtime, listeners and upstream pool (like nginx's worker processes: no hand-off between
/// threads on the request path); the watches run on the caller's runtime.
pub async fn start(
    client: kube::Client,
    http_addr: SocketAddr,
    https_addr: SocketAddr,
    address: IpAddr,
    use_forwarded_headers: bool,
) -> Result<Running, StartError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let http = listeners(http_addr, workers)?;
    let https = listeners(https_addr, workers)?;
    let http_bound = http[0].local_addr().map_err(|source| StartError::Bind {
        addr: http_addr,
        source,
    })?;
    let https_bound = https[0].local_addr().map_err(|source| StartError::Bind {
        addr: https_addr,
        source,
    })?;
    let resolver = tls::Resolver::new().map_err(StartError::Tls)?;
    let config = tls::server_config(resolver.clone()).map_err(StartError::Tls)?;
    let shared = server::Shared::new(use_forwarded_headers, resolver);
    shared
        .https_port
        .store(https_bound.port(), std::sync::atomic::Ordering::Relaxed);
    let stop = Arc::new(tokio::sync::Notify::new());
    for (i, (h, s)) in http.into_iter().zip(https).enumerate() {
        let (shared, stop, config) = (shared.clone(), stop.clone(), config.clone());
        std::thread::Builder::new()
            .name(format!("ingress-{i}"))
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let (Ok(h), Ok(s)) = (
                        tokio::net::TcpListener::from_std(h),
                        tokio::net::TcpListener::from_std(s),
                    ) else {
                        return;
                    };
                    let pool = server::upstream_pool();
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    tokio::select! {
                        () = server::serve(shared.clone(), pool.clone(), h, None) => {}
                        () = server::serve(shared, pool, s, Some(acceptor)) => {}
                        () = stop.notified() => {}
                    }
                });
            })
            .map_err(|source| StartError::Bind {
                addr: http_addr,
                source,
            })?;
    }
    let tasks = watch::start(client, shared, address);
    Ok(Running {
        http_addr: http_bound,
        https_addr: https_bound,
        tasks,
        stop,
    })
}
