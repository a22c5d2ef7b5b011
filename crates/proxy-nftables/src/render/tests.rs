use std::sync::Arc;
use std::time::Duration;

use proxy::service::{Protocol, ServiceKey};
use proxy::{Endpoint, ProxyState, ServicePort, ServicePortName};

use super::*;

fn port_name(name: &str) -> ServicePortName {
    ServicePortName {
        service: ServiceKey {
            namespace: "ns".into(),
            name: name.into(),
        },
        port: "http".into(),
        protocol: Protocol::Tcp,
    }
}

fn svc(ip: &str) -> ServicePort {
    ServicePort::cluster_ip(ip.parse().expect("ip"), 80)
}

fn ep(ip: &str) -> Endpoint {
    Endpoint {
        node_name: Some("n1".into()),
        ..Endpoint::ready(ip.parse().expect("ip"), 8080)
    }
}

fn config() -> Config {
    Config {
        family: Default::default(),
        node_name: "n1".into(),
        pod_cidr: Some("10.244.0.0/16".into()),
        node_ip: "192.0.2.1".parse().expect("ip"),
    }
}

fn state(services: Vec<(ServicePortName, ServicePort, Vec<Endpoint>)>) -> ProxyState {
    let mut s = ProxyState::default();
    for (n, p, eps) in services {
        s.services.insert(n.clone(), Arc::new(p));
        if !eps.is_empty() {
            s.endpoints.insert(n, Arc::new(eps));
        }
    }
    s
}

#[test]
fn a_cluster_ip_service_with_two_endpoints() {
    let out = render(
        &state(vec![(
            port_name("web"),
            svc("10.96.0.10"),
            vec![ep("10.244.0.2"), ep("10.244.0.3")],
        )]),
        &config(),
    );
    let want = [
        "table ip knet {}\ndelete table ip knet\ntable ip knet {",
        "elements = { 10.96.0.10 . tcp . 80 : goto pick-cluster-tcp-2 }",
        "\tchain pick-cluster-tcp-2 {\n\t\tip saddr != 10.244.0.0/16 jump mark-for-masquerade\n\t\tmeta l4proto tcp dnat ip to ip daddr . tcp dport . numgen random mod 2 map @endpoints-tcp\n\t}",
        "\tmap endpoints-tcp {\n\t\ttypeof ip daddr . tcp dport . numgen random mod 2 : ip daddr . tcp dport\n\t}",
        "}\nadd element ip knet endpoints-tcp { 10.96.0.10 . 80 . 0 : 10.244.0.2 . 8080, 10.96.0.10 . 80 . 1 : 10.244.0.3 . 8080 }\n",
        "\tset cluster-ips {\n\t\ttype ipv4_addr\n\t\telements = { 10.96.0.10 }\n\t}",
        "\tset hairpin {\n\t\ttype ipv4_addr . ipv4_addr\n\t\telements = { 10.244.0.2 . 10.244.0.2, 10.244.0.3 . 10.244.0.3 }\n\t}",
        "ct status dnat ip saddr . ip daddr @hairpin masquerade",
    ];
    for w in want {
        assert!(out.contains(w), "missing:\n{w}\nin:\n{out}");
    }
    // Without affinity or a Local policy the service has no chain of its own (the lean layout).
    assert!(!out.contains("chain endpoint-"), "{out}");
    assert!(!out.contains("chain service-"), "{out}");
}

#[test]
fn node_ports_and_load_balancer_ips_go_through_masquerading_pick_chains() {
    let mut s = svc("10.96.0.15");
    s.node_port = Some(30081);
    s.load_balancer_ips = vec!["10.240.0.2".parse().expect("ip")];
    let out = render(
        &state(vec![(port_name("lb"), s, vec![ep("10.244.0.7")])]),
        &config(),
    );
    let want = [
        "tcp . 30081 : goto pick-nodeport-tcp-1",
        "10.240.0.2 . tcp . 80 : goto pick-external-tcp-1",
        "\tchain pick-nodeport-tcp-1 {\n\t\tjump mark-for-masquerade\n\t\tmeta l4proto tcp dnat ip to tcp dport . numgen random mod 1 map @nodeport-endpoints-tcp\n\t}",
        "\tchain pick-external-tcp-1 {\n\t\tjump mark-for-masquerade\n\t\tmeta l4proto tcp dnat ip to ip daddr . tcp dport . numgen random mod 1 map @endpoints-tcp\n\t}",
        "add element ip knet nodeport-endpoints-tcp { 30081 . 0 : 10.244.0.7 . 8080 }",
        "10.240.0.2 . 80 . 0 : 10.244.0.7 . 8080",
    ];
    for w in want {
        assert!(out.contains(w), "missing:\n{w}\nin:\n{out}");
    }
}

