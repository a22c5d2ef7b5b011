use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::{Value, json};

use super::desired;

fn svc(spec: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "d", "uid": "abcdef-1"},
        "spec": spec,
    }))
    .expect("service")
}

fn pod(name: &str, ip: Option<&str>, ready: bool, terminating: bool) -> Pod {
    let mut p = json!({
        "metadata": {"name": name, "namespace": "d", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
    });
    if let Some(ip) = ip {
        p["status"]["podIP"] = json!(ip);
    }
    if terminating {
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    serde_json::from_value(p).expect("pod")
}

fn web_spec() -> Value {
    json!({"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]})
}

#[test]
fn conditions_follow_pod_to_endpoint() {
    let pods = [
        pod("a", Some("127.244.0.2"), true, false),
        pod("b", Some("127.244.0.3"), false, false),
        pod("c", Some("127.244.0.4"), true, true),
        pod("d", None, true, false),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let (slice, endpoints) = desired(&svc(web_spec()), &refs, "now").expect("selector");
    let conds: Vec<(Value, Value)> = slice["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| (e["addresses"][0].clone(), e["conditions"].clone()))
        .collect();
    assert_eq!(
        conds,
        vec![
            (
                json!("127.244.0.2"),
                json!({"ready": true, "serving": true, "terminating": false})
            ),
            (
                json!("127.244.0.3"),
                json!({"ready": false, "serving": false, "terminating": false})
            ),
            (
                json!("127.244.0.4"),
                json!({"ready": false, "serving": true, "terminating": true})
            ),
        ]
    );
    // The named targetPort resolves to the container port.
    assert_eq!(
        slice["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    assert_eq!(slice["metadata"]["name"], "web-abcde");
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "web"
    );
    let subset = &endpoints["subsets"][0];
    assert_eq!(subset["addresses"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        subset["notReadyAddresses"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn publish_not_ready_addresses_makes_everything_ready() {
    let mut spec = web_spec();
    spec["publishNotReadyAddresses"] = json!(true);
    let pods = [pod("b", Some("127.244.0.3"), false, false)];
    let refs: Vec<&Pod> = pods.iter().collect();
    let (slice, _) = desired(&svc(spec), &refs, "now").expect("selector");
    assert_eq!(slice["endpoints"][0]["conditions"]["ready"], true);
    assert_eq!(slice["endpoints"][0]["conditions"]["serving"], false);
}

#[test]
fn services_without_a_selector_are_left_alone() {
    let spec = json!({"ports": [{"port": 80}]});
    assert!(desired(&svc(spec), &[], "now").is_none());
    let ext =
        json!({"type": "ExternalName", "externalName": "google.com", "selector": {"app": "web"}});
    assert!(desired(&svc(ext), &[], "now").is_none());
}

#[test]
fn numeric_target_ports_and_no_pods() {
    let spec = json!({"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 9090, "protocol": "UDP"}]});
    let (slice, endpoints) = desired(&svc(spec.clone()), &[], "now").expect("selector");
    assert_eq!(slice["endpoints"], json!([]));
    assert!(endpoints.get("subsets").is_none(), "no pods, no subsets");
    let pods = [pod("a", Some("127.244.0.2"), true, false)];
    let refs: Vec<&Pod> = pods.iter().collect();
    let (slice, _) = desired(&svc(spec), &refs, "now").expect("selector");
    assert_eq!(
        slice["ports"],
        json!([{"name": "", "port": 9090, "protocol": "UDP"}])
    );
}
