//! Discovery documents: `/version`, aggregated discovery v2 (`/api`, `/apis`), and the legacy
//! group and resource lists for older clients.

use serde_json::{Value, json};

use crate::resource::{RESOURCES, Resource, groups};

/// The aggregated discovery content type kubectl insists on.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// The beta variant, for kubectl 1.27 to 1.29.
pub const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// `/version`. kubectl's dispatcher runs its built-in 1.32 client for minor 32.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "32",
        "gitVersion": concat!("v1.32.0-knet.", env!("CARGO_PKG_VERSION")),
        "gitCommit": "knet", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0", "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

/// Which aggregated discovery version an `Accept` header asks for, if any. The parameters are
/// parsed, not substring-matched, because `v=v2` is a prefix of `v=v2beta1`.
pub fn negotiate(accept: &str) -> Option<&'static str> {
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        if media != "application/json" {
            continue;
        }
        let (mut g, mut v, mut as_) = ("", "", "");
        for p in params {
            match p.split_once('=') {
                Some(("g", x)) => g = x,
                Some(("v", x)) => v = x,
                Some(("as", x)) => as_ = x,
                _ => {}
            }
        }
        if g == "apidiscovery.k8s.io" && as_ == "APIGroupDiscoveryList" {
            match v {
                "v2" => return Some(AGGREGATED_V2),
                "v2beta1" => return Some(AGGREGATED_V2BETA1),
                _ => {}
            }
        }
    }
    None
}

fn verbs() -> Value {
    json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ])
}

fn aggregated_resource(r: &Resource) -> Value {
    let mut subresources = Vec::new();
    if r.status {
        subresources.push(json!({
            "subresource": "status",
            "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
            "verbs": ["get", "patch", "update"],
        }));
    }
    if r.kind == "Pod" && r.version == "v1" {
        subresources.push(json!({
            "subresource": "binding",
            "responseKind": {"group": "", "version": "v1", "kind": "Binding"},
            "verbs": ["create"],
        }));
        subresources.push(json!({
            "subresource": "log",
            "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
            "verbs": ["get"],
        }));
    }
    if r.scale {
        subresources.push(json!({
            "subresource": "scale",
            "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "verbs": ["get", "patch", "update"],
        }));
    }
    let mut out = json!({
        "resource": r.plural,
        "singularResource": r.singular,
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "verbs": verbs(),
    });
    if !r.short_names.is_empty() {
        out["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        out["categories"] = json!(r.categories);
    }
    if !subresources.is_empty() {
        out["subresources"] = json!(subresources);
    }
    out
}

fn aggregated_group(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group == group && r.version == *v)
                .map(aggregated_resource)
                .collect();
            json!({"version": v, "freshness": "Current", "resources": resources})
        })
        .collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !group.is_empty() {
        metadata["name"] = json!(group);
    }
    json!({"metadata": metadata, "versions": versions})
}

/// Aggregated discovery for `/api` (`core == true`) or `/apis`.
pub fn aggregated(core: bool, content_type: &str) -> Value {
    let api_version = if content_type == AGGREGATED_V2BETA1 {
        "apidiscovery.k8s.io/v2beta1"
    } else {
        "apidiscovery.k8s.io/v2"
    };
    let items: Vec<Value> = groups()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, versions)| aggregated_group(g, &versions))
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items})
}

/// Legacy `/api`.
pub fn api_versions(server: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]})
}

fn group_doc(group: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

/// Legacy `/apis`.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group_doc(g, &versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Legacy `/apis/{group}`.
pub fn api_group(group: &str) -> Option<Value> {
    groups()
        .into_iter()
        .find(|(g, _)| *g == group)
        .map(|(g, versions)| {
            let mut doc = group_doc(g, &versions);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            doc
        })
}

/// Legacy `/api/v1` or `/apis/{group}/{version}`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let served: Vec<&Resource> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in served {
        let mut doc = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": verbs(),
        });
        if !r.short_names.is_empty() {
            doc["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            doc["categories"] = json!(r.categories);
        }
        resources.push(doc);
        if r.status {
            resources.push(
                json!({"name": format!("{}/status", r.plural), "singularName": "",
                "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}),
            );
        }
        if r.kind == "Pod" && version == "v1" {
            resources.push(json!({"name": "pods/binding", "singularName": "",
                "namespaced": true, "kind": "Binding", "verbs": ["create"]}));
            resources.push(json!({"name": "pods/log", "singularName": "",
                "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
        }
        if r.scale {
            resources.push(json!({"name": format!("{}/scale", r.plural), "singularName": "",
                "namespaced": r.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale",
                "verbs": ["get", "patch", "update"]}));
        }
    }
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": crate::resource::api_version(group, version), "resources": resources}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_parses_parameters() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(kubectl), Some(AGGREGATED_V2));
        let old = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(old), Some(AGGREGATED_V2BETA1));
        assert_eq!(negotiate("application/json"), None);
    }

    #[test]
    fn short_names_and_preferred_versions() {
        let core = aggregated(true, AGGREGATED_V2);
        let res = &core["items"][0]["versions"][0]["resources"];
        let svc = res
            .as_array()
            .and_then(|a| a.iter().find(|r| r["resource"] == "services"))
            .expect("services served");
        assert_eq!(svc["shortNames"], json!(["svc"]));
        assert!(core["items"][0]["metadata"].get("name").is_none());
        let apis = aggregated(false, AGGREGATED_V2);
        let apps = apis["items"]
            .as_array()
            .and_then(|a| a.iter().find(|g| g["metadata"]["name"] == "apps"))
            .expect("apps served");
        assert_eq!(apps["versions"][0]["version"], "v1", "v1 is preferred");
    }
}