#[test]
fn no_endpoints_reject_and_local_policy_drops() {
    let mut np = svc("10.96.0.11");
    np.node_port = Some(30080);
    np.external_local = true;
    let mut remote = ep("10.244.1.2");
    remote.node_name = Some("n2".into());
    let out = render(
        &state(vec![
            (port_name("empty"), svc("10.96.0.12"), vec![]),
            (port_name("np"), np, vec![remote]),
        ]),
        &config(),
    );
    assert!(
        out.contains("10.96.0.12 . tcp . 80 : goto reject-chain"),
        "{out}"
    );
    // Endpoints exist, but none on this node: traffic from elsewhere is dropped in the
    // external chain, pods and the node go to the cluster chain, the ClusterIP works.
    assert!(
        out.contains("tcp . 30080 : goto external-ns/np/tcp/http"),
        "{out}"
    );
    assert!(
        out.contains("\t\tip saddr 10.244.0.0/16 goto service-ns/np/tcp/http\n\t\tfib saddr type local jump mark-for-masquerade\n\t\tfib saddr type local goto service-ns/np/tcp/http\n\t\tdrop\n"),
        "{out}"
    );
    assert!(
        out.contains("10.96.0.11 . tcp . 80 : goto service-ns/np/tcp/http"),
        "{out}"
    );
}

#[test]
fn affinity_uses_a_timeout_set_per_endpoint() {
    let mut s = svc("10.96.0.13");
    s.affinity = Some(Duration::from_secs(60));
    let out = render(
        &state(vec![(port_name("sticky"), s, vec![ep("10.244.0.2")])]),
        &config(),
    );
    assert!(out.contains("\tset affinity-ns/sticky/tcp/http__10.244.0.2/8080 {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout 60s\n\t}"), "{out}");
    assert!(out.contains("ip saddr @affinity-ns/sticky/tcp/http__10.244.0.2/8080 goto endpoint-ns/sticky/tcp/http__10.244.0.2/8080"), "{out}");
    assert!(
        out.contains("update @affinity-ns/sticky/tcp/http__10.244.0.2/8080 { ip saddr }"),
        "{out}"
    );
}

#[test]
fn load_balancer_source_ranges_drop_other_sources() {
    let mut lb = svc("10.96.0.14");
    lb.load_balancer_ips = vec!["10.240.0.1".parse().expect("ip")];
    lb.load_balancer_source_ranges = vec!["192.0.2.0/24".into(), "198.51.100.7/32".into()];
    let out = render(
        &state(vec![(port_name("fw"), lb, vec![ep("10.244.0.2")])]),
        &config(),
    );
    assert!(
        out.contains("\tchain firewall-ns/fw/tcp/http {\n\t\tip saddr != { 192.0.2.0/24, 198.51.100.7/32 } drop\n\t}"),
        "{out}"
    );
    assert!(
        out.contains("10.240.0.1 . tcp . 80 : goto firewall-ns/fw/tcp/http"),
        "{out}"
    );
}

#[test]
fn a_dual_stack_service_is_split_between_the_two_tables() {
    let mut port = svc("10.96.0.10");
    port.cluster_ips.push("fd00::10".parse().expect("ip"));
    port.affinity = Some(Duration::from_secs(10));
    let s = state(vec![(
        port_name("web"),
        port,
        vec![ep("10.244.0.2"), ep("fd00:244::2")],
    )]);
    let v4 = render(&s, &config());
    let v6 = render(
        &s,
        &Config {
            family: Family::V6,
            pod_cidr: Some("fd00:244::/64".into()),
            ..config()
        },
    );
    assert!(
        v4.starts_with("table ip knet {}\ndelete table ip knet\n"),
        "{v4}"
    );
    assert!(!v4.contains("fd00"), "{v4}");
    assert!(v4.contains("10.96.0.10 . tcp . 80 : goto service-ns/web/tcp/http"));
    assert!(
        v6.starts_with("table ip6 knet {}\ndelete table ip6 knet\n"),
        "{v6}"
    );
    assert!(!v6.contains("10."), "{v6}");
    for want in [
        "type ipv6_addr . inet_proto . inet_service : verdict",
        "fd00::10 . tcp . 80 : goto service-ns/web/tcp/http",
        "ip6 daddr fd00::10 tcp dport 80 ip6 saddr != fd00:244::/64 jump mark-for-masquerade",
        // nft names have no `:`.
        "chain endpoint-ns/web/tcp/http__fd00-244--2/8080",
        "update @affinity-ns/web/tcp/http__fd00-244--2/8080 { ip6 saddr }",
        "meta l4proto tcp dnat to [fd00:244::2]:8080",
        "fib daddr type local ip6 daddr != ::1 meta l4proto . th dport vmap @service-nodeports",
    ] {
        assert!(v6.contains(want), "{want} missing from\n{v6}");
    }
}
