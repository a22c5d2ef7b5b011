//! The HTTP server: every request looked up in the current [`Snapshot`] (swapped whole on each
//! change, so a change never drops a connection) and proxied to an endpoint through a
//! keep-alive pool, with ingress-nginx's forwarded headers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
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

use crate::annotations::{BackendProtocol, Policy};
use crate::balance::{Limiter, Resolved, cookie_value};
use crate::routes::{Backend, Route, Table, rewrite};
use crate::upstreams::{NoUpstream, Upstreams};

/// A body's error: hyper's, the body-size limit's, or the lean upstream client's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bodies both ways, to the client and to the upstream.
pub type Body = BoxBody<Bytes, BoxError>;

/// What requests are routed by; replaced whole on every change.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Hosts and paths.
    pub table: Table,
    /// Every backend of the table, resolved, keyed by the backend's identity (the address of
    /// its `Arc` in `table`, which the snapshot owns and never changes).
    resolved: foldhash::HashMap<usize, Resolved>,
    /// The per-client limits of each Ingress that has them, keyed by its policy's identity.
    limiters: foldhash::HashMap<usize, Limiter>,
}

impl Snapshot {
    /// A snapshot of `table` with its backends resolved through `upstreams`.
    pub fn new(table: Table, upstreams: &Upstreams) -> Snapshot {
        let mut resolved = foldhash::HashMap::default();
        let mut limiters = foldhash::HashMap::default();
        // Many paths share a Service port: each is resolved once.
        let mut cache = HashMap::new();
        for b in table.backends() {
            let addrs = cache
                .entry((b.namespace.as_str(), b.service.as_deref(), &b.port))
                .or_insert_with(|| upstreams.resolve(b))
                .clone();
            resolved.insert(Arc::as_ptr(b) as usize, Resolved::new(addrs));
            if b.policy.limit_rps.is_some() || b.policy.limit_connections.is_some() {
                limiters
                    .entry(Arc::as_ptr(&b.policy) as usize)
                    .or_insert_with(Limiter::default);
            }
        }
        Snapshot {
            table,
            resolved,
            limiters,
        }
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
    /// Counts and the access log.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The most client connections at once.
    max_connections: usize,
    /// Client connections open now.
    open: std::sync::atomic::AtomicUsize,
    /// The `Strict-Transport-Security` value for HTTPS answers of hosts with a certificate, if
    /// any.
    hsts: Option<HeaderValue>,
}

impl Shared {
    /// Empty routes until the first snapshot.
    pub fn new(
        use_forwarded_headers: bool,
        tls: Arc<crate::tls::Resolver>,
        metrics: Arc<crate::metrics::Metrics>,
        max_connections: usize,
        hsts: Option<&str>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            tls,
            https_port: std::sync::atomic::AtomicU16::new(443),
            use_forwarded_headers,
            metrics,
            max_connections,
            open: std::sync::atomic::AtomicUsize::new(0),
            hsts: hsts.and_then(|v| HeaderValue::from_str(v).ok()),
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

/// 32 random hex digits, like nginx's `$request_id`: a per-thread xorshift generator seeded
/// once from the standard library's random hasher keys.
fn request_id() -> HeaderValue {
    use std::cell::Cell;
    use std::hash::{BuildHasher as _, Hasher as _};
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(u64::from(std::process::id()));
            h.finish() | 1
        });
    }
    let next = || {
        STATE.with(|s| {
            let mut x = s.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            x
        })
    };
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 32];
    for (half, x) in id.chunks_exact_mut(16).zip([next(), next()]) {
        for (i, digit) in half.iter_mut().enumerate() {
            *digit = HEX[((x >> (60 - 4 * i)) & 0xf) as usize];
        }
    }
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// An upstream connection pool (plain HTTP, or TLS for HTTPS and GRPCS backends).
pub type Upstream = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// The upstream pools of one worker thread (each worker has its own, so a pooled connection is
/// always driven by the thread that uses it): one per backend protocol with the default
/// connect timeout, and more made on demand for Ingresses with their own
/// `proxy-connect-timeout`.
#[derive(Debug, Clone)]
pub struct Pools(Arc<PoolSet>);

