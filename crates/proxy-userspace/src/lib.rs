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
//! endpoint with the old userspace proxier's timeouts (250 ms, 500 ms, 1 s, 2 s). TCP bytes
//! are copied through a small buffer until a direction carries bulk data, then moved with
//! splice(2), socket to pipe to socket, without copies through user space.
//!
//! Weights for the weighted schedulers come from the pods' `knet.dev/weight` annotation
//! (default 1). UDP frontends relay per client flow ([`udp`]); SCTP is not relayed. Start
//! reading at [`Userspace`].

mod relay;
pub mod scheduler;
mod splice;
mod udp;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use proxy::service::Protocol;
use proxy::{Changes, Dataplane, ProxyState, ServicePort, ServicePortName, runner::SyncError};

pub use scheduler::{EndpointSelection, SchedulerKind};

/// How the userspace proxy serves.
#[derive(Clone)]
pub struct Config {
    /// Where NodePorts are served.
    pub node_ip: IpAddr,
    /// More addresses NodePorts are served on (`--nodeport-addresses`).
    pub nodeport_addresses: Vec<IpAddr>,
    /// This node's name, for the `Local` traffic policies.
    pub node_name: String,
    /// The scheduler for Services without a `knet.dev/scheduler` annotation.
    pub default_scheduler: SchedulerKind,
    /// Where to record Events about Services (an unknown scheduler); none: logs only.
    pub events: Option<kube::Client>,
    /// How long connections to an endpoint that left its Service stay open.
    pub removed_endpoint_grace: std::time::Duration,
}

/// The default of [`Config::removed_endpoint_grace`]: as long as a pod's default termination
/// grace period, so a pod that is going away can finish what it serves.
pub const REMOVED_ENDPOINT_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("node_ip", &self.node_ip)
            .field("node_name", &self.node_name)
            .field("default_scheduler", &self.default_scheduler)
            .field("events", &self.events.is_some())
            .finish()
    }
}

/// The annotation that picks a Service's scheduler.
pub const SCHEDULER_ANNOTATION: &str = "knet.dev/scheduler";

/// The endpoints one frontend relays to, with the scheduler over them.
pub(crate) struct Backends {
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) weights: Vec<u32>,
    /// Open connections per endpoint, shared with the next endpoint set of the same port.
    pub(crate) active: Vec<Arc<AtomicUsize>>,
    pub(crate) selection: Box<dyn EndpointSelection>,
}

impl Backends {
    /// The endpoints as the scheduler sees them now.
    pub(crate) fn candidates(&self) -> Vec<scheduler::Candidate> {
        candidates(&self.addrs, &self.weights, &self.active)
    }
}

/// Endpoints as a scheduler sees them: address, weight and open connections now.
fn candidates(
    addrs: &[SocketAddr],
    weights: &[u32],
    active: &[Arc<AtomicUsize>],
) -> Vec<scheduler::Candidate> {
    addrs
        .iter()
        .zip(weights)
        .zip(active)
        .map(|((addr, weight), active)| scheduler::Candidate {
            addr: *addr,
            weight: *weight,
            active: active.load(Ordering::Relaxed),
        })
        .collect()
}

/// What the listeners of one service port share: the current endpoint sets (swapped on each
/// sync without touching open connections) and the affinity table.
pub(crate) struct Shared {
    pub(crate) name: ServicePortName,
    pub(crate) cluster: RwLock<Arc<Backends>>,
    pub(crate) external: RwLock<Arc<Backends>>,
    pub(crate) affinity: RwLock<Option<std::time::Duration>>,
    pub(crate) active: std::sync::Mutex<std::collections::HashMap<SocketAddr, Arc<AtomicUsize>>>,
    pub(crate) sticky:
        std::sync::Mutex<std::collections::HashMap<IpAddr, (SocketAddr, std::time::Instant)>>,
    /// The load-balancer addresses and the source ranges allowed to reach them
    /// (`loadBalancerSourceRanges`; empty: everyone).
    pub(crate) firewall: RwLock<Firewall>,
    /// Per endpoint, flips to true when its open connections must close.
    pub(crate) closing:
        std::sync::Mutex<std::collections::HashMap<SocketAddr, tokio::sync::watch::Sender<bool>>>,
}

/// A service port's load-balancer addresses and the source ranges (address, prefix) allowed
/// to reach them.
pub(crate) type Firewall = (Vec<IpAddr>, Vec<(IpAddr, u8)>);

