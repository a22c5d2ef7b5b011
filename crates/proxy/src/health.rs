//! The proxy's health endpoints, with kube-proxy's semantics.
//!
//! - `node-ip:10256/healthz` and `/livez`: 200 while the proxy keeps up, 503 once changes have
//!   waited for a sync longer than the health timeout (or before the first sync). The body is
//!   kube-proxy's JSON (`lastUpdated`, `currentTime`, `nodeEligible`).
//! - One server per `healthCheckNodePort` (LoadBalancer Services with
//!   `externalTrafficPolicy: Local`), answering whether this node has local endpoints: 200 with
//!   the count, else 503; the count is also in `X-Load-Balancing-Endpoint-Weight`. Only
//!   serving, not-terminating endpoints count, so a node whose pods are all terminating fails
//!   the check (KEP-1669).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::runner::SyncStatus;
use crate::{ProxyState, ServiceKey};

/// The port of `/healthz` and `/livez`.
pub const HEALTHZ_PORT: u16 = 10256;

/// How long changes may wait for a sync before the proxy calls itself unhealthy.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// What the servers answer from, updated after each sync.
#[derive(Debug, Default)]
struct Shared {
    /// healthCheckNodePort → (Service, local serving endpoints).
    services: BTreeMap<u16, (ServiceKey, usize)>,
}

/// The health servers of one proxy.
#[derive(Debug)]
pub struct Health {
    node_ip: IpAddr,
    status: Arc<SyncStatus>,
    shared: Arc<Mutex<Shared>>,
    servers: BTreeMap<u16, tokio::task::JoinHandle<()>>,
    metrics_task: tokio::task::JoinHandle<()>,
}

fn healthy(status: &SyncStatus) -> bool {
    match (status.last_success(), status.pending_since()) {
        (None, _) => false,
        (Some(_), Some(since)) => since.elapsed() < HEALTH_TIMEOUT,
        (Some(_), None) => true,
    }
}

fn respond(code: StatusCode, body: String, weight: Option<usize>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        "X-Content-Type-Options",
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    if let Some(w) = weight
        && let Ok(v) = w.to_string().parse()
    {
        resp.headers_mut()
            .insert("X-Load-Balancing-Endpoint-Weight", v);
    }
    resp
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

use obs::{Handler, bind, serve};

impl Health {
    /// Starts `/healthz` and `/livez` on `node_ip:port`, and `/metrics` on
    /// `node_ip:metrics_port`; returns the bound health address.
    pub fn start(
        node_ip: IpAddr,
        port: u16,
        metrics_port: u16,
        status: Arc<SyncStatus>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> std::io::Result<(Health, SocketAddr)> {
        let metrics_listener = bind(SocketAddr::new(node_ip, metrics_port))?;
        let listener = bind(SocketAddr::new(node_ip, port))?;
        let addr = listener.local_addr()?;
        let st = status.clone();
        let handler = Arc::new(move |path: &str| {
            let ok = healthy(&st);
            let body = format!(
                r#"{{"lastUpdated": "{now}","currentTime": "{now}","nodeEligible": true}}"#,
                now = now_rfc3339()
            );
            match path {
                "/healthz" | "/livez" if ok => respond(StatusCode::OK, body, None),
                "/healthz" | "/livez" => respond(StatusCode::SERVICE_UNAVAILABLE, body, None),
                _ => respond(StatusCode::NOT_FOUND, "404 page not found\n".into(), None),
            }
        });
        let mut servers = BTreeMap::new();
        servers.insert(port, tokio::spawn(serve(listener, handler)));
        let metrics_handler: Handler = Arc::new(move |path: &str| match path {
            "/metrics" => obs::metrics(metrics.encode()),
            _ => obs::not_found(),
        });
        let metrics_task = tokio::spawn(serve(metrics_listener, metrics_handler));
        Ok((
            Health {
                node_ip,
                status,
                shared: Default::default(),
                servers,
                metrics_task,
            },
            addr,
        ))
    }

    /// Brings the healthCheckNodePort servers in line with `state` after a sync.
    pub fn update(&mut self, state: &ProxyState, node: &str) {
        let mut wanted: BTreeMap<u16, (ServiceKey, usize)> = BTreeMap::new();
        for (name, port) in &state.services {
            let Some(hc) = port.health_check_node_port else {
                continue;
            };
            if !port.external_local {
                continue;
            }
            let local = state
                .endpoints_of(name)
                .iter()
                .filter(|e| e.node_name.as_deref() == Some(node) && e.ready)
                .map(|e| e.ip)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            wanted.insert(hc, (name.service.clone(), local));
        }
        let healthz = *self.servers.keys().next().unwrap_or(&HEALTHZ_PORT);
        self.servers.retain(|p, task| {
            let keep = *p == healthz || wanted.contains_key(p);
            if !keep {
                task.abort();
            }
            keep
        });
        for port in wanted.keys() {
            if self.servers.contains_key(port) {
                continue;
            }
            let shared = self.shared.clone();
            let status = self.status.clone();
            let port = *port;
            let handler = Arc::new(move |_: &str| {
                let (svc, local) = shared
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .services
                    .get(&port)
                    .cloned()
                    .unwrap_or((
                        ServiceKey {
                            namespace: String::new(),
                            name: String::new(),
                        },
                        0,
                    ));
                let ok = healthy(&status);
                let body = format!(
                    r#"{{"service":{{"namespace":"{}","name":"{}"}},"localEndpoints":{local},"serviceProxyHealthy":{ok}}}"#,
                    svc.namespace, svc.name
                );
                let code = if local > 0 && ok {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                respond(code, body, Some(local))
            });
            match bind(SocketAddr::new(self.node_ip, port)) {
                Ok(l) => {
                    self.servers.insert(port, tokio::spawn(serve(l, handler)));
                }
                Err(err) => tracing::warn!(port, %err, "cannot serve a healthCheckNodePort"),
            }
        }
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .services = wanted;
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        for task in self.servers.values() {
            task.abort();
        }
        self.metrics_task.abort();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339() {
        let t = super::now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