#[derive(Debug)]
struct PoolSet {
    /// By protocol, with the default connect timeout (a handful: searched in order).
    default: Vec<(BackendProtocol, Upstream)>,
    /// The lean client's idle connections (plain HTTP/1.1, bodiless requests).
    h1: Arc<crate::h1::Pool>,
    custom: Mutex<HashMap<(Duration, BackendProtocol), Upstream>>,
}

/// ingress-nginx's default `proxy-connect-timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The protocols of `backend-protocol`.
const PROTOCOLS: [BackendProtocol; 4] = [
    BackendProtocol::Http,
    BackendProtocol::H2c,
    BackendProtocol::Https,
    BackendProtocol::Grpcs,
];

/// Accepts any upstream certificate: ingress-nginx does not verify upstreams unless told to
/// (`proxy-ssl-verify`), and pods rarely have certificates for their addresses. The handshake
/// signatures are still checked.
#[derive(Debug)]
struct AnyUpstreamCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyUpstreamCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A new pool: keep-alive, 60 s idle, TCP_NODELAY; TLS (ALPN h2 or http/1.1) when the
/// protocol asks for it.
fn pool(connect: Duration, protocol: BackendProtocol) -> Upstream {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect));
    http.set_nodelay(true);
    http.enforce_http(false);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyUpstreamCert(provider)))
                .with_no_client_auth()
        })
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        });
    let mut b = Client::builder(TokioExecutor::new());
    b.pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256);
    // ALPN: h2 for the HTTP/2 protocols, none (so HTTP/1.1) otherwise.
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if protocol.h2() {
        b.http2_only(true);
        b.build(builder.enable_http2().wrap_connector(http))
    } else {
        b.build(builder.enable_http1().wrap_connector(http))
    }
}

/// A worker's pools.
pub fn upstream_pool() -> Pools {
    Pools(Arc::new(PoolSet {
        default: PROTOCOLS
            .iter()
            .map(|p| (*p, pool(CONNECT_TIMEOUT, *p)))
            .collect(),
        h1: Arc::default(),
        custom: Mutex::default(),
    }))
}

impl Pools {
    /// The pool for `policy`: borrowed for the common timeout, a clone of a custom one.
    fn get(&self, policy: &Policy) -> std::borrow::Cow<'_, Upstream> {
        let protocol = policy.backend_protocol;
        if policy.connect_timeout == CONNECT_TIMEOUT
            && let Some((_, p)) = self.0.default.iter().find(|(p, _)| *p == protocol)
        {
            return std::borrow::Cow::Borrowed(p);
        }
        std::borrow::Cow::Owned(
            self.0
                .custom
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry((policy.connect_timeout, protocol))
                .or_insert_with(|| pool(policy.connect_timeout, protocol))
                .clone(),
        )
    }
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

/// Which backend and endpoint answered, for the metrics and the access log. It travels beside
/// the response, not in its extensions, which would cost a map and a box per request.
#[derive(Debug)]
pub struct Served {
    backend: Arc<Backend>,
    upstream: Option<SocketAddr>,
    /// The backend's metrics, looked up when the snapshot was made.
    handles: Option<Arc<crate::metrics::RouteHandles>>,
}

/// A response with `code`, `Location: to` and a short body.
fn redirect(code: u16, to: &str) -> Response<Body> {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
    let mut r = text(code, "");
    *r.body_mut() = Full::new(Bytes::from(format!("{code}\n")))
        .map_err(|never| match never {})
        .boxed();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(hyper::header::LOCATION, v);
    }
    r
}

/// `https://host[:port]<request-uri>` for the HTTPS redirect; a single trailing `/` is
/// dropped unless `preserve-trailing-slash` (as ingress-nginx writes it).
fn https_location(shared: &Shared, host: &str, uri: &Uri, preserve_slash: bool) -> String {
    let port = shared.https_port.load(Ordering::Relaxed);
    let name = crate::routes::normalize_host(host);
    let authority = if port == 443 {
        name.into_owned()
    } else {
        format!("{name}:{port}")
    };
    let request_uri = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut target = format!("https://{authority}{request_uri}");
    if !preserve_slash && target.ends_with('/') {
        target.pop();
    }
    target
}

/// The first entry of X-Forwarded-Host, if there is one.
fn first_forwarded_host(headers: &hyper::HeaderMap) -> Option<String> {
    let v = headers.get("x-forwarded-host")?.to_str().ok()?;
    let first = v.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_owned())
}

