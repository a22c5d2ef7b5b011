//! Deployments, as kube-controller-manager's Deployment controller rolls them: one ReplicaSet
//! per pod template (labelled with its `pod-template-hash`), the RollingUpdate strategy within
//! maxSurge and maxUnavailable (counts or percentages, rounded as upstream rounds them:
//! surge up, unavailable down), Recreate, revision annotations that `kubectl rollout
//! history|undo` read, revisionHistoryLimit, and the status `kubectl rollout status` follows.

use std::collections::BTreeMap;

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::{Value, json};

use crate::mirror::{Key, Mirror, Seen, key_of};

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH: &str = "pod-template-hash";

/// Resolves maxSurge / maxUnavailable against the replica count.
fn resolve(v: Option<&IntOrString>, replicas: i32, round_up: bool, default: &str) -> i32 {
    let v = v
        .cloned()
        .unwrap_or(IntOrString::String(default.to_owned()));
    match v {
        IntOrString::Int(n) => n.max(0),
        IntOrString::String(s) => {
            let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let exact = pct * f64::from(replicas) / 100.0;
            (if round_up {
                exact.ceil()
            } else {
                exact.floor()
            }) as i32
        }
    }
}

/// The template without the hash label, as JSON, for comparing ReplicaSets with the
/// Deployment.
fn template_of(t: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or_default();
    if let Some(labels) = v
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH);
    }
    v
}

/// A short, stable hash of a template (FNV-1a over its JSON, in the alphabet upstream uses
/// for safe label values).
fn template_hash(template: &Value) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in template.to_string().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut out = String::new();
    for _ in 0..10 {
        out.push(ALPHABET[(h % ALPHABET.len() as u32) as usize] as char);
        h /= ALPHABET.len() as u32;
        if h == 0 {
            break;
        }
    }
    out
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// The replica counts one reconcile sets, by ReplicaSet name (`None` key = the new set, still
/// to be created). Pure, so it is tested directly.
fn scale_plan(
    d: &Deployment,
    new: Option<&ReplicaSet>,
    old: &[&ReplicaSet],
) -> (i32, BTreeMap<String, i32>) {
    let spec = d.spec.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1).max(0);
    let strategy = spec.and_then(|s| s.strategy.as_ref());
    let recreate = strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate");
    let mut old_targets: BTreeMap<String, i32> = BTreeMap::new();
    let new_current = new.map(replicas).unwrap_or(0);
    let old_total: i32 = old.iter().map(|r| replicas(r)).sum();
    // Pods that still exist count against the surge even when their set was already told to
    // shrink: an old pod lives until its deletion is observed.
    let old_existing: i32 = old
        .iter()
        .map(|r| replicas(r).max(r.status.as_ref().map(|s| s.replicas).unwrap_or(0)))
        .sum();
    if recreate {
        for r in old {
            old_targets.insert(r.metadata.name.clone().unwrap_or_default(), 0);
        }
        // The new set grows only once every old pod is gone.
        let old_pods: i32 = old
            .iter()
            .map(|r| r.status.as_ref().map(|s| s.replicas).unwrap_or(0))
            .sum();
        let new_target = if old_total == 0 && old_pods == 0 {
            desired
        } else {
            new_current.min(desired)
        };
        return (new_target, old_targets);
    }
    let ru = strategy.and_then(|s| s.rolling_update.as_ref());
    let surge = resolve(ru.and_then(|r| r.max_surge.as_ref()), desired, true, "25%");
    let mut unavailable = resolve(
        ru.and_then(|r| r.max_unavailable.as_ref()),
        desired,
        false,
        "25%",
    );
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    // Scale the new set up within the surge budget (or down to the desired count).
    let new_target = if new_current >= desired {
        desired
    } else {
        let room = desired + surge - (new_current + old_existing);
        new_current + room.clamp(0, desired - new_current)
    };
    for r in old {
        old_targets.insert(r.metadata.name.clone().unwrap_or_default(), replicas(r));
    }
    // As upstream, a pass that scales the new set does nothing else: the old sets shrink only
    // against counts that are already true.
    if new_target != new_current {
        return (new_target, old_targets);
    }
    // Scale old sets down while keeping `desired - unavailable` pods available.
    let min_available = desired - unavailable;
    let new_unavailable = (new_current - new.map(available).unwrap_or(0)).max(0);
    let total = new_current + old_total;
    let mut budget = (total - min_available - new_unavailable).max(0);
    // Old pods that are not available can go first: they serve nothing.
    let mut sorted: Vec<&&ReplicaSet> = old.iter().collect();
    sorted.sort_by_key(|r| revision(r));
    for r in &sorted {
        let name = r.metadata.name.clone().unwrap_or_default();
        let unhealthy = (replicas(r) - available(r)).max(0).min(budget);
        budget -= unhealthy;
        old_targets.insert(name, replicas(r) - unhealthy);
    }
    for r in &sorted {
        let name = r.metadata.name.clone().unwrap_or_default();
        let current = old_targets.get(&name).copied().unwrap_or(0);
        let cut = current.min(budget);
        budget -= cut;
        old_targets.insert(name, current - cut);
    }
    (new_target, old_targets)
}

