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
//! - [`annotations`]: the ingress-nginx annotations, read into a per-Ingress `Policy`.
//! - [`balance`]: endpoint choice (round robin, EWMA, cookie affinity) and per-client limits.
//! - [`metrics`]: Prometheus metrics and the access log.

pub mod annotations;
pub mod balance;
pub mod build;
pub mod guard;
pub mod h1;
pub mod idle;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod tls;
pub mod upstreams;
pub mod watch;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Plain HTTP.
    pub http_addr: SocketAddr,
    /// HTTPS.
    pub https_addr: SocketAddr,
    /// The address written into the served Ingresses' status.
    pub address: IpAddr,
    /// Trust the client's X-Forwarded-* headers (`--use-forwarded-headers`).
    pub use_forwarded_headers: bool,
    /// `--default-backend-service`: `namespace/name` of the Service that serves requests no
    /// rule and no Ingress's `defaultBackend` takes (its first port).
    pub default_backend_service: Option<(String, String)>,
    /// Where `/metrics` and `/healthz` are served.
    pub metrics_addr: Option<SocketAddr>,
    /// Where each request is logged, one JSON object per line.
    pub access_log: Option<std::path::PathBuf>,
    /// The most client connections open at once (over all workers); more are closed at once.
    pub max_connections: usize,
    /// The `Strict-Transport-Security` header of HTTPS answers for hosts with a certificate
    /// (ingress-nginx's default: [`HSTS`]); `None` sends none.
    pub hsts: Option<String>,
}

/// ingress-nginx's default HSTS header (`hsts-max-age` 31536000, `hsts-include-subdomains`).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// ingress-nginx's default `max-worker-connections`.
pub const MAX_CONNECTIONS: usize = 16_384;

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
    /// The access log could not be opened.
    #[error("ingress: access log {path}: {source}")]
    AccessLog {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A running controller; dropping it stops it.
#[derive(Debug)]
pub struct Running {
    /// The bound plain-HTTP address.
    pub http_addr: SocketAddr,
    /// The bound HTTPS address.
    pub https_addr: SocketAddr,
    /// The bound metrics address.
    pub metrics_addr: Option<SocketAddr>,
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
pub async fn start(client: kube::Client, config: Config) -> Result<Running, StartError> {
    let Config {
        http_addr,
        https_addr,
        address,
        use_forwarded_headers,
        ..
    } = config;
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
    let access_log = match &config.access_log {
        Some(path) => {
            Some(
                metrics::AccessLog::open(path).map_err(|source| StartError::AccessLog {
                    path: path.clone(),
                    source,
                })?,
            )
        }
        None => None,
    };
    let metrics = Arc::new(metrics::Metrics::new(access_log));
    let mut tasks = Vec::new();
    let metrics_addr = match config.metrics_addr {
        Some(addr) => {
            let listener = obs::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
            let bound = listener.local_addr().ok();
            let m = metrics.clone();
            let handler: obs::Handler = Arc::new(move |path: &str| match path {
                "/metrics" => obs::metrics(m.encode()),
                "/healthz" => obs::text(
                    hyper::StatusCode::OK,
                    "ok".into(),
                    "text/plain; charset=utf-8",
                ),
                _ => obs::not_found(),
            });
            tasks.push(tokio::spawn(obs::serve(listener, handler)));
            bound
        }
        None => None,
    };
    let tls_config = tls::server_config(resolver.clone()).map_err(StartError::Tls)?;
    let shared = server::Shared::new(
        use_forwarded_headers,
        resolver,
        metrics,
        config.max_connections,
        config.hsts.as_deref(),
    );
    shared
        .https_port
        .store(https_bound.port(), std::sync::atomic::Ordering::Relaxed);
    let stop = Arc::new(tokio::sync::Notify::new());
    for (i, (h, s)) in http.into_iter().zip(https).enumerate() {
        let (shared, stop, config) = (shared.clone(), stop.clone(), tls_config.clone());
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
                        () = obs::keep_timer_armed(std::time::Duration::from_secs(1)) => {}
                        () = stop.notified() => {}
                    }
                });
            })
            .map_err(|source| StartError::Bind {
                addr: http_addr,
                source,
            })?;
    }
    let fallback = config.default_backend_service.map(|(ns, name)| {
        Arc::new(routes::Backend {
            namespace: ns.clone(),
            service: Some(name),
            port: routes::PortRef::First,
            source: routes::Source {
                created: i64::MAX,
                namespace: ns,
                name: String::new(),
            },
            policy: Default::default(),
            fallback: None,
        })
    });
    tasks.extend(watch::start(client, shared, address, fallback));
    Ok(Running {
        http_addr: http_bound,
        https_addr: https_bound,
        metrics_addr,
        tasks,
        stop,
    })
}
