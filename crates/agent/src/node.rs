//! The agent's Node object and its heartbeat Lease.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::Config;

const MANAGER: &str = "knet-agent";

fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

async fn register(client: &kube::Client, config: &Config) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let name = &config.node_name;
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": std::env::consts::OS,
            "node-role.kubernetes.io/control-plane": "",
        }},
    });
    nodes
        .patch(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&node),
        )
        .await?;
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": config.node_ip.to_string()},
                      {"type": "Hostname", "address": name}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "knet agent is posting ready status",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "nodeInfo": {"kubeletVersion": "v1.32.0-knet", "kubeProxyVersion": "v1.32.0-knet",
                     "operatingSystem": std::env::consts::OS, "architecture": std::env::consts::ARCH,
                     "containerRuntimeVersion": "knet://process", "osImage": "", "kernelVersion": "",
                     "machineID": "", "systemUUID": "", "bootID": ""},
    }});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

async fn renew(client: &kube::Client, config: &Config) -> Result<(), kube::Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": config.node_name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": config.node_name, "leaseDurationSeconds": 40, "renewTime": now_micro()},
    });
    leases
        .patch(
            &config.node_name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&lease),
        )
        .await?;
    Ok(())
}

/// Registers the Node, then renews its Lease every 10 s (and the Node's Ready heartbeat every
/// minute), for as long as the task runs.
pub async fn keep_registered(client: kube::Client, config: Arc<Config>) {
    let mut tick = 0u32;
    loop {
        if tick.is_multiple_of(6)
            && let Err(err) = register(&client, &config).await
        {
            tracing::warn!(%err, "registering the node failed; retrying");
        }
        if let Err(err) = renew(&client, &config).await {
            tracing::debug!(%err, "renewing the node lease failed; retrying");
        }
        tick = tick.wrapping_add(1);
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}
