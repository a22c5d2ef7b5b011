//! ReplicaSets, as kube-controller-manager's ReplicaSet controller keeps them: as many Pods as
//! `spec.replicas`, made from the template with `generateName: <replicaset>-` and a controller
//! ownerReference; orphans that match the selector are adopted; surplus Pods are deleted
//! not-ready first, then newest first; `status` counts replicas, ready, available and
//! fully-labelled Pods and records the observed generation.

use std::collections::BTreeMap;

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::{Value, json};

use crate::mirror::{Key, Mirror, Seen, key_of, pod_ready, selects};

fn is_active(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && !matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
}

fn owner_uid(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

/// What one reconcile decides. Pure, so it is tested directly.
#[derive(Debug, PartialEq)]
struct Plan {
    create: usize,
    delete: Vec<String>,
    adopt: Vec<String>,
    status: Value,
}

fn plan(rs: &ReplicaSet, pods: &[&Pod]) -> Plan {
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let spec = rs.spec.as_ref();
    let want = spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as usize;
    let selector = spec
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let mut owned: Vec<&Pod> = Vec::new();
    let mut adopt = Vec::new();
    for pod in pods {
        if !selects(&selector, pod) {
            continue;
        }
        match owner_uid(pod) {
            Some(u) if u == uid => owned.push(pod),
            None if is_active(pod) => {
                adopt.push(pod.metadata.name.clone().unwrap_or_default());
                owned.push(pod);
            }
            _ => {}
        }
    }
    let active: Vec<&Pod> = owned.iter().copied().filter(|p| is_active(p)).collect();
    let (create, delete) = if active.len() < want {
        (want - active.len(), Vec::new())
    } else {
        let mut victims = active.clone();
        // Not ready before ready, then the newest first, as upstream's ranking prefers.
        victims.sort_by(|a, b| {
            pod_ready(a)
                .cmp(&pod_ready(b))
                .then_with(|| {
                    b.metadata
                        .creation_timestamp
                        .cmp(&a.metadata.creation_timestamp)
                })
                .then_with(|| b.metadata.name.cmp(&a.metadata.name))
        });
        let surplus = active.len() - want;
        (
            0,
            victims
                .into_iter()
                .take(surplus)
                .map(|p| p.metadata.name.clone().unwrap_or_default())
                .collect(),
        )
    };
    let ready = active.iter().filter(|p| pod_ready(p)).count();
    let fully_labeled = active
        .iter()
        .filter(|p| selects(&template_labels, p) || template_labels.is_empty())
        .count();
    let status = json!({
        "replicas": active.len(),
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": rs.metadata.generation.unwrap_or(0),
    });
    Plan {
        create,
        delete,
        adopt,
        status,
    }
}

fn pod_from_template(rs: &ReplicaSet) -> Option<Value> {
    let template = rs.spec.as_ref()?.template.as_ref()?;
    let mut pod = serde_json::to_value(template).ok()?;
    let name = rs.metadata.name.clone().unwrap_or_default();
    let meta = pod
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| json!({}));
    meta["generateName"] = json!(format!("{name}-"));
    meta["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
        "uid": rs.metadata.uid, "controller": true, "blockOwnerDeletion": true,
    }]);
    pod["apiVersion"] = json!("v1");
    pod["kind"] = json!("Pod");
    Some(pod)
}

async fn reconcile(
    client: &kube::Client,
    rs: &ReplicaSet,
    pods: &[&Pod],
    expectations: &mut Expectations,
) -> Result<(), kube::Error> {
    let (ns, name) = key_of(&rs.metadata);
    let plan = plan(rs, pods);
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    for pod in &plan.adopt {
        let patch = json!({"metadata": {"ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
            "uid": rs.metadata.uid, "controller": true, "blockOwnerDeletion": true,
        }]}});
        pod_api
            .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    if plan.create > 0
        && let Some(template) = pod_from_template(rs)
    {
        let pod: Pod = serde_json::from_value(template).map_err(kube::Error::SerdeError)?;
        for _ in 0..plan.create {
            pod_api.create(&PostParams::default(), &pod).await?;
            expectations.expect_create(rs);
        }
    }
    for pod in &plan.delete {
        pod_api.delete(pod, &DeleteParams::default()).await?;
        expectations.expect_delete(rs, (ns.clone(), pod.clone()));
    }
    let current = rs
        .status
        .as_ref()
        .map(|s| serde_json::to_value(s).unwrap_or_default());
    let changed = plan.status.as_object().is_some_and(|want| {
        want.iter()
            .any(|(k, v)| current.as_ref().and_then(|c| c.get(k)) != Some(v))
    });
    if changed {
        let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
        rs_api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": plan.status})),
            )
            .await?;
    }
    Ok(())
}

