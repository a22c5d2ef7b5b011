//! Conversion between legacy served versions (`extensions/v1beta1`, `apps/v1beta1`,
//! `apps/v1beta2`, `networking.k8s.io/v1beta1`) and the stored versions. k8s-openapi has no
//! types for these versions, so the few fields that differ are moved by hand.

use serde_json::{Map, Value, json};

use crate::resource::{Conversion, Resource};

/// Converts a body in `resource`'s served version to its storage version, in place.
pub fn to_storage(resource: &Resource, obj: &mut Value) {
    match resource.conversion {
        Conversion::None => {}
        Conversion::LegacyDeployment => deployment_to_v1(resource, obj),
        Conversion::LegacyIngress => ingress_to_v1(obj),
    }
    if let Some(o) = obj.as_object_mut() {
        o.insert("apiVersion".into(), json!(resource.storage_api_version()));
        o.insert("kind".into(), json!(resource.kind));
    }
}

/// Converts a stored object to `resource`'s served version.
pub fn from_storage(resource: &Resource, stored: &Value) -> Value {
    let mut obj = stored.clone();
    match resource.conversion {
        Conversion::None => {}
        Conversion::LegacyDeployment => {}
        Conversion::LegacyIngress => ingress_from_v1(&mut obj),
    }
    if let Some(o) = obj.as_object_mut() {
        o.insert("apiVersion".into(), json!(resource.api_version()));
        o.insert("kind".into(), json!(resource.kind));
    }
    obj
}

fn deployment_to_v1(resource: &Resource, obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.remove("rollbackTo");
    spec.remove("templateGeneration");
    // Before apps/v1 the selector was optional and defaulted to the template's labels.
    if spec.get("selector").is_none_or(Value::is_null) {
        let labels = spec
            .get("template")
            .and_then(|t| t.pointer("/metadata/labels"))
            .cloned();
        if let Some(labels) = labels {
            spec.insert("selector".into(), json!({ "matchLabels": labels }));
        }
    }
    // The legacy versions had their own defaults; apply them before the apps/v1 ones would.
    let (surge, unavailable, history, deadline) = match resource.group {
        "extensions" => (json!(1), json!(1), json!(i32::MAX), json!(i32::MAX)),
        _ => (json!("25%"), json!("25%"), json!(2), json!(600)),
    };
    if resource.version == "v1beta2" {
        return;
    }
    spec.entry("revisionHistoryLimit").or_insert(history);
    spec.entry("progressDeadlineSeconds").or_insert(deadline);
    let strategy = spec
        .entry("strategy")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(strategy) = strategy {
        let kind = strategy
            .entry("type")
            .or_insert_with(|| json!("RollingUpdate"))
            .clone();
        if kind == "RollingUpdate"
            && let Some(ru) = strategy
                .entry("rollingUpdate")
                .or_insert_with(|| json!({}))
                .as_object_mut()
        {
            ru.entry("maxSurge").or_insert(surge);
            ru.entry("maxUnavailable").or_insert(unavailable);
        }
    }
}

fn backend_to_v1(backend: &mut Value) {
    let Some(b) = backend.as_object_mut() else {
        return;
    };
    let name = b.remove("serviceName");
    let port = b.remove("servicePort");
    if let Some(name) = name {
        let port = match port {
            Some(Value::Number(n)) => json!({ "number": n }),
            Some(Value::String(s)) => match s.parse::<i64>() {
                Ok(n) => json!({ "number": n }),
                Err(_) => json!({ "name": s }),
            },
            _ => json!({}),
        };
        b.insert("service".into(), json!({ "name": name, "port": port }));
    }
}

fn backend_from_v1(backend: &mut Value) {
    let Some(b) = backend.as_object_mut() else {
        return;
    };
    if let Some(service) = b.remove("service") {
        if let Some(name) = service.get("name") {
            b.insert("serviceName".into(), name.clone());
        }
        if let Some(n) = service.pointer("/port/number") {
            b.insert("servicePort".into(), n.clone());
        } else if let Some(n) = service.pointer("/port/name") {
            b.insert("servicePort".into(), n.clone());
        }
    }
}

fn for_each_path(obj: &mut Value, mut f: impl FnMut(&mut Map<String, Value>)) {
    let Some(rules) = obj.pointer_mut("/spec/rules").and_then(Value::as_array_mut) else {
        return;
    };
    for rule in rules {
        let Some(paths) = rule
            .pointer_mut("/http/paths")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for path in paths {
            if let Some(p) = path.as_object_mut() {
                f(p);
            }
        }
    }
}

fn ingress_to_v1(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(mut backend) = spec.remove("backend")
    {
        backend_to_v1(&mut backend);
        spec.insert("defaultBackend".into(), backend);
    }
    for_each_path(obj, |path| {
        if let Some(backend) = path.get_mut("backend") {
            backend_to_v1(backend);
        }
        path.entry("pathType")
            .or_insert_with(|| json!("ImplementationSpecific"));
    });
}

fn ingress_from_v1(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(mut backend) = spec.remove("defaultBackend")
    {
        backend_from_v1(&mut backend);
        spec.insert("backend".into(), backend);
    }
    for_each_path(obj, |path| {
        if let Some(backend) = path.get_mut("backend") {
            backend_from_v1(backend);
        }
        // ImplementationSpecific is what the legacy versions default to, so it is left out:
        // a manifest that never named it then reads back exactly as written, and
        // `kubectl apply` finds nothing to change.
        if path.get("pathType").and_then(Value::as_str) == Some("ImplementationSpecific") {
            path.remove("pathType");
        }
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resource::find;

    #[test]
    fn legacy_ingress_round_trips() {
        let legacy = find("extensions", "v1beta1", "ingresses").expect("served");
        let original = json!({
            "apiVersion": "extensions/v1beta1", "kind": "Ingress",
            "metadata": {"name": "test"},
            "spec": {
                "backend": {"serviceName": "d", "servicePort": "http"},
                "rules": [{"host": "foo.bar.com", "http": {"paths": [
                    {"path": "/foos1", "backend": {"serviceName": "s1", "servicePort": 80}},
                    {"backend": {"serviceName": "s2", "servicePort": 80}}]}}]
            }
        });
        let mut stored = original.clone();
        to_storage(legacy, &mut stored);
        assert_eq!(stored["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(
            stored["spec"]["defaultBackend"],
            json!({"service": {"name": "d", "port": {"name": "http"}}})
        );
        let first = &stored["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(first["backend"]["service"]["port"], json!({"number": 80}));
        assert_eq!(first["pathType"], "ImplementationSpecific");
        assert_eq!(from_storage(legacy, &stored), original);
    }

    #[test]
    fn legacy_deployment_gets_selector_and_old_defaults() {
        let legacy = find("extensions", "v1beta1", "deployments").expect("served");
        let mut obj = json!({
            "apiVersion": "extensions/v1beta1", "kind": "Deployment",
            "metadata": {"name": "w"},
            "spec": {"template": {"metadata": {"labels": {"run": "w"}}}}
        });
        to_storage(legacy, &mut obj);
        assert_eq!(obj["apiVersion"], "apps/v1");
        assert_eq!(
            obj["spec"]["selector"],
            json!({"matchLabels": {"run": "w"}})
        );
        assert_eq!(obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 1);
        assert_eq!(
            from_storage(legacy, &obj)["apiVersion"],
            "extensions/v1beta1"
        );
    }
}
