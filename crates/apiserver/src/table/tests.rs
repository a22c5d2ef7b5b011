//! Data-driven tests: each case names a kind, an object, a column and the cell expected there.

use super::*;
use jiff::SignedDuration;
use std::time::Duration;

fn now() -> Timestamp {
    "2025-01-01T00:00:00Z"
        .parse()
        .expect("fixed instant parses")
}

/// RFC 3339 text for the instant `secs` seconds before `now()` (negative means in the future).
fn ago(secs: i64) -> String {
    (now() - SignedDuration::from_secs(secs)).to_string()
}

fn opts() -> TableOptions {
    TableOptions {
        now: now(),
        include_object: IncludeObject::Metadata,
        no_headers: false,
        resource_version: "113".into(),
    }
}

/// The single row of a one-object table, keyed by column name.
fn row_of(kind: &str, obj: &Value) -> Vec<(String, Value)> {
    let t = table(kind, &[obj], &opts());
    let names: Vec<String> = t["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect();
    let cells = t["rows"][0]["cells"].as_array().expect("cells").clone();
    assert_eq!(names.len(), cells.len(), "{kind}: one cell per column");
    names.into_iter().zip(cells).collect()
}

/// Checks every case, then reports all mismatches together.
fn check(cases: &[(&str, &str, Value, &str, Value)]) {
    let mut failures = Vec::new();
    for (label, kind, obj, column, want) in cases {
        let row = row_of(kind, obj);
        match row.iter().find(|(name, _)| name == column) {
            Some((_, got)) if got == want => {}
            Some((_, got)) => {
                failures.push(format!("{label}: {kind}/{column}: got {got}, want {want}"))
            }
            None => failures.push(format!("{label}: {kind} has no column {column}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn human_duration_boundaries() {
    let cases: &[(u64, &str)] = &[
        (0, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "60s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 30 * 60, "3h30m"),
        (8 * 3600 - 1, "7h59m"),
        (8 * 3600, "8h"),
        (48 * 3600 - 1, "47h"),
        (48 * 3600, "2d"),
        (53 * 3600, "2d5h"),
        (8 * 86400 - 1, "7d23h"),
        (8 * 86400, "8d"),
        (730 * 86400 - 1, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400 - 1, "7y364d"),
        (8 * 365 * 86400, "8y"),
        (10 * 365 * 86400 + 100 * 86400, "10y"),
    ];
    let mut failures = Vec::new();
    for (secs, want) in cases {
        let got = human_duration(Duration::from_secs(*secs));
        if got != *want {
            failures.push(format!("{secs}s: got {got}, want {want}"));
        }
    }
    assert_eq!(human_duration(Duration::from_millis(1999)), "1s");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn age_cells() {
    let future_1500ms = (now() + SignedDuration::from_millis(1500)).to_string();
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "<unknown>"),
        (Some("not a time".into()), "<unknown>"),
        (Some("0001-01-01T00:00:00Z".into()), "<unknown>"),
        (Some(ago(0)), "0s"),
        (Some(ago(-1)), "0s"),
        (Some(future_1500ms), "0s"),
        (Some(ago(-2)), "<invalid>"),
        (Some(ago(-3600)), "<invalid>"),
        (Some(ago(300)), "5m"),
        (Some("2024-12-31T22:00:00+01:00".into()), "3h"),
        (Some("2024-12-31T23:59:00.5Z".into()), "59s"),
    ];
    for (input, want) in cases {
        assert_eq!(age(input.as_deref(), now()), want, "input {input:?}");
    }
}

#[test]
fn table_shape_and_object_modes() {
    let obj = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "108", "creationTimestamp": ago(300)},
        "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.13"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}], "selector": {"app": "web"}},
    });
    let t = table("Service", &[&obj], &opts());
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], json!({"resourceVersion": "113"}));
    assert_eq!(t["columnDefinitions"].as_array().map(Vec::len), Some(7));
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "web",
            "NodePort",
            "10.96.0.13",
            "<none>",
            "80:30080/TCP",
            "5m",
            "app=web"
        ])
    );
    assert_eq!(
        t["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
    );
    let selector = &t["columnDefinitions"][6];
    assert_eq!(selector["name"], "Selector");
    assert_eq!(selector["priority"], 1);
    let name = &t["columnDefinitions"][0];
    assert_eq!(
        (&name["type"], &name["format"], &name["priority"]),
        (&json!("string"), &json!("name"), &json!(0))
    );
    for c in t["columnDefinitions"].as_array().into_iter().flatten() {
        let keys: Vec<&String> = c
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 5, "column {c}");
        assert!(
            c["description"].as_str().is_some_and(|d| !d.is_empty()),
            "column {c}"
        );
    }

    let mut o = opts();
    o.include_object = IncludeObject::None;
    o.no_headers = true;
    o.resource_version = String::new();
    let t = table("Service", &[&obj, &obj], &o);
    assert_eq!(t["columnDefinitions"], json!([]));
    assert_eq!(t["metadata"], json!({}));
    assert_eq!(t["rows"].as_array().map(Vec::len), Some(2));
    assert!(t["rows"][0].get("object").is_none());

    // Full objects keep what they have and gain the kind and apiVersion they lack.
    o.include_object = IncludeObject::Object;
    let bare = json!({"metadata": {"name": "d"}, "spec": {}});
    let t = table("Deployment", &[&obj, &bare], &o);
    assert_eq!(t["rows"][0]["object"], obj);
    assert_eq!(t["rows"][1]["object"]["kind"], "Deployment");
    assert_eq!(t["rows"][1]["object"]["apiVersion"], "apps/v1");
    assert_eq!(t["rows"][1]["object"]["spec"], json!({}));

    let empty = table("Pod", &[], &opts());
    assert_eq!(empty["rows"], json!([]));
    assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
}

/// A column's name, type and priority.
type ColumnSpec = (&'static str, &'static str, i64);

