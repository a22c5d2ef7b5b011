//! The small HTTP server behind knet's health, readiness and metrics endpoints (the proxy's
//! `/healthz`, `/livez`, healthCheckNodePorts and `/metrics`; cluster DNS's `/ready`,
//! `/health` and `/metrics`): GET of a path, answered by a function of the path. Also
//! [`keep_timer_armed`], a runtime helper the data-plane servers share.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};

/// Keeps a timer at most `period` away on the current runtime, for good.
///
/// tokio wakes its own time driver (an eventfd write, then an extra turn of the event loop,
/// often on another thread) whenever a new timer is due before every registered one, or none
/// is registered. A server whose every connection or request starts with a timeout (the
/// ingress's 60 s read timeout, the proxy's 250 ms first dial) then pays one such wake-up per
/// connection when the runtime has no earlier timer; `perf record -e syscalls:sys_enter_write`
/// showed them. With a tick shorter than the shortest of those timeouts always registered,
/// they are never the earliest.
pub async fn keep_timer_armed(period: std::time::Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// Answers a request path.
pub type Handler = Arc<dyn Fn(&str) -> Response<Full<Bytes>> + Send + Sync>;

/// A response with `body` and `content_type`.
pub fn text(code: StatusCode, body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}

/// Prometheus's text exposition of `body`.
pub fn metrics(body: String) -> Response<Full<Bytes>> {
    text(StatusCode::OK, body, "text/plain; version=0.0.4")
}

/// Go's 404, as kube-proxy and CoreDNS answer unknown paths.
pub fn not_found() -> Response<Full<Bytes>> {
    text(
        StatusCode::NOT_FOUND,
        "404 page not found\n".into(),
        "text/plain; charset=utf-8",
    )
}

/// A listener on `addr` (with SO_REUSEADDR, so a restart does not wait out TIME_WAIT).
pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Serves `handler` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, handler: Handler) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let resp = handler(req.uri().path());
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
    }
}
