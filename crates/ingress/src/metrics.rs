//! What the controller counts and logs: Prometheus metrics by Ingress, Service and status with
//! latency histograms (served at `/metrics`), and a structured access log (one JSON object per
//! request, written by a thread of its own so a slow disk never holds a request).

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The labels of a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The Ingress's namespace (empty for the built-in 404).
    pub namespace: String,
    /// The Ingress's name.
    pub ingress: String,
    /// The backend Service.
    pub service: String,
    /// The response status.
    pub status: u16,
    /// The request method.
    pub method: String,
}

/// The labels of a latency histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    /// The Ingress's namespace.
    pub namespace: String,
    /// The Ingress's name.
    pub ingress: String,
    /// The backend Service.
    pub service: String,
}

/// One finished request.
#[derive(Debug)]
pub struct Record<'a> {
    /// The client.
    pub peer: SocketAddr,
    /// Method.
    pub method: &'a str,
    /// Host header.
    pub host: &'a str,
    /// Path and query as sent.
    pub uri: &'a str,
    /// HTTP version.
    pub proto: &'a str,
    /// Response status.
    pub status: u16,
    /// From the request head to the response head.
    pub duration: Duration,
    /// The Ingress (namespace, name) and Service that served it, if any.
    pub route: Option<(&'a str, &'a str, &'a str)>,
    /// The endpoint the request went to.
    pub upstream: Option<SocketAddr>,
}

/// The access log: lines go to a writer thread.
#[derive(Debug)]
pub struct AccessLog {
    tx: mpsc::SyncSender<String>,
}

impl AccessLog {
    /// Appends to `path` (created if missing).
    pub fn open(path: &std::path::Path) -> std::io::Result<AccessLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        // A bounded queue: when the disk cannot keep up, lines are dropped, not requests.
        let (tx, rx) = mpsc::sync_channel::<String>(65_536);
        std::thread::Builder::new()
            .name("ingress-access-log".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                while let Ok(line) = rx.recv() {
                    let _ = out.write_all(line.as_bytes());
                    // Write what is queued, then flush once the queue is empty.
                    while let Ok(more) = rx.try_recv() {
                        let _ = out.write_all(more.as_bytes());
                    }
                    let _ = out.flush();
                }
            })?;
        Ok(AccessLog { tx })
    }

    fn write(&self, r: &Record<'_>) {
        let (namespace, ingress, service) = r.route.unwrap_or_default();
        let line = serde_json::json!({
            "time": jiff::Timestamp::now().to_string(),
            "remote_addr": r.peer.ip().to_string(),
            "method": r.method,
            "host": r.host,
            "uri": r.uri,
            "proto": r.proto,
            "status": r.status,
            "duration_seconds": r.duration.as_secs_f64(),
            "namespace": namespace,
            "ingress": ingress,
            "service": service,
            "upstream": r.upstream.map(|u| u.to_string()),
        });
        let _ = self.tx.try_send(format!("{line}\n"));
    }
}

/// One route's metrics, found once per snapshot: its latency histogram and its count of
/// `GET`s answered 200 (the common case; other requests are counted by label).
#[derive(Debug)]
pub struct RouteHandles {
    duration: Histogram,
    get_ok: Counter,
}

/// The controller's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// Client connections open now.
    pub connections: Gauge,
    /// Client connections closed at once because `max_connections` were open.
    pub refused: Counter,
    /// How long each rebuild of the route table and certificates took (from the change seen
    /// to the new snapshot in place).
    pub rebuild: Histogram,
    access_log: Option<AccessLog>,
}

impl Metrics {
    /// Empty metrics, logging requests to `access_log` if given.
    pub fn new(access_log: Option<AccessLog>) -> Metrics {
        let mut registry = Registry::with_prefix("knet_ingress");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests by Ingress, Service, status and method",
            requests.clone(),
        );
        let duration: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        registry.register(
            "request_duration_seconds",
            "Time from the request head to the response head, by Ingress and Service",
            duration.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "connections",
            "Client connections open",
            connections.clone(),
        );
        let refused = Counter::default();
        registry.register(
            "connections_refused",
            "Client connections closed because the most allowed were open",
            refused.clone(),
        );
        let rebuild = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "rebuild_duration_seconds",
            "Time to rebuild the routes and certificates after a change, until they serve",
            rebuild.clone(),
        );
        Metrics {
            registry,
            rebuild,
            requests,
            duration,
            connections,
            refused,
            access_log,
        }
    }

    /// Whether requests are logged (the access log needs the host and URI of each).
    pub fn logs(&self) -> bool {
        self.access_log.is_some()
    }

    /// The metrics of one route (the same series `record` would find by label).
    pub fn route(&self, namespace: &str, ingress: &str, service: &str) -> RouteHandles {
        RouteHandles {
            duration: self
                .duration
                .get_or_create(&RouteLabels {
                    namespace: namespace.to_owned(),
                    ingress: ingress.to_owned(),
                    service: service.to_owned(),
                })
                .clone(),
            get_ok: self
                .requests
                .get_or_create(&RequestLabels {
                    namespace: namespace.to_owned(),
                    ingress: ingress.to_owned(),
                    service: service.to_owned(),
                    status: 200,
                    method: "GET".to_owned(),
                })
                .clone(),
        }
    }

    /// Counts (and logs) a finished request; `handles` are its route's, if known.
    pub fn record(&self, r: &Record<'_>, handles: Option<&RouteHandles>) {
        let (namespace, ingress, service) = r.route.unwrap_or_default();
        match handles {
            Some(h) if r.status == 200 && r.method == "GET" => {
                h.get_ok.inc();
            }
            _ => {
                self.requests
                    .get_or_create(&RequestLabels {
                        namespace: namespace.to_owned(),
                        ingress: ingress.to_owned(),
                        service: service.to_owned(),
                        status: r.status,
                        method: r.method.to_owned(),
                    })
                    .inc();
            }
        }
        match handles {
            Some(h) => h.duration.observe(r.duration.as_secs_f64()),
            None => self
                .duration
                .get_or_create(&RouteLabels {
                    namespace: namespace.to_owned(),
                    ingress: ingress.to_owned(),
                    service: service.to_owned(),
                })
                .observe(r.duration.as_secs_f64()),
        }
        if let Some(log) = &self.access_log {
            log.write(r);
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}