#[test]
fn column_definitions_per_kind() {
    let cases: &[(&str, &[ColumnSpec])] = &[
        (
            "Service",
            &[
                ("Name", "string", 0),
                ("Type", "string", 0),
                ("Cluster-IP", "string", 0),
                ("External-IP", "string", 0),
                ("Port(s)", "string", 0),
                ("Age", "string", 0),
                ("Selector", "string", 1),
            ],
        ),
        (
            "Endpoints",
            &[
                ("Name", "string", 0),
                ("Endpoints", "string", 0),
                ("Age", "string", 0),
            ],
        ),
        (
            "Pod",
            &[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Status", "string", 0),
                ("Restarts", "string", 0),
                ("Age", "string", 0),
                ("IP", "string", 1),
                ("Node", "string", 1),
                ("Nominated Node", "string", 1),
                ("Readiness Gates", "string", 1),
            ],
        ),
        (
            "Deployment",
            &[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Up-to-date", "string", 0),
                ("Available", "string", 0),
                ("Age", "string", 0),
                ("Containers", "string", 1),
                ("Images", "string", 1),
                ("Selector", "string", 1),
            ],
        ),
        (
            "ReplicaSet",
            &[
                ("Name", "string", 0),
                ("Desired", "integer", 0),
                ("Current", "integer", 0),
                ("Ready", "integer", 0),
                ("Age", "string", 0),
                ("Containers", "string", 1),
                ("Images", "string", 1),
                ("Selector", "string", 1),
            ],
        ),
        (
            "StatefulSet",
            &[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Age", "string", 0),
                ("Containers", "string", 1),
                ("Images", "string", 1),
            ],
        ),
        (
            "DaemonSet",
            &[
                ("Name", "string", 0),
                ("Desired", "integer", 0),
                ("Current", "integer", 0),
                ("Ready", "integer", 0),
                ("Up-to-date", "integer", 0),
                ("Available", "integer", 0),
                ("Node Selector", "string", 0),
                ("Age", "string", 0),
                ("Containers", "string", 1),
                ("Images", "string", 1),
                ("Selector", "string", 1),
            ],
        ),
        (
            "Job",
            &[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Completions", "string", 0),
                ("Duration", "string", 0),
                ("Age", "string", 0),
                ("Containers", "string", 1),
                ("Images", "string", 1),
                ("Selector", "string", 1),
            ],
        ),
        (
            "Ingress",
            &[
                ("Name", "string", 0),
                ("Class", "string", 0),
                ("Hosts", "string", 0),
                ("Address", "string", 0),
                ("Ports", "string", 0),
                ("Age", "string", 0),
            ],
        ),
        (
            "IngressClass",
            &[
                ("Name", "string", 0),
                ("Controller", "string", 0),
                ("Parameters", "string", 0),
                ("Age", "string", 0),
            ],
        ),
        (
            "Secret",
            &[
                ("Name", "string", 0),
                ("Type", "string", 0),
                ("Data", "string", 0),
                ("Age", "string", 0),
            ],
        ),
        (
            "EndpointSlice",
            &[
                ("Name", "string", 0),
                ("AddressType", "string", 0),
                ("Ports", "string", 0),
                ("Endpoints", "string", 0),
                ("Age", "string", 0),
            ],
        ),
        (
            "Namespace",
            &[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Age", "string", 0),
            ],
        ),
        (
            "Node",
            &[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Roles", "string", 0),
                ("Age", "string", 0),
                ("Version", "string", 0),
                ("Internal-IP", "string", 1),
                ("External-IP", "string", 1),
                ("OS-Image", "string", 1),
                ("Kernel-Version", "string", 1),
                ("Container-Runtime", "string", 1),
            ],
        ),
        (
            "Event",
            &[
                ("Last Seen", "string", 0),
                ("Type", "string", 0),
                ("Reason", "string", 0),
                ("Object", "string", 0),
                ("Subobject", "string", 1),
                ("Source", "string", 1),
                ("Message", "string", 0),
                ("First Seen", "string", 1),
                ("Count", "string", 1),
                ("Name", "string", 1),
            ],
        ),
        (
            "ConfigMap",
            &[
                ("Name", "string", 0),
                ("Data", "string", 0),
                ("Age", "string", 0),
            ],
        ),
        (
            "ServiceAccount",
            &[
                ("Name", "string", 0),
                ("Secrets", "string", 0),
                ("Age", "string", 0),
            ],
        ),
        (
            "Lease",
            &[
                ("Name", "string", 0),
                ("Holder", "string", 0),
                ("Age", "string", 0),
            ],
        ),
        (
            "Widget",
            &[("Name", "string", 0), ("Created At", "date", 0)],
        ),
    ];
    for (kind, want) in cases {
        let t = table(kind, &[], &opts());
        let got: Vec<(String, String, i64)> = t["columnDefinitions"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["type"].as_str().unwrap_or("").to_string(),
                    c["priority"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        let want: Vec<(String, String, i64)> = want
            .iter()
            .map(|(n, t, p)| (n.to_string(), t.to_string(), *p))
            .collect();
        assert_eq!(got, want, "{kind}");
        // Only the Name column carries a format, and every kind has one.
        for c in t["columnDefinitions"].as_array().into_iter().flatten() {
            let format = if c["name"] == "Name" { "name" } else { "" };
            assert_eq!(c["format"], format, "{kind} {}", c["name"]);
        }
        // An empty object must still give one cell per column without panicking.
        let row = row_of(kind, &json!({}));
        assert_eq!(row.len(), want.len(), "{kind}");
    }
}

#[test]
fn service_cells() {
    let svc = |spec: Value, status: Value| json!({"metadata": {"name": "s"}, "spec": spec, "status": status});
    check(&[
        (
            "cluster ip",
            "Service",
            svc(
                json!({"type": "ClusterIP", "clusterIPs": ["10.0.0.1"]}),
                json!({}),
            ),
            "Cluster-IP",
            json!("10.0.0.1"),
        ),
        (
            "only clusterIP",
            "Service",
            svc(
                json!({"type": "ClusterIP", "clusterIP": "10.0.0.2"}),
                json!({}),
            ),
            "Cluster-IP",
            json!("10.0.0.2"),
        ),
        (
            "no cluster ip",
            "Service",
            svc(
                json!({"type": "ExternalName", "externalName": "db.example.com"}),
                json!({}),
            ),
            "Cluster-IP",
            json!("<none>"),
        ),
        (
            "headless",
            "Service",
            svc(
                json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}),
                json!({}),
            ),
            "Cluster-IP",
            json!("None"),
        ),
        (
            "clusterip no external",
            "Service",
            svc(json!({"type": "ClusterIP"}), json!({})),
            "External-IP",
            json!("<none>"),
        ),
        (
            "clusterip external ips",
            "Service",
            svc(
                json!({"type": "ClusterIP", "externalIPs": ["1.2.3.4", "5.6.7.8"]}),
                json!({}),
            ),
            "External-IP",
            json!("1.2.3.4,5.6.7.8"),
        ),
        (
            "nodeport no external",
            "Service",
            svc(json!({"type": "NodePort"}), json!({})),
            "External-IP",
            json!("<none>"),
        ),
        (
            "lb pending",
            "Service",
            svc(json!({"type": "LoadBalancer"}), json!({"loadBalancer": {}})),
            "External-IP",
            json!("<pending>"),
        ),
        (
            "lb sorted dedup, hostname fallback",
            "Service",
            svc(
                json!({"type": "LoadBalancer"}),
                json!({"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}, {"hostname": "lb.example.com"}, {"ip": "1.1.1.1", "hostname": "ignored"}, {"ip": "9.9.9.9"}, {}]}}),
            ),
            "External-IP",
            json!("1.1.1.1,9.9.9.9,lb.example.com"),
        ),
        (
            "lb plus external ips",
            "Service",
            svc(
                json!({"type": "LoadBalancer", "externalIPs": ["7.7.7.7"]}),
                json!({"loadBalancer": {"ingress": [{"ip": "2.2.2.2"}]}}),
            ),
            "External-IP",
            json!("2.2.2.2,7.7.7.7"),
        ),
        (
            "lb only external ips",
            "Service",
            svc(
                json!({"type": "LoadBalancer", "externalIPs": ["7.7.7.7"]}),
                json!({}),
            ),
            "External-IP",
            json!("7.7.7.7"),
        ),
        (
            "lb long list is not clipped",
            "Service",
            svc(
                json!({"type": "LoadBalancer"}),
                json!({"loadBalancer": {"ingress": [{"hostname": "a-very-long-load-balancer-name.example.com"}]}}),
            ),
            "External-IP",
            json!("a-very-long-load-balancer-name.example.com"),
        ),
        (
            "external name",
            "Service",
            svc(
                json!({"type": "ExternalName", "externalName": "db.example.com"}),
                json!({}),
            ),
            "External-IP",
            json!("db.example.com"),
        ),
        (
            "unknown type",
            "Service",
            svc(json!({}), json!({})),
            "External-IP",
            json!("<unknown>"),
        ),
        (
            "ports",
            "Service",
            svc(
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}, {"port": 53, "protocol": "UDP", "nodePort": 0}]}),
                json!({}),
            ),
            "Port(s)",
            json!("80:30080/TCP,443/TCP,53/UDP"),
        ),
        (
            "no ports",
            "Service",
            svc(json!({"type": "ClusterIP", "ports": []}), json!({})),
            "Port(s)",
            json!("<none>"),
        ),
        (
            "selector sorted",
            "Service",
            svc(
                json!({"selector": {"tier": "web", "app": "shop"}}),
                json!({}),
            ),
            "Selector",
            json!("app=shop,tier=web"),
        ),
        (
            "no selector",
            "Service",
            svc(json!({}), json!({})),
            "Selector",
            json!("<none>"),
        ),
        (
            "empty selector",
            "Service",
            svc(json!({"selector": {}}), json!({})),
            "Selector",
            json!("<none>"),
        ),
        (
            "type",
            "Service",
            svc(json!({"type": "LoadBalancer"}), json!({})),
            "Type",
            json!("LoadBalancer"),
        ),
    ]);
}

