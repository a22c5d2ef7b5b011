use super::*;

fn ep(ip: &str, ready: bool, serving: bool, terminating: bool, node: &str) -> Endpoint {
    Endpoint {
        ip: ip.parse().expect("ip"),
        port: 80,
        ready,
        serving,
        terminating,
        node_name: Some(node.to_owned()),
        pod: None,
    }
}

fn ips(eps: &[&Endpoint]) -> Vec<String> {
    eps.iter().map(|e| e.ip.to_string()).collect()
}

#[test]
fn ready_endpoints_first_then_serving_terminating_ones() {
    let eps = vec![
        ep("10.0.0.1", true, true, false, "a"),
        ep("10.0.0.2", false, true, true, "b"),
        ep("10.0.0.3", false, false, true, "a"),
    ];
    let c = categorize(&eps, "a");
    assert_eq!(ips(&c.cluster), ["10.0.0.1"]);
    assert_eq!(ips(&c.local), ["10.0.0.1"]);
    // With no ready endpoint left, the serving terminating one takes traffic; the one that
    // is not serving never does.
    let c = categorize(&eps[1..], "a");
    assert_eq!(ips(&c.cluster), ["10.0.0.2"]);
    assert!(c.local.is_empty());
    let c = categorize(&eps[1..], "b");
    assert_eq!(ips(&c.local), ["10.0.0.2"]);
}

#[test]
fn local_policies_use_only_this_nodes_endpoints() {
    let eps = vec![
        ep("10.0.0.1", true, true, false, "a"),
        ep("10.0.0.2", true, true, false, "b"),
    ];
    let c = categorize(&eps, "b");
    let mut port = crate::ServicePort {
        external_local: true,
        ..crate::ServicePort::cluster_ip("10.96.0.1".parse().expect("ip"), 80)
    };
    assert_eq!(ips(&for_external(&port, &c)), ["10.0.0.2"]);
    assert_eq!(for_cluster_ip(&port, &c).len(), 2);
    port.internal_local = true;
    assert_eq!(ips(&for_cluster_ip(&port, &c)), ["10.0.0.2"]);
}
