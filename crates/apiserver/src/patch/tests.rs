use super::*;
use serde_json::json;

/// Apply a strategic merge patch and compare with the expected object; also make sure no
/// directive leaked into the result.
fn check(kind: &str, original: Value, patch: Value, expected: Value) {
    let actual = strategic_merge(kind, &original, &patch)
        .unwrap_or_else(|error| panic!("{kind}: patch {patch} failed: {error}"));
    assert_eq!(
        actual, expected,
        "{kind}: patch {patch} applied to {original}"
    );
    assert!(
        !has_directive(&actual),
        "{kind}: directive left in result {actual}"
    );
}

/// Apply a strategic merge patch that must fail and hand back the error.
fn check_err(kind: &str, original: Value, patch: Value) -> PatchError {
    match strategic_merge(kind, &original, &patch) {
        Ok(value) => panic!("{kind}: patch {patch} unexpectedly succeeded with {value}"),
        Err(error) => error,
    }
}

fn has_directive(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.starts_with('$') || has_directive(v)),
        Value::Array(list) => list.iter().any(has_directive),
        _ => false,
    }
}

/// Wrap `value` in objects along `path`, e.g. `nest(&["a","b"], 1)` is `{"a":{"b":1}}`.
fn nest(path: &[&str], value: Value) -> Value {
    path.iter()
        .rev()
        .fold(value, |inner, key| json!({ *key: inner }))
}

/// Kinds with a pod template and where its PodSpec lives.
const POD_SPECS: &[(&str, &[&str])] = &[
    ("Pod", &["spec"]),
    ("Deployment", &["spec", "template", "spec"]),
    ("ReplicaSet", &["spec", "template", "spec"]),
    ("StatefulSet", &["spec", "template", "spec"]),
    ("DaemonSet", &["spec", "template", "spec"]),
    ("Job", &["spec", "template", "spec"]),
    (
        "CronJob",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
];

// ---- JSON merge patch -------------------------------------------------------------------

#[test]
fn merge_patch_follows_rfc_7386() {
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a": "foo"}), json!("bar"), json!("bar")),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
    ];
    for (original, patch, expected) in cases {
        assert_eq!(merge_patch(&original, &patch), expected, "patch {patch}");
    }
}

// ---- JSON patch ---------------------------------------------------------------------------

#[test]
fn json_patch_applies_operations_in_order() {
    let original =
        json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1, "list": [1, 2]}});
    let patch = json!([
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "add", "path": "/spec/list/-", "value": 3},
        {"op": "copy", "from": "/spec/replicas", "path": "/spec/copied"},
        {"op": "move", "from": "/spec/copied", "path": "/spec/moved"}
    ]);
    let expected = json!({
        "metadata": {"labels": {"b": "2"}},
        "spec": {"replicas": 3, "list": [1, 2, 3], "moved": 3}
    });
    assert_eq!(
        json_patch(&original, &patch).expect("valid patch"),
        expected
    );
}

#[test]
fn json_patch_rejects_malformed_bodies() {
    let original = json!({"a": 1});
    for patch in [
        json!([{"op": "frobnicate", "path": "/a"}]),
        json!([{"op": "add", "value": 1}]),
        json!({"op": "add", "path": "/a", "value": 1}),
        json!("nope"),
    ] {
        let error = json_patch(&original, &patch).expect_err("malformed patch");
        assert!(
            matches!(error, PatchError::InvalidJsonPatch(_)),
            "{patch}: {error}"
        );
    }
}

#[test]
fn json_patch_reports_failed_operations() {
    let original = json!({"a": 1});
    let error = json_patch(&original, &json!([{"op": "remove", "path": "/missing"}]))
        .expect_err("missing path");
    assert!(matches!(error, PatchError::JsonPatchFailed(_)), "{error}");

    let patch = json!([
        {"op": "replace", "path": "/a", "value": 2},
        {"op": "test", "path": "/a", "value": 1}
    ]);
    match json_patch(&original, &patch) {
        Err(PatchError::JsonPatchTestFailed { operation, path }) => {
            assert_eq!((operation, path.as_str()), (1, "/a"));
        }
        other => panic!("expected a failed test, got {other:?}"),
    }
}