#[test]
fn endpoints_cells() {
    let ep = |subsets: Value| json!({"metadata": {"name": "e"}, "subsets": subsets});
    let addrs = |ips: &[&str]| Value::Array(ips.iter().map(|ip| json!({"ip": ip})).collect());
    check(&[
        (
            "no subsets",
            "Endpoints",
            json!({"metadata": {"name": "e"}}),
            "Endpoints",
            json!("<none>"),
        ),
        (
            "empty subsets",
            "Endpoints",
            ep(json!([])),
            "Endpoints",
            json!("<none>"),
        ),
        (
            "one",
            "Endpoints",
            ep(json!([{"addresses": addrs(&["10.1.0.5"]), "ports": [{"port": 8080}]}])),
            "Endpoints",
            json!("10.1.0.5:8080"),
        ),
        (
            "three exactly",
            "Endpoints",
            ep(
                json!([{"addresses": addrs(&["10.1.0.1", "10.1.0.2", "10.1.0.3"]), "ports": [{"port": 80}]}]),
            ),
            "Endpoints",
            json!("10.1.0.1:80,10.1.0.2:80,10.1.0.3:80"),
        ),
        (
            "more than three",
            "Endpoints",
            ep(
                json!([{"addresses": addrs(&["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5"]), "ports": [{"port": 80}]}]),
            ),
            "Endpoints",
            json!("10.1.0.1:80,10.1.0.2:80,10.1.0.3:80 + 2 more..."),
        ),
        (
            "ports times addresses",
            "Endpoints",
            ep(
                json!([{"addresses": addrs(&["10.1.0.1", "10.1.0.2"]), "ports": [{"port": 80}, {"port": 443}]}]),
            ),
            "Endpoints",
            json!("10.1.0.1:80,10.1.0.2:80,10.1.0.1:443 + 1 more..."),
        ),
        (
            "no ports lists ips",
            "Endpoints",
            ep(json!([{"addresses": addrs(&["10.1.0.1", "10.1.0.2"])}])),
            "Endpoints",
            json!("10.1.0.1,10.1.0.2"),
        ),
        (
            "ipv6",
            "Endpoints",
            ep(json!([{"addresses": addrs(&["fd00::1"]), "ports": [{"port": 80}]}])),
            "Endpoints",
            json!("[fd00::1]:80"),
        ),
        (
            "not ready ignored",
            "Endpoints",
            ep(json!([{"notReadyAddresses": addrs(&["10.1.0.9"]), "ports": [{"port": 80}]}])),
            "Endpoints",
            json!(""),
        ),
        (
            "across subsets",
            "Endpoints",
            ep(
                json!([{"addresses": addrs(&["10.0.0.1", "10.0.0.2"]), "ports": [{"port": 80}]}, {"addresses": addrs(&["10.0.0.3", "10.0.0.4"]), "ports": [{"port": 81}]}]),
            ),
            "Endpoints",
            json!("10.0.0.1:80,10.0.0.2:80,10.0.0.3:81 + 1 more..."),
        ),
    ]);
}

