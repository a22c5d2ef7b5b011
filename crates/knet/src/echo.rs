//! `knet echo`: the built-in workload. Every HTTP request gets a JSON description of itself and
//! of the pod serving it; UDP datagrams get the pod name back; `/ws` upgrades to a WebSocket
//! that echoes every message. Probes and preStop hooks pointed at any path succeed.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Who this process is, from the environment the node agent gives every container.
#[derive(Debug, Clone)]
struct Identity {
    pod: String,
    namespace: String,
    pod_ip: String,
}

impl Identity {
    fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Identity {
            pod: var("POD_NAME"),
            namespace: var("POD_NAMESPACE"),
            pod_ip: var("POD_IP"),
        }
    }
}

/// The JSON body describing `req`, as the contract specifies.
fn describe(id: &Identity, req: &Request<Incoming>, remote: SocketAddr) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    for (name, value) in req.headers() {
        let entry = headers
            .entry(name.as_str().to_owned())
            .or_insert_with(|| json!([]));
        if let Value::Array(list) = entry {
            list.push(json!(String::from_utf8_lossy(value.as_bytes())));
        }
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    json!({
        "pod": id.pod,
        "namespace": id.namespace,
        "pod_ip": id.pod_ip,
        "method": req.method().as_str(),
        "path": path,
        "host": host,
        "proto": format!("{:?}", req.version()),
        "headers": headers,
        "remote_addr": remote.to_string(),
    })
}

type Body = BoxBody<Bytes, Infallible>;

fn is_websocket(req: &Request<Incoming>) -> bool {
    req.uri().path() == "/ws"
        && req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn handle(id: Identity, remote: SocketAddr, mut req: Request<Incoming>) -> Response<Body> {
    if is_websocket(&req) {
        let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
        };
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let io = hyper_util::rt::TokioIo::new(upgraded);
            let ws =
                tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            let (mut sink, mut stream) = ws.split();
            while let Some(Ok(msg)) = stream.next().await {
                if msg.is_close() {
                    break;
                }
                if (msg.is_text() || msg.is_binary()) && sink.send(msg).await.is_err() {
                    break;
                }
            }
        });
        let mut resp = Response::new(Full::new(Bytes::new()).boxed());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = resp.headers_mut();
        h.insert(
            header::CONNECTION,
            http::HeaderValue::from_static("Upgrade"),
        );
        h.insert(header::UPGRADE, http::HeaderValue::from_static("websocket"));
        if let Ok(v) = derive_accept_key(key.as_bytes()).parse() {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        return resp;
    }
    let mut body = describe(&id, &req, remote);
    // The request body is read to its end before the answer (an answer before the upload is
    // done would make a proxy in front see a reset), and its size reported.
    let mut incoming = req.into_body();
    let mut size = 0u64;
    while let Some(frame) = incoming.frame().await {
        match frame {
            Ok(f) => size += f.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => break,
        }
    }
    body["body_bytes"] = json!(size);
    let mut resp = Response::new(
        Full::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default())).boxed(),
    );
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *resp.status_mut() = status;
    resp
}

async fn serve_http(listener: tokio::net::TcpListener, id: Identity) {
    loop {
        let Ok((tcp, remote)) = listener.accept().await else {
            continue;
        };
        let id = id.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let id = id.clone();
                async move { Ok::<_, Infallible>(handle(id, remote, req).await) }
            });
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let _ = builder
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn serve_udp(socket: tokio::net::UdpSocket, id: Identity) {
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((_, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let _ = socket.send_to(id.pod.as_bytes(), peer).await;
    }
}

/// Runs the echo server on every address given (HTTP on `http`, UDP on `udp`); with none, HTTP
/// on `$POD_IP:8080`, else `127.0.0.1:8080`. Prints one line with the bound addresses, then
/// serves until the process is stopped.
pub async fn run(http: Vec<SocketAddr>, udp: Vec<SocketAddr>) -> anyhow::Result<()> {
    let id = Identity::from_env();
    let http = if http.is_empty() && udp.is_empty() {
        let ip = id
            .pod_ip
            .parse()
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        vec![SocketAddr::new(ip, 8080)]
    } else {
        http
    };
    let mut bound = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for addr in http {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding HTTP to {addr}"))?;
        bound.push(format!("http={}", listener.local_addr()?));
        tasks.spawn(serve_http(listener, id.clone()));
    }
    for addr in udp {
        let socket = tokio::net::UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding UDP to {addr}"))?;
        bound.push(format!("udp={}", socket.local_addr()?));
        tasks.spawn(serve_udp(socket, id.clone()));
    }
    println!("knet echo: listening {}", bound.join(" "));
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tokio::select! {
        _ = tasks.join_next() => Ok(()),
        _ = crate::shutdown_signal() => Ok(()),
    }
}
