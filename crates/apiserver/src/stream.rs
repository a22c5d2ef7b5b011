//! The streaming pod subresources: `pods/exec`, `pods/attach` and `pods/portforward`.
//!
//! The request is checked here as kube-apiserver checks it (the pod, the container, the
//! phase, the parameters), then the connection is upgraded and handed to the node agent
//! through [`podio::Kubelet`]:
//!
//! - exec and attach speak the `channel.k8s.io` WebSocket protocols, v5 (with the close
//!   signal for end of stdin) or v4: every binary message starts with a channel byte,
//!   0 stdin, 1 stdout, 2 stderr, 3 the final `Status`, 4 terminal size, 255 close;
//! - port-forward speaks SPDY/3.1 (`spdy.rs`), either tunnelled inside a WebSocket
//!   (`SPDY/3.1+portforward.k8s.io`, what kubectl 1.30+ asks for first) or over a plain
//!   `Upgrade: SPDY/3.1`, the older path kubectl falls back to.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use podio::{Exit, StreamRequest, TermSize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::error::ApiError;
use crate::rest::Target;
use crate::server::{Body, State};

/// The channel protocols served for exec and attach, most preferred first.
const CHANNEL_PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// Port-forward's SPDY tunnelled inside a WebSocket (KEP-4006).
const PORT_FORWARD_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
/// Port-forward's protocol name over plain SPDY.
const PORT_FORWARD_SPDY: &str = "portforward.k8s.io";
/// How long output may still arrive after the command exited (something it started may hold
/// the pipes open).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// What the client asked to upgrade to.
enum Upgrade {
    WebSocket { key: String, protocols: Vec<String> },
    Spdy,
    None,
}

fn upgrade_of(parts: &http::request::Parts) -> Upgrade {
    let value = |name: &str| -> Vec<String> {
        parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let upgrade = value("upgrade");
    if upgrade.iter().any(|u| u.eq_ignore_ascii_case("websocket")) {
        return Upgrade::WebSocket {
            key: value("sec-websocket-key").concat(),
            protocols: value("sec-websocket-protocol"),
        };
    }
    if upgrade
        .iter()
        .any(|u| u.to_ascii_lowercase().starts_with("spdy/3.1"))
    {
        return Upgrade::Spdy;
    }
    Upgrade::None
}

/// Every value of every parameter, in order (`command` repeats).
fn params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                crate::server::percent_decode(k),
                crate::server::percent_decode(v),
            )
        })
        .collect()
}

fn flag(params: &[(String, String)], name: &str) -> bool {
    params
        .iter()
        .any(|(k, v)| k == name && matches!(v.as_str(), "true" | "1"))
}