#[test]
fn endpoint_slice_cells() {
    let slice = |ports: Value, endpoints: Value| json!({"metadata": {"name": "es"}, "addressType": "IPv4", "ports": ports, "endpoints": endpoints});
    check(&[
        (
            "address type",
            "EndpointSlice",
            slice(json!([]), json!([])),
            "AddressType",
            json!("IPv4"),
        ),
        (
            "no ports",
            "EndpointSlice",
            slice(json!([]), json!([])),
            "Ports",
            json!("<unset>"),
        ),
        (
            "null ports",
            "EndpointSlice",
            json!({"metadata": {"name": "es"}, "ports": null}),
            "Ports",
            json!("<unset>"),
        ),
        (
            "no endpoints",
            "EndpointSlice",
            slice(json!([]), json!([])),
            "Endpoints",
            json!("<unset>"),
        ),
        (
            "port, name, star",
            "EndpointSlice",
            slice(
                json!([{"port": 80, "name": "http"}, {"name": "metrics"}, {}]),
                json!([]),
            ),
            "Ports",
            json!("80,metrics,*"),
        ),
        (
            "ports more",
            "EndpointSlice",
            slice(
                json!([{"port": 1}, {"port": 2}, {"port": 3}, {"port": 4}, {"port": 5}]),
                json!([]),
            ),
            "Ports",
            json!("1,2,3 + 2 more..."),
        ),
        (
            "endpoints across, ready or not",
            "EndpointSlice",
            slice(
                json!([]),
                json!([{"addresses": ["10.0.0.1"], "conditions": {"ready": false}}, {"addresses": ["10.0.0.2", "10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]),
            ),
            "Endpoints",
            json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."),
        ),
        (
            "endpoints few",
            "EndpointSlice",
            slice(json!([]), json!([{"addresses": ["10.0.0.1"]}])),
            "Endpoints",
            json!("10.0.0.1"),
        ),
    ]);
}

/// A pod with the given spec and status; `status` may use `phase`, `conditions`, container statuses and so on.
fn pod(spec: Value, status: Value) -> Value {
    json!({"metadata": {"name": "p", "creationTimestamp": ago(600)}, "spec": spec, "status": status})
}

fn one_container() -> Value {
    json!({"containers": [{"name": "app", "image": "nginx"}]})
}

#[test]
fn pod_cells() {
    let running = json!({"running": {"startedAt": ago(500)}});
    check(&[
        (
            "running ready",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": running}]}),
            ),
            "Ready",
            json!("1/1"),
        ),
        (
            "running status",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "state": running}]}),
            ),
            "Status",
            json!("Running"),
        ),
        (
            "pending no statuses",
            "Pod",
            pod(one_container(), json!({"phase": "Pending"})),
            "Status",
            json!("Pending"),
        ),
        (
            "pending ready",
            "Pod",
            pod(one_container(), json!({"phase": "Pending"})),
            "Ready",
            json!("0/1"),
        ),
        (
            "status reason wins",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Failed", "reason": "Evicted"}),
            ),
            "Status",
            json!("Evicted"),
        ),
        (
            "scheduling gated",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
            ),
            "Status",
            json!("SchedulingGated"),
        ),
        (
            "crash loop",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}}]}),
            ),
            "Status",
            json!("CrashLoopBackOff"),
        ),
        (
            "restarts with age",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}}]}),
            ),
            "Restarts",
            json!("4 (30s ago)"),
        ),
        (
            "restarts without last termination",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 2, "state": running}]}),
            ),
            "Restarts",
            json!("2"),
        ),
        (
            "restarts summed, latest time",
            "Pod",
            pod(
                json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                json!({"phase": "Running", "containerStatuses": [
                    {"name": "a", "ready": true, "restartCount": 1, "state": running, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(7200)}}},
                    {"name": "b", "ready": true, "restartCount": 2, "state": running, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(150)}}}
                ]}),
            ),
            "Restarts",
            json!("3 (2m30s ago)"),
        ),
        (
            "zero restarts",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Running", "containerStatuses": [{"name": "app", "restartCount": 0}]}),
            ),
            "Restarts",
            json!("0"),
        ),
        (
            "completed",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Succeeded", "containerStatuses": [{"name": "app", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
            ),
            "Status",
            json!("Completed"),
        ),
        (
            "exit code without reason",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Failed", "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 3}}}]}),
            ),
            "Status",
            json!("ExitCode:3"),
        ),
        (
            "signal without reason",
            "Pod",
            pod(
                one_container(),
                json!({"phase": "Failed", "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
            ),
            "Status",
            json!("Signal:9"),
        ),
        (
            "completed but one still running and ready",
            "Pod",
            pod(
                json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [
                    {"name": "a", "ready": true, "state": running},
                    {"name": "b", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
                ]}),
            ),
            "Status",
            json!("Running"),
        ),
        (
            "completed but one still running, pod not ready",
            "Pod",
            pod(
                json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": [
                    {"name": "a", "ready": true, "state": running},
                    {"name": "b", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
                ]}),
            ),
            "Status",
            json!("NotReady"),
        ),
        (
            "first container's reason wins",
            "Pod",
            pod(
                json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                json!({"phase": "Pending", "containerStatuses": [
                    {"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
                    {"name": "b", "state": {"waiting": {"reason": "ContainerCreating"}}}
                ]}),
            ),
            "Status",
            json!("ImagePullBackOff"),
        ),
        (
            "terminating",
            "Pod",
            json!({"metadata": {"name": "p", "deletionTimestamp": ago(5)}, "spec": one_container(), "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "state": running}]}}),
            "Status",
            json!("Terminating"),
        ),
        (
            "deleted but finished is not terminating",
            "Pod",
            json!({"metadata": {"name": "p", "deletionTimestamp": ago(5)}, "spec": one_container(), "status": {"phase": "Succeeded", "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}),
            "Status",
            json!("Completed"),
        ),
        (
            "node lost",
            "Pod",
            json!({"metadata": {"name": "p", "deletionTimestamp": ago(5)}, "spec": one_container(), "status": {"phase": "Running", "reason": "NodeLost"}}),
            "Status",
            json!("Unknown"),
        ),
        (
            "init waiting",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "init"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "init", "state": {"waiting": {"reason": "ErrImagePull"}}}], "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
            ),
            "Status",
            json!("Init:ErrImagePull"),
        ),
        (
            "init progress",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "i2", "state": {"running": {}}}
                ], "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
            ),
            "Status",
            json!("Init:1/2"),
        ),
        (
            "init pod initializing reads as progress",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
            ),
            "Status",
            json!("Init:0/1"),
        ),
        (
            "init exit code",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 2}}}]}),
            ),
            "Status",
            json!("Init:ExitCode:2"),
        ),
        (
            "init signal",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
            ),
            "Status",
            json!("Init:Signal:9"),
        ),
        (
            "init reason",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
            ),
            "Status",
            json!("Init:Error"),
        ),
        (
            "init restarts only while initializing",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}], "containerStatuses": [{"name": "app", "restartCount": 0}]}),
            ),
            "Restarts",
            json!("3"),
        ),
        (
            "plain init restarts drop once initialized",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Running", "initContainerStatuses": [{"name": "i1", "restartCount": 3, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}], "containerStatuses": [{"name": "app", "restartCount": 1, "ready": true, "state": running}]}),
            ),
            "Restarts",
            json!("1"),
        ),
        (
            "sidecar counts toward ready and total",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Running", "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 2, "state": running}], "containerStatuses": [{"name": "app", "ready": true, "restartCount": 1, "state": running}]}),
            ),
            "Ready",
            json!("2/2"),
        ),
        (
            "sidecar restarts kept",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Running", "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 2, "state": running}], "containerStatuses": [{"name": "app", "ready": true, "restartCount": 1, "state": running}]}),
            ),
            "Restarts",
            json!("3"),
        ),
        (
            "sidecar not started yet",
            "Pod",
            pod(
                json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "proxy", "started": false, "state": {"running": {}}}]}),
            ),
            "Status",
            json!("Init:0/1"),
        ),
        (
            "ip from podIPs",
            "Pod",
            pod(
                one_container(),
                json!({"podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}]}),
            ),
            "IP",
            json!("10.0.0.7"),
        ),
        (
            "ip from podIP",
            "Pod",
            pod(one_container(), json!({"podIP": "10.0.0.9"})),
            "IP",
            json!("10.0.0.9"),
        ),
        (
            "no ip",
            "Pod",
            pod(one_container(), json!({})),
            "IP",
            json!("<none>"),
        ),
        (
            "node",
            "Pod",
            pod(json!({"nodeName": "n1", "containers": []}), json!({})),
            "Node",
            json!("n1"),
        ),
        (
            "no node",
            "Pod",
            pod(one_container(), json!({})),
            "Node",
            json!("<none>"),
        ),
        (
            "nominated",
            "Pod",
            pod(one_container(), json!({"nominatedNodeName": "n2"})),
            "Nominated Node",
            json!("n2"),
        ),
        (
            "no nominated",
            "Pod",
            pod(one_container(), json!({})),
            "Nominated Node",
            json!("<none>"),
        ),
        (
            "no gates",
            "Pod",
            pod(one_container(), json!({})),
            "Readiness Gates",
            json!("<none>"),
        ),
        (
            "gates",
            "Pod",
            pod(
                json!({"containers": [], "readinessGates": [{"conditionType": "a"}, {"conditionType": "b"}, {"conditionType": "c"}]}),
                json!({"conditions": [{"type": "a", "status": "True"}, {"type": "b", "status": "False"}]}),
            ),
            "Readiness Gates",
            json!("1/3"),
        ),
        (
            "age",
            "Pod",
            pod(one_container(), json!({})),
            "Age",
            json!("10m"),
        ),
    ]);
}