/// The canary's backend when its rules (header, then cookie, then weight) pick it.
fn canary_wins(canary: &Backend, headers: &hyper::HeaderMap, turn: usize) -> bool {
    let Some(rule) = &canary.policy.canary else {
        return false;
    };
    if let Some(name) = &rule.by_header
        && let Some(v) = headers.get(name.as_str()).and_then(|v| v.to_str().ok())
    {
        if let Some(want) = &rule.header_value {
            if v == want {
                return true;
            }
        } else if let Some(pattern) = &rule.header_pattern {
            if pattern.0.is_match(v) {
                return true;
            }
        } else if v == "always" {
            return true;
        } else if v == "never" {
            return false;
        }
    }
    if let Some(name) = &rule.by_cookie
        && let Some(v) = cookie(headers, name)
    {
        match v.as_str() {
            "always" => return true,
            "never" => return false,
            _ => {}
        }
    }
    // Weight: `weight` of each `total` requests, spread evenly (the canary's share grows by
    // weight/total per request and it takes a request each time that crosses a whole one).
    let (w, t) = (rule.weight as u64, u64::from(rule.weight_total.max(1)));
    let turn = turn as u64 % t;
    (turn + 1) * w / t > turn * w / t
}

/// The value of cookie `name` in the request.
fn cookie(headers: &hyper::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// The `Set-Cookie` of cookie affinity for endpoint `addr`.
fn affinity_cookie(
    a: &crate::annotations::Affinity,
    route: Option<&Route>,
    addr: &SocketAddr,
) -> String {
    let path = a.path.clone().unwrap_or_else(|| match route {
        Some(r) if !matches!(r.matcher, crate::routes::Matcher::Regex(_)) => r.path.clone(),
        _ => "/".to_owned(),
    });
    let mut c = format!("{}={}; Path={path}", a.name, cookie_value(addr));
    if let Some(age) = a.max_age.or(a.expires) {
        let expires = std::time::SystemTime::now() + Duration::from_secs(age);
        c.push_str(&format!("; Expires={}; Max-Age={age}", httpdate(expires)));
    }
    if let Some(d) = &a.domain {
        c.push_str(&format!("; Domain={d}"));
    }
    if a.secure {
        c.push_str("; Secure");
    }
    if let Some(s) = &a.samesite {
        c.push_str(&format!("; SameSite={s}"));
    }
    c.push_str("; HttpOnly");
    c
}

/// An HTTP date (RFC 9110 §5.6.7).
fn httpdate(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ts = jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(0)).unwrap_or_default();
    ts.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The CORS headers of a response to a request from `origin`.
fn cors_headers(cors: &crate::annotations::Cors, origin: Option<&str>, out: &mut hyper::HeaderMap) {
    let Some(allow) = cors.allow_origin(origin) else {
        return;
    };
    set(out, "access-control-allow-origin", &allow);
    if cors.credentials {
        set(out, "access-control-allow-credentials", "true");
    }
    set(out, "access-control-allow-methods", &cors.methods);
    set(out, "access-control-allow-headers", &cors.headers);
    if let Some(e) = &cors.expose {
        set(out, "access-control-expose-headers", e);
    }
}

/// One request.
pub async fn handle(
    shared: &Shared,
    pools: &Pools,
    conn: Conn,
    req: Request<Incoming>,
) -> (Response<Body>, Option<Served>) {
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
        return (text(StatusCode::NOT_FOUND, "default backend - 404\n"), None);
    };
    // HSTS on HTTPS answers for hosts with their own certificate, as ingress-nginx sends it.
    let hsts =
        conn.tls && shared.hsts.is_some() && shared.tls.has(&crate::routes::normalize_host(&host));
    let mut served = None;
    let mut resp = gate(
        shared,
        &snapshot,
        &found,
        conn,
        req,
        &host,
        &path,
        pools,
        &mut served,
    )
    .await;
    // The backend's metrics, found by label once per snapshot.
    let handles = |b: &Arc<Backend>| {
        snapshot.resolved.get(&(Arc::as_ptr(b) as usize)).map(|r| {
            r.metrics
                .get_or_init(|| {
                    Arc::new(shared.metrics.route(
                        &b.source.namespace,
                        &b.source.name,
                        b.service.as_deref().unwrap_or_default(),
                    ))
                })
                .clone()
        })
    };
    // Answered here (a redirect, a refusal): the route's backend is named.
    let mut served = served.unwrap_or_else(|| Served {
        backend: found.backend.clone(),
        upstream: None,
        handles: None,
    });
    served.handles = handles(&served.backend);
    if hsts && let Some(v) = &shared.hsts {
        resp.headers_mut()
            .insert(hyper::header::STRICT_TRANSPORT_SECURITY, v.clone());
    }
    (resp, Some(served))
}