/// `a.b.c.d/n` as (address, prefix); IPv4 only, as the ranges the proxy enforces.
fn parse_range(r: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = r.split_once('/').unwrap_or((r, "32"));
    let ip: IpAddr = ip.trim().parse().ok()?;
    let len: u8 = len.trim().parse().ok()?;
    (ip.is_ipv4() && len <= 32).then_some((ip, len))
}

fn in_range(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        _ => false,
    }
}

impl Shared {
    /// Whether a client at `client` may not reach `frontend` (a load-balancer address whose
    /// Service lists source ranges that do not include the client).
    pub(crate) fn refuses(&self, client: IpAddr, frontend: IpAddr) -> bool {
        let fw = self.firewall.read().unwrap_or_else(|p| p.into_inner());
        fw.0.contains(&frontend) && !fw.1.is_empty() && !fw.1.iter().any(|r| in_range(client, *r))
    }

    /// A receiver that turns true when connections to `addr` must close.
    pub(crate) fn closing(&self, addr: SocketAddr) -> tokio::sync::watch::Receiver<bool> {
        self.closing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(addr)
            .or_insert_with(|| tokio::sync::watch::channel(false).0)
            .subscribe()
    }

    fn serves(&self, addr: SocketAddr) -> bool {
        self.backends(false).addrs.contains(&addr) || self.backends(true).addrs.contains(&addr)
    }

    /// After `grace`, closes the connections to every endpoint with connections open that is
    /// no longer in either set (an endpoint that came back in the meantime is spared).
    fn close_removed(self: &Arc<Self>, grace: std::time::Duration) {
        let gone: Vec<SocketAddr> = self
            .closing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|a| !self.serves(**a))
            .copied()
            .collect();
        if gone.is_empty() {
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let mut closing = shared.closing.lock().unwrap_or_else(|p| p.into_inner());
            for addr in gone {
                if !shared.serves(addr)
                    && let Some(tx) = closing.remove(&addr)
                {
                    let _ = tx.send(true);
                }
            }
        });
    }

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
    /// Unknown scheduler names already reported, per Service.
    reported: BTreeSet<(proxy::ServiceKey, String)>,
    /// Started with the first listener (see [`TICK`]); a JoinSet aborts it when dropped.
    ticker: tokio::task::JoinSet<()>,
}