#[test]
fn pod_row_conditions() {
    let succeeded = pod(one_container(), json!({"phase": "Succeeded"}));
    let failed = pod(one_container(), json!({"phase": "Failed"}));
    let running = pod(one_container(), json!({"phase": "Running"}));
    let t = table("Pod", &[&succeeded, &failed, &running], &opts());
    assert_eq!(t["rows"][0]["conditions"][0]["type"], "Completed");
    assert_eq!(t["rows"][0]["conditions"][0]["status"], "True");
    assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
    assert_eq!(t["rows"][1]["conditions"][0]["reason"], "Failed");
    assert!(t["rows"][2].get("conditions").is_none());
}

fn workload(kind_fields: Value) -> Value {
    let mut o = json!({
        "metadata": {"name": "w", "creationTimestamp": ago(90)},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}}},
    });
    if let (Some(target), Some(extra)) = (o.as_object_mut(), kind_fields.as_object()) {
        for (k, v) in extra {
            if k == "spec" {
                if let (Some(spec), Some(more)) = (
                    target.get_mut("spec").and_then(Value::as_object_mut),
                    v.as_object(),
                ) {
                    spec.extend(more.clone());
                }
            } else {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    o
}

#[test]
fn deployment_full_row() {
    let d = workload(json!({
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}, {"key": "env", "operator": "NotIn", "values": ["dev"]}, {"key": "canary", "operator": "DoesNotExist"}, {"key": "zone", "operator": "Exists"}]}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }));
    let t = table("Deployment", &[&d], &opts());
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "w",
            "2/3",
            3,
            2,
            "90s",
            "web,log",
            "nginx:1.27,busybox",
            "app=web,!canary,env notin (dev),tier in (a,b),zone"
        ])
    );
}