// ---- Maps -------------------------------------------------------------------------------

#[test]
fn maps_merge_recursively_and_null_deletes() {
    check(
        "ConfigMap",
        json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}}),
        json!({"metadata": {"labels": {"a": null, "c": "3"}}, "data": {"y": "2"}}),
        json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "data": {"x": "1", "y": "2"}}),
    );
    check(
        "Secret",
        json!({"data": {"k": "dg=="}}),
        json!({"data": {"absent": null}, "type": "Opaque"}),
        json!({"data": {"k": "dg=="}, "type": "Opaque"}),
    );
}

#[test]
fn new_values_are_cleaned_of_nulls() {
    check(
        "Deployment",
        json!({"spec": {}}),
        json!({"spec": {"strategy": {"type": "Recreate", "rollingUpdate": null, "x": {"y": null}}}}),
        json!({"spec": {"strategy": {"type": "Recreate", "x": {}}}}),
    );
}

#[test]
fn type_changes_take_the_patch_value() {
    check(
        "ConfigMap",
        json!({"data": {"a": {"nested": 1}}}),
        json!({"data": {"a": "flat"}}),
        json!({"data": {"a": "flat"}}),
    );
    check(
        "ConfigMap",
        json!({"data": "flat"}),
        json!({"data": {"a": "1", "b": null}}),
        json!({"data": {"a": "1"}}),
    );
}

// ---- Lists merged by key ------------------------------------------------------------------

#[test]
fn containers_merge_by_name() {
    check(
        "Pod",
        json!({"spec": {"containers": [
            {"name": "web", "image": "nginx:1", "args": ["a"]},
            {"name": "side", "image": "busybox"}
        ]}}),
        json!({"spec": {"containers": [{"name": "web", "image": "nginx:2", "args": null}]}}),
        json!({"spec": {"containers": [
            {"name": "web", "image": "nginx:2"},
            {"name": "side", "image": "busybox"}
        ]}}),
    );
}

#[test]
fn new_keyed_element_goes_first_without_an_order() {
    // Upstream puts elements the original lacks ahead of untouched original elements.
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {"containers": [{"name": "c", "image": "x"}]}}),
        json!({"spec": {"containers": [{"name": "c", "image": "x"}, {"name": "a"}, {"name": "b"}]}}),
    );
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {"containers": [{"name": "b", "image": "y"}, {"name": "c"}]}}),
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "image": "y"}, {"name": "c"}]}}),
    );
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {"containers": [{"name": "c"}, {"name": "a", "image": "z"}]}}),
        json!({"spec": {"containers": [{"name": "c"}, {"name": "a", "image": "z"}, {"name": "b"}]}}),
    );
}

#[test]
fn new_keyed_element_is_appended_with_an_order() {
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
            "containers": [{"name": "c"}]
        }}),
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}),
    );
}

#[test]
fn keyed_list_into_absent_field() {
    check(
        "Pod",
        json!({"spec": {}}),
        json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}, "hostPath": null}]}}),
        json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
    );
}

