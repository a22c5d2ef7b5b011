//! UDP frontends: a flow per client address, each with its own socket to the endpoint it was
//! scheduled to, ended after an idle timeout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::Shared;

/// How long a UDP flow lives without traffic: kube-proxy's userspace `--udp-timeout` default.
pub(crate) const UDP_IDLE_TIMEOUT: Duration = Duration::from_millis(250);

/// The largest datagram relayed.
const MAX_DATAGRAM: usize = 65_535;

struct Flow {
    upstream: Arc<UdpSocket>,
    last_seen: Instant,
}

/// Binds a UDP frontend.
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// Relays datagrams until aborted.
pub(crate) async fn serve(frontend: UdpSocket, shared: Arc<Shared>, external: bool) {
    let frontend = Arc::new(frontend);
    let flows: Arc<Mutex<HashMap<SocketAddr, Flow>>> = Default::default();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, client) = match frontend.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(err) => {
                tracing::debug!(service = %shared.name, %err, "UDP receive failed");
                continue;
            }
        };
        if frontend
            .local_addr()
            .is_ok_and(|local| shared.refuses(client.ip(), local.ip()))
        {
            continue;
        }
        let existing = {
            let mut flows = flows.lock().unwrap_or_else(|p| p.into_inner());
            flows.get_mut(&client).map(|f| {
                f.last_seen = Instant::now();
                f.upstream.clone()
            })
        };
        let upstream = match existing {
            Some(u) => u,
            None => match open_flow(&frontend, &shared, external, client, &flows).await {
                Some(u) => u,
                None => continue,
            },
        };
        if let Err(err) = upstream.send(&buf[..n]).await {
            tracing::debug!(service = %shared.name, %client, %err, "UDP send to endpoint failed");
        }
    }
}

/// Schedules a new client to an endpoint and starts relaying its replies.
async fn open_flow(
    frontend: &Arc<UdpSocket>,
    shared: &Arc<Shared>,
    external: bool,
    client: SocketAddr,
    flows: &Arc<Mutex<HashMap<SocketAddr, Flow>>>,
) -> Option<Arc<UdpSocket>> {
    let backends = shared.backends(external);
    if backends.addrs.is_empty() {
        return None;
    }
    let frontend_addr = frontend.local_addr().ok()?;
    let i = crate::relay::choose(shared, &backends, client, frontend_addr);
    let addr = backends.addrs[i];
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let upstream = Arc::new(UdpSocket::bind(bind).await.ok()?);
    upstream.connect(addr).await.ok()?;
    crate::relay::pin(shared, client.ip(), addr);
    flows.lock().unwrap_or_else(|p| p.into_inner()).insert(
        client,
        Flow {
            upstream: upstream.clone(),
            last_seen: Instant::now(),
        },
    );
    let (frontend, flows, up, active) = (
        frontend.clone(),
        flows.clone(),
        upstream.clone(),
        backends.active[i].clone(),
    );
    tokio::spawn(async move {
        let _open = crate::relay::Open::new(&active);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            match tokio::time::timeout(UDP_IDLE_TIMEOUT, up.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    if let Some(f) = flows
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_mut(&client)
                    {
                        f.last_seen = Instant::now();
                    }
                    let _ = frontend.send_to(&buf[..n], client).await;
                }
                // An ICMP error from the endpoint, or silence: end the flow once idle.
                Ok(Err(_)) | Err(_) => {
                    let mut flows = flows.lock().unwrap_or_else(|p| p.into_inner());
                    let idle = flows
                        .get(&client)
                        .is_none_or(|f| f.last_seen.elapsed() >= UDP_IDLE_TIMEOUT);
                    if idle {
                        flows.remove(&client);
                        return;
                    }
                }
            }
        }
    });
    Some(upstream)
}