#[test]
fn workload_cells() {
    check(&[
        (
            "deploy no status",
            "Deployment",
            workload(json!({"spec": {"replicas": 2}})),
            "Ready",
            json!("0/2"),
        ),
        (
            "deploy default replicas",
            "Deployment",
            workload(json!({})),
            "Ready",
            json!("0/1"),
        ),
        (
            "deploy zero replicas",
            "Deployment",
            workload(json!({"spec": {"replicas": 0}})),
            "Ready",
            json!("0/0"),
        ),
        (
            "deploy up-to-date integer",
            "Deployment",
            workload(json!({"status": {"updatedReplicas": 4}})),
            "Up-to-date",
            json!(4),
        ),
        (
            "deploy available integer",
            "Deployment",
            workload(json!({})),
            "Available",
            json!(0),
        ),
        (
            "deploy match labels",
            "Deployment",
            workload(json!({"spec": {"selector": {"matchLabels": {"b": "2", "a": "1"}}}})),
            "Selector",
            json!("a=1,b=2"),
        ),
        (
            "deploy empty selector",
            "Deployment",
            workload(json!({"spec": {"selector": {}}})),
            "Selector",
            json!(""),
        ),
        (
            "deploy no selector",
            "Deployment",
            workload(json!({})),
            "Selector",
            json!(""),
        ),
        (
            "deploy bad operator",
            "Deployment",
            workload(
                json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}}),
            ),
            "Selector",
            json!("<invalid>"),
        ),
        (
            "deploy in without values",
            "Deployment",
            workload(
                json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}}}),
            ),
            "Selector",
            json!("<invalid>"),
        ),
        (
            "deploy exists with values",
            "Deployment",
            workload(
                json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}}}),
            ),
            "Selector",
            json!("<invalid>"),
        ),
        (
            "deploy bad key",
            "Deployment",
            workload(json!({"spec": {"selector": {"matchLabels": {"bad key": "x"}}}})),
            "Selector",
            json!("<invalid>"),
        ),
        (
            "deploy bad value",
            "Deployment",
            workload(json!({"spec": {"selector": {"matchLabels": {"k": "-x"}}}})),
            "Selector",
            json!("<invalid>"),
        ),
        (
            "deploy prefixed key",
            "Deployment",
            workload(
                json!({"spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "web"}}}}),
            ),
            "Selector",
            json!("app.kubernetes.io/name=web"),
        ),
        (
            "deploy empty value",
            "Deployment",
            workload(json!({"spec": {"selector": {"matchLabels": {"k": ""}}}})),
            "Selector",
            json!("k="),
        ),
        (
            "deploy containers",
            "Deployment",
            workload(json!({})),
            "Containers",
            json!("web,log"),
        ),
        (
            "deploy images",
            "Deployment",
            workload(json!({})),
            "Images",
            json!("nginx:1.27,busybox"),
        ),
        (
            "rs desired",
            "ReplicaSet",
            workload(json!({"spec": {"replicas": 5}})),
            "Desired",
            json!(5),
        ),
        (
            "rs current",
            "ReplicaSet",
            workload(json!({"status": {"replicas": 4}})),
            "Current",
            json!(4),
        ),
        (
            "rs ready",
            "ReplicaSet",
            workload(json!({"status": {"readyReplicas": 3}})),
            "Ready",
            json!(3),
        ),
        (
            "rs selector",
            "ReplicaSet",
            workload(
                json!({"spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": "abc"}}}}),
            ),
            "Selector",
            json!("app=web,pod-template-hash=abc"),
        ),
        (
            "rs no selector",
            "ReplicaSet",
            workload(json!({})),
            "Selector",
            json!("<none>"),
        ),
        (
            "rs bad selector",
            "ReplicaSet",
            workload(
                json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}}),
            ),
            "Selector",
            json!("<error>"),
        ),
        (
            "sts ready",
            "StatefulSet",
            workload(json!({"spec": {"replicas": 3}, "status": {"readyReplicas": 1}})),
            "Ready",
            json!("1/3"),
        ),
        (
            "sts images",
            "StatefulSet",
            workload(json!({})),
            "Images",
            json!("nginx:1.27,busybox"),
        ),
        (
            "ds desired",
            "DaemonSet",
            workload(json!({"status": {"desiredNumberScheduled": 3}})),
            "Desired",
            json!(3),
        ),
        (
            "ds current",
            "DaemonSet",
            workload(json!({"status": {"currentNumberScheduled": 2}})),
            "Current",
            json!(2),
        ),
        (
            "ds ready",
            "DaemonSet",
            workload(json!({"status": {"numberReady": 1}})),
            "Ready",
            json!(1),
        ),
        (
            "ds up-to-date",
            "DaemonSet",
            workload(json!({"status": {"updatedNumberScheduled": 2}})),
            "Up-to-date",
            json!(2),
        ),
        (
            "ds available",
            "DaemonSet",
            workload(json!({"status": {"numberAvailable": 2}})),
            "Available",
            json!(2),
        ),
        (
            "ds no node selector",
            "DaemonSet",
            workload(json!({})),
            "Node Selector",
            json!("<none>"),
        ),
        (
            "ds node selector",
            "DaemonSet",
            json!({"metadata": {"name": "ds"}, "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux", "disk": "ssd"}}}}}),
            "Node Selector",
            json!("disk=ssd,kubernetes.io/os=linux"),
        ),
        (
            "ds selector",
            "DaemonSet",
            workload(json!({"spec": {"selector": {"matchLabels": {"app": "agent"}}}})),
            "Selector",
            json!("app=agent"),
        ),
    ]);
}