/// Everything after the route is found: the Ingress's checks and redirects, then the proxy.
#[allow(clippy::too_many_arguments)]
async fn gate(
    shared: &Shared,
    snapshot: &Snapshot,
    found: &crate::routes::Found<'_>,
    conn: Conn,
    mut req: Request<Incoming>,
    host: &str,
    path: &str,
    pools: &Pools,
    served: &mut Option<Served>,
) -> Response<Body> {
    let policy = &found.backend.policy;
    // allowlist-source-range: others are forbidden.
    if let Some(allow) = &policy.allow
        && !allow.iter().any(|c| c.contains(conn.peer.ip()))
    {
        return text(StatusCode::FORBIDDEN, "403 Forbidden\n");
    }
    if let Some((code, to)) = &policy.redirect {
        return redirect(*code, to);
    }
    // ssl-redirect (hosts with a certificate) and force-ssl-redirect: 308 to HTTPS.
    if !conn.tls
        && (policy.force_ssl_redirect
            || (policy.ssl_redirect && shared.tls.has(&crate::routes::normalize_host(host))))
    {
        // Behind a trusted proxy the client's own host is the first X-Forwarded-Host.
        let forwarded = shared
            .use_forwarded_headers
            .then(|| first_forwarded_host(req.headers()))
            .flatten();
        let to = https_location(
            shared,
            forwarded.as_deref().unwrap_or(host),
            req.uri(),
            policy.preserve_trailing_slash,
        );
        return redirect(308, &to);
    }
    if let Some(root) = &policy.app_root
        && path == "/"
    {
        return redirect(302, root);
    }
    let origin = req
        .headers()
        .get(hyper::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // CORS preflight is answered here.
    if let Some(cors) = &policy.cors
        && req.method() == hyper::Method::OPTIONS
    {
        let mut r = text(StatusCode::NO_CONTENT, "");
        *r.body_mut() = empty();
        cors_headers(cors, origin.as_deref(), r.headers_mut());
        set(
            r.headers_mut(),
            "access-control-max-age",
            &cors.max_age.to_string(),
        );
        set(r.headers_mut(), "content-length", "0");
        return r;
    }
    // proxy-body-size: a body declared bigger than the limit is refused before it is read.
    if let Some(limit) = policy.body_limit
        && req
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > limit)
    {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "413 Request Entity Too Large\n",
        );
    }
    // limit-rps and limit-connections, per client address: 503 as ingress-nginx answers.
    let limiter = snapshot.limiters.get(&(Arc::as_ptr(policy) as usize));
    let _open = match (limiter, policy.limit_connections) {
        (Some(l), Some(max)) => match l.open(conn.peer.ip(), max) {
            Some(open) => Some(open),
            None => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "503 Service Temporarily Unavailable\n",
                );
            }
        },
        _ => None,
    };
    if let (Some(l), Some(rps)) = (limiter, policy.limit_rps)
        && !l.allow_rate(conn.peer.ip(), rps)
    {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Temporarily Unavailable\n",
        );
    }
    // A canary on the route takes its share.
    let mut backend = found.backend;
    if let Some(route) = found.route
        && let Some(canary) = &route.canary
    {
        let turn = snapshot
            .resolved
            .get(&(Arc::as_ptr(canary) as usize))
            .map_or(0, Resolved::turn);
        if canary_wins(canary, req.headers(), turn) {
            backend = canary;
        }
    }
    let resolve = |b: &Arc<Backend>| snapshot.resolved.get(&(Arc::as_ptr(b) as usize));
    // The `default-backend` annotation: a backend without endpoints hands over to that
    // Service, which is told what happened in ingress-nginx's custom-error headers.
    let mut custom_error = None;
    let serves = |b: &Arc<Backend>| {
        resolve(b).is_some_and(|r| r.addrs.as_ref().is_ok_and(|a| !a.is_empty()))
    };
    if !serves(backend)
        && let Some(fallback) = &backend.fallback
    {
        custom_error = Some(backend.clone());
        backend = fallback;
    }
    let Some(resolved) = resolve(backend) else {
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
    let upstream_path = match (&policy.rewrite_target, found.route) {
        (Some(target), Some(route)) => rewrite(route, target, path),
        _ => path.to_owned(),
    };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{upstream_path}?{q}"),
        None => upstream_path,
    };
    // Cookie affinity: the endpoint the cookie names, else a new one and a new cookie.
    let pinned = policy
        .affinity
        .as_ref()
        .and_then(|a| cookie(req.headers(), &a.name).and_then(|v| resolved.by_cookie(&v)));
    // WebSocket and other upgrades: the Upgrade and Connection headers go on, and after a
    // 101 both sides are joined byte for byte.
    let upgrade = req
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
    let idempotent = matches!(
        *req.method(),
        hyper::Method::GET
            | hyper::Method::HEAD
            | hyper::Method::OPTIONS
            | hyper::Method::PUT
            | hyper::Method::DELETE
            | hyper::Method::TRACE
    );
    let (mut parts, body) = req.into_parts();
    forwarded_headers(shared, conn, host, &mut parts.headers, upgrade.as_deref());
    if let Some(vhost) = &policy.upstream_vhost {
        set(&mut parts.headers, "host", vhost);
    }
    if let Some(prefix) = &policy.x_forwarded_prefix {
        set(&mut parts.headers, "x-forwarded-prefix", prefix);
    }
    if let Some(original) = &custom_error {
        let uri = parts
            .uri
            .path_and_query()
            .map_or(path, |p| p.as_str())
            .to_owned();
        custom_error_headers(original, &mut parts.headers, &uri);
    }
    let mut parts = Some(parts);
    let client = pools.get(policy);
    // Endpoints in turn; a connect error, or a 502/503/504 to an idempotent request, moves on
    // to the next one (only for requests without a body, which can be sent again).
    let start = pinned.unwrap_or_else(|| resolved.first(policy.ewma));
    let bodyless = body.is_end_stream();
    let mut body = Some(body);
    let tries = if bodyless { addrs.len().min(3) } else { 1 };
    let mut timed_out = false;
    // Plain HTTP/1.1 without a body or an upgrade (most traffic) takes the lean client.
    let lean = policy.backend_protocol == BackendProtocol::Http && bodyless && upgrade.is_none();
    for i in 0..tries {
        let at = (start + i) % addrs.len();
        let addr = addrs[at];
        let inflight = resolved.start(at);
        let answer = if lean {
            let Some(head) = &parts else { break };
            let sent = crate::h1::request(
                &pools.0.h1,
                addr,
                policy.connect_timeout,
                head,
                &path_and_query,
                idempotent,
            );
            tokio::time::timeout(policy.read_timeout, sent)
                .await
                .map(|r| r.map(|resp| resp.map(|b| b.boxed())))
        } else {
            let Ok(uri) = Uri::builder()
                .scheme(if policy.backend_protocol.tls() {
                    "https"
                } else {
                    "http"
                })
                .authority(addr.to_string())
                .path_and_query(path_and_query.as_str())
                .build()
            else {
                return text(StatusCode::BAD_REQUEST, "bad request path\n");
            };
            // The head is copied only when another try may still need it.
            let head = if i + 1 == tries {
                match parts.take() {
                    Some(p) => p,
                    None => break,
                }
            } else {
                match &parts {
                    Some(p) => p.clone(),
                    None => break,
                }
            };
            let mut out = Request::from_parts(head, empty());
            *out.uri_mut() = uri;
            // HTTP/1.1 upstream, or HTTP/2 for h2c and gRPC backends.
            *out.version_mut() = if policy.backend_protocol.h2() {
                hyper::Version::HTTP_2
            } else {
                hyper::Version::HTTP_11
            };
            if !bodyless && let Some(b) = body.take() {
                // proxy-body-size for a body of no declared length: counted as it streams.
                *out.body_mut() = match policy.body_limit {
                    Some(limit) => http_body_util::Limited::new(b, limit as usize).boxed(),
                    None => b.map_err(Into::into).boxed(),
                };
            }
            tokio::time::timeout(policy.read_timeout, client.request(out))
                .await
                .map(|r| {
                    r.map(|resp| resp.map(|b| b.map_err(Into::into).boxed()))
                        .map_err(BoxError::from)
                })
        };
        match answer {
            Ok(Ok(mut resp)) => {
                inflight.responded();
                let retry =
                    idempotent && i + 1 < tries && matches!(resp.status().as_u16(), 502..=504);
                if retry {
                    continue;
                }
                if resp.status() == StatusCode::SWITCHING_PROTOCOLS
                    && let Some(client_upgrade) = client_upgrade
                {
                    let upstream_upgrade = hyper::upgrade::on(&mut resp);
                    let idle = policy.read_timeout;
                    tokio::spawn(async move {
                        if let (Ok(a), Ok(b)) = (client_upgrade.await, upstream_upgrade.await) {
                            crate::idle::join(TokioIo::new(a), TokioIo::new(b), idle).await;
                        }
                    });
                }
                *served = Some(Served {
                    backend: backend.clone(),
                    upstream: Some(addr),
                    handles: None,
                });
                if let Some(cors) = &policy.cors {
                    cors_headers(cors, origin.as_deref(), resp.headers_mut());
                }
                if let Some(a) = &policy.affinity
                    && pinned != Some(at)
                    && let Ok(v) = HeaderValue::from_str(&affinity_cookie(a, found.route, &addr))
                {
                    resp.headers_mut().append(hyper::header::SET_COOKIE, v);
                }
                return resp;
            }
            Ok(Err(e)) => {
                tracing::debug!(%addr, err = %e, "ingress: upstream failed");
                if over_limit(e.as_ref()) {
                    return text(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "413 Request Entity Too Large\n",
                    );
                }
            }
            Err(_) => {
                tracing::debug!(%addr, "ingress: upstream timed out");
                timed_out = true;
                // A request that may have been acted on is not sent again.
                if !idempotent {
                    break;
                }
            }
        }
    }
    if timed_out {
        text(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Time-out\n")
    } else {
        text(StatusCode::BAD_GATEWAY, "502 Bad Gateway\n")
    }
}

