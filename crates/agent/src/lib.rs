//! knet's node agent: it registers a Node, renews its Lease, binds unassigned pods to itself
//! (there is one node), and runs each pod's containers as local processes, as kubelet would
//! run them in containers: command and args with `$(VAR)` expansion, env with `fieldRef`, the
//! contract's `POD_*` variables, logs under `DIR/logs`, restarts with kubelet's back-off, and
//! graceful termination of the whole process group.
//!
//! Readiness, liveness and startup probes (httpGet, tcpSocket, exec) follow kubelet: readiness
//! drives the pod's Ready condition, a failed liveness or startup probe restarts the container.
//!
//! Deletion runs the preStop hook, then SIGTERM, then SIGKILL once the grace period (counted
//! from the start of deletion) is over.
//!
//! Pod networking has two modes: loopback (each pod gets an address from the pod CIDR inside
//! 127.0.0.0/8 and must listen on it) and netns (`netns.rs`: a network namespace per pod on a
//! bridge, with its own resolv.conf).
//!
//! It talks to the API server only through kube-rs, like every other client.
//!
//! Start reading at [`run`], then `worker.rs` (one pod's life) and `process.rs` (spawning and
//! signalling).

mod ipam;
mod netns;
mod node;
mod probe;
mod process;
mod pty;
mod streams;
mod worker;

/// Ends the containers an agent with data directory `data_dir` left running (a `knet up` that
/// was killed with SIGKILL): every process group it recorded is killed. The next agent on that
/// directory does the same at its start.
pub fn reap_left_behind(data_dir: &std::path::Path) {
    process::reap_recorded(&data_dir.join("run"));
}

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};

pub use netns::Bridge;
pub use process::expand;
pub use streams::Registry;

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Node's name.
    pub node_name: String,
    /// The Node's address (also the pods' `hostIP`).
    pub node_ip: IpAddr,
    /// Pod addresses come from here (loopback mode: inside 127.0.0.0/8).
    pub pod_cidr: String,
    /// Container logs go to `<log_dir>/<namespace>_<pod>_<container>.log`.
    pub log_dir: PathBuf,
    /// The running knet binary, for containers without a command (`knet echo`).
    pub knet_bin: PathBuf,
    /// The netns network mode's bridge; `None` is the loopback mode.
    pub bridge: Option<Bridge>,
    /// The running pods, for exec, attach and port-forward (`knet up` shares it with the
    /// API server).
    pub registry: Registry,
}

impl Config {
    /// Where the process group of every running container is recorded (next to the logs).
    pub fn run_dir(&self) -> PathBuf {
        self.log_dir.with_file_name("run")
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pod CIDR is unusable.
    #[error("invalid --pod-cidr: {0}")]
    PodCidr(String),
    /// The log directory could not be made.
    #[error("log directory: {0}")]
    Logs(#[from] std::io::Error),
    /// The pod bridge could not be made (netns mode).
    #[error("pod bridge: {0}")]
    Bridge(std::io::Error),
}

/// Runs the agent until `shutdown` resolves; then stops every pod's processes (each with its
/// grace period) before returning.
pub async fn run(
    config: Config,
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    std::fs::create_dir_all(&config.log_dir)?;
    std::fs::create_dir_all(config.run_dir())?;
    // Processes left by an agent that was killed outright would run twice next to the ones
    // started now: end them first.
    process::reap_recorded(&config.run_dir());
    if let Some(bridge) = config.bridge.clone() {
        tokio::task::spawn_blocking(move || bridge.ensure())
            .await
            .map_err(|e| Error::Bridge(std::io::Error::other(e.to_string())))?
            .map_err(Error::Bridge)?;
    }
    let ipam = Arc::new(Mutex::new(
        ipam::Ipam::new(&config.pod_cidr).map_err(Error::PodCidr)?,
    ));
    let config = Arc::new(config);
    let node = tokio::spawn(node::keep_registered(client.clone(), config.clone()));
    let mut workers: HashMap<String, worker::Handle> = HashMap::new();
    let pods = watcher::watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .default_backoff();
    let mut pods = std::pin::pin!(pods);
    tokio::pin!(shutdown);
    loop {
        let event = tokio::select! {
            _ = &mut shutdown => break,
            event = pods.next() => match event {
                Some(Ok(e)) => e,
                Some(Err(err)) => {
                    tracing::debug!(%err, "pod watch error; retrying with backoff");
                    continue;
                }
                None => break,
            },
        };
        let (pod, deleted) = match event {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => (p, false),
            watcher::Event::Delete(p) => (p, true),
            watcher::Event::Init | watcher::Event::InitDone => continue,
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        if node_name.is_empty() && !deleted && pod.metadata.deletion_timestamp.is_none() {
            bind(&client, &pod, &config.node_name).await;
            continue;
        }
        if node_name != config.node_name {
            continue;
        }
        if deleted {
            if let Some(w) = workers.remove(&uid) {
                w.stop_now();
            }
            continue;
        }
        match workers.get(&uid) {
            Some(w) => w.update(pod),
            None => {
                let w = worker::spawn(client.clone(), config.clone(), ipam.clone(), pod);
                workers.insert(uid, w);
            }
        }
        workers.retain(|_, w| !w.finished());
    }
    node.abort();
    // Stop every pod's processes, each with its own grace period, all at once.
    let stops: Vec<_> = workers.into_values().map(|w| w.shutdown()).collect();
    futures::future::join_all(stops).await;
    if let Some(bridge) = config.bridge.clone() {
        let _ = tokio::task::spawn_blocking(move || bridge.teardown()).await;
    }
    Ok(())
}

async fn bind(client: &kube::Client, pod: &Pod, node: &str) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let binding = serde_json::json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": ns},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let bound = api
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &name,
            &PostParams::default(),
            &binding,
        )
        .await;
    if let Err(err) = bound {
        tracing::debug!(%err, pod = %name, "binding failed; retried on the next change");
    }
}
