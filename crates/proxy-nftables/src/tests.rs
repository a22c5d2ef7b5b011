use std::sync::Arc;

use proxy::service::{Protocol, ServiceKey};
use proxy::{Changes, Dataplane, Endpoint, ProxyState, ServicePort, ServicePortName};

use super::*;

/// Services `(name, ClusterIP, endpoint addresses)` on `port` → `target` over `protocol`.
fn state(
    protocol: Protocol,
    (port, target): (u16, u16),
    services: &[(&str, &str, &[&str])],
) -> ProxyState {
    let mut s = ProxyState::default();
    for (svc, ip, eps) in services {
        let name = ServicePortName {
            service: ServiceKey {
                namespace: "ns".into(),
                name: (*svc).into(),
            },
            port: String::new(),
            protocol,
        };
        s.services.insert(
            name.clone(),
            Arc::new(ServicePort::cluster_ip(ip.parse().expect("ip"), port)),
        );
        let eps: Vec<Endpoint> = eps
            .iter()
            .map(|e| Endpoint::ready(e.parse().expect("ip"), target))
            .collect();
        if !eps.is_empty() {
            s.endpoints.insert(name, Arc::new(eps));
        }
    }
    s
}

fn udp_state(endpoints: &[&str]) -> ProxyState {
    state(
        Protocol::Udp,
        (53, 5353),
        &[("dns", "10.96.0.10", endpoints)],
    )
}

fn tcp_state(services: &[(&str, &str, &[&str])]) -> ProxyState {
    state(Protocol::Tcp, (80, 8080), services)
}

/// A dataplane that records what it would load.
fn recording() -> Nftables<Recording> {
    Nftables::new(
        Config {
            family: Default::default(),
            node_name: "n".into(),
            pod_cidr: None,
            node_ip: "192.0.2.1".parse().expect("ip"),
        },
        Recording::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn stale_udp_flows_are_deleted() {
    let mut d = recording();
    let changes = Changes::full();
    // No endpoints yet, then one: flows to the ClusterIP (rejected so far) are flushed.
    d.sync(&udp_state(&[]), &changes).await.expect("sync");
    d.sync(&udp_state(&["10.244.0.5"]), &changes)
        .await
        .expect("sync");
    assert_eq!(
        d.exec.conntrack,
        [["-p", "udp", "--orig-dst", "10.96.0.10"]]
    );
    // The endpoint is replaced: flows DNATed to the old one are flushed.
    d.sync(&udp_state(&["10.244.0.6"]), &changes)
        .await
        .expect("sync");
    assert_eq!(
        d.exec.conntrack[1],
        ["-p", "udp", "--dst-nat", "10.244.0.5"]
    );
    assert_eq!(d.exec.conntrack.len(), 2);
    assert_eq!(d.exec.scripts.len(), 3);
}

fn only(svc: &str) -> Changes {
    Changes::of([ServiceKey {
        namespace: "ns".into(),
        name: svc.into(),
    }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn partial_syncs_touch_only_the_changed_service() {
    let mut d = recording();
    let full = Changes::full();
    let a = ("a", "10.96.0.1", &["10.244.0.1"][..]);
    d.sync(&tcp_state(&[a, ("b", "10.96.0.2", &["10.244.0.2"])]), &full)
        .await
        .expect("sync");
    assert!(d.exec.scripts[0].starts_with("table ip knet {}\ndelete table ip knet\n"));
    // b's endpoint moves: only b's chains and elements are in the script.
    d.sync(
        &tcp_state(&[a, ("b", "10.96.0.2", &["10.244.0.3"])]),
        &only("b"),
    )
    .await
    .expect("sync");
    let s = &d.exec.scripts[1];
    assert!(!s.contains("delete table") && !s.contains("ns/a/"), "{s}");
    // Same number of endpoints: the dispatch entry stays, only b's endpoint element changes.
    assert!(
        !s.contains("flush chain") && !s.contains("service-ips"),
        "{s}"
    );
    assert!(
        s.contains("delete element ip knet endpoints-tcp { 10.96.0.2 . 80 . 0 }\nadd element ip knet endpoints-tcp { 10.96.0.2 . 80 . 0 : 10.244.0.3 . 8080 }"),
        "{s}"
    );
    // b gets a second endpoint: a new shared pick chain, made before the entry that uses it.
    d.sync(
        &tcp_state(&[a, ("b", "10.96.0.2", &["10.244.0.3", "10.244.0.4"])]),
        &only("b"),
    )
    .await
    .expect("sync");
    let s = &d.exec.scripts[2];
    let chain = s.find("add chain ip knet pick-cluster-tcp-2").expect(s);
    let entry = s
        .find("add element ip knet service-ips { 10.96.0.2 . tcp . 80 : goto pick-cluster-tcp-2 }")
        .expect(s);
    assert!(chain < entry, "{s}");
    // b goes: its entries go; the shared chains stay.
    d.sync(&tcp_state(&[a]), &only("b")).await.expect("sync");
    let s = &d.exec.scripts[3];
    assert!(
        s.contains("delete element ip knet service-ips { 10.96.0.2 . tcp . 80 }"),
        "{s}"
    );
    assert!(
        s.contains("delete element ip knet cluster-ips { 10.96.0.2 }"),
        "{s}"
    );
    assert!(!s.contains("chain"), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_gone_service_chain_is_flushed_then_deleted() {
    let mut d = recording();
    let sticky = |eps: &[&str]| {
        let mut s = tcp_state(&[("s", "10.96.0.3", eps)]);
        for p in s.services.values_mut() {
            Arc::make_mut(p).affinity = Some(std::time::Duration::from_secs(10));
        }
        s
    };
    d.sync(&sticky(&["10.244.0.1"]), &Changes::full())
        .await
        .expect("sync");
    d.sync(&tcp_state(&[]), &only("s")).await.expect("sync");
    let s = &d.exec.scripts[1];
    assert!(s.contains("flush chain ip knet service-ns/s/tcp/-"), "{s}");
    d.sync(&tcp_state(&[]), &only("s")).await.expect("sync");
    let s = &d.exec.scripts[2];
    assert!(s.contains("delete chain ip knet service-ns/s/tcp/-"), "{s}");
}