/// Whether the upstream request failed because the client's body went over proxy-body-size.
fn over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The headers ingress-nginx sends a custom error backend about the request it could not
/// serve.
fn custom_error_headers(original: &Backend, headers: &mut hyper::HeaderMap, uri: &str) {
    let format = headers
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/html")
        .to_owned();
    set(headers, "x-code", "503");
    set(headers, "x-format", &format);
    set(headers, "x-original-uri", uri);
    set(headers, "x-namespace", &original.namespace);
    set(headers, "x-ingress-name", &original.source.name);
    set(
        headers,
        "x-service-name",
        original.service.as_deref().unwrap_or_default(),
    );
    let port = match &original.port {
        crate::routes::PortRef::Number(n) => n.to_string(),
        crate::routes::PortRef::Name(n) => n.clone(),
        crate::routes::PortRef::First => String::new(),
    };
    set(headers, "x-service-port", &port);
}

/// ingress-nginx's headers: hop-by-hop headers go, the client's own X-Forwarded-* are
/// replaced unless trusted, and X-Real-IP and X-Request-ID are set.
fn forwarded_headers(
    shared: &Shared,
    conn: Conn,
    host: &str,
    headers: &mut hyper::HeaderMap,
    upgrade: Option<&str>,
) {
    for h in HOP {
        headers.remove(h);
    }
    if let Some(u) = upgrade {
        set(headers, "upgrade", u);
        set(headers, "connection", "upgrade");
    }
    let scheme = if conn.tls { "https" } else { "http" };
    // The address is formatted once, and the header value takes the string without a copy.
    let peer_value = HeaderValue::try_from(conn.peer.ip().to_string()).ok();
    let peer = peer_value
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let given =
        |h: &hyper::HeaderMap, n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    // An HTTP/2 request names its host in :authority; upstream it is the Host header.
    if !headers.contains_key(hyper::header::HOST) && !host.is_empty() {
        set(headers, "host", host);
    }
    if shared.use_forwarded_headers {
        // The client's own host, from the proxy in front, is what the backend is asked for.
        if let Some(first) = first_forwarded_host(headers) {
            set(headers, "host", &first);
        }
        let xff = given(headers, "x-forwarded-for")
            .map_or_else(|| peer.to_owned(), |x| format!("{x}, {peer}"));
        set(headers, "x-forwarded-for", &xff);
        for (n, v) in [
            ("x-forwarded-proto", scheme.to_owned()),
            ("x-forwarded-scheme", scheme.to_owned()),
            ("x-forwarded-port", conn.port.to_string()),
            ("x-forwarded-host", host.to_owned()),
        ] {
            if !headers.contains_key(n) {
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
        // The host as the client sent it is passed on without a copy when it is the Host
        // header.
        let host_value = match headers.get(hyper::header::HOST) {
            Some(v) if v.as_bytes() == host.as_bytes() => Some(v.clone()),
            _ => HeaderValue::from_str(host).ok(),
        };
        let scheme_value = HeaderValue::from_static(scheme);
        if let Some(v) = &peer_value {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v.clone());
        }
        headers.insert(
            HeaderName::from_static("x-forwarded-proto"),
            scheme_value.clone(),
        );
        headers.insert(HeaderName::from_static("x-forwarded-scheme"), scheme_value);
        headers.insert(
            HeaderName::from_static("x-forwarded-port"),
            HeaderValue::from(conn.port),
        );
        if let Some(v) = host_value {
            headers.insert(HeaderName::from_static("x-forwarded-host"), v);
        }
    }
    if let Some(v) = peer_value {
        headers.insert(HeaderName::from_static("x-real-ip"), v);
    }
    if !headers.contains_key("x-request-id") {
        headers.insert(HeaderName::from_static("x-request-id"), request_id());
    }
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Serves one connection's requests: HTTP/2 when `h2` says so (ALPN on TLS), or else when
/// the client opens with HTTP/2's preface (prior knowledge), and HTTP/1 otherwise.
async fn serve_conn<IO>(
    shared: Arc<Shared>,
    client: Pools,
    conn: Conn,
    mut io: crate::guard::Guard<IO>,
    h2: Option<bool>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (shared, client) = (shared.clone(), client.clone());
        async move {
            let started = std::time::Instant::now();
            let method = req.method().clone();
            let version = req.version();
            // What only the access log needs is kept only when there is one.
            let logged = shared.metrics.logs().then(|| {
                let host = req
                    .headers()
                    .get(hyper::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
                    .unwrap_or_default();
                (req.uri().clone(), host)
            });
            let (mut resp, served) = handle(&shared, &client, conn, req).await;
            resp.headers_mut()
                .insert(hyper::header::SERVER, HeaderValue::from_static("knet"));
            let served = served.as_ref();
            let (uri, host) = match &logged {
                Some((uri, host)) => (
                    uri.path_and_query().map_or("/", |p| p.as_str()),
                    host.as_str(),
                ),
                None => ("", ""),
            };
            let record = crate::metrics::Record {
                peer: conn.peer,
                method: method.as_str(),
                host,
                uri,
                proto: match version {
                    hyper::Version::HTTP_2 => "HTTP/2.0",
                    hyper::Version::HTTP_10 => "HTTP/1.0",
                    _ => "HTTP/1.1",
                },
                status: resp.status().as_u16(),
                duration: started.elapsed(),
                route: served.map(|s| {
                    (
                        s.backend.source.namespace.as_str(),
                        s.backend.source.name.as_str(),
                        s.backend.service.as_deref().unwrap_or_default(),
                    )
                }),
                upstream: served.and_then(|s| s.upstream),
            };
            shared
                .metrics
                .record(&record, served.and_then(|s| s.handles.as_deref()));
            Ok::<_, Infallible>(resp)
        }
    });
    // The version is told by the guard, which keeps the bytes it looked at: hyper then reads
    // the first head whole, with no bytes to give back (hyper-util's detection read 24 bytes
    // first, and hyper's buffer was then grown and copied for the rest of every first head).
    let h2 = match h2 {
        Some(h2) => h2,
        None => match tokio::time::timeout(HEADER_TIMEOUT, io.speaks_h2()).await {
            Ok(Ok(h2)) => h2,
            _ => return,
        },
    };
    let io = TokioIo::new(io);
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .max_header_list_size(64 * 1024)
            .max_concurrent_streams(128)
            .keep_alive_interval(Some(HEADER_TIMEOUT))
            .keep_alive_timeout(Duration::from_secs(20))
            .serve_connection(io, service)
            .await;
    } else {
        // Limits against slow and greedy clients: 60 s to send a request head (also the idle
        // time allowed between requests), 64 KiB of head and 100 header fields (then 431), as
        // nginx's large_client_header_buffers and client_header_timeout allow about as much.
        let _ = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(crate::guard::MAX_HEAD)
            .max_headers(100)
            .serve_connection(io, service)
            .with_upgrades()
            .await;
    }
}

