use super::*;

fn svc(yaml: &str) -> Service {
    serde_json::from_value(serde_saphyr::from_str::<serde_json::Value>(yaml).expect("yaml"))
        .expect("service")
}

#[test]
fn ports_carry_addresses_policies_and_affinity() {
    let s = svc("
metadata: {name: web, namespace: ns, annotations: {knet.dev/scheduler: lc}}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  externalIPs: [192.0.2.5]
  externalTrafficPolicy: Local
  healthCheckNodePort: 32000
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}
  - {name: dns, port: 53, protocol: UDP}
status: {loadBalancer: {ingress: [{ip: 10.240.0.1}]}}
");
    let ports = service_ports(&s);
    assert_eq!(ports.len(), 2);
    let (name, p) = &ports[0];
    assert_eq!(name.to_string(), "ns/web:http/Tcp");
    assert_eq!(
        p.cluster_ips,
        vec!["10.96.0.10".parse::<IpAddr>().expect("ip")]
    );
    assert_eq!(p.node_port, Some(30080));
    assert_eq!(p.load_balancer_ips.len(), 1);
    assert_eq!(p.external_ips.len(), 1);
    assert!(p.external_local && !p.internal_local);
    assert_eq!(p.affinity, Some(Duration::from_secs(60)));
    assert_eq!(p.health_check_node_port, Some(32000));
    assert_eq!(
        p.annotations.get("knet.dev/scheduler").map(String::as_str),
        Some("lc")
    );
    assert_eq!(ports[1].0.protocol, Protocol::Udp);
    assert_eq!(ports[1].1.node_port, None);
}

#[test]
fn headless_and_external_name_services_have_no_ports() {
    let headless = svc("
metadata: {name: h, namespace: ns}
spec: {clusterIP: None, ports: [{port: 80}]}
");
    assert!(service_ports(&headless).is_empty());
    let ext = svc("
metadata: {name: e, namespace: ns}
spec: {type: ExternalName, externalName: example.com}
");
    assert!(service_ports(&ext).is_empty());
}

#[test]
fn affinity_defaults_to_three_hours() {
    let s = svc("
metadata: {name: a, namespace: ns}
spec: {clusterIP: 10.96.0.1, sessionAffinity: ClientIP, ports: [{port: 80}]}
");
    assert_eq!(service_ports(&s)[0].1.affinity, Some(DEFAULT_AFFINITY));
}

#[test]
fn the_tracker_marks_only_real_changes() {
    let mut t = ServiceChangeTracker::default();
    let s = svc("
metadata: {name: a, namespace: ns, resourceVersion: '1'}
spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
");
    t.update(&s);
    assert_eq!(t.take_changed().len(), 1);
    // A new resourceVersion with the same ports is no change.
    let mut s2 = s.clone();
    s2.metadata.resource_version = Some("2".into());
    t.update(&s2);
    assert!(t.take_changed().is_empty());
    t.replace_all(&[]);
    assert_eq!(t.take_changed().len(), 1);
    assert_eq!(t.ports().count(), 0);
}
