//! The HTTPS front: TLS and HTTP/1.1 + HTTP/2 on one listener, bearer-token authentication,
//! routing of Kubernetes paths, body decoding, and the mapping of every error to a `Status`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use serde_json::Value;
use store::Store;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;

use crate::alloc::{IpAllocator, PortAllocator};
use crate::error::ApiError;
use crate::rest::{self, PatchType, Query, Rendering, Reply, Target};
use crate::{discovery, logs, openapi, resource, watch};

/// The response body type: whole or streamed.
pub type Body = BoxBody<Bytes, Infallible>;

/// Largest request body accepted, as kube-apiserver's default.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Shared server state.
pub struct State {
    /// The object store.
    pub store: Store,
    /// ClusterIP allocator.
    pub ips: IpAllocator,
    /// NodePort allocator.
    pub ports: PortAllocator,
    /// The bearer token clients must present.
    pub token: String,
    /// The address the API is served on.
    pub addr: SocketAddr,
    /// Flips to true when the server is stopping; watches end on it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Where the node agent writes container logs (`pods/log` reads them).
    pub log_dir: std::path::PathBuf,
    /// The node agent in this process, for exec, attach and port-forward (set once it runs).
    pub kubelet: std::sync::OnceLock<Arc<dyn podio::Kubelet>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl State {
    /// Settles side effects of a committed write: allocations a Service no longer holds.
    pub fn after_commit(&self, event: &store::Event) {
        if event.key.starts_with("core/services/") {
            let now = match event.kind {
                store::EventType::Deleted => None,
                _ => Some(&*event.value),
            };
            crate::admission::release_unused(self, event.prev.as_deref(), now);
        }
    }
}

fn full(code: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)).boxed());
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn json_response(code: u16, body: &Value) -> Response<Body> {
    full(
        code,
        "application/json",
        serde_json::to_vec(body).unwrap_or_default(),
    )
}

fn error_response(err: &ApiError) -> Response<Body> {
    json_response(err.code, &err.status())
}

fn reply_response(reply: Reply, deprecation: Option<&str>) -> Response<Body> {
    let mut resp = json_response(reply.code, &reply.body);
    let warnings = deprecation
        .map(str::to_owned)
        .into_iter()
        .chain(reply.warnings);
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = text.parse() {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

fn parse_query(q: Option<&str>) -> Query {
    let mut map = std::collections::HashMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.insert(percent_decode(k), percent_decode(v));
    }
    Query(map)
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a path leads.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Version,
    Health,
    Api,
    Apis,
    ApiGroup(String),
    ResourceList(String, String),
    OpenApiRoot,
    OpenApiGroupVersion(String),
    Resource {
        group: String,
        version: String,
        plural: String,
        namespace: Option<String>,
        name: Option<String>,
        sub: Option<String>,
        watch: bool,
    },
    NotFound,
}

fn route(path: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Route::Version,
        ["healthz"] | ["livez"] | ["readyz"] => return Route::Health,
        ["api"] => return Route::Api,
        ["apis"] => return Route::Apis,
        ["apis", g] => return Route::ApiGroup((*g).to_owned()),
        ["api", v] => return Route::ResourceList(String::new(), (*v).to_owned()),
        ["apis", g, v] => return Route::ResourceList((*g).to_owned(), (*v).to_owned()),
        ["openapi", "v3"] => return Route::OpenApiRoot,
        ["openapi", "v3", rest @ ..] => return Route::OpenApiGroupVersion(rest.join("/")),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::NotFound,
    };
    let (watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let s = |x: &&str| Some((*x).to_owned());
    let (plural, namespace, name, sub) = match rest {
        ["namespaces", ns, sub @ ("status" | "finalize")] => ("namespaces", None, s(ns), s(sub)),
        ["namespaces", ns, plural] => (*plural, s(ns), None, None),
        ["namespaces", ns, plural, name] => (*plural, s(ns), s(name), None),
        ["namespaces", ns, plural, name, sub] => (*plural, s(ns), s(name), s(sub)),
        [plural] => (*plural, None, None, None),
        [plural, name] => (*plural, None, s(name), None),
        [plural, name, sub] => (*plural, None, s(name), s(sub)),
        _ => return Route::NotFound,
    };
    Route::Resource {
        group: group.to_owned(),
        version: version.to_owned(),
        plural: plural.to_owned(),
        namespace,
        name,
        sub,
        watch,
    }
}

fn header_str(req: &http::request::Parts, name: header::HeaderName) -> &str {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn decode_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    if body.is_empty() {
        return Ok(Value::Null);
    }
    match media {
        ""
        | "application/json"
        | "application/json-patch+json"
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        }),
        "application/yaml" | "application/apply-patch+yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("the YAML body is not valid UTF-8"))?;
            serde_saphyr::from_str::<Value>(text).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body of the request could not be decoded as YAML: {e}"
                ))
            })
        }
        "application/vnd.kubernetes.protobuf" => crate::protobuf::decode(body).map_err(|e| {
            ApiError::bad_request(format!("the protobuf body could not be decoded: {e}"))
        }),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Serves one request.
pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = match serve(&state, req).await {
        Ok(resp) => resp,
        Err(err) => error_response(&err),
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}

async fn serve(state: &Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    let route = route(parts.uri.path());
    let public = matches!(route, Route::Version | Route::Health);
    if !public {
        let auth = header_str(&parts, header::AUTHORIZATION);
        let ok = auth
            .strip_prefix("Bearer ")
            .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), state.token.as_bytes()));
        if !ok {
            return Err(ApiError::unauthorized());
        }
    }
    let accept = header_str(&parts, header::ACCEPT).to_owned();
    let query = parse_query(parts.uri.query());
    match route {
        Route::Version => Ok(json_response(200, &discovery::version())),
        Route::Health => Ok(full(200, "text/plain; charset=utf-8", b"ok".to_vec())),
        Route::Api | Route::Apis => {
            let core = route == Route::Api;
            match discovery::negotiate(&accept) {
                Some(ct) => Ok(full(
                    200,
                    ct,
                    serde_json::to_vec(&discovery::aggregated(core, ct)).unwrap_or_default(),
                )),
                None if core => Ok(json_response(
                    200,
                    &discovery::api_versions(&state.addr.to_string()),
                )),
                None => Ok(json_response(200, &discovery::api_group_list())),
            }
        }
        Route::ApiGroup(g) => discovery::api_group(&g)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Route::ResourceList(g, v) => discovery::resource_list(&g, &v)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Route::OpenApiRoot => Ok(json_response(200, &openapi::root())),
        Route::OpenApiGroupVersion(p) => openapi::group_version(&p)
            .map(|d| json_response(200, d.as_ref()))
            .ok_or_else(ApiError::no_route),
        Route::NotFound => Err(ApiError::no_route()),
        Route::Resource {
            group,
            version,
            plural,
            namespace,
            name,
            sub,
            watch: watch_path,
        } => {
            let res = resource::find(&group, &version, &plural).ok_or_else(ApiError::no_route)?;
            if !res.namespaced && namespace.is_some() {
                return Err(ApiError::no_route());
            }
            if res.namespaced && name.is_some() && namespace.is_none() {
                return Err(ApiError::no_route());
            }
            let t = Target {
                res,
                namespace,
                name,
                sub,
            };
            if let Some(sub @ ("exec" | "attach" | "portforward")) = t.sub.as_deref()
                && t.res.kind == "Pod"
            {
                let mut parts = parts;
                return crate::stream::serve(state, &t, sub, &mut parts).await;
            }
            let ct = header_str(&parts, header::CONTENT_TYPE).to_owned();
            let body = read_body(body).await?;
            resource_request(
                state,
                parts.method,
                t,
                query,
                &accept,
                &ct,
                body,
                watch_path,
            )
            .await
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::too_large())
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "reading the request body: {e}"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource_request(
    state: &Arc<State>,
    method: Method,
    t: Target,
    query: Query,
    accept: &str,
    content_type: &str,
    body: Bytes,
    watch_path: bool,
) -> Result<Response<Body>, ApiError> {
    let rendering = Rendering::from_request(accept, &query);
    let deprecation = t.res.deprecation;
    if let Some(sub) = t.sub.as_deref() {
        let served = match sub {
            "status" => t.res.status,
            "scale" => t.res.scale,
            "finalize" => t.res.kind == "Namespace",
            "binding" | "log" => t.res.kind == "Pod",
            _ => false,
        };
        if !served {
            return Err(ApiError::no_route());
        }
    }
    if t.sub.as_deref() == Some("log") {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed(method.as_str(), t.res));
        }
        return pod_log(state, &t, &query);
    }
    let reply = match method {
        Method::GET if t.name.is_none() && (watch_path || query.flag("watch")) => {
            let rx = watch::start(state, &t, &query, rendering)?;
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
                .map(|b| Ok::<_, Infallible>(Frame::data(b)));
            let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            if let Some(d) = deprecation
                && let Ok(v) = format!("299 - {d:?}").parse()
            {
                resp.headers_mut().append(header::WARNING, v);
            }
            return Ok(resp);
        }
        Method::GET if t.name.is_none() => rest::list(state, &t, &query, rendering)?,
        Method::GET => rest::get(state, &t, rendering)?,
        Method::POST if t.name.is_none() => {
            let obj = decode_body(content_type, &body)?;
            rest::create(state, &t, obj, &query).await?
        }
        Method::POST if t.res.kind == "Pod" && t.sub.as_deref() == Some("binding") => {
            let obj = decode_body(content_type, &body)?;
            rest::bind(state, &t, obj).await?
        }
        Method::PUT if t.name.is_some() => {
            let obj = decode_body(content_type, &body)?;
            rest::update(state, &t, obj, &query).await?
        }
        Method::PATCH if t.name.is_some() => {
            let kind = PatchType::from_content_type(content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
            let obj = decode_body(content_type, &body)?;
            rest::patch(state, &t, kind, obj, &query).await?
        }
        Method::DELETE => {
            let opts = if body.is_empty() {
                Value::Null
            } else {
                decode_body("application/json", &body)?
            };
            if t.name.is_some() {
                rest::delete(state, &t, opts, &query).await?
            } else {
                rest::delete_collection(state, &t, opts, &query).await?
            }
        }
        other => return Err(ApiError::method_not_allowed(other.as_str(), t.res)),
    };
    Ok(reply_response(reply, deprecation))
}

