//! Garbage collection by ownerReferences, and namespace cleanup, as kube-controller-manager's
//! garbage collector and namespace controller do.
//!
//! Every listable resource found by discovery is watched into one graph of objects keyed by
//! uid. After all initial lists are in:
//! - background: an object whose owners are all gone is deleted;
//! - foreground: an owner being deleted with the `foregroundDeletion` finalizer has its
//!   dependents deleted, and loses the finalizer once none is left;
//! - orphan: an owner being deleted with the `orphan` finalizer has its references removed
//!   from its dependents, then loses the finalizer;
//! - a terminating Namespace has its content deleted, then is finalized.

use std::collections::{BTreeSet, HashMap};

use futures::StreamExt as _;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::discovery::{ApiResource, Discovery, Scope, verbs};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;

/// One object, as far as the collector cares.
#[derive(Debug, Clone)]
struct Node {
    resource: usize,
    namespace: Option<String>,
    name: String,
    owners: Vec<String>,
    deleting: bool,
    finalizers: Vec<String>,
    spec_finalizers: bool,
}

/// The object graph and what is left to do.
#[derive(Debug, Default)]
struct Graph {
    nodes: HashMap<String, Node>,
    synced: BTreeSet<usize>,
}

fn node(resource: usize, obj: &DynamicObject) -> Option<(String, Node)> {
    let meta = &obj.metadata;
    let uid = meta.uid.clone()?;
    Some((
        uid,
        Node {
            resource,
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            owners: meta
                .owner_references
                .iter()
                .flatten()
                .map(|o| o.uid.clone())
                .collect(),
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            spec_finalizers: obj
                .data
                .pointer("/spec/finalizers")
                .and_then(|f| f.as_array())
                .is_some_and(|f| !f.is_empty()),
        },
    ))
}

/// An action the collector takes through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Delete(String),
    RemoveFinalizer(String, &'static str),
    DropOwner { dependent: String, owner: String },
    FinalizeNamespace(String),
}

impl Graph {
    /// Everything that should happen now, given the graph. Pure, so it is tested directly.
    fn actions(&self, all_synced: bool, namespace_kind: impl Fn(usize) -> bool) -> Vec<Action> {
        if !all_synced {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (uid, n) in &self.nodes {
            for o in &n.owners {
                dependents.entry(o.as_str()).or_default().push(uid.as_str());
            }
        }
        for (uid, n) in &self.nodes {
            // Background: every owner is gone.
            if !n.owners.is_empty()
                && !n.deleting
                && n.owners.iter().all(|o| !self.nodes.contains_key(o))
            {
                out.push(Action::Delete(uid.clone()));
            }
            if !n.deleting {
                continue;
            }
            let deps = dependents.get(uid.as_str()).cloned().unwrap_or_default();
            if n.finalizers.iter().any(|f| f == "orphan") {
                for d in &deps {
                    out.push(Action::DropOwner {
                        dependent: (*d).to_owned(),
                        owner: uid.clone(),
                    });
                }
                if deps.is_empty() {
                    out.push(Action::RemoveFinalizer(uid.clone(), "orphan"));
                }
            } else if n.finalizers.iter().any(|f| f == "foregroundDeletion") {
                for d in &deps {
                    if self.nodes.get(*d).is_some_and(|dn| !dn.deleting) {
                        out.push(Action::Delete((*d).to_owned()));
                    }
                }
                if deps.is_empty() {
                    out.push(Action::RemoveFinalizer(uid.clone(), "foregroundDeletion"));
                }
            }
            if namespace_kind(n.resource) && n.spec_finalizers {
                let content: Vec<&String> = self
                    .nodes
                    .iter()
                    .filter(|(_, c)| c.namespace.as_deref() == Some(n.name.as_str()))
                    .map(|(u, _)| u)
                    .collect();
                for c in &content {
                    if self.nodes.get(*c).is_some_and(|cn| !cn.deleting) {
                        out.push(Action::Delete((*c).clone()));
                    }
                }
                if content.is_empty() {
                    out.push(Action::FinalizeNamespace(n.name.clone()));
                }
            }
        }
        out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        out.dedup();
        out
    }
}

fn api_for(
    client: &kube::Client,
    ar: &ApiResource,
    scope: &Scope,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    match (scope, ns) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, ar),
        _ => Api::all_with(client.clone(), ar),
    }
}