/// Marks dirty the sets that own `pod`, or that might adopt it.
fn mark(sets: &Mirror<ReplicaSet>, dirty: &mut std::collections::BTreeSet<Key>, pod: &Pod) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    for (k, rs) in sets.in_namespace(&ns) {
        let owner = owner_uid(pod);
        if owner.is_none() || owner == rs.metadata.uid.as_deref() {
            dirty.insert(k.clone());
        }
    }
}

/// Creates and deletes a set has made and not yet seen come back through the watch, as
/// upstream's controller expectations. They expire after a while so a lost event cannot
/// stall a set for good.
#[derive(Debug, Default)]
struct Expectations {
    creates: BTreeMap<String, (usize, std::time::Instant)>,
    deletes: BTreeMap<Key, (String, std::time::Instant)>,
}

const EXPECTATION_TTL: std::time::Duration = std::time::Duration::from_secs(10);

impl Expectations {
    fn expect_create(&mut self, rs: &ReplicaSet) {
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let e = self
            .creates
            .entry(uid)
            .or_insert((0, std::time::Instant::now()));
        e.0 += 1;
        e.1 = std::time::Instant::now();
    }

    fn expect_delete(&mut self, rs: &ReplicaSet, pod: Key) {
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        self.deletes.insert(pod, (uid, std::time::Instant::now()));
    }

    fn observed_create(&mut self, pod: &Pod) {
        if let Some(uid) = owner_uid(pod)
            && let Some(e) = self.creates.get_mut(uid)
        {
            e.0 = e.0.saturating_sub(1);
        }
    }

    fn observed_delete(&mut self, pod: &Key) {
        self.deletes.remove(pod);
    }

    /// Whether the set with this uid has seen all its own writes come back.
    fn satisfied(&mut self, uid: &str) -> bool {
        let now = std::time::Instant::now();
        self.creates
            .retain(|_, (n, at)| *n > 0 && now.duration_since(*at) < EXPECTATION_TTL);
        self.deletes
            .retain(|_, (_, at)| now.duration_since(*at) < EXPECTATION_TTL);
        !self.creates.contains_key(uid) && !self.deletes.values().any(|(u, _)| u == uid)
    }
}

/// One item from either watch (boxed: the objects are large).
enum Change {
    Set(Box<Result<watcher::Event<ReplicaSet>, watcher::Error>>),
    Pod(Box<Result<watcher::Event<Pod>, watcher::Error>>),
}