/// `GET pods/{name}/log`: the container's log as plain text, streamed with `follow`.
fn pod_log(state: &Arc<State>, t: &Target, query: &Query) -> Result<Response<Body>, ApiError> {
    let req = logs::resolve(state, t, query)?;
    let (first, offset) = logs::read(&req)?;
    let body = if req.follow {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let sent = first.len() as u64;
        let state = state.clone();
        tokio::spawn(async move {
            if tx.send(first).await.is_ok() {
                logs::follow(state, req, offset, sent, tx).await;
            }
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
            .map(|b| Ok::<_, Infallible>(Frame::data(b)));
        BodyExt::boxed(StreamBody::new(stream))
    } else {
        BodyExt::boxed(Full::new(first).map_err(|never| match never {}))
    };
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    Ok(resp)
}

/// Accepts TLS connections until `shutdown` resolves, then lets open requests finish.
pub async fn accept_loop(
    state: Arc<State>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(err) => {
                    tracing::debug!(%err, %peer, "TLS handshake failed");
                    return;
                }
            };
            let io = hyper_util::rt::TokioIo::new(tls);
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(state, req).await) }
            });
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(io, service);
            if let Err(err) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
        });
    }
    // Watches end on the shutdown flag; give in-flight requests a moment to finish.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p: &str| route(p);
        assert_eq!(r("/version"), Route::Version);
        assert_eq!(r("/apis/apps"), Route::ApiGroup("apps".into()));
        match r("/api/v1/namespaces/default/services/web/status") {
            Route::Resource {
                plural,
                namespace,
                name,
                sub,
                ..
            } => {
                assert_eq!(
                    (
                        plural.as_str(),
                        namespace.as_deref(),
                        name.as_deref(),
                        sub.as_deref()
                    ),
                    ("services", Some("default"), Some("web"), Some("status"))
                );
            }
            other => panic!("{other:?}"),
        }
        match r("/api/v1/namespaces/kube-system") {
            Route::Resource {
                plural,
                namespace,
                name,
                ..
            } => {
                assert_eq!(
                    (plural.as_str(), namespace, name.as_deref()),
                    ("namespaces", None, Some("kube-system"))
                );
            }
            other => panic!("{other:?}"),
        }
        match r("/api/v1/namespaces/x/status") {
            Route::Resource {
                plural, name, sub, ..
            } => {
                assert_eq!(
                    (plural.as_str(), name.as_deref(), sub.as_deref()),
                    ("namespaces", Some("x"), Some("status"))
                );
            }
            other => panic!("{other:?}"),
        }
        match r("/apis/apps/v1/watch/namespaces/d/deployments") {
            Route::Resource { watch, plural, .. } => assert!(watch && plural == "deployments"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn query_decoding() {
        let q = parse_query(Some(
            "fieldSelector=metadata.name%3Dweb&labelSelector=kubernetes.io%2Fservice-name%3Dx&limit=500",
        ));
        assert_eq!(q.get("fieldSelector"), Some("metadata.name=web"));
        assert_eq!(q.get("labelSelector"), Some("kubernetes.io/service-name=x"));
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
