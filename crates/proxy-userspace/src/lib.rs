//! The userspace proxy mode: knet listens on every service frontend itself and relays each
//! connection to an endpoint it picks, as kube-proxy's old userspace mode did. It needs no
//! privileges (beyond binding ports below 1024) and is the default in loopback network mode.
//!
//! A service port gets a TCP listener on each ClusterIP (with the ClusterIP endpoint set) and
//! on the node address at its NodePort, each load-balancer address and each external IP (with
//! the external endpoint set); see [`topology`](proxy::topology). A frontend with no endpoints
//! has no listener, so a client is refused at once instead of hanging. Endpoints are picked by
//! an [`EndpointSelection`] (rr by default, or per Service with `knet.dev/scheduler`), with
//! ClientIP session affinity when the Service asks for it; a failed dial moves on to the next
//! endpoint with the old userspace proxier's timeouts (250 ms, 500 ms, 1 s, 2 s).
//!
//! Not here yet: UDP, and the schedulers other than rr. Start reading at [`Userspace`].

mod relay;
pub mod scheduler;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use proxy::service::Protocol;
use proxy::{Changes, Dataplane, ProxyState, ServicePort, ServicePortName, runner::SyncError};

pub use scheduler::{EndpointSelection, SchedulerKind};

/// How the userspace proxy serves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where NodePorts are served.
    pub node_ip: IpAddr,
    /// This node's name, for the `Local` traffic policies.
    pub node_name: String,
    /// The scheduler for Services without a `knet.dev/scheduler` annotation.
    pub default_scheduler: SchedulerKind,
}

/// The annotation that picks a Service's scheduler.
pub const SCHEDULER_ANNOTATION: &str = "knet.dev/scheduler";

/// The endpoints one frontend relays to, with the scheduler over them.
pub(crate) struct Backends {
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) selection: Box<dyn EndpointSelection>,
}

/// What the listeners of one service port share: the current endpoint sets (swapped on each
/// sync without touching open connections) and the affinity table.
pub(crate) struct Shared {
    pub(crate) name: ServicePortName,
    pub(crate) cluster: RwLock<Arc<Backends>>,
    pub(crate) external: RwLock<Arc<Backends>>,
    pub(crate) affinity: RwLock<Option<std::time::Duration>>,
    pub(crate) sticky:
        std::sync::Mutex<std::collections::HashMap<IpAddr, (SocketAddr, std::time::Instant)>>,
}

impl Shared {
    pub(crate) fn backends(&self, external: bool) -> Arc<Backends> {
        let lock = if external {
            &self.external
        } else {
            &self.cluster
        };
        lock.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The listeners of one service port.
struct PortProxy {
    shared: Arc<Shared>,
    /// Frontend address → (external?, the accept task).
    listeners: BTreeMap<SocketAddr, (bool, tokio::task::JoinHandle<()>)>,
}

impl Drop for PortProxy {
    fn drop(&mut self) {
        for (_, task) in self.listeners.values() {
            task.abort();
        }
    }
}

/// The userspace [`Dataplane`].
pub struct Userspace {
    config: Config,
    ports: BTreeMap<ServicePortName, PortProxy>,
    /// Frontends that could not be bound, so each failure is logged once.
    failed: BTreeSet<SocketAddr>,
}

impl std::fmt::Debug for Userspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Userspace")
            .field("ports", &self.ports.len())
            .finish_non_exhaustive()
    }
}

impl Userspace {
    /// A proxy with no listeners yet.
    pub fn new(config: Config) -> Self {
        Userspace {
            config,
            ports: BTreeMap::new(),
            failed: BTreeSet::new(),
        }
    }

    fn scheduler_for(&self, port: &ServicePort) -> SchedulerKind {
        match port.annotations.get(SCHEDULER_ANNOTATION) {
            None => self.config.default_scheduler,
            Some(name) => name.parse().unwrap_or_else(|_| {
                tracing::warn!(scheduler = %name, "unknown scheduler annotation; using rr");
                SchedulerKind::RoundRobin
            }),
        }
    }

