//! The HTTP server: every request looked up in the current [`Snapshot`] (swapped whole on each
//! change, so a change never drops a connection) and proxied to an endpoint through a
//! keep-alive pool, with ingress-nginx's forwarded headers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::routes::{Table, rewrite};
use crate::upstreams::{NoUpstream, Upstreams};

/// Bodies both ways.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// A backend's endpoints, resolved when the snapshot is made, and its round-robin position.
#[derive(Debug)]
struct Resolved {
    addrs: Result<Vec<SocketAddr>, NoUpstream>,
    next: AtomicUsize,
}

/// What requests are routed by; replaced whole on every change.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Hosts and paths.
    pub table: Table,
    /// Every backend of the table, resolved, keyed by the backend's identity (the address of
    /// its `Arc` in `table`, which the snapshot owns and never changes).
    resolved: std::collections::HashMap<usize, Resolved>,
}

impl Snapshot {
    /// A snapshot of `table` with its backends resolved through `upstreams`.
    pub fn new(table: Table, upstreams: Upstreams) -> Snapshot {
        let resolved = table
            .backends()
            .map(|b| {
                (
                    Arc::as_ptr(b) as usize,
                    Resolved {
                        addrs: upstreams.resolve(b),
                        next: AtomicUsize::new(0),
                    },
                )
            })
            .collect();
        Snapshot { table, resolved }
    }
}

/// The server's shared state.
#[derive(Debug)]
pub struct Shared {
    snapshot: RwLock<Arc<Snapshot>>,
    /// Certificates by SNI.
    pub tls: Arc<crate::tls::Resolver>,
    /// The HTTPS port, for redirects.
    pub https_port: std::sync::atomic::AtomicU16,
    /// Trust the client's X-Forwarded-* headers (`--use-forwarded-headers`).
    pub use_forwarded_headers: bool,
}

impl Shared {
    /// Empty routes until the first snapshot.
    pub fn new(use_forwarded_headers: bool, tls: Arc<crate::tls::Resolver>) -> Arc<Shared> {
        Arc::new(Shared {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            tls,
            https_port: std::sync::atomic::AtomicU16::new(443),
            use_forwarded_headers,
        })
    }