#[test]
fn pod_spec_lists_merge_by_their_keys_in_every_workload() {
    for (kind, prefix) in POD_SPECS {
        let original = nest(
            prefix,
            json!({
                "containers": [{
                    "name": "c",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 81}],
                    "volumeMounts": [{"mountPath": "/a", "name": "va"}, {"mountPath": "/b", "name": "vb"}],
                    "volumeDevices": [{"devicePath": "/dev/a", "name": "da"}]
                }],
                "initContainers": [{"name": "i1", "image": "x"}, {"name": "i2", "image": "y"}],
                "volumes": [{"name": "va", "emptyDir": {}}, {"name": "vb", "emptyDir": {}}],
                "imagePullSecrets": [{"name": "s1"}],
                "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
                "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}],
                "tolerations": [{"key": "a"}]
            }),
        );
        let patch = nest(
            prefix,
            json!({
                "containers": [{
                    "name": "c",
                    "env": [{"name": "B", "value": "3"}],
                    "ports": [{"containerPort": 81, "name": "alt"}],
                    "volumeMounts": [{"mountPath": "/b", "readOnly": true}],
                    "volumeDevices": [{"devicePath": "/dev/a", "name": "db"}]
                }],
                "initContainers": [{"name": "i2", "image": "z"}],
                "volumes": [{"name": "vb", "emptyDir": {"medium": "Memory"}}],
                "imagePullSecrets": [{"name": "s1"}],
                "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}],
                "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
                "tolerations": [{"key": "b"}]
            }),
        );
        let expected = nest(
            prefix,
            json!({
                "containers": [{
                    "name": "c",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}],
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "alt"}],
                    "volumeMounts": [
                        {"mountPath": "/a", "name": "va"},
                        {"mountPath": "/b", "name": "vb", "readOnly": true}
                    ],
                    "volumeDevices": [{"devicePath": "/dev/a", "name": "db"}]
                }],
                "initContainers": [{"name": "i1", "image": "x"}, {"name": "i2", "image": "z"}],
                "volumes": [{"name": "va", "emptyDir": {}}, {"name": "vb", "emptyDir": {"medium": "Memory"}}],
                "imagePullSecrets": [{"name": "s1"}],
                "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}],
                "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
                "tolerations": [{"key": "b"}]
            }),
        );
        check(kind, original, patch, expected);
    }
}

#[test]
fn ephemeral_containers_merge_by_name() {
    check(
        "Pod",
        json!({"spec": {"ephemeralContainers": [{"name": "debug", "image": "a"}]}}),
        json!({"spec": {"ephemeralContainers": [{"name": "debug", "tty": true}]}}),
        json!({"spec": {"ephemeralContainers": [{"name": "debug", "image": "a", "tty": true}]}}),
    );
}

#[test]
fn service_ports_merge_by_port() {
    check(
        "Service",
        json!({"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
        json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
        json!({"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 9090}]}}),
    );
}

#[test]
fn owner_references_merge_by_uid() {
    check(
        "ConfigMap",
        json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]}}),
        json!({"metadata": {"ownerReferences": [{"uid": "2", "controller": true}]}}),
        json!({"metadata": {"ownerReferences": [
            {"uid": "1", "name": "a"},
            {"uid": "2", "name": "b", "controller": true}
        ]}}),
    );
}

#[test]
fn status_conditions_merge_by_type() {
    for kind in [
        "Pod",
        "Node",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "Job",
    ] {
        check(
            kind,
            json!({"status": {"conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "Other", "status": "True"}
            ]}}),
            json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            json!({"status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Other", "status": "True"}
            ]}}),
        );
    }
}

#[test]
fn node_addresses_merge_by_type() {
    check(
        "Node",
        json!({"status": {"addresses": [
            {"type": "InternalIP", "address": "10.0.0.1"},
            {"type": "Hostname", "address": "n1"}
        ]}}),
        json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}),
        json!({"status": {"addresses": [
            {"type": "InternalIP", "address": "10.0.0.2"},
            {"type": "Hostname", "address": "n1"}
        ]}}),
    );
}

#[test]
fn merge_keys_compare_numbers_by_value() {
    check(
        "Service",
        json!({"spec": {"ports": [{"port": 80, "name": "http"}]}}),
        json!({"spec": {"ports": [{"port": 80.0, "targetPort": 1}]}}),
        json!({"spec": {"ports": [{"port": 80.0, "name": "http", "targetPort": 1}]}}),
    );
}

// ---- Lists replaced whole -----------------------------------------------------------------