/// How long a client may take to send a request head, or stay idle between requests.
const HEADER_TIMEOUT: Duration = Duration::from_secs(60);

/// One client connection counted against `max_connections`, until dropped.
struct Counted(Arc<Shared>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
        self.0.metrics.connections.dec();
    }
}

/// Serves plain HTTP (HTTP/1.1, and HTTP/2 with prior knowledge) on `listener`, or HTTPS
/// when `tls` is given (ALPN picks HTTP/2 or HTTP/1.1).
pub async fn serve(
    shared: Arc<Shared>,
    client: Pools,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let port = listener.local_addr().map_or(0, |a| a.port());
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // The connection limit: one over it is closed at once.
        if shared.open.fetch_add(1, Ordering::Relaxed) >= shared.max_connections {
            shared.open.fetch_sub(1, Ordering::Relaxed);
            shared.metrics.refused.inc();
            drop(tcp);
            continue;
        }
        shared.metrics.connections.inc();
        let counted = Counted(shared.clone());
        let _ = tcp.set_nodelay(true);
        let (shared, client) = (shared.clone(), client.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            let _counted = counted;
            let conn = Conn {
                peer,
                port,
                tls: tls.is_some(),
            };
            match tls {
                None => {
                    serve_conn(shared, client, conn, crate::guard::Guard::new(tcp), None).await;
                }
                // The TLS state machines are large: kept out of every plain connection's task,
                // which would otherwise be sized (and copied when spawned) for them.
                Some(acceptor) => Box::pin(serve_tls(shared, client, conn, tcp, acceptor)).await,
            }
        });
    }
}