#[test]
fn job_cells() {
    let job = |spec: Value, status: Value| json!({"metadata": {"name": "j"}, "spec": spec, "status": status});
    check(&[
        (
            "completions",
            "Job",
            job(json!({"completions": 3}), json!({"succeeded": 1})),
            "Completions",
            json!("1/3"),
        ),
        (
            "no completions",
            "Job",
            job(json!({}), json!({})),
            "Completions",
            json!("0/1"),
        ),
        (
            "work queue",
            "Job",
            job(json!({"parallelism": 4}), json!({"succeeded": 2})),
            "Completions",
            json!("2/1 of 4"),
        ),
        (
            "not started",
            "Job",
            job(json!({}), json!({})),
            "Duration",
            json!(""),
        ),
        (
            "running duration",
            "Job",
            job(json!({}), json!({"startTime": ago(200)})),
            "Duration",
            json!("3m20s"),
        ),
        (
            "finished duration",
            "Job",
            job(
                json!({}),
                json!({"startTime": ago(4000), "completionTime": ago(3940)}),
            ),
            "Duration",
            json!("60s"),
        ),
        (
            "running",
            "Job",
            job(json!({}), json!({})),
            "Status",
            json!("Running"),
        ),
        (
            "complete",
            "Job",
            job(
                json!({}),
                json!({"conditions": [{"type": "Complete", "status": "True"}]}),
            ),
            "Status",
            json!("Complete"),
        ),
        (
            "failed",
            "Job",
            job(
                json!({}),
                json!({"conditions": [{"type": "Failed", "status": "True"}]}),
            ),
            "Status",
            json!("Failed"),
        ),
        (
            "suspended",
            "Job",
            job(
                json!({}),
                json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
            ),
            "Status",
            json!("Suspended"),
        ),
        (
            "failure target",
            "Job",
            job(
                json!({}),
                json!({"conditions": [{"type": "FailureTarget", "status": "True"}]}),
            ),
            "Status",
            json!("FailureTarget"),
        ),
        (
            "false condition ignored",
            "Job",
            job(
                json!({}),
                json!({"conditions": [{"type": "Complete", "status": "False"}]}),
            ),
            "Status",
            json!("Running"),
        ),
        (
            "terminating",
            "Job",
            json!({"metadata": {"name": "j", "deletionTimestamp": ago(1)}, "spec": {}, "status": {"conditions": [{"type": "Suspended", "status": "True"}]}}),
            "Status",
            json!("Terminating"),
        ),
        (
            "selector",
            "Job",
            job(
                json!({"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}}}),
                json!({}),
            ),
            "Selector",
            json!("batch.kubernetes.io/controller-uid=abc"),
        ),
    ]);
}

#[test]
fn ingress_cells() {
    let ing = |spec: Value, status: Value| json!({"metadata": {"name": "i"}, "spec": spec, "status": status});
    let rules = |hosts: &[&str]| {
        Value::Array(
            hosts
                .iter()
                .map(|h| {
                    if h.is_empty() {
                        json!({})
                    } else {
                        json!({"host": h})
                    }
                })
                .collect(),
        )
    };
    check(&[
        (
            "class",
            "Ingress",
            ing(json!({"ingressClassName": "nginx"}), json!({})),
            "Class",
            json!("nginx"),
        ),
        (
            "no class",
            "Ingress",
            ing(json!({}), json!({})),
            "Class",
            json!("<none>"),
        ),
        (
            "no rules",
            "Ingress",
            ing(json!({}), json!({})),
            "Hosts",
            json!("*"),
        ),
        (
            "rules without hosts",
            "Ingress",
            ing(json!({"rules": rules(&["", ""])}), json!({})),
            "Hosts",
            json!("*"),
        ),
        (
            "hosts",
            "Ingress",
            ing(json!({"rules": rules(&["a.com", "", "b.com"])}), json!({})),
            "Hosts",
            json!("a.com,b.com"),
        ),
        (
            "hosts more",
            "Ingress",
            ing(
                json!({"rules": rules(&["a.com", "b.com", "c.com", "d.com", "e.com"])}),
                json!({}),
            ),
            "Hosts",
            json!("a.com,b.com,c.com + 2 more..."),
        ),
        (
            "no address",
            "Ingress",
            ing(json!({}), json!({})),
            "Address",
            json!(""),
        ),
        (
            "address",
            "Ingress",
            ing(
                json!({}),
                json!({"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}, {"hostname": "lb.example.com"}, {"ip": "1.1.1.1"}, {"ip": "1.1.1.1"}]}}),
            ),
            "Address",
            json!("1.1.1.1,9.9.9.9,lb.example.com"),
        ),
        (
            "ports plain",
            "Ingress",
            ing(json!({}), json!({})),
            "Ports",
            json!("80"),
        ),
        (
            "ports tls",
            "Ingress",
            ing(
                json!({"tls": [{"hosts": ["a.com"], "secretName": "tls"}]}),
                json!({}),
            ),
            "Ports",
            json!("80, 443"),
        ),
        (
            "ports empty tls",
            "Ingress",
            ing(json!({"tls": []}), json!({})),
            "Ports",
            json!("80"),
        ),
        (
            "ic controller",
            "IngressClass",
            json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}),
            "Controller",
            json!("k8s.io/ingress-nginx"),
        ),
        (
            "ic no parameters",
            "IngressClass",
            json!({"metadata": {"name": "nginx"}, "spec": {}}),
            "Parameters",
            json!("<none>"),
        ),
        (
            "ic parameters with group",
            "IngressClass",
            json!({"metadata": {"name": "nginx"}, "spec": {"parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}}),
            "Parameters",
            json!("IngressParameters.k8s.example.com/external-lb"),
        ),
        (
            "ic parameters core group",
            "IngressClass",
            json!({"metadata": {"name": "nginx"}, "spec": {"parameters": {"kind": "ConfigMap", "name": "cfg"}}}),
            "Parameters",
            json!("ConfigMap/cfg"),
        ),
    ]);
}

#[test]
fn config_and_identity_cells() {
    check(&[
        (
            "secret type",
            "Secret",
            json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
            "Type",
            json!("kubernetes.io/tls"),
        ),
        (
            "secret data integer",
            "Secret",
            json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "", "b": "", "c": ""}}),
            "Data",
            json!(3),
        ),
        (
            "secret no data",
            "Secret",
            json!({"metadata": {"name": "s"}, "type": "Opaque"}),
            "Data",
            json!(0),
        ),
        (
            "secret stringData merged",
            "Secret",
            json!({"metadata": {"name": "s"}, "data": {"a": "", "b": ""}, "stringData": {"b": "x", "c": "y"}}),
            "Data",
            json!(3),
        ),
        (
            "configmap data",
            "ConfigMap",
            json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}),
            "Data",
            json!(3),
        ),
        (
            "configmap empty",
            "ConfigMap",
            json!({"metadata": {"name": "c"}}),
            "Data",
            json!(0),
        ),
        (
            "sa secrets",
            "ServiceAccount",
            json!({"metadata": {"name": "default"}, "secrets": [{"name": "t1"}, {"name": "t2"}]}),
            "Secrets",
            json!(2),
        ),
        (
            "sa none",
            "ServiceAccount",
            json!({"metadata": {"name": "default"}}),
            "Secrets",
            json!(0),
        ),
        (
            "ns active",
            "Namespace",
            json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}}),
            "Status",
            json!("Active"),
        ),
        (
            "ns terminating",
            "Namespace",
            json!({"metadata": {"name": "x"}, "status": {"phase": "Terminating"}}),
            "Status",
            json!("Terminating"),
        ),
        (
            "ns no status",
            "Namespace",
            json!({"metadata": {"name": "x"}}),
            "Status",
            json!(""),
        ),
        (
            "lease holder",
            "Lease",
            json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "node-1"}}),
            "Holder",
            json!("node-1"),
        ),
        (
            "lease no holder",
            "Lease",
            json!({"metadata": {"name": "l"}, "spec": {}}),
            "Holder",
            json!(""),
        ),
        (
            "lease age",
            "Lease",
            json!({"metadata": {"name": "l", "creationTimestamp": ago(3 * 86400)}}),
            "Age",
            json!("3d"),
        ),
    ]);
}