/// Runs the collector until the process ends.
pub async fn run(client: kube::Client) {
    let discovery = loop {
        match Discovery::new(client.clone()).run().await {
            Ok(d) => break d,
            Err(err) => {
                tracing::warn!(%err, "garbage collector: discovery failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    let mut resources: Vec<(ApiResource, Scope)> = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if caps.supports_operation(verbs::WATCH) && caps.supports_operation(verbs::DELETE) {
                resources.push((ar, caps.scope));
            }
        }
    }
    let namespaces = resources
        .iter()
        .position(|(ar, _)| ar.group.is_empty() && ar.plural == "namespaces");
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    // The watchers live in a JoinSet so that they stop when this future is dropped.
    let mut watchers = tokio::task::JoinSet::new();
    for (i, (ar, _)) in resources.iter().enumerate() {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        let tx = tx.clone();
        watchers.spawn(async move {
            let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(ev) => {
                        if tx.send((i, ev)).await.is_err() {
                            return;
                        }
                    }
                    Err(err) => {
                        tracing::debug!(%err, "garbage collector watch error; retrying with backoff");
                    }
                }
            }
        });
    }
    drop(tx);
    let mut graph = Graph::default();
    let mut pending: HashMap<usize, Vec<(String, Node)>> = HashMap::new();
    let mut done: BTreeSet<Action> = BTreeSet::new();
    while let Some((i, ev)) = rx.recv().await {
        match ev {
            watcher::Event::Init => {
                pending.insert(i, Vec::new());
            }
            watcher::Event::InitApply(obj) => {
                if let Some(n) = node(i, &obj) {
                    pending.entry(i).or_default().push(n);
                }
            }
            watcher::Event::InitDone => {
                graph.nodes.retain(|_, n| n.resource != i);
                graph.nodes.extend(pending.remove(&i).unwrap_or_default());
                graph.synced.insert(i);
            }
            watcher::Event::Apply(obj) => {
                if let Some((uid, n)) = node(i, &obj) {
                    graph.nodes.insert(uid, n);
                }
            }
            watcher::Event::Delete(obj) => {
                if let Some(uid) = obj.metadata.uid {
                    graph.nodes.remove(&uid);
                }
            }
        }
        // Handle bursts in one go.
        if !rx.is_empty() {
            continue;
        }
        let all_synced = graph.synced.len() == resources.len();
        let actions = graph.actions(all_synced, |r| Some(r) == namespaces);
        // A successful action is not repeated while the graph still asks for it (its effect
        // has not come back through the watch yet); a failed one is tried again on the next
        // change.
        done.retain(|a| actions.contains(a));
        for action in actions {
            if done.contains(&action) {
                continue;
            }
            if execute(&client, &resources, &graph, &action).await {
                done.insert(action);
            }
        }
    }
}

impl PartialOrd for Action {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Action {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        format!("{self:?}").cmp(&format!("{other:?}"))
    }
}