    /// Makes `s` the routes of every request from now on.
    pub fn swap(&self, s: Snapshot) {
        if let Ok(mut g) = self.snapshot.write() {
            *g = Arc::new(s);
        }
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
}

fn text(code: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = code;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Hop-by-hop headers, which a proxy does not pass on (RFC 9110 §7.6.1).
const HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

fn set(headers: &mut hyper::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

fn request_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut out = String::with_capacity(32);
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// The upstream connection pool of one worker thread (each worker has its own, so a pooled
/// connection is always driven by the thread that uses it).
pub type Upstream = Client<HttpConnector, Body>;

/// A new upstream pool: keep-alive, 60 s idle, TCP_NODELAY, 5 s connect timeout.
pub fn upstream_pool() -> Upstream {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(connector)
}

/// Where the request came in: the client's address and the server's scheme and port.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// The client.
    pub peer: SocketAddr,
    /// The port the client connected to.
    pub port: u16,
    /// Whether over TLS.
    pub tls: bool,
}

/// One request.
pub async fn handle(
    shared: &Shared,
    client: &Upstream,
    conn: Conn,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let snapshot = shared.current();
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let path = req.uri().path().to_owned();
    let Some(found) = snapshot.table.lookup(&host, &path) else {
        return text(StatusCode::NOT_FOUND, "default backend - 404\n");
    };
    let backend = found.backend.clone();
    // ingress-nginx's ssl-redirect: plain HTTP to a host with a certificate goes to HTTPS.
    if !conn.tls && backend.ssl_redirect && shared.tls.has(&crate::routes::normalize_host(&host)) {
        let port = shared.https_port.load(Ordering::Relaxed);
        let name = crate::routes::normalize_host(&host);
        let authority = if port == 443 {
            name
        } else {
            format!("{name}:{port}")
        };
        let target = match req.uri().query() {
            Some(q) => format!("https://{authority}{path}?{q}"),
            None => format!("https://{authority}{path}"),
        };
        let mut r = text(StatusCode::PERMANENT_REDIRECT, "308 Permanent Redirect\n");
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert(hyper::header::LOCATION, v);
        }
        return r;
    }
    let Some(resolved) = snapshot.resolved.get(&(Arc::as_ptr(&backend) as usize)) else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable\n");
    };
    let addrs = match &resolved.addrs {
        Ok(a) => a.as_slice(),
        Err(NoUpstream::NoService) if backend.service.is_none() => {
            return text(StatusCode::NOT_FOUND, "default backend - 404\n");
        }
        Err(_) => return text(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable\n"),
    };
    // The upstream path: rewritten, or as sent; the query string is kept.
    let upstream_path = match (&backend.rewrite_target, found.route) {
        (Some(target), Some(route)) => rewrite(route, target, &path),
        _ => path.clone(),
    };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{upstream_path}?{q}"),
        None => upstream_path,
    };
    // WebSocket and other upgrades: the Upgrade and Connection headers go on, and after a
    // 101 both sides are joined byte for byte.
    let upgrade = req
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let headers = &mut parts.headers;
    for h in HOP {
        headers.remove(h);
    }
    if let Some(u) = &upgrade {
        set(headers, "upgrade", u);
        set(headers, "connection", "upgrade");
    }
    // ingress-nginx's headers: the client's own X-Forwarded-* are replaced unless trusted.
    let scheme = if conn.tls { "https" } else { "http" };
    let peer = conn.peer.ip().to_string();
    let given =
        |h: &hyper::HeaderMap, n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if shared.use_forwarded_headers {
        let xff =
            given(headers, "x-forwarded-for").map_or(peer.clone(), |x| format!("{x}, {peer}"));
        set(headers, "x-forwarded-for", &xff);
        for (n, v) in [
            ("x-forwarded-proto", scheme.to_owned()),
            ("x-forwarded-scheme", scheme.to_owned()),
            ("x-forwarded-port", conn.port.to_string()),
            ("x-forwarded-host", host.clone()),
        ] {
            if given(headers, n).is_none() {
                set(headers, n, &v);
            }
        }
    } else {
        if let Some(x) = given(headers, "x-forwarded-for") {
            set(headers, "x-original-forwarded-for", &x);
        }
        if let Some(x) = given(headers, "x-forwarded-host") {
            set(headers, "x-original-forwarded-host", &x);
        }
        set(headers, "x-forwarded-for", &peer);
        set(headers, "x-forwarded-proto", scheme);
        set(headers, "x-forwarded-scheme", scheme);
        set(headers, "x-forwarded-port", &conn.port.to_string());
        set(headers, "x-forwarded-host", &host);
    }
    set(headers, "x-real-ip", &peer);
    if given(headers, "x-request-id").is_none() {
        set(headers, "x-request-id", &request_id());
    }
    // Endpoints in turn; a connect error moves on to the next one (only for requests without
    // a body, which can be sent again).
    let start = resolved.next.fetch_add(1, Ordering::Relaxed);
    let bodyless = body.is_end_stream();
    let mut body = Some(body);
    let tries = if bodyless { addrs.len().min(3) } else { 1 };
    let mut last_err = None;
    for i in 0..tries {
        let addr = addrs[(start + i) % addrs.len()];
        let Ok(uri) = Uri::builder()
            .scheme("http")
            .authority(addr.to_string())
            .path_and_query(path_and_query.as_str())
            .build()
        else {
            return text(StatusCode::BAD_REQUEST, "bad request path\n");
        };
        let mut out = Request::from_parts(parts.clone(), empty());
        *out.uri_mut() = uri;
        // Upstreams get HTTP/1.1 (the client pool speaks it unless the backend asks for h2).
        *out.version_mut() = hyper::Version::HTTP_11;
        if !bodyless && let Some(b) = body.take() {
            *out.body_mut() = b.boxed();
        }
        match client.request(out).await {
            Ok(mut resp) => {
                if resp.status() == StatusCode::SWITCHING_PROTOCOLS
                    && let Some(client_upgrade) = client_upgrade
                {
                    let upstream_upgrade = hyper::upgrade::on(&mut resp);
                    tokio::spawn(async move {
                        if let (Ok(a), Ok(b)) = (client_upgrade.await, upstream_upgrade.await) {
                            let _ = tokio::io::copy_bidirectional(
                                &mut TokioIo::new(a),
                                &mut TokioIo::new(b),
                            )
                            .await;
                        }
                    });
                }
                return resp.map(|b| b.boxed());
            }
            Err(e) => {
                tracing::debug!(%addr, err = %e, "ingress: upstream failed");
                last_err = Some(e);
            }
        }
    }
    let _ = last_err;
    text(StatusCode::BAD_GATEWAY, "502 Bad Gateway\n")
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Serves one connection's requests.
async fn serve_conn<IO>(shared: Arc<Shared>, client: Upstream, conn: Conn, io: IO)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let (shared, client) = (shared.clone(), client.clone());
        async move { Ok::<_, Infallible>(handle(&shared, &client, conn, req).await) }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await;
}

/// Serves plain HTTP (HTTP/1.1, and HTTP/2 with prior knowledge) on `listener`, or HTTPS
/// when `tls` is given (ALPN picks HTTP/2 or HTTP/1.1).
pub async fn serve(
    shared: Arc<Shared>,
    client: Upstream,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let port = listener.local_addr().map_or(0, |a| a.port());
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (shared, client) = (shared.clone(), client.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            let conn = Conn {
                peer,
                port,
                tls: tls.is_some(),
            };
            match tls {
                None => serve_conn(shared, client, conn, crate::guard::Guard::new(tcp)).await,
                Some(acceptor) => {
                    // A handshake that stalls must not hold the connection forever.
                    let accepted =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await;
                    if let Ok(Ok(stream)) = accepted {
                        serve_conn(shared, client, conn, crate::guard::Guard::new(stream)).await;
                    }
                }
            }
        });
    }
}
