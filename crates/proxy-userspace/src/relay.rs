//! Accepting on a frontend and relaying each connection to an endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use crate::Shared;

/// The dial timeouts of successive attempts, as kube-proxy's userspace proxier had them.
const DIAL_TIMEOUTS: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Binds `addr` for a frontend (address reuse on, so a frontend can come back at once).
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts until aborted; each connection is relayed on its own task, so it outlives a
/// resync that replaces the endpoint set (and even this listener).
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, external: bool) {
    // A listener on one address knows every connection's local address without asking;
    // only a wildcard one (NodePorts on all addresses) needs getsockname.
    let bound = listener
        .local_addr()
        .ok()
        .filter(|a| !a.ip().is_unspecified());
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => {
                let Some(local) = bound.or_else(|| conn.local_addr().ok()) else {
                    continue;
                };
                // loadBalancerSourceRanges: a client outside them is turned away at once.
                if shared.refuses(peer.ip(), local.ip()) {
                    continue;
                }
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(err) = relay(conn, peer, local, &shared, external).await {
                        tracing::debug!(service = %shared.name, %peer, %err, "relay ended");
                    }
                });
            }
            Err(err) => {
                tracing::warn!(service = %shared.name, %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One open connection on an endpoint's counter, for as long as it lives.
pub(crate) struct Open<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Open<'a> {
    pub(crate) fn new(counter: &'a std::sync::atomic::AtomicUsize) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Open(counter)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The endpoint for a new connection: the client's pinned one (ClientIP affinity), else the
/// scheduler's pick. `backends` is not empty.
pub(crate) fn choose(
    shared: &Shared,
    backends: &crate::Backends,
    client: SocketAddr,
    frontend: SocketAddr,
) -> usize {
    pinned(shared, client.ip(), &backends.addrs).unwrap_or_else(|| {
        let conn = crate::scheduler::Conn { client, frontend };
        backends.selection.select(&conn, &backends.candidates()) % backends.addrs.len()
    })
}

/// The endpoint a client is pinned to, if affinity is on and the pin is fresh and still
/// among the endpoints.
fn pinned(shared: &Shared, client: std::net::IpAddr, addrs: &[SocketAddr]) -> Option<usize> {
    let timeout = (*shared.affinity.read().unwrap_or_else(|p| p.into_inner()))?;
    let sticky = shared.sticky.lock().unwrap_or_else(|p| p.into_inner());
    let (addr, last) = sticky.get(&client)?;
    if last.elapsed() > timeout {
        return None;
    }
    addrs.iter().position(|a| a == addr)
}

pub(crate) fn pin(shared: &Shared, client: std::net::IpAddr, addr: SocketAddr) {
    if shared
        .affinity
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .is_some()
    {
        shared
            .sticky
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(client, (addr, Instant::now()));
    }
}

async fn relay(
    mut client: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    shared: &Shared,
    external: bool,
) -> std::io::Result<()> {
    let backends = shared.backends(external);
    let n = backends.addrs.len();
    if n == 0 {
        return Ok(());
    }
    let first = choose(shared, &backends, peer, local);
    let mut last_err = None;
    for (attempt, timeout) in DIAL_TIMEOUTS.iter().enumerate().take(n.max(1)) {
        let i = (first + attempt) % n;
        let addr = backends.addrs[i];
        // Counted from the dial on, so concurrent schedulers see a connection in progress.
        let _open = Open::new(&backends.active[i]);
        match tokio::time::timeout(*timeout, dial(addr)).await {
            Ok(Ok(mut upstream)) => {
                pin(shared, peer.ip(), addr);
                let mut closing = shared.closing(addr);
                tokio::select! {
                    copied = crate::splice::relay(&mut client, &mut upstream) => {
                        copied?;
                    }
                    // The endpoint left its Service and the grace period is over.
                    _ = closing.wait_for(|c| *c) => {}
                }
                return Ok(());
            }
            Ok(Err(err)) => last_err = Some(err),
            Err(_) => {
                last_err = Some(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("dialing {addr} timed out after {timeout:?}"),
                ))
            }
        }
        tracing::debug!(service = %shared.name, %addr, "endpoint dial failed; trying the next");
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no endpoint answered")))
}

/// Connects to `addr` with Nagle off. A connection that became writable with no error or
/// hang-up flagged is established, so the success path skips tokio's `SO_ERROR` query; the
/// error is fetched only when the event says the connect failed.
pub(crate) async fn dial(addr: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    let ready = stream
        .ready(tokio::io::Interest::WRITABLE | tokio::io::Interest::ERROR)
        .await?;
    if ready.is_writable() && !ready.is_write_closed() && !ready.is_error() {
        return Ok(stream);
    }
    Err(stream
        .take_error()?
        .unwrap_or_else(|| std::io::ErrorKind::ConnectionRefused.into()))
}
