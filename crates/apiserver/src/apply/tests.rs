use super::*;
use serde_json::json;

const T0: &str = "2024-01-01T00:00:00Z";
const T1: &str = "2024-01-01T00:01:00Z";
const T2: &str = "2024-01-01T00:02:00Z";
const T3: &str = "2024-01-01T00:03:00Z";

/// Apply that must succeed.
fn applied(
    kind: &str,
    api_version: &str,
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Value {
    apply(kind, api_version, live, config, manager, force, now)
        .unwrap_or_else(|error| panic!("apply by {manager} of {config} failed: {error}"))
}

/// Apply that must fail.
fn refused(
    kind: &str,
    api_version: &str,
    live: Option<&Value>,
    config: &Value,
    manager: &str,
) -> ApplyError {
    match apply(kind, api_version, live, config, manager, false, T3) {
        Ok(object) => panic!("apply by {manager} of {config} unexpectedly gave {object}"),
        Err(error) => error,
    }
}

fn conflicts_of(error: &ApplyError) -> &[Conflict] {
    match error {
        ApplyError::Conflicts(conflicts) => conflicts,
        other => panic!("expected conflicts, got {other:?}"),
    }
}

fn managed(object: &Value) -> Vec<Value> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn entry(object: &Value, manager: &str, operation: &str) -> Option<Value> {
    managed(object)
        .into_iter()
        .find(|entry| entry["manager"] == json!(manager) && entry["operation"] == json!(operation))
}

/// The FieldsV1 of one manager's entry, which must exist.
fn fields(object: &Value, manager: &str, operation: &str) -> Value {
    entry(object, manager, operation)
        .unwrap_or_else(|| panic!("no {operation} entry for {manager} in {object}"))["fieldsV1"]
        .clone()
}

/// `(manager, operation)` of every entry, in order.
fn owners(object: &Value) -> Vec<(String, String)> {
    managed(object)
        .iter()
        .map(|entry| {
            (
                entry["manager"].as_str().unwrap_or_default().to_owned(),
                entry["operation"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn without_managed(object: &Value) -> Value {
    without_managed_fields(object)
}

fn deployment_with(spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": spec,
    })
}

/// A typical `kubectl apply --server-side` Deployment.
fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}
                ]}
            }
        }
    })
}

fn deployment_fields() -> Value {
    json!({
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {
                    "k:{\"name\":\"nginx\"}": {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {
                            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                ".": {},
                                "f:containerPort": {}
                            }
                        }
                    }
                }}
            }
        }
    })
}

fn service(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "default"}, "spec": spec})
}

// ---- create and re-apply ------------------------------------------------------------------

#[test]
fn create_records_the_applied_set() {
    let config = deployment(2, "nginx:1.25");
    let created = applied("Deployment", "apps/v1", None, &config, "kubectl", false, T0);
    assert_eq!(without_managed(&created), config);
    assert_eq!(
        managed(&created),
        vec![json!({
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": deployment_fields(),
        })]
    );
}

#[test]
fn reapplying_the_same_body_changes_nothing() {
    let config = deployment(2, "nginx:1.25");
    let created = applied("Deployment", "apps/v1", None, &config, "kubectl", false, T0);
    let again = applied(
        "Deployment",
        "apps/v1",
        Some(&created),
        &config,
        "kubectl",
        false,
        T1,
    );
    // Not even the time moves: upstream only touches it when the object changes.
    assert_eq!(again, created);
}

#[test]
fn status_and_server_metadata_in_the_body_are_ignored() {
    let mut config = deployment(2, "nginx:1.25");
    let created = applied("Deployment", "apps/v1", None, &config, "kubectl", false, T0);
    let mut live = created.clone();
    live["metadata"]["uid"] = json!("uid-1");
    live["metadata"]["resourceVersion"] = json!("7");
    live["status"] = json!({"replicas": 2});
    config["status"] = json!({"replicas": 99});
    config["metadata"]["uid"] = json!("other");
    config["metadata"]["resourceVersion"] = json!("1");
    let again = applied(
        "Deployment",
        "apps/v1",
        Some(&live),
        &config,
        "kubectl",
        false,
        T1,
    );
    assert_eq!(again, live);
}