/// Serves one TLS connection: the handshake, then its requests.
async fn serve_tls(
    shared: Arc<Shared>,
    client: Pools,
    conn: Conn,
    tcp: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    // A handshake that stalls must not hold the connection forever.
    let accepted = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await;
    if let Ok(Ok(stream)) = accepted {
        // ALPN tells the version; a client that offered none is sniffed.
        let h2 = stream.get_ref().1.alpn_protocol().map(|p| p == b"h2");
        serve_conn(shared, client, conn, crate::guard::Guard::new(stream), h2).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_32_lower_hex_digits_and_differ() {
        let a = request_id();
        let b = request_id();
        for id in [&a, &b] {
            let s = id.to_str().expect("ascii");
            assert_eq!(s.len(), 32, "{s}");
            assert!(
                s.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                "{s}"
            );
        }
        assert_ne!(a, b);
    }

    #[test]
    fn forwarded_headers_replace_the_clients_own_by_default() {
        let shared = Shared::new(
            false,
            crate::tls::Resolver::new().expect("fallback certificate"),
            Arc::new(crate::metrics::Metrics::new(None)),
            16,
            None,
        );
        let conn = Conn {
            peer: "127.0.0.7:40000".parse().expect("addr"),
            port: 8080,
            tls: false,
        };
        let mut headers = hyper::HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("Bench.Local"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.insert("connection", HeaderValue::from_static("close"));
        forwarded_headers(&shared, conn, "Bench.Local", &mut headers, None);
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(h("x-forwarded-for").as_deref(), Some("127.0.0.7"));
        assert_eq!(h("x-original-forwarded-for").as_deref(), Some("10.0.0.1"));
        assert_eq!(h("x-real-ip").as_deref(), Some("127.0.0.7"));
        assert_eq!(h("x-forwarded-proto").as_deref(), Some("http"));
        assert_eq!(h("x-forwarded-scheme").as_deref(), Some("http"));
        assert_eq!(h("x-forwarded-port").as_deref(), Some("8080"));
        assert_eq!(h("x-forwarded-host").as_deref(), Some("Bench.Local"));
        assert_eq!(h("connection"), None);
        assert_eq!(h("x-request-id").map(|s| s.len()), Some(32));
    }
}
