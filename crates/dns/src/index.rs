//! What the cluster zone holds, built from Services, EndpointSlices and Pods: an immutable
//! snapshot that the query path reads without locks and a rebuild replaces as a whole.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// A named port, for SRV records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The port's name, lowercase.
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    pub proto: String,
    /// The port number.
    pub port: u16,
}

/// A ready endpoint of a headless Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its address.
    pub ip: IpAddr,
    /// Its name under the Service: the endpoint's hostname, else its address with dashes.
    pub host: String,
    /// The named ports of its EndpointSlice.
    pub ports: Vec<Port>,
}

/// What kind of Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A ClusterIP (also NodePort and LoadBalancer): its cluster IPs.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: the ready endpoints answer.
    Headless,
    /// `type: ExternalName`: a CNAME to this name (lowercase, no trailing dot).
    ExternalName(String),
}

/// One Service, as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svc {
    /// Its kind.
    pub kind: Kind,
    /// Its named ports.
    pub ports: Vec<Port>,
    /// Headless only: the ready endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// The cluster zone's contents.
#[derive(Debug, Default, Clone)]
pub struct Index {
    /// Whether the first full lists of every kind have arrived; until then the zone answers
    /// SERVFAIL, as CoreDNS does, rather than NXDOMAIN for names that may exist.
    pub synced: bool,
    /// By `name.namespace`, lowercase.
    services: HashMap<String, Svc>,
    namespaces: HashSet<String>,
    /// Reverse names: address → names under the zone (without the zone), lowercase.
    ptr: HashMap<IpAddr, Vec<String>>,
    /// Pods by (namespace, address), for `a-b-c-d.<ns>.pod.<zone>` (CoreDNS `pods verified`).
    pods: HashSet<(String, IpAddr)>,
}

/// An address with dashes (`10-244-0-5`), as endpoint and pod names use it.
pub fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

/// The address a dashed name stands for.
pub fn undashed(label: &str) -> Option<IpAddr> {
    if label.matches('-').count() == 3
        && let Ok(ip) = label.replace('-', ".").parse()
    {
        return Some(ip);
    }
    label.replace('-', ":").parse().ok()
}

fn proto(p: Option<&String>) -> String {
    p.map_or("tcp".to_owned(), |p| p.to_ascii_lowercase())
}

impl Index {
    /// Builds the index from the objects as they are.
    pub fn build<'a>(
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
        pods: impl IntoIterator<Item = &'a Pod>,
    ) -> Index {
        let mut ix = Index {
            synced: true,
            ..Index::default()
        };
        for s in services {
            let (Some(ns), Some(name)) = (&s.metadata.namespace, &s.metadata.name) else {
                continue;
            };
            let Some(spec) = &s.spec else { continue };
            let ns = ns.to_ascii_lowercase();
            let name = name.to_ascii_lowercase();
            let kind = if spec.type_.as_deref() == Some("ExternalName") {
                match &spec.external_name {
                    Some(target) => {
                        Kind::ExternalName(target.trim_end_matches('.').to_ascii_lowercase())
                    }
                    None => continue,
                }
            } else if spec.cluster_ip.as_deref() == Some("None") {
                Kind::Headless
            } else {
                let ips: Vec<IpAddr> = spec
                    .cluster_ips
                    .iter()
                    .flatten()
                    .chain(spec.cluster_ip.iter())
                    .filter_map(|ip| ip.parse().ok())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if ips.is_empty() {
                    continue;
                }
                for ip in &ips {
                    ix.ptr
                        .entry(*ip)
                        .or_default()
                        .push(format!("{name}.{ns}.svc"));
                }
                Kind::ClusterIp(ips)
            };
            let ports = spec
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    Some(Port {
                        name: p
                            .name
                            .as_ref()
                            .filter(|n| !n.is_empty())?
                            .to_ascii_lowercase(),
                        proto: proto(p.protocol.as_ref()),
                        port: u16::try_from(p.port).ok()?,
                    })
                })
                .collect();
            ix.namespaces.insert(ns.clone());
            ix.services.insert(
                format!("{name}.{ns}"),
                Svc {
                    kind,
                    ports,
                    endpoints: Vec::new(),
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
            let (ns, svc) = (ns.to_ascii_lowercase(), svc.to_ascii_lowercase());
            let Some(entry) = ix.services.get_mut(&format!("{svc}.{ns}")) else {
                continue;
            };
            if entry.kind != Kind::Headless {
                continue;
            }
            let ports: Vec<Port> = slice
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    Some(Port {
                        name: p
                            .name
                            .as_ref()
                            .filter(|n| !n.is_empty())?
                            .to_ascii_lowercase(),
                        proto: proto(p.protocol.as_ref()),
                        port: u16::try_from(p.port?).ok()?,
                    })
                })
                .collect();
            for ep in &slice.endpoints {
                // Ready unless it says otherwise (nil means ready, as CoreDNS reads it).
                let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
                if !ready {
                    continue;
                }
                for addr in &ep.addresses {
                    let Ok(ip) = addr.parse::<IpAddr>() else {
                        continue;
                    };
                    let host = ep
                        .hostname
                        .as_ref()
                        .filter(|h| !h.is_empty())
                        .map_or_else(|| dashed(ip), |h| h.to_ascii_lowercase());
                    ix.ptr
                        .entry(ip)
                        .or_default()
                        .push(format!("{host}.{svc}.{ns}.svc"));
                    entry.endpoints.push(Endpoint {
                        ip,
                        host,
                        ports: ports.clone(),
                    });
                }
            }
        }
        for svc in ix.services.values_mut() {
            svc.endpoints.sort_by_key(|e| e.ip);
            svc.endpoints
                .dedup_by(|a, b| a.ip == b.ip && a.host == b.host);
        }
        for names in ix.ptr.values_mut() {
            names.sort();
            names.dedup();
        }
        for pod in pods {
            let Some(ns) = &pod.metadata.namespace else {
                continue;
            };
            let status = pod.status.as_ref();
            let ips = status
                .and_then(|s| s.pod_ips.as_ref())
                .into_iter()
                .flatten()
                .map(|p| p.ip.as_str())
                .chain(status.and_then(|s| s.pod_ip.as_deref()));
            for ip in ips {
                if let Ok(ip) = ip.parse() {
                    ix.pods.insert((ns.to_ascii_lowercase(), ip));
                }
            }
        }
        ix
    }

    /// The Service `name` in `ns` (both lowercase).
    pub fn service(&self, name: &str, ns: &str) -> Option<&Svc> {
        self.services.get(&format!("{name}.{ns}"))
    }

    /// Whether any Service lives in `ns`.
    pub fn has_namespace(&self, ns: &str) -> bool {
        self.namespaces.contains(ns)
    }

    /// The names under the zone that point back to `ip`.
    pub fn ptr(&self, ip: IpAddr) -> &[String] {
        self.ptr.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// Whether a pod in `ns` has address `ip`.
    pub fn has_pod(&self, ns: &str, ip: IpAddr) -> bool {
        self.pods.contains(&(ns.to_owned(), ip))
    }

    /// How many Services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether there are no Services.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}