// ---- conflicts --------------------------------------------------------------------------

#[test]
fn conflict_with_an_update_manager() {
    let created = record_update(
        "Deployment",
        "apps/v1",
        None,
        deployment(2, "nginx:1.25"),
        "kubectl-client-side-apply",
        T0,
    );
    let error = refused(
        "Deployment",
        "apps/v1",
        Some(&created),
        &deployment(3, "nginx:1.25"),
        "kubectl",
    );
    assert_eq!(
        error.message(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
    assert_eq!(
        conflicts_of(&error),
        [Conflict {
            manager: "kubectl-client-side-apply".to_owned(),
            operation: "Update".to_owned(),
            api_version: "apps/v1".to_owned(),
            time: Some(T0.to_owned()),
            field: ".spec.replicas".to_owned(),
        }]
    );
}

#[test]
fn conflict_with_another_applier() {
    let created = applied(
        "Deployment",
        "apps/v1",
        None,
        &deployment(2, "nginx:1.25"),
        "a",
        false,
        T0,
    );
    let error = refused(
        "Deployment",
        "apps/v1",
        Some(&created),
        &deployment_with(json!({"replicas": 3})),
        "b",
    );
    assert_eq!(
        error.message(),
        r#"Apply failed with 1 conflict: conflict with "a": .spec.replicas"#
    );
}

#[test]
fn conflicts_are_grouped_by_sorted_manager() {
    let base = deployment_with(json!({"replicas": 2, "minReadySeconds": 5}));
    let live = record_update(
        "Deployment",
        "apps/v1",
        None,
        base,
        "kubectl-client-side-apply",
        T0,
    );
    let live = applied(
        "Deployment",
        "apps/v1",
        Some(&live),
        &deployment_with(json!({"paused": true})),
        "helm",
        false,
        T1,
    );
    let config = deployment_with(json!({"replicas": 3, "minReadySeconds": 10, "paused": false}));
    let error = refused("Deployment", "apps/v1", Some(&live), &config, "kubectl");
    assert_eq!(
        error.message(),
        "Apply failed with 3 conflicts: conflicts with \"helm\":\n- .spec.paused\nconflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.minReadySeconds\n- .spec.replicas"
    );
    let fields: Vec<&str> = conflicts_of(&error)
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(
        fields,
        [".spec.paused", ".spec.minReadySeconds", ".spec.replicas"]
    );
}

#[test]
fn force_takes_ownership() {
    let created = applied(
        "Deployment",
        "apps/v1",
        None,
        &deployment(2, "nginx:1.25"),
        "a",
        false,
        T0,
    );
    let forced = applied(
        "Deployment",
        "apps/v1",
        Some(&created),
        &deployment_with(json!({"replicas": 3})),
        "b",
        true,
        T1,
    );
    assert_eq!(forced["spec"]["replicas"], json!(3));
    assert!(
        fields(&forced, "a", "Apply")["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    assert_eq!(
        fields(&forced, "b", "Apply"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert_eq!(
        entry(&forced, "a", "Apply").map(|e| e["time"].clone()),
        Some(json!(T0))
    );
    assert_eq!(
        entry(&forced, "b", "Apply").map(|e| e["time"].clone()),
        Some(json!(T1))
    );
    // Everything else stays with the first manager.
    assert_eq!(
        fields(&forced, "a", "Apply")["f:spec"]["f:selector"],
        json!({})
    );

    // The first manager now conflicts when it wants its value back.
    let error = refused(
        "Deployment",
        "apps/v1",
        Some(&forced),
        &deployment(2, "nginx:1.25"),
        "a",
    );
    assert_eq!(
        error.message(),
        r#"Apply failed with 1 conflict: conflict with "b": .spec.replicas"#
    );
}

#[test]
fn same_value_is_shared_without_conflict() {
    let created = applied(
        "Deployment",
        "apps/v1",
        None,
        &deployment(2, "nginx:1.25"),
        "a",
        false,
        T0,
    );
    let shared = applied(
        "Deployment",
        "apps/v1",
        Some(&created),
        &deployment_with(json!({"replicas": 2})),
        "b",
        false,
        T1,
    );
    assert_eq!(without_managed(&shared), without_managed(&created));
    assert_eq!(fields(&shared, "a", "Apply"), deployment_fields());
    assert_eq!(
        fields(&shared, "b", "Apply"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    // The object did not change, so like upstream the new entry carries no time.
    assert_eq!(
        entry(&shared, "b", "Apply").map(|e| e.get("time").cloned()),
        Some(None)
    );

    // The first applier dropping the field leaves it alone: the second still owns it.
    let mut without_replicas = deployment(2, "nginx:1.25");
    if let Some(spec) = without_replicas["spec"].as_object_mut() {
        spec.remove("replicas");
    }
    let dropped = applied(
        "Deployment",
        "apps/v1",
        Some(&shared),
        &without_replicas,
        "a",
        false,
        T2,
    );
    assert_eq!(dropped["spec"]["replicas"], json!(2));
    assert!(
        fields(&dropped, "a", "Apply")["f:spec"]
            .get("f:replicas")
            .is_none()
    );
}

// ---- removal ----------------------------------------------------------------------------

#[test]
fn fields_dropped_from_the_configuration_are_removed() {
    let mut config = deployment(2, "nginx:1.25");
    config["metadata"]["labels"]["tier"] = json!("frontend");
    config["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--verbose"]);
    let created = applied("Deployment", "apps/v1", None, &config, "a", false, T0);
    assert_eq!(created["metadata"]["labels"]["tier"], json!("frontend"));

    let mut smaller = deployment(2, "nginx:1.25");
    if let Some(spec) = smaller["spec"].as_object_mut() {
        spec.remove("replicas");
    }
    let updated = applied(
        "Deployment",
        "apps/v1",
        Some(&created),
        &smaller,
        "a",
        false,
        T1,
    );
    assert_eq!(updated["metadata"]["labels"], json!({"app": "web"}));
    assert!(updated["spec"].get("replicas").is_none());
    assert!(
        updated["spec"]["template"]["spec"]["containers"][0]
            .get("args")
            .is_none()
    );
    let mut expected = deployment_fields();
    if let Some(spec) = expected["f:spec"].as_object_mut() {
        spec.remove("f:replicas");
    }
    assert_eq!(fields(&updated, "a", "Apply"), expected);
}

#[test]
fn unowned_fields_outside_the_old_set_survive_pruning() {
    let created = applied(
        "Deployment",
        "apps/v1",
        None,
        &deployment(2, "nginx:1.25"),
        "a",
        false,
        T0,
    );
    // A field nobody owns, as defaulting would add it.
    let mut live = created.clone();
    live["spec"]["revisionHistoryLimit"] = json!(10);
    let updated = applied(
        "Deployment",
        "apps/v1",
        Some(&live),
        &deployment(2, "nginx:1.26"),
        "a",
        false,
        T1,
    );
    assert_eq!(updated["spec"]["revisionHistoryLimit"], json!(10));
    assert_eq!(
        updated["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("nginx:1.26")
    );
}

#[test]
fn null_unsets_a_field_but_keeps_ownership() {
    let created = applied(
        "Deployment",
        "apps/v1",
        None,
        &deployment(2, "nginx:1.25"),
        "a",
        false,
        T0,
    );
    let mut config = deployment(2, "nginx:1.25");
    config["spec"]["replicas"] = Value::Null;
    let updated = applied(
        "Deployment",
        "apps/v1",
        Some(&created),
        &config,
        "a",
        false,
        T1,
    );
    assert!(updated["spec"].get("replicas").is_none());
    assert_eq!(fields(&updated, "a", "Apply"), deployment_fields());
}

// ---- lists ------------------------------------------------------------------------------

#[test]
fn service_ports_merge_by_port_and_protocol() {
    let a = service(
        json!({"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
    );
    let b = service(
        json!({"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}]}),
    );
    let live = applied("Service", "v1", None, &a, "a", false, T0);
    let live = applied("Service", "v1", Some(&live), &b, "b", false, T1);
    assert_eq!(
        live["spec"]["ports"],
        json!([
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}
        ])
    );
    assert_eq!(
        fields(&live, "a", "Apply"),
        json!({"f:spec": {
            "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}, "f:targetPort": {}}},
            "f:selector": {}
        }})
    );
    assert_eq!(
        fields(&live, "b", "Apply"),
        json!({"f:spec": {"f:ports": {"k:{\"port\":443,\"protocol\":\"TCP\"}": {
            ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}
        }}}})
    );
    assert_eq!(
        owners(&live),
        [
            ("a".to_owned(), "Apply".to_owned()),
            ("b".to_owned(), "Apply".to_owned())
        ]
    );

    // A port without a protocol is the TCP one, so touching a's port conflicts.
    let steal = service(json!({"ports": [{"port": 80, "protocol": "TCP", "targetPort": 9090}]}));
    let error = refused("Service", "v1", Some(&live), &steal, "b");
    assert_eq!(
        error.message(),
        r#"Apply failed with 1 conflict: conflict with "a": .spec.ports[port=80,protocol="TCP"].targetPort"#
    );

    // a giving up its port removes it and leaves b's alone.
    let live = applied(
        "Service",
        "v1",
        Some(&live),
        &service(json!({"selector": {"app": "web"}})),
        "a",
        false,
        T2,
    );
    assert_eq!(
        live["spec"]["ports"],
        json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}])
    );
    assert_eq!(
        fields(&live, "a", "Apply"),
        json!({"f:spec": {"f:selector": {}}})
    );
}

#[test]
fn service_selector_is_atomic() {
    let live = applied(
        "Service",
        "v1",
        None,
        &service(json!({"selector": {"app": "web", "tier": "x"}})),
        "a",
        false,
        T0,
    );
    let live = applied(
        "Service",
        "v1",
        Some(&live),
        &service(json!({"selector": {"app": "web"}})),
        "a",
        false,
        T1,
    );
    assert_eq!(live["spec"]["selector"], json!({"app": "web"}));
    let error = refused(
        "Service",
        "v1",
        Some(&live),
        &service(json!({"selector": {"app": "api"}})),
        "b",
    );
    assert_eq!(
        error.message(),
        r#"Apply failed with 1 conflict: conflict with "a": .spec.selector"#
    );
}

#[test]
fn containers_merge_by_name_with_per_container_fields() {
    let live = applied(
        "Deployment",
        "apps/v1",
        None,
        &deployment(2, "nginx:1.25"),
        "a",
        false,
        T0,
    );
    let b = deployment_with(json!({"template": {"spec": {"containers": [
        {"name": "nginx", "resources": {"limits": {"cpu": "500m"}}},
        {"name": "sidecar", "image": "envoy:1"}
    ]}}}));
    let live = applied("Deployment", "apps/v1", Some(&live), &b, "b", false, T1);
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "500m"}}},
            {"name": "sidecar", "image": "envoy:1"}
        ])
    );
    assert_eq!(fields(&live, "a", "Apply"), deployment_fields());
    assert_eq!(
        fields(&live, "b", "Apply"),
        json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
            "k:{\"name\":\"nginx\"}": {".": {}, "f:name": {}, "f:resources": {"f:limits": {"f:cpu": {}}}},
            "k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}, "f:name": {}}
        }}}}})
    );

    let steal = deployment_with(
        json!({"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"}]}}}),
    );
    let error = refused("Deployment", "apps/v1", Some(&live), &steal, "b");
    assert_eq!(
        error.message(),
        r#"Apply failed with 1 conflict: conflict with "a": .spec.template.spec.containers[name="nginx"].image"#
    );

    // b dropping its sidecar removes it; the shared nginx container stays with a's fields.
    let b2 = deployment_with(json!({"template": {"spec": {"containers": [
        {"name": "nginx", "resources": {"limits": {"cpu": "500m"}}}
    ]}}}));
    let live = applied("Deployment", "apps/v1", Some(&live), &b2, "b", false, T2);
    let containers = &live["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(1));
    assert_eq!(containers[0]["image"], json!("nginx:1.25"));
}

