//! Service ports as the proxy sees them, and the tracker that keeps them from Service objects.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;

/// A Service's namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One port of one Service, as kube-proxy names it: `namespace/name:port-name` plus protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    /// The Service.
    pub service: ServiceKey,
    /// The port's name (empty for a single unnamed port).
    pub port: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: Protocol,
}

impl std::fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}/{:?}", self.service, self.port, self.protocol)
    }
}

/// A transport protocol of a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    fn parse(s: Option<&str>) -> Protocol {
        match s {
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            _ => Protocol::Tcp,
        }
    }
}

/// What the proxy needs to know about one service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// The ClusterIPs (none for headless Services, which the proxy ignores).
    pub cluster_ips: Vec<IpAddr>,
    /// The port on the ClusterIPs, external IPs and load-balancer addresses.
    pub port: u16,
    /// The NodePort, if any.
    pub node_port: Option<u16>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<IpAddr>,
    /// `spec.loadBalancerSourceRanges`, as written.
    pub load_balancer_source_ranges: Vec<String>,
    /// `sessionAffinity: ClientIP` with its timeout.
    pub affinity: Option<Duration>,
    /// `externalTrafficPolicy: Local` (for NodePort, LoadBalancer and external IPs).
    pub external_local: bool,
    /// `internalTrafficPolicy: Local` (for ClusterIPs).
    pub internal_local: bool,
    /// `spec.healthCheckNodePort` (LoadBalancer with externalTrafficPolicy Local).
    pub health_check_node_port: Option<u16>,
    /// The Service's annotations that modes read (for example `knet.dev/scheduler`).
    pub annotations: BTreeMap<String, String>,
}

impl ServicePort {
    /// A plain ClusterIP port `ip:port`: no NodePort, external addresses, affinity or
    /// policies. The starting point for tests and benchmarks, which set what they need.
    pub fn cluster_ip(ip: IpAddr, port: u16) -> ServicePort {
        ServicePort {
            cluster_ips: vec![ip],
            port,
            node_port: None,
            external_ips: Vec::new(),
            load_balancer_ips: Vec::new(),
            load_balancer_source_ranges: Vec::new(),
            affinity: None,
            external_local: false,
            internal_local: false,
            health_check_node_port: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// The default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours).
pub const DEFAULT_AFFINITY: Duration = Duration::from_secs(10800);

fn ips(list: impl IntoIterator<Item = String>) -> Vec<IpAddr> {
    list.into_iter().filter_map(|s| s.parse().ok()).collect()
}

fn port_u16(n: Option<i32>) -> Option<u16> {
    n.and_then(|n| u16::try_from(n).ok()).filter(|n| *n != 0)
}

/// The service ports of `svc` the proxy handles: none for ExternalName and headless Services.
pub fn service_ports(svc: &Service) -> Vec<(ServicePortName, ServicePort)> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Vec::new();
    }
    let mut cluster_ips = ips(spec.cluster_ips.clone().unwrap_or_default());
    if cluster_ips.is_empty() {
        cluster_ips = ips(spec.cluster_ip.clone());
    }
    if cluster_ips.is_empty() {
        // Headless (clusterIP: None) or not yet allocated.
        return Vec::new();
    }
    let key = ServiceKey {
        namespace: svc.metadata.namespace.clone().unwrap_or_default(),
        name: svc.metadata.name.clone().unwrap_or_default(),
    };
    let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map_or(DEFAULT_AFFINITY, Duration::from_secs)
    });
    let load_balancer_ips = ips(svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.ip));
    let annotations = svc.metadata.annotations.clone().unwrap_or_default();
    spec.ports
        .iter()
        .flatten()
        .filter_map(|p| {
            let port = port_u16(Some(p.port))?;
            let name = ServicePortName {
                service: key.clone(),
                port: p.name.clone().unwrap_or_default(),
                protocol: Protocol::parse(p.protocol.as_deref()),
            };
            Some((
                name,
                ServicePort {
                    cluster_ips: cluster_ips.clone(),
                    port,
                    node_port: port_u16(p.node_port),
                    external_ips: ips(spec.external_ips.clone().unwrap_or_default()),
                    load_balancer_ips: load_balancer_ips.clone(),
                    load_balancer_source_ranges: spec
                        .load_balancer_source_ranges
                        .clone()
                        .unwrap_or_default(),
                    affinity,
                    external_local: spec.external_traffic_policy.as_deref() == Some("Local"),
                    internal_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
                    health_check_node_port: port_u16(spec.health_check_node_port),
                    annotations: annotations.clone(),
                },
            ))
        })
        .collect()
}

/// Keeps the service ports of every Service and which Services changed since the last take.
#[derive(Debug, Default)]
pub struct ServiceChangeTracker {
    ports: BTreeMap<ServiceKey, Vec<(ServicePortName, Arc<ServicePort>)>>,
    changed: BTreeSet<ServiceKey>,
}

impl ServiceChangeTracker {
    /// Records the current version of `svc`; marks it changed if its ports differ.
    pub fn update(&mut self, svc: &Service) {
        let key = ServiceKey {
            namespace: svc.metadata.namespace.clone().unwrap_or_default(),
            name: svc.metadata.name.clone().unwrap_or_default(),
        };
        let new: Vec<_> = service_ports(svc)
            .into_iter()
            .map(|(n, p)| (n, Arc::new(p)))
            .collect();
        if self.ports.get(&key) != Some(&new) {
            self.changed.insert(key.clone());
            if new.is_empty() {
                self.ports.remove(&key);
            } else {
                self.ports.insert(key, new);
            }
        }
    }

    /// Forgets a deleted Service.
    pub fn delete(&mut self, svc: &Service) {
        let key = ServiceKey {
            namespace: svc.metadata.namespace.clone().unwrap_or_default(),
            name: svc.metadata.name.clone().unwrap_or_default(),
        };
        if self.ports.remove(&key).is_some() {
            self.changed.insert(key);
        }
    }

    /// Replaces everything with `all` (a re-list); marks what differs.
    pub fn replace_all(&mut self, all: &[Service]) {
        let before: BTreeSet<ServiceKey> = self.ports.keys().cloned().collect();
        let mut seen = BTreeSet::new();
        for svc in all {
            self.update(svc);
            seen.insert(ServiceKey {
                namespace: svc.metadata.namespace.clone().unwrap_or_default(),
                name: svc.metadata.name.clone().unwrap_or_default(),
            });
        }
        for gone in before.difference(&seen) {
            self.ports.remove(gone);
            self.changed.insert(gone.clone());
        }
    }

    /// The Services changed since the last call.
    pub fn take_changed(&mut self) -> BTreeSet<ServiceKey> {
        std::mem::take(&mut self.changed)
    }

    /// Every service port now known.
    pub fn ports(&self) -> impl Iterator<Item = &(ServicePortName, Arc<ServicePort>)> {
        self.ports.values().flatten()
    }
}

#[cfg(test)]
mod tests;
