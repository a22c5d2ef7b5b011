//! EndpointSlices and Endpoints for Services with a selector, from the Pods they select, as
//! kube-controller-manager's EndpointSlice and Endpoints controllers keep them.
//!
//! One slice per Service (IPv4), named `<service>-<uid prefix>`, labelled
//! `kubernetes.io/service-name` and owned by the Service; conditions follow `podToEndpoint`
//! (ready = publishNotReadyAddresses or (serving and not terminating); serving = pod Ready;
//! terminating = deletionTimestamp set). Named targetPorts are resolved per pod. The Endpoints
//! object mirrors the slice for `kubectl get endpoints`: ready addresses in `addresses`, the
//! rest in `notReadyAddresses`. Services without a selector are left alone, so endpoints a user
//! writes stay as written. Writes are server-side applies, so an unchanged result writes
//! nothing.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::{Value, json};

use crate::mirror::{Key, Mirror, Seen, key_of, pod_ready, selects};

/// The field manager of this controller's writes.
const MANAGER: &str = "endpointslice-controller.k8s.io";

/// A Service port resolved for one pod: (name, port, protocol).
type PortSet = Vec<(String, i32, String)>;

/// Ready and not-ready addresses of one Endpoints subset.
type Addresses = (Vec<Value>, Vec<Value>);

/// The port a Service port reaches on `pod`: a number, or a named container port.
fn target_port(port: &k8s_openapi::api::core::v1::ServicePort, pod: &Pod) -> Option<i32> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) if *n == 0 => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            pod.spec.as_ref()?.containers.iter().find_map(|c| {
                c.ports.as_ref()?.iter().find_map(|p| {
                    (p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol)
                        .then_some(p.container_port)
                })
            })
        }
    }
}

/// The desired slice and Endpoints for `svc` over `pods` (all in its namespace). Pure, so it
/// is tested directly.
fn desired(svc: &Service, pods: &[&Pod], now: &str) -> Option<(Value, Value)> {
    let spec = svc.spec.as_ref()?;
    let selector = spec.selector.clone().unwrap_or_default();
    if selector.is_empty() || spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    let (ns, name) = key_of(&svc.metadata);
    let uid = svc.metadata.uid.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
    let ports = spec.ports.clone().unwrap_or_default();
    let mut endpoints = Vec::new();
    // Endpoints groups addresses by their resolved port set.
    let mut subsets: BTreeMap<PortSet, Addresses> = BTreeMap::new();
    let mut slice_ports: Option<PortSet> = None;
    let mut pods: Vec<&&Pod> = pods.iter().filter(|p| selects(&selector, p)).collect();
    pods.sort_by_key(|p| p.metadata.name.clone());
    for pod in pods {
        let status = pod.status.as_ref();
        let Some(ip) = status
            .and_then(|s| s.pod_ip.clone())
            .filter(|ip| !ip.is_empty())
        else {
            continue;
        };
        if matches!(
            status.and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        ) {
            continue;
        }
        let resolved: PortSet = ports
            .iter()
            .filter_map(|p| {
                Some((
                    p.name.clone().unwrap_or_default(),
                    target_port(p, pod)?,
                    p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                ))
            })
            .collect();
        slice_ports.get_or_insert_with(|| resolved.clone());
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let serving = pod_ready(pod);
        let ready = publish_not_ready || (serving && !terminating);
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let target =
            json!({"kind": "Pod", "namespace": ns, "name": pod_name, "uid": pod.metadata.uid});
        let mut ep = json!({
            "addresses": [ip],
            "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
            "targetRef": target,
        });
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
            ep["nodeName"] = json!(node);
        }
        endpoints.push(ep);
        let mut address = json!({"ip": ip, "targetRef": target});
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
            address["nodeName"] = json!(node);
        }
        let entry = subsets.entry(resolved).or_default();
        if ready {
            entry.0.push(address);
        } else {
            entry.1.push(address);
        }
    }
    let ports_json = |ports: &[(String, i32, String)]| -> Vec<Value> {
        // kubectl describe needs `name` and `port` on every slice port, even unnamed ones.
        ports
            .iter()
            .map(|(n, p, proto)| json!({"name": n, "port": p, "protocol": proto}))
            .collect()
    };
    let slice_ports = slice_ports.unwrap_or_default();
    let owner = json!([{"apiVersion": "v1", "kind": "Service", "name": name, "uid": uid,
                         "controller": true, "blockOwnerDeletion": true}]);
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": format!("{name}-{}", uid.get(..5).unwrap_or("knet")),
            "namespace": ns,
            "labels": {
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": MANAGER,
            },
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": now},
            "ownerReferences": owner,
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports_json(&slice_ports),
    });
    let subsets: Vec<Value> = subsets
        .into_iter()
        .map(|(ports, (ready, not_ready))| {
            let mut s = json!({"ports": ports_json(&ports)});
            if !ready.is_empty() {
                s["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                s["notReadyAddresses"] = json!(not_ready);
            }
            s
        })
        .collect();
    let mut endpoints_obj = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": svc.metadata.labels,
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": now},
        },
    });
    if !subsets.is_empty() {
        endpoints_obj["subsets"] = json!(subsets);
    }
    Some((slice, endpoints_obj))
}

