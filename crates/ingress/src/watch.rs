//! Keeps the snapshot current: kube-rs reflectors of Ingresses, IngressClasses, Services and
//! EndpointSlices; a rebuild after changes (coalesced) swaps in a new snapshot and writes the
//! served Ingresses' `status.loadBalancer.ingress`.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::Notify;

use crate::build::{Classes, table};
use crate::server::{Shared, Snapshot};
use crate::upstreams::Upstreams;

fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    changed: Arc<Notify>,
    synced: Arc<AtomicBool>,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config).default_backoff().reflect(writer);
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::InitDone) => {
                    synced.store(true, Ordering::Release);
                    changed.notify_one();
                }
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Ok(_) => changed.notify_one(),
                Err(err) => tracing::debug!(%err, "ingress watch error; retrying with backoff"),
            }
        }
    });
    (reader, task)
}

/// Writes `address` into the status of `ing` unless it is there already; whether the status
/// now holds it.
async fn publish(client: &kube::Client, ing: &Ingress, address: IpAddr) -> bool {
    let ip = address.to_string();
    let current: Vec<String> = ing
        .status
        .iter()
        .flat_map(|s| s.load_balancer.iter())
        .flat_map(|lb| lb.ingress.iter().flatten())
        .filter_map(|i| i.ip.clone())
        .collect();
    if current == [ip.clone()] {
        return true;
    }
    let (Some(ns), Some(name)) = (&ing.metadata.namespace, &ing.metadata.name) else {
        return false;
    };
    let patch = serde_json::json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}});
    let api = Api::<Ingress>::namespaced(client.clone(), ns);
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => true,
        Err(err) => {
            tracing::debug!(%err, ingress = %name, "ingress: writing status");
            false
        }
    }
}