/// Serves `pods/{exec,attach,portforward}`.
pub async fn serve(
    state: &Arc<State>,
    t: &Target,
    sub: &str,
    parts: &mut http::request::Parts,
) -> Result<Response<Body>, ApiError> {
    if !matches!(parts.method, http::Method::GET | http::Method::POST) {
        return Err(ApiError::method_not_allowed(parts.method.as_str(), t.res));
    }
    let name = t.name.as_deref().ok_or_else(ApiError::no_route)?;
    let ns = t.namespace.as_deref().unwrap_or("default");
    let pod = state
        .store
        .get(&t.res.key(Some(ns), name))
        .ok_or_else(|| ApiError::not_found(t.res, name))?;
    let params = params(parts.uri.query());
    let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
    let uid = pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let upgrade = upgrade_of(parts);
    let kubelet = || {
        state.kubelet.get().cloned().ok_or_else(|| {
            ApiError::not_implemented(format!(
                "pods/{sub} needs knet's node agent in the same process (knet up)"
            ))
        })
    };
    if sub == "portforward" {
        if matches!(phase, "Succeeded" | "Failed") {
            return Err(ApiError::bad_request(format!(
                "pod {name} is not running (phase {phase})"
            )));
        }
        let kubelet = kubelet()?;
        let pod_ref = PodRef {
            namespace: ns.to_owned(),
            name: name.to_owned(),
            uid,
        };
        return match upgrade {
            Upgrade::WebSocket { key, protocols } => {
                if !protocols.iter().any(|p| p == PORT_FORWARD_TUNNEL) {
                    return Err(ApiError::bad_request(format!(
                        "pods/portforward over a WebSocket needs the {PORT_FORWARD_TUNNEL} subprotocol"
                    )));
                }
                let on_upgrade = take_upgrade(parts)?;
                tokio::spawn(async move {
                    let Some(ws) = server_websocket(on_upgrade).await else {
                        return;
                    };
                    let (session_end, tunnel_end) = tokio::io::duplex(256 * 1024);
                    tokio::join!(
                        crate::spdy::port_forward(session_end, kubelet, pod_ref),
                        tunnel(ws, tunnel_end),
                    );
                });
                Ok(websocket_accept(&key, PORT_FORWARD_TUNNEL))
            }
            Upgrade::Spdy => {
                let on_upgrade = take_upgrade(parts)?;
                tokio::spawn(async move {
                    if let Ok(upgraded) = on_upgrade.await {
                        crate::spdy::port_forward(TokioIo::new(upgraded), kubelet, pod_ref).await;
                    }
                });
                let mut resp = switching("SPDY/3.1");
                let h = resp.headers_mut();
                h.insert(
                    "x-stream-protocol-version",
                    http::HeaderValue::from_static(PORT_FORWARD_SPDY),
                );
                Ok(resp)
            }
            Upgrade::None => Err(ApiError::bad_request(
                "pods/portforward needs a connection upgrade (WebSocket or SPDY/3.1)",
            )),
        };
    }

    // exec and attach.
    let asked = params
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.as_str());
    let container = crate::logs::container_of(&pod, name, asked)?;
    let verb = if sub == "exec" {
        "exec into"
    } else {
        "attach to"
    };
    if matches!(phase, "Succeeded" | "Failed") {
        return Err(ApiError::bad_request(format!(
            "cannot {verb} a container in a completed pod; current phase is {phase}"
        )));
    }
    let req = StreamRequest {
        namespace: ns.to_owned(),
        pod: name.to_owned(),
        uid,
        container,
        command: params
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.clone())
            .collect(),
        stdin: flag(&params, "stdin"),
        stdout: flag(&params, "stdout"),
        stderr: flag(&params, "stderr"),
        tty: flag(&params, "tty"),
    };
    if sub == "exec" && req.command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    if !(req.stdin || req.stdout || req.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    if req.tty && req.stderr {
        return Err(ApiError::bad_request(
            "stderr cannot be requested with a terminal (tty=true): a terminal has one output stream",
        ));
    }
    let (key, protocols) = match upgrade {
        Upgrade::WebSocket { key, protocols } => (key, protocols),
        Upgrade::Spdy => {
            return Err(ApiError::bad_request(format!(
                "knet serves pods/{sub} over WebSocket ({}); this client asked for SPDY",
                CHANNEL_PROTOCOLS.join(", ")
            )));
        }
        Upgrade::None => {
            return Err(ApiError::bad_request(format!(
                "pods/{sub} needs a WebSocket upgrade ({})",
                CHANNEL_PROTOCOLS.join(", ")
            )));
        }
    };
    let Some(protocol) = CHANNEL_PROTOCOLS
        .into_iter()
        .find(|p| protocols.iter().any(|c| c == p))
    else {
        return Err(ApiError::bad_request(format!(
            "none of the offered subprotocols {protocols:?} is served; knet speaks {}",
            CHANNEL_PROTOCOLS.join(", ")
        )));
    };
    let kubelet = kubelet()?;
    let session = if sub == "exec" {
        kubelet.exec(req)
    } else {
        kubelet.attach(req)
    }
    .map_err(|refused| ApiError::bad_request(refused.to_string()))?;
    let on_upgrade = take_upgrade(parts)?;
    let v5 = protocol == CHANNEL_PROTOCOLS[0];
    tokio::spawn(async move {
        if let Some(ws) = server_websocket(on_upgrade).await {
            channels(ws, session, v5).await;
        }
    });
    Ok(websocket_accept(&key, protocol))
}

/// The pod a port-forward is for.
#[derive(Debug, Clone)]
pub struct PodRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
}

fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

fn take_upgrade(parts: &mut http::request::Parts) -> Result<hyper::upgrade::OnUpgrade, ApiError> {
    parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| {
            ApiError::bad_request(
                "this connection cannot be upgraded (WebSocket and SPDY need HTTP/1.1)",
            )
        })
}

/// A `101 Switching Protocols` to `protocol`.
fn switching(protocol: &'static str) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    h.insert(header::UPGRADE, http::HeaderValue::from_static(protocol));
    resp
}

/// The server side of a WebSocket once the upgrade completed; `None` if it never did.
async fn server_websocket(
    on_upgrade: hyper::upgrade::OnUpgrade,
) -> Option<WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>> {
    let upgraded = on_upgrade.await.ok()?;
    Some(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await)
}

fn websocket_accept(key: &str, protocol: &'static str) -> Response<Body> {
    let mut resp = switching("websocket");
    let h = resp.headers_mut();
    if let Ok(v) =
        tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()).parse()
    {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        http::HeaderValue::from_static(protocol),
    );
    resp
}