/// Content without the trigger-time annotation, to tell real changes from re-syncs.
fn content(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(a) = v
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove("endpoints.kubernetes.io/last-change-trigger-time");
    }
    v
}

/// One item from either watch (boxed: the objects are large and of different sizes).
enum Change {
    Service(Box<Result<watcher::Event<Service>, watcher::Error>>),
    Pod(Box<Result<watcher::Event<Pod>, watcher::Error>>),
}

/// Keeps EndpointSlices and Endpoints in step with Services and Pods until the process ends.
pub async fn run(client: kube::Client) {
    let services = watcher::watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|ev| Change::Service(Box::new(ev)));
    let pods = watcher::watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .map(|ev| Change::Pod(Box::new(ev)));
    let mut changes = std::pin::pin!(futures::stream::select(services, pods));
    let mut svcs: Mirror<Service> = Mirror::default();
    let mut pods: Mirror<Pod> = Mirror::default();
    let mut written: BTreeMap<Key, (Value, Value)> = BTreeMap::new();
    let mut dirty: BTreeSet<Key> = BTreeSet::new();
    while let Some(change) = changes.next().await {
        match change {
            Change::Service(ev) => match *ev {
                Err(err) => {
                    tracing::debug!(%err, "endpointslice service watch error; retrying with backoff");
                }
                Ok(ev) => match svcs.handle(ev) {
                    Seen::Nothing => {}
                    Seen::Synced => dirty.extend(svcs.items.keys().cloned()),
                    Seen::Applied { new, .. } => {
                        dirty.insert(key_of(&new.metadata));
                    }
                    Seen::Deleted(s) => {
                        let k = key_of(&s.metadata);
                        if written.remove(&k).is_some() {
                            // The slice goes with its owner; the Endpoints object has none.
                            let api: Api<k8s_openapi::api::core::v1::Endpoints> =
                                Api::namespaced(client.clone(), &k.0);
                            let _ = api.delete(&k.1, &DeleteParams::default()).await;
                        }
                    }
                },
            },
            Change::Pod(ev) => {
                let touched: Vec<Pod> = match *ev {
                    Err(err) => {
                        tracing::debug!(%err, "endpointslice pod watch error; retrying with backoff");
                        continue;
                    }
                    Ok(ev) => match pods.handle(ev) {
                        Seen::Nothing => Vec::new(),
                        Seen::Synced => {
                            dirty.extend(svcs.items.keys().cloned());
                            Vec::new()
                        }
                        Seen::Applied { old, new } => old.into_iter().chain([new]).collect(),
                        Seen::Deleted(p) => vec![p],
                    },
                };
                for p in touched {
                    let ns = p.metadata.namespace.clone().unwrap_or_default();
                    for (k, s) in svcs.in_namespace(&ns) {
                        let selector = s
                            .spec
                            .as_ref()
                            .and_then(|s| s.selector.clone())
                            .unwrap_or_default();
                        if selects(&selector, &p) {
                            dirty.insert(k.clone());
                        }
                    }
                }
            }
        }
        if !(svcs.synced() && pods.synced()) {
            continue;
        }
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        for k in std::mem::take(&mut dirty) {
            let Some(svc) = svcs.items.get(&k) else {
                continue;
            };
            let in_ns: Vec<&Pod> = pods.in_namespace(&k.0).map(|(_, p)| p).collect();
            let Some((slice, endpoints)) = desired(svc, &in_ns, &now) else {
                continue;
            };
            let unchanged = written.get(&k).is_some_and(|(s, e)| {
                content(s) == content(&slice) && content(e) == content(&endpoints)
            });
            if unchanged {
                continue;
            }
            if apply(&client, &k.0, &slice, &endpoints).await {
                written.insert(k, (slice, endpoints));
            } else {
                // Retried on the next change that touches this Service.
                written.remove(&k);
            }
        }
    }
}

async fn apply(client: &kube::Client, ns: &str, slice: &Value, endpoints: &Value) -> bool {
    let params = PatchParams::apply(MANAGER).force();
    let slices: Api<k8s_openapi::api::discovery::v1::EndpointSlice> =
        Api::namespaced(client.clone(), ns);
    let eps: Api<k8s_openapi::api::core::v1::Endpoints> = Api::namespaced(client.clone(), ns);
    let slice_name = slice["metadata"]["name"].as_str().unwrap_or_default();
    let ep_name = endpoints["metadata"]["name"].as_str().unwrap_or_default();
    let a = slices
        .patch(slice_name, &params, &Patch::Apply(slice))
        .await;
    let b = eps.patch(ep_name, &params, &Patch::Apply(endpoints)).await;
    let ok = a.is_ok() && b.is_ok();
    for err in [a.err(), b.err()].into_iter().flatten() {
        tracing::warn!(%err, "writing endpoints failed");
    }
    ok
}

#[cfg(test)]
mod tests;
