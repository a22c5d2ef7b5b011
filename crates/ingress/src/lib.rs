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

pub mod build;
pub mod guard;
pub mod routes;
pub mod server;
pub mod tls;
pub mod upstreams;
pub mod watch;

use std::net::{IpAddr, SocketAddr};

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
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let bound = l
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    Ok((l, bound))
}

/// Binds `http_addr` and `https_addr`, then watches; `address` is what `status.loadBalancer`
/// shows.
pub async fn start(
    client: kube::Client,
    http_addr: SocketAddr,
    https_addr: SocketAddr,
    address: IpAddr,
    use_forwarded_headers: bool,
) -> Result<Running, StartError> {
    let (http, http_bound) = bind(http_addr).await?;
    let (https, https_bound) = bind(https_addr).await?;
    let resolver = tls::Resolver::new().map_err(StartError::Tls)?;
    let config = tls::server_config(resolver.clone()).map_err(StartError::Tls)?;
    let shared = server::Shared::new(use_forwarded_headers, resolver);
    shared
        .https_port
        .store(https_bound.port(), std::sync::atomic::Ordering::Relaxed);
    let mut tasks = vec![
        tokio::spawn(server::serve(shared.clone(), http, None)),
        tokio::spawn(server::serve(
            shared.clone(),
            https,
            Some(tokio_rustls::TlsAcceptor::from(config)),
        )),
    ];
    tasks.extend(watch::start(client, shared, address));
    Ok(Running {
        http_addr: http_bound,
        https_addr: https_bound,
        tasks,
    })
}