#[test]
fn atomic_lists_are_replaced_and_owned_whole() {
    let mut config = deployment(2, "nginx:1.25");
    config["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["a", "b"]);
    let live = applied("Deployment", "apps/v1", None, &config, "a", false, T0);
    let container = &fields(&live, "a", "Apply")["f:spec"]["f:template"]["f:spec"]["f:containers"]
        ["k:{\"name\":\"nginx\"}"];
    assert_eq!(container["f:args"], json!({}));
    let other = deployment_with(
        json!({"template": {"spec": {"containers": [{"name": "nginx", "args": ["c"]}]}}}),
    );
    let error = refused("Deployment", "apps/v1", Some(&live), &other, "b");
    assert_eq!(
        error.message(),
        r#"Apply failed with 1 conflict: conflict with "a": .spec.template.spec.containers[name="nginx"].args"#
    );
    let forced = applied("Deployment", "apps/v1", Some(&live), &other, "b", true, T1);
    assert_eq!(
        forced["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["c"])
    );
}

#[test]
fn finalizers_merge_as_a_set() {
    let config = |finalizer: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": [finalizer]}});
    let live = applied("ConfigMap", "v1", None, &config("a.io/x"), "a", false, T0);
    let live = applied(
        "ConfigMap",
        "v1",
        Some(&live),
        &config("b.io/y"),
        "b",
        false,
        T1,
    );
    assert_eq!(live["metadata"]["finalizers"], json!(["a.io/x", "b.io/y"]));
    assert_eq!(
        fields(&live, "b", "Apply"),
        json!({"f:metadata": {"f:finalizers": {"v:\"b.io/y\"": {}}}})
    );
}

#[test]
fn merged_lists_follow_upstream_order() {
    let schema = Schema::new("Pod");
    let items = |names: &[&str]| {
        names
            .iter()
            .map(|name| json!({"name": name}))
            .collect::<Vec<_>>()
    };
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (&["a", "b"], &["b", "a"], &["b", "a"]),
        (&["a", "b", "c"], &["c", "a"], &["b", "c", "a"]),
        (&["b", "a"], &["a", "c"], &["b", "a", "c"]),
        (&["a", "b"], &["c", "a"], &["c", "a", "b"]),
        (&["a"], &["b"], &["a", "b"]),
        (&[], &["a"], &["a"]),
    ];
    for (live, config, expected) in cases {
        let mut path = vec!["spec".to_owned(), "containers".to_owned()];
        let merged = schema.merge_list(
            ListType::Map(&["name"]),
            &items(live),
            &items(config),
            &mut path,
        );
        assert_eq!(merged, items(expected), "live {live:?} config {config:?}");
    }
}

// ---- updates ----------------------------------------------------------------------------

#[test]
fn record_update_steals_changed_fields() {
    let live = applied(
        "Deployment",
        "apps/v1",
        None,
        &deployment(2, "nginx:1.25"),
        "a",
        false,
        T0,
    );
    let mut edited = live.clone();
    edited["spec"]["replicas"] = json!(5);
    let live = record_update(
        "Deployment",
        "apps/v1",
        Some(&live),
        edited,
        "kubectl-edit",
        T1,
    );
    assert_eq!(
        entry(&live, "kubectl-edit", "Update"),
        Some(json!({
            "manager": "kubectl-edit",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }))
    );
    assert!(
        fields(&live, "a", "Apply")["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    assert_eq!(
        owners(&live),
        [
            ("a".to_owned(), "Apply".to_owned()),
            ("kubectl-edit".to_owned(), "Update".to_owned())
        ]
    );

    let error = refused(
        "Deployment",
        "apps/v1",
        Some(&live),
        &deployment(2, "nginx:1.25"),
        "a",
    );
    assert_eq!(
        error.message(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas"#
    );
    // Applying without replicas no longer removes them: a does not own them any more.
    let mut config = deployment(2, "nginx:1.25");
    if let Some(spec) = config["spec"].as_object_mut() {
        spec.remove("replicas");
    }
    let live = applied(
        "Deployment",
        "apps/v1",
        Some(&live),
        &config,
        "a",
        false,
        T2,
    );
    assert_eq!(live["spec"]["replicas"], json!(5));
}

#[test]
fn record_update_on_create_owns_everything() {
    // (kind, apiVersion, object, expected FieldsV1): maps new to the object are owned as a whole
    // (`.`), the structs every object of the kind has are not, as upstream.
    let cases = [
        (
            "ConfigMap",
            "v1",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "namespace": "default", "uid": "u", "labels": {"app": "x"}},
                   "data": {"k": "v"}}),
            json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}),
        ),
        (
            "Deployment",
            "apps/v1",
            deployment(2, "nginx:1.25"),
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {
                                ".": {},
                                "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}
                            }
                        }}}
                    }
                }
            }),
        ),
        (
            "Widget",
            "example.com/v1",
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                   "spec": {"size": 1}, "status": {"ready": true}}),
            json!({"f:spec": {".": {}, "f:size": {}}}),
        ),
    ];
    for (kind, api_version, object, expected) in cases {
        let created = record_update(
            kind,
            api_version,
            None,
            object.clone(),
            "kubectl-create",
            T0,
        );
        assert_eq!(without_managed(&created), object, "{kind}");
        assert_eq!(
            fields(&created, "kubectl-create", "Update"),
            expected,
            "{kind}"
        );
        assert_eq!(
            entry(&created, "kubectl-create", "Update").map(|e| e["apiVersion"].clone()),
            Some(json!(api_version))
        );
    }
}