#[test]
fn lists_without_merge_key_are_replaced() {
    check(
        "Pod",
        json!({"spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "c", "args": ["x", "y"]}]}}),
        json!({"spec": {"tolerations": [{"key": "b", "value": null}], "containers": [{"name": "c", "args": ["z"]}]}}),
        json!({"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "c", "args": ["z"]}]}}),
    );
    check(
        "Ingress",
        json!({"spec": {"rules": [{"host": "a"}, {"host": "b"}]}}),
        json!({"spec": {"rules": [{"host": "c"}]}}),
        json!({"spec": {"rules": [{"host": "c"}]}}),
    );
    check(
        "EndpointSlice",
        json!({"endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]}),
        json!({"endpoints": [{"addresses": ["10.0.0.2"]}]}),
        json!({"endpoints": [{"addresses": ["10.0.0.2"]}], "ports": [{"port": 80}]}),
    );
    check(
        "Endpoints",
        json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}),
        json!({"subsets": []}),
        json!({"subsets": []}),
    );
}

#[test]
fn unknown_kinds_replace_pod_spec_like_lists() {
    check(
        "Widget",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "x"}]}}}}),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "x"}]}}}}),
    );
}

#[test]
fn replace_marker_is_dropped_from_replaced_lists() {
    check(
        "Pod",
        json!({"spec": {"tolerations": [{"key": "a"}]}}),
        json!({"spec": {"tolerations": [{"$patch": "replace"}, {"key": "b"}]}}),
        json!({"spec": {"tolerations": [{"key": "b"}]}}),
    );
}

// ---- Primitive lists merged as sets -------------------------------------------------------

#[test]
fn finalizers_merge_as_a_set() {
    check(
        "ConfigMap",
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"finalizers": ["b", "c"]}}),
        json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
    );
    // Like keyed lists, an unordered addition lands before the untouched originals upstream.
    check(
        "ConfigMap",
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"finalizers": ["c"]}}),
        json!({"metadata": {"finalizers": ["c", "a", "b"]}}),
    );
    check(
        "ConfigMap",
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"$setElementOrder/finalizers": ["a", "b", "c"], "finalizers": ["c"]}}),
        json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
    );
    check(
        "ConfigMap",
        json!({"metadata": {}}),
        json!({"metadata": {"finalizers": ["x", "x", "y"]}}),
        json!({"metadata": {"finalizers": ["x", "y"]}}),
    );
}

#[test]
fn delete_from_primitive_list() {
    check(
        "ConfigMap",
        json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zzz"]}}),
        json!({"metadata": {"finalizers": ["a", "c"]}}),
    );
    // kubectl sends additions, deletions and the order together.
    check(
        "ConfigMap",
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {
            "$setElementOrder/finalizers": ["a", "c"],
            "$deleteFromPrimitiveList/finalizers": ["b"],
            "finalizers": ["c"]
        }}),
        json!({"metadata": {"finalizers": ["a", "c"]}}),
    );
    check(
        "ConfigMap",
        json!({"metadata": {}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
        json!({"metadata": {}}),
    );
}

#[test]
fn node_pod_cidrs_merge_as_a_set() {
    check(
        "Node",
        json!({"spec": {"podCIDRs": ["10.0.0.0/24"]}}),
        json!({"spec": {"$setElementOrder/podCIDRs": ["10.0.0.0/24", "fd00::/64"], "podCIDRs": ["fd00::/64"]}}),
        json!({"spec": {"podCIDRs": ["10.0.0.0/24", "fd00::/64"]}}),
    );
}

// ---- $patch directives --------------------------------------------------------------------

#[test]
fn patch_delete_removes_keyed_elements() {
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}, {"name": "gone", "$patch": "delete"}]}}),
        json!({"spec": {"containers": [{"name": "b"}]}}),
    );
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}, {"name": "c"}]}}),
        json!({"spec": {"containers": [{"name": "c"}, {"name": "b"}]}}),
    );
}

#[test]
fn patch_replace_element_replaces_the_list() {
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}),
        json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "a", "tty": true}, {"name": "c"}]}}),
        json!({"spec": {"containers": [{"name": "a", "tty": true}, {"name": "c"}]}}),
    );
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {"containers": [{"$patch": "replace"}]}}),
        json!({"spec": {"containers": []}}),
    );
}

