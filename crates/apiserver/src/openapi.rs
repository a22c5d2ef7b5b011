//! The OpenAPI v3 documents kubectl reads before `apply`: a root listing every served
//! group-version, and per group-version a document whose PATCH operations accept the
//! `fieldValidation` parameter (so kubectl leaves validation to the server), with
//! `components.schemas` generated from k8s-openapi's schemars support (so `kubectl explain`
//! works). Documents are built once per group-version and cached.
//!
//! The PATCH operations deliberately do not advertise `application/strategic-merge-patch+json`
//! in a request body: kubectl would then try to compute patches from these schemas, which lack
//! the patch-strategy extensions, and fall back noisily. Without it, kubectl uses its compiled-in
//! types, which are exact.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

use crate::resource::{RESOURCES, Resource, groups};

/// `/openapi/v3`: the root.
pub fn root() -> Value {
    let mut paths = Map::new();
    for (group, versions) in groups() {
        for v in versions {
            let p = if group.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{group}/{v}")
            };
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}")}),
            );
        }
    }
    json!({ "paths": paths })
}

fn item_path(r: &Resource) -> String {
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    if r.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
    } else {
        format!("{base}/{}/{{name}}", r.plural)
    }
}

/// `/openapi/v3/{api/v1 | apis/<group>/<version>}`, built on first use.
pub fn group_version(path: &str) -> Option<Arc<Value>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<Value>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(doc) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(path) {
        return doc.clone();
    }
    let doc = build(path).map(Arc::new);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(path.to_owned(), doc.clone());
    doc
}

fn build(path: &str) -> Option<Value> {
    let (group, version) = match path.split('/').collect::<Vec<_>>()[..] {
        ["api", v] => ("", v),
        ["apis", g, v] => (g, v),
        _ => return None,
    };
    let served: Vec<&Resource> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    let mut kinds = Vec::new();
    for r in served {
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "force", "in": "query", "schema": {"type": "boolean"}},
        ]);
        // Legacy versions are served from the current types, so they share their schema.
        let name = (r.schema)(&mut generator);
        kinds.push((name.clone(), gvk.clone()));
        let schema_ref = json!({"$ref": format!("#/components/schemas/{name}")});
        paths.insert(
            item_path(r),
            json!({
                "get": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get",
                        "responses": {"200": {"content": {"application/json": {"schema": schema_ref}}}}},
                "put": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "put", "parameters": params},
                "patch": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch", "parameters": params},
                "delete": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "delete"},
            }),
        );
    }
    let mut schemas = generator.take_definitions(true);
    for (name, gvk) in kinds {
        if let Some(Value::Object(schema)) = schemas.get_mut(&name) {
            // Legacy versions share the current type's schema; the first GVK wins.
            schema
                .entry("x-kubernetes-group-version-kind")
                .or_insert_with(|| json!([gvk]));
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
