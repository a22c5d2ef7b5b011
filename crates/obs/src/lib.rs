//! The small HTTP server behind knet's health, readiness and metrics endpoints (the proxy's
//! `/healthz`, `/livez`, healthCheckNodePorts and `/metrics`; cluster DNS's `/ready`,
//! `/health` and `/metrics`): GET of a path, answered by a function of the path.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};

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