fn owned_by(rs: &ReplicaSet, d: &Deployment) -> bool {
    rs.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == d.metadata.uid.as_ref())
}

async fn reconcile(
    client: &kube::Client,
    d: &Deployment,
    sets: &[&ReplicaSet],
) -> Result<(), kube::Error> {
    let (ns, name) = key_of(&d.metadata);
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
    let template = template_of(d.spec.as_ref().map(|s| &s.template));
    let hash = template_hash(&template);
    let owned: Vec<&ReplicaSet> = sets.iter().copied().filter(|r| owned_by(r, d)).collect();
    let new = owned
        .iter()
        .copied()
        .find(|r| template_of(r.spec.as_ref().and_then(|s| s.template.as_ref())) == template);
    let old: Vec<&ReplicaSet> = owned
        .iter()
        .copied()
        .filter(|r| new.is_none_or(|n| n.metadata.uid != r.metadata.uid))
        .collect();
    let max_revision = owned.iter().map(|r| revision(r)).max().unwrap_or(0);
    let (new_target, old_targets) = scale_plan(d, new, &old);
    tracing::debug!(
        deployment = %name,
        new = ?new.map(|n| (n.metadata.name.clone(), replicas(n), n.status.as_ref().map(|s| (s.replicas, s.available_replicas)))),
        old = ?old.iter().map(|r| (r.metadata.name.clone(), replicas(r), r.status.as_ref().map(|s| (s.replicas, s.available_replicas)))).collect::<Vec<_>>(),
        new_target,
        ?old_targets,
        "rollout step"
    );

    let new = match new {
        Some(n) => {
            if replicas(n) != new_target {
                let patch = json!({"spec": {"replicas": new_target}});
                rs_api
                    .patch(
                        n.metadata.name.as_deref().unwrap_or_default(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await?;
            }
            n.clone()
        }
        None => {
            let spec = d.spec.as_ref();
            let mut tmpl = serde_json::to_value(spec.map(|s| &s.template)).unwrap_or_default();
            tmpl["metadata"]["labels"][HASH] = json!(hash);
            let mut selector = serde_json::to_value(spec.map(|s| &s.selector)).unwrap_or_default();
            selector["matchLabels"][HASH] = json!(hash);
            let revision = (max_revision + 1).to_string();
            let rs: ReplicaSet = serde_json::from_value(json!({
                "metadata": {
                    "name": format!("{name}-{hash}"),
                    "namespace": ns,
                    "labels": tmpl["metadata"]["labels"],
                    "annotations": {REVISION: revision},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                        "uid": d.metadata.uid, "controller": true, "blockOwnerDeletion": true}],
                },
                "spec": {"replicas": new_target, "selector": selector, "template": tmpl,
                         "minReadySeconds": spec.and_then(|s| s.min_ready_seconds)},
            }))
            .map_err(kube::Error::SerdeError)?;
            rs_api.create(&PostParams::default(), &rs).await?
        }
    };
    for r in &old {
        let rname = r.metadata.name.clone().unwrap_or_default();
        if let Some(target) = old_targets.get(&rname).filter(|t| **t != replicas(r)) {
            let patch = json!({"spec": {"replicas": target}});
            rs_api
                .patch(&rname, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
    }
    // Keep at most revisionHistoryLimit old sets, dropping the oldest empty ones.
    let limit = d
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10)
        .max(0) as usize;
    let mut empty: Vec<&&ReplicaSet> = old
        .iter()
        .filter(|r| replicas(r) == 0 && r.status.as_ref().map(|s| s.replicas).unwrap_or(0) == 0)
        .collect();
    empty.sort_by_key(|r| revision(r));
    if empty.len() > limit {
        for r in &empty[..empty.len() - limit] {
            let _ = rs_api
                .delete(
                    r.metadata.name.as_deref().unwrap_or_default(),
                    &DeleteParams::background(),
                )
                .await;
        }
    }

    // Status, from the sets as last observed.
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = |r: &ReplicaSet| r.status.clone().unwrap_or_default();
    let all: Vec<&ReplicaSet> = std::iter::once(&new).chain(old.iter().copied()).collect();
    let total: i32 = all.iter().map(|r| st(r).replicas).sum();
    let ready: i32 = all.iter().map(|r| st(r).ready_replicas.unwrap_or(0)).sum();
    let avail: i32 = all
        .iter()
        .map(|r| st(r).available_replicas.unwrap_or(0))
        .sum();
    let updated = st(&new).replicas;
    let done = updated == desired && total == desired && avail >= desired;
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut status = json!({
        "observedGeneration": d.metadata.generation.unwrap_or(0),
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": avail,
        "unavailableReplicas": (desired - avail).max(0),
        "conditions": [
            {"type": "Available", "status": if avail >= desired - resolve(None, desired, false, "25%") { "True" } else { "False" },
             "reason": if avail >= desired { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
             "message": "Deployment availability", "lastUpdateTime": now, "lastTransitionTime": now},
            {"type": "Progressing", "status": "True",
             "reason": if done { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
             "message": format!("ReplicaSet \"{}\" {}", new.metadata.name.clone().unwrap_or_default(),
                                if done { "has successfully progressed." } else { "is progressing." }),
             "lastUpdateTime": now, "lastTransitionTime": now},
        ],
    });
    let current = serde_json::to_value(d.status.clone().unwrap_or_default()).unwrap_or_default();
    let same = [
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    ]
    .iter()
    .all(|k| current.get(k).unwrap_or(&json!(0)) == status.get(k).unwrap_or(&json!(0)))
        && current.pointer("/conditions/1/reason") == status.pointer("/conditions/1/reason");
    let revision_now = revision(&new).to_string();
    let annotated = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        == Some(&revision_now);
    let d_api: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    if !annotated {
        let patch = json!({"metadata": {"annotations": {REVISION: revision_now}}});
        d_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    if !same {
        if status["unavailableReplicas"] == json!(0) {
            status
                .as_object_mut()
                .map(|o| o.remove("unavailableReplicas"));
        }
        d_api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": status})),
            )
            .await?;
    }
    Ok(())
}

/// One item from either watch (boxed: the objects are large).
enum Change {
    Deployment(Box<Result<watcher::Event<Deployment>, watcher::Error>>),
    Set(Box<Result<watcher::Event<ReplicaSet>, watcher::Error>>),
}

/// Rolls every Deployment until the process ends.
pub async fn run(client: kube::Client) {
    let deployments = watcher::watcher(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|e| Change::Deployment(Box::new(e)));
    let sets = watcher::watcher(
        Api::<ReplicaSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|e| Change::Set(Box::new(e)));
    let mut changes = std::pin::pin!(futures::stream::select(deployments, sets));
    let mut deps: Mirror<Deployment> = Mirror::default();
    let mut sets: Mirror<ReplicaSet> = Mirror::default();
    let mut dirty: std::collections::BTreeSet<Key> = Default::default();
    while let Some(change) = changes.next().await {
        match change {
            Change::Deployment(ev) => match *ev {
                Err(err) => tracing::debug!(%err, "deployment watch error; retrying with backoff"),
                Ok(ev) => match deps.handle(ev) {
                    Seen::Synced => dirty.extend(deps.items.keys().cloned()),
                    Seen::Applied { new, .. } => {
                        dirty.insert(key_of(&new.metadata));
                    }
                    Seen::Nothing | Seen::Deleted(_) => {}
                },
            },
            Change::Set(ev) => match *ev {
                Err(err) => {
                    tracing::debug!(%err, "deployment replicaset watch error; retrying with backoff")
                }
                Ok(ev) => match sets.handle(ev) {
                    Seen::Nothing => {}
                    Seen::Synced => dirty.extend(deps.items.keys().cloned()),
                    Seen::Applied { new: rs, .. } | Seen::Deleted(rs) => {
                        let ns = rs.metadata.namespace.clone().unwrap_or_default();
                        for (k, d) in deps.in_namespace(&ns) {
                            if owned_by(&rs, d) {
                                dirty.insert(k.clone());
                            }
                        }
                    }
                },
            },
        }
        if !(deps.synced() && sets.synced()) {
            continue;
        }
        for k in std::mem::take(&mut dirty) {
            let Some(d) = deps.items.get(&k) else {
                continue;
            };
            let in_ns: Vec<&ReplicaSet> = sets.in_namespace(&k.0).map(|(_, r)| r).collect();
            if let Err(err) = reconcile(&client, d, &in_ns).await {
                tracing::debug!(%err, deployment = %k.1, "reconcile failed; retried on the next change");
            }
        }
    }
}

#[cfg(test)]
mod tests;