#[test]
fn patch_replace_on_a_map_replaces_it() {
    check(
        "Deployment",
        json!({"spec": {"selector": {"matchLabels": {"a": "1", "b": "2"}}}}),
        json!({"spec": {"selector": {"matchLabels": {"$patch": "replace", "c": "3", "d": null}}}}),
        json!({"spec": {"selector": {"matchLabels": {"c": "3"}}}}),
    );
    check(
        "ConfigMap",
        json!({"data": {"a": "1"}, "metadata": {"name": "x"}}),
        json!({"$patch": "replace", "data": {"b": "2"}}),
        json!({"data": {"b": "2"}}),
    );
}

#[test]
fn patch_delete_on_a_map_empties_it() {
    // Upstream leaves an empty map behind for an existing map, and nothing for a missing one.
    check(
        "ConfigMap",
        json!({"data": {"a": "1"}, "metadata": {"name": "x"}}),
        json!({"data": {"$patch": "delete"}, "binaryData": {"$patch": "delete"}}),
        json!({"data": {}, "metadata": {"name": "x"}}),
    );
    check(
        "ConfigMap",
        json!({"data": {"a": "1"}}),
        json!({"$patch": "delete"}),
        json!({}),
    );
}

// ---- $setElementOrder ---------------------------------------------------------------------

#[test]
fn set_element_order_alone_reorders() {
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
        json!({"spec": {"containers": [{"name": "b"}, {"name": "a"}]}}),
    );
    // Elements the order omits keep their original place relative to those it names.
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}),
        json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]}}),
        json!({"spec": {"containers": [{"name": "b"}, {"name": "c"}, {"name": "a"}]}}),
    );
    // An order for a replaced list or a missing list changes nothing.
    check(
        "Pod",
        json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}),
        json!({"spec": {"$setElementOrder/tolerations": [{"key": "b"}], "$setElementOrder/volumes": [{"name": "v"}]}}),
        json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}),
    );
}

#[test]
fn set_element_order_places_new_and_existing_elements() {
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}),
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "d"}],
            "containers": [{"name": "d"}]
        }}),
        json!({"spec": {"containers": [{"name": "a"}, {"name": "d"}, {"name": "b"}, {"name": "c"}]}}),
    );
}

// ---- $retainKeys --------------------------------------------------------------------------

#[test]
fn retain_keys_clears_unlisted_fields() {
    check(
        "Deployment",
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        json!({"spec": {"strategy": {"type": "Recreate"}}}),
    );
    check(
        "Pod",
        json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
        json!({"spec": {"volumes": [{"$retainKeys": ["hostPath", "name"], "name": "v", "hostPath": {"path": "/x"}}]}}),
        json!({"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}]}}),
    );
}

#[test]
fn directives_inside_new_values_are_applied() {
    check(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{
                "name": "b",
                "$setElementOrder/env": [{"name": "X"}, {"name": "Y"}],
                "env": [{"name": "X"}, {"name": "Z", "$patch": "delete"}, {"name": "Y"}],
                "securityContext": {"$retainKeys": ["privileged"], "privileged": true}
            }]
        }}),
        json!({"spec": {"containers": [
            {"name": "a"},
            {"name": "b", "env": [{"name": "X"}, {"name": "Y"}], "securityContext": {"privileged": true}}
        ]}}),
    );
}

// ---- kubectl bodies -----------------------------------------------------------------------

#[test]
fn kubectl_apply_deployment_patch() {
    let original = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old"}},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "fe"}},
                "spec": {"containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.25",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "protocol": "TCP"}]
                    },
                    {"name": "side", "image": "busybox"}
                ]}
            }
        }
    });
    let patch = json!({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"..."}},
     "spec":{"replicas":4,"template":{"metadata":{"labels":{"tier":null}},"spec":{
       "$setElementOrder/containers":[{"name":"web"}],
       "containers":[{"name":"web","image":"nginx:1.27",
          "$setElementOrder/env":[{"name":"A"}],"env":[{"$patch":"delete","name":"B"}],
          "$setElementOrder/ports":[{"containerPort":80}],"ports":[{"$patch":"delete","containerPort":443}]},
         {"$patch":"delete","name":"side"}]}}}});
    let expected = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "..."}},
        "spec": {
            "replicas": 4,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": "nginx:1.27",
                    "env": [{"name": "A", "value": "1"}],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}]
                }]}
            }
        }
    });
    check("Deployment", original, patch, expected);
}