/// The `Status` written on the error channel when the command ends, as the kubelet writes it.
pub fn exit_status(exit: &Exit) -> Value {
    match exit {
        Exit::Code(0) => json!({"metadata": {}, "status": "Success"}),
        Exit::Code(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Exit::Failed(message) => json!({
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "InternalError",
        }),
    }
}

/// Carries one exec or attach over the channel protocol until the command ends or the client
/// goes away.
async fn channels<S>(ws: WebSocketStream<S>, mut session: podio::Session, v5: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut tx, mut rx) = ws.split();
    let stdin = session.stdin.take();
    let resize = session.resize.take();
    // Input is read on its own task, so a command that does not read its stdin can never stop
    // its output from being delivered.
    let mut input = tokio::spawn(async move {
        let mut stdin = stdin;
        while let Some(msg) = rx.next().await {
            let data = match msg {
                Ok(Message::Binary(b)) => b,
                Ok(Message::Text(t)) => Bytes::from(t.as_bytes().to_vec()),
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            let Some((&channel, rest)) = data.split_first() else {
                continue;
            };
            match channel {
                0 if !rest.is_empty() => {
                    if let Some(s) = &stdin
                        && s.send(data.slice(1..)).await.is_err()
                    {
                        stdin = None;
                    }
                }
                4 => {
                    if let (Some(r), Ok(size)) = (&resize, serde_json::from_slice::<Value>(rest)) {
                        let cells = |k: &str| {
                            size[k]
                                .as_u64()
                                .and_then(|n| u16::try_from(n).ok())
                                .unwrap_or(0)
                        };
                        let _ = r.send(TermSize {
                            width: cells("Width"),
                            height: cells("Height"),
                        });
                    }
                }
                // v5's close signal: [255, channel]; only stdin can be closed by the client.
                255 if v5 && rest.first() == Some(&0) => stdin = None,
                _ => {}
            }
        }
    });
    let mut exit: Option<Exit> = None;
    let mut output_open = true;
    let drain = tokio::time::sleep(Duration::from_secs(86_400 * 365));
    tokio::pin!(drain);
    loop {
        tokio::select! {
            out = session.output.recv(), if output_open => match out {
                Some((stream, data)) => {
                    let mut msg = Vec::with_capacity(data.len() + 1);
                    msg.push(stream as u8);
                    msg.extend_from_slice(&data);
                    if tx.send(Message::Binary(msg.into())).await.is_err() {
                        input.abort();
                        return;
                    }
                }
                None => {
                    output_open = false;
                    if exit.is_some() {
                        break;
                    }
                }
            },
            e = &mut session.exit, if exit.is_none() => {
                exit = Some(e.unwrap_or_else(|_| Exit::Failed("the node agent ended the stream".into())));
                if !output_open {
                    break;
                }
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            _ = &mut drain, if exit.is_some() => break,
            _ = &mut input => {
                // The client went away: nobody is left to tell.
                return;
            }
        }
    }
    input.abort();
    let exit = exit.unwrap_or(Exit::Code(0));
    let mut msg = vec![3u8];
    msg.extend_from_slice(&serde_json::to_vec(&exit_status(&exit)).unwrap_or_default());
    let _ = tx.send(Message::Binary(msg.into())).await;
    let _ = tx.send(Message::Close(Some(normal_close()))).await;
    let _ = tx.flush().await;
}

/// A close frame with status 1000: clients read anything else as a broken stream.
fn normal_close() -> tokio_tungstenite::tungstenite::protocol::CloseFrame {
    tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "".into(),
    }
}

/// Carries a byte stream inside a WebSocket's binary messages (port-forward's SPDY tunnel).
async fn tunnel<S>(ws: WebSocketStream<S>, io: tokio::io::DuplexStream)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut tx, mut rx) = ws.split();
    let (mut rd, mut wr) = tokio::io::split(io);
    let inbound = async {
        while let Some(Ok(msg)) = rx.next().await {
            match msg {
                Message::Binary(b) if wr.write_all(&b).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = wr.shutdown().await;
    };
    let outbound = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(Message::Close(Some(normal_close()))).await;
    };
    // Either side ending ends the tunnel.
    tokio::select! {
        _ = inbound => {}
        _ = outbound => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_kubelet() {
        assert_eq!(exit_status(&Exit::Code(0))["status"], "Success");
        let s = exit_status(&Exit::Code(127));
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "127");
        assert_eq!(exit_status(&Exit::Failed("x".into()))["status"], "Failure");
    }

    #[test]
    fn repeated_parameters_are_kept() {
        let p = params(Some(
            "command=sh&command=-c&command=echo%20hi&stdin=true&tty=1",
        ));
        let cmd: Vec<&str> = p
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cmd, ["sh", "-c", "echo hi"]);
        assert!(flag(&p, "stdin") && flag(&p, "tty") && !flag(&p, "stdout"));
    }
}
