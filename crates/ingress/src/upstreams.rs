//! Where a backend's requests go: the Service's port resolved to endpoint addresses straight
//! from its EndpointSlices (as ingress-nginx does, bypassing the ClusterIP), ready endpoints
//! first, else serving-and-terminating ones.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::routes::{Backend, PortRef};

/// One EndpointSlice: its ports (name → number) and endpoints (address, ready,
/// serving-and-terminating).
type Slice = (HashMap<String, u16>, Vec<(IpAddr, bool, bool)>);

#[derive(Debug, Default, Clone)]
struct Svc {
    /// (port name, port number).
    ports: Vec<(String, u16)>,
    slices: Vec<Slice>,
}

/// Every Service's ports and endpoints.
#[derive(Debug, Default, Clone)]
pub struct Upstreams {
    /// By namespace, then name (so lookups borrow their keys).
    services: HashMap<String, HashMap<String, Svc>>,
}

/// Why a backend has no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoUpstream {
    /// Not a Service backend, or the Service does not exist.
    NoService,
    /// The Service has no such port.
    NoPort,
    /// No ready (or serving) endpoints.
    NoEndpoints,
}

impl Upstreams {
    /// From the Services and EndpointSlices as they are.
    pub fn build<'a>(
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> Upstreams {
        let mut u = Upstreams::default();
        for s in services {
            let (Some(ns), Some(name)) = (&s.metadata.namespace, &s.metadata.name) else {
                continue;
            };
            let ports = s
                .spec
                .iter()
                .flat_map(|spec| spec.ports.iter().flatten())
                .filter_map(|p| {
                    Some((
                        p.name.clone().unwrap_or_default(),
                        u16::try_from(p.port).ok()?,
                    ))
                })
                .collect();
            u.services.entry(ns.clone()).or_default().insert(
                name.clone(),
                Svc {
                    ports,
                    slices: Vec::new(),
                },
            );
        }
        for slice in slices {
            let (Some(ns), Some(svc)) = (
                &slice.metadata.namespace,
                slice
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name")),
            ) else {
                continue;
            };
            let Some(entry) = u.services.get_mut(ns).and_then(|n| n.get_mut(svc)) else {
                continue;
            };
            let ports = slice
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    Some((
                        p.name.clone().unwrap_or_default(),
                        u16::try_from(p.port?).ok()?,
                    ))
                })
                .collect();
            let eps = slice
                .endpoints
                .iter()
                .flat_map(|e| {
                    let c = e.conditions.clone().unwrap_or_default();
                    let ready = c.ready.unwrap_or(true);
                    let serving = c.serving.unwrap_or(ready) && c.terminating.unwrap_or(false);
                    e.addresses
                        .iter()
                        .filter_map(move |a| a.parse().ok().map(|ip| (ip, ready, serving)))
                })
                .collect();
            entry.slices.push((ports, eps));
        }
        u
    }

    /// Whether Service `namespace/name` exists.
    pub fn has_service(&self, namespace: &str, name: &str) -> bool {
        self.services
            .get(namespace)
            .is_some_and(|n| n.contains_key(name))
    }

    /// The addresses of `b` (sorted, so round robin is stable across rebuilds).
    pub fn resolve(&self, b: &Backend) -> Result<Vec<SocketAddr>, NoUpstream> {
        let Some(name) = &b.service else {
            return Err(NoUpstream::NoService);
        };
        let svc = self
            .services
            .get(&b.namespace)
            .and_then(|n| n.get(name))
            .ok_or(NoUpstream::NoService)?;
        let port_name = match &b.port {
            PortRef::Number(n) => svc
                .ports
                .iter()
                .find(|(_, p)| p == n)
                .map(|(name, _)| name.clone())
                .ok_or(NoUpstream::NoPort)?,
            PortRef::First => svc
                .ports
                .first()
                .map(|(name, _)| name.clone())
                .ok_or(NoUpstream::NoPort)?,
            PortRef::Name(want) => svc
                .ports
                .iter()
                .find(|(name, _)| name == want)
                .map(|(name, _)| name.clone())
                .ok_or(NoUpstream::NoPort)?,
        };
        let pick = |ready: bool| -> Vec<SocketAddr> {
            let mut out: Vec<SocketAddr> = svc
                .slices
                .iter()
                .filter_map(|(ports, eps)| ports.get(&port_name).map(|p| (*p, eps)))
                .flat_map(|(port, eps)| {
                    eps.iter()
                        .filter(move |(_, r, s)| if ready { *r } else { *s })
                        .map(move |(ip, _, _)| SocketAddr::new(*ip, port))
                })
                .collect();
            out.sort();
            out.dedup();
            out
        };
        let ready = pick(true);
        let addrs = if ready.is_empty() { pick(false) } else { ready };
        if addrs.is_empty() {
            Err(NoUpstream::NoEndpoints)
        } else {
            Ok(addrs)
        }
    }
}
