//! Which endpoints a kind of traffic may use: kube-proxy's `CategorizeEndpoints`.
//!
//! Cluster traffic uses the ready endpoints, or, when there are none, the ones that are
//! serving while terminating. Local traffic (a `Local` traffic policy) does the same over the
//! endpoints on this node. A terminating endpoint that is not serving is never used.

use crate::endpoints::Endpoint;
use crate::service::ServicePort;

/// The endpoints for traffic that may go to any node, and for traffic that must stay on this
/// one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Categorized<'a> {
    /// For ClusterIP traffic under `internalTrafficPolicy: Cluster`, and external traffic
    /// under `externalTrafficPolicy: Cluster`.
    pub cluster: Vec<&'a Endpoint>,
    /// Endpoints on `node`, for the `Local` policies.
    pub local: Vec<&'a Endpoint>,
}

fn usable<'a>(eps: impl Iterator<Item = &'a Endpoint> + Clone) -> Vec<&'a Endpoint> {
    let ready: Vec<_> = eps.clone().filter(|e| e.ready).collect();
    if !ready.is_empty() {
        return ready;
    }
    eps.filter(|e| e.serving && e.terminating).collect()
}

/// Sorts `endpoints` into the cluster-wide and node-local sets for `node`.
pub fn categorize<'a>(endpoints: &'a [Endpoint], node: &str) -> Categorized<'a> {
    Categorized {
        cluster: usable(endpoints.iter()),
        local: usable(
            endpoints
                .iter()
                .filter(|e| e.node_name.as_deref() == Some(node)),
        ),
    }
}

/// The endpoints for ClusterIP traffic to `port`.
pub fn for_cluster_ip<'a>(port: &ServicePort, c: &Categorized<'a>) -> Vec<&'a Endpoint> {
    if port.internal_local {
        c.local.clone()
    } else {
        c.cluster.clone()
    }
}

/// The endpoints for NodePort, load-balancer and external-IP traffic to `port`.
pub fn for_external<'a>(port: &ServicePort, c: &Categorized<'a>) -> Vec<&'a Endpoint> {
    if port.external_local {
        c.local.clone()
    } else {
        c.cluster.clone()
    }
}

#[cfg(test)]
mod tests;