/// Shorter than the first dial timeout, so that a dial's timer never has to wake tokio's time
/// driver (`obs::keep_timer_armed`).
const TICK: std::time::Duration = std::time::Duration::from_millis(200);

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
            reported: BTreeSet::new(),
            ticker: tokio::task::JoinSet::new(),
        }
    }

    /// The Service's scheduler; an unknown name falls back to rr, with a Warning Event on the
    /// Service (once per name).
    fn scheduler_for(&mut self, name: &ServicePortName, port: &ServicePort) -> SchedulerKind {
        let Some(wanted) = port.annotations.get(SCHEDULER_ANNOTATION) else {
            return self.config.default_scheduler;
        };
        match wanted.parse() {
            Ok(kind) => kind,
            Err(err) => {
                if self.reported.insert((name.service.clone(), wanted.clone())) {
                    let message = format!("{SCHEDULER_ANNOTATION}: {err}; using rr");
                    tracing::warn!(service = %name.service, "{message}");
                    if let Some(client) = self.config.events.clone() {
                        let regarding = k8s_openapi::api::core::v1::ObjectReference {
                            api_version: Some("v1".into()),
                            kind: Some("Service".into()),
                            namespace: Some(name.service.namespace.clone()),
                            name: Some(name.service.name.clone()),
                            ..Default::default()
                        };
                        tokio::spawn(async move {
                            events::record(
                                &client,
                                regarding,
                                events::EventType::Warning,
                                "UnknownScheduler",
                                &message,
                                "knet-proxy",
                            )
                            .await;
                        });
                    }
                }
                SchedulerKind::RoundRobin
            }
        }
    }

    /// Brings one service port's listeners and endpoint sets in line with `state`.
    async fn sync_port(&mut self, name: &ServicePortName, port: &ServicePort, state: &ProxyState) {
        if self.ticker.is_empty() {
            self.ticker.spawn(obs::keep_timer_armed(TICK));
        }
        let endpoints = state.endpoints_of(name);
        let c = proxy::topology::categorize(endpoints, &self.config.node_name);
        let kind = self.scheduler_for(name, port);
        // Connection counters survive endpoint-set swaps, keyed by endpoint address.
        let mut counters = self
            .ports
            .get(name)
            .map(|p| {
                p.shared
                    .active
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            })
            .unwrap_or_default();
        let make =
            |eps: Vec<&proxy::Endpoint>,
             counters: &mut std::collections::HashMap<SocketAddr, Arc<AtomicUsize>>| {
                let addrs: Vec<SocketAddr> = eps.iter().map(|e| e.addr()).collect();
                let weights: Vec<u32> = eps
                    .iter()
                    .map(|e| {
                        e.pod
                            .as_ref()
                            .and_then(|p| state.pod_weights.get(p))
                            .copied()
                            .unwrap_or(1)
                    })
                    .collect();
                let active: Vec<Arc<AtomicUsize>> = addrs
                    .iter()
                    .map(|a| counters.entry(*a).or_default().clone())
                    .collect();
                let selection = kind.build(&candidates(&addrs, &weights, &active));
                Arc::new(Backends {
                    selection,
                    addrs,
                    weights,
                    active,
                })
            };
        let cluster = make(proxy::topology::for_cluster_ip(port, &c), &mut counters);
        let external = make(proxy::topology::for_external(port, &c), &mut counters);
        let mut wanted: BTreeMap<SocketAddr, bool> = BTreeMap::new();
        if !cluster.addrs.is_empty() {
            for ip in &port.cluster_ips {
                wanted.insert(SocketAddr::new(*ip, port.port), false);
            }
        }
        if !external.addrs.is_empty() {
            if let Some(np) = port.node_port {
                for ip in
                    std::iter::once(&self.config.node_ip).chain(&self.config.nodeport_addresses)
                {
                    wanted.insert(SocketAddr::new(*ip, np), true);
                }
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
                active: Default::default(),
                sticky: Default::default(),
                closing: Default::default(),
                firewall: Default::default(),
            }),
            listeners: BTreeMap::new(),
        });
        // The same endpoints with the same weights keep their scheduler (and its state).
        let set = |lock: &RwLock<Arc<Backends>>, b: Arc<Backends>| {
            let mut w = lock.write().unwrap_or_else(|p| p.into_inner());
            if w.addrs != b.addrs || w.weights != b.weights {
                *w = b;
            }
        };
        *entry
            .shared
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = counters;
        set(&entry.shared.cluster, cluster);
        set(&entry.shared.external, external);
        entry
            .shared
            .close_removed(self.config.removed_endpoint_grace);
        *entry
            .shared
            .firewall
            .write()
            .unwrap_or_else(|p| p.into_inner()) = (
            port.load_balancer_ips.clone(),
            port.load_balancer_source_ranges
                .iter()
                .filter_map(|r| parse_range(r))
                .collect(),
        );
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
        let gone: Vec<SocketAddr> = entry
            .listeners
            .iter()
            .filter(|(addr, (ext, _))| wanted.get(addr) != Some(ext))
            .map(|(addr, _)| *addr)
            .collect();
        for addr in gone {
            if let Some((_, task)) = entry.listeners.remove(&addr) {
                close(task).await;
            }
        }
        for (addr, ext) in wanted {
            if entry.listeners.contains_key(&addr) {
                continue;
            }
            let started = match name.protocol {
                Protocol::Udp => udp::listen(addr)
                    .map(|l| tokio::spawn(udp::serve(l, entry.shared.clone(), ext))),
                _ => relay::listen(addr)
                    .map(|l| tokio::spawn(relay::serve(l, entry.shared.clone(), ext))),
            };
            match started {
                Ok(task) => {
                    self.failed.remove(&addr);
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
            self.close_port(name).await;
        }
    }
}

impl Userspace {
    /// Removes a service port and closes its listeners.
    async fn close_port(&mut self, name: &ServicePortName) {
        if let Some(mut port) = self.ports.remove(name) {
            for (_, (_, task)) in std::mem::take(&mut port.listeners) {
                close(task).await;
            }
        }
    }
}

/// Stops a listener's accept task and waits until it has ended, so that its socket is closed
/// when the sync returns (a client is refused at once, and the address can be listened on
/// again). Connections already accepted run on in their own tasks.
async fn close(task: tokio::task::JoinHandle<()>) {
    task.abort();
    let _ = task.await;
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
                // SCTP is not relayed.
                Some(port) if name.protocol != Protocol::Sctp => {
                    let port = port.clone();
                    self.sync_port(&name, &port, state).await;
                }
                _ => self.close_port(&name).await,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