#[test]
fn kubectl_apply_service_patch() {
    let patch = json!({"spec":{"$setElementOrder/ports":[{"port":80},{"port":443}],"ports":[{"name":"https","port":443,"targetPort":443}]}});
    check(
        "Service",
        json!({"spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}}),
        patch.clone(),
        json!({"spec": {"type": "ClusterIP", "ports": [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
            {"name": "https", "port": 443, "targetPort": 443}
        ]}}),
    );
    // The order also corrects a live list that had the ports the other way round.
    check(
        "Service",
        json!({"spec": {"ports": [{"port": 443, "name": "old"}, {"port": 80, "name": "http"}]}}),
        patch,
        json!({"spec": {"ports": [
            {"port": 80, "name": "http"},
            {"port": 443, "name": "https", "targetPort": 443}
        ]}}),
    );
}

// ---- Errors -------------------------------------------------------------------------------

#[test]
fn keyed_element_without_its_key_is_rejected() {
    for patch in [
        json!({"spec": {"containers": [{"image": "x"}]}}),
        json!({"spec": {"containers": [{"$patch": "delete"}]}}),
        json!({"spec": {"containers": [{"name": "c", "ports": [{"name": "p"}]}]}}),
    ] {
        let error = check_err(
            "Pod",
            json!({"spec": {"containers": [{"name": "c"}]}}),
            patch,
        );
        assert!(
            matches!(error, PatchError::MissingMergeKey { .. }),
            "{error}"
        );
    }
    let error = check_err(
        "Pod",
        json!({"spec": {"containers": [{"name": "c", "ports": []}]}}),
        json!({"spec": {"containers": [{"name": "c", "ports": [{"name": "p"}]}]}}),
    );
    match error {
        PatchError::MissingMergeKey { path, key, .. } => {
            assert_eq!(
                (path.as_str(), key),
                ("spec.containers.ports", "containerPort")
            );
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn unknown_patch_directives_are_rejected() {
    for patch in [
        json!({"data": {"$patch": "frobnicate"}}),
        json!({"spec": {"containers": [{"name": "c", "$patch": "merge"}]}}),
        json!({"spec": {"containers": [{"name": "c", "$patch": 1}]}}),
    ] {
        let error = check_err("Pod", json!({"spec": {}}), patch);
        assert!(
            matches!(error, PatchError::UnknownDirective { .. }),
            "{error}"
        );
    }
}

#[test]
fn malformed_directives_are_rejected() {
    let original = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
    for patch in [
        // The patch list must follow the order list.
        json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                        "containers": [{"name": "b"}, {"name": "a"}]}}),
        json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "z"}]}}),
        json!({"spec": {"$setElementOrder/containers": "a"}}),
        json!({"spec": {"$setElementOrder/containers": ["a"], "containers": [{"name": "a"}]}}),
        json!({"spec": {"$setElementOrder": []}}),
        json!({"spec": {"$deleteFromPrimitiveList/": []}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
        // $retainKeys must list every field the patch sets.
        json!({"spec": {"$retainKeys": ["containers"], "hostNetwork": true}}),
        json!({"spec": {"$retainKeys": "containers"}}),
        json!({"spec": {"$retainKeys": [1]}}),
    ] {
        let error = check_err("Pod", original.clone(), patch.clone());
        assert!(
            matches!(error, PatchError::InvalidDirective { .. }),
            "{patch}: {error}"
        );
    }
    let error = check_err(
        "Pod",
        original,
        json!({"spec": {"$setElementOrder/containers": [{"image": "a"}]}}),
    );
    assert!(
        matches!(error, PatchError::MissingMergeKey { .. }),
        "{error}"
    );
}