/// A reference to `ing` for an Event.
fn reference(ing: &Ingress) -> k8s_openapi::api::core::v1::ObjectReference {
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("networking.k8s.io/v1".into()),
        kind: Some("Ingress".into()),
        name: ing.metadata.name.clone(),
        namespace: ing.metadata.namespace.clone(),
        uid: ing.metadata.uid.clone(),
        resource_version: ing.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// Warnings about the served Ingresses: their annotations, rules refused, TLS Secrets that
/// cannot be used, backends whose Service does not exist. (namespace, name) → (reason,
/// message).
fn warnings(
    served: &[&Ingress],
    rejected: &[crate::routes::Rejected],
    bad: &[crate::tls::BadSecret],
    upstreams: &Upstreams,
) -> Vec<((String, String), &'static str, String)> {
    let key = |i: &Ingress| {
        (
            i.metadata.namespace.clone().unwrap_or_default(),
            i.metadata.name.clone().unwrap_or_default(),
        )
    };
    let mut out = Vec::new();
    for ing in served {
        for (reason, msg) in crate::build::annotation_warnings(ing) {
            out.push((key(ing), reason, msg));
        }
        let spec = ing.spec.as_ref();
        let backends = spec
            .and_then(|s| s.default_backend.as_ref())
            .into_iter()
            .chain(
                spec.into_iter()
                    .flat_map(|s| s.rules.iter().flatten())
                    .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
                    .map(|p| &p.backend),
            );
        let ns = key(ing).0;
        for b in backends {
            let Some(svc) = &b.service else { continue };
            if !upstreams.has_service(&ns, &svc.name) {
                out.push((
                    key(ing),
                    "ServiceNotFound",
                    format!(
                        "service {ns}/{} does not exist; its paths answer 503",
                        svc.name
                    ),
                ));
            }
        }
    }
    for r in rejected {
        out.push((
            (r.source.namespace.clone(), r.source.name.clone()),
            "InvalidPath",
            format!("{}; the path is not served", r.reason),
        ));
    }
    for b in bad {
        out.push((
            b.ingress.clone(),
            "InvalidTLSSecret",
            format!(
                "secret {}: {}; its hosts get the fallback certificate",
                b.secret, b.reason
            ),
        ));
    }
    out.sort();
    out.dedup();
    out
}

/// Starts the watches and the rebuilding task.
pub fn start(
    client: kube::Client,
    shared: Arc<Shared>,
    address: IpAddr,
    fallback: Option<Arc<crate::routes::Backend>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let changed = Arc::new(Notify::new());
    let flags: [Arc<AtomicBool>; 5] = Default::default();
    let (ingresses, t1) = watch(
        Api::<Ingress>::all(client.clone()),
        watcher::Config::default(),
        changed.clone(),
        flags[0].clone(),
    );
    let (classes, t2) = watch(
        Api::<IngressClass>::all(client.clone()),
        watcher::Config::default(),
        changed.clone(),
        flags[1].clone(),
    );
    let (services, t3) = watch(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
        changed.clone(),
        flags[2].clone(),
    );
    let (slices, t4) = watch(
        Api::<EndpointSlice>::all(client.clone()),
        watcher::Config::default(),
        changed.clone(),
        flags[3].clone(),
    );
    // Only TLS Secrets: the others are none of the controller's business.
    let (secrets, t5) = watch(
        Api::<Secret>::all(client.clone()),
        watcher::Config::default().fields("type=kubernetes.io/tls"),
        changed.clone(),
        flags[4].clone(),
    );
    let rebuild = tokio::spawn(async move {
        let mut reported = std::collections::HashSet::new();
        let mut published: std::collections::HashSet<(String, i64)> =
            std::collections::HashSet::new();
        loop {
            changed.notified().await;
            if !flags.iter().all(|f| f.load(Ordering::Acquire)) {
                continue;
            }
            let started = std::time::Instant::now();
            let (ings, cls, svcs, sls) = (
                ingresses.state(),
                classes.state(),
                services.state(),
                slices.state(),
            );
            let classes = Classes::from_objects(cls.iter().map(|c| c.as_ref()));
            let (t, rejected) = table(ings.iter().map(|i| i.as_ref()), &classes, fallback.clone());
            let upstreams = Upstreams::build(
                svcs.iter().map(|s| s.as_ref()),
                sls.iter().map(|s| s.as_ref()),
            );
            shared.swap(Snapshot::new(t, &upstreams));
            let secs = secrets.state();
            let by_name: std::collections::HashMap<(String, String), &Secret> = secs
                .iter()
                .filter_map(|s| {
                    Some((
                        (s.metadata.namespace.clone()?, s.metadata.name.clone()?),
                        s.as_ref(),
                    ))
                })
                .collect();
            let served: Vec<&Ingress> = ings
                .iter()
                .map(|i| i.as_ref())
                .filter(|i| classes.serves(i))
                .collect();
            let (certs, bad) = crate::tls::Certs::build(served.iter().copied(), &by_name);
            shared.tls.swap(certs);
            shared
                .metrics
                .rebuild
                .observe(started.elapsed().as_secs_f64());
            // Events, once per object version and message.
            for (who, reason, msg) in warnings(&served, &rejected, &bad, &upstreams) {
                let Some(ing) = served.iter().find(|i| {
                    (i.metadata.namespace.as_ref(), i.metadata.name.as_ref())
                        == (Some(&who.0), Some(&who.1))
                }) else {
                    continue;
                };
                let version = ing.metadata.resource_version.clone().unwrap_or_default();
                if !reported.insert((who.clone(), version, reason, msg.clone())) {
                    continue;
                }
                tracing::warn!(ingress = %who.1, reason, %msg, "ingress");
                events::record(
                    &client,
                    reference(ing),
                    events::EventType::Warning,
                    reason,
                    &msg,
                    "knet-ingress",
                )
                .await;
            }
            // Status is written once per Ingress generation (spec change): a second controller
            // of the class that publishes another address then cannot start a write war, in
            // which each rebuild of one undoes the other's status.
            for ing in ings.iter().filter(|i| classes.serves(i)) {
                let id = (
                    ing.metadata.uid.clone().unwrap_or_default(),
                    ing.metadata.generation.unwrap_or(0),
                );
                if published.contains(&id) {
                    continue;
                }
                if publish(&client, ing, address).await {
                    published.insert(id);
                }
            }
            // Forget Ingresses that are gone.
            let live: std::collections::HashSet<&str> = ings
                .iter()
                .filter_map(|i| i.metadata.uid.as_deref())
                .collect();
            published.retain(|(uid, _)| live.contains(uid.as_str()));
        }
    });
    vec![t1, t2, t3, t4, t5, rebuild]
}