/// Keeps every ReplicaSet at its replica count until the process ends.
pub async fn run(client: kube::Client) {
    let sets = watcher::watcher(
        Api::<ReplicaSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|e| Change::Set(Box::new(e)));
    let pods = watcher::watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .map(|e| Change::Pod(Box::new(e)));
    let mut changes = std::pin::pin!(futures::stream::select(sets, pods));
    let mut sets: Mirror<ReplicaSet> = Mirror::default();
    let mut pods: Mirror<Pod> = Mirror::default();
    let mut dirty: std::collections::BTreeSet<Key> = Default::default();
    let mut expectations = Expectations::default();
    while let Some(change) = changes.next().await {
        match change {
            Change::Set(ev) => match *ev {
                Err(err) => tracing::debug!(%err, "replicaset watch error; retrying with backoff"),
                Ok(ev) => match sets.handle(ev) {
                    Seen::Synced => dirty.extend(sets.items.keys().cloned()),
                    Seen::Applied { new, .. } => {
                        dirty.insert(key_of(&new.metadata));
                    }
                    Seen::Nothing | Seen::Deleted(_) => {}
                },
            },
            Change::Pod(ev) => match *ev {
                Err(err) => {
                    tracing::debug!(%err, "replicaset pod watch error; retrying with backoff")
                }
                Ok(ev) => match pods.handle(ev) {
                    Seen::Nothing => {}
                    Seen::Synced => dirty.extend(sets.items.keys().cloned()),
                    Seen::Applied { old, new } => {
                        mark(&sets, &mut dirty, &new);
                        if old.is_none() {
                            expectations.observed_create(&new);
                        }
                        if new.metadata.deletion_timestamp.is_some() {
                            expectations.observed_delete(&key_of(&new.metadata));
                        }
                    }
                    Seen::Deleted(p) => {
                        mark(&sets, &mut dirty, &p);
                        expectations.observed_delete(&key_of(&p.metadata));
                    }
                },
            },
        }
        if !(sets.synced() && pods.synced()) {
            continue;
        }
        for k in std::mem::take(&mut dirty) {
            let Some(rs) = sets.items.get(&k) else {
                continue;
            };
            if !expectations.satisfied(rs.metadata.uid.as_deref().unwrap_or_default()) {
                // Our own creates and deletes are still on their way back through the watch;
                // acting now would count them twice. The watch event that settles them marks
                // the set dirty again.
                dirty.insert(k);
                continue;
            }
            let in_ns: Vec<&Pod> = pods.in_namespace(&k.0).map(|(_, p)| p).collect();
            if let Err(err) = reconcile(&client, rs, &in_ns, &mut expectations).await {
                tracing::debug!(%err, replicaset = %k.1, "reconcile failed; retried on the next change");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rs(replicas: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "d", "uid": "rs-uid", "generation": 2},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        }))
        .expect("replicaset")
    }

    fn pod(name: &str, owner: Option<&str>, ready: bool, created: &str) -> Pod {
        let mut p = json!({
            "metadata": {"name": name, "namespace": "d", "labels": {"app": "web"}, "creationTimestamp": created},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        });
        if let Some(uid) = owner {
            p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "web-1", "uid": uid, "controller": true}]);
        }
        serde_json::from_value(p).expect("pod")
    }

    #[test]
    fn creates_the_missing_and_adopts_orphans() {
        let pods = [
            pod("a", Some("rs-uid"), true, "2026-01-01T00:00:00Z"),
            pod("orphan", None, false, "2026-01-01T00:00:01Z"),
            pod("theirs", Some("other"), true, "2026-01-01T00:00:02Z"),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let p = plan(&rs(3), &refs);
        assert_eq!(
            (p.create, p.delete.len(), p.adopt.clone()),
            (1, 0, vec!["orphan".to_owned()])
        );
        assert_eq!(p.status["replicas"], 2);
        assert_eq!(p.status["readyReplicas"], 1);
        assert_eq!(p.status["observedGeneration"], 2);
    }

    #[test]
    fn deletes_not_ready_then_newest_first() {
        let pods = [
            pod("old-ready", Some("rs-uid"), true, "2026-01-01T00:00:00Z"),
            pod("new-ready", Some("rs-uid"), true, "2026-01-01T00:00:05Z"),
            pod("not-ready", Some("rs-uid"), false, "2026-01-01T00:00:01Z"),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        assert_eq!(plan(&rs(2), &refs).delete, vec!["not-ready".to_owned()]);
        assert_eq!(
            plan(&rs(1), &refs).delete,
            vec!["not-ready".to_owned(), "new-ready".to_owned()]
        );
        assert_eq!(plan(&rs(0), &refs).delete.len(), 3);
    }

    #[test]
    fn the_template_becomes_an_owned_pod() {
        let pod = pod_from_template(&rs(1)).expect("template");
        assert_eq!(pod["metadata"]["generateName"], "web-1-");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "rs-uid");
        assert_eq!(pod["spec"]["containers"][0]["image"], "nginx");
    }
}
