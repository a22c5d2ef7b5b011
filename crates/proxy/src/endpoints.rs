//! Endpoints as the proxy sees them, and the tracker that keeps them from EndpointSlices.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::service::{Protocol, ServiceKey, ServicePortName};

/// One address and port behind a service port, with the slice's conditions read as upstream
/// reads them (ready unset means ready; serving unset means as ready; terminating unset means
/// not terminating).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// The address.
    pub ip: IpAddr,
    /// The port on that address.
    pub port: u16,
    /// Ready for traffic.
    pub ready: bool,
    /// Ready, ignoring termination.
    pub serving: bool,
    /// Being deleted.
    pub terminating: bool,
    /// The node it runs on, if the slice says.
    pub node_name: Option<String>,
    /// The pod behind it (`targetRef` of kind Pod): namespace and name.
    pub pod: Option<(String, String)>,
}

impl Endpoint {
    /// A ready endpoint at `ip:port` on no particular node, for tests and benchmarks.
    pub fn ready(ip: IpAddr, port: u16) -> Endpoint {
        Endpoint {
            ip,
            port,
            ready: true,
            serving: true,
            terminating: false,
            node_name: None,
            pod: None,
        }
    }

    /// `ip:port`.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.ip, self.port)
    }
}

/// The service ports and endpoints one EndpointSlice contributes.
fn slice_endpoints(
    slice: &EndpointSlice,
) -> Option<(ServiceKey, Vec<(ServicePortName, Endpoint)>)> {
    if slice.address_type != "IPv4" && slice.address_type != "IPv6" {
        return None;
    }
    let service = ServiceKey {
        namespace: slice.metadata.namespace.clone().unwrap_or_default(),
        name: slice
            .metadata
            .labels
            .as_ref()?
            .get("kubernetes.io/service-name")?
            .clone(),
    };
    let mut out = Vec::new();
    for port in slice.ports.iter().flatten() {
        let Some(number) = port.port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        let name = ServicePortName {
            service: service.clone(),
            port: port.name.clone().unwrap_or_default(),
            protocol: match port.protocol.as_deref() {
                Some("UDP") => Protocol::Udp,
                Some("SCTP") => Protocol::Sctp,
                _ => Protocol::Tcp,
            },
        };
        for ep in &slice.endpoints {
            let c = ep.conditions.clone().unwrap_or_default();
            let ready = c.ready.unwrap_or(true);
            let pod = ep
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| {
                    Some((
                        r.namespace
                            .clone()
                            .unwrap_or_else(|| service.namespace.clone()),
                        r.name.clone()?,
                    ))
                });
            for addr in &ep.addresses {
                let Ok(ip) = addr.parse() else { continue };
                out.push((
                    name.clone(),
                    Endpoint {
                        ip,
                        port: number,
                        ready,
                        serving: c.serving.unwrap_or(ready),
                        terminating: c.terminating.unwrap_or(false),
                        node_name: ep.node_name.clone(),
                        pod: pod.clone(),
                    },
                ));
            }
        }
    }
    Some((service, out))
}

/// What one slice contributes: its Service and the endpoints of each of its ports.
type Contribution = (ServiceKey, Vec<(ServicePortName, Endpoint)>);

/// Keeps what every EndpointSlice contributes and which Services changed since the last take.
#[derive(Debug, Default)]
pub struct EndpointsChangeTracker {
    /// By (namespace, slice name).
    slices: BTreeMap<(String, String), Contribution>,
    changed: BTreeSet<ServiceKey>,
    /// The trigger times of the changes not yet synced (for the network programming latency).
    triggers: Vec<jiff::Timestamp>,
}

/// The annotation the EndpointSlice controller puts the time of the triggering change in.
const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

fn slice_key(slice: &EndpointSlice) -> (String, String) {
    (
        slice.metadata.namespace.clone().unwrap_or_default(),
        slice.metadata.name.clone().unwrap_or_default(),
    )
}

impl EndpointsChangeTracker {
    /// Records the current version of `slice`; marks its Service changed if it differs.
    pub fn update(&mut self, slice: &EndpointSlice) {
        let key = slice_key(slice);
        match slice_endpoints(slice) {
            Some(new) => {
                if self.slices.get(&key) != Some(&new) {
                    if let Some(t) = slice
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(TRIGGER_TIME))
                        .and_then(|t| t.parse().ok())
                    {
                        self.triggers.push(t);
                    }
                    if let Some((old, _)) = self.slices.get(&key) {
                        self.changed.insert(old.clone());
                    }
                    self.changed.insert(new.0.clone());
                    self.slices.insert(key, new);
                }
            }
            None => self.delete(slice),
        }
    }

    /// Forgets a deleted slice.
    pub fn delete(&mut self, slice: &EndpointSlice) {
        if let Some((svc, _)) = self.slices.remove(&slice_key(slice)) {
            self.changed.insert(svc);
        }
    }

    /// Replaces everything with `all` (a re-list); marks what differs.
    pub fn replace_all(&mut self, all: &[EndpointSlice]) {
        let seen: BTreeSet<_> = all.iter().map(slice_key).collect();
        let gone: Vec<_> = self
            .slices
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some((svc, _)) = self.slices.remove(&k) {
                self.changed.insert(svc);
            }
        }
        for s in all {
            self.update(s);
        }
    }

    /// The trigger times of the changes taken in since the last call.
    pub fn take_trigger_times(&mut self) -> Vec<jiff::Timestamp> {
        std::mem::take(&mut self.triggers)
    }

    /// The Services whose endpoints changed since the last call.
    pub fn take_changed(&mut self) -> BTreeSet<ServiceKey> {
        std::mem::take(&mut self.changed)
    }

    /// The endpoints of every service port, merged over its slices, sorted and without
    /// duplicates (an address may briefly be in two slices).
    pub fn endpoints(&self) -> BTreeMap<ServicePortName, Vec<Endpoint>> {
        let mut out: BTreeMap<ServicePortName, BTreeSet<Endpoint>> = BTreeMap::new();
        for (_, eps) in self.slices.values() {
            for (name, ep) in eps {
                out.entry(name.clone()).or_default().insert(ep.clone());
            }
        }
        out.into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect()
    }
}