#[test]
fn ill_typed_patches_are_rejected() {
    for (original, patch) in [
        (json!({}), json!([{"op": "add"}])),
        (json!({}), json!("string")),
        (
            json!({"spec": {}}),
            json!({"spec": {"containers": ["web"]}}),
        ),
        (
            json!({"metadata": {}}),
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
        ),
    ] {
        let error = check_err("Pod", original, patch.clone());
        assert!(
            matches!(error, PatchError::InvalidPatch(_)),
            "{patch}: {error}"
        );
    }
    let error = check_err("Pod", json!([1]), json!({}));
    assert!(matches!(error, PatchError::OriginalNotObject), "{error}");
}

// ---- Strategy table -----------------------------------------------------------------------

/// A kind, a list path in it, and the list map keys expected there.
type TableCase = (
    &'static str,
    &'static [&'static str],
    Option<&'static [&'static str]>,
);

#[test]
fn list_map_keys_table() {
    let cases: &[TableCase] = &[
        (
            "Deployment",
            &["spec", "template", "spec", "containers"],
            Some(&["name"]),
        ),
        (
            "Deployment",
            &["spec", "template", "spec", "containers", "ports"],
            Some(&["containerPort", "protocol"]),
        ),
        ("Pod", &["spec", "initContainers", "env"], Some(&["name"])),
        (
            "Pod",
            &["spec", "ephemeralContainers", "volumeMounts"],
            Some(&["mountPath"]),
        ),
        (
            "StatefulSet",
            &["spec", "template", "spec", "containers", "volumeDevices"],
            Some(&["devicePath"]),
        ),
        (
            "CronJob",
            &["spec", "jobTemplate", "spec", "template", "spec", "volumes"],
            Some(&["name"]),
        ),
        (
            "Job",
            &["spec", "template", "spec", "imagePullSecrets"],
            Some(&["name"]),
        ),
        (
            "DaemonSet",
            &["spec", "template", "spec", "hostAliases"],
            Some(&["ip"]),
        ),
        (
            "ReplicaSet",
            &["spec", "template", "spec", "topologySpreadConstraints"],
            Some(&["topologyKey", "whenUnsatisfiable"]),
        ),
        ("Service", &["spec", "ports"], Some(&["port", "protocol"])),
        ("Secret", &["metadata", "ownerReferences"], Some(&["uid"])),
        ("Node", &["status", "conditions"], Some(&["type"])),
        ("Node", &["status", "addresses"], Some(&["type"])),
        ("Pod", &["status", "podIPs"], Some(&["ip"])),
        ("Pod", &["spec", "tolerations"], None),
        ("Pod", &["spec", "containers", "args"], None),
        ("Pod", &["spec", "template", "spec", "containers"], None),
        ("Deployment", &["spec", "containers"], None),
        ("Ingress", &["spec", "rules"], None),
        ("EndpointSlice", &["endpoints"], None),
        ("Service", &["metadata", "finalizers"], None),
        ("Widget", &["spec", "template", "spec", "containers"], None),
    ];
    for (kind, path, expected) in cases {
        assert_eq!(list_map_keys(kind, path), *expected, "{kind} {path:?}");
    }
}

#[test]
fn merging_primitive_lists_table() {
    assert!(is_merging_primitive_list(
        "ConfigMap",
        &["metadata", "finalizers"]
    ));
    assert!(is_merging_primitive_list(
        "Deployment",
        &["spec", "template", "metadata", "finalizers"]
    ));
    assert!(is_merging_primitive_list("Node", &["spec", "podCIDRs"]));
    assert!(!is_merging_primitive_list(
        "Pod",
        &["spec", "containers", "args"]
    ));
    assert!(!is_merging_primitive_list("Pod", &["spec", "containers"]));
    assert!(!is_merging_primitive_list(
        "Namespace",
        &["spec", "finalizers"]
    ));
}
