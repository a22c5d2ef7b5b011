//! The userspace proxy over real loopback sockets, without a cluster: states are built by
//! hand and synced directly.

use std::sync::Arc;
use std::time::Duration;

use proxy::service::{Protocol, ServiceKey};
use proxy::{Changes, Dataplane, Endpoint, ProxyState, ServicePort, ServicePortName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

fn name() -> ServicePortName {
    ServicePortName {
        service: ServiceKey {
            namespace: "ns".into(),
            name: "svc".into(),
        },
        port: String::new(),
        protocol: Protocol::Tcp,
    }
}

fn state(frontend: SocketAddr, endpoints: &[SocketAddr]) -> ProxyState {
    let mut s = ProxyState::default();
    s.services.insert(
        name(),
        Arc::new(ServicePort::cluster_ip(frontend.ip(), frontend.port())),
    );
    if !endpoints.is_empty() {
        let eps = endpoints
            .iter()
            .map(|a| Endpoint::ready(a.ip(), a.port()))
            .collect();
        s.endpoints.insert(name(), Arc::new(eps));
    }
    s
}

/// An echo server that writes back what it reads.
async fn echo_server() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_a_removed_endpoint_close_after_the_grace_period() {
    let backend = echo_server().await;
    // A free port on a loopback address of its own.
    let frontend = {
        let l = std::net::TcpListener::bind("127.0.0.77:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let mut proxy = Userspace::new(Config {
        node_ip: "127.0.0.1".parse().expect("ip"),
        nodeport_addresses: Vec::new(),
        node_name: "n".into(),
        default_scheduler: SchedulerKind::RoundRobin,
        events: None,
        removed_endpoint_grace: Duration::from_millis(300),
    });
    proxy
        .sync(&state(frontend, &[backend]), &Changes::full())
        .await
        .expect("sync");
    let mut conn = tokio::net::TcpStream::connect(frontend)
        .await
        .expect("connect");
    conn.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).await.expect("echo");
    assert_eq!(&buf, b"ping");

    // The endpoint leaves: new connections are refused at once, the open one still works
    // within the grace period and is closed after it.
    proxy
        .sync(&state(frontend, &[]), &Changes::full())
        .await
        .expect("sync");
    let refused = tokio::net::TcpStream::connect(frontend).await;
    assert!(refused.is_err(), "no endpoints, no listener");
    conn.write_all(b"pong").await.expect("write");
    conn.read_exact(&mut buf)
        .await
        .expect("echo within the grace period");
    assert_eq!(&buf, b"pong");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf))
        .await
        .expect("closed, not hanging")
        .unwrap_or(0);
    assert_eq!(n, 0, "the connection outlived its grace period");
}

#[test]
fn source_ranges_match_by_prefix() {
    let r = parse_range("10.1.0.0/16").expect("range");
    assert!(in_range("10.1.200.3".parse().expect("ip"), r));
    assert!(!in_range("10.2.0.1".parse().expect("ip"), r));
    assert!(in_range(
        "192.0.2.1".parse().expect("ip"),
        parse_range("0.0.0.0/0").expect("all")
    ));
    assert_eq!(parse_range("fe80::/64"), None);
    assert_eq!(parse_range("10.0.0.0/40"), None);
}

/// A relayed exchange in both shapes the relay takes: a short request copied through the
/// buffer, then an answer big enough to switch that direction to splice. The client's
/// half-close reaches the upstream, which answers only after its EOF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_carries_half_close_and_bulk_both_ways() {
    const ANSWER: usize = 3 << 20;
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let up_addr = upstream.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.expect("accept");
        let mut request = Vec::new();
        s.read_to_end(&mut request).await.expect("read request");
        assert_eq!(request, b"ping");
        let answer: Vec<u8> = (0..ANSWER).map(|i| (i % 251) as u8).collect();
        s.write_all(&answer).await.expect("answer");
    });
    let front = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let front_addr = front.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut client, _) = front.accept().await.expect("accept");
        let mut upstream = relay::dial(up_addr).await.expect("dial");
        splice::relay(&mut client, &mut upstream)
            .await
            .expect("relay");
    });
    let mut c = tokio::net::TcpStream::connect(front_addr)
        .await
        .expect("connect");
    c.write_all(b"ping").await.expect("write");
    c.shutdown().await.expect("half-close");
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut got))
        .await
        .expect("the relay ends with the upstream's EOF")
        .expect("read");
    assert_eq!(got.len(), ANSWER);
    assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
}

/// A dial to a port nobody listens on fails with the connect's own error, which the relay
/// needs to move on to the next endpoint.
#[tokio::test]
async fn dialing_a_closed_port_is_refused() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    let err = relay::dial(addr).await.expect_err("nobody listens");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
