//! EndpointSlices and Endpoints for Services with a selector, from the Pods they select, as
//! kube-controller-manager's EndpointSlice and Endpoints controllers keep them.
//!
//! One slice per Service (IPv4), named `<service>-<uid prefix>`, labelled
//! `kubernetes.io/service-name` and owned by the Service; conditions follow `podToEndpoint`
//! (ready = publishNotReadyAddresses or (serving and not terminating); serving = pod Ready;
//! terminating = deletionTimestamp set). Named targetPorts are resolved per pod. The Endpoints
//! object mirrors the slice for `kubectl get endpoints`: ready addresses in `addresses`, the
//! rest in `notReadyAddresses`. Services without a selector are left alone, so endpoints a user
//! writes stay as written. As upstream, writes are creates and updates (not server-side
//! applies, which cost the API server a field-set merge per write) made only when the content
//! changed; the controller remembers the resourceVersion it wrote and re-reads on a conflict.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
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

/// What was last written for one Service, and the resourceVersions the writes returned.
struct Written {
    slice: Value,
    endpoints: Value,
    slice_rv: Option<String>,
    endpoints_rv: Option<String>,
}

/// The controller's memory: what the watches show, what it wrote, and what needs a look.
struct State {
    client: kube::Client,
    svcs: Mirror<Service>,
    pods: Mirror<Pod>,
    written: BTreeMap<Key, Written>,
    dirty: BTreeSet<Key>,
}

impl State {
    /// Takes one watch event in, marking the Services it may change.
    async fn take(&mut self, change: Change) {
        match change {
            Change::Service(ev) => match *ev {
                Err(err) => {
                    tracing::debug!(%err, "endpointslice service watch error; retrying with backoff");
                }
                Ok(ev) => match self.svcs.handle(ev) {
                    Seen::Nothing => {}
                    Seen::Synced => self.dirty.extend(self.svcs.items.keys().cloned()),
                    Seen::Applied { new, .. } => {
                        self.dirty.insert(key_of(&new.metadata));
                    }
                    Seen::Deleted(s) => {
                        let k = key_of(&s.metadata);
                        if self.written.remove(&k).is_some() {
                            // The slice goes with its owner; the Endpoints object has none.
                            let api: Api<k8s_openapi::api::core::v1::Endpoints> =
                                Api::namespaced(self.client.clone(), &k.0);
                            let _ = api.delete(&k.1, &DeleteParams::default()).await;
                        }
                    }
                },
            },
            Change::Pod(ev) => {
                let touched: Vec<Pod> = match *ev {
                    Err(err) => {
                        tracing::debug!(%err, "endpointslice pod watch error; retrying with backoff");
                        return;
                    }
                    Ok(ev) => match self.pods.handle(ev) {
                        Seen::Nothing => Vec::new(),
                        Seen::Synced => {
                            self.dirty.extend(self.svcs.items.keys().cloned());
                            Vec::new()
                        }
                        Seen::Applied { old, new } => old.into_iter().chain([new]).collect(),
                        Seen::Deleted(p) => vec![p],
                    },
                };
                for p in touched {
                    let ns = p.metadata.namespace.clone().unwrap_or_default();
                    for (k, s) in self.svcs.in_namespace(&ns) {
                        let selector = s
                            .spec
                            .as_ref()
                            .and_then(|s| s.selector.clone())
                            .unwrap_or_default();
                        if selects(&selector, &p) {
                            self.dirty.insert(k.clone());
                        }
                    }
                }
            }
        }
    }