    /// Brings one service port's listeners and endpoint sets in line with `state`.
    fn sync_port(&mut self, name: &ServicePortName, port: &ServicePort, state: &ProxyState) {
        let endpoints = state.endpoints_of(name);
        let c = proxy::topology::categorize(endpoints, &self.config.node_name);
        let kind = self.scheduler_for(port);
        let make = |eps: Vec<&proxy::Endpoint>| {
            let addrs: Vec<SocketAddr> = eps.iter().map(|e| e.addr()).collect();
            Arc::new(Backends {
                selection: kind.build(addrs.len()),
                addrs,
            })
        };
        let cluster = make(proxy::topology::for_cluster_ip(port, &c));
        let external = make(proxy::topology::for_external(port, &c));
        let mut wanted: BTreeMap<SocketAddr, bool> = BTreeMap::new();
        if !cluster.addrs.is_empty() {
            for ip in &port.cluster_ips {
                wanted.insert(SocketAddr::new(*ip, port.port), false);
            }
        }
        if !external.addrs.is_empty() {
            if let Some(np) = port.node_port {
                wanted.insert(SocketAddr::new(self.config.node_ip, np), true);
            }
            for ip in port.load_balancer_ips.iter().chain(&port.external_ips) {
                wanted.insert(SocketAddr::new(*ip, port.port), true);
            }
        }
        let entry = self.ports.entry(name.clone()).or_insert_with(|| PortProxy {
            shared: Arc::new(Shared {
                name: name.clone(),
                cluster: RwLock::new(cluster.clone()),
                external: RwLock::new(external.clone()),
                affinity: RwLock::new(port.affinity),
                sticky: Default::default(),
            }),
            listeners: BTreeMap::new(),
        });
        let set = |lock: &RwLock<Arc<Backends>>, b: Arc<Backends>| {
            let mut w = lock.write().unwrap_or_else(|p| p.into_inner());
            let same = w.addrs == b.addrs;
            if !same {
                *w = b;
            }
        };
        set(&entry.shared.cluster, cluster);
        set(&entry.shared.external, external);
        *entry
            .shared
            .affinity
            .write()
            .unwrap_or_else(|p| p.into_inner()) = port.affinity;
        if port.affinity.is_none() {
            entry
                .shared
                .sticky
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        }
        entry.listeners.retain(|addr, (ext, task)| {
            let keep = wanted.get(addr) == Some(ext);
            if !keep {
                task.abort();
            }
            keep
        });
        for (addr, ext) in wanted {
            if entry.listeners.contains_key(&addr) {
                continue;
            }
            match relay::listen(addr) {
                Ok(listener) => {
                    self.failed.remove(&addr);
                    let task = tokio::spawn(relay::serve(listener, entry.shared.clone(), ext));
                    entry.listeners.insert(addr, (ext, task));
                }
                Err(err) => {
                    if self.failed.insert(addr) {
                        tracing::warn!(%addr, service = %name, %err, "cannot listen on a service frontend");
                    }
                }
            }
        }
        if entry.listeners.is_empty() && !state.endpoints.contains_key(name) {
            self.ports.remove(name);
        }
    }
}

impl Dataplane for Userspace {
    async fn sync(&mut self, state: &ProxyState, changes: &Changes) -> Result<(), SyncError> {
        let names: Vec<ServicePortName> = if changes.full {
            self.ports
                .keys()
                .cloned()
                .chain(state.services.keys().cloned())
                .collect()
        } else {
            let mut v: Vec<_> = self
                .ports
                .keys()
                .filter(|n| changes.services.contains(&n.service))
                .cloned()
                .collect();
            for svc in &changes.services {
                v.extend(state.ports_of(svc).map(|(n, _)| n.clone()));
            }
            v
        };
        for name in names.into_iter().collect::<BTreeSet<_>>() {
            match state.services.get(&name) {
                // UDP and SCTP are not relayed yet.
                Some(port) if name.protocol == Protocol::Tcp => {
                    let port = port.clone();
                    self.sync_port(&name, &port, state);
                }
                _ => {
                    self.ports.remove(&name);
                }
            }
        }
        Ok(())
    }
}
