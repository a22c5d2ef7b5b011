//! knet's service proxy, the part every mode shares, in kube-proxy's shape.
//!
//! Services and EndpointSlices come in through kube-rs watches ([`runner`]), are turned into
//! per-port facts by the change trackers ([`service`], [`endpoints`]), and become a
//! [`ProxyState`]: the service-port map and the endpoints map. A mode (a [`Dataplane`]) turns
//! that state into listeners or rules; it never sees a Kubernetes object. [`topology`] decides
//! which endpoints a kind of traffic may use (traffic policies, terminating endpoints).
//!
//! What this crate does not do: pick an endpoint for a connection (the userspace mode's
//! schedulers do), or touch the network. Start reading at [`runner::run`].

pub mod endpoints;
pub mod health;
pub mod l2;
pub mod metrics;
pub mod runner;
pub mod service;
pub mod topology;
pub mod trace;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use endpoints::{Endpoint, EndpointsChangeTracker};

/// An IP family. The kernel modes keep one set of rules per family (kube-proxy runs one proxier
/// per family), each holding only its own family's addresses; see [`PerFamily`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Family {
    /// IPv4.
    #[default]
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// Whether `ip` is of this family.
    pub fn has(self, ip: &std::net::IpAddr) -> bool {
        match self {
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    /// Whether a CIDR as written (`10.0.0.0/8`, `fd00::/64`) is of this family.
    pub fn has_cidr(self, cidr: &str) -> bool {
        cidr.contains(':') == (self == Family::V6)
    }

    /// The prefix length of one address: 32 or 128.
    pub fn host_bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// Whether this host has IPv6 (the kernel lists its IPv6 addresses in `/proc/net/if_inet6`);
    /// the families a kernel mode should program here.
    pub fn on_this_host() -> Vec<Family> {
        if std::path::Path::new("/proc/net/if_inet6").exists() {
            vec![Family::V4, Family::V6]
        } else {
            vec![Family::V4]
        }
    }
}
pub use runner::{Changes, Dataplane, PerFamily, RunnerConfig};
pub use service::{ServiceChangeTracker, ServiceKey, ServicePort, ServicePortName};

/// Everything a mode needs: each service port, and the endpoints behind it.
#[derive(Debug, Clone, Default)]
pub struct ProxyState {
    /// Every service port of every Service that the proxy handles.
    pub services: BTreeMap<ServicePortName, Arc<ServicePort>>,
    /// The endpoints of each service port (absent: none).
    pub endpoints: BTreeMap<ServicePortName, Arc<Vec<Endpoint>>>,
    /// Pods (namespace, name) with a valid `knet.dev/weight` annotation, and that weight.
    pub pod_weights: Arc<BTreeMap<(String, String), u32>>,
}

/// The pod annotation that weighs an endpoint for the weighted schedulers.
pub const WEIGHT_ANNOTATION: &str = "knet.dev/weight";

impl ProxyState {
    /// The endpoints of `port`, empty if it has none.
    pub fn endpoints_of(&self, port: &ServicePortName) -> &[Endpoint] {
        self.endpoints.get(port).map_or(&[], |e| e.as_slice())
    }

    /// The service ports of `service`.
    pub fn ports_of<'a>(
        &'a self,
        service: &'a ServiceKey,
    ) -> impl Iterator<Item = (&'a ServicePortName, &'a Arc<ServicePort>)> + 'a {
        self.services
            .iter()
            .filter(move |(name, _)| &name.service == service)
    }

    /// The Services that have a port in this state.
    pub fn service_keys(&self) -> BTreeSet<ServiceKey> {
        self.services.keys().map(|n| n.service.clone()).collect()
    }
}
