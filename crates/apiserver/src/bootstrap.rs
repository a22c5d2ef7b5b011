//! Objects a cluster has from its first moment: the four system namespaces, the `kubernetes`
//! Service with its endpoints pointing at this API server, and the default IngressClass.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::resource;
use crate::rest::{self, Query, Target};
use crate::server::State;

fn target(group: &str, plural: &str, namespace: Option<&str>) -> Result<Target, ApiError> {
    let res = resource::storage(group, plural).ok_or_else(ApiError::no_route)?;
    Ok(Target {
        res,
        namespace: namespace.map(str::to_owned),
        name: None,
        sub: None,
    })
}

async fn ensure(state: &Arc<State>, t: Target, obj: Value) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if state
        .store
        .get(&t.res.key(t.namespace.as_deref(), &name))
        .is_some()
    {
        return Ok(());
    }
    match rest::create(state, &t, obj, &Query::default()).await {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `obj`, creating it or replacing whatever is stored (used for the `kubernetes`
/// endpoints, whose port may change between starts).
async fn upsert(state: &Arc<State>, t: Target, obj: Value) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if state
        .store
        .get(&t.res.key(t.namespace.as_deref(), &name))
        .is_none()
    {
        return ensure(state, t, obj).await;
    }
    let t = Target {
        name: Some(name),
        ..t
    };
    rest::update(state, &t, obj, &Query::default())
        .await
        .map(|_| ())
}

/// Creates whatever of the bootstrap objects is missing and points the `kubernetes` Service at
/// `state.addr`.
pub async fn run(state: &Arc<State>) -> Result<(), ApiError> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(
            state,
            target("", "namespaces", None)?,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    let ip = state.ips.first().to_string();
    let port = state.addr.port();
    upsert(
        state,
        target("", "services", Some("default"))?,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": ip,
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
        }),
    )
    .await?;
    let host = state.addr.ip().to_string();
    upsert(
        state,
        target("", "endpoints", Some("default"))?,
        json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": host}],
                         "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
        }),
    )
    .await?;
    upsert(
        state,
        target("discovery.k8s.io", "endpointslices", Some("default"))?,
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes",
                                    "endpointslice.kubernetes.io/managed-by": "knet-apiserver"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [host], "conditions": {"ready": true, "serving": true, "terminating": false}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }),
    )
    .await?;
    ensure(
        state,
        target("networking.k8s.io", "ingressclasses", None)?,
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "knet",
                         "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": "knet.dev/ingress"},
        }),
    )
    .await?;
    Ok(())
}