/// Carries out one action; returns whether it succeeded.
async fn execute(
    client: &kube::Client,
    resources: &[(ApiResource, Scope)],
    graph: &Graph,
    action: &Action,
) -> bool {
    let target = |uid: &str| {
        let n = graph.nodes.get(uid)?;
        let (ar, scope) = resources.get(n.resource)?;
        Some((
            api_for(client, ar, scope, n.namespace.as_deref()),
            n.clone(),
        ))
    };
    let result = match action {
        Action::Delete(uid) => match target(uid) {
            Some((api, n)) => api
                .delete(&n.name, &DeleteParams::background())
                .await
                .map(|_| ()),
            None => Ok(()),
        },
        Action::RemoveFinalizer(uid, finalizer) => match target(uid) {
            Some((api, n)) => {
                let left: Vec<&String> = n.finalizers.iter().filter(|f| f != finalizer).collect();
                let left = if left.is_empty() {
                    json!(null)
                } else {
                    json!(left)
                };
                let patch = json!({"metadata": {"finalizers": left}});
                api.patch(&n.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
            None => Ok(()),
        },
        Action::DropOwner { dependent, owner } => match target(dependent) {
            Some((api, n)) => match api.get(&n.name).await {
                Ok(obj) => {
                    let refs: Vec<_> = obj
                        .metadata
                        .owner_references
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|r| &r.uid != owner)
                        .collect();
                    // An empty list is sent as null, which removes the field as omitempty would.
                    let refs = if refs.is_empty() {
                        json!(null)
                    } else {
                        json!(refs)
                    };
                    let patch = json!({"metadata": {"ownerReferences": refs}});
                    api.patch(&n.name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map(|_| ())
                }
                Err(e) => Err(e),
            },
            None => Ok(()),
        },
        Action::FinalizeNamespace(name) => {
            let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
            match api.get(name).await {
                Ok(mut ns) => {
                    if let Some(spec) = ns.spec.as_mut() {
                        spec.finalizers = Some(Vec::new());
                    }
                    api.replace_subresource("finalize", name, &Default::default(), &ns)
                        .await
                        .map(|_| ())
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => true,
        // Already gone is as good as done.
        Err(kube::Error::Api(status)) if status.code == 404 => true,
        Err(err) => {
            tracing::debug!(%err, ?action, "garbage collector action failed; it is retried on the next change");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(
        resource: usize,
        ns: &str,
        name: &str,
        owners: &[&str],
        deleting: bool,
        finalizers: &[&str],
    ) -> Node {
        Node {
            resource,
            namespace: (!ns.is_empty()).then(|| ns.to_owned()),
            name: name.to_owned(),
            owners: owners.iter().map(|s| s.to_string()).collect(),
            deleting,
            finalizers: finalizers.iter().map(|s| s.to_string()).collect(),
            spec_finalizers: false,
        }
    }

    fn graph(nodes: Vec<(&str, Node)>) -> Graph {
        Graph {
            nodes: nodes.into_iter().map(|(u, n)| (u.to_owned(), n)).collect(),
            synced: BTreeSet::new(),
        }
    }

    #[test]
    fn background_deletes_orphans_only_after_sync() {
        let g = graph(vec![
            ("rs", n(1, "d", "rs", &["gone"], false, &[])),
            ("pod", n(2, "d", "pod", &["rs"], false, &[])),
        ]);
        assert_eq!(g.actions(false, |_| false), vec![]);
        assert_eq!(
            g.actions(true, |_| false),
            vec![Action::Delete("rs".into())]
        );
    }

    #[test]
    fn foreground_deletes_dependents_then_drops_the_finalizer() {
        let g = graph(vec![
            (
                "deploy",
                n(0, "d", "web", &[], true, &["foregroundDeletion"]),
            ),
            ("rs", n(1, "d", "rs", &["deploy"], false, &[])),
        ]);
        assert_eq!(
            g.actions(true, |_| false),
            vec![Action::Delete("rs".into())]
        );
        let g = graph(vec![(
            "deploy",
            n(0, "d", "web", &[], true, &["foregroundDeletion"]),
        )]);
        assert_eq!(
            g.actions(true, |_| false),
            vec![Action::RemoveFinalizer(
                "deploy".into(),
                "foregroundDeletion"
            )]
        );
    }

    #[test]
    fn orphan_drops_references() {
        let g = graph(vec![
            ("deploy", n(0, "d", "web", &[], true, &["orphan"])),
            ("rs", n(1, "d", "rs", &["deploy"], false, &[])),
        ]);
        assert_eq!(
            g.actions(true, |_| false),
            vec![Action::DropOwner {
                dependent: "rs".into(),
                owner: "deploy".into()
            }]
        );
    }

    #[test]
    fn terminating_namespaces_are_emptied_then_finalized() {
        let mut ns = n(9, "", "team", &[], true, &[]);
        ns.spec_finalizers = true;
        let g = graph(vec![
            ("ns", ns.clone()),
            ("cm", n(3, "team", "cm", &[], false, &[])),
        ]);
        assert_eq!(
            g.actions(true, |r| r == 9),
            vec![Action::Delete("cm".into())]
        );
        let g = graph(vec![("ns", ns)]);
        assert_eq!(
            g.actions(true, |r| r == 9),
            vec![Action::FinalizeNamespace("team".into())]
        );
    }
}