#[test]
fn record_update_without_changes_keeps_entries() {
    let created = record_update(
        "Deployment",
        "apps/v1",
        None,
        deployment(2, "nginx:1.25"),
        "kubectl-create",
        T0,
    );
    let mut same = created.clone();
    same["metadata"]["resourceVersion"] = json!("2");
    let updated = record_update(
        "Deployment",
        "apps/v1",
        Some(&created),
        same,
        "kubectl-edit",
        T1,
    );
    assert_eq!(managed(&updated), managed(&created));

    // Removing a field takes it out of its owner's set without creating an entry.
    let mut smaller = created.clone();
    if let Some(meta) = smaller["metadata"].as_object_mut() {
        meta.remove("labels");
    }
    let updated = record_update(
        "Deployment",
        "apps/v1",
        Some(&created),
        smaller,
        "kubectl-edit",
        T1,
    );
    assert_eq!(
        owners(&updated),
        [("kubectl-create".to_owned(), "Update".to_owned())]
    );
    assert!(
        fields(&updated, "kubectl-create", "Update")
            .get("f:metadata")
            .is_none()
    );
}

#[test]
fn record_update_merges_with_its_own_entry() {
    let created = record_update(
        "Deployment",
        "apps/v1",
        None,
        deployment_with(json!({"replicas": 1})),
        "ctl",
        T0,
    );
    let mut next = created.clone();
    next["spec"]["paused"] = json!(true);
    let updated = record_update("Deployment", "apps/v1", Some(&created), next, "ctl", T1);
    assert_eq!(
        managed(&updated),
        vec![json!({
            "manager": "ctl", "operation": "Update", "apiVersion": "apps/v1", "time": T1,
            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:paused": {}, "f:replicas": {}}}
        })]
    );
}

