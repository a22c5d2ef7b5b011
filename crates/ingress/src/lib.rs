//! knet's ingress controller: Ingress v1 as the spec and ingress-nginx read it.
//!
//! - [`routes`]: the route table (hosts, paths, precedence, defaults, rewrite-target).
//! - [`build`]: which Ingresses are ours (IngressClass) and what they contribute.
//! - [`upstreams`]: Service ports to endpoint addresses, from EndpointSlices.
//! - [`server`]: the HTTP server and the proxy (keep-alive pool, forwarded headers, retries).
//! - [`watch`]: reflectors, snapshot swaps, `status.loadBalancer`.
//!
//! Not yet: TLS, the ingress-nginx annotations beyond rewrite-target and use-regex, and the
//! hardening limits (see the crate's README.md in ARCHITECTURE.md's code map).

pub mod build;
pub mod routes;
pub mod server;
pub mod upstreams;
pub mod watch;

use std::net::{IpAddr, SocketAddr};

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
#[error("ingress: binding {addr}: {source}")]
pub struct StartError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// A running controller; dropping it stops it.
#[derive(Debug)]
pub struct Running {
    /// The bound plain-HTTP address.
    pub http_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds `http_addr`, then watches; `address` is what `status.loadBalancer` shows.
pub async fn start(
    client: kube::Client,
    http_addr: SocketAddr,
    address: IpAddr,
    use_forwarded_headers: bool,
) -> Result<Running, StartError> {
    let listener = tokio::net::TcpListener::bind(http_addr)
        .await
        .map_err(|source| StartError {
            addr: http_addr,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| StartError {
        addr: http_addr,
        source,
    })?;
    let shared = server::Shared::new(use_forwarded_headers);
    let mut tasks = vec![tokio::spawn(server::serve_http(shared.clone(), listener))];
    tasks.extend(watch::start(client, shared, address));
    Ok(Running {
        http_addr: bound,
        tasks,
    })
}