    /// Writes the slice and Endpoints of every Service marked dirty whose content changed.
    async fn sync(&mut self) {
        if !(self.svcs.synced() && self.pods.synced()) {
            return;
        }
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        for k in std::mem::take(&mut self.dirty) {
            let Some(svc) = self.svcs.items.get(&k) else {
                continue;
            };
            let in_ns: Vec<&Pod> = self.pods.in_namespace(&k.0).map(|(_, p)| p).collect();
            let Some((slice, endpoints)) = desired(svc, &in_ns, &now) else {
                continue;
            };
            let last = self.written.remove(&k);
            if let Some(w) = &last
                && content(&w.slice) == content(&slice)
                && content(&w.endpoints) == content(&endpoints)
            {
                self.written.insert(k, last.expect("checked"));
                continue;
            }
            let (slice_rv, endpoints_rv) = last
                .map(|w| (w.slice_rv, w.endpoints_rv))
                .unwrap_or_default();
            let slices: Api<EndpointSlice> = Api::namespaced(self.client.clone(), &k.0);
            let eps: Api<Endpoints> = Api::namespaced(self.client.clone(), &k.0);
            let (a, b) = futures::join!(
                write(&slices, &slice, slice_rv),
                write(&eps, &endpoints, endpoints_rv),
            );
            match (a, b) {
                (Ok(slice_rv), Ok(endpoints_rv)) => {
                    let w = Written {
                        slice,
                        endpoints,
                        slice_rv: Some(slice_rv),
                        endpoints_rv: Some(endpoints_rv),
                    };
                    self.written.insert(k, w);
                }
                (a, b) => {
                    // Forgotten, so the next change that touches this Service writes afresh.
                    for err in [a.err(), b.err()].into_iter().flatten() {
                        tracing::warn!(%err, "writing endpoints failed");
                    }
                }
            }
        }
    }
}

/// Keeps EndpointSlices and Endpoints in step with Services and Pods until the process ends.
///
/// The two watches run in tasks of their own that queue events as they come, so they keep
/// reading while a round of writes is in flight. Each round takes in every queued event before
/// it writes, so a burst (a scale to 100 pods is hundreds of pod updates) costs one write per
/// Service per round rather than one per event, and the newest state is never queued behind
/// writes of older ones. (Polling the watch streams directly would not do: an HTTP/1 body
/// yields one chunk per wake-up of its connection task, so a drain finds at most one event.)
pub async fn run(client: kube::Client) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let services = watcher::watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|ev| Change::Service(Box::new(ev)));
    let pods = watcher::watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .map(|ev| Change::Pod(Box::new(ev)));
    let forward = |stream: futures::stream::BoxStream<'static, Change>| {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut stream = stream;
            while let Some(change) = stream.next().await {
                if tx.send(change).is_err() {
                    return;
                }
            }
        })
    };
    let watches = [forward(services.boxed()), forward(pods.boxed())];
    drop(tx);
    let mut state = State {
        client,
        svcs: Mirror::default(),
        pods: Mirror::default(),
        written: BTreeMap::new(),
        dirty: BTreeSet::new(),
    };
    while let Some(change) = rx.recv().await {
        let started = std::time::Instant::now();
        let mut events = 1;
        state.take(change).await;
        while let Ok(change) = rx.try_recv() {
            state.take(change).await;
            events += 1;
        }
        let dirty = state.dirty.len();
        state.sync().await;
        tracing::debug!(
            events,
            dirty,
            elapsed_us = started.elapsed().as_micros() as u64,
            "endpointslice round"
        );
    }
    for w in watches {
        w.abort();
    }
}

/// Writes `desired` as the whole object: an update at `rv` when known, else a create. A
/// conflict or a missing object is settled by re-reading once or twice. Returns the new
/// resourceVersion.
async fn write<K>(api: &Api<K>, desired: &Value, mut rv: Option<String>) -> kube::Result<String>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let name = desired["metadata"]["name"].as_str().unwrap_or_default();
    let params = PostParams {
        field_manager: Some(MANAGER.to_owned()),
        ..PostParams::default()
    };
    let mut tries = 0;
    loop {
        tries += 1;
        let mut obj = desired.clone();
        if let Some(rv) = &rv {
            obj["metadata"]["resourceVersion"] = json!(rv);
        }
        let obj: K = serde_json::from_value(obj).map_err(kube::Error::SerdeError)?;
        let result = match rv {
            Some(_) => api.replace(name, &params, &obj).await,
            None => api.create(&params, &obj).await,
        };
        match result {
            Ok(written) => return Ok(written.meta().resource_version.clone().unwrap_or_default()),
            Err(kube::Error::Api(e)) if tries < 4 && (e.code == 409 || e.code == 404) => {
                rv = match api.get_opt(name).await? {
                    Some(cur) => cur.meta().resource_version.clone(),
                    None => None,
                };
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