#[test]
fn record_update_honours_reset_and_untracked_objects() {
    let mut created = record_update(
        "Deployment",
        "apps/v1",
        None,
        deployment(2, "nginx:1.25"),
        "kubectl-create",
        T0,
    );
    created["metadata"]["uid"] = json!("uid-1");
    for reset in [json!([]), json!([{}])] {
        let mut cleared = created.clone();
        cleared["metadata"]["managedFields"] = reset;
        let updated = record_update(
            "Deployment",
            "apps/v1",
            Some(&created),
            cleared,
            "kubectl-patch",
            T1,
        );
        assert!(
            updated["metadata"].get("managedFields").is_none(),
            "{updated}"
        );

        // With nothing tracked, later updates of the object are not tracked either.
        let mut scaled = updated.clone();
        scaled["spec"]["replicas"] = json!(3);
        let scaled = record_update(
            "Deployment",
            "apps/v1",
            Some(&updated),
            scaled,
            "kubectl-scale",
            T2,
        );
        assert!(
            scaled["metadata"].get("managedFields").is_none(),
            "{scaled}"
        );
    }
}

#[test]
fn record_update_caps_update_entries() {
    let configmap = |keys: usize| {
        let data: Map<String, Value> = (0..keys).map(|i| (format!("k{i}"), json!("v"))).collect();
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
    };
    let time = |i: usize| format!("2024-01-01T00:00:{i:02}Z");
    let mut live = record_update("ConfigMap", "v1", None, configmap(1), "m0", &time(0));
    for i in 1..12 {
        live = record_update(
            "ConfigMap",
            "v1",
            Some(&live),
            configmap(i + 1),
            &format!("m{i}"),
            &time(i),
        );
    }
    let names: Vec<String> = owners(&live).into_iter().map(|(name, _)| name).collect();
    let expected: Vec<String> = std::iter::once("ancient-changes".to_owned())
        .chain((3..12).map(|i| format!("m{i}")))
        .collect();
    assert_eq!(names, expected);
    let ancient = entry(&live, "ancient-changes", "Update").unwrap_or_default();
    assert_eq!(ancient["time"], json!(time(2)));
    assert_eq!(
        ancient["fieldsV1"],
        json!({"f:data": {".": {}, "f:k0": {}, "f:k1": {}, "f:k2": {}}})
    );
}

