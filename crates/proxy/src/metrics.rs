//! The proxy's Prometheus metrics, with kube-proxy's names, served at `node-ip:10249/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The port of `/metrics`.
pub const METRICS_PORT: u16 = 10249;

/// The proxy's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// How long each sync took.
    pub sync_duration: Histogram,
    /// From the change's trigger time (the EndpointSlice's
    /// `endpoints.kubernetes.io/last-change-trigger-time`) to the end of the sync that applied
    /// it.
    pub network_programming: Histogram,
    /// Syncs that failed.
    pub sync_failures: Counter,
    /// When the last successful sync ended (seconds since the epoch).
    pub last_sync: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kubeproxy");
        // 1 ms to about 65 s, as fine-grained as a sync on one machine needs.
        let sync_duration = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        let network_programming = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        let sync_failures = Counter::default();
        let last_sync = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
            sync_duration.clone(),
        );
        registry.register(
            "network_programming_duration_seconds",
            "In-cluster network programming latency in seconds",
            network_programming.clone(),
        );
        registry.register(
            "sync_proxy_rules_failures",
            "Syncs that failed and will be retried",
            sync_failures.clone(),
        );
        registry.register(
            "sync_proxy_rules_last_timestamp_seconds",
            "The last time a sync of proxy rules succeeded",
            last_sync.clone(),
        );
        Metrics {
            registry,
            sync_duration,
            network_programming,
            sync_failures,
            last_sync,
        }
    }
}

impl Metrics {
    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