#[test]
fn node_cells() {
    let node = json!({
        "metadata": {"name": "n1", "creationTimestamp": ago(50 * 86400), "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": "", "kubernetes.io/role": "worker", "node-role.kubernetes.io/etcd": "true"}},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.10"}, {"type": "InternalIP", "address": "192.168.1.11"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0"},
        },
    });
    let t = table("Node", &[&node], &opts());
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "n1",
            "Ready,SchedulingDisabled",
            "control-plane,etcd,worker",
            "50d",
            "v1.32.0",
            "192.168.1.10",
            "<none>",
            "Debian GNU/Linux 12",
            "6.1.0",
            "containerd://1.7.0"
        ])
    );
    check(&[
        (
            "not ready",
            "Node",
            json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
            "Status",
            json!("NotReady"),
        ),
        (
            "ready unknown status",
            "Node",
            json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
            "Status",
            json!("NotReady"),
        ),
        (
            "no conditions",
            "Node",
            json!({"metadata": {"name": "n"}}),
            "Status",
            json!("Unknown"),
        ),
        (
            "no roles",
            "Node",
            json!({"metadata": {"name": "n", "labels": {"kubernetes.io/role": ""}}}),
            "Roles",
            json!("<none>"),
        ),
        (
            "external ip",
            "Node",
            json!({"metadata": {"name": "n"}, "status": {"addresses": [{"type": "ExternalIP", "address": "3.3.3.3"}]}}),
            "External-IP",
            json!("3.3.3.3"),
        ),
        (
            "no internal ip",
            "Node",
            json!({"metadata": {"name": "n"}}),
            "Internal-IP",
            json!("<none>"),
        ),
        (
            "unknown os",
            "Node",
            json!({"metadata": {"name": "n"}}),
            "OS-Image",
            json!("<unknown>"),
        ),
        (
            "unknown kernel",
            "Node",
            json!({"metadata": {"name": "n"}}),
            "Kernel-Version",
            json!("<unknown>"),
        ),
        (
            "unknown runtime",
            "Node",
            json!({"metadata": {"name": "n"}}),
            "Container-Runtime",
            json!("<unknown>"),
        ),
        (
            "no version",
            "Node",
            json!({"metadata": {"name": "n"}}),
            "Version",
            json!(""),
        ),
    ]);
}

#[test]
fn event_cells() {
    let ev = json!({
        "metadata": {"name": "web.17a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff", "type": "Warning", "message": "  Back-off restarting failed container\n",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": ago(3600), "lastTimestamp": ago(60), "count": 7,
    });
    let t = table("Event", &[&ev], &opts());
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "60s",
            "Warning",
            "BackOff",
            "pod/web-1",
            "spec.containers{app}",
            "kubelet, n1",
            "Back-off restarting failed container",
            "60m",
            7,
            "web.17a"
        ])
    );
    let new_style = json!({
        "metadata": {"name": "e2"},
        "involvedObject": {"kind": "Node"},
        "eventTime": "2024-12-31T23:50:00.000000Z",
        "reportingComponent": "scheduler", "reportingInstance": "sched-1",
    });
    check(&[
        (
            "event time as first seen",
            "Event",
            new_style.clone(),
            "First Seen",
            json!("10m"),
        ),
        (
            "last seen falls back to first",
            "Event",
            new_style.clone(),
            "Last Seen",
            json!("10m"),
        ),
        (
            "singleton count",
            "Event",
            new_style.clone(),
            "Count",
            json!(1),
        ),
        (
            "object without name",
            "Event",
            new_style.clone(),
            "Object",
            json!("node"),
        ),
        (
            "reporting source",
            "Event",
            new_style,
            "Source",
            json!("scheduler, sched-1"),
        ),
        (
            "series",
            "Event",
            json!({"metadata": {"name": "e3"}, "count": 2, "eventTime": ago(600), "series": {"count": 5, "lastObservedTime": ago(120)}}),
            "Last Seen",
            json!("2m"),
        ),
        (
            "series count",
            "Event",
            json!({"metadata": {"name": "e3"}, "count": 2, "eventTime": ago(600), "series": {"count": 5, "lastObservedTime": ago(120)}}),
            "Count",
            json!(5),
        ),
        (
            "no times",
            "Event",
            json!({"metadata": {"name": "e4"}}),
            "Last Seen",
            json!("<unknown>"),
        ),
        (
            "source without host",
            "Event",
            json!({"metadata": {"name": "e5"}, "source": {"component": "kubelet"}}),
            "Source",
            json!("kubelet"),
        ),
        (
            "empty source",
            "Event",
            json!({"metadata": {"name": "e6"}}),
            "Source",
            json!(""),
        ),
    ]);
}

#[test]
fn default_table() {
    let w =
        json!({"metadata": {"name": "w1", "creationTimestamp": "2024-06-01T12:30:45.123+02:00"}});
    let t = table(
        "Widget",
        &[&w, &json!({"metadata": {"name": "w2"}})],
        &opts(),
    );
    assert_eq!(t["rows"][0]["cells"], json!(["w1", "2024-06-01T10:30:45Z"]));
    assert_eq!(t["rows"][1]["cells"], json!(["w2", "0001-01-01T00:00:00Z"]));
    assert_eq!(t["columnDefinitions"][1]["type"], "date");
}