// ---- kubectl and legacy objects ---------------------------------------------------------

#[test]
fn kubectl_takes_over_fields_it_applied_client_side() {
    let mut config = deployment(2, "nginx:1.25");
    let last = format!("{}\n", go_json(&config));
    config["metadata"]["annotations"] = json!({ LAST_APPLIED: last });
    let live = record_update(
        "Deployment",
        "apps/v1",
        None,
        config,
        "kubectl-client-side-apply",
        T0,
    );

    // Another manager would conflict...
    let error = refused(
        "Deployment",
        "apps/v1",
        Some(&live),
        &deployment(3, "nginx:1.25"),
        "other",
    );
    assert_eq!(conflicts_of(&error).len(), 1);
    // ...but kubectl may take over what its annotation says it applied.
    let updated = applied(
        "Deployment",
        "apps/v1",
        Some(&live),
        &deployment(3, "nginx:1.25"),
        "kubectl",
        false,
        T1,
    );
    assert_eq!(updated["spec"]["replicas"], json!(3));
    assert!(
        fields(&updated, "kubectl-client-side-apply", "Update")["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    assert_eq!(fields(&updated, "kubectl", "Apply"), deployment_fields());
    let annotation = updated["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        annotation,
        format!("{}\n", go_json(&deployment(3, "nginx:1.25")))
    );

    // Once the live value drifts from the annotation, the takeover is refused.
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(4);
    let scaled = record_update(
        "Deployment",
        "apps/v1",
        Some(&live),
        scaled,
        "kubectl-client-side-apply",
        T1,
    );
    let error = refused(
        "Deployment",
        "apps/v1",
        Some(&scaled),
        &deployment(3, "nginx:1.25"),
        "kubectl",
    );
    assert_eq!(
        error.message(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
}

#[test]
fn objects_without_managed_fields_belong_to_before_first_apply() {
    let live = deployment(2, "nginx:1.25");
    let error = refused(
        "Deployment",
        "apps/v1",
        Some(&live),
        &deployment_with(json!({"replicas": 3})),
        "a",
    );
    assert_eq!(
        error.message(),
        r#"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#
    );
    let shared = applied(
        "Deployment",
        "apps/v1",
        Some(&live),
        &deployment_with(json!({"replicas": 2})),
        "a",
        false,
        T0,
    );
    assert_eq!(
        owners(&shared),
        [
            ("a".to_owned(), "Apply".to_owned()),
            ("before-first-apply".to_owned(), "Update".to_owned())
        ]
    );
}

// ---- invalid input ----------------------------------------------------------------------

#[test]
fn invalid_bodies_are_rejected() {
    let mut with_managed = deployment(2, "x");
    with_managed["metadata"]["managedFields"] = json!([]);
    let mut nameless = deployment(2, "x");
    nameless["spec"]["template"]["spec"]["containers"] = json!([{"image": "x"}]);
    let mut duplicated = deployment(2, "x");
    duplicated["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "nginx"}, {"name": "nginx"}]);
    let cases = [
        (json!([1, 2]), "the applied configuration must be a JSON object".to_owned()),
        (with_managed, "metadata.managedFields must be nil".to_owned()),
        (
            nameless,
            r#"failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: element 0: associative list with keys has an element that omits key field "name" (and doesn't have default value)"#.to_owned(),
        ),
        (
            duplicated,
            r#"failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name="nginx"]"#.to_owned(),
        ),
    ];
    for (body, message) in cases {
        match apply("Deployment", "apps/v1", None, &body, "a", false, T0) {
            Err(error @ ApplyError::InvalidBody(_)) => assert_eq!(error.message(), message),
            other => panic!("{body}: expected InvalidBody, got {other:?}"),
        }
    }
}

#[test]
fn broken_managed_fields_are_reported() {
    let mut live = deployment(2, "x");
    live["metadata"]["managedFields"] = json!([{"manager": "m", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]);
    match apply(
        "Deployment",
        "apps/v1",
        Some(&live),
        &deployment(2, "x"),
        "a",
        false,
        T0,
    ) {
        Err(error @ ApplyError::InvalidManagedFields(_)) => assert_eq!(
            error.message(),
            "failed to decode managed fields: operation must be `Apply` or `Update`"
        ),
        other => panic!("expected InvalidManagedFields, got {other:?}"),
    }
}

// ---- field sets -------------------------------------------------------------------------

#[test]
fn fields_v1_round_trips() {
    let encoded = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:finalizers": {"v:\"a/b\"": {}}},
        "f:spec": {
            "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}},
            "f:list": {"i:0": {}},
        }
    });
    let set = FieldSet::from_fields_v1(&encoded).unwrap_or_default();
    assert_eq!(set.to_fields_v1(), encoded);
    let paths: Vec<String> = set.paths().iter().map(|path| display_path(path)).collect();
    assert_eq!(
        paths,
        [
            ".metadata.labels",
            ".metadata.finalizers[=\"a/b\"]",
            ".metadata.labels.app",
            ".spec.list[0]",
            ".spec.ports[port=80,protocol=\"TCP\"]",
            ".spec.ports[port=80,protocol=\"TCP\"].port",
        ]
    );
}

#[test]
fn fields_v1_is_canonicalized_and_tolerant() {
    // Key order, spacing and unknown element types from other writers do not matter.
    let set = FieldSet::from_fields_v1(&json!({
        "f:spec": {"k:{ \"protocol\": \"TCP\", \"port\": 80 }": {}, "z:future": {}}
    }))
    .unwrap_or_default();
    assert_eq!(
        set.to_fields_v1(),
        json!({"f:spec": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {}}})
    );
    for broken in [json!({"fx": {}}), json!({"k:nope": {}}), json!({"f:a": 1})] {
        assert!(FieldSet::from_fields_v1(&broken).is_err(), "{broken}");
    }
}

#[test]
fn go_encodings() {
    assert_eq!(
        go_json(&json!({"b": 1.0, "a": "<&>"})),
        r#"{"a":"\u003c\u0026\u003e","b":1}"#
    );
    assert_eq!(go_quote("a\"b\n\u{1}"), r#""a\"b\n\x01""#);
    assert_eq!(
        identifier("m", false, "apps/v1", ""),
        r#"{"manager":"m","operation":"Update","apiVersion":"apps/v1"}"#
    );
    assert_eq!(
        identifier("m", true, "apps/v1", ""),
        r#"{"manager":"m","operation":"Apply"}"#
    );
}
