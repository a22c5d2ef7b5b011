//! knet's controllers. Each one is a client of a Kubernetes API server through kube-rs and runs
//! against knet's own server or a real cluster alike.
//!
//! Today: [`loadbalancer`], which gives `type: LoadBalancer` Services an address from a pool,
//! as MetalLB's controller does, and [`garbage_collector`], which deletes objects whose owners
//! are gone and empties terminating namespaces, and [`endpointslice`], which keeps
//! EndpointSlices and Endpoints in step with Pods, and [`replicaset`], which keeps each
//! ReplicaSet at its replica count. Start reading at [`run`].

pub mod deployment;
pub mod endpointslice;
pub use events;
pub mod garbage_collector;
pub mod loadbalancer;
pub mod mirror;
pub mod replicaset;

use std::future::Future;

/// Configuration for all controllers.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address pools for LoadBalancer Services: CIDRs (`127.240.0.0/24`) or ranges
    /// (`10.0.0.10-10.0.0.20`).
    pub lb_pools: Vec<String>,
}

/// Why a controller could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pool could not be parsed.
    #[error("invalid --lb-pool: {0}")]
    Pool(String),
}

/// Runs every controller until `shutdown` resolves.
pub async fn run(
    config: Config,
    client: kube::Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let pool = loadbalancer::Pool::parse(&config.lb_pools).map_err(Error::Pool)?;
    tokio::select! {
        _ = loadbalancer::run(client.clone(), pool) => {}
        _ = garbage_collector::run(client.clone()) => {}
        _ = endpointslice::run(client.clone()) => {}
        _ = replicaset::run(client.clone()) => {}
        _ = deployment::run(client) => {}
        _ = shutdown => {}
    }
    Ok(())
}
